//! Stores that cannot work: a file that is not a database, a full disk, a PostgreSQL that
//! does not answer. Each gives an error that says what is wrong, never a panic, and never a
//! run recorded as done when its writes failed.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{PostgresDatabase, SqliteDatabase, finished_step, new_run, new_run_id, running_step};
use runbook_engine::{RunFilter, RunStatus, Store};
use runbook_store::{SqlStore, StoreOptions};
use serde_json::json;

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused_and_left_alone() {
    let database = SqliteDatabase::new();
    let garbage = b"name: isolate-host\nsteps: []\n".repeat(200);
    std::fs::write(database.path(), &garbage).expect("write the file");
    let error = SqlStore::open(&database.url)
        .await
        .expect_err("a YAML file is not a database");
    println!("{error}");
    assert!(
        error.message.contains("is not a SQLite database"),
        "{error}"
    );
    assert!(error.message.contains("file is not a database"), "{error}");
    assert!(
        error
            .message
            .contains(&database.path().display().to_string()),
        "{error}"
    );
    assert_eq!(std::fs::read(database.path()).expect("read"), garbage);
}

#[tokio::test]
async fn a_foreign_sqlite_file_is_not_switched_to_wal() {
    let database = SqliteDatabase::new();
    let status = Command::new("sqlite3")
        .arg(database.path())
        .arg("CREATE TABLE notes (body TEXT);")
        .status();
    // Without the sqlite3 tool, make the file through sqlx instead.
    if !matches!(status, Ok(status) if status.success()) {
        use sqlx::{ConnectOptions, Connection};
        let mut connection = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(database.path())
            .create_if_missing(true)
            .connect()
            .await
            .expect("connect");
        sqlx::query("CREATE TABLE notes (body TEXT)")
            .execute(&mut connection)
            .await
            .expect("create table");
        connection.close().await.expect("close");
    }
    let error = SqlStore::open(&database.url)
        .await
        .expect_err("a foreign database is refused");
    println!("{error}");
    assert!(error.message.contains("(notes)"), "{error}");
    // The file's header still says rollback journal (1), not WAL (2): bytes 18 and 19.
    let header = std::fs::read(database.path()).expect("read");
    assert_eq!(
        &header[18..20],
        &[1, 1],
        "the foreign file was switched to WAL"
    );
}

#[tokio::test]
async fn a_postgres_that_does_not_answer_fails_fast_with_its_address() {
    let options = StoreOptions {
        connect_timeout: Duration::from_secs(3),
        ..StoreOptions::default()
    };
    // Port 1 on loopback: nothing listens there.
    let started = std::time::Instant::now();
    let error = SqlStore::open_with("postgres://runbook:s3cret@127.0.0.1:1/runs", &options)
        .await
        .expect_err("nothing answers on port 1");
    println!("{error}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        error.message.contains("PostgreSQL at 127.0.0.1:1"),
        "{error}"
    );
    assert!(
        error.message.contains("does not answer") || error.message.contains("in time"),
        "{error}"
    );
    assert!(
        !error.message.contains("s3cret"),
        "the password leaked: {error}"
    );
}

#[tokio::test]
async fn a_postgres_that_accepts_but_stays_silent_times_out_with_a_clear_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    // Accepts connections and holds them open without a word, like a hung server.
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let options = StoreOptions {
        connect_timeout: Duration::from_secs(1),
        ..StoreOptions::default()
    };
    let error = SqlStore::open_with(
        &format!("postgres://runbook@127.0.0.1:{port}/runs"),
        &options,
    )
    .await
    .expect_err("a silent server is not a store");
    println!("{error}");
    assert!(
        error.message.contains("does not answer (no reply in 1 s)"),
        "{error}"
    );
    silent.abort();
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_store_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let database = SqliteDatabase::new();
    let store = SqlStore::open(&database.url).await.expect("open");
    store
        .create_run(&new_run(&new_run_id(), "private"))
        .await
        .expect("create_run");
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", database.path().display());
        let mode = std::fs::metadata(&path)
            .unwrap_or_else(|error| panic!("{path}: {error}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{path} has mode {mode:o}");
    }
    store.close().await;
}

#[tokio::test]
async fn a_folder_that_cannot_be_created_is_named_in_the_error() {
    let database = SqliteDatabase::new();
    let blocker = database.folder.path().join("file");
    std::fs::write(&blocker, "not a folder").expect("write");
    let url = format!("sqlite://{}", blocker.join("runs.db").display());
    let error = SqlStore::open(&url)
        .await
        .expect_err("a file stands where the folder should be");
    assert!(error.message.contains("creating the folder"), "{error}");
}

/// Fills a store until a write fails, then checks that nothing half-written is taken as done.
async fn fill_until_full_and_check(store: &SqlStore) {
    let running = new_run_id();
    store
        .create_run(&new_run(&running, "fill"))
        .await
        .expect("the first run fits");
    store
        .step_started(&running, &running_step(0, "big", "log"))
        .await
        .expect("a step fits");

    let padding = "x".repeat(16 * 1024);
    let mut refused = None;
    for _ in 0..10_000 {
        let run_id = new_run_id();
        let mut run = new_run(&run_id, "padding");
        run.inputs = json!({ "padding": padding });
        if let Err(error) = store.create_run(&run).await {
            refused = Some((run_id, error));
            break;
        }
    }
    let (refused_id, error) = refused.expect("the store filled up");
    println!("{error}");
    assert!(error.message.contains("is full"), "{error}");
    assert!(
        error
            .message
            .contains(&format!("recording run {refused_id}")),
        "{error}"
    );

    // The run whose creation failed is not there at all.
    assert_eq!(store.run(&refused_id).await.expect("read after full"), None);

    // Outputs too large to fit: the step and the run stay unfinished.
    let mut step = finished_step(0, "big", "log");
    step.outputs = Some(json!({ "rows": "y".repeat(1024 * 1024) }));
    let step_error = store
        .step_finished(&running, &step)
        .await
        .expect_err("a 1 MiB output does not fit");
    assert!(step_error.message.contains("is full"), "{step_error}");
    let finish_error = store
        .finish_run(
            &running,
            RunStatus::Succeeded,
            &json!({ "rows": "y".repeat(1024 * 1024) }),
            None,
        )
        .await
        .expect_err("a 1 MiB output does not fit");
    assert!(finish_error.message.contains("is full"), "{finish_error}");

    let record = store.run(&running).await.expect("read").expect("recorded");
    assert_eq!(
        record.status, "running",
        "a failed finish must not mark the run done"
    );
    assert_eq!(record.finished_at, None);
    assert_eq!(record.steps[0].status, runbook_engine::StepStatus::Running);
    let listed = store
        .list_runs(&RunFilter {
            status: Some(runbook_engine::RecordedStatus::Succeeded),
            ..RunFilter::default()
        })
        .await
        .expect("list");
    assert!(listed.is_empty());
}

#[tokio::test]
async fn a_full_database_gives_a_clear_error_and_no_half_finished_run() {
    let database = SqliteDatabase::new();
    // 64 pages of 4 KiB: the schema and a few runs, then SQLITE_FULL as on a full disk.
    let options = StoreOptions {
        sqlite_max_page_count: Some(64),
        ..StoreOptions::default()
    };
    let store = SqlStore::open_with(&database.url, &options)
        .await
        .expect("the schema fits");
    fill_until_full_and_check(&store).await;
    store.close().await;
}

/// A real full disk: a 768 KiB tmpfs (the schema, its write-ahead log and a run fit). Needs root (mount); says so and returns otherwise.
#[tokio::test]
async fn a_full_disk_gives_a_clear_error_and_no_half_finished_run() {
    let Some(mount) = TinyTmpfs::mount() else {
        println!("skipping the tmpfs full-disk test: mounting a tmpfs needs root");
        return;
    };
    let url = format!("sqlite://{}", mount.path.join("runs.db").display());
    let store = SqlStore::open(&url).await.expect("the schema fits");
    fill_until_full_and_check(&store).await;
    store.close().await;
    // Reopening the full store still works and still shows the run unfinished.
    let store = SqlStore::open(&url).await.expect("reopen a full store");
    let running = store
        .list_runs(&RunFilter {
            status: Some(runbook_engine::RecordedStatus::Running),
            playbook: Some("fill".into()),
            limit: None,
        })
        .await
        .expect("list");
    assert_eq!(running.len(), 1);
    store.close().await;
}

#[derive(Debug)]
struct TinyTmpfs {
    _folder: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl TinyTmpfs {
    fn mount() -> Option<TinyTmpfs> {
        TinyTmpfs::mount_sized(768)
    }

    fn mount_sized(kib: u64) -> Option<TinyTmpfs> {
        let folder = tempfile::tempdir().ok()?;
        let path = folder.path().to_owned();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(&path)
            .output()
            .ok()?;
        if !mounted.status.success() {
            return None;
        }
        Some(TinyTmpfs {
            _folder: folder,
            path,
        })
    }
}

impl Drop for TinyTmpfs {
    fn drop(&mut self) {
        unmount(&self.path);
    }
}

fn unmount(path: &Path) {
    // A connection that failed to open may close a moment later, in its own thread.
    for _ in 0..50 {
        match Command::new("umount").arg(path).output() {
            Ok(output) if output.status.success() => return,
            Ok(_) => std::thread::sleep(Duration::from_millis(100)),
            Err(_) => return,
        }
    }
}

/// A disk with almost no room left: whatever the schema set-up manages, `open` either fails
/// saying why or gives a store whose tables exist. It used to succeed with no tables (a
/// migration that failed half-way left its pooled connection in a transaction that saw its own
/// tables), and the run then failed with "no such table" or blamed "another writer" after the
/// 10 s busy timeout. Needs root for the tmpfs; says so and returns otherwise.
#[tokio::test]
async fn a_schema_set_up_that_fails_on_a_full_disk_is_reported_at_open() {
    const SIZE_KIB: u64 = 512;
    let mut reported = 0;
    for free_kib in [40u64, 48, 56, 64, 80, 96, 112, 128, 160, 192] {
        let Some(mount) = TinyTmpfs::mount_sized(SIZE_KIB) else {
            println!("skipping the tmpfs schema test: mounting a tmpfs needs root");
            return;
        };
        let filler = vec![b'x'; usize::try_from((SIZE_KIB - free_kib) * 1024).expect("small")];
        // The filler may not fit whole (tmpfs counts pages); what is left is what matters.
        let _ = std::fs::write(mount.path.join("filler"), filler);
        let url = format!("sqlite://{}", mount.path.join("runs.db").display());
        let started = std::time::Instant::now();
        match SqlStore::open(&url).await {
            Err(error) => {
                println!("{free_kib} KiB free: open refused: {error}");
                assert!(
                    error.message.contains("schema") || error.message.contains("full"),
                    "{error}"
                );
                assert!(!error.message.contains("another writer"), "{error}");
                reported += 1;
            }
            Ok(store) => {
                let run_id = new_run_id();
                let created = store.create_run(&new_run(&run_id, "tight")).await;
                println!(
                    "{free_kib} KiB free: opened; create_run: {:?}",
                    created.as_ref().map_err(ToString::to_string)
                );
                if let Err(error) = &created {
                    assert!(!error.message.contains("no such table"), "{error}");
                    assert!(!error.message.contains("another writer"), "{error}");
                    assert!(error.message.contains("is full"), "{error}");
                }
                store.close().await;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{free_kib} KiB free: took {:?} (a lock wait?)",
            started.elapsed()
        );
    }
    assert!(
        reported > 0,
        "no size was small enough to refuse the schema"
    );
}

/// A `LOCK TABLE` held by another session: a write waits for the lock timeout, then fails with
/// an error naming it, instead of hanging for as long as the lock is held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_lock_held_elsewhere_fails_after_the_lock_timeout() {
    use sqlx::Connection;

    let Some(database) = PostgresDatabase::create().await else {
        return;
    };
    let url = database.url.clone();
    let outcome = tokio::spawn(async move {
        let options = StoreOptions {
            lock_timeout: Duration::from_millis(1500),
            ..StoreOptions::default()
        };
        let store = SqlStore::open_with(&url, &options).await.expect("open");
        let mut locker = lock_runs_table(&url).await;

        let started = std::time::Instant::now();
        let run_id = new_run_id();
        let error = store
            .create_run(&new_run(&run_id, "blocked"))
            .await
            .expect_err("the table is locked by another session");
        let waited = started.elapsed();
        println!("after {waited:?}: {error}");
        assert!(
            error
                .message
                .contains("waited longer than the lock timeout (1.5 s)"),
            "{error}"
        );
        assert!(
            error.message.contains(&format!("recording run {run_id}")),
            "{error}"
        );
        assert!(waited >= Duration::from_millis(1400), "{waited:?}");
        assert!(waited < Duration::from_secs(10), "{waited:?}");

        sqlx::query("ROLLBACK")
            .execute(&mut locker)
            .await
            .expect("rollback");
        locker.close().await.ok();
        store
            .create_run(&new_run(&run_id, "blocked"))
            .await
            .expect("the lock is gone");
        store.close().await;
    })
    .await;
    database.drop_database().await;
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

/// A lock timeout set in the store URL wins over the default, and the error says where it
/// comes from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_timeout_in_the_store_url_wins() {
    let Some(database) = PostgresDatabase::create().await else {
        return;
    };
    let url = database.url.clone();
    let outcome = tokio::spawn(async move {
        let separator = if url.contains('?') { '&' } else { '?' };
        let with_option = format!("{url}{separator}options=-c%20lock_timeout%3D700ms");
        let store = SqlStore::open(&with_option).await.expect("open");
        let mut locker = lock_runs_table(&url).await;
        let started = std::time::Instant::now();
        let error = store
            .create_run(&new_run(&new_run_id(), "blocked"))
            .await
            .expect_err("the table is locked by another session");
        let waited = started.elapsed();
        println!("after {waited:?}: {error}");
        assert!(
            error
                .message
                .contains("waited longer than the lock timeout (set in the store URL)"),
            "{error}"
        );
        assert!(waited < Duration::from_secs(5), "{waited:?}");
        sqlx::query("ROLLBACK")
            .execute(&mut locker)
            .await
            .expect("rollback");
        store.close().await;
    })
    .await;
    database.drop_database().await;
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

/// With no lock timeout, the statement timeout still ends a write blocked by a `LOCK TABLE`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_statement_past_the_statement_timeout_fails_naming_it() {
    let Some(database) = PostgresDatabase::create().await else {
        return;
    };
    let url = database.url.clone();
    let outcome = tokio::spawn(async move {
        let options = StoreOptions {
            lock_timeout: Duration::ZERO,
            statement_timeout: Duration::from_secs(2),
            ..StoreOptions::default()
        };
        let store = SqlStore::open_with(&url, &options).await.expect("open");
        let mut locker = lock_runs_table(&url).await;
        let started = std::time::Instant::now();
        let error = store
            .create_run(&new_run(&new_run_id(), "slow"))
            .await
            .expect_err("the table is locked by another session");
        let waited = started.elapsed();
        println!("after {waited:?}: {error}");
        assert!(
            error
                .message
                .contains("ran longer than the statement timeout (2 s)"),
            "{error}"
        );
        assert!(waited < Duration::from_secs(10), "{waited:?}");
        sqlx::query("ROLLBACK")
            .execute(&mut locker)
            .await
            .expect("rollback");
        store.close().await;
    })
    .await;
    database.drop_database().await;
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

/// A second session holding `LOCK TABLE runs` in an open transaction.
async fn lock_runs_table(url: &str) -> sqlx::postgres::PgConnection {
    use sqlx::ConnectOptions;
    use std::str::FromStr;
    let mut locker = sqlx::postgres::PgConnectOptions::from_str(url)
        .expect("url")
        .connect()
        .await
        .expect("a second session");
    sqlx::query("BEGIN")
        .execute(&mut locker)
        .await
        .expect("begin");
    sqlx::query("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .expect("lock");
    locker
}
