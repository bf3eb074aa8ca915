//! The plan side of an `issue` step: what `runbook plan` shows of the action it would send.

use super::*;
use runbook_playbook::Rollout;

/// Plans an `issue` step: the action group resolved, the target counted, the action sent,
/// with the run's id as a placeholder in its unique name.
pub(crate) fn plan(
    planner: &Planner<'_>,
    playbook: &Playbook,
    step: &Step,
    issue: &IssueStep,
    scope: &Scope<'_>,
    planned: &mut PlanStep,
) -> Result<Value, String> {
    let id = &step.id;
    let name = value_text(&planner.render_known(&issue.name, scope)?);
    let target = planner.render_known(&issue.target, scope)?;
    let (target_group_id, target_filter_flag) = plan_group(&target);
    let package = planner.render_known(&issue.package, scope)?;
    let (package_id, parameters) = plan_package_spec(&package);
    let action_group = value_text(&planner.render_known(&issue.action_group, scope)?);
    if is_default_action_group(&action_group) {
        return Err(DEFAULT_ACTION_GROUP_REFUSED.to_owned());
    }
    // Inside a loop's item (`per_host[2].tag`), the name carries the item's index; a
    // rollout's actions carry their wave (the plan shows the first).
    let key = match planned
        .id
        .split_once('[')
        .and_then(|(_, rest)| rest.split_once(']'))
    {
        Some((index, _)) => format!("{id}#{index}"),
        None => id.clone(),
    };
    let key = match &issue.rollout {
        Some(_) => format!("{key}@wave1"),
        None => key,
    };
    let unique_name = unique_action_name(&name, RUN_ID_PLACEHOLDER, &key);
    planned.lookups.action_group = Some(action_group.trim().to_owned());
    planned.lookups.min_endpoints = issue.min_endpoints;
    planned.lookups.target_step = planner
        .templates
        .value_references(&issue.target.value)
        .iter()
        .find_map(|name| {
            name.strip_prefix("steps.")?
                .split('.')
                .next()
                .map(str::to_owned)
        });
    planned
        .requests
        .extend(planner.platform.plan_action_group(action_group.trim()));
    if let Some(rollout) = &issue.rollout {
        planned.lookups.rollout = Some((**rollout).clone());
        planned
            .requests
            .extend(planner.platform.plan_list_endpoints(&target_group_id));
        planned.details.push(rollout_line(rollout));
    } else {
        planned
            .requests
            .extend(planner.platform.plan_count(&target_group_id));
    }
    let first = if issue.rollout.is_some() {
        "the listing counts the targeted endpoints"
    } else {
        "count the targeted endpoints first"
    };
    match playbook
        .guard
        .as_ref()
        .and_then(|guard| guard.max_endpoints)
    {
        Some(limit) => planned.details.push(format!(
            "{first}; refuse to issue if more than {limit} (guard){}",
            fewer_than(issue.min_endpoints)
        )),
        None => planned.details.push(format!(
            "{first} (no guard set){}",
            fewer_than(issue.min_endpoints)
        )),
    }
    let not_before = plan_time(planner, scope, "not_before", issue.not_before.as_deref())?;
    let not_after = plan_time(planner, scope, "not_after", issue.not_after.as_deref())?;
    let known = |time: &Option<PlanValue<String>>| match time {
        Some(PlanValue::Known(text)) => parse_action_time(text),
        _ => None,
    };
    let (start, end) = (known(&not_before), known(&not_after));
    check_window(issue, start, end)?;
    let now = Utc::now();
    if let Some(end) = end
        && end <= now
    {
        return Err(format!(
            "`not_after` ({}) is in the past: a run would refuse to issue",
            time_text(end)
        ));
    }
    let ends = match (&not_after, &not_before) {
        (Some(end), Some(_)) => format!("ending at {end} (not_after)"),
        (Some(end), None) => {
            format!("ending at {end} (not_after; expire_seconds counted from when it is sent)")
        }
        (None, _) => format!("expiring after {}", humanize(issue.expire)),
    };
    let starts = match &not_before {
        Some(start) => format!(", starting at {start} (not_before)"),
        None => String::new(),
    };
    planned.details.push(format!(
        "issue `{unique_name}` under action group `{action_group}`{starts}, {ends}{}",
        if issue.distribute > Duration::ZERO {
            format!(", distributed over {}", humanize(issue.distribute))
        } else {
            String::new()
        }
    ));
    let expire_seconds = match (&not_after, end) {
        // A template a run will know: the plan cannot count the span yet.
        (Some(_), None) => issue.expire.as_secs(),
        _ => active_seconds(issue, start, end, now),
    };
    let spec = PlannedActionSpec {
        name: unique_name,
        action_group_id: PlanValue::Placeholder(format!(
            "action_group \"{}\".id",
            action_group.trim()
        )),
        target_group_id,
        target_filter_flag,
        package_id,
        parameters,
        expire_seconds,
        distribute_seconds: issue.distribute.as_secs(),
        issue_seconds: issue.issue_seconds,
        start_time: not_before,
        expiration_time: not_after,
    };
    if issue.rollout.is_some() {
        // Per wave: a group of its names, then its action.
        let mut group = planner
            .platform
            .plan_target(&rollout::wave_target(&["<wave 1 names>".to_owned()]))
            .map_err(|error| error.message)?;
        for request in &mut group {
            request.note = Some(
                "per wave: a group of the wave's endpoints (Computer Name equals any of them, 500 names a clause)"
                    .to_owned(),
            );
        }
        planned.requests.extend(group);
        let spec = PlannedActionSpec {
            target_group_id: PlanValue::Placeholder("wave_group.id".to_owned()),
            target_filter_flag: false,
            ..spec.clone()
        };
        let mut sends = planner.platform.plan_issue(&spec);
        for request in &mut sends {
            request.note = Some(
                "per wave: its action (wave 1 shown; each wave's name ends `@wave<k>]`)".to_owned(),
            );
        }
        planned.requests.extend(sends);
    } else {
        planned.requests.extend(planner.platform.plan_issue(&spec));
    }
    let mut outputs = placeholders(step);
    if let Some(map) = outputs.as_object_mut() {
        map.insert("name".to_owned(), Value::String(spec.name.clone()));
    }
    Ok(outputs)
}

/// What the plan says of a rollout: how the endpoints are split, when a wave is done, when
/// the rollout stops.
fn rollout_line(rollout: &Rollout) -> String {
    let waves: Vec<String> = rollout.waves.iter().map(ToString::to_string).collect();
    format!(
        "list the targeted endpoints by name (a question), order them by a hash of the run id and name, then issue one action per wave, cumulative [{}]: a wave is done when {}% of it finished; stop if more than {}% of the finished endpoints failed (per wave or overall){}{}; endpoints that join the target after the listing are not included",
        waves.join(", "),
        rollout.until_percent,
        rollout.max_failed_percent,
        if rollout.stop_on_abort {
            ", stopping the running wave's action"
        } else {
            ", leaving the running wave's action"
        },
        if rollout.pause.is_zero() {
            String::new()
        } else {
            format!("; pause {} between waves", humanize(rollout.pause))
        }
    )
}

/// An `issue` time in a plan: RFC 3339 in UTC when known, a placeholder when only a run can
/// tell, refused when it renders to something else.
fn plan_time(
    planner: &Planner<'_>,
    scope: &Scope<'_>,
    key: &str,
    value: Option<&TemplateValue>,
) -> Result<Option<PlanValue<String>>, String> {
    let Some(value) = value else {
        return Ok(None);
    };
    let rendered = planner.render_known(value, scope)?;
    if scope.unknowns.is_unknown(&rendered) {
        return Ok(Some(PlanValue::Placeholder(
            value_text(&rendered)
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned(),
        )));
    }
    let text = value_text(&rendered);
    read_time(key, text.trim()).map(|at| Some(PlanValue::Known(time_text(at))))
}
