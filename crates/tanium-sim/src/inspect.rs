//! What clients did to the simulator, as tests see it: an [`Inspector`] snapshot of the
//! actions issued, the groups created, the requests served and the bodies sent, and the
//! counting and recording of requests as they arrive.

use serde::Serialize;

use crate::state::Shared;

/// A snapshot of what clients did to the simulator.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspector {
    /// Actions issued, oldest first.
    pub actions: Vec<IssuedAction>,
    /// Groups created by clients.
    pub groups: Vec<CreatedGroup>,
    /// Requests served under `/api/v2`, by method and path.
    pub requests: Vec<RequestCount>,
    /// The most requests served at once, by method and path (`count` is that most).
    pub most_in_flight: Vec<RequestCount>,
    /// Every request under `/api/v2` other than a GET, in the order they arrived, with its
    /// body; only the first [`MAX_BODIES`] are kept.
    pub bodies: Vec<RecordedRequest>,
}

/// The most request bodies the simulator keeps for [`Inspector::bodies`]: later ones are
/// counted in [`Inspector::requests`] but not kept.
pub const MAX_BODIES: usize = 10_000;

/// A request under `/api/v2` other than a GET, as it arrived.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedRequest {
    /// HTTP method (`POST`, `PUT`, `DELETE`, ...).
    pub method: String,
    /// Path as requested, without the query (as [`RequestCount::path`]).
    pub path: String,
    /// The body as JSON; `Value::Null` when it was empty, not JSON, or could not be read.
    pub body: serde_json::Value,
}

impl Inspector {
    /// How many requests matched this method and path exactly.
    pub fn request_count(&self, method: &str, path: &str) -> u64 {
        self.requests
            .iter()
            .filter(|request| request.method.eq_ignore_ascii_case(method) && request.path == path)
            .map(|request| request.count)
            .sum()
    }

    /// The most requests of this method and path the simulator was serving at once (the
    /// configured latency included).
    pub fn most_in_flight(&self, method: &str, path: &str) -> u64 {
        self.most_in_flight
            .iter()
            .filter(|request| request.method.eq_ignore_ascii_case(method) && request.path == path)
            .map(|request| request.count)
            .max()
            .unwrap_or(0)
    }
}

/// A request counted as in flight until it is dropped (answered, or its connection gone).
pub(crate) struct InFlightGuard<'s> {
    shared: &'s Shared,
    key: (String, String),
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        let mut in_flight = self
            .shared
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((now, _)) = in_flight.get_mut(&self.key) {
            *now = now.saturating_sub(1);
        }
    }
}

/// One issued action as the inspector shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IssuedAction {
    /// Action id.
    pub id: u64,
    /// Action name as sent.
    pub name: String,
    /// Action group id.
    pub action_group_id: u64,
    /// Action group name.
    pub action_group_name: String,
    /// Target group id (ad-hoc groups included), when one was given.
    pub target_group_id: Option<u64>,
    /// The target group's filter text, when one was given.
    pub target_text: Option<String>,
    /// Package id the action runs (`package_spec.source_id`).
    pub package_id: u64,
    /// Package name.
    pub package_name: String,
    /// Parameters as received, values as strings.
    pub parameters: Vec<(String, String)>,
    /// Names of every targeted machine (offline ones included).
    pub targeted_computer_names: Vec<String>,
    /// Action status now.
    pub status: String,
    /// Saved action id.
    pub saved_action_id: u64,
    /// Whether approved (always true when approval is off).
    pub approved: bool,
    /// Whether an operator or client stopped it.
    pub stopped: bool,
}

/// A group created by a client through `POST /groups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreatedGroup {
    /// Group id.
    pub id: u64,
    /// Name (empty for anonymous groups).
    pub name: String,
    /// The text as received, trimmed.
    pub text: String,
    /// Names of the machines it selects.
    pub computer_names: Vec<String>,
}

/// Requests served for one method and path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestCount {
    /// HTTP method.
    pub method: String,
    /// Path as requested (without the query).
    pub path: String,
    /// How many times.
    pub count: u64,
}

impl Shared {
    pub(crate) fn issued_actions(&self) -> Vec<IssuedAction> {
        let now = self.clock.now();
        let inner = self.lock();
        inner
            .actions
            .values()
            .map(|action| {
                let package = self.package(action.package_index);
                let action_group = inner.group(action.action_group_id);
                let target = action.target_group_id.and_then(|id| inner.group(id));
                IssuedAction {
                    id: action.id,
                    name: action.name.clone(),
                    action_group_id: action.action_group_id,
                    action_group_name: action_group.map(|g| g.name.clone()).unwrap_or_default(),
                    target_group_id: action.target_group_id,
                    target_text: target.map(|group| group.text.trim().to_owned()),
                    package_id: package.id,
                    package_name: package.name.clone(),
                    parameters: action.parameters.clone(),
                    targeted_computer_names: action
                        .targeted
                        .iter()
                        .filter_map(|&machine| self.fleet().get(machine as usize))
                        .map(|endpoint| endpoint.computer_name.clone())
                        .collect(),
                    status: self.action_status(action, now).to_owned(),
                    saved_action_id: action.saved_action_id,
                    approved: self.approved(action, now),
                    stopped: self.stopped_at(action, now).is_some(),
                }
            })
            .collect()
    }

    pub(crate) fn created_groups(&self) -> Vec<CreatedGroup> {
        let now = self.clock.now();
        let inner = self.lock();
        inner
            .groups
            .iter()
            .filter(|group| group.created_by_client)
            .map(|group| CreatedGroup {
                id: group.id,
                name: group.name.clone(),
                text: group.text.trim().to_owned(),
                computer_names: self
                    .select_at(&inner, &group.compiled, now)
                    .into_iter()
                    .filter_map(|machine| self.fleet().get(machine as usize))
                    .map(|endpoint| endpoint.computer_name.clone())
                    .collect(),
            })
            .collect()
    }

    pub(crate) fn request_counts(&self) -> Vec<RequestCount> {
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        requests
            .iter()
            .map(|((method, path), count)| RequestCount {
                method: method.clone(),
                path: path.clone(),
                count: *count,
            })
            .collect()
    }

    pub(crate) fn most_in_flight(&self) -> Vec<RequestCount> {
        let in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        in_flight
            .iter()
            .map(|((method, path), (_, most))| RequestCount {
                method: method.clone(),
                path: path.clone(),
                count: *most,
            })
            .collect()
    }

    /// Counts a request in flight until the guard is dropped.
    pub(crate) fn enter(&self, method: &str, path: &str) -> InFlightGuard<'_> {
        let key = (method.to_owned(), path.to_owned());
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (now, most) = in_flight.entry(key.clone()).or_insert((0, 0));
        *now += 1;
        *most = (*most).max(*now);
        InFlightGuard { shared: self, key }
    }

    /// Keeps a place for the body of a request that is not a GET, in arrival order: its index
    /// for [`Shared::record_body`], `None` once [`MAX_BODIES`] are kept.
    pub(crate) fn reserve_body(&self, method: &str, path: &str) -> Option<usize> {
        let mut bodies = self
            .bodies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (bodies.len() < MAX_BODIES).then(|| {
            bodies.push(RecordedRequest {
                method: method.to_owned(),
                path: path.to_owned(),
                body: serde_json::Value::Null,
            });
            bodies.len() - 1
        })
    }

    /// Records the body read for the place `index` kept (`Null` when empty or not JSON).
    pub(crate) fn record_body(&self, index: usize, body: &[u8]) {
        let value = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
        let mut bodies = self
            .bodies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(recorded) = bodies.get_mut(index) {
            recorded.body = value;
        }
    }

    pub(crate) fn recorded_bodies(&self) -> Vec<RecordedRequest> {
        self.bodies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn count_request(&self, method: &str, path: &str) {
        let mut requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *requests
            .entry((method.to_owned(), path.to_owned()))
            .or_insert(0) += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;

    #[test]
    fn bodies_are_kept_in_arrival_order_up_to_the_bound() {
        let shared = Shared::new(SimConfig::default()).unwrap();
        let first = shared.reserve_body("POST", "/api/v2/actions").unwrap();
        let second = shared.reserve_body("PUT", "/api/v2/groups/9").unwrap();
        let third = shared.reserve_body("DELETE", "/api/v2/groups/9").unwrap();
        // Bodies read out of order land in their request's place.
        shared.record_body(second, b"not json");
        shared.record_body(first, br#"{"name": "a"}"#);
        shared.record_body(third, b"");
        let bodies = shared.recorded_bodies();
        assert_eq!(bodies[0].body, serde_json::json!({ "name": "a" }));
        assert_eq!(bodies[1].method, "PUT");
        assert_eq!(bodies[1].body, serde_json::Value::Null);
        assert_eq!(bodies[2].body, serde_json::Value::Null);
        while shared.reserve_body("POST", "/api/v2/actions").is_some() {}
        assert_eq!(shared.recorded_bodies().len(), MAX_BODIES);
    }
}
