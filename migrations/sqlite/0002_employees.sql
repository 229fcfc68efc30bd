-- Employees the hub has seen facts for, per app: whom reconciliation pulls.
CREATE TABLE employees (
    vendor INTEGER NOT NULL,
    app TEXT NOT NULL,
    tenant TEXT NOT NULL,
    employee_id TEXT NOT NULL,
    first_seen_us INTEGER NOT NULL,
    last_seen_us INTEGER NOT NULL,
    PRIMARY KEY (vendor, app, tenant, employee_id)
);

-- Metered vendor API calls per app per month (UTC), so operators see a quota coming.
CREATE TABLE vendor_calls (
    vendor INTEGER NOT NULL,
    app TEXT NOT NULL,
    month TEXT NOT NULL,
    calls INTEGER NOT NULL,
    PRIMARY KEY (vendor, app, month)
);
