//! The JSON Schema (draft-07) of the playbook format, for editors (YAML language servers read
//! it) and as a second, independent statement of the format. It is written out by hand rather
//! than derived, because the typed model is not what users write: durations are strings,
//! templates may stand where numbers go, and a step's kind is one of its keys.

use serde_json::{Value, json};

use crate::model::{DEFAULT_ACTION_GROUP, InputType, MAX_CLAUSE_VALUES, Operator, STEP_KINDS};

fn duration() -> Value {
    json!({
        "type": "string",
        "pattern": "^[0-9]+(ms|s|m|h|d)$",
        "description": "One number and one unit: 500ms, 30s, 10m, 2h, 1d."
    })
}

fn template() -> Value {
    json!({
        "type": "string",
        "pattern": "\\{[{%#]",
        "description": "A MiniJinja template, quoted: \"{{ expression }}\"."
    })
}

fn condition() -> Value {
    json!({ "anyOf": [ { "type": "boolean" }, template() ] })
}

fn scalar() -> Value {
    json!({ "type": ["string", "number", "integer", "boolean"] })
}

fn integer_or_template(minimum: i64, maximum: Option<i64>) -> Value {
    let mut integer = json!({ "type": "integer", "minimum": minimum });
    if let Some(maximum) = maximum {
        integer["maximum"] = json!(maximum);
    }
    json!({ "anyOf": [ integer, template() ] })
}

fn step_kind(kind: &str, body: Value) -> Value {
    json!({
        "type": "object",
        "required": ["id", kind],
        "properties": { kind: body },
    })
}

/// Step ids, input, secret, output and `set` names that templates read.
const IDENTIFIER: &str = "^[A-Za-z_][A-Za-z0-9_]*$";

/// The JSON Schema (draft-07) of playbook format version 1.
pub fn json_schema() -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "runbook playbook (version 1)",
        "description": "A YAML playbook for runbook: target Tanium endpoints, pick a package, issue an action, wait for approval and results. See docs/playbooks.md.",
        "type": "object",
        "additionalProperties": false,
        "required": ["version", "name", "steps"],
        "properties": top_level_properties(),
        "definitions": {
            "input": input_definition(),
            "clauses": clauses_definition(),
            "step": {
                "type": "object",
                "additionalProperties": false,
                "required": ["id"],
                "properties": step_properties(),
                "oneOf": one_kind_each()
            }
        }
    })
}

/// The top-level keys of a playbook.
fn top_level_properties() -> Value {
    json!({
        "version": { "const": 1 },
        "name": { "type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$" },
        "description": { "type": "string" },
        "inputs": {
            "type": ["object", "null"],
            "propertyNames": { "pattern": IDENTIFIER },
            "additionalProperties": { "$ref": "#/definitions/input" }
        },
        "guard": {
            "type": "object",
            "additionalProperties": false,
            "properties": { "max_endpoints": { "type": "integer", "minimum": 1 } }
        },
        "secrets": {
            "type": "array",
            "items": { "type": "string", "pattern": IDENTIFIER },
            "uniqueItems": true
        },
        "steps": { "type": "array", "minItems": 1, "items": { "$ref": "#/definitions/step" } },
        "on_failure": {
            "description": "Steps run when the main steps failed (not after a cancel); `run.status`, `run.failed_step` and `run.error` are in scope.",
            "type": "array", "minItems": 1, "items": { "$ref": "#/definitions/step" }
        },
        "finally": {
            "description": "Steps run last, after success, failure or a cancel.",
            "type": "array", "minItems": 1, "items": { "$ref": "#/definitions/step" }
        },
        "outputs": {
            "type": "object",
            "propertyNames": { "pattern": IDENTIFIER }
        }
    })
}

/// One input declaration.
fn input_definition() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["type"],
        "properties": {
            "type": { "enum": InputType::ALL.map(InputType::as_str) },
            "description": { "type": "string" },
            "default": {},
            "required": { "type": "boolean" },
            "enum": { "type": "array", "minItems": 1 },
            "pattern": { "type": "string" },
            "minimum": { "type": "number" },
            "maximum": { "type": "number" },
            "secret": { "type": "boolean" }
        }
    })
}

/// The clauses of `target.all` and `target.any` (and of `question.from`): one `value`, or
/// `values` (a list, or one template giving a list) with the operators that take a list.
fn clauses_definition() -> Value {
    let takes_values: Vec<&str> = Operator::ALL
        .into_iter()
        .filter(|op| op.takes_values())
        .map(Operator::as_str)
        .collect();
    json!({
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["sensor", "op"],
            "oneOf": [
                { "required": ["value"], "not": { "required": ["values"] } },
                {
                    "required": ["values"],
                    "not": { "required": ["value"] },
                    "properties": { "op": { "enum": takes_values } }
                }
            ],
            "properties": {
                "sensor": { "type": "string", "not": { "pattern": "\\{[{%#]" } },
                "op": { "enum": Operator::ALL.map(Operator::as_str) },
                "value": scalar(),
                "values": {
                    "description": "Any of these values (for not_equals: none of them); at most 500. A list, or one template that gives a list.",
                    "anyOf": [
                        { "type": "array", "maxItems": MAX_CLAUSE_VALUES, "items": scalar() },
                        template()
                    ]
                },
                "when": condition()
            }
        }
    })
}

/// The keys of a step: those every step has, then each kind's key with a description from the
/// same list the validator uses.
fn step_properties() -> Value {
    let mut properties = json!({
        "id": { "type": "string", "pattern": "^[a-z_][a-z0-9_]*$", "description": "Unique step id, read by later steps as steps.<id>." },
        "name": { "type": "string", "description": "Label for people." },
        "when": condition(),
        "timeout": duration(),
        "retry": {
            "type": "object",
            "additionalProperties": false,
            "required": ["attempts"],
            "properties": {
                "attempts": { "type": "integer", "minimum": 1, "maximum": 100 },
                "backoff": duration()
            }
        },
        "continue_on_error": { "type": "boolean" }
    });
    for (kind, body) in step_kind_bodies() {
        properties[kind] = body;
    }
    for kind in STEP_KINDS {
        properties[kind]["description"] = json!(format!("Step kind `{kind}`."));
    }
    properties
}

/// The value of each step kind's key, in the order of `STEP_KINDS`.
fn step_kind_bodies() -> [(&'static str, Value); 13] {
    [
        ("target", target_step()),
        ("parameterize", parameterize_step()),
        ("issue", issue_step()),
        ("await_approval", await_approval_step()),
        ("poll", poll_step()),
        ("question", question_step()),
        ("stop_action", stop_action_step()),
        ("approve", approve_step()),
        ("assert", assert_step()),
        ("log", scalar()),
        ("set", set_step()),
        ("for_each", for_each_step()),
        ("http", http_step()),
    ]
}

/// `target`: exactly one of `all`/`any` clauses, `filter_group` or raw `text`.
fn target_step() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "minProperties": 1,
        "maxProperties": 1,
        "properties": {
            "all": { "$ref": "#/definitions/clauses" },
            "any": { "$ref": "#/definitions/clauses" },
            "filter_group": scalar(),
            "text": { "type": "string", "not": { "pattern": "\\{[{%#]" }, "description": "Raw targeting text; no templates." }
        }
    })
}

/// `parameterize`: a package by name or id, and its parameters.
fn parameterize_step() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "oneOf": [ { "required": ["package"] }, { "required": ["package_id"] } ],
        "properties": {
            "package": scalar(),
            "package_id": scalar(),
            "params": { "type": ["object", "null"], "additionalProperties": scalar() }
        }
    })
}

/// `issue`: the action to send; never under the `Default` action group.
fn issue_step() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["name", "target", "package", "action_group"],
        "properties": {
            "name": scalar(),
            "target": scalar(),
            "package": scalar(),
            "action_group": { "type": ["string", "integer"], "not": { "enum": [DEFAULT_ACTION_GROUP] } },
            "expire": duration(),
            "distribute": duration(),
            "issue_seconds": { "type": "integer", "minimum": 0 },
            "min_endpoints": { "type": "integer", "minimum": 0, "default": 1 },
            "not_before": action_time("The action's start time in Tanium: endpoints do not run it before."),
            "not_after": action_time("The action's end time in Tanium: it expires then. Not with `expire`."),
            "rollout": rollout()
        },
        "not": { "required": ["expire", "not_after"] }
    })
}

/// `issue.rollout`: a staged rollout in cumulative waves, the last `"100%"`.
fn rollout() -> Value {
    json!({
        "type": "object",
        "description": "Issue the action in cumulative waves (one action per wave) to the endpoints listed when the step starts.",
        "additionalProperties": false,
        "required": ["waves"],
        "properties": {
            "waves": {
                "type": "array",
                "minItems": 1,
                "description": "Cumulative: a number of endpoints or a share of those listed (\"10%\"); the last is \"100%\".",
                "items": {
                    "anyOf": [
                        { "type": "integer", "minimum": 1 },
                        { "type": "string", "pattern": "^\\s*(100|[1-9][0-9]?)\\s*%\\s*$" }
                    ]
                }
            },
            "until_percent": { "type": "integer", "minimum": 0, "maximum": 100, "default": 90 },
            "max_failed_percent": { "type": "integer", "minimum": 0, "maximum": 100, "default": 5 },
            "pause": duration(),
            "interval": duration(),
            "stop_on_abort": { "type": "boolean", "default": true }
        }
    })
}

/// An `issue` time: RFC 3339 with a `Z` or an offset, or a template giving one.
fn action_time(description: &str) -> Value {
    json!({
        "description": description,
        "anyOf": [
            {
                "type": "string",
                "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
            },
            template()
        ]
    })
}

/// `await_approval`: the action to wait for.
fn await_approval_step() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["action"],
        "properties": { "action": scalar(), "timeout": duration(), "interval": duration() }
    })
}

/// `poll`: the action whose results to wait for, and how.
fn poll_step() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["action"],
        "properties": {
            "action": scalar(),
            "expected": integer_or_template(0, None),
            "until_percent": { "type": "integer", "minimum": 1, "maximum": 100, "default": 90 },
            "timeout": duration(),
            "interval": duration(),
            "max_interval": duration(),
            "allow_partial": { "type": "boolean" },
            "max_rows": { "type": "integer", "minimum": 1, "maximum": 1_000_000 }
        }
    })
}

/// `question`: sensors (`get`, with an optional `from` filter) or a saved question, and how
/// long to wait for the answers.
fn question_step() -> Value {
    let sensor_name = json!({ "type": "string", "minLength": 1, "not": { "pattern": "\\{[{%#]" } });
    json!({
        "type": "object",
        "additionalProperties": false,
        "oneOf": [
            { "required": ["get"], "not": { "required": ["saved"] } },
            { "required": ["saved"], "not": { "anyOf": [ { "required": ["get"] }, { "required": ["from"] } ] } }
        ],
        "properties": {
            "get": {
                "type": "array",
                "minItems": 1,
                "description": "Sensors by name, or { sensor, params } for a parameterized sensor.",
                "items": {
                    "anyOf": [
                        sensor_name,
                        {
                            "type": "object",
                            "additionalProperties": false,
                            "required": ["sensor"],
                            "properties": {
                                "sensor": sensor_name,
                                "params": {
                                    "type": ["object", "null"],
                                    "description": "Sensor parameters by key (`path` or `||path||`).",
                                    "propertyNames": { "pattern": "^(\\|\\|)?[^|\\[\\]{}]+(\\|\\|)?$" },
                                    "additionalProperties": scalar()
                                }
                            }
                        }
                    ]
                }
            },
            "from": {
                "type": "object",
                "additionalProperties": false,
                "minProperties": 1,
                "maxProperties": 1,
                "properties": {
                    "all": { "$ref": "#/definitions/clauses" },
                    "any": { "$ref": "#/definitions/clauses" }
                }
            },
            "saved": { "type": ["string", "integer"], "description": "A saved question's name or id." },
            "until_percent": { "type": "integer", "minimum": 1, "maximum": 100, "default": 95 },
            "timeout": duration(),
            "interval": duration(),
            "max_interval": duration(),
            "max_rows": { "type": "integer", "minimum": 1, "maximum": 1_000_000, "default": 1000 }
        }
    })
}

/// `stop_action`: the action to stop.
fn stop_action_step() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["action"],
        "properties": { "action": scalar() }
    })
}

/// `approve`: what is decided, by whom, how many, until when.
fn approve_step() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["summary"],
        "properties": {
            "summary": scalar(),
            "approvers": {
                "type": "array",
                "minItems": 1,
                "items": { "type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$" }
            },
            "required": { "type": "integer", "minimum": 1, "maximum": 20, "default": 1 },
            "timeout": duration()
        }
    })
}

/// `http`: one request (method, URL, headers, a `json` structure or a text `body`), what
/// counts as success and its limits. The hosts it may reach are the operator's to allow.
fn http_step() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["url"],
        "not": { "required": ["json", "body"] },
        "properties": {
            "method": { "enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "get", "post", "put", "patch", "delete"], "default": "GET" },
            "url": {
                "type": "string",
                "pattern": "^(?:[Hh][Tt][Tt][Pp][Ss]?://|\\{[{%])",
                "description": "An absolute http:// or https:// URL; a template."
            },
            "headers": {
                "type": "object",
                "propertyNames": { "pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$" },
                "additionalProperties": { "type": ["string", "number", "boolean"] }
            },
            "json": { "description": "Sent as JSON; its strings are templates." },
            "body": scalar(),
            "content_type": { "type": "string" },
            "expect_status": {
                "oneOf": [
                    { "type": "integer", "minimum": 100, "maximum": 599 },
                    { "type": "array", "minItems": 1, "items": { "type": "integer", "minimum": 100, "maximum": 599 } }
                ],
                "description": "Statuses that succeed; any 2xx by default."
            },
            "timeout": duration(),
            "max_response": {
                "oneOf": [
                    { "type": "integer", "minimum": 1, "maximum": 16777216 },
                    { "type": "string", "pattern": "^\\s*[0-9]+\\s*(B|KB|kB|KiB|MB|MiB)?\\s*$" }
                ],
                "default": "1MiB"
            },
            "resend_on_resume": { "type": "boolean", "default": false }
        }
    })
}

/// `assert`: a condition and a message.
fn assert_step() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["that"],
        "properties": { "that": condition(), "message": scalar() }
    })
}

/// `set`: named values.
fn set_step() -> Value {
    json!({
        "type": "object",
        "minProperties": 1,
        "propertyNames": { "pattern": IDENTIFIER }
    })
}

/// `for_each`: a list (or a template giving one), the item's name, how many at once, the
/// failures tolerated, and the nested steps (which may not hold another loop; the validator
/// says so).
fn for_each_step() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["items", "steps"],
        "properties": {
            "items": {
                "anyOf": [
                    { "type": "array", "maxItems": crate::model::MAX_LOOP_ITEMS },
                    template()
                ]
            },
            "as": { "type": "string", "pattern": "^[a-z_][a-z0-9_]*$", "default": "item" },
            "concurrency": { "type": "integer", "minimum": 1, "maximum": crate::model::MAX_LOOP_CONCURRENCY, "default": 1 },
            "max_failures": { "type": "integer", "minimum": 0, "default": 0 },
            "steps": { "type": "array", "minItems": 1, "items": { "$ref": "#/definitions/step" } }
        }
    })
}

/// Exactly one kind key per step: a branch per kind that requires it and none of the others.
fn one_kind_each() -> Vec<Value> {
    STEP_KINDS
        .iter()
        .map(|kind| {
            let others: Vec<Value> = STEP_KINDS
                .iter()
                .filter(|other| *other != kind)
                .map(|other| json!({ "required": [other] }))
                .collect();
            let mut branch = step_kind(kind, json!({}));
            branch["not"] = json!({ "anyOf": others });
            branch
        })
        .collect()
}
