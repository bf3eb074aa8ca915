//! Turning sqlx's errors into [`StoreError`]s that say what failed, where, and what to do.
//!
//! `StoreError` is the engine's type (a message), so the kinds live here: each failure is
//! described once, with the operation ("recording step 2 of run ...") and the database's
//! location, never with a password.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use runbook_engine::StoreError;
use sqlx::migrate::MigrateError;

/// Where a store lives, as shown to people (no credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    Sqlite(PathBuf),
    Postgres {
        host: String,
        port: u16,
        database: Option<String>,
        /// The `lock_timeout` set on every connection, named when a lock wait exceeds it
        /// (None: the store URL sets its own).
        lock_timeout: Option<Duration>,
        /// The `statement_timeout` set on every connection (None: the store URL's own).
        statement_timeout: Option<Duration>,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(formatter, "{}", path.display()),
            Location::Postgres {
                host,
                port,
                database,
                ..
            } => {
                write!(formatter, "PostgreSQL at {host}:{port}")?;
                if let Some(database) = database {
                    write!(formatter, " (database {database})")?;
                }
                Ok(())
            }
        }
    }
}

// SQLite primary result codes (the low byte of an extended code).
const SQLITE_BUSY: i64 = 5;
// Extended codes of SQLITE_BUSY that are not another writer holding the lock.
const SQLITE_BUSY_RECOVERY: i64 = 5 | (1 << 8);
const SQLITE_BUSY_SNAPSHOT: i64 = 5 | (2 << 8);
const SQLITE_LOCKED: i64 = 6;
const SQLITE_READONLY: i64 = 8;
const SQLITE_IOERR: i64 = 10;
const SQLITE_CORRUPT: i64 = 11;
const SQLITE_FULL: i64 = 13;
const SQLITE_CANTOPEN: i64 = 14;
const SQLITE_NOTADB: i64 = 26;

/// Describes a failed database call made while `doing` something (a phrase such as
/// "recording run 0193..."), against the store at `location`.
pub(crate) fn database_error(location: &Location, doing: &str, error: sqlx::Error) -> StoreError {
    let detail = match &error {
        sqlx::Error::Database(database) => {
            let code = database.code().map(|code| code.into_owned());
            let message = database.message().to_owned();
            match location {
                Location::Sqlite(_) => sqlite_detail(location, code.as_deref(), &message),
                Location::Postgres { .. } => postgres_detail(location, code.as_deref(), &message),
            }
        }
        sqlx::Error::Io(io) => match location {
            Location::Postgres { .. } => format!("{location} does not answer ({io})"),
            Location::Sqlite(_) => format!("cannot read or write {location} ({io})"),
        },
        sqlx::Error::PoolTimedOut => format!(
            "{location} did not hand out a connection in time (is it reachable, or busy with \
             other writers?)"
        ),
        sqlx::Error::PoolClosed => format!("the connection to {location} was already closed"),
        sqlx::Error::Tls(tls) => format!("TLS with {location} failed ({tls})"),
        sqlx::Error::Protocol(protocol) => {
            format!("{location} answered something unexpected ({protocol})")
        }
        sqlx::Error::ColumnDecode { index, source } => {
            format!("{location} holds a value this build cannot read in column {index} ({source})")
        }
        other => format!("{location}: {other}"),
    };
    StoreError::new(format!("{doing}: {detail}"))
}

fn sqlite_detail(location: &Location, code: Option<&str>, message: &str) -> String {
    let extended = code.and_then(|code| code.parse::<i64>().ok());
    let primary = extended.map(|code| code & 0xff);
    match (primary, extended) {
        (_, Some(SQLITE_BUSY_RECOVERY)) => format!(
            "{location} is being recovered by another connection after a crash ({message}); \
             try again in a moment"
        ),
        (_, Some(SQLITE_BUSY_SNAPSHOT)) => format!(
            "{location} changed under a transaction of this process ({message}); nothing of this \
             write was kept, try again"
        ),
        (Some(SQLITE_NOTADB), _) => format!(
            "{location} is not a SQLite database ({message}); point --store at another file or \
             move this one away"
        ),
        (Some(SQLITE_CORRUPT), _) => {
            format!("{location} is corrupt ({message}); restore it from a backup or move it away")
        }
        (Some(SQLITE_FULL), _) => format!(
            "the disk holding {location} is full ({message}); nothing of this write was kept"
        ),
        (Some(SQLITE_READONLY), _) => {
            format!("{location} cannot be written ({message}); check its permissions")
        }
        (Some(SQLITE_CANTOPEN), _) => format!(
            "cannot open {location} ({message}); check that its directory exists and is writable"
        ),
        // SQLITE_BUSY after the busy timeout: another connection (of this process or another)
        // held the write lock all along.
        (Some(SQLITE_BUSY), _) => {
            format!("{location} stayed locked by another writer past the busy timeout ({message})")
        }
        // SQLITE_LOCKED is a conflict inside one connection (or a shared cache), not a writer.
        (Some(SQLITE_LOCKED), _) => {
            format!("{location}: a table was locked by another statement ({message})")
        }
        (Some(SQLITE_IOERR), _) => format!("the disk failed while using {location} ({message})"),
        _ => format!("{location}: {message}"),
    }
}

fn postgres_detail(location: &Location, code: Option<&str>, message: &str) -> String {
    let (lock_timeout, statement_timeout) = match location {
        Location::Postgres {
            lock_timeout,
            statement_timeout,
            ..
        } => (*lock_timeout, *statement_timeout),
        Location::Sqlite(_) => (None, None),
    };
    match code {
        Some("53100") => {
            format!("the disk of {location} is full ({message}); nothing of this write was kept")
        }
        Some("3D000") => format!("{location}: the database does not exist ({message})"),
        Some("28000") | Some("28P01") => {
            format!("{location} refused the credentials ({message})")
        }
        Some("57P01") | Some("57P02") | Some("57P03") => {
            format!("{location} is shutting down or starting up ({message})")
        }
        Some("25006") => format!("{location} is read-only ({message})"),
        // lock_not_available: the lock timeout ran out (or NOWAIT found the row taken).
        Some("55P03") => format!(
            "{location}: waited longer than the lock timeout ({}) for a lock held by another \
             session ({message}); look for a LOCK TABLE or a long transaction in pg_stat_activity \
             and pg_locks; nothing of this write was kept",
            seconds(lock_timeout)
        ),
        // query_canceled: the statement timeout, or somebody cancelled the query.
        Some("57014") if message.contains("statement timeout") => format!(
            "{location}: the statement ran longer than the statement timeout ({}) ({message}); \
             nothing of this write was kept",
            seconds(statement_timeout)
        ),
        _ => format!("{location}: {message}"),
    }
}

fn seconds(duration: Option<Duration>) -> String {
    match duration {
        None => "set in the store URL".to_owned(),
        Some(duration) if duration.is_zero() => "none".to_owned(),
        Some(duration) => format!("{} s", duration.as_secs_f64()),
    }
}

/// Describes a failed migration.
pub(crate) fn migrate_error(location: &Location, error: MigrateError) -> StoreError {
    match error {
        MigrateError::Execute(inner) | MigrateError::ExecuteMigration(inner, _) => {
            database_error(location, "updating the run store's schema", inner)
        }
        MigrateError::VersionMismatch(version) => StoreError::new(format!(
            "{location}: schema migration {version} differs from the one this build ships; the \
             database was written by a different build of runbook"
        )),
        other => StoreError::new(format!(
            "updating the run store's schema in {location}: {other}"
        )),
    }
}

/// Is this the database saying a foreign key points nowhere (a run that is not recorded)?
pub(crate) fn is_foreign_key_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(database)
        if database.kind() == sqlx::error::ErrorKind::ForeignKeyViolation)
}

/// Is this a unique-key collision (two writers took the same key)?
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(database)
        if database.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_location_never_shows_credentials() {
        let location = Location::Postgres {
            host: "db.example".into(),
            port: 5432,
            database: Some("runbook".into()),
            lock_timeout: Some(Duration::from_secs(10)),
            statement_timeout: Some(Duration::from_secs(30)),
        };
        assert_eq!(
            location.to_string(),
            "PostgreSQL at db.example:5432 (database runbook)"
        );
    }

    #[test]
    fn extended_sqlite_codes_are_reduced_to_their_primary_code() {
        let location = Location::Sqlite(PathBuf::from("/tmp/runs.db"));
        // SQLITE_IOERR_WRITE is 778 = 3 << 8 | 10.
        let detail = sqlite_detail(&location, Some("778"), "disk I/O error");
        assert!(detail.starts_with("the disk failed"), "{detail}");
        let detail = sqlite_detail(&location, Some("26"), "file is not a database");
        assert!(detail.contains("is not a SQLite database"), "{detail}");
    }

    #[test]
    fn only_a_busy_timeout_blames_another_writer() {
        let location = Location::Sqlite(PathBuf::from("/tmp/runs.db"));
        let busy = sqlite_detail(&location, Some("5"), "database is locked");
        assert!(busy.contains("locked by another writer"), "{busy}");
        for (code, message) in [
            ("261", "database is locked"),
            ("517", "database is locked"),
            ("6", "database table is locked"),
            ("13", "database or disk is full"),
            ("1", "no such table: runs"),
        ] {
            let detail = sqlite_detail(&location, Some(code), message);
            assert!(!detail.contains("another writer"), "{code}: {detail}");
        }
    }

    #[test]
    fn postgres_timeouts_are_named_with_their_values() {
        let location = Location::Postgres {
            host: "db.example".into(),
            port: 5432,
            database: Some("runbook".into()),
            lock_timeout: Some(Duration::from_millis(1500)),
            statement_timeout: Some(Duration::from_secs(30)),
        };
        let lock = postgres_detail(
            &location,
            Some("55P03"),
            "canceling statement due to lock timeout",
        );
        assert!(
            lock.contains("waited longer than the lock timeout (1.5 s)"),
            "{lock}"
        );
        let statement = postgres_detail(
            &location,
            Some("57014"),
            "canceling statement due to statement timeout",
        );
        assert!(
            statement.contains("ran longer than the statement timeout (30 s)"),
            "{statement}"
        );
        let cancelled = postgres_detail(
            &location,
            Some("57014"),
            "canceling statement due to user request",
        );
        assert!(!cancelled.contains("timeout ("), "{cancelled}");
    }
}
