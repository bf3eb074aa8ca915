//! `runbook sim --state FILE`: the simulator's state kept in a file across restarts.
//!
//! At start the file is read if it exists (a corrupt or foreign file, or one written for
//! another world, is refused with an error naming it) and written at once (so that an
//! unwritable folder shows at start). Then **every request that may change the state** (any
//! method but GET and HEAD) writes the file before its answer leaves: the snapshot is
//! serialized, written to `FILE.tmp` in the same folder, synced, renamed over `FILE`, and the
//! folder synced. A client that got an answer (an action id, an approval, a stop) therefore
//! finds it again after `kill -9` of the simulator and a restart: there is no window in which
//! an answered change lives only in memory. A write whose snapshot equals the last one
//! written is skipped; a clean shutdown writes what changed since (only ids of paging caches,
//! which GET requests hand out).
//!
//! `FILE.lock` is held (an advisory lock, released when the process ends, even by a kill) so
//! that two simulators never write one file.
//!
//! Time: the file records the simulated clock and the wall-clock time of the write. A
//! restored simulator's clock reads the recorded sim time plus the real time elapsed since,
//! at its own time scale: the fleet keeps working while the server is down, as a real fleet
//! does, and with an unchanged time scale the clock is exactly where it would have been.

mod format;

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use crate::SimError;
use crate::config::SimConfig;
use crate::state::{Clock, Shared};

use format::{ClockRecord, FORMAT, StateFile, VERSION};

/// What a simulator started with a state file found in it.
#[derive(Debug, Clone, PartialEq)]
pub struct StateStatus {
    /// The state file.
    pub path: PathBuf,
    /// Whether the file existed and its state was restored (false: a new file).
    pub restored: bool,
    /// Actions restored from it.
    pub actions: usize,
    /// The simulated clock at start, in seconds since the file's first simulator started.
    pub sim_seconds: f64,
}

/// The state file of a running simulator: writes it after changes.
#[derive(Debug)]
pub(crate) struct Persistence {
    path: PathBuf,
    shared: Arc<Shared>,
    /// Held while the simulator runs: another simulator cannot take the file.
    _lock: File,
    /// The contents last written, serialized; a write of the same is skipped. The mutex
    /// also serializes writes, so a later write never lands before an earlier one.
    last: Mutex<Vec<u8>>,
    /// The world's fingerprint, worked out once.
    world: format::WorldId,
}

/// Opens `path` for a simulator of `config`: takes its lock, restores what it holds, and
/// writes it back. Returns the simulator's state and the persistence that keeps it.
pub(crate) fn open(
    path: &Path,
    config: SimConfig,
) -> Result<(Arc<Shared>, Arc<Persistence>, StateStatus), SimError> {
    let lock = take_lock(path)?;
    let saved = read(path, &config)?;
    let mut shared = Shared::new(config)?;
    let mut status = StateStatus {
        path: path.to_owned(),
        restored: saved.is_some(),
        actions: 0,
        sim_seconds: 0.0,
    };
    if let Some(saved) = saved {
        status.actions = saved.state.actions.len();
        let scale = shared.config.time_scale;
        let clock = resumed_clock(&saved.clock, scale);
        status.sim_seconds = clock.now();
        shared.clock = clock;
        format::restore(&shared, saved.state)
            .map_err(|reason| invalid(path, &format!("invalid simulator state: {reason}")))?;
    }
    let shared = Arc::new(shared);
    let persistence = Arc::new(Persistence {
        path: path.to_owned(),
        shared: shared.clone(),
        _lock: lock,
        last: Mutex::new(Vec::new()),
        world: format::world_id(&shared.config),
    });
    persistence.save()?;
    Ok((shared, persistence, status))
}

impl Persistence {
    /// Writes the file if the state changed since the last write.
    pub(crate) fn save(&self) -> Result<(), SimError> {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let contents = format::contents(&self.shared);
        let serialized = serde_json::to_vec(&contents).map_err(|error| {
            SimError::State(format!("cannot serialize the simulator's state: {error}"))
        })?;
        if *last == serialized {
            return Ok(());
        }
        let clock = &self.shared.clock;
        let file = StateFile {
            format: FORMAT.to_owned(),
            version: VERSION,
            world: self.world.clone(),
            clock: ClockRecord {
                epoch: clock.epoch(),
                sim_seconds: clock.now(),
                saved_at: Utc::now(),
                time_scale: self.shared.config.time_scale,
            },
            state: contents,
        };
        let mut bytes = serde_json::to_vec(&file).map_err(|error| {
            SimError::State(format!("cannot serialize the simulator's state: {error}"))
        })?;
        bytes.push(b'\n');
        write_durably(&self.path, &bytes).map_err(|error| {
            SimError::State(format!(
                "cannot write the simulator state file {}: {error}",
                self.path.display()
            ))
        })?;
        *last = serialized;
        Ok(())
    }

    /// Writes the file now, on a blocking thread (the write syncs to disk).
    pub(crate) async fn save_in_background(self: &Arc<Self>) -> Result<(), SimError> {
        let persistence = self.clone();
        tokio::task::spawn_blocking(move || persistence.save())
            .await
            .map_err(|error| SimError::State(format!("the state writer failed: {error}")))?
    }
}

/// Middleware: after a request that may have changed the state, write the file before the
/// answer leaves. A failed write answers 500 in Tanium's shape, saying why.
pub(crate) async fn save_after_change(
    State(persistence): State<Arc<Persistence>>,
    request: Request,
    next: Next,
) -> Response {
    let may_change = !matches!(*request.method(), Method::GET | Method::HEAD);
    let response = next.run(request).await;
    if !may_change {
        return response;
    }
    match persistence.save_in_background().await {
        Ok(()) => response,
        Err(error) => {
            tracing::error!(%error, "the simulator could not keep its state");
            let body = json!({ "text": format!("500 Internal Server Error: {error}") });
            (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
        }
    }
}

/// The clock of a restored simulator: the recorded sim time plus the real time since the
/// file was written, at the new time scale. Never earlier than recorded, even when the wall
/// clock went back.
fn resumed_clock(record: &ClockRecord, scale: f64) -> Clock {
    let elapsed = (Utc::now() - record.saved_at)
        .to_std()
        .map(|elapsed| elapsed.as_secs_f64())
        .unwrap_or(0.0);
    Clock::resumed(scale, record.epoch, record.sim_seconds + elapsed * scale)
}

fn invalid(path: &Path, reason: &str) -> SimError {
    SimError::State(format!("{}: {reason}", path.display()))
}

/// Reads the file, `None` when there is none. Anything else that is not a state file of
/// this world is an error naming the file.
fn read(path: &Path, config: &SimConfig) -> Result<Option<StateFile>, SimError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(SimError::State(format!(
                "cannot read the simulator state file {}: {error}",
                path.display()
            )));
        }
    };
    let not_state = |why: &str| {
        invalid(
            path,
            &format!(
                "not a simulator state file ({why}); give another --state file, or remove \
                 this one to start afresh"
            ),
        )
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(not_state("it is empty"));
    }
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|error| not_state(&format!("it is not JSON: {error}")))?;
    if value.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(not_state(&format!("it has no \"format\": \"{FORMAT}\"")));
    }
    let version = match value.get("version").and_then(Value::as_u64) {
        Some(version @ 1..=VERSION) => version,
        Some(version) if version > VERSION => {
            return Err(invalid(
                path,
                &format!(
                    "simulator state version {version}, written by a newer runbook (this one \
                     reads versions 1 to {VERSION})"
                ),
            ));
        }
        _ => return Err(not_state("its \"version\" is not a version from 1 to 2")),
    };
    let file: StateFile = serde_json::from_value(value)
        .map_err(|error| invalid(path, &format!("invalid simulator state: {error}")))?;
    // A version 1 file names the world as version 1 saw it.
    let world = if version == 1 {
        format::world_id_v1(config)
    } else {
        format::world_id(config)
    };
    if file.world != world {
        let had = &file.world;
        return Err(invalid(
            path,
            &format!(
                "written by a simulator of another world ({} endpoints, {} packages, seed {}, \
                 fingerprint {}); this one has {} endpoints, {} packages, seed {} (fingerprint \
                 {}). Start it with the fleet the file was written with, or give another \
                 --state file (or remove this one) to start afresh",
                had.endpoints,
                had.packages,
                had.seed,
                had.fingerprint,
                world.endpoints,
                world.packages,
                world.seed,
                world.fingerprint
            ),
        ));
    }
    Ok(Some(file))
}

/// `FILE.lock`, locked for as long as this process keeps the returned file open.
fn take_lock(path: &Path) -> Result<File, SimError> {
    let lock_path = sibling(path, ".lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|error| {
            SimError::State(format!(
                "cannot open {} (the lock of the simulator state file): {error}",
                lock_path.display()
            ))
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(SimError::State(format!(
            "{} is in use by another simulator (it holds {}): stop that one, or give another \
             --state file",
            path.display(),
            lock_path.display()
        ))),
        Err(TryLockError::Error(error)) => Err(SimError::State(format!(
            "cannot lock {}: {error}",
            lock_path.display()
        ))),
    }
}

/// `path` with `suffix` added to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Writes `bytes` to `path` so that a crash leaves either the old file or the new one whole:
/// a temporary file in the same folder, synced, renamed over `path`, the folder synced.
fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = sibling(path, ".tmp");
    let mut file = File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)?;
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    // The rename is durable once the folder is synced. Some file systems refuse to sync a
    // folder; the rename is then as durable as they make it.
    if let Ok(folder) = File::open(folder) {
        let _ = folder.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests;
