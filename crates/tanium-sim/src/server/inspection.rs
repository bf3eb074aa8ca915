//! `/sim/...`: the inspector over HTTP for tests that drive the `runbook` binary, and the
//! operator's stop of an action.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, AppState, ObjectId};

pub(super) async fn sim_actions(State(shared): State<AppState>) -> Json<Value> {
    Json(json!(shared.issued_actions()))
}

pub(super) async fn sim_groups(State(shared): State<AppState>) -> Json<Value> {
    Json(json!(shared.created_groups()))
}

pub(super) async fn sim_requests(State(shared): State<AppState>) -> Json<Value> {
    Json(json!(shared.request_counts()))
}

pub(super) async fn sim_stop(State(shared): State<AppState>, ObjectId(id): ObjectId) -> ApiResult {
    if shared.stop_action(id) {
        Ok(Json(json!({ "stopped": id })).into_response())
    } else {
        Err(ApiError::not_found(format!("no action with id {id}")))
    }
}

pub(super) async fn sim_info(State(shared): State<AppState>) -> Json<Value> {
    let user = shared.config.users.first();
    Json(json!({
        "simulator": true,
        "api_token": user.map(|u| u.api_token.clone()),
        "username": user.map(|u| u.name.clone()),
        "time_scale": shared.config.time_scale,
        "approval_required": shared.config.approval_required,
        "fleet_size": shared.fleet().len(),
        "online": shared.online_count,
    }))
}

/// The simulator's world (`SimConfig::describe`): what `runbook sim --describe` prints.
pub(super) async fn sim_fleet(State(shared): State<AppState>) -> Json<Value> {
    Json(shared.config.describe())
}
