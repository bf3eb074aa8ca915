//! Fresh, empty databases for the store tests: a SQLite file in a temporary folder, or a
//! PostgreSQL database of its own (random name, dropped afterwards) on the server named by
//! `RUNBOOK_TEST_POSTGRES_URL`.

#![allow(dead_code)] // Each test binary uses part of this module.

use std::str::FromStr;

use runbook_engine::{Event, NewRun, StepRecord, StepStatus};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

pub const POSTGRES_URL_VARIABLE: &str = "RUNBOOK_TEST_POSTGRES_URL";

/// A fresh SQLite database: the URL of a file that does not exist yet.
#[derive(Debug)]
pub struct SqliteDatabase {
    pub folder: tempfile::TempDir,
    pub url: String,
}

impl SqliteDatabase {
    pub fn new() -> SqliteDatabase {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", folder.path().join("runs.db").display());
        SqliteDatabase { folder, url }
    }

    pub fn path(&self) -> std::path::PathBuf {
        self.folder.path().join("runs.db")
    }
}

/// A fresh PostgreSQL database, dropped by [`PostgresDatabase::drop_database`].
#[derive(Debug)]
pub struct PostgresDatabase {
    admin: PgConnectOptions,
    pub name: String,
    pub url: String,
}

impl PostgresDatabase {
    /// Creates a database of its own, or returns `None` (after saying so) when no server is
    /// configured.
    pub async fn create() -> Option<PostgresDatabase> {
        let Ok(base_url) = std::env::var(POSTGRES_URL_VARIABLE) else {
            // Straight to stderr, past the test harness's capture: a skipped suite is visible.
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!("skipping a PostgreSQL test: {POSTGRES_URL_VARIABLE} is not set\n")
                    .as_bytes(),
            );
            return None;
        };
        let given = PgConnectOptions::from_str(&base_url)
            .unwrap_or_else(|error| panic!("{POSTGRES_URL_VARIABLE} is not a URL: {error}"));
        // The database named in the URL may not exist yet; `postgres` always does.
        let admin = match given.connect().await {
            Ok(connection) => {
                connection.close().await.ok();
                given.clone()
            }
            Err(_) => given.clone().database("postgres"),
        };
        let name = format!("runbook_test_{}", uuid::Uuid::now_v7().simple());
        let mut connection = admin
            .connect()
            .await
            .unwrap_or_else(|error| panic!("connecting to PostgreSQL for the tests: {error}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut connection)
            .await
            .unwrap_or_else(|error| panic!("creating database {name}: {error}"));
        connection.close().await.ok();
        let url = with_database(&base_url, &name);
        Some(PostgresDatabase { admin, name, url })
    }

    pub async fn drop_database(self) {
        let mut connection: PgConnection = match self.admin.connect().await {
            Ok(connection) => connection,
            Err(error) => panic!("connecting to PostgreSQL to drop {}: {error}", self.name),
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut connection)
        .await
        .unwrap_or_else(|error| panic!("dropping database {}: {error}", self.name));
        connection.close().await.ok();
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

pub fn new_run_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub fn new_run(run_id: &str, playbook_name: &str) -> NewRun {
    NewRun {
        run_id: run_id.to_owned(),
        playbook_name: playbook_name.to_owned(),
        playbook_source: format!("name: {playbook_name}\nsteps: []\n"),
        playbook_hash: "5e1f0c9a".repeat(8),
        playbook_path: Some(format!("playbooks/{playbook_name}.yaml")),
        inputs: json!({"hostname": "WIN-DC01", "api_key": "[REDACTED]"}),
        started_by: "cli:analyst".to_owned(),
        claimed_by: None,
    }
}

pub fn running_step(step_index: u32, step_id: &str, kind: &str) -> StepRecord {
    StepRecord {
        step_index,
        step_id: step_id.to_owned(),
        kind: kind.to_owned(),
        status: StepStatus::Running,
        attempts: 1,
        outputs: None,
        request_summary: Some(format!("{kind} {step_id}")),
        error: None,
        started_at: "2026-11-29T10:00:00.000000Z".to_owned(),
        finished_at: None,
        deadline: None,
    }
}

pub fn finished_step(step_index: u32, step_id: &str, kind: &str) -> StepRecord {
    StepRecord {
        status: StepStatus::Succeeded,
        outputs: Some(json!({"count": step_index, "step": step_id})),
        finished_at: Some("2026-11-29T10:00:01.000000Z".to_owned()),
        ..running_step(step_index, step_id, kind)
    }
}

pub fn log_event(step_id: &str, message: &str) -> Event {
    Event::Log {
        step_id: step_id.to_owned(),
        message: message.to_owned(),
    }
}

/// Calls each listed async fn (taking a fresh database URL) from one `#[tokio::test]` per
/// backend: SQLite always, PostgreSQL when `RUNBOOK_TEST_POSTGRES_URL` is set.
#[allow(unused_macros)]
macro_rules! backend_tests {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let database = crate::common::SqliteDatabase::new();
                    super::$test(&database.url).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let Some(database) = crate::common::PostgresDatabase::create().await else {
                        return;
                    };
                    // The test runs in a task of its own so that its database is dropped
                    // even when it fails.
                    let url = database.url.clone();
                    let outcome = tokio::spawn(async move { super::$test(&url).await }).await;
                    database.drop_database().await;
                    if let Err(failure) = outcome {
                        std::panic::resume_unwind(failure.into_panic());
                    }
                }
            )*
        }
    };
}

/// Rows of two text columns, read through a connection of its own.
pub async fn rows(url: &str, sql: &'static str) -> Vec<(String, String)> {
    if url.starts_with("sqlite:") {
        let mut connection = sqlx::SqliteConnection::connect(url).await.expect("connect");
        sqlx::query_as(sql)
            .fetch_all(&mut connection)
            .await
            .expect("query")
    } else {
        let mut connection = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query_as(sql)
            .fetch_all(&mut connection)
            .await
            .expect("query")
    }
}
