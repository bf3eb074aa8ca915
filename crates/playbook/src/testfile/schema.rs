//! The JSON Schema (draft-07) of the test file, for editors. Written by hand like the triggers
//! schema: a schema cannot see the playbook under test, so it states the shape and the words,
//! and the validator checks step, output, input and secret names against the playbook.

use serde_json::{Value, json};

use super::sim::ENDPOINT_KEYS;
use super::{ExpectedStatus, ExpectedStepState, REQUEST_METHODS};

const DURATION_PATTERN: &str = "^\\s*[0-9]+(ms|s|m|h|d)\\s*$";

/// The JSON Schema (draft-07) of test file version 1.
pub fn test_file_json_schema() -> Value {
    let share = json!({ "type": "number", "minimum": 0, "maximum": 1 });
    let duration = json!({ "type": "string", "pattern": DURATION_PATTERN });
    let strings = json!({ "type": ["array", "null"], "items": { "type": "string" } });
    let mut endpoint_properties = serde_json::Map::new();
    for key in ENDPOINT_KEYS {
        let schema = match key {
            "online" => json!({ "type": "boolean", "default": true }),
            "logging_level" => json!({ "type": "integer", "minimum": 0, "maximum": 99 }),
            "computer_name" | "ip_address" | "operating_system" | "os_platform" => {
                json!({ "type": "string" })
            }
            _ => strings.clone(),
        };
        endpoint_properties.insert(key.to_owned(), schema);
    }
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "runbook test file (version 1)",
        "description": "Cases that run a playbook against a simulated Tanium and check the outcome. See docs/testing.md.",
        "type": "object",
        "additionalProperties": false,
        "required": ["version", "playbook", "cases"],
        "properties": {
            "version": { "const": 1, "description": "Format version; always 1." },
            "playbook": {
                "type": "string",
                "minLength": 1,
                "description": "The playbook under test, relative to this file."
            },
            "cases": {
                "type": "array",
                "minItems": 1,
                "items": { "$ref": "#/definitions/case" }
            }
        },
        "definitions": {
            "case": {
                "type": "object",
                "additionalProperties": false,
                "required": ["name"],
                "not": { "required": ["sim", "replay"] },
                "properties": {
                    "name": { "type": "string", "minLength": 1, "description": "Unique within the file." },
                    "inputs": {
                        "type": ["object", "null"],
                        "description": "The run's inputs, checked against the playbook's declarations."
                    },
                    "secrets": {
                        "type": ["object", "null"],
                        "additionalProperties": { "type": "string" },
                        "description": "Test values for the secrets the playbook lists."
                    },
                    "sim": { "$ref": "#/definitions/sim" },
                    "replay": {
                        "type": "string",
                        "minLength": 1,
                        "description": "A recording (from `runbook run --record FILE`) answered in order; not with `sim`."
                    },
                    "expect": { "$ref": "#/definitions/expect" }
                }
            },
            "sim": {
                "type": ["object", "null"],
                "additionalProperties": false,
                "properties": {
                    "fleet": {
                        "oneOf": [
                            { "const": "default" },
                            { "type": "array", "minItems": 1, "items": { "$ref": "#/definitions/endpoint" } }
                        ],
                        "description": "`default`, or the endpoints as the simulator's fleet files write them."
                    },
                    "approval": {
                        "oneOf": [
                            {
                                "type": "object",
                                "additionalProperties": false,
                                "required": ["after"],
                                "properties": { "after": duration }
                            },
                            {
                                "type": "object",
                                "additionalProperties": false,
                                "required": ["deny"],
                                "properties": { "deny": { "const": true } }
                            }
                        ],
                        "description": "Approval granted after a delay, or denied; left out, none is needed."
                    },
                    "fail": {
                        "type": ["array", "null"],
                        "items": { "type": "string" },
                        "description": "Computer names of the endpoints whose action ends Failed."
                    },
                    "failure_share": share,
                    "faults": {
                        "type": ["object", "null"],
                        "additionalProperties": false,
                        "properties": {
                            "status_503_share": share,
                            "status_429_share": share,
                            "drop_share": share,
                            "latency": duration
                        }
                    },
                    "time_scale": { "type": "number", "minimum": 0.01, "maximum": 1000000 }
                }
            },
            "endpoint": {
                "type": "object",
                "additionalProperties": false,
                "required": ["computer_name"],
                "properties": endpoint_properties
            },
            "expect": {
                "type": ["object", "null"],
                "additionalProperties": false,
                "properties": {
                    "status": { "enum": ExpectedStatus::ALL.map(ExpectedStatus::as_str) },
                    "error_contains": { "type": "string" },
                    "outputs": {
                        "type": ["object", "null"],
                        "description": "A subset of the run's outputs."
                    },
                    "steps": {
                        "type": ["object", "null"],
                        "additionalProperties": { "enum": ExpectedStepState::ALL.map(ExpectedStepState::as_str) }
                    },
                    "requests": {
                        "type": ["array", "null"],
                        "items": { "$ref": "#/definitions/request" }
                    }
                }
            },
            "request": {
                "type": "object",
                "additionalProperties": false,
                "required": ["method", "path"],
                "properties": {
                    "method": { "enum": REQUEST_METHODS },
                    "path": { "type": "string", "pattern": "^/" },
                    "count": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "Exactly this many; at least one when left out."
                    },
                    "body": { "description": "A subset of the request's JSON body." }
                },
                "if": { "properties": { "method": { "const": "GET" } } },
                "then": { "not": { "required": ["body"] } }
            }
        }
    })
}
