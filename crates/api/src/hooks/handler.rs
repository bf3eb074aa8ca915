//! `POST /hooks/...`: a trigger of `--triggers FILE` called by a SIEM or a bot.
//!
//! In order: the trigger's quota (429), the body within 1 MiB (413), the signature or bearer
//! token (401, nothing about which part was wrong), the body as JSON (400), `when` (202
//! ignored), the inputs (422), then one run per dedup key within its window (202 queued, 200
//! with the first run for a duplicate). A request refused anywhere queues nothing. Every
//! request to a hook is audited (`webhook.accepted`, `webhook.ignored`, `webhook.refused`,
//! with the reason, never the secret or a signature).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use runbook_playbook::{Trigger, TriggerFile};
use runbook_store::{Actor, NewAuditEntry, RunKey};
use secrecy::SecretString;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::auth::RemoteAddr;
use crate::body::read_body;
use crate::error::{ApiError, ErrorBody};
use crate::hooks::{Outcome, Request as HookRequest, evaluate, verify};
use crate::runs::not_offered;
use crate::start::{Started, start_run};
use crate::state::Api;

/// One trigger with its secret, read from the environment at start.
struct Hook {
    trigger: Trigger,
    secret: SecretString,
}

/// The triggers served, by path.
#[derive(Default)]
pub struct Hooks {
    by_path: BTreeMap<String, Hook>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_list().entries(self.by_path.keys()).finish()
    }
}

impl Hooks {
    /// The triggers of `file` with their secrets from `env` (the process's environment). A
    /// trigger whose variable is unset or empty is an error: serve does not start with a hook
    /// nobody can call, or that anybody could.
    pub fn new(
        file: TriggerFile,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Hooks, Vec<String>> {
        let mut problems = Vec::new();
        let mut by_path = BTreeMap::new();
        for trigger in file.triggers {
            let variable = trigger.auth.env_variable().to_owned();
            match env(&variable).filter(|value| !value.is_empty()) {
                Some(value) => {
                    by_path.insert(
                        trigger.path.clone(),
                        Hook {
                            trigger,
                            secret: SecretString::from(value),
                        },
                    );
                }
                None => problems.push(format!(
                    "trigger `{}`: the environment variable {variable} (its secret) is not set",
                    trigger.name
                )),
            }
        }
        if problems.is_empty() {
            Ok(Hooks { by_path })
        } else {
            Err(problems)
        }
    }

    /// The paths served, in order.
    pub fn paths(&self) -> impl Iterator<Item = (&str, &str)> {
        self.by_path
            .values()
            .map(|hook| (hook.trigger.path.as_str(), hook.trigger.name.as_str()))
    }
}

/// What a hook answers when it queued, found a duplicate or ignored a request.
#[derive(Debug, Serialize, ToSchema)]
pub struct HookAnswer {
    /// The run queued, or the first run of this dedup key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// True when the dedup key was seen within the window: no run was queued.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
    /// True when `when` was false: no run was queued.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ignored: bool,
}

#[utoipa::path(
    operation_id = "call_hook",
    post, path = "/hooks/{path}", tag = "hooks",
    params(("path" = String, Path, description = "A trigger's path after /hooks/")),
    request_body(content = Object, description = "The sender's JSON, at most 1 MiB, signed as the trigger says"),
    responses(
        (status = 202, description = "Queued (`run_id`), or ignored by `when` (`ignored: true`)", body = HookAnswer),
        (status = 200, description = "A duplicate within the dedup window: the first run", body = HookAnswer),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "Bad or missing signature", body = ErrorBody),
        (status = 404, description = "No trigger has this path", body = ErrorBody),
        (status = 413, description = "The body is over 1 MiB", body = ErrorBody),
        (status = 422, description = "The inputs do not fit the playbook; nothing queued", body = ErrorBody),
        (status = 429, description = "Over the rate limit; see Retry-After", body = ErrorBody),
    )
)]
pub(crate) async fn hook(
    State(api): State<Arc<Api>>,
    Path(path): Path<String>,
    request: Request,
) -> Result<(StatusCode, Json<HookAnswer>), ApiError> {
    let full = format!("/hooks/{path}");
    let Some(hook) = api.hooks.by_path.get(&full) else {
        return Err(ApiError::not_found(format!(
            "no trigger has the path {full}"
        )));
    };
    let trigger = &hook.trigger;
    api.check_trigger_rate(&trigger.name)?;
    let actor = Actor {
        name: format!("hook:{}", trigger.name),
        address: request
            .extensions()
            .get::<RemoteAddr>()
            .map(|remote| remote.0.to_string()),
    };
    let headers = request.headers().clone();
    let answer = answer(&api, hook, &headers, request).await;
    let (action, detail) = match &answer {
        Ok((_, found)) if found.ignored => ("webhook.ignored", json!({})),
        Ok((_, found)) => (
            "webhook.accepted",
            json!({ "duplicate": found.duplicate, "playbook": trigger.playbook }),
        ),
        Err(refused) => (
            "webhook.refused",
            json!({ "status": refused.status().as_u16(), "reason": refused.message() }),
        ),
    };
    let target = answer
        .as_ref()
        .ok()
        .and_then(|(_, found)| found.run_id.clone())
        .or_else(|| Some(trigger.name.clone()));
    api.store
        .append_audit(&NewAuditEntry {
            actor,
            action: action.to_owned(),
            target,
            detail,
        })
        .await?;
    answer
}

async fn answer(
    api: &Api,
    hook: &Hook,
    headers: &HeaderMap,
    request: Request,
) -> Result<(StatusCode, Json<HookAnswer>), ApiError> {
    let trigger = &hook.trigger;
    let body = read_body(request, &()).await?;
    let now = chrono::Utc::now().timestamp();
    if let Err(refused) = verify(&trigger.auth, &hook.secret, headers, &body, now) {
        tracing::info!(trigger = %trigger.name, reason = %refused, "webhook refused");
        return Err(ApiError::bad_signature());
    }
    let json: Value = serde_json::from_slice(&body).map_err(|error| {
        ApiError::bad_json(format!(
            "the body is not JSON (line {} column {})",
            error.line(),
            error.column()
        ))
    })?;
    let request = HookRequest {
        body: &json,
        headers,
    };
    let (inputs, dedup_key) = match evaluate(trigger, &request) {
        Ok(Outcome::Ignored) => {
            return Ok((
                StatusCode::ACCEPTED,
                Json(HookAnswer {
                    run_id: None,
                    duplicate: false,
                    ignored: true,
                }),
            ));
        }
        Ok(Outcome::Start { inputs, dedup_key }) => (inputs, dedup_key),
        Err(unfit) => {
            return Err(ApiError::unfit(
                format!(
                    "the request does not make inputs for playbook `{}`",
                    trigger.playbook
                ),
                unfit.problems.iter().map(ToString::to_string).collect(),
            ));
        }
    };
    let Some(entry) = api.catalog.offered(&trigger.playbook) else {
        return Err(not_offered(api, &trigger.playbook));
    };
    let scope = format!("hook:{}", trigger.name);
    let key = dedup_key.as_deref().map(|key| RunKey {
        scope: &scope,
        key,
        window: trigger.dedup_window,
    });
    let (started, _) = start_run(api, entry, &[], &inputs, scope.clone(), key.as_ref()).await?;
    Ok(match started {
        Started::Queued(run_id) => (
            StatusCode::ACCEPTED,
            Json(HookAnswer {
                run_id: Some(run_id),
                duplicate: false,
                ignored: false,
            }),
        ),
        Started::Duplicate(run_id) => (
            StatusCode::OK,
            Json(HookAnswer {
                run_id: Some(run_id),
                duplicate: true,
                ignored: false,
            }),
        ),
    })
}
