//! What the simulator simulates: the fleet, packages, groups, users, timing and faults.

use std::time::Duration;

use serde::Deserialize;

mod defaults;
pub(crate) mod fleet;

use crate::SimError;
use crate::question::SensorSource;

use defaults::{
    default_action_groups, default_groups, default_packages, default_saved_questions, default_users,
};
use fleet::{default_fleet, generated_fleet};

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
    /// `Custom Tags` before any action changes them.
    #[serde(default)]
    pub custom_tags: Vec<String>,
    /// Offline machines never answer questions nor report action statuses.
    #[serde(default = "online_by_default")]
    pub online: bool,
    /// `Running Processes`; when left out, derived from the platform, the tags and the seed.
    #[serde(default)]
    pub running_processes: Option<Vec<String>>,
    /// `Installed Applications` (name and version); derived when left out.
    #[serde(default)]
    pub installed_applications: Option<Vec<String>>,
    /// `Logged In Users`; derived when left out.
    #[serde(default)]
    pub logged_in_users: Option<Vec<String>>,
    /// `Tanium Client Logging Level` (0 to 99) before any action sets it; derived when left
    /// out (1 on most endpoints).
    #[serde(default)]
    pub logging_level: Option<u32>,
    /// Paths `File Exists[path]` finds, besides the platform's standard files.
    #[serde(default)]
    pub files: Vec<String>,
}

fn online_by_default() -> bool {
    true
}

impl Endpoint {
    fn platform(&self) -> &str {
        &self.os_platform
    }

    pub(crate) fn fill_platform(&mut self) {
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
}

/// The endpoint's own answers to the sensors that need neither the seed nor the time (its
/// name, address, system, platform and tags as configured). Inside the simulator, questions
/// and groups read endpoints through the world at a time instead, where actions have changed
/// tags and every sensor answers.
impl SensorSource for Endpoint {
    fn sensor_values(&self, sensor: &str, params: &[String]) -> Option<Vec<String>> {
        let bool_text = |value: bool| vec![if value { "true" } else { "false" }.to_owned()];
        Some(match sensor.trim().to_ascii_lowercase().as_str() {
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

/// What an action of a package changes on each endpoint where it completes, so that a
/// question asked afterwards shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageEffect {
    /// Adds the tag `$1` to `Custom Tags` (if not there, ignoring case).
    AddTag,
    /// Removes the tag `$1` from `Custom Tags` (ignoring case).
    RemoveTag,
    /// Sets `Tanium Client Logging Level` to `$1`.
    SetLoggingLevel,
}

impl PackageEffect {
    /// What it does, in words (`runbook sim --describe`).
    pub fn describe(self) -> &'static str {
        match self {
            PackageEffect::AddTag => "adds the tag $1 to Custom Tags",
            PackageEffect::RemoveTag => "removes the tag $1 from Custom Tags",
            PackageEffect::SetLoggingLevel => "sets Tanium Client Logging Level to $1",
        }
    }
}

/// A saved question: a question the server asks again every `issue_seconds`;
/// `result_data/saved_question/{id}` answers its latest issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedQuestionDef {
    /// Saved question id.
    pub id: u64,
    /// Unique name, looked up by `saved_questions/by-name/{name}`.
    pub name: String,
    /// The question, in Tanium's question grammar.
    pub query_text: String,
    /// How often it is asked again (simulated seconds).
    pub issue_seconds: u64,
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
    /// What it changes where it completes, if anything.
    pub effect: Option<PackageEffect>,
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
    /// Saved questions.
    pub saved_questions: Vec<SavedQuestionDef>,
    /// Actions wait in `Pending` until another user approves them.
    pub approval_required: bool,
    /// A colleague approves pending actions after this much sim time.
    pub auto_approve_after: Option<Duration>,
    /// A colleague denies actions still pending approval this much sim time after they were
    /// created: a denied action never runs and reads back as stopped (`status` `Stopped`,
    /// `stopped_flag` true). With `auto_approve_after` too, whichever comes first wins (the
    /// approval, when both fall at once).
    pub auto_deny_after: Option<Duration>,
    /// Simulated seconds per real second.
    pub time_scale: f64,
    /// Share of endpoints whose action ends `Failed`.
    pub failure_share: f64,
    /// Endpoints (by `Computer Name`, ignoring case) whose action always ends `Failed`;
    /// `failure_share` still applies to the others.
    pub failing_endpoints: Vec<String>,
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
            saved_questions: default_saved_questions(),
            approval_required: false,
            auto_approve_after: None,
            auto_deny_after: None,
            time_scale: 1.0,
            failure_share: 0.05,
            failing_endpoints: Vec::new(),
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
    ///     running_processes: [systemd, sshd, nginx]   # optional, as the other sensors:
    ///     installed_applications: [nginx 1.24.0]      # left out, they are derived
    ///     logged_in_users: [deploy]
    ///     logging_level: 1
    ///     files: [/opt/app/config.yaml]               # File Exists finds these
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
            if let Some(level) = endpoint.logging_level.filter(|level| *level > 99) {
                return Err(SimError::Fleet(format!(
                    "endpoint {}: logging_level must be within 0..=99, not {level}",
                    endpoint.computer_name
                )));
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
    fn fleet_yaml_gives_sensor_values_and_checks_the_logging_level() {
        let config = SimConfig::from_yaml_fleet(
            "endpoints:\n  - computer_name: lab-01\n    ip_address: 10.9.0.1\n    operating_system: Debian 12\n    running_processes: [systemd, evil.exe]\n    logged_in_users: []\n    logging_level: 41\n    files: [/opt/x]\n",
        )
        .unwrap();
        let endpoint = &config.fleet[0];
        assert_eq!(
            endpoint.running_processes.as_deref(),
            Some(&["systemd".to_owned(), "evil.exe".to_owned()][..])
        );
        assert_eq!(endpoint.logged_in_users.as_deref(), Some(&[][..]));
        assert_eq!(endpoint.installed_applications, None);
        assert_eq!(endpoint.logging_level, Some(41));
        assert_eq!(endpoint.files, vec!["/opt/x"]);
        let error = SimConfig::from_yaml_fleet(
            "endpoints:\n  - computer_name: a\n    ip_address: 10.0.0.1\n    operating_system: Debian 12\n    logging_level: 100\n",
        )
        .unwrap_err();
        assert!(error.to_string().contains("logging_level"), "{error}");
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
