//! runbook-api: the HTTP side of `runbook serve --http`. One axum router answers the JSON API
//! (`/api/v1/...`), the webhook triggers (`/hooks/...`), the web console (`/`), `/metrics` and
//! `/healthz`.
//!
//! - [`Api`] is what every handler reads: the store, the [`Catalog`] of playbooks offered, the
//!   [`Hooks`] of a triggers file, the [`Runtime`] of the process (its Tanium connection, its
//!   workers' waker, the key that seals secret inputs) and the [`Limits`].
//! - [`router`] builds the routes; [`openapi`] is their OpenAPI document (committed as
//!   `schema/openapi.json`); [`Listener`] serves them and stops gracefully (503 while
//!   requests in flight finish).
//! - [`console`]: the web console's pages at `/`, signed in with an API token.
//! - [`hooks`]: a trigger's signature check and what a request makes of the trigger's
//!   templates (`when`, `inputs`, `dedup`).
//!
//! Architecture invariant: knows runs only through the store and `runbook-serve` (which makes
//! the record a queued run starts as); talks to Tanium only to stop a cancelled run's actions,
//! through the engine's platform; nothing the API needs lives only in this process's memory
//! (tokens, idempotency and dedup keys, approvals and the audit log are in the store; only
//! rate limits are per process), so that several serve processes can answer behind one load
//! balancer.

mod approvals;
mod auth;
mod body;
mod catalog;
mod catalog_routes;
pub mod console;
mod error;
mod events;
pub mod hooks;
mod router;
mod runs;
mod server;
mod start;
mod state;
mod stop;

pub use auth::{Caller, RemoteAddr};
pub use catalog::{Catalog, Entry};
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use hooks::handler::Hooks;
pub use router::{openapi, router};
pub use server::Listener;
pub use state::{Api, BODY_LIMIT, Limits, Runtime};
