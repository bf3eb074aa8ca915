//! The routes, their layers, and the OpenAPI document generated from them.

use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::state::{Api, BODY_LIMIT};
use crate::{approvals, catalog_routes, console, events, hooks, runs};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "runbook",
        description = "The HTTP API of `runbook serve --http`: start, follow and cancel runs of \
            the playbooks it offers, decide approvals, read schedules and the audit log. Every \
            route but /healthz takes `Authorization: Bearer <token>` (`runbook tokens create`). \
            Errors are `{\"error\": {\"code\", \"message\"}}`.",
        license(name = "Apache-2.0")
    ),
    paths(hooks::handler::hook),
    components(schemas(ErrorBody)),
    modifiers(&BearerToken),
    tags(
        (name = "runs", description = "Runs: list, start, show, follow, cancel"),
        (name = "approvals", description = "Approvals runs wait for"),
        (name = "catalog", description = "Playbooks offered and schedules fired"),
        (name = "audit", description = "Who changed what (admins)"),
        (name = "hooks", description = "Webhook triggers of --triggers FILE"),
    )
)]
struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

fn documented() -> OpenApiRouter<Arc<Api>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(runs::list_runs, runs::start))
        .routes(routes!(runs::show_run))
        .routes(routes!(runs::cancel))
        .routes(routes!(events::events))
        .routes(routes!(approvals::pending))
        .routes(routes!(approvals::decide))
        .routes(routes!(catalog_routes::playbooks))
        .routes(routes!(catalog_routes::schedules))
        .routes(routes!(catalog_routes::audit))
        .routes(routes!(openapi_json))
}

/// The OpenAPI document of the API (committed as `schema/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented().into_openapi()
}

static OPENAPI_JSON: LazyLock<String> = LazyLock::new(|| {
    openapi()
        .to_pretty_json()
        .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"))
});

#[utoipa::path(
    operation_id = "openapi",
    get, path = "/api/v1/openapi.json", tag = "catalog",
    responses((status = 200, description = "This document", body = Object), (status = 401, description = "No token, or one the store does not know or revoked", body = ErrorBody)),
    security(("token" = []))
)]
async fn openapi_json(caller: crate::auth::Caller) -> Result<Response, ApiError> {
    caller.require(runbook_store::Action::Read)?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI_JSON.as_str(),
    )
        .into_response())
}

/// Every route of `serve --http`: the API, the hooks, the console, `/metrics` and `/healthz`.
pub fn router(api: Arc<Api>) -> Router {
    let (documented, _) = documented().split_for_parts();
    documented
        .route("/hooks/{*path}", post(hooks::handler::hook))
        .route("/metrics", get(catalog_routes::metrics))
        .route("/healthz", get(catalog_routes::health))
        .merge(console::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(api.clone(), guard))
        .with_state(api)
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route; GET /api/v1/openapi.json lists them")
}

/// 503 for every request once the process shuts down; requests in flight are counted so that
/// shutdown waits for them.
async fn guard(State(api): State<Arc<Api>>, request: Request, next: Next) -> Response {
    if api.is_shutting_down() {
        return ApiError::shutting_down().into_response();
    }
    let _in_flight = api.in_flight();
    next.run(request).await
}
