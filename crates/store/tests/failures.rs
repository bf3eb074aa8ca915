//! Stores that cannot work: a file that is not a database, a full disk, a PostgreSQL that
//! does not answer. Each gives an error that says what is wrong, never a panic, and never a
//! run recorded as done when its writes failed.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{SqliteDatabase, finished_step, new_run, new_run_id, running_step};
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
            status: Some("succeeded".into()),
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

/// A real full disk: a 256 KiB tmpfs. Needs root (mount); says so and returns otherwise.
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
            status: Some("running".into()),
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
        let folder = tempfile::tempdir().ok()?;
        let path = folder.path().to_owned();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
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
    let _ = Command::new("umount").arg(path).status();
}
