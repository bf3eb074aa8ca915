//! Opening a store: reading its URL, connecting, refusing databases that are not ours (or are
//! newer than this build), and applying the embedded migrations.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use runbook_engine::StoreError;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};

use crate::error::{Location, database_error, migrate_error};
use crate::store::{Backend, SqlStore};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// The table sqlx records applied migrations in.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// How a store is opened. [`StoreOptions::default`] suits the CLI and the tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Connections in the pool (SQLite serialises writers anyway; PostgreSQL workers may want
    /// more).
    pub max_connections: u32,
    /// How long a writer waits for SQLite's lock held by another writer before failing.
    pub busy_timeout: Duration,
    /// How long to wait for a connection (PostgreSQL not answering fails after this).
    pub connect_timeout: Duration,
    /// Caps a SQLite file at this many pages (4 KiB each): a write past it fails as a full
    /// disk would. Bounds the store's size; also how tests simulate a full disk.
    pub sqlite_max_page_count: Option<u32>,
    /// PostgreSQL: a statement running longer than this is cancelled (`statement_timeout`),
    /// so that a run fails with a clear error instead of hanging. Zero: no limit.
    pub statement_timeout: Duration,
    /// PostgreSQL: how long a statement waits for a lock held by another session (a `LOCK
    /// TABLE`, a long transaction) before it fails (`lock_timeout`). Zero: no limit.
    pub lock_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 4,
            busy_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            sqlite_max_page_count: None,
            statement_timeout: Duration::from_secs(30),
            lock_timeout: Duration::from_secs(10),
        }
    }
}

/// What a store URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Sqlite(PathBuf),
    Postgres(String),
}

fn parse_url(url: &str) -> Result<Target, StoreError> {
    if let Some(rest) = url.strip_prefix("sqlite:") {
        // `sqlite://PATH` (PATH relative or, with a third slash, absolute) or `sqlite:PATH`.
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let path = rest.split('?').next().unwrap_or_default();
        if path.is_empty() {
            return Err(StoreError::new(
                "store URL `sqlite://` names no file; expected sqlite://PATH",
            ));
        }
        if path == ":memory:" {
            return Err(StoreError::new(
                "an in-memory SQLite store would forget every run when the process ends; use \
                 --store none to run without a record, or give a file",
            ));
        }
        Ok(Target::Sqlite(PathBuf::from(path)))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Target::Postgres(url.to_owned()))
    } else {
        // Only the scheme is echoed: the rest of a URL may hold a password.
        let scheme = url.split(':').next().unwrap_or_default();
        Err(StoreError::new(format!(
            "unsupported store URL scheme `{scheme}`; expected sqlite://PATH or postgres://..."
        )))
    }
}

impl SqlStore {
    /// The default store: `runs.db` in runbook's folder of the user's data directory
    /// (`~/.local/share/runbook/runs.db` on Linux), as a `sqlite://` URL.
    pub fn default_url() -> String {
        let directory = dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("runbook");
        // A failure here is not reported: `open` creates the folder again and says clearly
        // why it cannot, at the moment the store is actually needed.
        let _ = std::fs::create_dir_all(&directory);
        format!("sqlite://{}", directory.join("runs.db").display())
    }

    /// Opens (creating if needed) the store at `url` (`sqlite://PATH` or `postgres://...`)
    /// with default options, and brings its schema up to date.
    pub async fn open(url: &str) -> Result<SqlStore, StoreError> {
        SqlStore::open_with(url, &StoreOptions::default()).await
    }

    /// Opens the store at `url` with `options`.
    pub async fn open_with(url: &str, options: &StoreOptions) -> Result<SqlStore, StoreError> {
        match parse_url(url)? {
            Target::Sqlite(path) => open_sqlite(&path, options).await,
            Target::Postgres(url) => open_postgres(&url, options).await,
        }
    }
}

fn sqlite_options(path: &Path, options: &StoreOptions) -> SqliteConnectOptions {
    let mut connect = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(options.busy_timeout);
    if let Some(pages) = options.sqlite_max_page_count {
        connect = connect.pragma("max_page_count", pages.to_string());
    }
    connect
}

async fn open_sqlite(path: &Path, options: &StoreOptions) -> Result<SqlStore, StoreError> {
    let location = Location::Sqlite(path.to_owned());
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|error| {
            StoreError::new(format!(
                "creating the folder {} for the run store: {error}",
                parent.display()
            ))
        })?;
    }
    create_private_file(path)?;

    // Look before changing anything: the pool below switches the file to WAL, which must not
    // happen to somebody else's database.
    let mut probe: SqliteConnection = sqlite_options(path, options)
        .connect()
        .await
        .map_err(|error| database_error(&location, "opening the run store", error))?;
    let tables = sqlx::query_scalar::<_, String>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         ORDER BY name",
    )
    .fetch_all(&mut probe)
    .await
    .map_err(|error| database_error(&location, "reading the run store's tables", error));
    let tables = match tables {
        Ok(tables) => tables,
        Err(error) => {
            let _ = probe.close().await;
            return Err(error);
        }
    };
    let applied = applied_migrations_sqlite(&mut probe, &tables, &location).await;
    // The probe's work is done whatever it found; closing it cannot change the verdict.
    let _ = probe.close().await;
    check_schema(&location, &tables, &applied?, &SQLITE_MIGRATIONS)?;

    // NORMAL in WAL mode: a commit survives a crash of the process (what resume needs) and
    // costs no fsync per write; only a power cut can lose the last commits.
    let connect = sqlite_options(path, options)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    // Each attempt migrates on a connection of its own, closed afterwards. A migration that
    // fails half-way (a nearly full disk) can leave its connection inside a transaction: had
    // that connection gone back to a pool, it would see its own uncommitted tables (so a
    // second attempt would find the schema applied and open would succeed), every other
    // connection would find no table at all, and its write lock would block them all.
    let migrated = migrate_with_retry(|| {
        let connect = connect.clone();
        async move {
            let migrating = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(connect)
                .await?;
            let migrated = SQLITE_MIGRATIONS.run(&migrating).await;
            // Closing rolls back whatever a failed attempt left open.
            migrating.close().await;
            migrated
        }
    })
    .await;
    migrated.map_err(|error| migrate_error(&location, error))?;

    let pool = SqlitePoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.connect_timeout.max(options.busy_timeout))
        .connect_with(connect.clone())
        .await
        .map_err(|error| database_error(&location, "opening the run store", error))?;
    // Read back from a fresh connection what the migrations recorded: a schema set-up that did
    // not take effect is reported here, not later as "no such table".
    let applied = match pool.acquire().await {
        Ok(mut connection) => sqlx::query_scalar::<_, i64>(APPLIED_VERSIONS)
            .fetch_all(&mut *connection)
            .await
            .map_err(|error| database_error(&location, SCHEMA_CHECK, error)),
        Err(error) => Err(database_error(&location, SCHEMA_CHECK, error)),
    }
    .and_then(|applied| check_all_applied(&location, &applied, &SQLITE_MIGRATIONS));
    if let Err(error) = applied {
        pool.close().await;
        return Err(error);
    }
    // Intents must outlive a power cut too (a lost intent means a second action), so they go
    // through a connection that syncs the log on every commit; the sync also covers every
    // commit written before it, the log being one sequential file.
    let flushed = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(options.connect_timeout.max(options.busy_timeout))
        .connect_lazy_with(connect.synchronous(SqliteSynchronous::Full));
    Ok(SqlStore::new(Backend::Sqlite { pool, flushed }, location))
}

/// Creates the database file readable by its owner only, if it does not exist yet: runs hold
/// playbooks, host names and outputs. SQLite gives its `-wal` and `-shm` files the database
/// file's permissions.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let mut file = std::fs::OpenOptions::new();
    file.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        file.mode(0o600);
    }
    match file.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(StoreError::new(format!(
            "creating the run store {}: {error}",
            path.display()
        ))),
    }
}

async fn applied_migrations_sqlite(
    connection: &mut SqliteConnection,
    tables: &[String],
    location: &Location,
) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
    if !tables.iter().any(|table| table == MIGRATIONS_TABLE) {
        return Ok(Vec::new());
    }
    sqlx::query_as::<_, (i64, Vec<u8>)>(
        "SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version",
    )
    .fetch_all(connection)
    .await
    .map_err(|error| database_error(location, "reading the run store's schema version", error))
}

async fn open_postgres(url: &str, options: &StoreOptions) -> Result<SqlStore, StoreError> {
    let connect = PgConnectOptions::from_str(url)
        .map_err(|error| StoreError::new(format!("invalid PostgreSQL store URL: {error}")))?;
    let (connect, [statement_timeout, lock_timeout]) = with_timeouts(connect, options);
    let location = Location::Postgres {
        host: connect.get_host().to_owned(),
        port: connect.get_port(),
        database: connect.get_database().map(str::to_owned),
        lock_timeout,
        statement_timeout,
    };
    // One connection first: a refused or silent server is reported as such (the pool would
    // only say it timed out), and the schema is checked before anything is written.
    let mut probe: PgConnection =
        match tokio::time::timeout(options.connect_timeout, connect.connect()).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(error)) => {
                return Err(database_error(
                    &location,
                    "connecting to the run store",
                    error,
                ));
            }
            Err(_) => {
                return Err(StoreError::new(format!(
                    "connecting to the run store: {location} does not answer (no reply in {} s)",
                    options.connect_timeout.as_secs_f64()
                )));
            }
        };
    let checked = check_postgres(&mut probe, &location).await;
    let _ = probe.close().await;
    checked?;

    // sqlx takes an advisory lock here, so workers starting together migrate once. Each
    // attempt has a connection of its own, closed afterwards (see `open_sqlite`).
    let migrated = migrate_with_retry(|| {
        let connect = connect.clone();
        async move {
            let migrating = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(connect)
                .await?;
            let migrated = POSTGRES_MIGRATIONS.run(&migrating).await;
            migrating.close().await;
            migrated
        }
    })
    .await;
    migrated.map_err(|error| migrate_error(&location, error))?;

    let durable = PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.connect_timeout)
        .connect_with(connect.clone())
        .await
        .map_err(|error| database_error(&location, "connecting to the run store", error))?;
    let applied = match durable.acquire().await {
        Ok(mut connection) => sqlx::query_scalar::<_, i64>(APPLIED_VERSIONS)
            .fetch_all(&mut *connection)
            .await
            .map_err(|error| database_error(&location, SCHEMA_CHECK, error)),
        Err(error) => Err(database_error(&location, SCHEMA_CHECK, error)),
    }
    .and_then(|applied| check_all_applied(&location, &applied, &POSTGRES_MIGRATIONS));
    if let Err(error) = applied {
        durable.close().await;
        return Err(error);
    }
    // Connected lazily: most commands never append an event.
    let unflushed = PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.connect_timeout)
        .connect_lazy_with(connect.options([("synchronous_commit", "off")]));
    Ok(SqlStore::new(
        Backend::Postgres { durable, unflushed },
        location,
    ))
}

/// Sets `statement_timeout` and `lock_timeout` on every connection, unless the URL sets them
/// itself (`?options=-c lock_timeout=...`): a statement blocked by somebody else's lock, or one
/// that never ends, then fails with an error that says so instead of hanging a run. Returns the
/// values set here, in that order (None: the URL's own).
fn with_timeouts(
    connect: PgConnectOptions,
    options: &StoreOptions,
) -> (PgConnectOptions, [Option<Duration>; 2]) {
    let given = connect.get_options().unwrap_or_default().to_owned();
    let mut settings = Vec::new();
    let mut set = [None, None];
    for (slot, (name, value)) in [
        ("statement_timeout", options.statement_timeout),
        ("lock_timeout", options.lock_timeout),
    ]
    .into_iter()
    .enumerate()
    {
        if !given.contains(name) {
            settings.push((name, format!("{}ms", value.as_millis())));
            set[slot] = Some(value);
        }
    }
    if settings.is_empty() {
        (connect, set)
    } else {
        (connect.options(settings), set)
    }
}

/// The schema versions a store records as applied.
const APPLIED_VERSIONS: &str =
    "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";
const SCHEMA_CHECK: &str = "checking the run store's schema after setting it up";

/// Every migration this build ships must be recorded as applied once the store is open.
fn check_all_applied(
    location: &Location,
    applied: &[i64],
    migrator: &Migrator,
) -> Result<(), StoreError> {
    let missing: Vec<String> = migrator
        .iter()
        .map(|migration| migration.version)
        .filter(|version| !applied.contains(version))
        .map(|version| version.to_string())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(StoreError::new(format!(
        "setting up the run store's schema in {location} did not take effect: migration(s) {} \
         are not recorded as applied (is the disk full?); nothing was recorded",
        missing.join(", ")
    )))
}

async fn check_postgres(
    connection: &mut PgConnection,
    location: &Location,
) -> Result<(), StoreError> {
    let tables = sqlx::query_scalar::<_, String>(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
         ORDER BY table_name",
    )
    .fetch_all(&mut *connection)
    .await
    .map_err(|error| database_error(location, "reading the run store's tables", error))?;
    let applied = if tables.iter().any(|table| table == MIGRATIONS_TABLE) {
        sqlx::query_as::<_, (i64, Vec<u8>)>(
            "SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&mut *connection)
        .await
        .map_err(|error| {
            database_error(location, "reading the run store's schema version", error)
        })?
    } else {
        Vec::new()
    };
    check_schema(location, &tables, &applied, &POSTGRES_MIGRATIONS)
}

/// Two processes opening a fresh SQLite file at once can both try to apply a migration
/// (SQLite has no migration lock); the loser fails on "table already exists". Its next attempt
/// finds the migration applied (it was committed with its record) and goes on from there.
async fn migrate_with_retry<F, Fut>(mut migrate: F) -> Result<(), sqlx::migrate::MigrateError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), sqlx::migrate::MigrateError>>,
{
    const ATTEMPTS: u32 = 4;
    let mut attempt = 1;
    loop {
        match migrate().await {
            Ok(()) => return Ok(()),
            Err(error) if attempt < ATTEMPTS => {
                tracing::debug!(%error, attempt, "migrating the run store failed; trying again");
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Decides, from the tables a database holds and the migrations it records, whether it is an
/// empty database, a run store this build can use (perhaps after migrating), a run store from
/// a newer runbook, or something else entirely.
fn check_schema(
    location: &Location,
    tables: &[String],
    applied: &[(i64, Vec<u8>)],
    migrator: &Migrator,
) -> Result<(), StoreError> {
    let ours: Vec<&str> = vec!["runs", "steps", "events", "intents", MIGRATIONS_TABLE];
    let foreign: Vec<&str> = tables
        .iter()
        .map(String::as_str)
        .filter(|table| !ours.contains(table))
        .collect();
    let has_migrations_table = tables.iter().any(|table| table == MIGRATIONS_TABLE);
    let newest_known = migrator
        .iter()
        .map(|migration| migration.version)
        .max()
        .unwrap_or(0);

    if tables.is_empty() {
        return Ok(());
    }
    if !has_migrations_table {
        return Err(not_ours(location, tables));
    }
    if applied.is_empty() {
        // sqlx creates its table before the first migration; a crash in between leaves only
        // that table (migrations are transactional on both databases).
        return if foreign.is_empty() {
            Ok(())
        } else {
            Err(not_ours(location, tables))
        };
    }
    let first = migrator.iter().next();
    let first_matches = first.is_some_and(|first| {
        applied
            .iter()
            .any(|(version, checksum)| *version == first.version && **checksum == *first.checksum)
    });
    if !first_matches {
        return Err(StoreError::new(format!(
            "{location} is not a runbook run store: it records schema migrations of another \
             program (tables: {}); point --store at another database",
            tables.join(", ")
        )));
    }
    let newest_applied = applied
        .iter()
        .map(|(version, _)| *version)
        .max()
        .unwrap_or(0);
    if newest_applied > newest_known {
        return Err(StoreError::new(format!(
            "{location} was written by a newer runbook: its schema is at version \
             {newest_applied}, this build knows versions up to {newest_known}; upgrade runbook \
             to read it, or point --store at another database"
        )));
    }
    Ok(())
}

fn not_ours(location: &Location, tables: &[String]) -> StoreError {
    const SHOWN: usize = 8;
    let mut listed = tables.iter().take(SHOWN).cloned().collect::<Vec<_>>();
    if tables.len() > SHOWN {
        listed.push(format!("and {} more", tables.len() - SHOWN));
    }
    StoreError::new(format!(
        "{location} is not a runbook run store: it holds other tables ({}); point --store at \
         another database",
        listed.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_files() {
        assert_eq!(
            parse_url("sqlite:///var/lib/runbook/runs.db"),
            Ok(Target::Sqlite(PathBuf::from("/var/lib/runbook/runs.db")))
        );
        assert_eq!(
            parse_url("sqlite://runs.db?mode=rwc"),
            Ok(Target::Sqlite(PathBuf::from("runs.db")))
        );
        assert_eq!(
            parse_url("sqlite:runs.db"),
            Ok(Target::Sqlite(PathBuf::from("runs.db")))
        );
        assert!(parse_url("sqlite://").is_err());
        assert!(parse_url("sqlite::memory:").is_err());
    }

    #[test]
    fn unknown_schemes_are_refused_without_echoing_the_url() {
        let error = parse_url("mysql://root:hunter2@db/runs").unwrap_err();
        assert!(error.message.contains("`mysql`"), "{error}");
        assert!(!error.message.contains("hunter2"), "{error}");
    }

    #[test]
    fn default_url_is_a_sqlite_file_named_runs_db() {
        let url = SqlStore::default_url();
        assert!(url.starts_with("sqlite://"), "{url}");
        assert!(url.ends_with("runs.db"), "{url}");
    }

    #[test]
    fn schema_checks_tell_empty_ours_foreign_and_newer_apart() {
        let location = Location::Sqlite(PathBuf::from("runs.db"));
        let migrator = &SQLITE_MIGRATIONS;
        let first = migrator.iter().next().expect("at least one migration");
        let ours = vec![(first.version, first.checksum.to_vec())];
        let tables = |names: &[&str]| {
            names
                .iter()
                .map(|name| name.to_string())
                .collect::<Vec<_>>()
        };

        assert!(check_schema(&location, &[], &[], migrator).is_ok());
        assert!(
            check_schema(
                &location,
                &tables(&["_sqlx_migrations", "events", "intents", "runs", "steps"]),
                &ours,
                migrator
            )
            .is_ok()
        );
        let foreign = check_schema(&location, &tables(&["customers"]), &[], migrator)
            .expect_err("a foreign database is refused");
        assert!(foreign.message.contains("customers"), "{foreign}");

        let mut newer = ours.clone();
        newer.push((first.version + 1000, vec![1, 2, 3]));
        let newer = check_schema(
            &location,
            &tables(&["_sqlx_migrations", "runs"]),
            &newer,
            migrator,
        )
        .expect_err("a newer database is refused");
        assert!(newer.message.contains("newer runbook"), "{newer}");
        assert!(
            newer.message.contains(&format!("{}", first.version + 1000)),
            "{newer}"
        );

        let other_program = check_schema(
            &location,
            &tables(&["_sqlx_migrations", "users"]),
            &[(20240101000000, vec![9])],
            migrator,
        )
        .expect_err("another sqlx program's database is refused");
        assert!(
            other_program.message.contains("another program"),
            "{other_program}"
        );
    }
}
