//! The macros that run one body against either database's pool (sqlx infers the database
//! from the pool's type, so the same SQL text and binds serve both).

/// Runs the same body against whichever pool the store holds: `$pool` is bound to a
/// `&SqlitePool` or a `&PgPool`, and sqlx infers the database from it.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite { pool: $pool, .. } => $body,
            $crate::store::Backend::Postgres { durable: $pool, .. } => $body,
        }
    };
}

/// Like `on_pool!`, for writes that must survive a power cut before the engine goes on (an
/// intent is written before the action is sent).
macro_rules! on_flushed_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite { flushed: $pool, .. } => $body,
            $crate::store::Backend::Postgres { durable: $pool, .. } => $body,
        }
    };
}

/// Executes a write whose loss in a crash of the *database server* is harmless (an event, a
/// step marked started) and returns the rows it affected. On PostgreSQL it goes through the
/// pool whose sessions commit without waiting for the WAL flush (`synchronous_commit = off`):
/// a commit costs a disk flush otherwise (~4 ms here). Order is kept: the next durable commit
/// (an intent, a finished step, a finished run) flushes the WAL up to itself, so everything
/// written before it. SQLite commits in WAL mode without a flush anyway.
macro_rules! execute_without_flush {
    ($store:expr, $query:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite { pool, .. } => {
                $query.execute(pool).await.map(|done| done.rows_affected())
            }
            $crate::store::Backend::Postgres { unflushed, .. } => $query
                .execute(unflushed)
                .await
                .map(|done| done.rows_affected()),
        }
    };
}
