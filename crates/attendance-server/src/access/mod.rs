//! Who may call the gRPC API: the `[[clients]]` of the config (the SHA-256
//! of a bearer token, the tenants and services each may use), the policy the
//! gRPC layer enforces with them, and the `Caller` handlers scope data by.

mod layer;
#[cfg(test)]
mod tests;

pub(crate) use layer::AuthenticateLayer;

use std::collections::BTreeSet;
use std::sync::Arc;

use attendance_adapter_kit::Secret;
use attendance_core::{SubscriptionFilter, TenantScope};
use attendance_proto::v1::{admin_service_server, attendance_service_server};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{invalid, ConfigError, ServerConfig};

/// The `tenants` entry that grants every tenant.
const EVERY_TENANT: &str = "*";

/// The shortest token `hash-token` accepts. A plain SHA-256 protects only a
/// token too long to guess; 32 random characters are far beyond that.
pub const MIN_TOKEN_CHARS: usize = 32;

/// One `[[clients]]` entry as written.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// Names the client in logs and errors.
    pub name: String,
    /// Hex SHA-256 of the client's bearer token (`attendance-hub
    /// hash-token`), never the token. Held as a `Secret` so that printing
    /// the config never shows it.
    #[serde(default)]
    pub token_sha256: Secret,
    /// Tenants the client may read, or `["*"]` for every tenant.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Services the client may call: `attendance`, `admin`.
    #[serde(default)]
    pub services: Vec<String>,
}

/// A gRPC service behind authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Service {
    Attendance,
    Admin,
}

impl Service {
    const ALL: [Service; 2] = [Service::Attendance, Service::Admin];

    /// Its name in `[[clients]] services`.
    fn config_name(self) -> &'static str {
        match self {
            Service::Attendance => "attendance",
            Service::Admin => "admin",
        }
    }

    /// Its full gRPC name, the first segment of a call's path.
    pub(crate) fn grpc_name(self) -> &'static str {
        match self {
            Service::Attendance => attendance_service_server::SERVICE_NAME,
            Service::Admin => admin_service_server::SERVICE_NAME,
        }
    }
}

/// The tenants a client may read.
#[derive(Clone, Debug, PartialEq, Eq)]
enum TenantGrant {
    Every,
    /// Never empty: `ClientConfig` validation refuses a client without
    /// tenants, and `Caller` refuses to scope with an empty set anyway.
    Only(BTreeSet<String>),
}

/// Who is calling, as the gRPC layer established it. Handlers read it from
/// the request's extensions (`Caller::of`) and let it scope what they read.
/// It holds no token hash, so logging it shows nothing secret.
#[derive(Clone, Debug)]
pub(crate) struct Caller(Arc<Grant>);

#[derive(Debug)]
struct Grant {
    name: String,
    tenants: TenantGrant,
    services: BTreeSet<Service>,
}

/// Why a call was refused; `error.rs` maps each to its gRPC status.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AccessError {
    #[error("authentication required: send the header `authorization: Bearer <token>`")]
    TokenMissing,
    #[error("the authorization header is not `Bearer <token>`")]
    TokenMalformed,
    #[error("the bearer token is not one this hub knows")]
    TokenInvalid,
    #[error("client {client:?} may not call {service}")]
    ServiceNotPermitted { client: String, service: String },
    #[error("client {client:?} may not read tenant {tenant:?}")]
    TenantNotPermitted { client: String, tenant: String },
    #[error(
        "client {client:?} may act on its own tenants only, and this call acts on every tenant"
    )]
    EveryTenantRequired { client: String },
}

impl Caller {
    fn new(name: String, tenants: TenantGrant, services: BTreeSet<Service>) -> Caller {
        Caller(Arc::new(Grant {
            name,
            tenants,
            services,
        }))
    }

    /// The caller of a hub without clients: every tenant, every service.
    fn unauthenticated() -> Caller {
        Caller::new(
            "unauthenticated".into(),
            TenantGrant::Every,
            Service::ALL.into_iter().collect(),
        )
    }

    /// The caller the gRPC layer put into the request. None means the layer
    /// did not run, so nobody was authenticated: refused like a missing token.
    pub(crate) fn of<T>(request: &tonic::Request<T>) -> Result<Caller, AccessError> {
        request
            .extensions()
            .get::<Caller>()
            .cloned()
            .ok_or(AccessError::TokenMissing)
    }

    pub(crate) fn name(&self) -> &str {
        &self.0.name
    }

    fn check_service(&self, service: Service) -> Result<(), AccessError> {
        if self.0.services.contains(&service) {
            Ok(())
        } else {
            Err(self.service_not_permitted(service.grpc_name()))
        }
    }

    fn service_not_permitted(&self, service: &str) -> AccessError {
        AccessError::ServiceNotPermitted {
            client: self.0.name.clone(),
            service: service.to_owned(),
        }
    }

    pub(crate) fn permits_tenant(&self, tenant: &str) -> bool {
        match &self.0.tenants {
            TenantGrant::Every => true,
            TenantGrant::Only(tenants) => tenants.contains(tenant),
        }
    }

    fn tenant_not_permitted(&self, tenant: &str) -> AccessError {
        AccessError::TenantNotPermitted {
            client: self.0.name.clone(),
            tenant: tenant.to_owned(),
        }
    }

    /// For a call that acts on `tenant`, or on every tenant when it names none.
    pub(crate) fn check_tenant(&self, tenant: &str) -> Result<(), AccessError> {
        if tenant.is_empty() {
            self.check_every_tenant()
        } else if self.permits_tenant(tenant) {
            Ok(())
        } else {
            Err(self.tenant_not_permitted(tenant))
        }
    }

    /// For a call that acts on the whole hub (reconciliation, retention, statistics).
    pub(crate) fn check_every_tenant(&self) -> Result<(), AccessError> {
        match self.0.tenants {
            TenantGrant::Every => Ok(()),
            TenantGrant::Only(_) => Err(AccessError::EveryTenantRequired {
                client: self.0.name.clone(),
            }),
        }
    }

    /// The tenants a read may cover: the caller's grant, once the tenant the
    /// request names (if any) is one the caller may read.
    pub(crate) fn tenant_scope(&self, named: &str) -> Result<TenantScope, AccessError> {
        if !named.is_empty() && !self.permits_tenant(named) {
            return Err(self.tenant_not_permitted(named));
        }
        match &self.0.tenants {
            TenantGrant::Every => Ok(TenantScope::All),
            // An empty set must never reach a filter, where empty means every tenant.
            TenantGrant::Only(tenants) if tenants.is_empty() => Err(self.tenant_not_permitted("")),
            TenantGrant::Only(tenants) => Ok(TenantScope::Only(tenants.iter().cloned().collect())),
        }
    }

    /// A subscription filter within the caller's grant: one naming no tenant
    /// gets the caller's tenants; one naming a tenant the caller may not read
    /// is refused.
    pub(crate) fn scope(
        &self,
        mut filter: SubscriptionFilter,
    ) -> Result<SubscriptionFilter, AccessError> {
        if let Some(refused) = filter.tenants.iter().find(|t| !self.permits_tenant(t)) {
            return Err(self.tenant_not_permitted(refused));
        }
        if filter.tenants.is_empty() {
            if let TenantScope::Only(tenants) = self.tenant_scope("")? {
                filter.tenants = tenants;
            }
        }
        Ok(filter)
    }
}

/// The SHA-256 of a bearer token. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct TokenHash([u8; 32]);

impl TokenHash {
    fn of(token: &str) -> TokenHash {
        TokenHash(Sha256::digest(token.as_bytes()).into())
    }

    fn parse(hex_text: &str) -> Option<TokenHash> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_text, &mut bytes).ok()?;
        Some(TokenHash(bytes))
    }
}

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(**REDACTED**)")
    }
}

/// A token too short to be protected by a plain hash.
#[derive(Debug, thiserror::Error)]
#[error(
    "a token must be at least {MIN_TOKEN_CHARS} characters of random data \
     (e.g. `openssl rand -hex 32`); this one has {0}"
)]
pub struct WeakToken(usize);

/// The `token_sha256` of a token, for `attendance-hub hash-token`.
/// Surrounding whitespace (the newline of `echo`) is not part of it.
pub fn hash_token(token: &str) -> Result<String, WeakToken> {
    let token = token.trim();
    let length = token.chars().count();
    if length < MIN_TOKEN_CHARS {
        return Err(WeakToken(length));
    }
    Ok(hex::encode(TokenHash::of(token).0))
}

/// What the gRPC layer admits.
#[derive(Debug)]
pub(crate) enum AccessPolicy {
    /// No clients are configured: every call is admitted, as the
    /// unauthenticated caller. Only on loopback, unless the config says
    /// `server.allow_unauthenticated`.
    Open(Caller),
    /// Every call but health and reflection carries one of these tokens.
    Tokens(Vec<(TokenHash, Caller)>),
}

impl AccessPolicy {
    /// Checks `[[clients]]` and `server.allow_unauthenticated` against the
    /// gRPC address, naming the key of the first problem.
    pub(crate) fn from_config(
        server: &ServerConfig,
        clients: &[ClientConfig],
    ) -> Result<AccessPolicy, ConfigError> {
        let mut known: Vec<(TokenHash, Caller)> = Vec::with_capacity(clients.len());
        for (index, client) in clients.iter().enumerate() {
            let key = |field: &str| format!("clients[{index}].{field}");
            let name = client.name.trim();
            if name.is_empty() {
                return Err(invalid(key("name"), "must not be empty"));
            }
            if let Some(earlier) = known.iter().position(|(_, c)| c.name() == name) {
                return Err(invalid(
                    key("name"),
                    format!("{name:?} is already the name of clients[{earlier}]"),
                ));
            }
            let hash = TokenHash::parse(client.token_sha256.expose()).ok_or_else(|| {
                invalid(
                    key("token_sha256"),
                    "must be 64 hex digits, the SHA-256 of the token \
                     (`attendance-hub hash-token` prints it)",
                )
            })?;
            if let Some(earlier) = known.iter().position(|(h, _)| *h == hash) {
                return Err(invalid(
                    key("token_sha256"),
                    format!("is the same as clients[{earlier}]'s: give each client its own token"),
                ));
            }
            let tenants = tenant_grant(&client.tenants)
                .map_err(|problem| invalid(key("tenants"), problem))?;
            let services = services(&client.services).map_err(|(position, problem)| {
                invalid(
                    position.map_or_else(|| key("services"), |p| key(&format!("services[{p}]"))),
                    problem,
                )
            })?;
            known.push((hash, Caller::new(name.to_owned(), tenants, services)));
        }
        let loopback = server.grpc_listen.ip().is_loopback();
        match (known.is_empty(), server.allow_unauthenticated) {
            (false, true) => Err(invalid(
                "server.allow_unauthenticated",
                "clients are configured, so every call is authenticated: remove this setting",
            )),
            (false, false) => Ok(AccessPolicy::Tokens(known)),
            (true, false) if !loopback => Err(invalid(
                "server.allow_unauthenticated",
                format!(
                    "gRPC listens on {}, beyond loopback, and no [[clients]] are configured, \
                     so anyone reaching the port could read every tenant's data: configure \
                     [[clients]] (hash their tokens with `attendance-hub hash-token`), listen \
                     on 127.0.0.1, or set server.allow_unauthenticated = true",
                    server.grpc_listen
                ),
            )),
            (true, _) => Ok(AccessPolicy::Open(Caller::unauthenticated())),
        }
    }

    /// Whether calls are admitted without a token.
    pub(crate) fn is_open(&self) -> bool {
        matches!(self, AccessPolicy::Open(_))
    }

    /// The caller presenting this `authorization` header value.
    fn authenticate(&self, authorization: Option<&[u8]>) -> Result<Caller, AccessError> {
        let known = match self {
            AccessPolicy::Open(caller) => return Ok(caller.clone()),
            AccessPolicy::Tokens(known) => known,
        };
        let header = authorization.ok_or(AccessError::TokenMissing)?;
        let header = std::str::from_utf8(header).map_err(|_| AccessError::TokenMalformed)?;
        let token = match header.trim().split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(AccessError::TokenMalformed),
        };
        if token.is_empty() {
            return Err(AccessError::TokenMalformed);
        }
        let presented = TokenHash::of(token);
        // Every known hash is compared, in constant time, whatever matched
        // first: how long this takes says nothing about which bytes agreed.
        let mut found = None;
        for (hash, caller) in known {
            if bool::from(hash.0.ct_eq(&presented.0)) {
                found = Some(caller);
            }
        }
        found.cloned().ok_or(AccessError::TokenInvalid)
    }
}

/// A `tenants` list as a grant: `["*"]`, or tenant ids.
fn tenant_grant(tenants: &[String]) -> Result<TenantGrant, String> {
    if tenants.is_empty() {
        return Err(format!(
            "name the tenants the client may read, or [{EVERY_TENANT:?}] for every tenant"
        ));
    }
    if tenants.iter().any(|t| t == EVERY_TENANT) {
        return if tenants.len() == 1 {
            Ok(TenantGrant::Every)
        } else {
            Err(format!(
                "{EVERY_TENANT:?} grants every tenant and stands alone"
            ))
        };
    }
    if tenants.iter().any(|t| t.trim().is_empty()) {
        return Err("a tenant id must not be empty".into());
    }
    Ok(TenantGrant::Only(tenants.iter().cloned().collect()))
}

/// A `services` list as a set, or the position (if any) of the problem.
fn services(names: &[String]) -> Result<BTreeSet<Service>, (Option<usize>, String)> {
    let known = || {
        Service::ALL
            .iter()
            .map(|s| format!("{:?}", s.config_name()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if names.is_empty() {
        return Err((
            None,
            format!("name the services the client may call: {}", known()),
        ));
    }
    names
        .iter()
        .enumerate()
        .map(|(position, name)| {
            Service::ALL
                .into_iter()
                .find(|s| s.config_name() == name)
                .ok_or_else(|| {
                    (
                        Some(position),
                        format!("{name:?} is not a service; known: {}", known()),
                    )
                })
        })
        .collect()
}
