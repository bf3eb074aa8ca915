//! What the simulator simulates, as data: its fleet, sensors (and what endpoints answer),
//! saved questions, packages with their parameters and effects, groups, action groups, users
//! (who issues, who approves), timing and faults. `runbook sim --describe` prints it, and
//! `GET /sim/fleet` serves it. `sensors` describes the sensors, the answers and the saved
//! questions.

mod sensors;

use serde_json::{Value, json};

use crate::config::{Endpoint, PackageDef, SimConfig};

impl SimConfig {
    /// The simulator's world as JSON (the body of `GET /sim/fleet`).
    pub fn describe(&self) -> Value {
        let mut world = self.describe_identity();
        world["sensors"] = sensors::describe_sensors();
        world["answers"] = sensors::describe_answers(self);
        world["saved_questions"] = sensors::describe_saved_questions(self);
        world["approval"] = json!({
            "required": self.approval_required,
            "auto_approve_after_seconds": self.auto_approve_after.map(|after| after.as_secs()),
            "auto_deny_after_seconds": self.auto_deny_after.map(|after| after.as_secs()),
        });
        world["time_scale"] = json!(self.time_scale);
        world["failure_share"] = json!(self.failure_share);
        world["failing_endpoints"] = json!(self.failing_endpoints);
        world["faults"] = json!({
            "latency_ms": self.faults.latency.as_millis() as u64,
            "error_503_share": self.faults.error_share,
            "rate_limit_429_share": self.faults.rate_limit_share,
            "drop_share": self.faults.drop_share,
            "cut_after_create_share": self.faults.drop_after_create_share,
            "create_latency_ms": self.faults.create_latency.as_millis() as u64,
            "session_ttl_seconds": self.faults.login_session_ttl.map(|ttl| ttl.as_secs()),
            "refuse_token": self.faults.refuse_token,
        });
        world
    }

    /// What makes this world this world (the state file's fingerprint): its fleet, packages,
    /// groups, action groups, users and seed.
    pub(crate) fn describe_identity(&self) -> Value {
        let online = self.fleet.iter().filter(|endpoint| endpoint.online).count();
        let fleet: Vec<Value> = self.fleet.iter().map(describe_endpoint).collect();
        let group = |group: &crate::config::GroupDef| json!({ "name": group.name, "text": group.text.trim() });
        let users: Vec<Value> = self
            .users
            .iter()
            .enumerate()
            .map(|(index, user)| {
                let role = match index {
                    0 => "issues actions (the default user: `runbook sim` prints its token)",
                    1 => "approves actions (POST /api/v2/saved_action_approvals with its token)",
                    _ => "can log in",
                };
                json!({
                    "id": user.id,
                    "name": user.name,
                    "password": user.password,
                    "api_token": user.api_token,
                    "role": role,
                })
            })
            .collect();
        json!({
            "fleet": {
                "size": self.fleet.len(),
                "online": online,
                "offline": self.fleet.len() - online,
                "endpoints": fleet,
            },
            "packages": self.packages.iter().map(describe_package).collect::<Vec<_>>(),
            "groups": self.groups.iter().map(group).collect::<Vec<_>>(),
            "action_groups": self.action_groups.iter().map(group).collect::<Vec<_>>(),
            "users": users,
            "seed": self.seed,
        })
    }

    /// The simulator's world as text, for a person (`runbook sim --describe`).
    pub fn describe_text(&self) -> String {
        let world = self.describe();
        let mut out = String::new();
        let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
        let fleet = &world["fleet"];
        out.push_str(&format!(
            "Fleet: {} endpoints, {} online, {} offline\n",
            fleet["size"], fleet["online"], fleet["offline"]
        ));
        let endpoints = fleet["endpoints"].as_array().cloned().unwrap_or_default();
        let width = endpoints
            .iter()
            .map(|endpoint| text(&endpoint["computer_name"]).len())
            .max()
            .unwrap_or(0);
        for endpoint in &endpoints {
            let tags: Vec<String> = endpoint["custom_tags"]
                .as_array()
                .map(|tags| tags.iter().map(text).collect())
                .unwrap_or_default();
            out.push_str(&format!(
                "  {:width$}  {:13} {:8} {:32} {:7} {}\n",
                text(&endpoint["computer_name"]),
                text(&endpoint["ip_address"]),
                text(&endpoint["os_platform"]),
                text(&endpoint["operating_system"]),
                if endpoint["online"].as_bool() == Some(true) {
                    "online"
                } else {
                    "offline"
                },
                tags.join(", "),
            ));
        }
        out.push_str(&sensors::sensors_text(&world));
        out.push_str("\nPackages:\n");
        for package in world["packages"].as_array().cloned().unwrap_or_default() {
            out.push_str(&format!(
                "  {} (id {}, content set {})\n",
                text(&package["name"]),
                package["id"],
                text(&package["content_set"])
            ));
            if let Some(effect) = package["effect"].as_str() {
                out.push_str(&format!("    where it completes: {effect}\n"));
            }
            let parameters = package["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if parameters.is_empty() {
                out.push_str("    no parameters\n");
            }
            for parameter in parameters {
                let mut line = format!(
                    "    {} {:?} {}",
                    text(&parameter["key"]),
                    text(&parameter["label"]),
                    text(&parameter["type"])
                );
                if let Some(default) = parameter["default"].as_str().filter(|d| !d.is_empty()) {
                    line.push_str(&format!(", default {default:?}"));
                }
                let values: Vec<String> = parameter["values"]
                    .as_array()
                    .map(|values| values.iter().map(text).filter(|v| !v.is_empty()).collect())
                    .unwrap_or_default();
                if !values.is_empty() {
                    line.push_str(&format!(", one of {}", values.join(" | ")));
                }
                if !parameter["minimum"].is_null() || !parameter["maximum"].is_null() {
                    line.push_str(&format!(
                        ", {} to {}",
                        parameter["minimum"], parameter["maximum"]
                    ));
                }
                out.push_str(&line);
                out.push('\n');
            }
        }
        for (title, key) in [("Groups", "groups"), ("Action groups", "action_groups")] {
            out.push_str(&format!("\n{title}:\n"));
            for group in world[key].as_array().cloned().unwrap_or_default() {
                out.push_str(&format!(
                    "  {}: {}\n",
                    text(&group["name"]),
                    text(&group["text"])
                ));
            }
        }
        out.push_str("\nUsers:\n");
        for user in world["users"].as_array().cloned().unwrap_or_default() {
            out.push_str(&format!(
                "  {} (id {}, password {}, token {}): {}\n",
                text(&user["name"]),
                user["id"],
                text(&user["password"]),
                text(&user["api_token"]),
                text(&user["role"])
            ));
        }
        let approval = &world["approval"];
        out.push_str(&format!(
            "\nApproval: {}\n",
            match (
                approval["required"].as_bool(),
                approval["auto_approve_after_seconds"].as_u64()
            ) {
                (Some(true), Some(after)) => format!(
                    "required; a simulated colleague approves after {after} simulated seconds"
                ),
                (Some(true), None) => "required; only the approver approves".to_owned(),
                _ => "not required (actions start at once)".to_owned(),
            }
        ));
        if approval["required"].as_bool() == Some(true)
            && let Some(after) = approval["auto_deny_after_seconds"].as_u64()
        {
            out.push_str(&format!(
                "Denial: the simulated approver denies an action still pending {after} simulated seconds after it was created (it never runs, and reads back Stopped)\n"
            ));
        }
        out.push_str(&format!(
            "Time scale: {} simulated seconds per real second\n",
            world["time_scale"]
        ));
        out.push_str(&format!(
            "Failure share: {} of endpoints end an action Failed\n",
            world["failure_share"]
        ));
        let failing: Vec<String> = world["failing_endpoints"]
            .as_array()
            .map(|names| names.iter().map(text).collect())
            .unwrap_or_default();
        if !failing.is_empty() {
            out.push_str(&format!(
                "Failing endpoints: an action ends Failed on {}\n",
                failing.join(", ")
            ));
        }
        let faults = &world["faults"];
        out.push_str(&format!(
            "Faults: latency {} ms, 503 share {}, 429 share {}, drop share {}, cut after create share {}, create latency {} ms, session ttl {}, refuse token {}\n",
            faults["latency_ms"],
            faults["error_503_share"],
            faults["rate_limit_429_share"],
            faults["drop_share"],
            faults["cut_after_create_share"],
            faults["create_latency_ms"],
            faults["session_ttl_seconds"]
                .as_u64()
                .map_or_else(|| "none".to_owned(), |ttl| format!("{ttl} s")),
            faults["refuse_token"],
        ));
        out
    }
}

/// An endpoint as the fleet file gives it: the sensor values it may give appear only when
/// given (the others are derived; `answers` shows them).
fn describe_endpoint(endpoint: &Endpoint) -> Value {
    let mut out = json!({
        "computer_name": endpoint.computer_name,
        "ip_address": endpoint.ip_address,
        "operating_system": endpoint.operating_system,
        "os_platform": endpoint.os_platform,
        "custom_tags": endpoint.custom_tags,
        "online": endpoint.online,
    });
    let given = [
        ("running_processes", &endpoint.running_processes),
        ("installed_applications", &endpoint.installed_applications),
        ("logged_in_users", &endpoint.logged_in_users),
    ];
    for (key, values) in given {
        if let Some(values) = values {
            out[key] = json!(values);
        }
    }
    if let Some(level) = endpoint.logging_level {
        out["logging_level"] = json!(level);
    }
    if !endpoint.files.is_empty() {
        out["files"] = json!(endpoint.files);
    }
    out
}

/// A package with its parameters decoded from Tanium's parameter definition string.
fn describe_package(package: &PackageDef) -> Value {
    let definition: Value = if package.parameter_definition.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&package.parameter_definition).unwrap_or(Value::Null)
    };
    let parameters: Vec<Value> = definition["parameters"]
        .as_array()
        .map(|parameters| {
            parameters
                .iter()
                .map(|parameter| {
                    let kind = parameter["parameterType"]
                        .as_str()
                        .and_then(|kind| kind.rsplit("::").next())
                        .unwrap_or_default();
                    let mut out = json!({
                        "key": parameter["key"],
                        "label": parameter["label"],
                        "type": kind,
                        "default": parameter["defaultValue"],
                    });
                    for field in ["values", "minimum", "maximum"] {
                        if !parameter[field].is_null() {
                            out[field] = parameter[field].clone();
                        }
                    }
                    out
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = json!({
        "id": package.id,
        "name": package.name,
        "command": package.command,
        "content_set": package.content_set,
        "verify_group_id": package.verify_group_id,
        "parameters": parameters,
    });
    if let Some(effect) = package.effect {
        out["effect"] = json!(effect.describe());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_the_default_world() {
        let config = SimConfig::default();
        let world = config.describe();
        assert_eq!(world["fleet"]["size"], config.fleet.len());
        let logging = world["packages"]
            .as_array()
            .and_then(|packages| packages.iter().find(|package| package["id"] == 15))
            .cloned()
            .unwrap_or_default();
        assert_eq!(logging["parameters"][0]["type"], "NumericParameter");
        assert_eq!(world["users"][1]["name"], "approver");
        let text = config.describe_text();
        for expected in [
            "Sensors: Computer Name, IP Address",
            "with a parameter: Custom Tag Exists[tag], File Exists[path]",
            "Running Processes has evil.exe on: WIN-APP01, WIN-LAPTOP-0042, WIN-LAPTOP-0051 (offline)",
            "Hosts Running Evil (id 1001, asked every 600 s)",
            "where it completes: removes the tag $1 from Custom Tags",
            "[no results]: Custom Tags on",
        ] {
            assert!(text.contains(expected), "{expected}\n{text}");
        }
        assert_eq!(world["sensors"][13]["parameters"][0], "path");
        assert_eq!(
            world["answers"]["endpoints"].as_array().unwrap().len(),
            config.fleet.len()
        );
        assert!(text.contains("WIN-DC01"), "{text}");
        assert!(text.contains("approver"), "{text}");
        assert!(!text.contains("Denial:"), "{text}");
        assert!(!text.contains("Failing endpoints:"), "{text}");
    }

    #[test]
    fn describes_the_denial_and_the_failing_endpoints() {
        let config = SimConfig {
            approval_required: true,
            auto_approve_after: Some(std::time::Duration::from_secs(120)),
            auto_deny_after: Some(std::time::Duration::from_secs(60)),
            failing_endpoints: vec!["WIN-DC01".to_owned(), "web-01".to_owned()],
            ..SimConfig::default()
        };
        let world = config.describe();
        assert_eq!(world["approval"]["auto_deny_after_seconds"], 60);
        assert_eq!(world["failing_endpoints"][1], "web-01");
        let text = config.describe_text();
        for expected in [
            "a simulated colleague approves after 120 simulated seconds",
            "Denial: the simulated approver denies an action still pending 60 simulated seconds",
            "Failing endpoints: an action ends Failed on WIN-DC01, web-01",
        ] {
            assert!(text.contains(expected), "{expected}\n{text}");
        }
    }
}
