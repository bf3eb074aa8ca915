//! Typed requests: what the client sends, built apart from sending.
//!
//! Plan mode shows these values as they are, so they hold everything that goes on the wire
//! except the `session` header (added by the transport and never stored here).

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use serde::ser::Serializer;
use serde_json::{Value, json};

/// The HTTP methods the adapter uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// DELETE
    Delete,
}

impl Method {
    /// The method as it appears on the wire.
    pub fn as_str(&self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Method {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A server-side id, or a named placeholder for an id that is not known yet (plan mode).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ref {
    /// A real id.
    Id(u64),
    /// An id only known at run time, shown as `<name>`.
    Placeholder(String),
}

impl Ref {
    /// The real id, if this is one.
    pub fn id(&self) -> Option<u64> {
        match self {
            Ref::Id(id) => Some(*id),
            Ref::Placeholder(_) => None,
        }
    }

    /// The JSON form: a number, or the text `<name>`.
    pub fn to_json(&self) -> Value {
        match self {
            Ref::Id(id) => json!(id),
            Ref::Placeholder(name) => Value::String(format!("<{name}>")),
        }
    }
}

impl From<u64> for Ref {
    fn from(id: u64) -> Self {
        Ref::Id(id)
    }
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ref::Id(id) => write!(f, "{id}"),
            Ref::Placeholder(name) => write!(f, "<{name}>"),
        }
    }
}

impl Serialize for Ref {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Ref::Id(id) => serializer.serialize_u64(*id),
            Ref::Placeholder(name) => serializer.collect_str(&format_args!("<{name}>")),
        }
    }
}

/// A request as it goes on the wire (minus the session header).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    /// The HTTP method.
    pub method: Method,
    /// The path from the server root, starting with `/api/v2/`.
    pub path: String,
    /// The `tanium-options` header (paging, cache), as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Value>,
    /// The JSON body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Whether sending it twice does no harm, so transient failures may be retried.
    pub safe_to_repeat: bool,
}

impl Request {
    fn get(path: String) -> Self {
        Request {
            method: Method::Get,
            path,
            options: None,
            body: None,
            safe_to_repeat: true,
        }
    }

    fn post(path: String, body: Value, safe_to_repeat: bool) -> Self {
        Request {
            method: Method::Post,
            path,
            options: None,
            body: Some(body),
            safe_to_repeat,
        }
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// A window of rows of a result set (sent in `tanium-options`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page {
    /// The first row, from 0.
    pub row_start: u64,
    /// How many rows.
    pub row_count: u64,
    /// The server-side cache of the first page, so later pages read the same snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_id: Option<u64>,
}

/// The group an action targets: an ad-hoc group from text, or a filter group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetGroupRef {
    /// The group id.
    pub id: Ref,
    /// True for a named filter group (Tanium's documented example sends it; see
    /// docs/tanium-api.md).
    pub filter_flag: bool,
}

/// What to send to issue an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewAction {
    /// The action's name; unique per run so that an ambiguous send can be looked up.
    pub name: String,
    /// The action group (the parent group of machines).
    pub action_group_id: Ref,
    /// The target group.
    pub target_group: TargetGroupRef,
    /// The package id (sent as `package_spec.source_id`).
    pub package_id: Ref,
    /// Parameter values by key (`$1`, ...), always strings.
    pub parameters: Vec<(String, String)>,
    /// How long the action stays active.
    pub expire_seconds: u64,
    /// Over how many seconds to spread the start across machines.
    pub distribute_seconds: u64,
    /// Optional `issue_seconds` (0 in Tanium's examples).
    pub issue_seconds: Option<u64>,
    /// Optional `start_time`: RFC 3339 in UTC, whole seconds (or a plan's placeholder).
    pub start_time: Option<String>,
    /// Optional `expiration_time`: RFC 3339 in UTC, whole seconds (or a plan's placeholder).
    pub expiration_time: Option<String>,
}

/// A time as an action's `start_time` or `expiration_time` is sent: RFC 3339 in UTC, whole
/// seconds (`2026-12-02T18:00:00Z`), as Tanium writes its own times.
pub fn action_time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Characters left as they are in a path segment: everything else is percent-encoded, like
/// Splunk's `quote(name, safe="")`, so names with `/`, `[`, `]` or spaces stay one segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a name for use as one path segment.
pub fn encode_segment(name: &str) -> String {
    utf8_percent_encode(name, SEGMENT).to_string()
}

/// JSON text for a header (`tanium-options`): characters outside ASCII are written as `\u`
/// escapes, since a header value carries visible ASCII only (an action named `Zürich` was
/// refused with "header is not text").
pub fn header_json(value: &Value) -> String {
    let text = value.to_string();
    if text.is_ascii() {
        return text;
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for character in text.chars() {
        if character.is_ascii() {
            escaped.push(character);
        } else {
            // Only JSON strings hold characters outside ASCII, and there a `\u` escape means
            // the same character.
            let mut units = [0u16; 2];
            for unit in character.encode_utf16(&mut units) {
                escaped.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    escaped
}

/// Pure request builders, one per operation. The client sends exactly these.
pub mod requests {
    use super::*;

    /// `POST /api/v2/groups {"text": ...}`: an ad-hoc group from targeting text.
    ///
    /// Marked safe to repeat: a second call only leaves an unused anonymous group behind,
    /// which touches no machine.
    pub fn create_group(text: &str) -> Request {
        Request::post("/api/v2/groups".to_owned(), json!({ "text": text }), true)
    }

    /// `GET /api/v2/groups/by-name/{name}`.
    pub fn group_by_name(name: &str) -> Request {
        Request::get(format!("/api/v2/groups/by-name/{}", encode_segment(name)))
    }

    /// `GET /api/v2/groups/{id}`.
    pub fn group_by_id(id: Ref) -> Request {
        Request::get(format!("/api/v2/groups/{}", path_ref(&id)))
    }

    /// `GET /api/v2/action_groups/by-name/{name}`.
    pub fn action_group_by_name(name: &str) -> Request {
        Request::get(format!(
            "/api/v2/action_groups/by-name/{}",
            encode_segment(name)
        ))
    }

    /// `GET /api/v2/action_groups/{id}`.
    pub fn action_group_by_id(id: Ref) -> Request {
        Request::get(format!("/api/v2/action_groups/{}", path_ref(&id)))
    }

    /// `GET /api/v2/packages/by-name/{name}`.
    pub fn package_by_name(name: &str) -> Request {
        Request::get(format!("/api/v2/packages/by-name/{}", encode_segment(name)))
    }

    /// `GET /api/v2/packages/{id}`.
    pub fn package_by_id(id: Ref) -> Request {
        Request::get(format!("/api/v2/packages/{}", path_ref(&id)))
    }

    /// `POST /api/v2/questions`: a question with no selects asked of a group's machines, whose
    /// `passed` count is the number of machines in the group (pytan `ActionPoller` step 1).
    /// The group goes in `context_group`, as Splunk's 2026 connector sends it. Asking twice
    /// only makes a second question, so it is safe to repeat.
    pub fn ask_count_question(group: Ref) -> Request {
        Request::post(
            "/api/v2/questions".to_owned(),
            json!({ "selects": [], "context_group": { "id": group.to_json() }, "expire_seconds": 600 }),
            true,
        )
    }

    /// `POST /api/v2/questions {"query_text": ...}`: a question over the machines that match
    /// targeting text, to count them without creating a group (plan --live). Asking a question
    /// changes nothing on the endpoints.
    pub fn ask_text_count_question(text: &str) -> Request {
        Request::post(
            "/api/v2/questions".to_owned(),
            json!({ "query_text": format!("Get Computer Name from all machines with {text}"), "expire_seconds": 600 }),
            true,
        )
    }

    /// `GET /api/v2/result_info/question/{id}`.
    pub fn question_result_info(id: Ref) -> Request {
        Request::get(format!("/api/v2/result_info/question/{}", path_ref(&id)))
    }

    /// `POST /api/v2/actions`. Never safe to repeat: it would run the package twice.
    pub fn issue_action(action: &NewAction) -> Request {
        let parameters: Vec<Value> = action
            .parameters
            .iter()
            .map(|(key, value)| json!({ "key": key, "value": value }))
            .collect();
        let mut body = json!({
            "name": action.name,
            "action_group": { "id": action.action_group_id.to_json() },
            "target_group": {
                "id": action.target_group.id.to_json(),
                "filter_flag": action.target_group.filter_flag,
            },
            "package_spec": {
                "source_id": action.package_id.to_json(),
                "parameters": parameters,
            },
            "expire_seconds": action.expire_seconds,
            "distribute_seconds": action.distribute_seconds,
        });
        if let Some(object) = body.as_object_mut() {
            if let Some(issue_seconds) = action.issue_seconds {
                object.insert("issue_seconds".to_owned(), json!(issue_seconds));
            }
            // The window, when the playbook gives one; `expire_seconds` is then its span.
            if let Some(start) = &action.start_time {
                object.insert("start_time".to_owned(), json!(start));
            }
            if let Some(end) = &action.expiration_time {
                object.insert("expiration_time".to_owned(), json!(end));
            }
        }
        Request::post("/api/v2/actions".to_owned(), body, false)
    }

    /// `GET /api/v2/actions/by-name/{name}` (docs/tanium-api.md, "Actions").
    pub fn find_action_by_name(name: &str) -> Request {
        Request::get(format!("/api/v2/actions/by-name/{}", encode_segment(name)))
    }

    /// `GET /api/v2/actions` with a `cache_filters` option on the name: the list form of the
    /// lookup, which works on servers without the by-name route (HoganSlender's `Action.ts`).
    pub fn list_actions_named(name: &str) -> Request {
        let mut request = Request::get("/api/v2/actions".to_owned());
        request.options = Some(json!({
            "cache_filters": [{ "field": "name", "operator": "Equal", "value": name }]
        }));
        request
    }

    /// `GET /api/v2/actions/{id}`.
    pub fn action(id: Ref) -> Request {
        Request::get(format!("/api/v2/actions/{}", path_ref(&id)))
    }

    /// `GET /api/v2/saved_actions/{id}`: carries `approved_flag`.
    pub fn saved_action(id: Ref) -> Request {
        Request::get(format!("/api/v2/saved_actions/{}", path_ref(&id)))
    }

    /// `POST /api/v2/action_stops {"action": {"id": N}}`. Stopping twice is harmless.
    pub fn stop_action(id: Ref) -> Request {
        Request::post(
            "/api/v2/action_stops".to_owned(),
            json!({ "action": { "id": id.to_json() } }),
            true,
        )
    }

    /// `GET /api/v2/result_data/action/{id}`, optionally one page of it.
    pub fn action_results(id: Ref, page: Option<Page>) -> Request {
        let mut request = Request::get(format!("/api/v2/result_data/action/{}", path_ref(&id)));
        request.options = page.map(|page| {
            let mut options = json!({ "row_start": page.row_start, "row_count": page.row_count });
            if let (Some(cache_id), Some(object)) = (page.cache_id, options.as_object_mut()) {
                object.insert("cache_id".to_owned(), json!(cache_id));
            }
            options
        });
        request
    }

    fn path_ref(id: &Ref) -> String {
        match id {
            Ref::Id(id) => id.to_string(),
            Ref::Placeholder(name) => format!("<{name}>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::requests::*;
    use super::*;

    #[test]
    fn header_json_is_ascii_and_means_the_same() {
        let options = json!({"cache_filters": [{"value": "Zürich € 𝄞 \"x\""}]});
        let header = header_json(&options);
        assert!(header.is_ascii(), "{header}");
        assert!(header.contains("Z\\u00fcrich"), "{header}");
        assert_eq!(serde_json::from_str::<Value>(&header).unwrap(), options);
        assert_eq!(header_json(&json!({"a": 1})), "{\"a\":1}");
    }

    fn sample_action() -> NewAction {
        NewAction {
            name: "contain host (run 42)".to_owned(),
            action_group_id: Ref::Id(2543851),
            target_group: TargetGroupRef {
                id: Ref::Placeholder("target_group_id".to_owned()),
                filter_flag: false,
            },
            package_id: Ref::Id(173205),
            parameters: vec![("$1".to_owned(), "TestTag".to_owned())],
            expire_seconds: 43200,
            distribute_seconds: 0,
            issue_seconds: None,
            start_time: None,
            expiration_time: None,
        }
    }

    #[test]
    fn issue_action_matches_tanium_example_and_is_never_repeated() {
        let request = issue_action(&sample_action());
        assert_eq!(request.method, Method::Post);
        assert_eq!(request.path, "/api/v2/actions");
        assert!(!request.safe_to_repeat);
        let body = request.body.unwrap_or_default();
        assert_eq!(body["package_spec"]["source_id"], json!(173205));
        assert_eq!(
            body["package_spec"]["parameters"][0],
            json!({"key": "$1", "value": "TestTag"})
        );
        assert_eq!(body["target_group"]["id"], json!("<target_group_id>"));
        assert_eq!(body["action_group"]["id"], json!(2543851));
        assert_eq!(body["expire_seconds"], json!(43200));
        assert!(body.get("issue_seconds").is_none());
        assert!(body.get("start_time").is_none());
        assert!(body.get("expiration_time").is_none());
    }

    #[test]
    fn a_window_travels_as_start_and_expiration_time() {
        let start = chrono::DateTime::parse_from_rfc3339("2026-12-02T19:00:00.750+01:00")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let action = NewAction {
            start_time: Some(action_time(start)),
            expiration_time: Some(action_time(start + chrono::Duration::hours(2))),
            expire_seconds: 7200,
            ..sample_action()
        };
        let body = issue_action(&action).body.unwrap_or_default();
        assert_eq!(body["start_time"], json!("2026-12-02T18:00:00Z"));
        assert_eq!(body["expiration_time"], json!("2026-12-02T20:00:00Z"));
        assert_eq!(body["expire_seconds"], json!(7200));
    }

    #[test]
    fn names_are_one_encoded_path_segment() {
        let request = package_by_name("Registry - Set Value [64/32]");
        assert_eq!(
            request.path,
            "/api/v2/packages/by-name/Registry%20-%20Set%20Value%20%5B64%2F32%5D"
        );
    }

    #[test]
    fn pages_travel_in_tanium_options() {
        let request = action_results(
            Ref::Id(9),
            Some(Page {
                row_start: 500,
                row_count: 250,
                cache_id: Some(3891494157),
            }),
        );
        assert_eq!(
            request.options,
            Some(json!({"row_start": 500, "row_count": 250, "cache_id": 3891494157u64}))
        );
        assert!(action_results(Ref::Id(9), None).options.is_none());
    }

    #[test]
    fn requests_serialise_for_plans_with_placeholders() {
        let request = action(Ref::Placeholder("action_id".to_owned()));
        let shown = serde_json::to_value(&request).unwrap_or_default();
        assert_eq!(
            shown,
            json!({"method": "GET", "path": "/api/v2/actions/<action_id>", "safe_to_repeat": true})
        );
        assert_eq!(serde_json::to_value(Ref::Id(5)).ok(), Some(json!(5)));
    }
}
