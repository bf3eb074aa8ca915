//! runbook-api: the HTTP side of `runbook serve --http`. One axum router answers the JSON API
//! (`/api/v1/...`), the webhook triggers (`/hooks/...`), `/metrics` and `/healthz`.
//!
//! - [`hooks`]: a trigger's signature check and what a request makes of a trigger's templates
//!   (`when`, `inputs`, `dedup`).
//!
//! Architecture invariant: knows runs only through the store and `runbook-serve` (which makes
//! the record a queued run starts as); never talks to Tanium; nothing the API needs lives only
//! in this process's memory (tokens, idempotency and dedup keys, the audit log are in the
//! store), so that several serve processes can answer behind one load balancer.

pub mod hooks;
