//! What the simulator simulates: the fleet, packages, groups, users, timing and faults.

use std::time::Duration;

use serde::Deserialize;

use crate::SimError;
use crate::question::SensorSource;

/// One managed machine.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// `Computer Name`.
    pub computer_name: String,
    /// `IP Address`.
    pub ip_address: String,
    /// `Operating System`, e.g. `Windows Server 2019 Datacenter`.
    pub operating_system: String,
    /// `OS Platform` (`Windows`, `Linux`, `Mac`); derived from the operating system when
    /// a fleet file leaves it out.
    #[serde(default)]
    pub os_platform: String,
    /// `Custom Tags`.
    #[serde(default)]
    pub custom_tags: Vec<String>,
    /// Offline machines never answer questions nor report action statuses.
    #[serde(default = "online_by_default")]
    pub online: bool,
}

fn online_by_default() -> bool {
    true
}

/// The sensors the simulator knows; question text naming another is a 400 that names it.
pub const SENSORS: &[&str] = &[
    "Computer Name",
    "IP Address",
    "Operating System",
    "OS Platform",
    "Custom Tags",
    "Custom Tag Exists",
    "Is Windows",
    "Is Linux",
    "Is Mac",
];

/// The simulator's spelling of a sensor it knows (names match case-insensitively, trimmed).
pub(crate) fn known_sensor(name: &str) -> Option<&'static str> {
    SENSORS
        .iter()
        .find(|known| known.eq_ignore_ascii_case(name.trim()))
        .copied()
}

/// Tanium's published hash of the `Computer Name` sensor (seen in every recorded result
/// set); the others are stable made-up values above 2^31 like real ones.
pub(crate) fn sensor_hash(sensor: &str) -> u64 {
    match sensor.to_ascii_lowercase().as_str() {
        "computer name" => 3_409_330_187,
        "action statuses" => 1_792_443_391,
        other => 2_147_483_648 + crate::mix(0x5e45_0123, fnv(other)) % 2_000_000_000,
    }
}

/// Sensor ids: `Computer Name` is 3 as in the XSOAR fixture, the others follow.
pub(crate) fn sensor_id(sensor: &str) -> u64 {
    match SENSORS
        .iter()
        .position(|known| known.eq_ignore_ascii_case(sensor.trim()))
    {
        Some(0) => 3,
        Some(index) => 10 + index as u64,
        None => 0,
    }
}

pub(crate) fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Endpoint {
    fn platform(&self) -> &str {
        &self.os_platform
    }

    fn fill_platform(&mut self) {
        if self.os_platform.is_empty() {
            let os = self.operating_system.to_ascii_lowercase();
            self.os_platform = if os.contains("windows") {
                "Windows"
            } else if os.contains("mac") {
                "Mac"
            } else {
                "Linux"
            }
            .to_owned();
        }
    }

    /// The answer a select column shows for this machine (`[no results]` when empty).
    pub(crate) fn column_text(&self, sensor: &str) -> String {
        match self.sensor_values(sensor, &[]) {
            Some(values) if !values.is_empty() => values.join("|"),
            _ => "[no results]".to_owned(),
        }
    }
}

impl SensorSource for Endpoint {
    fn sensor_values(&self, sensor: &str, params: &[String]) -> Option<Vec<String>> {
        let bool_text = |value: bool| vec![if value { "true" } else { "false" }.to_owned()];
        Some(match sensor.to_ascii_lowercase().as_str() {
            "computer name" => vec![self.computer_name.clone()],
            "ip address" => vec![self.ip_address.clone()],
            "operating system" => vec![self.operating_system.clone()],
            "os platform" => vec![self.platform().to_owned()],
            "custom tags" => self.custom_tags.clone(),
            "custom tag exists" => {
                let wanted = params.first().map(String::as_str).unwrap_or_default();
                bool_text(
                    self.custom_tags
                        .iter()
                        .any(|tag| tag.eq_ignore_ascii_case(wanted)),
                )
            }
            "is windows" => bool_text(self.platform() == "Windows"),
            "is linux" => bool_text(self.platform() == "Linux"),
            "is mac" => bool_text(self.platform() == "Mac"),
            _ => return None,
        })
    }
}

/// A package the fleet can run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageDef {
    /// Package id (`package_spec.source_id` in actions).
    pub id: u64,
    /// Unique name, looked up by `packages/by-name/{name}`.
    pub name: String,
    /// The command line, with `$1`.. placeholders.
    pub command: String,
    /// Seconds the command may run.
    pub command_timeout: u64,
    /// Default action lifetime.
    pub expire_seconds: u64,
    /// Non-zero: machines go `Completed` then `Verified`.
    pub verify_group_id: u64,
    /// The JSON *string* Tanium sends (empty for no parameters).
    pub parameter_definition: String,
    /// Content set name.
    pub content_set: String,
}

/// A named filter group (also usable as an action target).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GroupDef {
    /// Group name.
    pub name: String,
    /// Its filter text, as a real server sends it (with a leading space).
    pub text: String,
}

/// A user who can log in and holds an API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDef {
    /// User id (the first field of its login sessions).
    pub id: u64,
    /// Login name.
    pub name: String,
    /// Password for `session/login`.
    pub password: String,
    /// API token `token-<hex>`.
    pub api_token: String,
}

/// Faults to inject into `/api/v2` answers; shares are probabilities in 0..=1 drawn from
/// the seeded generator.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Added (real time) before every answer.
    pub latency: Duration,
    /// Share of requests answered `503 Service Unavailable`.
    pub error_share: f64,
    /// Share of requests answered `429` with `Retry-After: 1`.
    pub rate_limit_share: f64,
    /// Share of requests whose connection is closed without an answer.
    pub drop_share: f64,
    /// Login sessions older than this (sim time) are answered 403.
    pub login_session_ttl: Option<Duration>,
    /// Every API token is refused with 401.
    pub refuse_token: bool,
    /// Share of `POST /actions` that create the action and then cut the connection.
    pub drop_after_create_share: f64,
    /// Added (real time) before a `POST /actions` is processed: the request is in flight
    /// that long, and the action is created at its end.
    pub create_latency: Duration,
}

/// Everything a simulator run needs. `Default` is a few dozen machines, approval off, real
/// time.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The machines.
    pub fleet: Vec<Endpoint>,
    /// The packages.
    pub packages: Vec<PackageDef>,
    /// Named filter groups (`All Computers` and `No Computers` are always there too).
    pub groups: Vec<GroupDef>,
    /// Action groups: a name and the filter text of their members.
    pub action_groups: Vec<GroupDef>,
    /// Users; the first is the default user, the second the approver.
    pub users: Vec<UserDef>,
    /// Actions wait in `Pending` until another user approves them.
    pub approval_required: bool,
    /// A colleague approves pending actions after this much sim time.
    pub auto_approve_after: Option<Duration>,
    /// Simulated seconds per real second.
    pub time_scale: f64,
    /// Share of endpoints whose action ends `Failed`.
    pub failure_share: f64,
    /// Injected faults.
    pub faults: Faults,
    /// Seed of every random choice.
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        let seed = 7;
        SimConfig {
            fleet: default_fleet(),
            packages: default_packages(),
            groups: default_groups(),
            action_groups: default_action_groups(),
            users: default_users(seed),
            approval_required: false,
            auto_approve_after: None,
            time_scale: 1.0,
            failure_share: 0.05,
            faults: Faults::default(),
            seed,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FleetFile {
    endpoints: Vec<Endpoint>,
    #[serde(default)]
    groups: Vec<GroupDef>,
}

impl SimConfig {
    /// The default configuration with the fleet (and extra filter groups) of a YAML file:
    ///
    /// ```yaml
    /// endpoints:
    ///   - computer_name: web-01.corp.example
    ///     ip_address: 10.0.1.1
    ///     operating_system: Ubuntu 22.04
    ///     custom_tags: [Production]
    ///     online: true          # default
    /// groups:
    ///   - name: Web Servers
    ///     text: " Computer Name starts with web"
    /// ```
    pub fn from_yaml_fleet(text: &str) -> Result<SimConfig, SimError> {
        let file: FleetFile =
            serde_saphyr::from_str(text).map_err(|error| SimError::Fleet(error.to_string()))?;
        let mut config = SimConfig::default();
        let mut fleet = file.endpoints;
        for endpoint in &mut fleet {
            if endpoint.computer_name.trim().is_empty() {
                return Err(SimError::Fleet(
                    "an endpoint has an empty computer_name".to_owned(),
                ));
            }
            endpoint.fill_platform();
        }
        config.fleet = fleet;
        config.groups.extend(file.groups);
        Ok(config)
    }

    /// The default configuration with `count` generated machines (names, OSes, tags and
    /// the offline share derived from the seed), for load and scale tests.
    pub fn with_generated_fleet(count: usize) -> SimConfig {
        let mut config = SimConfig::default();
        config.fleet = generated_fleet(count, config.seed);
        config
    }

    /// The default user's API token (what `runbook sim` prints).
    pub fn default_api_token(&self) -> Option<&str> {
        self.users.first().map(|user| user.api_token.as_str())
    }

    pub(crate) fn validate(&self) -> Result<(), SimError> {
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            return Err(SimError::Config(format!(
                "time_scale must be a positive number, not {}",
                self.time_scale
            )));
        }
        if self.users.len() < 2 {
            return Err(SimError::Config(
                "two users are needed: an issuer and an approver".to_owned(),
            ));
        }
        let shares = [
            ("failure_share", self.failure_share),
            ("faults.error_share", self.faults.error_share),
            ("faults.rate_limit_share", self.faults.rate_limit_share),
            ("faults.drop_share", self.faults.drop_share),
            (
                "faults.drop_after_create_share",
                self.faults.drop_after_create_share,
            ),
        ];
        for (name, share) in shares {
            if !(0.0..=1.0).contains(&share) {
                return Err(SimError::Config(format!(
                    "{name} must be within 0..=1, not {share}"
                )));
            }
        }
        Ok(())
    }
}

fn endpoint(name: &str, ip: &str, os: &str, tags: &[&str], online: bool) -> Endpoint {
    let mut endpoint = Endpoint {
        computer_name: name.to_owned(),
        ip_address: ip.to_owned(),
        operating_system: os.to_owned(),
        os_platform: String::new(),
        custom_tags: tags.iter().map(|tag| (*tag).to_owned()).collect(),
        online,
    };
    endpoint.fill_platform();
    endpoint
}

/// Thirty-six machines: Windows servers and laptops, Linux servers with and without dots
/// in their names, Macs; three offline.
fn default_fleet() -> Vec<Endpoint> {
    let mut fleet = vec![
        endpoint(
            "WIN-DC01",
            "10.0.0.10",
            "Windows Server 2019 Datacenter",
            &["Production", "DomainController"],
            true,
        ),
        endpoint(
            "WIN-DC02",
            "10.0.0.11",
            "Windows Server 2019 Datacenter",
            &["Production", "DomainController"],
            true,
        ),
        endpoint(
            "WIN-FS01",
            "10.0.0.20",
            "Windows Server 2022 Standard",
            &["Production", "FileServer"],
            true,
        ),
        endpoint(
            "WIN-SQL01",
            "10.0.0.30",
            "Windows Server 2022 Standard",
            &["Production", "Database"],
            true,
        ),
        endpoint(
            "WIN-APP01",
            "10.0.0.40",
            "Windows Server 2016 Standard",
            &["Staging"],
            true,
        ),
        endpoint(
            "WIN-EXCH01",
            "10.0.0.50",
            "Windows Server 2016 Standard",
            &["Production"],
            false,
        ),
    ];
    for index in 1..=14u32 {
        let os = if index % 3 == 0 {
            "Windows 11 Enterprise"
        } else {
            "Windows 10 Enterprise"
        };
        let tags: &[&str] = match index % 4 {
            0 => &["Finance"],
            1 => &["Sales"],
            2 => &["Engineering"],
            _ => &[],
        };
        fleet.push(endpoint(
            &format!("WIN-LAPTOP-{:04}", 30 + index * 3),
            &format!("10.0.20.{}", 100 + index),
            os,
            tags,
            index != 7,
        ));
    }
    let linux = [
        (
            "web-01.corp.example",
            "10.0.1.11",
            "Ubuntu 22.04",
            &["Production", "Web"][..],
        ),
        (
            "web-02.corp.example",
            "10.0.1.12",
            "Ubuntu 22.04",
            &["Production", "Web"][..],
        ),
        (
            "web-03.corp.example",
            "10.0.1.13",
            "Ubuntu 24.04",
            &["Staging", "Web"][..],
        ),
        (
            "db-01.corp.example",
            "10.0.1.21",
            "Red Hat Enterprise Linux 9",
            &["Production", "Database"][..],
        ),
        (
            "db-02.corp.example",
            "10.0.1.22",
            "Red Hat Enterprise Linux 9",
            &["Production", "Database"][..],
        ),
        ("build-01", "10.0.1.31", "Debian 12", &["CI"][..]),
        ("build-02", "10.0.1.32", "Debian 12", &["CI"][..]),
        (
            "k8s-node-1",
            "10.0.2.1",
            "Ubuntu 22.04",
            &["Production", "Kubernetes"][..],
        ),
        (
            "k8s-node-2",
            "10.0.2.2",
            "Ubuntu 22.04",
            &["Production", "Kubernetes"][..],
        ),
        (
            "k8s-node-3",
            "10.0.2.3",
            "Ubuntu 22.04",
            &["Production", "Kubernetes"][..],
        ),
    ];
    for (name, ip, os, tags) in linux {
        fleet.push(endpoint(name, ip, os, tags, name != "build-02"));
    }
    for (index, os) in [
        (1, "macOS 14"),
        (3, "macOS 14"),
        (4, "macOS 13"),
        (5, "macOS 14"),
        (6, "macOS 13"),
        (7, "macOS 14"),
    ] {
        fleet.push(endpoint(
            &format!("mac-design-{index:02}"),
            &format!("10.0.30.{index}"),
            os,
            &["Design"],
            true,
        ));
    }
    fleet
}

fn generated_fleet(count: usize, seed: u64) -> Vec<Endpoint> {
    const WINDOWS_CLIENT: [&str; 2] = ["Windows 10 Enterprise", "Windows 11 Enterprise"];
    const WINDOWS_SERVER: [&str; 3] = [
        "Windows Server 2016 Standard",
        "Windows Server 2019 Datacenter",
        "Windows Server 2022 Standard",
    ];
    const LINUX: [&str; 3] = ["Ubuntu 22.04", "Red Hat Enterprise Linux 9", "Debian 12"];
    const MAC: [&str; 2] = ["macOS 13", "macOS 14"];
    const TAGS: [&str; 5] = ["Production", "Staging", "Finance", "Engineering", "Design"];
    (0..count)
        .map(|index| {
            let roll = crate::mix(seed, index as u64);
            let pick = |options: &[&'static str]| options[(roll >> 8) as usize % options.len()];
            let (name, os) = match index % 10 {
                0..=5 => (format!("WIN-LAPTOP-{index:06}"), pick(&WINDOWS_CLIENT)),
                6 => (format!("WIN-SRV-{index:06}"), pick(&WINDOWS_SERVER)),
                7 | 8 => (format!("lnx-{index:06}.corp.example"), pick(&LINUX)),
                _ => (format!("mac-{index:06}"), pick(&MAC)),
            };
            let tag = TAGS[(roll >> 16) as usize % TAGS.len()];
            let ip = format!(
                "10.{}.{}.{}",
                (index >> 16) & 255,
                (index >> 8) & 255,
                index & 255
            );
            endpoint(&name, &ip, os, &[tag], roll % 100 >= 3)
        })
        .collect()
}

fn default_groups() -> Vec<GroupDef> {
    let group = |name: &str, text: &str| GroupDef {
        name: name.to_owned(),
        text: text.to_owned(),
    };
    vec![
        group("All Windows", " OS Platform equals Windows"),
        group("All Linux", " OS Platform equals Linux"),
        group("All Mac", " OS Platform equals Mac"),
        group(
            "Windows Servers",
            " Operating System contains \"Windows Server\"",
        ),
        group("Production", " Custom Tags equals Production"),
    ]
}

fn default_action_groups() -> Vec<GroupDef> {
    let group = |name: &str, text: &str| GroupDef {
        name: name.to_owned(),
        text: text.to_owned(),
    };
    vec![
        group("All Computers", " All Computers"),
        // Tanium's built-in Default action group holds only "No Computers".
        group("Default", " No Computers"),
        group("All Windows", " All Windows"),
        group("All Linux", " All Linux"),
    ]
}

fn default_users(seed: u64) -> Vec<UserDef> {
    let token = |user: u64| {
        let mut hex = String::new();
        for part in 0..4 {
            hex.push_str(&format!(
                "{:016x}",
                crate::mix(seed ^ 0x7031_3a4e, user * 8 + part)
            ));
        }
        hex.truncate(58);
        format!("token-{hex}")
    };
    vec![
        UserDef {
            id: 1,
            name: "runbook".to_owned(),
            password: "runbook-sim".to_owned(),
            api_token: token(1),
        },
        UserDef {
            id: 2,
            name: "approver".to_owned(),
            password: "approver-sim".to_owned(),
            api_token: token(2),
        },
    ]
}

fn parameter_definition(parameters: serde_json::Value) -> String {
    serde_json::json!({
        "parameters": parameters,
        "parameterType": "com.tanium.components.parameters::ParametersArray",
        "model": "com.tanium.components.parameters::ParametersArray",
    })
    .to_string()
}

/// The pytan example with one parameter of every input type.
const ALL_PARAMETER_TYPES: &str = include_str!("../data/example_of_all_package_parameters.json");

fn default_packages() -> Vec<PackageDef> {
    let validation = |expression: &str, help: &str| {
        serde_json::json!({
            "expression": expression, "flags": "", "helpString": help,
            "model": "com.tanium.models::ValidationExpression",
            "parameterType": "com.tanium.models::ValidationExpression",
        })
    };
    let tagging = parameter_definition(serde_json::json!([{
        "key": "$1", "label": "Tag", "helpString": "The tag to add",
        "promptText": "Tag", "defaultValue": "", "value": "", "maxChars": 0, "restrict": null,
        "validationExpressions": [validation("\\S", "You must enter a value")],
        "parameterType": "com.tanium.components.parameters::TextInputParameter",
        "model": "com.tanium.components.parameters::TextInputParameter",
    }]));
    // Exactly the string of the seed's `packages/by-name/Set Windows Tanium Client Logging Level`.
    let logging = "{\"parameters\":[{\"maximum\":99,\"key\":\"$1\",\"stepSize\":1,\"label\":\"Log Level (0-99)\",\"helpString\":\"Enter a logging level, 0=no logging, 99=verbose logging\",\"snapInterval\":1,\"defaultValue\":\"1\",\"minimum\":0,\"value\":\"1\",\"parameterType\":\"com.tanium.components.parameters::NumericParameter\",\"model\":\"com.tanium.components.parameters::NumericParameter\"}],\"parameterType\":\"com.tanium.components.parameters::ParametersArray\",\"model\":\"com.tanium.components.parameters::ParametersArray\"}".to_owned();
    let reboot = parameter_definition(serde_json::json!([
        {
            "key": "$1", "label": "Force reboot", "helpString": "Reboot even when users are logged on",
            "promptText": "", "defaultValue": "no", "value": "no", "values": ["yes", "no"],
            "requireSelection": true,
            "parameterType": "com.tanium.components.parameters::DropDownParameter",
            "model": "com.tanium.components.parameters::DropDownParameter",
        },
        {
            "key": "$2", "label": "Delay (seconds)", "helpString": "Seconds to wait before rebooting",
            "minimum": 0, "maximum": 3600, "stepSize": 5, "snapInterval": 5,
            "defaultValue": "30", "value": "30",
            "parameterType": "com.tanium.components.parameters::NumericParameter",
            "model": "com.tanium.components.parameters::NumericParameter",
        },
    ]));
    // Re-serialised compactly: the fixture is pretty-printed, real servers send one line.
    let all_types = serde_json::from_str::<serde_json::Value>(ALL_PARAMETER_TYPES)
        .map(|value| value.to_string())
        .unwrap_or_default();
    let package =
        |id: u64, name: &str, command: &str, verify: u64, definition: String, set: &str| {
            PackageDef {
                id,
                name: name.to_owned(),
                command: command.to_owned(),
                command_timeout: 600,
                expire_seconds: 3600,
                verify_group_id: verify,
                parameter_definition: definition,
                content_set: set.to_owned(),
            }
        };
    let mut logging_package = package(
        15,
        "Set Windows Tanium Client Logging Level",
        "cmd /c reg add \"HKLM\\Software\\Tanium\\Tanium Client\" /v LogVerbosityLevel /t REG_DWORD /d $1 /f",
        0,
        logging,
        "Client Management",
    );
    logging_package.command_timeout = 300;
    logging_package.expire_seconds = 900;
    vec![
        logging_package,
        package(
            173_205,
            "Custom Tagging - Add Tags",
            "cmd.exe /c cscript.exe //E:VBScript //T:60 add-tags.vbs \"$1\"",
            0,
            tagging,
            "Core Content",
        ),
        package(
            240,
            "Reboot Windows Machine",
            "cmd /c cscript //T:3600 reboot.vbs $1 $2",
            0,
            reboot,
            "Client Management",
        ),
        package(
            241,
            "Example All Parameter Types",
            "cmd /c echo $1 $2 $3 $4 $5 $6 $7 $8",
            0,
            all_types,
            "Examples",
        ),
        package(
            242,
            "Apply Windows Security Baseline",
            "cmd /c cscript //T:600 apply-baseline.vbs",
            // Verification against the "All Windows" filter group.
            3,
            String::new(),
            "Security",
        ),
        package(
            243,
            "Collect Diagnostics",
            "cmd /c collect-diagnostics.cmd",
            0,
            String::new(),
            "Core Content",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_fleet_has_dotted_and_plain_names_and_some_offline() {
        let fleet = default_fleet();
        assert!(fleet.len() >= 30);
        assert!(fleet.iter().any(|e| e.computer_name.contains('.')));
        assert!(fleet.iter().any(|e| !e.computer_name.contains('.')));
        assert_eq!(fleet.iter().filter(|e| !e.online).count(), 3);
        for platform in ["Windows", "Linux", "Mac"] {
            assert!(
                fleet.iter().any(|e| e.os_platform == platform),
                "{platform}"
            );
        }
    }

    #[test]
    fn fleet_yaml_fills_platform_and_rejects_unknown_fields() {
        let config = SimConfig::from_yaml_fleet(
            "endpoints:\n  - computer_name: a\n    ip_address: 10.0.0.1\n    operating_system: Windows 10 Enterprise\n    online: false\ngroups:\n  - name: G\n    text: \" Computer Name equals a\"\n",
        )
        .unwrap();
        assert_eq!(config.fleet.len(), 1);
        assert_eq!(config.fleet[0].os_platform, "Windows");
        assert!(!config.fleet[0].online);
        assert!(config.groups.iter().any(|g| g.name == "G"));
        let error =
            SimConfig::from_yaml_fleet("endpoints:\n  - computer_name: a\n    colour: red\n")
                .unwrap_err();
        assert!(error.to_string().contains("colour"), "{error}");
    }

    #[test]
    fn generated_fleet_is_reproducible() {
        let first = generated_fleet(1000, 3);
        assert_eq!(first, generated_fleet(1000, 3));
        let offline = first.iter().filter(|e| !e.online).count();
        assert!((10..60).contains(&offline), "{offline}");
    }

    #[test]
    fn packages_carry_json_string_definitions() {
        for package in default_packages() {
            if !package.parameter_definition.is_empty() {
                let value: serde_json::Value =
                    serde_json::from_str(&package.parameter_definition).unwrap();
                assert!(value["parameters"].is_array(), "{}", package.name);
            }
        }
        let all = default_packages()
            .into_iter()
            .find(|p| p.id == 241)
            .unwrap();
        let value: serde_json::Value = serde_json::from_str(&all.parameter_definition).unwrap();
        assert_eq!(value["parameters"].as_array().unwrap().len(), 8);
    }

    #[test]
    fn tokens_look_like_tanium_tokens() {
        let users = default_users(7);
        assert!(users[0].api_token.starts_with("token-"));
        assert_eq!(users[0].api_token.len(), 64);
        assert_ne!(users[0].api_token, users[1].api_token);
    }
}
