//! Packages: lists and lookups, and the package JSON both plain and as the derived package
//! spec of an action (parameters substituted into the command).

use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::{ApiError, ApiResult, AppState, ObjectId, Options, data, list_with_cache};
use crate::config::PackageDef;
use crate::mix;
use crate::state::Shared;

pub(super) fn package_json(
    package: &PackageDef,
    derived: Option<(u64, &[(String, String)])>,
) -> Value {
    let (id, source_id) = match derived {
        Some((derived_id, _)) => (derived_id, package.id),
        None => (package.id, 0),
    };
    let mut command = package.command.clone();
    if let Some((_, parameters)) = derived {
        // Substitute longest keys first so `$10` is not read as `$1` then `0`.
        let mut sorted: Vec<&(String, String)> = parameters.iter().collect();
        sorted.sort_by_key(|(key, _)| std::cmp::Reverse(key.len()));
        for (key, value) in sorted {
            command = command.replace(key.as_str(), value);
        }
    }
    let mut value = json!({
        "id": id,
        "content_set": { "id": 6, "name": package.content_set },
        "name": package.name,
        "display_name": package.name,
        "creation_time": "2024-01-02T09:00:00Z",
        "modification_time": "2024-01-02T09:00:00Z",
        "last_modified_by": "taniumconsole",
        "mod_user": { "id": 2, "name": "taniumconsole", "domain": "", "display_name": "" },
        "command": command,
        "command_timeout": package.command_timeout,
        "expire_seconds": package.expire_seconds,
        "verify_expire_seconds": if package.verify_group_id != 0 { 3600 } else { 600 },
        "skip_lock_flag": false,
        "hidden_flag": derived.is_some(),
        "process_group_flag": true,
        "available_time": "2024-01-02T09:00:05Z",
        "deleted_flag": false,
        "last_update": "2024-01-02T09:00:00Z",
        "source_id": source_id,
        "source_hash": format!("{:016x}{:016x}", mix(package.id, 1), mix(package.id, 2)),
        "source_hash_changed_flag": false,
        "verify_group_id": package.verify_group_id,
        "verify_group": { "id": package.verify_group_id },
        "files": [],
    });
    match derived {
        Some((_, parameters)) => {
            value["parameters"] = parameters
                .iter()
                .map(|(key, value)| json!({ "key": key, "value": value, "type": 0 }))
                .collect();
        }
        None => {
            value["parameter_definition"] = json!(package.parameter_definition);
        }
    }
    value
}

pub(super) async fn list_packages(State(shared): State<AppState>, options: Options) -> ApiResult {
    let items = shared
        .config
        .packages
        .iter()
        .map(|p| package_json(p, None))
        .collect();
    list_with_cache(&shared, items, &options)
}

pub(super) async fn package_by_name(
    State(shared): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult {
    one_package(
        &shared,
        |package| package.name == name,
        || format!("no package named '{name}'"),
    )
}

pub(super) async fn package_by_id(
    State(shared): State<AppState>,
    ObjectId(id): ObjectId,
) -> ApiResult {
    one_package(
        &shared,
        |package| package.id == id,
        || format!("no package with id {id}"),
    )
}

/// The first package that is `wanted`, or a 404 saying what was `missing`.
fn one_package(
    shared: &Shared,
    wanted: impl Fn(&PackageDef) -> bool,
    missing: impl FnOnce() -> String,
) -> ApiResult {
    let package = shared
        .config
        .packages
        .iter()
        .find(|package| wanted(package))
        .ok_or_else(|| ApiError::not_found(missing()))?;
    data(package_json(package, None))
}
