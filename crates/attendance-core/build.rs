//! Whether the PostgreSQL test cases can run, decided when the tests are
//! built: with `HUB_TEST_POSTGRES_URL` set, `cfg(hub_test_postgres)`; without
//! it the suites compile their `postgres::` cases as `#[ignore]`d, so a run
//! reports them as ignored, never as passed. Also the server's build script
//! (its Cargo.toml points here), whose end-to-end suites have the same cases.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(hub_test_postgres)");
    // Rebuilt when the variable changes, so `.ci/run`'s PostgreSQL step,
    // which sets it, runs the cases the plain run ignored.
    println!("cargo::rerun-if-env-changed=HUB_TEST_POSTGRES_URL");
    // A build script is told what to build through the environment.
    #[allow(clippy::disallowed_methods)]
    let url = std::env::var_os("HUB_TEST_POSTGRES_URL").unwrap_or_default();
    if !url.is_empty() {
        println!("cargo::rustc-cfg=hub_test_postgres");
    }
}
