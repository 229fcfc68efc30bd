//! Fresh databases for tests: a SQLite file in a temporary folder, or a new
//! PostgreSQL database on the server named by `HUB_TEST_POSTGRES_URL`.
//!
//! Compiled only with the `test-util` feature: it lives here, beside the
//! engines it serves, so that the core's own tests need no crate that builds
//! the vendor adapters; the testkit re-exports it for everyone else.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, Executor, PgConnection, SqliteConnection};

/// The environment variable that enables the PostgreSQL half of the suites.
pub const POSTGRES_URL_VAR: &str = "HUB_TEST_POSTGRES_URL";

/// A database that exists for one test and is removed afterwards.
pub struct TestDatabase {
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDatabase {
    /// A new SQLite file.
    pub fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().expect("temporary folder");
        let url = format!("sqlite://{}", dir.path().join("hub.db").display());
        TestDatabase {
            url,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// A new PostgreSQL database on the server `HUB_TEST_POSTGRES_URL` names.
    ///
    /// Panics without it: the suites compile their PostgreSQL cases as ignored
    /// when the variable was unset at build time (`cfg(hub_test_postgres)`, the
    /// core's build script), so a case that gets here without it was asked to
    /// run (`--ignored`, or a binary built with the variable and run without),
    /// and must fail rather than pass having tested nothing.
    pub async fn postgres() -> TestDatabase {
        match TestDatabase::postgres_if_configured().await {
            Some(db) => db,
            None => panic!(
                "{POSTGRES_URL_VAR} is unset: this PostgreSQL case cannot run; \
                 set it to a server where the user may create databases"
            ),
        }
    }

    /// A new PostgreSQL database, or `None` when `HUB_TEST_POSTGRES_URL` is
    /// unset: for the benches, which report what they did not measure.
    // Test-only code behind `test-util`: the environment variable is how a test
    // run is pointed at a PostgreSQL server, and no configuration exists here.
    #[allow(clippy::disallowed_methods)]
    pub async fn postgres_if_configured() -> Option<TestDatabase> {
        let admin_url = std::env::var(POSTGRES_URL_VAR)
            .ok()
            .filter(|url| !url.is_empty())?;
        let name = format!(
            "hub_test_{}_{}_{:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR} must reach a server: {e}"));
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("CREATE DATABASE");
        let url = database_url(&admin_url, &name);
        Some(TestDatabase {
            url,
            cleanup: Cleanup::Postgres { admin_url, name },
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn is_sqlite(&self) -> bool {
        self.url.starts_with("sqlite:")
    }

    /// Runs statements on the database, as an operator (or a fault) would.
    pub async fn execute(&self, statements: &[&str]) {
        let run = |statement: &str, e: sqlx::Error| panic!("{statement}: {e}");
        if self.is_sqlite() {
            let mut connection = SqliteConnection::connect(&self.url)
                .await
                .expect("the test reaches its database");
            for statement in statements {
                if let Err(e) = sqlx::raw_sql(statement).execute(&mut connection).await {
                    run(statement, e);
                }
            }
        } else {
            let mut connection = PgConnection::connect(&self.url)
                .await
                .expect("the test reaches its database");
            for statement in statements {
                if let Err(e) = sqlx::raw_sql(statement).execute(&mut connection).await {
                    run(statement, e);
                }
            }
        }
    }

    /// The first column of every row `sql` returns for `text` bound as `$1`,
    /// as integers (cast them to BIGINT in the query).
    pub async fn integers(&self, sql: &str, text: &str) -> Vec<i64> {
        let rows: Result<Vec<(i64,)>, sqlx::Error> = if self.is_sqlite() {
            let mut connection = SqliteConnection::connect(&self.url)
                .await
                .expect("the test reaches its database");
            sqlx::query_as(sql)
                .bind(text)
                .fetch_all(&mut connection)
                .await
        } else {
            let mut connection = PgConnection::connect(&self.url)
                .await
                .expect("the test reaches its database");
            sqlx::query_as(sql)
                .bind(text)
                .fetch_all(&mut connection)
                .await
        };
        rows.unwrap_or_else(|e| panic!("{sql}: {e}"))
            .into_iter()
            .map(|(n,)| n)
            .collect()
    }
}

/// Replaces the database name in a PostgreSQL URL.
fn database_url(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[scheme_end..]
        .find('/')
        .map(|i| scheme_end + i)
        .unwrap_or(base.len());
    format!("{}/{name}{query}", &base[..host_end])
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs inside the test's runtime; a thread with its own
            // runtime may block where this one may not.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async {
                    if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                        let _ = admin
                            .execute(
                                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
                            )
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::database_url;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            database_url("postgres://127.0.0.1:5432/test", "x"),
            "postgres://127.0.0.1:5432/x"
        );
        assert_eq!(
            database_url("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(database_url("postgres://h:1", "x"), "postgres://h:1/x");
    }
}
