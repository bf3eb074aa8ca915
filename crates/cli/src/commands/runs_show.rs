//! `runs show`: one run as JSON or as text (its steps, actions, events and requests).

use std::fmt::Write as _;

use runbook_engine::RunRecord;
use serde_json::Value;

use super::{DIM, HEAD, first_line};

/// Everything `runs show` shows of one run.
pub(super) struct Shown {
    pub(super) record: RunRecord,
    pub(super) events: Vec<runbook_store::StoredEvent>,
    pub(super) claim: Option<runbook_store::QueueState>,
    pub(super) resumes: Vec<runbook_store::Resume>,
    pub(super) server: Option<String>,
    pub(super) state: &'static str,
}

/// `runs show --format json`: the record with its state, claim, resumes, server and events.
pub(super) fn shown_json(shown: &Shown) -> anyhow::Result<Value> {
    let Shown {
        record,
        events,
        claim,
        resumes,
        server,
        state,
    } = shown;
    let mut value = serde_json::to_value(record)?;
    let mut timed = Vec::with_capacity(events.len());
    for stored in events.iter() {
        let mut event = serde_json::to_value(&stored.event)?;
        if let Some(map) = event.as_object_mut() {
            map.insert(
                "recorded_at".to_owned(),
                Value::from(stored.recorded_at.as_str()),
            );
            map.insert("claim_epoch".to_owned(), Value::from(stored.claim_epoch));
        }
        timed.push(event);
    }
    if let Some(map) = value.as_object_mut() {
        map.insert("state".to_owned(), Value::from(*state));
        if let Some(claim) = &claim {
            map.insert(
                "claimed_by".to_owned(),
                Value::from(claim.claimed_by.clone()),
            );
            map.insert(
                "heartbeat_at".to_owned(),
                Value::from(claim.heartbeat_at.clone()),
            );
        }
        let resumes: Vec<Value> = resumes
            .iter()
            .map(|resume| {
                serde_json::json!({
                    "resumed_at": resume.resumed_at,
                    "resumed_by": resume.resumed_by,
                    "holder": resume.holder,
                    "claim_epoch": resume.claim_epoch,
                    "previous_holder": resume.previous_holder,
                })
            })
            .collect();
        map.insert("resumes".to_owned(), Value::Array(resumes));
        map.insert("tanium_url".to_owned(), Value::from(server.clone()));
        map.insert("events".to_owned(), Value::Array(timed));
    }
    Ok(value)
}

/// `runs show` as text: the run, its steps and actions.
pub(super) fn shown_text(shown: &Shown) -> String {
    let Shown {
        record,
        claim,
        resumes,
        server,
        state,
        ..
    } = shown;
    let mut text = String::new();
    let _ = writeln!(text, "{HEAD}run {}{HEAD:#}  {state}", record.run_id);
    if *state == "interrupted" {
        let holder = claim
            .as_ref()
            .and_then(|claim| claim.claimed_by.as_deref())
            .unwrap_or("no process");
        let beat = claim
            .as_ref()
            .and_then(|claim| claim.heartbeat_at.as_deref())
            .unwrap_or("never");
        let _ = writeln!(
            text,
            "          {DIM}recorded running, but its process ({holder}, last heartbeat \
         {beat}) is gone or silent: `runbook runs resume {}` continues it{DIM:#}",
            record.run_id
        );
    }
    let _ = writeln!(
        text,
        "playbook  {} {DIM}(sha256 {}){DIM:#}",
        record.playbook_name,
        record
            .playbook_hash
            .get(..12)
            .unwrap_or(&record.playbook_hash)
    );
    if let Some(path) = &record.playbook_path {
        let _ = writeln!(text, "from      {path}");
    }
    let _ = writeln!(
        text,
        "started   {} by {}",
        record.started_at, record.started_by
    );
    if let Some(server) = &server {
        let _ = writeln!(text, "server    {server}");
    }
    for resume in resumes.iter() {
        let taken = resume
            .previous_holder
            .as_deref()
            .map(|previous| format!(", taken over from {previous}"))
            .unwrap_or_default();
        let _ = writeln!(
            text,
            "resumed   {} by {} {DIM}(process {}, claim {}{taken}){DIM:#}",
            resume.resumed_at, resume.resumed_by, resume.holder, resume.claim_epoch
        );
    }
    if let Some(finished) = &record.finished_at {
        let _ = writeln!(text, "finished  {finished}");
    }
    let _ = writeln!(text, "inputs    {}", record.inputs);
    let _ = writeln!(text, "\n{HEAD}steps{HEAD:#}");
    for step in &record.steps {
        // A loop item's step (`per_host[3].scope`) is listed under its loop, unnumbered.
        let number = if step.step_id.contains('[') {
            String::new()
        } else {
            (step.step_index + 1).to_string()
        };
        let _ = writeln!(
            text,
            "  {:<3} {:<16} {:<14} {:<10} attempt {}  {} → {}",
            number,
            step.step_id,
            step.kind,
            step.status.as_str(),
            step.attempts,
            step.started_at,
            step.finished_at.as_deref().unwrap_or("…")
        );
        if let Some(summary) = &step.request_summary {
            let _ = writeln!(text, "      {summary}");
        }
        if let Some(error) = &step.error {
            let _ = writeln!(text, "      error: {error}");
        }
    }
    if !record.intents.is_empty() {
        let _ = writeln!(text, "\n{HEAD}actions{HEAD:#}");
        for intent in &record.intents {
            let id = intent
                .action_id
                .map(|id| id.to_string())
                .unwrap_or_else(|| "unknown (sent, no answer recorded)".to_owned());
            let _ = writeln!(
                text,
                "  {:<16} {}  action {id}",
                intent.step_id, intent.action_name
            );
        }
    }
    let requests: Vec<(&String, &serde_json::Value)> = record
        .progress
        .iter()
        .filter_map(|(step, progress)| progress.get("http").map(|http| (step, http)))
        .collect();
    if !requests.is_empty() {
        let _ = writeln!(text, "\n{HEAD}http requests{HEAD:#}");
        for (step, http) in requests {
            let _ = writeln!(text, "  {:<16} {}", step, http_request_line(http));
        }
    }
    text
}

/// Where an `http` step's changing request stands, from the progress it saved: answered, not
/// sent, or sent without a recorded answer (it may have reached its receiver).
fn http_request_line(http: &serde_json::Value) -> String {
    let request = format!(
        "{} {}",
        http["method"].as_str().unwrap_or("?"),
        http["url"].as_str().unwrap_or("?")
    );
    match (http.get("answer"), http.get("sent")) {
        (Some(answer), _) if answer.is_object() => {
            format!("{request}  answered {}", answer["status"])
        }
        (_, Some(serde_json::Value::Bool(false))) => format!("{request}  not sent"),
        _ => format!("{request}  sent, no answer recorded (it may have reached the receiver)"),
    }
}

/// `runs show` as text: its events and requests, outputs and error.
pub(super) fn shown_history(shown: &Shown) -> String {
    let Shown { record, events, .. } = shown;
    let mut text = String::new();
    let mut requests = Vec::new();
    let mut history = Vec::new();
    for stored in events.iter() {
        let Ok(value) = serde_json::to_value(&stored.event) else {
            continue;
        };
        let kind = value["event"].as_str().unwrap_or("?");
        match kind {
            "request_sent" => requests.push(format!(
                "  {DIM}{}{DIM:#}  {} {} → {}",
                stored.recorded_at,
                value["method"].as_str().unwrap_or("?"),
                value["path"].as_str().unwrap_or("?"),
                value["status"]
            )),
            // Progress of a wait: one a poll interval, too many to list.
            "poll_progress" | "approval_waiting" => {}
            _ => {
                let step = value["step_id"].as_str().unwrap_or("");
                let detail = ["summary", "message", "error", "reason", "status"]
                    .iter()
                    .find_map(|key| value[*key].as_str())
                    .map(first_line)
                    .unwrap_or("");
                history.push(format!(
                    "  {DIM}{}{DIM:#}  {kind:<15} {step:<16} {detail}",
                    stored.recorded_at
                ));
            }
        }
    }
    if !history.is_empty() {
        let _ = writeln!(text, "\n{HEAD}events{HEAD:#}\n{}", history.join("\n"));
    }
    if !requests.is_empty() {
        let _ = writeln!(text, "\n{HEAD}requests{HEAD:#}\n{}", requests.join("\n"));
    }
    if let Some(outputs) = &record.outputs {
        let _ = writeln!(text, "\n{HEAD}outputs{HEAD:#}\n  {outputs}");
    }
    if let Some(error) = &record.error {
        let _ = writeln!(text, "\nerror: {error}");
    }
    text
}
