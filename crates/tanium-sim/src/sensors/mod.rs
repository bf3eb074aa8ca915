//! The sensors the simulator knows: the catalogue (names, ids, hashes, parameter definitions,
//! which answer several values and which are slow), and the sensor object of
//! `GET /api/v2/sensors/by-name/{name}` and `/sensors/{id}`.
//!
//! `values` derives what each endpoint answers, deterministically from the seed and the
//! endpoint (or from the fleet file where it gives values), and the special texts.

pub(crate) mod values;

use serde_json::{Value, json};

use crate::mix;

/// One parameter of a parameterised sensor. Its key travels wrapped in `||` in a question's
/// selects (`{"key": "||path||", "value": "..."}`) and positionally in question text
/// (`File Exists[C:\x.exe]`).
#[derive(Debug)]
pub(crate) struct SensorParam {
    pub key: &'static str,
    pub label: &'static str,
    pub help: &'static str,
}

/// A sensor of the catalogue.
#[derive(Debug)]
pub(crate) struct SensorDef {
    pub name: &'static str,
    pub id: u64,
    pub category: &'static str,
    pub description: &'static str,
    /// Tanium's result type (`String`, `NumericInteger`).
    pub value_type: &'static str,
    /// The column `type` of result data (1 string, 9 integer).
    pub column_type: u64,
    pub params: &'static [SensorParam],
    /// Answers several values per endpoint (several `{"text"}` entries in one cell).
    pub several: bool,
    /// Takes a while on some endpoints: their cell is `[current results unavailable]` for a
    /// few seconds after they answer, and a few endpoints answer it with a `TSE-Error:`.
    pub slow: bool,
}

impl SensorDef {
    /// The sensor's hash: Tanium's published one for `Computer Name` (seen in every recorded
    /// result set), stable made-up values above 2^31 for the others.
    pub(crate) fn hash(&self) -> u64 {
        name_hash(self.name)
    }

    /// The hash of this sensor with parameter values: a parameterised sensor in a question is
    /// a sensor of its own on a real server, with its own hash.
    pub(crate) fn hash_with(&self, params: &[String]) -> u64 {
        if params.is_empty() {
            return self.hash();
        }
        let joined = params.join("\u{1f}");
        2_147_483_648 + mix(self.hash(), fnv(&joined)) % 2_000_000_000
    }

    /// Parameter values in the order of the definition, from `{"key", "value"}` pairs whose
    /// keys are wrapped in `||` (a bare key is accepted too). A key the sensor does not define
    /// is an error naming the keys it has; a missing one is empty.
    pub(crate) fn params_from_keys(
        &self,
        pairs: &[(String, String)],
    ) -> Result<Vec<String>, String> {
        let mut values = vec![String::new(); self.params.len()];
        for (key, value) in pairs {
            let bare = key.trim().trim_start_matches("||").trim_end_matches("||");
            let position = self
                .params
                .iter()
                .position(|param| param.key.eq_ignore_ascii_case(bare))
                .ok_or_else(|| {
                    let known: Vec<String> = self
                        .params
                        .iter()
                        .map(|p| format!("||{}||", p.key))
                        .collect();
                    format!(
                        "sensor '{}' has no parameter '{key}' (it has: {})",
                        self.name,
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    )
                })?;
            values[position] = value.clone();
        }
        Ok(values)
    }

    /// The `parameter_definition` string, as a package's: empty without parameters.
    pub(crate) fn parameter_definition(&self) -> String {
        if self.params.is_empty() {
            return String::new();
        }
        let parameters: Vec<Value> = self
            .params
            .iter()
            .map(|param| {
                json!({
                    "key": param.key, "label": param.label, "helpString": param.help,
                    "promptText": "", "defaultValue": "", "value": "", "maxChars": 0,
                    "restrict": null, "validationExpressions": [],
                    "parameterType": "com.tanium.components.parameters::TextInputParameter",
                    "model": "com.tanium.components.parameters::TextInputParameter",
                })
            })
            .collect();
        json!({
            "parameters": parameters,
            "parameterType": "com.tanium.components.parameters::ParametersArray",
            "model": "com.tanium.components.parameters::ParametersArray",
        })
        .to_string()
    }

    /// The sensor object of `GET /sensors/by-name/{name}` and `/sensors/{id}`, with the
    /// fields of Tanium's sensor object.
    pub(crate) fn json(&self) -> Value {
        let platforms: &[&str] = &["Windows", "Linux", "Mac"];
        let queries: Vec<Value> = platforms
            .iter()
            .map(|platform| {
                let (script_type, script) = if *platform == "Windows" {
                    ("VBScript", format!("' {} (simulated)", self.name))
                } else {
                    ("UnixShell", format!("# {} (simulated)", self.name))
                };
                json!({ "platform": platform, "script": script, "script_type": script_type })
            })
            .collect();
        json!({
            "id": self.id,
            "name": self.name,
            "hash": self.hash(),
            "string_count": 0,
            "category": self.category,
            "description": self.description,
            "source_id": 0,
            "source_hash": 0,
            "parameter_definition": self.parameter_definition(),
            "value_type": self.value_type,
            "max_age_seconds": 900,
            "ignore_case_flag": 1,
            "exclude_from_parse_flag": 0,
            "delimiter": "",
            "creation_time": "2024-01-02T09:00:00Z",
            "modification_time": "2024-01-02T09:00:00Z",
            "last_modified_by": "taniumconsole",
            "preview_sensor_flag": 0,
            "hidden_flag": 0,
            "deleted_flag": 0,
            "cache_row_id": 0,
            "queries": queries,
            "parameters": [],
            "subcolumns": [],
            "string_hints": [],
            "metadata": [],
            "content_set": { "id": 2, "name": if self.id == 3 { "Reserved" } else { "Base" } },
            "mod_user": { "id": 2, "name": "taniumconsole", "domain": "", "display_name": "" },
        })
    }
}

const NO_PARAMS: &[SensorParam] = &[];

/// Every sensor the simulator answers. Ids are stable: `Computer Name` is 3 as in the XSOAR
/// fixture, the others count from 11 in this order.
pub(crate) const CATALOGUE: &[SensorDef] = &[
    plain("Computer Name", 3, "Reserved", "The name of the computer."),
    plain(
        "IP Address",
        11,
        "Network",
        "The IP address of the computer.",
    ),
    plain(
        "Operating System",
        12,
        "Operating System",
        "The name of the operating system.",
    ),
    plain(
        "OS Platform",
        13,
        "Operating System",
        "Windows, Linux or Mac.",
    ),
    SensorDef {
        several: true,
        ..plain(
            "Custom Tags",
            14,
            "Tanium",
            "The custom tags of the computer.",
        )
    },
    SensorDef {
        params: &[SensorParam {
            key: "tag",
            label: "Tag",
            help: "The custom tag to look for",
        }],
        ..plain(
            "Custom Tag Exists",
            15,
            "Tanium",
            "Whether the computer has the tag: true or false.",
        )
    },
    plain(
        "Is Windows",
        16,
        "Operating System",
        "true on Windows, false elsewhere.",
    ),
    plain(
        "Is Linux",
        17,
        "Operating System",
        "true on Linux, false elsewhere.",
    ),
    plain(
        "Is Mac",
        18,
        "Operating System",
        "true on macOS, false elsewhere.",
    ),
    SensorDef {
        several: true,
        slow: true,
        ..plain(
            "Running Processes",
            19,
            "Applications",
            "The names of the running processes.",
        )
    },
    SensorDef {
        several: true,
        slow: true,
        ..plain("Logged In Users", 20, "User", "The users logged in now.")
    },
    SensorDef {
        several: true,
        slow: true,
        ..plain(
            "Installed Applications",
            21,
            "Applications",
            "The installed applications, each as its name and version.",
        )
    },
    SensorDef {
        value_type: "NumericInteger",
        column_type: 9,
        ..plain(
            "Tanium Client Logging Level",
            22,
            "Tanium",
            "The Tanium Client's log verbosity, 0 to 99.",
        )
    },
    SensorDef {
        params: &[SensorParam {
            key: "path",
            label: "Path",
            help: "The full path of the file",
        }],
        slow: true,
        ..plain(
            "File Exists",
            23,
            "File System",
            "\"File Exists: <path>\" when the file is there, \"File does not exist\" when not.",
        )
    },
];

const fn plain(
    name: &'static str,
    id: u64,
    category: &'static str,
    description: &'static str,
) -> SensorDef {
    SensorDef {
        name,
        id,
        category,
        description,
        value_type: "String",
        column_type: 1,
        params: NO_PARAMS,
        several: false,
        slow: false,
    }
}

/// The sensor of this name (case-insensitive, trimmed).
pub(crate) fn by_name(name: &str) -> Option<&'static SensorDef> {
    let wanted = name.trim();
    CATALOGUE
        .iter()
        .find(|sensor| sensor.name.eq_ignore_ascii_case(wanted))
}

pub(crate) fn by_id(id: u64) -> Option<&'static SensorDef> {
    CATALOGUE.iter().find(|sensor| sensor.id == id)
}

pub(crate) fn by_hash(hash: u64) -> Option<&'static SensorDef> {
    CATALOGUE.iter().find(|sensor| sensor.hash() == hash)
}

/// The hash of a sensor name (including `Action Statuses`, which only action results show).
pub(crate) fn name_hash(name: &str) -> u64 {
    match name.trim().to_ascii_lowercase().as_str() {
        "computer name" => 3_409_330_187,
        "action statuses" => 1_792_443_391,
        other => 2_147_483_648 + mix(0x5e45_0123, fnv(other)) % 2_000_000_000,
    }
}

/// The id of a sensor name, 0 for a name the catalogue does not have.
pub(crate) fn name_id(name: &str) -> u64 {
    by_name(name).map_or(0, |sensor| sensor.id)
}

/// FNV-1a: stable from one build to the next, unlike std's hasher.
pub(crate) fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_names_and_hashes_are_unique_and_stable() {
        let mut ids: Vec<u64> = CATALOGUE.iter().map(|s| s.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CATALOGUE.len());
        let mut hashes: Vec<u64> = CATALOGUE.iter().map(SensorDef::hash).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), CATALOGUE.len());
        assert!(hashes.iter().all(|hash| *hash > 1 << 31));
        assert_eq!(by_name(" computer name ").unwrap().hash(), 3_409_330_187);
        assert_eq!(by_name("Computer Name").unwrap().id, 3);
        // The ids and hashes the simulator gave before the catalogue existed.
        assert_eq!(name_id("IP Address"), 11);
        assert_eq!(name_id("Is Mac"), 18);
        assert_eq!(
            by_hash(name_hash("Custom Tags")).unwrap().name,
            "Custom Tags"
        );
        assert_eq!(by_id(23).unwrap().name, "File Exists");
        assert!(by_name("Shoe Size").is_none());
    }

    #[test]
    fn parameters_are_read_by_wrapped_key() {
        let file_exists = by_name("File Exists").unwrap();
        let pairs = vec![("||path||".to_owned(), "C:\\x.exe".to_owned())];
        assert_eq!(
            file_exists.params_from_keys(&pairs).unwrap(),
            vec!["C:\\x.exe"]
        );
        let bare = vec![("Path".to_owned(), "/tmp/x".to_owned())];
        assert_eq!(file_exists.params_from_keys(&bare).unwrap(), vec!["/tmp/x"]);
        let error = file_exists
            .params_from_keys(&[("||dir||".to_owned(), String::new())])
            .unwrap_err();
        assert!(error.contains("||path||"), "{error}");
        assert_ne!(
            file_exists.hash_with(&["a".to_owned()]),
            file_exists.hash_with(&["b".to_owned()])
        );
        let definition: Value = serde_json::from_str(&file_exists.parameter_definition()).unwrap();
        assert_eq!(definition["parameters"][0]["key"], "path");
        assert_eq!(by_name("Computer Name").unwrap().parameter_definition(), "");
    }
}
