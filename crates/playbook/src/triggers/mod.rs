//! The triggers file: which hooks `runbook serve` will answer, how callers prove who they are,
//! and which playbook each starts with which inputs.
//!
//! ```yaml
//! version: 1
//! triggers:
//!   - name: splunk-suspect-host
//!     path: /hooks/splunk
//!     playbook: tag-suspect-host
//!     auth:
//!       hmac: { secret_env: SPLUNK_HOOK_SECRET, header: X-Signature, prefix: "sha256=" }
//!     when: "{{ body.severity in ['high', 'critical'] }}"
//!     inputs: { hostname: "{{ body.result.host }}" }
//!     dedup: "{{ body.sid }}"
//!     dedup_window: 24h
//! ```
//!
//! [`load_triggers`] reads and checks the file itself; [`load_triggers_with_playbooks`] also
//! checks that each trigger names one of the given playbooks and that its inputs fit that
//! playbook's declarations. Both collect every problem in one pass. This is the file format,
//! its checks and its JSON Schema; `runbook-api` serves the hooks.
//!
//! Modules: `model` (the file as read), `checks` (keys, names, paths, durations), `auth`
//! (`hmac` or `bearer`, secrets named never written),
//! `templates` (what a hook's templates may read), `loading` (the entry points and the
//! playbook checks) and `schema` (the JSON Schema).

mod auth;
mod checks;
mod loading;
mod model;
mod schema;
mod templates;

pub use loading::{load_triggers, load_triggers_with_playbooks};
pub use model::{
    Encoding, LoadedTriggers, SignedTimestamp, Trigger, TriggerAuth, TriggerFile, TriggerMarks,
};
pub use schema::triggers_json_schema;
pub use templates::TRIGGER_NAMES;
