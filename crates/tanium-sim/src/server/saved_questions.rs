//! Saved questions: the collection, and one by name or id. Each names the question of its
//! latest issue (`question.id`, `most_recent_question_id`); its answers are
//! `result_data/saved_question/{id}` ([`super::question_results`]).

use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::{ApiError, ApiResult, AppState, ObjectId, Options, data, list_with_cache};
use crate::state::{SavedQuestion, Shared};

fn saved_question_json(shared: &Shared, saved: &SavedQuestion) -> Value {
    let latest = shared.latest_issue_id(saved, shared.clock.now());
    let owner = shared
        .config
        .users
        .first()
        .map(|user| json!({ "id": user.id, "name": user.name }))
        .unwrap_or(Value::Null);
    json!({
        "id": saved.id,
        "name": saved.name,
        "query_text": saved.query_text,
        "question": { "id": latest },
        "most_recent_question_id": latest,
        "public_flag": 1,
        "hidden_flag": 0,
        "issue_seconds": saved.issue_seconds,
        "issue_seconds_never_flag": 0,
        "expire_seconds": saved.issue_seconds,
        "sort_column": 0,
        "row_count_flag": 0,
        "keep_seconds": 0,
        "archive_enabled_flag": 0,
        "action_tracking_flag": 0,
        "mod_time": "2024-01-02T09:00:00Z",
        "index": 0,
        "cache_row_id": 0,
        "user": owner,
        "archive_owner": { "id": 0, "name": "" },
        "mod_user": { "id": 2, "name": "taniumconsole", "domain": "", "display_name": "" },
        "packages": [],
        "metadata": [],
    })
}

pub(super) async fn list_saved_questions(
    State(shared): State<AppState>,
    options: Options,
) -> ApiResult {
    let items = shared
        .saved
        .iter()
        .map(|saved| saved_question_json(&shared, saved))
        .collect();
    list_with_cache(&shared, items, &options)
}

/// `GET /saved_questions/by-name/{name}`: names match ignoring case.
pub(super) async fn saved_question_by_name(
    State(shared): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult {
    let saved = shared
        .saved_by_name(&name)
        .ok_or_else(|| ApiError::not_found(format!("no saved question named '{name}'")))?;
    data(saved_question_json(&shared, saved))
}

pub(super) async fn saved_question_by_id(
    State(shared): State<AppState>,
    ObjectId(id): ObjectId,
) -> ApiResult {
    let saved = shared
        .saved_by_id(id)
        .ok_or_else(|| ApiError::not_found(format!("no saved question with id {id}")))?;
    data(saved_question_json(&shared, saved))
}
