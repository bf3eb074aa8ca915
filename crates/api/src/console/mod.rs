//! The web console of `serve --http` (SPEC-2 section 4): server-rendered pages over the same
//! store and checks as the API, signed in with an API token.
//!
//! - [`session`]: sign-in and sign-out, the session cookie, CSRF tokens.
//! - [`pages`]: runs, a run, approvals, schedules, playbooks.
//! - [`forms`]: decide an approval, cancel a run, start a run.
//! - [`view`]: the embedded MiniJinja templates, the security headers, refusals as pages.
//!
//! No frontend build: the templates, one stylesheet and one small script are embedded in the
//! binary; the script only makes a running run's page follow its events (without it, a reload
//! shows the same state).

mod forms;
mod pages;
mod session;
mod view;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use runbook_store::Action;
use serde::Deserialize;

pub use session::SESSION_LIFETIME;
use session::User;

use crate::runs::no_run;
use crate::state::Api;

const STYLESHEET: &str = include_str!("assets/console.css");
const SCRIPT: &str = include_str!("assets/console.js");

/// The console's routes, each answer with the console's security headers.
pub(crate) fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(session::sign_in_form).post(session::sign_in))
        .route("/logout", post(session::sign_out))
        .route("/runs", get(pages::runs))
        .route("/runs/{id}", get(pages::run))
        .route("/runs/{id}/live", get(live))
        .route("/runs/{id}/cancel", post(forms::cancel))
        .route("/approvals", get(pages::approvals))
        .route("/approvals/{run_id}/{step_id}", post(forms::decide))
        .route("/schedules", get(pages::schedules))
        .route("/playbooks", get(pages::playbooks))
        .route("/playbooks/{name}", get(pages::playbook))
        .route("/playbooks/{name}/start", post(forms::start))
        .route("/static/console.css", get(stylesheet))
        .route("/static/console.js", get(script))
        .layer(axum::middleware::map_response(secure))
}

async fn secure(response: Response) -> Response {
    view::secure(response)
}

/// How long one live stream lasts before the browser reconnects (and its session is checked
/// again: a session signed out, expired or revoked stops following within this time).
const LIVE_LIFETIME: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Deserialize)]
struct LiveQuery {
    /// The last event the page showed: the stream starts after it.
    after: Option<i64>,
}

/// `GET /runs/{id}/live?after=N`: the run's events as the API streams them (`GET
/// /api/v1/runs/{id}/events` with `text/event-stream`, resumed with `Last-Event-ID`, which wins
/// over `after`), for the session's browser, unnamed so that the page's one handler sees them
/// all; closed after [`LIVE_LIFETIME`] for the browser to reconnect.
async fn live(
    State(api): State<Arc<Api>>,
    user: User,
    Path(run_id): Path<String>,
    Query(query): Query<LiveQuery>,
    headers: HeaderMap,
) -> Response {
    if let Err(error) = user.caller.require(Action::Read) {
        return view::refusal(&error, Some(&user.context()));
    }
    match api.store.queue_state(&run_id).await {
        Ok(Some(_)) => {}
        Ok(None) => return view::refusal(&no_run(&run_id), Some(&user.context())),
        Err(error) => {
            return view::refusal(
                &crate::error::ApiError::store(&error),
                Some(&user.context()),
            );
        }
    }
    let after = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse::<i64>().ok())
        .or(query.after)
        .unwrap_or(0)
        .max(0);
    crate::events::stream(api, run_id, after, false, Some(LIVE_LIFETIME))
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        STYLESHEET,
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        SCRIPT,
    )
        .into_response()
}
