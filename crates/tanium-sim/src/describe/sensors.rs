//! The sensors, what the endpoints answer (in short in text, every endpoint's values in JSON)
//! and the saved questions.

use serde_json::{Value, json};

use crate::config::SimConfig;
use crate::config::fleet::EVIL_PATH;
use crate::sensors::values::{self, initial};
use crate::sensors::{self, CATALOGUE};

pub(super) fn describe_sensors() -> Value {
    CATALOGUE
        .iter()
        .map(|sensor| {
            json!({
                "name": sensor.name,
                "id": sensor.id,
                "hash": sensor.hash(),
                "parameters": sensor.params.iter().map(|param| param.key).collect::<Vec<_>>(),
                "several_values": sensor.several,
                "slow": sensor.slow,
                "description": sensor.description,
            })
        })
        .collect()
}

pub(super) fn describe_saved_questions(config: &SimConfig) -> Value {
    config
        .saved_questions
        .iter()
        .map(|saved| {
            json!({
                "id": saved.id,
                "name": saved.name,
                "query_text": saved.query_text,
                "issue_seconds": saved.issue_seconds,
            })
        })
        .collect()
}

/// What each endpoint answers before any action (tags and logging level change with
/// actions), and the notable answers: who runs `evil.exe`, who has the file, the logging
/// levels, the `TSE-Error:`s.
pub(super) fn describe_answers(config: &SimConfig) -> Value {
    let seed = config.seed;
    let sensor = |name: &str| sensors::by_name(name).expect("a sensor of the catalogue");
    let mut endpoints = Vec::new();
    let mut evil = Vec::new();
    let mut evil_file = Vec::new();
    let mut errors = Vec::new();
    let mut levels: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut untagged = Vec::new();
    let mut nobody = Vec::new();
    for endpoint in &config.fleet {
        let now = initial(seed, endpoint);
        let answer = |name: &str| values::answer(seed, endpoint, &now, sensor(name), &[]);
        let processes = answer("Running Processes");
        let name = endpoint.computer_name.clone();
        if processes.iter().any(|p| p.eq_ignore_ascii_case("evil.exe")) {
            evil.push(name.clone());
        }
        if values::file_exists(seed, endpoint, EVIL_PATH) {
            evil_file.push(name.clone());
        }
        for slow in CATALOGUE.iter().filter(|s| s.slow) {
            if let Some(error) = values::tse_error(seed, endpoint, slow) {
                errors.push(json!({ "computer_name": name, "sensor": slow.name, "text": error }));
            }
        }
        if now.tags.is_empty() {
            untagged.push(name.clone());
        }
        let users = answer("Logged In Users");
        if users.is_empty() {
            nobody.push(name.clone());
        }
        levels
            .entry(now.logging_level.clone())
            .or_default()
            .push(name.clone());
        endpoints.push(json!({
            "computer_name": name,
            "online": endpoint.online,
            "running_processes": processes,
            "installed_applications": answer("Installed Applications"),
            "logged_in_users": users,
            "tanium_client_logging_level": now.logging_level,
        }));
    }
    json!({
        "running_evil_exe": evil,
        "evil_file": { "path": EVIL_PATH, "computer_names": evil_file },
        "logging_levels": levels,
        "tse_errors": errors,
        "no_results": { "Custom Tags": untagged, "Logged In Users": nobody },
        "endpoints": endpoints,
    })
}

/// Names, with `(offline)` after those that never answer.
fn names_text(config: &Value, names: &Value) -> String {
    let offline: Vec<&str> = config["fleet"]["endpoints"]
        .as_array()
        .map(|endpoints| {
            endpoints
                .iter()
                .filter(|e| e["online"] == false)
                .filter_map(|e| e["computer_name"].as_str())
                .collect()
        })
        .unwrap_or_default();
    let list: Vec<String> = names
        .as_array()
        .map(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .map(|name| {
                    if offline.contains(&name) {
                        format!("{name} (offline)")
                    } else {
                        name.to_owned()
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(", ")
    }
}

/// The sensors, the notable answers and the saved questions, as text.
pub(super) fn sensors_text(world: &Value) -> String {
    let names: Vec<&str> = CATALOGUE.iter().map(|sensor| sensor.name).collect();
    let mut out = format!("\nSensors: {}\n", names.join(", "));
    let list = |keep: &dyn Fn(&sensors::SensorDef) -> bool| -> String {
        CATALOGUE
            .iter()
            .filter(|sensor| keep(sensor))
            .map(|sensor| {
                let keys: Vec<&str> = sensor.params.iter().map(|param| param.key).collect();
                if keys.is_empty() {
                    sensor.name.to_owned()
                } else {
                    format!("{}[{}]", sensor.name, keys.join(","))
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push_str(&format!(
        "  with a parameter: {}\n",
        list(&|s| !s.params.is_empty())
    ));
    out.push_str(&format!(
        "  several values per endpoint: {}\n",
        list(&|s| s.several)
    ));
    out.push_str(&format!(
        "  slow ({} for a few seconds on some endpoints): {}\n",
        values::UNAVAILABLE,
        list(&|s| s.slow)
    ));
    let answers = &world["answers"];
    out.push_str("\nAnswers (before any action; tags and logging levels change with actions):\n");
    out.push_str(&format!(
        "  Running Processes has evil.exe on: {}\n",
        names_text(world, &answers["running_evil_exe"])
    ));
    out.push_str(&format!(
        "  File Exists[{}] on: {}\n",
        EVIL_PATH,
        names_text(world, &answers["evil_file"]["computer_names"])
    ));
    if let Some(levels) = answers["logging_levels"].as_object() {
        let mut parts: Vec<String> = Vec::new();
        for (level, names) in levels {
            let count = names.as_array().map_or(0, Vec::len);
            if count > 5 {
                parts.push(format!("{level} on {count} endpoints"));
            } else {
                parts.push(format!("{level} on {}", names_text(world, names)));
            }
        }
        out.push_str(&format!(
            "  Tanium Client Logging Level: {}\n",
            parts.join("; ")
        ));
    }
    let count = |names: &Value| names.as_array().map_or(0, Vec::len);
    out.push_str(&format!(
        "  {}: Custom Tags on {} untagged endpoints, Logged In Users on {} endpoints nobody is logged in to\n",
        values::NO_RESULTS,
        count(&answers["no_results"]["Custom Tags"]),
        count(&answers["no_results"]["Logged In Users"]),
    ));
    let errors: Vec<String> = answers["tse_errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    format!(
                        "{} ({})",
                        e["computer_name"].as_str().unwrap_or_default(),
                        e["sensor"].as_str().unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.push_str(&format!(
        "  TSE-Error: {}\n",
        if errors.is_empty() {
            "none".to_owned()
        } else {
            errors.join(", ")
        }
    ));
    out.push_str("\nSaved questions:\n");
    for saved in world["saved_questions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        out.push_str(&format!(
            "  {} (id {}, asked every {} s): {}\n",
            saved["name"].as_str().unwrap_or_default(),
            saved["id"],
            saved["issue_seconds"],
            saved["query_text"].as_str().unwrap_or_default()
        ));
    }
    out
}
