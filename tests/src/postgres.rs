//! A PostgreSQL database of its own for a test, on the server `RUNBOOK_TEST_POSTGRES_URL` names.

use std::process::Command;

/// A PostgreSQL database of its own, dropped when the test ends (pass or fail).
#[derive(Debug)]
pub struct PostgresDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PostgresDatabase {
    /// A new empty database on `RUNBOOK_TEST_POSTGRES_URL`'s server; `None` (saying so on
    /// stdout) when that variable is not set or psql cannot run.
    pub fn create() -> Option<PostgresDatabase> {
        let Ok(base) = std::env::var("RUNBOOK_TEST_POSTGRES_URL") else {
            skipped("RUNBOOK_TEST_POSTGRES_URL is not set");
            return None;
        };
        let admin_url = with_database(&base, "postgres");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or_default();
        let name = format!("runbook_serve_{}_{nanos}", std::process::id());
        let created = Command::new("psql")
            .args([&admin_url, "-q", "-v", "ON_ERROR_STOP=1", "-c"])
            .arg(format!("CREATE DATABASE {name}"))
            .output();
        match created {
            Ok(output) if output.status.success() => {}
            Ok(output) => panic!(
                "creating database {name}: {}",
                String::from_utf8_lossy(&output.stderr)
            ),
            Err(error) => {
                skipped(&format!("psql cannot be run ({error})"));
                return None;
            }
        }
        let url = with_database(&base, &name);
        Some(PostgresDatabase {
            admin_url,
            name,
            url,
        })
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([&self.admin_url, "-q", "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .output();
    }
}

/// `url` with its database replaced by `database`, query options kept.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let (scheme, rest) = base.split_once("://").expect("a URL with a scheme");
    let authority = rest.split('/').next().unwrap_or_default();
    let mut result = format!("{scheme}://{authority}/{database}");
    if let Some(query) = query {
        result.push('?');
        result.push_str(query);
    }
    result
}

/// Says a PostgreSQL test was skipped, straight to stderr past the test harness's capture, so
/// that a run without PostgreSQL shows it.
pub fn skipped(why: &str) {
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("skipping a PostgreSQL test: {why}\n").as_bytes(),
    );
}
