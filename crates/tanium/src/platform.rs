//! The engine's [`Platform`] trait, implemented for Tanium.
//!
//! This is the one place where the engine's plain requests (clauses, names, ids) become
//! Tanium's REST calls. The `plan_*` methods return the very requests that the client sends,
//! built by the same [`requests`] builders, so a plan shows what a run does.

use std::time::Duration;

use async_trait::async_trait;
use runbook_engine::{
    ActionGroupOutcome, ActionInfo, ActionProgress, ActionSpec, Approval, ClauseValue, Lookup,
    PackageOutcome, PackageSelector, PlanValue, PlannedActionSpec, PlannedRequest, Platform,
    PlatformError, PlatformErrorKind, QuestionAnswer, QuestionAsked, QuestionFilter,
    QuestionProgress, QuestionRequest, ResultRow, SensorSelect, TargetClause, TargetOutcome,
    TargetRequest, TargetSurvey,
};

use crate::client::TaniumClient;
use crate::error::Error;
use crate::model::{Action, ActionState};
use crate::parameters;
use crate::question_requests::{self as questions, Select, SensorChoice, SensorRef};
use crate::request::{NewAction, Ref, Request, TargetGroupRef, action_time, requests};
use crate::targeting;

/// Tanium behind the engine's [`Platform`] trait. Without a client it can only plan.
#[derive(Debug, Clone)]
pub struct TaniumPlatform {
    client: Option<TaniumClient>,
}

impl TaniumPlatform {
    /// A platform that talks to a Tanium server through `client`.
    pub fn new(client: TaniumClient) -> Self {
        TaniumPlatform {
            client: Some(client),
        }
    }

    /// A platform for plan mode: it builds requests but has no way to send them.
    pub fn offline() -> Self {
        TaniumPlatform { client: None }
    }

    /// A package's parameter definition as the server holds it (`null` for none), read by id:
    /// what `runbook plan --out` fingerprints and `runbook run --plan` compares.
    pub async fn package_parameter_definition(
        &self,
        package_id: u64,
    ) -> Result<serde_json::Value, PlatformError> {
        let package = self
            .client()?
            .package_by_id(package_id)
            .await
            .map_err(platform_error)?;
        Ok(package.parameter_definition)
    }

    fn client(&self) -> Result<&TaniumClient, PlatformError> {
        self.client.as_ref().ok_or_else(|| {
            PlatformError::new(
                PlatformErrorKind::Other,
                "no Tanium connection in plan mode (nothing is sent)",
            )
        })
    }

    fn text_of(request: &TargetRequest) -> Result<Option<String>, PlatformError> {
        match request {
            TargetRequest::Clauses { combine, clauses } => {
                let clauses: Vec<targeting::Clause> = clauses.iter().map(clause).collect();
                targeting::build_text(*combine, &clauses)
                    .map(Some)
                    .map_err(|error| {
                        PlatformError::new(PlatformErrorKind::Invalid, error.to_string())
                    })
            }
            TargetRequest::Text { text } => {
                if text.trim().is_empty() {
                    return Err(PlatformError::new(
                        PlatformErrorKind::Invalid,
                        "the targeting text is empty; an empty group would target every machine",
                    ));
                }
                Ok(Some(text.clone()))
            }
            TargetRequest::FilterGroup { .. } => Ok(None),
        }
    }
}

fn clause(clause: &TargetClause) -> targeting::Clause {
    targeting::Clause {
        sensor: clause.sensor.clone(),
        op: clause.op,
        value: match &clause.value {
            ClauseValue::One(value) => targeting::ClauseValue::One(value.clone()),
            ClauseValue::AnyOf(values) => targeting::ClauseValue::AnyOf(values.clone()),
        },
    }
}

/// The engine's sensors as the client names them.
fn sensor_choices(get: &[SensorSelect]) -> Vec<SensorChoice> {
    get.iter()
        .map(|select| SensorChoice {
            name: select.sensor.clone(),
            params: select
                .params
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        })
        .collect()
}

/// The engine's `from` as the client reads it.
fn question_filter(from: Option<&QuestionFilter>) -> Option<questions::QuestionFilter> {
    from.map(|from| questions::QuestionFilter {
        combine: from.combine,
        clauses: from.clauses.iter().map(clause).collect(),
    })
}

/// The requests of a question step in plan mode: each sensor read (its hash is a placeholder
/// until then), the question, its progress and its answers; for a saved question, the saved
/// question and its newest question's progress and answers.
fn plan_question_requests(request: &QuestionRequest) -> Vec<PlannedRequest> {
    let question = Ref::Placeholder("question.id".to_owned());
    let mut planned_requests = Vec::new();
    match request {
        QuestionRequest::Sensors { get, from } => {
            let mut names: Vec<&str> = get.iter().map(|select| select.sensor.as_str()).collect();
            if let Some(from) = from {
                names.extend(from.clauses.iter().map(|clause| clause.sensor.as_str()));
            }
            let mut seen: Vec<String> = Vec::new();
            for name in names {
                if seen.contains(&name.to_lowercase()) {
                    continue;
                }
                seen.push(name.to_lowercase());
                planned_requests.push(planned(
                    questions::sensor_by_name(name),
                    Some("the sensor's hash and parameter definition"),
                ));
            }
            let selects: Vec<Select> = get
                .iter()
                .map(|select| Select {
                    sensor: SensorRef::planned(&select.sensor),
                    parameters: (!select.params.is_empty()).then(|| {
                        select
                            .params
                            .iter()
                            .map(|(key, value)| (key.clone(), value.clone()))
                            .collect()
                    }),
                })
                .collect();
            let hash_of = |name: &str| Ref::Placeholder(format!("{name}.hash"));
            let group = question_filter(from.as_ref())
                .map(|filter| questions::filter_group(filter.combine, &filter.clauses, &hash_of));
            let mut note = "each sensor named by its hash; one that defines parameters by \
                source_hash, with every parameter (defaults filled in, values checked against \
                its definition)"
                .to_owned();
            let group = match group {
                Some(Ok(group)) => Some(group),
                // A run refuses such clauses before asking: say so rather than show a question
                // without its filter, which would read every machine.
                Some(Err(error)) => {
                    note = format!("not sent: the from clauses cannot be written ({error})");
                    None
                }
                None => None,
            };
            planned_requests.push(planned(
                questions::ask_question(&selects, group),
                Some(&note),
            ));
        }
        QuestionRequest::Saved { name_or_id } => {
            let lookup = match name_or_id.trim().parse::<u64>() {
                Ok(id) => questions::saved_question_by_id(Ref::Id(id)),
                Err(_) => questions::saved_question_by_name(name_or_id),
            };
            planned_requests.push(planned(
                lookup,
                Some("its newest question is the one whose answers are read"),
            ));
        }
    }
    planned_requests.push(planned(
        questions::question_result_info(question.clone()),
        Some("repeated until enough endpoints answered (`mr_tested` of `estimated_total`)"),
    ));
    planned_requests.push(planned(
        questions::question_result_data(question, None),
        Some("read in pages"),
    ));
    planned_requests
}

/// Maps the adapter's errors onto the engine's kinds; the message never holds a secret.
fn platform_error(error: Error) -> PlatformError {
    let kind = match &error {
        Error::NotFound { .. } => PlatformErrorKind::NotFound,
        Error::BadRequest { .. } | Error::InvalidRequest(_) => PlatformErrorKind::Invalid,
        Error::Refused { .. } => PlatformErrorKind::Refused,
        Error::AmbiguousSend { .. } => PlatformErrorKind::Ambiguous,
        Error::Transport { .. } | Error::RateLimited { .. } | Error::Server { .. } => {
            PlatformErrorKind::Unavailable
        }
        _ => PlatformErrorKind::Other,
    };
    PlatformError::new(kind, error.to_string())
}

fn action_info(action: Action) -> ActionInfo {
    ActionInfo {
        action_id: action.id,
        saved_action_id: action.saved_action_id.unwrap_or(0),
        name: action.name,
        status: state_word(&action.status),
        stopped: action.stopped_flag,
        expires_at: action
            .expiration_time
            .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        package_name: None,
        command: None,
    }
}

fn state_word(state: &ActionState) -> String {
    match state {
        ActionState::Pending => "Pending".to_owned(),
        ActionState::Active => "Active".to_owned(),
        ActionState::Open => "Open".to_owned(),
        ActionState::Closed => "Closed".to_owned(),
        ActionState::Stopped => "Stopped".to_owned(),
        ActionState::Expired => "Expired".to_owned(),
        ActionState::Other(word) => word.clone(),
    }
}

fn planned(request: Request, note: Option<&str>) -> PlannedRequest {
    PlannedRequest {
        method: request.method.as_str().to_owned(),
        path: request.path,
        options: request.options,
        body: request.body,
        note: note.map(str::to_owned),
    }
}

fn plan_ref(value: &PlanValue<u64>) -> Ref {
    match value {
        PlanValue::Known(id) => Ref::Id(*id),
        PlanValue::Placeholder(name) => Ref::Placeholder(name.clone()),
    }
}

#[async_trait]
impl Platform for TaniumPlatform {
    async fn create_target(&self, request: &TargetRequest) -> Result<TargetOutcome, PlatformError> {
        let client = self.client()?;
        match (request, Self::text_of(request)?) {
            (TargetRequest::FilterGroup { name_or_id }, _) => {
                let group = client
                    .filter_group(name_or_id)
                    .await
                    .map_err(platform_error)?;
                Ok(TargetOutcome {
                    group_id: group.id,
                    filter_flag: true,
                    text: String::new(),
                })
            }
            (_, Some(text)) => {
                let group_id = client.create_group(&text).await.map_err(platform_error)?;
                Ok(TargetOutcome {
                    group_id,
                    filter_flag: false,
                    text,
                })
            }
            (_, None) => Err(PlatformError::new(
                PlatformErrorKind::Invalid,
                "nothing to target",
            )),
        }
    }

    async fn resolve_package(
        &self,
        package: &PackageSelector,
        params: &[(String, String)],
    ) -> Result<PackageOutcome, PlatformError> {
        let client = self.client()?;
        let package = match package {
            PackageSelector::Name(name) => client.package_by_name(name).await,
            PackageSelector::Id(id) => client.package_by_id(*id).await,
        }
        .map_err(platform_error)?;
        let values = parameters::resolve(&package.parameters, params).map_err(|errors| {
            let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
            PlatformError::new(
                PlatformErrorKind::Invalid,
                format!("package `{}`: {}", package.name, messages.join("; ")),
            )
        })?;
        let command = parameters::substitute_command(&package.command, &values);
        Ok(PackageOutcome {
            package_id: package.id,
            package_name: package.name,
            parameters: values,
            command,
            verify: package.verify,
        })
    }

    async fn resolve_action_group(
        &self,
        name_or_id: &str,
    ) -> Result<ActionGroupOutcome, PlatformError> {
        let group = self
            .client()?
            .action_group(name_or_id)
            .await
            .map_err(platform_error)?;
        Ok(ActionGroupOutcome {
            id: group.id,
            name: group.name,
        })
    }

    async fn count_targets(&self, group_id: u64, wait: Duration) -> Result<u64, PlatformError> {
        self.client()?
            .count_group_endpoints(group_id, wait)
            .await
            .map_err(platform_error)
    }

    async fn list_endpoints(
        &self,
        group_id: u64,
        wait: Duration,
    ) -> Result<Vec<String>, PlatformError> {
        self.client()?
            .list_group_names(group_id, wait)
            .await
            .map_err(platform_error)
    }

    async fn survey_target(
        &self,
        request: &TargetRequest,
        names: usize,
        wait: Duration,
    ) -> Result<TargetSurvey, PlatformError> {
        let client = self.client()?;
        let survey = match (request, Self::text_of(request)?) {
            (TargetRequest::FilterGroup { name_or_id }, _) => {
                let group = client
                    .filter_group(name_or_id)
                    .await
                    .map_err(platform_error)?;
                client.survey_group(group.id, names, wait).await
            }
            (_, Some(text)) => client.survey_text(&text, names, wait).await,
            (_, None) => {
                return Err(PlatformError::new(
                    PlatformErrorKind::Invalid,
                    "nothing to target",
                ));
            }
        }
        .map_err(platform_error)?;
        // Offline endpoints only round the picture off: a server that will not list its
        // clients (the account may lack the permission) leaves them unknown, not the plan failed.
        let offline = client
            .offline_endpoints(survey.server_time)
            .await
            .map_err(|error| error.to_string());
        Ok(TargetSurvey {
            matching: survey.matching,
            names: survey.names,
            offline,
        })
    }

    async fn issue_action(&self, spec: &ActionSpec) -> Result<ActionInfo, PlatformError> {
        let action = NewAction {
            name: spec.name.clone(),
            action_group_id: Ref::Id(spec.action_group_id),
            target_group: TargetGroupRef {
                id: Ref::Id(spec.target_group_id),
                filter_flag: spec.target_filter_flag,
            },
            package_id: Ref::Id(spec.package_id),
            parameters: spec.parameters.clone(),
            expire_seconds: spec.expire_seconds,
            distribute_seconds: spec.distribute_seconds,
            issue_seconds: spec.issue_seconds,
            start_time: spec.start_time.map(action_time),
            expiration_time: spec.expiration_time.map(action_time),
        };
        let issued = self
            .client()?
            .issue_action(&action)
            .await
            .map_err(platform_error)?;
        Ok(action_info(issued))
    }

    async fn find_action(
        &self,
        name: &str,
        lookup: Lookup,
    ) -> Result<Option<ActionInfo>, PlatformError> {
        let found = self
            .client()?
            .find_action_by_name(name, lookup)
            .await
            .map_err(platform_error)?;
        Ok(found.map(action_info))
    }

    async fn action(&self, action_id: u64) -> Result<ActionInfo, PlatformError> {
        let action = self
            .client()?
            .action(action_id)
            .await
            .map_err(platform_error)?;
        Ok(action_info(action))
    }

    async fn approval(&self, saved_action_id: u64) -> Result<Approval, PlatformError> {
        self.client()?
            .saved_action_approval(saved_action_id)
            .await
            .map_err(platform_error)
    }

    async fn action_results(
        &self,
        action_id: u64,
        verify: bool,
        max_rows: usize,
    ) -> Result<ActionProgress, PlatformError> {
        let results = self
            .client()?
            .action_results(action_id, verify, max_rows)
            .await
            .map_err(platform_error)?;
        Ok(ActionProgress {
            mr_tested: results.mr_tested,
            estimated_total: results.estimated_total,
            finished: results.succeeded + results.failed,
            completed: results.succeeded,
            failed: results.failed,
            statuses: results.statuses.into_iter().collect(),
            rows: results
                .rows
                .into_iter()
                .map(|row| ResultRow {
                    computer_name: row.computer_name,
                    status: row.status,
                    count: row.count,
                })
                .collect(),
            rows_truncated: results.rows_truncated,
        })
    }

    async fn action_verifies(&self, action_id: u64) -> Result<bool, PlatformError> {
        let client = self.client()?;
        let action = client.action(action_id).await.map_err(platform_error)?;
        match action.package_id {
            Some(package_id) => Ok(client
                .package_by_id(package_id)
                .await
                .map_err(platform_error)?
                .verify),
            None => Ok(false),
        }
    }

    async fn stop_action(&self, action_id: u64) -> Result<(), PlatformError> {
        self.client()?
            .stop_action(action_id)
            .await
            .map_err(platform_error)
    }

    async fn ask_question(
        &self,
        request: &QuestionRequest,
    ) -> Result<QuestionAsked, PlatformError> {
        let client = self.client()?;
        let asked = match request {
            QuestionRequest::Sensors { get, from } => {
                let filter = question_filter(from.as_ref());
                client
                    .ask_question(&sensor_choices(get), filter.as_ref())
                    .await
            }
            QuestionRequest::Saved { name_or_id } => client.saved_question_latest(name_or_id).await,
        }
        .map_err(platform_error)?;
        Ok(QuestionAsked {
            question_id: asked.id,
            text: asked.text,
        })
    }

    async fn question_progress(&self, question_id: u64) -> Result<QuestionProgress, PlatformError> {
        let progress = self
            .client()?
            .question_progress(question_id)
            .await
            .map_err(platform_error)?;
        Ok(QuestionProgress {
            mr_tested: progress.mr_tested,
            estimated_total: progress.estimated_total,
        })
    }

    async fn question_answer(
        &self,
        question_id: u64,
        max_rows: usize,
    ) -> Result<QuestionAnswer, PlatformError> {
        let mut results = self
            .client()?
            .question_answer(question_id, max_rows)
            .await
            .map_err(platform_error)?;
        // Each kept row's texts are freed once it is JSON, so the rows are not held twice over.
        let kept = std::mem::take(&mut results.rows);
        let rows = kept
            .into_iter()
            .map(|row| serde_json::Value::Object(results.row_json(&row)))
            .collect();
        Ok(QuestionAnswer {
            columns: results.column_names(),
            rows,
            row_count: results.row_count,
            rows_truncated: results.rows_truncated,
            unavailable: results.unavailable,
            mr_tested: results.mr_tested,
            estimated_total: results.estimated_total,
        })
    }

    async fn check_question(&self, request: &QuestionRequest) -> Result<(), PlatformError> {
        let client = self.client()?;
        match request {
            QuestionRequest::Sensors { get, from } => {
                let filter = question_filter(from.as_ref());
                client
                    .check_question(&sensor_choices(get), filter.as_ref())
                    .await
                    .map(|_| ())
            }
            // A saved question the server never asked has no answers to read: a run fails on it.
            QuestionRequest::Saved { name_or_id } => {
                client.saved_question_latest(name_or_id).await.map(|_| ())
            }
        }
        .map_err(platform_error)
    }

    fn plan_target(&self, request: &TargetRequest) -> Result<Vec<PlannedRequest>, PlatformError> {
        match (request, Self::text_of(request)?) {
            (TargetRequest::FilterGroup { name_or_id }, _) => {
                Ok(vec![match name_or_id.trim().parse::<u64>() {
                    Ok(id) => planned(requests::group_by_id(Ref::Id(id)), None),
                    Err(_) => planned(requests::group_by_name(name_or_id), None),
                }])
            }
            (_, Some(text)) => Ok(vec![planned(
                requests::create_group(&text),
                Some("creates an anonymous group from the targeting text"),
            )]),
            (_, None) => Ok(Vec::new()),
        }
    }

    fn plan_package(&self, package: &PlanValue<PackageSelector>) -> Vec<PlannedRequest> {
        let request = match package {
            PlanValue::Known(PackageSelector::Name(name)) => requests::package_by_name(name),
            PlanValue::Known(PackageSelector::Id(id)) => requests::package_by_id(Ref::Id(*id)),
            PlanValue::Placeholder(name) => requests::package_by_name(&format!("<{name}>")),
        };
        vec![planned(request, None)]
    }

    fn plan_action_group(&self, name_or_id: &str) -> Vec<PlannedRequest> {
        let request = match name_or_id.trim().parse::<u64>() {
            Ok(id) => requests::action_group_by_id(Ref::Id(id)),
            Err(_) => requests::action_group_by_name(name_or_id),
        };
        vec![planned(request, None)]
    }

    fn plan_count(&self, group_id: &PlanValue<u64>) -> Vec<PlannedRequest> {
        vec![
            planned(
                requests::ask_count_question(plan_ref(group_id)),
                Some("a question over the target group, to count the endpoints it matches"),
            ),
            planned(
                requests::question_result_info(Ref::Placeholder("count_question.id".to_owned())),
                Some("repeated until the endpoints have answered; `passed` is the count"),
            ),
        ]
    }

    fn plan_list_endpoints(&self, group_id: &PlanValue<u64>) -> Vec<PlannedRequest> {
        let question = Ref::Placeholder("listing_question.id".to_owned());
        vec![
            planned(
                crate::client::ask_names_in_group(plan_ref(group_id)),
                Some(
                    "a question over the target group: the Computer Name of each endpoint, split into waves",
                ),
            ),
            planned(
                requests::question_result_info(question),
                Some(
                    "repeated until the endpoints have answered; then every page of the answers (result_data) is read",
                ),
            ),
        ]
    }

    fn plan_issue(&self, spec: &PlannedActionSpec) -> Vec<PlannedRequest> {
        let action = NewAction {
            name: spec.name.clone(),
            action_group_id: plan_ref(&spec.action_group_id),
            target_group: TargetGroupRef {
                id: plan_ref(&spec.target_group_id),
                filter_flag: spec.target_filter_flag,
            },
            package_id: plan_ref(&spec.package_id),
            parameters: spec.parameters.clone(),
            expire_seconds: spec.expire_seconds,
            distribute_seconds: spec.distribute_seconds,
            issue_seconds: spec.issue_seconds,
            start_time: spec.start_time.as_ref().map(ToString::to_string),
            expiration_time: spec.expiration_time.as_ref().map(ToString::to_string),
        };
        vec![
            planned(
                requests::find_action_by_name(&spec.name),
                Some(
                    "first looks for an action this run already issued (exactly once); where it may exist (resume, ambiguous send) a 404 is confirmed with `GET /api/v2/actions` filtered by name",
                ),
            ),
            planned(
                requests::issue_action(&action),
                Some("sent once, never retried blindly"),
            ),
        ]
    }

    fn plan_approval(&self, action_id: &PlanValue<u64>) -> Vec<PlannedRequest> {
        vec![
            planned(
                requests::saved_action(Ref::Placeholder("action.saved_action.id".to_owned())),
                Some(
                    "`approved_flag` says whether the action is approved, `approver` who approved it",
                ),
            ),
            planned(
                requests::action(plan_ref(action_id)),
                Some(
                    "only while it is not approved (and first, for an action this run did not issue): a stopped or expired action fails the step",
                ),
            ),
        ]
    }

    fn plan_poll(&self, action_id: &PlanValue<u64>) -> Vec<PlannedRequest> {
        vec![
            planned(
                requests::action_results(plan_ref(action_id), None),
                Some("read in pages when the result set is large"),
            ),
            planned(
                requests::action(plan_ref(action_id)),
                Some(
                    "only when the results stall, show endpoints Stopped or Expired, or time out: a stopped or expired action fails the step",
                ),
            ),
        ]
    }

    fn plan_stop_action(&self, action_id: &PlanValue<u64>) -> Vec<PlannedRequest> {
        vec![
            planned(
                requests::stop_action(plan_ref(action_id)),
                Some("refused for an action that already ended, which counts as stopped"),
            ),
            planned(
                requests::action(plan_ref(action_id)),
                Some("read back: its status, and whether it had already ended"),
            ),
        ]
    }

    fn plan_question(&self, request: &PlanValue<QuestionRequest>) -> Vec<PlannedRequest> {
        match request {
            PlanValue::Known(request) => plan_question_requests(request),
            PlanValue::Placeholder(name) => plan_question_requests(&QuestionRequest::Saved {
                name_or_id: format!("<{name}>"),
            }),
        }
    }
}
