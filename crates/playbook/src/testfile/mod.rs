//! Test files (`*.test.yaml`): cases that run a playbook against a simulated Tanium (or a
//! replay of recorded exchanges) and check how the run ends.
//!
//! ```yaml
//! version: 1
//! playbook: ../tag-suspect-host.yaml          # relative to this file
//! cases:
//!   - name: tags one host after approval
//!     inputs: { hostname: WIN-DC01 }
//!     sim:
//!       fleet: default
//!       approval: { after: 2m }
//!     expect:
//!       status: succeeded
//!       outputs: { completed: 1 }
//!       steps: { approved: succeeded }
//!       requests:
//!         - { method: POST, path: /api/v2/actions, count: 1 }
//!   - name: replays a recorded run
//!     replay: recordings/dc01.json
//!     expect: { status: succeeded }
//! ```
//!
//! [`load_test_file`] reads and checks the file itself; [`check_against_playbook`] checks a
//! valid one against the playbook it names (steps, outputs, inputs and secrets), so that a
//! wrong name is an error before anything runs. This is the format, its checks and its JSON
//! Schema; the `runbook test` command runs the cases.
//!
//! Modules: `model` (the file as read), `checks` (keys, version, cases), `sim` (a case's
//! world), `expect` (its expectations), `loading` (the entry points and the playbook checks)
//! and `schema` (the JSON Schema).

mod checks;
mod expect;
mod loading;
mod model;
mod schema;
mod sim;

pub use loading::{check_against_playbook, load_test_file};
pub use model::{
    ApprovalChoice, CaseMarks, Expectations, ExpectedRequest, ExpectedStatus, ExpectedStepState,
    FleetChoice, LoadedTestFile, REQUEST_METHODS, SimFaults, SimWorld, TestCase, TestFile,
};
pub use schema::test_file_json_schema;
