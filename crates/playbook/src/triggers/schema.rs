//! The JSON Schema (draft-07) of the triggers file, for editors. Written by hand like the
//! schedules schema: a schema cannot check a template or a playbook name, so it states the
//! shape and the words, and `runbook triggers validate` does the rest.

use serde_json::{Value, json};

use super::Encoding;

const DURATION_PATTERN: &str = "^\\s*[0-9]+(ms|s|m|h|d)\\s*$";
const ENV_PATTERN: &str = "^[A-Z_][A-Z0-9_]*$";
const HEADER_PATTERN: &str = "^[A-Za-z0-9-]+$";
const TEMPLATE_PATTERN: &str = "\\{[{%]";

/// The JSON Schema (draft-07) of triggers file version 1.
pub fn triggers_json_schema() -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "runbook triggers file (version 1)",
        "description": "Which hooks start which playbook, with which inputs. See docs/triggers.md.",
        "type": "object",
        "additionalProperties": false,
        "required": ["version", "triggers"],
        "properties": {
            "version": { "const": 1, "description": "Format version; always 1." },
            "triggers": {
                "type": ["array", "null"],
                "items": { "$ref": "#/definitions/trigger" }
            }
        },
        "definitions": {
            "trigger": {
                "type": "object",
                "additionalProperties": false,
                "required": ["name", "path", "playbook", "auth"],
                "properties": {
                    "name": {
                        "type": "string",
                        "pattern": "^[a-z0-9][a-z0-9_-]*$",
                        "description": "Unique name."
                    },
                    "path": {
                        "type": "string",
                        "pattern": "^/hooks/[A-Za-z0-9._/-]+$",
                        "description": "Unique path under /hooks/; only POST is answered."
                    },
                    "playbook": {
                        "type": "string",
                        "pattern": "^[a-z0-9][a-z0-9_-]*$",
                        "description": "The `name:` of the playbook the hook starts."
                    },
                    "auth": { "$ref": "#/definitions/auth" },
                    "when": {
                        "type": "string",
                        "pattern": TEMPLATE_PATTERN,
                        "description": "A template over `body` and `headers`; when false the hook answers 202 and starts nothing."
                    },
                    "inputs": {
                        "type": ["object", "null"],
                        "additionalProperties": { "type": ["string", "number", "boolean"] },
                        "description": "Input name to a template over `body` and `headers` (or a constant)."
                    },
                    "dedup": {
                        "type": "string",
                        "pattern": TEMPLATE_PATTERN,
                        "description": "A template over `body` and `headers`: the same key within `dedup_window` returns the first run."
                    },
                    "dedup_window": {
                        "type": "string",
                        "pattern": DURATION_PATTERN,
                        "default": "24h",
                        "description": "How long a dedup key is remembered, from 1s to 30d; only with `dedup`."
                    }
                },
                "dependencies": { "dedup_window": ["dedup"] }
            },
            "auth": {
                "type": "object",
                "additionalProperties": false,
                "minProperties": 1,
                "maxProperties": 1,
                "properties": {
                    "hmac": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["secret_env", "header"],
                        "properties": {
                            "secret_env": {
                                "type": "string",
                                "pattern": ENV_PATTERN,
                                "description": "The environment variable holding the shared secret; never the secret itself."
                            },
                            "header": {
                                "type": "string",
                                "pattern": HEADER_PATTERN,
                                "description": "The header carrying the HMAC-SHA256 of the raw body."
                            },
                            "prefix": {
                                "type": "string",
                                "description": "Written before the signature, like `sha256=`."
                            },
                            "encoding": {
                                "enum": Encoding::ALL.map(Encoding::as_str),
                                "default": "hex"
                            },
                            "timestamp_header": {
                                "type": "string",
                                "pattern": HEADER_PATTERN,
                                "description": "A header with a Unix timestamp; the signature then covers `<timestamp>.<body>`."
                            },
                            "max_skew": {
                                "type": "string",
                                "pattern": DURATION_PATTERN,
                                "default": "5m",
                                "description": "How old a signed timestamp may be, from 1s to 1h; only with `timestamp_header`."
                            }
                        },
                        "dependencies": { "max_skew": ["timestamp_header"] }
                    },
                    "bearer": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": ["token_env"],
                        "properties": {
                            "token_env": {
                                "type": "string",
                                "pattern": ENV_PATTERN,
                                "description": "The environment variable holding the token; never the token itself."
                            }
                        }
                    }
                }
            }
        }
    })
}
