//! The JSON Schema (draft-07) of the schedules file, for editors. Written by hand like the
//! playbook schema: a schema cannot check a cron line or a playbook path, so it states the
//! shape and the words, and `runbook schedules validate` does the rest.

use serde_json::{Value, json};

use super::cron::NICKNAMES;
use super::{CatchUp, Overlap};

/// The JSON Schema (draft-07) of schedules file version 1.
pub fn schedules_json_schema() -> Value {
    let nicknames: Vec<&str> = NICKNAMES
        .iter()
        .map(|(nickname, _)| nickname.trim_start_matches('@'))
        .collect();
    let cron_pattern = format!(
        "^\\s*(@({})|\\S+(\\s+\\S+){{4,5}})\\s*$",
        nicknames.join("|")
    );
    let zones: Vec<&str> = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|zone| zone.name())
        .collect();
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "runbook schedules file (version 1)",
        "description": "When `runbook serve` runs which playbook, with which inputs. See docs/schedules.md.",
        "type": "object",
        "additionalProperties": false,
        "required": ["version", "schedules"],
        "properties": {
            "version": { "const": 1, "description": "Format version; always 1." },
            "schedules": {
                "type": ["array", "null"],
                "items": { "$ref": "#/definitions/schedule" }
            }
        },
        "definitions": {
            "schedule": {
                "type": "object",
                "additionalProperties": false,
                "required": ["name", "playbook", "cron"],
                "properties": {
                    "name": {
                        "type": "string",
                        "pattern": "^[a-z0-9][a-z0-9_-]*$",
                        "description": "Unique name; part of every firing key."
                    },
                    "playbook": {
                        "type": "string",
                        "minLength": 1,
                        "description": "Path of the playbook, relative to the schedules file's folder."
                    },
                    "cron": {
                        "type": "string",
                        "pattern": cron_pattern,
                        "description": "Five fields (minute hour day-of-month month day-of-week), six with seconds first, or @hourly, @daily, @weekly, @monthly, @yearly."
                    },
                    "timezone": {
                        "enum": zones,
                        "default": "UTC",
                        "description": "IANA time zone the cron line is read in."
                    },
                    "inputs": {
                        "type": ["object", "null"],
                        "description": "Inputs given to every run; checked against the playbook's declarations."
                    },
                    "overlap": {
                        "enum": Overlap::ALL.map(Overlap::as_str),
                        "default": "skip",
                        "description": "When the previous run is still going: skip this firing, queue it, or allow both."
                    },
                    "catch_up": {
                        "enum": CatchUp::ALL.map(CatchUp::as_str),
                        "default": "none",
                        "description": "After downtime: drop missed firings, or run once for the latest."
                    },
                    "enabled": { "type": "boolean", "default": true }
                }
            }
        }
    })
}
