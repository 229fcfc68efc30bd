//! The access rules without a socket: config checks, admission by path and
//! token, and tenant scoping.

use std::collections::HashMap;

use super::*;
use crate::config::Config;

const PAYROLL_TOKEN: &str = "payroll-token-0123456789abcdef0123456789";
const OPS_TOKEN: &str = "operator-token-0123456789abcdef0123456789";

fn config(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, &HashMap::<String, String>::new())
}

fn client(name: &str, token: &str, tenants: &str, services: &str) -> String {
    format!(
        "[[clients]]\nname = {name:?}\ntoken_sha256 = {:?}\ntenants = {tenants}\nservices = {services}\n",
        hash_token(token).unwrap()
    )
}

fn two_clients() -> String {
    client(
        "payroll",
        PAYROLL_TOKEN,
        r#"["A", "C"]"#,
        r#"["attendance"]"#,
    ) + &client("ops", OPS_TOKEN, r#"["*"]"#, r#"["attendance", "admin"]"#)
}

fn policy(text: &str) -> AccessPolicy {
    let config = config(text).unwrap();
    AccessPolicy::from_config(&config.server, &config.clients).unwrap()
}

fn problem(text: &str) -> String {
    config(text).unwrap_err().to_string()
}

fn bearer(token: &str) -> Vec<u8> {
    format!("Bearer {token}").into_bytes()
}

const PUNCHES: &str = "/attendance.v1.AttendanceService/ListPunches";
const RECONCILE: &str = "/attendance.v1.AdminService/Reconcile";

#[test]
fn hash_token_is_the_hex_sha256_of_the_trimmed_token() {
    // `printf '%s' 0123456789abcdefghijklmnopqrstuv | sha256sum`
    let expected = "73337f479fe170d73e53e247f3052e4243cc9c2a0ffa621853d9385c619efb77";
    let token = "0123456789abcdefghijklmnopqrstuv";
    assert_eq!(hash_token(&format!("{token}\n")).unwrap(), expected);
    let short = hash_token("short").unwrap_err().to_string();
    assert!(short.contains("at least 32"), "{short}");
}

#[test]
fn client_errors_name_the_key() {
    let hash = hash_token(PAYROLL_TOKEN).unwrap();
    let entry = |name: &str, token: &str, tenants: &str, services: &str| {
        format!("[[clients]]\nname = {name:?}\ntoken_sha256 = {token:?}\ntenants = {tenants}\nservices = {services}\n")
    };
    let cases = [
        (
            entry("", &hash, r#"["A"]"#, r#"["attendance"]"#),
            "clients[0].name:",
        ),
        (
            entry("p", "abc", r#"["A"]"#, r#"["attendance"]"#),
            "clients[0].token_sha256:",
        ),
        (
            entry(
                "p",
                &hash.replace('a', "g"),
                r#"["A"]"#,
                r#"["attendance"]"#,
            ),
            "clients[0].token_sha256:",
        ),
        (
            entry("p", &hash, "[]", r#"["attendance"]"#),
            "clients[0].tenants:",
        ),
        (
            entry("p", &hash, r#"["*", "A"]"#, r#"["attendance"]"#),
            "clients[0].tenants:",
        ),
        (
            entry("p", &hash, r#"[""]"#, r#"["attendance"]"#),
            "clients[0].tenants:",
        ),
        (entry("p", &hash, r#"["A"]"#, "[]"), "clients[0].services:"),
        (
            entry("p", &hash, r#"["A"]"#, r#"["attendance", "reports"]"#),
            "clients[0].services[1]:",
        ),
        (
            entry("p", &hash, r#"["A"]"#, r#"["admin"]"#)
                + &entry(
                    "p",
                    &hash_token(OPS_TOKEN).unwrap(),
                    r#"["A"]"#,
                    r#"["admin"]"#,
                ),
            "clients[1].name:",
        ),
        (
            entry("p", &hash, r#"["A"]"#, r#"["admin"]"#)
                + &entry("q", &hash.to_uppercase(), r#"["A"]"#, r#"["admin"]"#),
            "clients[1].token_sha256:",
        ),
    ];
    for (text, key) in cases {
        let problem = problem(&text);
        assert!(problem.starts_with(key), "{key}: {problem}");
        assert!(!problem.contains(&hash), "no hash in errors: {problem}");
    }
}

#[test]
fn printing_the_config_shows_clients_but_never_a_token_hash() {
    let config = config(&two_clients()).unwrap();
    let printed = format!("{config:#?}");
    assert!(
        printed.contains("payroll") && printed.contains("\"C\""),
        "{printed}"
    );
    assert!(printed.contains("\"admin\""), "{printed}");
    for token in [PAYROLL_TOKEN, OPS_TOKEN] {
        let hash = hash_token(token).unwrap();
        assert!(!printed.contains(&hash), "{printed}");
        assert!(!printed.contains(token), "{printed}");
    }
    assert!(!format!("{:?}", policy(&two_clients())).contains(&hash_token(OPS_TOKEN).unwrap()));
}

#[test]
fn without_clients_the_api_is_open_on_loopback_only() {
    assert!(policy("").is_open());
    assert!(policy("[server]\ngrpc_listen = '[::1]:0'").is_open());
    let exposed = problem("[server]\ngrpc_listen = '0.0.0.0:50051'");
    assert!(
        exposed.starts_with("server.allow_unauthenticated:"),
        "{exposed}"
    );
    assert!(exposed.contains("0.0.0.0:50051"), "{exposed}");
    assert!(policy("[server]\ngrpc_listen = '0.0.0.0:0'\nallow_unauthenticated = true").is_open());
    // Beyond loopback with clients: authenticated, no setting needed.
    let with_clients = format!("[server]\ngrpc_listen = '0.0.0.0:0'\n{}", two_clients());
    assert!(!policy(&with_clients).is_open());
    let contradiction = problem(&format!(
        "[server]\nallow_unauthenticated = true\n{}",
        two_clients()
    ));
    assert!(
        contradiction.starts_with("server.allow_unauthenticated:"),
        "{contradiction}"
    );
}

#[test]
fn calls_are_admitted_by_path_token_and_service() {
    let policy = policy(&two_clients());
    for open in [
        "/grpc.health.v1.Health/Check",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ] {
        assert!(policy.admit(open, None).unwrap().is_none(), "{open}");
    }
    assert!(matches!(
        policy.admit(PUNCHES, None),
        Err(AccessError::TokenMissing)
    ));
    // Only a path the router would send to an open service is open.
    assert!(matches!(
        policy.admit("//grpc.health.v1.Health/Check", None),
        Err(AccessError::TokenMissing)
    ));
    assert!(matches!(
        policy.admit(PUNCHES, Some(&bearer("not-a-known-token"))),
        Err(AccessError::TokenInvalid)
    ));
    assert!(matches!(
        policy.admit(PUNCHES, Some(PAYROLL_TOKEN.as_bytes())),
        Err(AccessError::TokenMalformed)
    ));
    assert!(matches!(
        policy.admit(PUNCHES, Some(b"Bearer ")),
        Err(AccessError::TokenMalformed)
    ));
    let payroll = policy
        .admit(PUNCHES, Some(&bearer(PAYROLL_TOKEN)))
        .unwrap()
        .unwrap();
    assert_eq!(payroll.name(), "payroll");
    // The scheme is case-insensitive (RFC 7235).
    let lower = format!("bearer {PAYROLL_TOKEN}");
    assert!(policy.admit(PUNCHES, Some(lower.as_bytes())).is_ok());
    assert!(matches!(
        policy.admit(RECONCILE, Some(&bearer(PAYROLL_TOKEN))),
        Err(AccessError::ServiceNotPermitted { service, .. }) if service == "attendance.v1.AdminService"
    ));
    let ops = policy
        .admit(RECONCILE, Some(&bearer(OPS_TOKEN)))
        .unwrap()
        .unwrap();
    assert_eq!(ops.name(), "ops");
    // A service the hub does not list is nobody's.
    assert!(matches!(
        policy.admit("/other.v1.Secrets/Get", Some(&bearer(OPS_TOKEN))),
        Err(AccessError::ServiceNotPermitted { .. })
    ));
    assert!(matches!(
        policy.admit("/other.v1.Secrets/Get", None),
        Err(AccessError::TokenMissing)
    ));
}

#[test]
fn an_open_hub_admits_everyone_to_everything() {
    let policy = policy("");
    let caller = policy.admit(RECONCILE, None).unwrap().unwrap();
    assert!(caller.check_every_tenant().is_ok());
    assert_eq!(caller.tenant_scope("").unwrap(), TenantScope::All);
}

#[test]
fn reads_are_scoped_to_the_callers_tenants() {
    let policy = policy(&two_clients());
    let payroll = policy
        .admit(PUNCHES, Some(&bearer(PAYROLL_TOKEN)))
        .unwrap()
        .unwrap();
    let ops = policy
        .admit(PUNCHES, Some(&bearer(OPS_TOKEN)))
        .unwrap()
        .unwrap();
    let both = TenantScope::Only(vec!["A".into(), "C".into()]);

    assert_eq!(payroll.tenant_scope("").unwrap(), both);
    assert_eq!(payroll.tenant_scope("A").unwrap(), both);
    assert!(matches!(
        payroll.tenant_scope("B"),
        Err(AccessError::TenantNotPermitted { tenant, .. }) if tenant == "B"
    ));
    assert_eq!(ops.tenant_scope("B").unwrap(), TenantScope::All);

    let unfiltered = payroll.scope(SubscriptionFilter::default()).unwrap();
    assert_eq!(unfiltered.tenants, ["A", "C"]);
    let named = SubscriptionFilter {
        tenants: vec!["C".into()],
        ..SubscriptionFilter::default()
    };
    assert_eq!(payroll.scope(named).unwrap().tenants, ["C"]);
    let foreign = SubscriptionFilter {
        tenants: vec!["A".into(), "B".into()],
        ..SubscriptionFilter::default()
    };
    assert!(matches!(
        payroll.scope(foreign),
        Err(AccessError::TenantNotPermitted { tenant, .. }) if tenant == "B"
    ));
    assert!(ops
        .scope(SubscriptionFilter::default())
        .unwrap()
        .tenants
        .is_empty());

    // Calls on the whole hub need every tenant; one naming a tenant, that tenant.
    assert!(matches!(
        payroll.check_every_tenant(),
        Err(AccessError::EveryTenantRequired { .. })
    ));
    assert!(payroll.check_tenant("").is_err());
    assert!(payroll.check_tenant("A").is_ok());
    assert!(payroll.check_tenant("B").is_err());
    assert!(ops.check_tenant("").is_ok());
}
