//! Lenient reading of Tanium JSON, with the path of whatever did not decode.
//!
//! Real servers vary (docs/tanium-api.md, "Decoding traps"): ids come as numbers or numeric
//! strings and exceed 2^31, flags are booleans or 0/1, times use `Never` and
//! `2001-01-01T00:00:00Z` for "not set", by-name lookups answer an object or a one-item list, and collection answers end
//! with cache objects. Each rule lives here once, and every accessor knows its path so that a
//! decode error says exactly which field was wrong.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::Error;

/// A JSON value together with its path from the answer's root, e.g. `data.saved_action.id`.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    value: &'a Value,
    path: &'a str,
}

/// An owned path, for children whose path must be built.
#[derive(Debug)]
pub struct Child<'a> {
    value: Option<&'a Value>,
    path: String,
}

impl<'a> Child<'a> {
    /// The child as a node, or `None` when it is missing or `null`.
    pub fn node(&self) -> Option<Node<'_>> {
        match self.value {
            None | Some(Value::Null) => None,
            Some(value) => Some(Node {
                value,
                path: &self.path,
            }),
        }
    }

    /// The child as a node, or a decode error naming the path when it is missing.
    pub fn required(&self) -> Result<Node<'_>, Error> {
        self.node()
            .ok_or_else(|| Error::decode(&self.path, "missing field"))
    }
}

impl<'a> Node<'a> {
    /// Wraps the root of an answer. `path` names it, e.g. `data`.
    pub fn root(value: &'a Value, path: &'a str) -> Self {
        Node { value, path }
    }

    /// The underlying JSON value.
    pub fn value(&self) -> &'a Value {
        self.value
    }

    /// The path of this node.
    pub fn path(&self) -> &str {
        self.path
    }

    /// A field of this object (missing when this is not an object).
    pub fn field(&self, name: &str) -> Child<'a> {
        Child {
            value: self.value.get(name),
            path: format!("{}.{name}", self.path),
        }
    }

    /// An element of this array.
    pub fn index(&self, index: usize) -> Child<'a> {
        Child {
            value: self.value.get(index),
            path: format!("{}[{index}]", self.path),
        }
    }

    /// The elements of this array; an error when it is not an array.
    pub fn array(&self) -> Result<&'a [Value], Error> {
        self.value.as_array().map(Vec::as_slice).ok_or_else(|| {
            Error::decode(
                self.path,
                format!("expected a list, found {}", kind(self.value)),
            )
        })
    }

    /// A lenient unsigned id or count: a number, or a string holding one.
    pub fn as_u64(&self) -> Result<u64, Error> {
        lenient_u64(self.value).ok_or_else(|| {
            Error::decode(
                self.path,
                format!("expected a whole number, found {}", short(self.value)),
            )
        })
    }

    /// A string; numbers are turned into their text.
    pub fn as_string(&self) -> Result<String, Error> {
        match self.value {
            Value::String(text) => Ok(text.clone()),
            Value::Number(number) => Ok(number.to_string()),
            other => Err(Error::decode(
                self.path,
                format!("expected text, found {}", kind(other)),
            )),
        }
    }

    /// A flag sent as a boolean, as 0/1, or as the strings "true"/"false"/"0"/"1".
    pub fn as_flag(&self) -> Result<bool, Error> {
        lenient_flag(self.value).ok_or_else(|| {
            Error::decode(
                self.path,
                format!("expected a flag, found {}", short(self.value)),
            )
        })
    }

    /// A time; `None` for Tanium's "not set" values (`Never`, empty, and any time in 2001-01-01,
    /// the null date that pending actions carry, e.g. `2001-01-01T00:13:00Z`).
    pub fn as_time(&self) -> Result<Option<DateTime<Utc>>, Error> {
        let text = match self.value {
            Value::String(text) => text.trim(),
            Value::Null => return Ok(None),
            other => {
                return Err(Error::decode(
                    self.path,
                    format!("expected a time, found {}", kind(other)),
                ));
            }
        };
        parse_time(text).map_err(|message| Error::decode(self.path, message))
    }

    /// An optional u64 field: missing or null gives `None`.
    pub fn opt_u64(&self, name: &str) -> Result<Option<u64>, Error> {
        self.field(name)
            .node()
            .map(|node| node.as_u64())
            .transpose()
    }

    /// A required u64 field.
    pub fn req_u64(&self, name: &str) -> Result<u64, Error> {
        self.field(name).required()?.as_u64()
    }

    /// An optional string field.
    pub fn opt_string(&self, name: &str) -> Result<Option<String>, Error> {
        self.field(name)
            .node()
            .map(|node| node.as_string())
            .transpose()
    }

    /// An optional flag field (missing means false).
    pub fn flag_or_false(&self, name: &str) -> Result<bool, Error> {
        Ok(self
            .field(name)
            .node()
            .map(|node| node.as_flag())
            .transpose()?
            .unwrap_or(false))
    }

    /// The `id` of a nested reference object like `"saved_action": {"id": 134373}`; `None` when
    /// the object is missing or its id is 0 (Tanium's "none").
    pub fn nested_id(&self, name: &str) -> Result<Option<u64>, Error> {
        let child = self.field(name);
        let Some(node) = child.node() else {
            return Ok(None);
        };
        Ok(node.opt_u64("id")?.filter(|id| *id != 0))
    }
}

/// Parses Tanium object times; `Ok(None)` for the "not set" forms.
pub fn parse_time(text: &str) -> Result<Option<DateTime<Utc>>, String> {
    if text.is_empty() || text.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    let parsed = DateTime::parse_from_rfc3339(text)
        .map_err(|err| {
            format!("expected a time like 2021-07-21T19:00:01Z, found {text:?} ({err})")
        })?
        .with_timezone(&Utc);
    // Tanium's null date is 2001-01-01; a pending action's expiration is that date plus its
    // expiry (docs/tanium-api.md), so the whole day means "not set yet".
    if parsed.date_naive() == chrono::NaiveDate::from_ymd_opt(2001, 1, 1).unwrap_or_default() {
        return Ok(None);
    }
    Ok(Some(parsed))
}

pub(crate) fn lenient_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Number(number) => number.as_u64().or_else(|| {
            // Some servers send whole numbers as 12.0.
            number
                .as_f64()
                .filter(|float| float.fract() == 0.0 && *float >= 0.0 && *float <= u64::MAX as f64)
                .map(|float| float as u64)
        }),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

pub(crate) fn lenient_flag(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::Number(number) => number.as_f64().map(|n| n != 0.0),
        Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" | "" => Some(false),
            _ => None,
        },
        Value::Null => Some(false),
        _ => None,
    }
}

/// Unwraps `data` of a by-id or by-name answer: an object, or a list with exactly one object
/// (some versions, docs/tanium-api.md). Trailing cache objects are dropped first.
pub fn single_object<'a>(data: &'a Value, path: &'a str) -> Result<Node<'a>, Error> {
    match data {
        Value::Object(_) => Ok(Node::root(data, path)),
        Value::Array(items) => {
            let objects = collection_items(items);
            match objects {
                [one] => Ok(Node { value: one, path }),
                [] => Err(Error::decode(
                    path,
                    "expected one object, found an empty list",
                )),
                many => Err(Error::decode(
                    path,
                    format!("expected one object, found a list of {}", many.len()),
                )),
            }
        }
        other => Err(Error::decode(
            path,
            format!("expected an object, found {}", kind(other)),
        )),
    }
}

/// The real items of a collection answer: trailing cache and statistics objects are dropped.
/// Decided by shape, never by position, because some servers send no cache object at all
/// (docs/tanium-api.md). A trailing item is dropped when it carries `cache_id`, when it lacks the
/// `id` that the first item has, or when it shares no key with the first item (the
/// statistics object of `system_status`, whose items have no `id`).
pub fn collection_items(items: &[Value]) -> &[Value] {
    let Some(first) = items.first().and_then(Value::as_object) else {
        return items;
    };
    let first_has_id = first.contains_key("id");
    let mut end = items.len();
    while end > 1 {
        let last = &items[end - 1];
        let Some(object) = last.as_object() else {
            end -= 1;
            continue;
        };
        let is_trailer = object.contains_key("cache_id")
            || (first_has_id && !object.contains_key("id"))
            || !object.keys().any(|key| first.contains_key(key));
        if !is_trailer {
            break;
        }
        end -= 1;
    }
    if end == 1 && first.contains_key("cache_id") {
        return &items[..0];
    }
    &items[..end]
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 40 {
        let cut: String = text.chars().take(40).collect();
        format!("{cut}...")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_read_from_numbers_strings_and_beyond_32_bits() {
        assert_eq!(lenient_u64(&json!(4267031002u64)), Some(4267031002));
        assert_eq!(lenient_u64(&json!("3891494157")), Some(3891494157));
        assert_eq!(lenient_u64(&json!(12.0)), Some(12));
        assert_eq!(lenient_u64(&json!("x")), None);
        assert_eq!(lenient_u64(&json!(-1)), None);
    }

    #[test]
    fn flags_are_read_from_booleans_and_numbers() {
        assert_eq!(lenient_flag(&json!(true)), Some(true));
        assert_eq!(lenient_flag(&json!(0)), Some(false));
        assert_eq!(lenient_flag(&json!(1)), Some(true));
        assert_eq!(lenient_flag(&json!("1")), Some(true));
        assert_eq!(lenient_flag(&json!("maybe")), None);
    }

    #[test]
    fn never_and_the_null_date_are_not_set() {
        assert_eq!(parse_time("Never"), Ok(None));
        assert_eq!(parse_time("2001-01-01T00:00:00Z"), Ok(None));
        assert_eq!(parse_time("2001-01-01T12:00:00Z"), Ok(None));
        let time = parse_time("2021-07-21T19:00:01Z").ok().flatten();
        assert_eq!(
            time.map(|t| t.to_rfc3339()),
            Some("2021-07-21T19:00:01+00:00".to_owned())
        );
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn trailing_cache_objects_are_dropped_by_shape() {
        let items = vec![
            json!({"id": 1}),
            json!({"id": 2}),
            json!({"send_ok_count": 0}),
            json!({"cache_id": 1}),
        ];
        assert_eq!(collection_items(&items).len(), 2);
        let no_cache = vec![json!({"id": 1}), json!({"id": 2})];
        assert_eq!(collection_items(&no_cache).len(), 2);
    }

    #[test]
    fn by_name_answers_may_be_a_one_item_list() {
        let listed = json!([{"id": 7, "name": "x"}, {"cache_id": 3}]);
        let node = single_object(&listed, "data");
        assert_eq!(node.and_then(|n| n.req_u64("id")).ok(), Some(7));
        let two = json!([{"id": 7}, {"id": 8}]);
        assert!(single_object(&two, "data").is_err());
    }

    #[test]
    fn decode_errors_name_the_path() {
        let value = json!({"saved_action": {"id": "abc"}});
        let root = Node::root(&value, "data");
        let err = root.nested_id("saved_action");
        match err {
            Err(Error::Decode { path, .. }) => assert_eq!(path, "data.saved_action.id"),
            other => panic!("expected a decode error, got {other:?}"),
        }
    }
}
