//! What each endpoint answers, derived from the seed and the endpoint: every value is a pure
//! function of (seed, computer name, platform, tags, sensor, parameters), so two simulators
//! of the same world answer alike. A fleet file may give some values instead
//! (`running_processes`, `installed_applications`, `logged_in_users`, `logging_level`,
//! `files`); then those are the answers, exactly.
//!
//! Special texts: `[no results]` for a sensor with nothing to say (no tags, nobody logged
//! in), `TSE-Error: ...` for the few endpoints whose slow sensors fail (a stable choice per
//! endpoint and sensor), and `[current results unavailable]` for a slow sensor an endpoint
//! has not finished yet (for a few seconds after it answered a question).

use super::SensorDef;
use super::fnv;
use crate::config::Endpoint;
use crate::{mix, unit};

pub(crate) const NO_RESULTS: &str = "[no results]";
pub(crate) const UNAVAILABLE: &str = "[current results unavailable]";

/// What an endpoint looks like now, as far as actions can change it: its tags and the Tanium
/// Client's logging level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mutable {
    pub tags: Vec<String>,
    pub logging_level: String,
}

/// The endpoint's own hash: what every generated value is drawn from.
fn identity(seed: u64, endpoint: &Endpoint) -> u64 {
    mix(seed, fnv(&endpoint.computer_name.to_ascii_lowercase()))
}

fn has_tag(endpoint: &Endpoint, tag: &str) -> bool {
    endpoint
        .custom_tags
        .iter()
        .any(|t| t.eq_ignore_ascii_case(tag))
}

fn is_server(endpoint: &Endpoint) -> bool {
    endpoint.operating_system.contains("Server")
}

/// The answers of `sensor` (with `params`, positional) on `endpoint`, given its mutable part,
/// before special texts: an empty list is `[no results]`.
pub(crate) fn answer(
    seed: u64,
    endpoint: &Endpoint,
    now: &Mutable,
    sensor: &SensorDef,
    params: &[String],
) -> Vec<String> {
    let platform = endpoint.os_platform.as_str();
    let truth = |value: bool| vec![if value { "true" } else { "false" }.to_owned()];
    match sensor.id {
        3 => vec![endpoint.computer_name.clone()],
        11 => vec![endpoint.ip_address.clone()],
        12 => vec![endpoint.operating_system.clone()],
        13 => vec![platform.to_owned()],
        14 => now.tags.clone(),
        15 => {
            let wanted = params.first().map(|tag| tag.trim()).unwrap_or_default();
            truth(now.tags.iter().any(|tag| tag.eq_ignore_ascii_case(wanted)))
        }
        16 => truth(platform == "Windows"),
        17 => truth(platform == "Linux"),
        18 => truth(platform == "Mac"),
        19 => endpoint
            .running_processes
            .clone()
            .unwrap_or_else(|| running_processes(seed, endpoint)),
        20 => endpoint
            .logged_in_users
            .clone()
            .unwrap_or_else(|| logged_in_users(seed, endpoint)),
        21 => endpoint
            .installed_applications
            .clone()
            .unwrap_or_else(|| installed_applications(seed, endpoint)),
        22 => vec![now.logging_level.clone()],
        23 => {
            let path = params.first().map(String::as_str).unwrap_or_default();
            vec![if file_exists(seed, endpoint, path) {
                format!("File Exists: {path}")
            } else {
                "File does not exist".to_owned()
            }]
        }
        _ => Vec::new(),
    }
}

/// The endpoint before any action changed it.
pub(crate) fn initial(seed: u64, endpoint: &Endpoint) -> Mutable {
    Mutable {
        tags: endpoint.custom_tags.clone(),
        logging_level: logging_level(seed, endpoint),
    }
}

/// `Tanium Client Logging Level`: the fleet file's, else 1 (the default) on most endpoints,
/// 0 on about one in twelve and 41 on about one in twelve.
pub(crate) fn logging_level(seed: u64, endpoint: &Endpoint) -> String {
    if let Some(level) = endpoint.logging_level {
        return level.to_string();
    }
    let draw = unit(identity(seed, endpoint), 31);
    if draw < 0.08 {
        "0"
    } else if draw < 0.16 {
        "41"
    } else {
        "1"
    }
    .to_owned()
}

/// Picks the optional items whose draw passes: `(item, share)`.
fn some_of(hash: u64, slot: u64, options: &[(&str, f64)]) -> Vec<String> {
    options
        .iter()
        .enumerate()
        .filter(|(index, (_, share))| unit(hash, slot + *index as u64) < *share)
        .map(|(_, (item, _))| (*item).to_owned())
        .collect()
}

fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

/// `Running Processes`: the platform's system processes, the Tanium Client, the processes of
/// the endpoint's role (from its tags and name) and a few applications drawn from its hash.
pub(crate) fn running_processes(seed: u64, endpoint: &Endpoint) -> Vec<String> {
    let hash = identity(seed, endpoint);
    let name = endpoint.computer_name.to_ascii_lowercase();
    let mut processes = match endpoint.os_platform.as_str() {
        "Windows" => {
            let mut list = owned(&[
                "System",
                "smss.exe",
                "csrss.exe",
                "wininit.exe",
                "services.exe",
                "lsass.exe",
                "svchost.exe",
                "TaniumClient.exe",
                "MsMpEng.exe",
            ]);
            if is_server(endpoint) {
                list.push("spoolsv.exe".to_owned());
                for (tag, process) in [
                    ("DomainController", "dns.exe"),
                    ("Database", "sqlservr.exe"),
                    ("FileServer", "dfsrs.exe"),
                ] {
                    if has_tag(endpoint, tag) {
                        list.push(process.to_owned());
                    }
                }
                if name.contains("exch") {
                    list.push("MSExchangeTransport.exe".to_owned());
                }
                if name.contains("app") {
                    list.push("w3wp.exe".to_owned());
                }
            } else {
                list.extend(owned(&["explorer.exe", "RuntimeBroker.exe"]));
                list.extend(some_of(
                    hash,
                    40,
                    &[
                        ("chrome.exe", 0.6),
                        ("msedge.exe", 0.4),
                        ("OUTLOOK.EXE", 0.7),
                        ("Teams.exe", 0.6),
                        ("EXCEL.EXE", 0.3),
                    ],
                ));
            }
            list
        }
        "Mac" => {
            let mut list = owned(&[
                "launchd",
                "kernel_task",
                "WindowServer",
                "Finder",
                "Dock",
                "TaniumClient",
            ]);
            list.extend(some_of(
                hash,
                50,
                &[
                    ("Safari", 0.5),
                    ("Google Chrome", 0.6),
                    ("Slack", 0.7),
                    ("Figma", 0.5),
                ],
            ));
            list
        }
        _ => {
            let mut list = owned(&["systemd", "sshd", "cron", "rsyslogd", "TaniumClient"]);
            for (tag, extra) in [
                ("Web", &["nginx"][..]),
                ("Database", &["postgres"][..]),
                ("Kubernetes", &["kubelet", "containerd"][..]),
                ("CI", &["java", "dockerd"][..]),
            ] {
                if has_tag(endpoint, tag) {
                    list.extend(owned(extra));
                }
            }
            list
        }
    };
    processes.dedup();
    processes
}

/// `Installed Applications`: one text per application, its name then its version.
pub(crate) fn installed_applications(seed: u64, endpoint: &Endpoint) -> Vec<String> {
    let hash = identity(seed, endpoint);
    match endpoint.os_platform.as_str() {
        "Windows" => {
            let mut list = owned(&["Tanium Client 7.4.10.1075", "Microsoft Edge 126.0.2592.68"]);
            if has_tag(endpoint, "Database") {
                list.push("Microsoft SQL Server 2019 15.0.4375.4".to_owned());
            }
            if !is_server(endpoint) {
                list.push("Microsoft 365 Apps for enterprise 16.0.17628.20144".to_owned());
            }
            list.extend(some_of(
                hash,
                60,
                &[
                    ("7-Zip 23.01", 0.5),
                    ("Google Chrome 126.0.6478.127", 0.6),
                    ("Notepad++ 8.6.8", 0.3),
                    ("Zoom Workplace 6.0.11", 0.4),
                ],
            ));
            list
        }
        "Mac" => {
            let mut list = owned(&["Tanium Client 7.4.10.1075", "Safari 17.5"]);
            if has_tag(endpoint, "Design") {
                list.extend(owned(&["Figma 124.1.16", "Adobe Photoshop 2024 25.9.1"]));
            }
            list.extend(some_of(
                hash,
                70,
                &[
                    ("Google Chrome 126.0.6478.127", 0.6),
                    ("Slack 4.39.90", 0.7),
                ],
            ));
            list
        }
        _ => {
            let mut list = owned(&[
                "tanium-client 7.4.10.1075",
                "openssh-server 8.9p1",
                "openssl 3.0.13",
            ]);
            for (tag, package) in [
                ("Web", "nginx 1.24.0"),
                ("Database", "postgresql 15.7"),
                ("Kubernetes", "kubelet 1.30.2"),
                ("CI", "docker-ce 26.1.4"),
            ] {
                if has_tag(endpoint, tag) {
                    list.push(package.to_owned());
                }
            }
            list
        }
    }
}

const PEOPLE: [&str; 12] = [
    "alice.martin",
    "bruno.keller",
    "chloe.dubois",
    "dmitri.ivanov",
    "emma.schmidt",
    "farid.haddad",
    "grace.okafor",
    "hiro.tanaka",
    "isla.murphy",
    "jonas.berg",
    "kavya.rao",
    "liam.walsh",
];

/// `Logged In Users`: a person on most laptops and Macs, an administrator on some domain
/// controllers, `deploy` on build machines, nobody on most servers (`[no results]`).
pub(crate) fn logged_in_users(seed: u64, endpoint: &Endpoint) -> Vec<String> {
    let hash = identity(seed, endpoint);
    let person = PEOPLE[(mix(hash, 80) % PEOPLE.len() as u64) as usize];
    let draw = unit(hash, 81);
    match endpoint.os_platform.as_str() {
        "Windows" if is_server(endpoint) => {
            if has_tag(endpoint, "DomainController") && draw < 0.5 {
                vec![format!("CORP\\adm-{person}")]
            } else {
                Vec::new()
            }
        }
        "Windows" if draw < 0.85 => vec![format!("CORP\\{person}")],
        "Mac" if draw < 0.9 => vec![person.to_owned()],
        "Linux" if has_tag(endpoint, "CI") => vec!["deploy".to_owned()],
        "Linux" if draw < 0.2 => vec!["root".to_owned()],
        _ => Vec::new(),
    }
}

/// Files every endpoint of a platform has.
fn standard_files(platform: &str) -> &'static [&'static str] {
    match platform {
        "Windows" => &[
            "C:\\Windows\\System32\\cmd.exe",
            "C:\\Windows\\System32\\drivers\\etc\\hosts",
            "C:\\Windows\\notepad.exe",
            "C:\\Program Files\\Tanium\\Tanium Client\\TaniumClient.exe",
        ],
        "Mac" => &[
            "/etc/hosts",
            "/bin/sh",
            "/Library/Tanium/TaniumClient/TaniumClient",
        ],
        _ => &[
            "/etc/hosts",
            "/etc/passwd",
            "/bin/sh",
            "/opt/Tanium/TaniumClient/TaniumClient",
        ],
    }
}

/// A Windows path (a drive letter or a backslash), compared ignoring case and slashes; other
/// paths exactly.
fn windows_style(path: &str) -> bool {
    path.contains('\\') || path.as_bytes().get(1) == Some(&b':')
}

fn same_path(windows: bool, a: &str, b: &str) -> bool {
    if windows {
        a.replace('/', "\\")
            .eq_ignore_ascii_case(&b.replace('/', "\\"))
    } else {
        a == b
    }
}

/// `File Exists[path]`: the endpoint's `files` (fleet file), the standard files of its
/// platform, and, in temporary folders (`\Temp\` on Windows, `/tmp/` and `/var/tmp/`
/// elsewhere), a file on about one endpoint of that platform in eight, drawn from the seed,
/// the computer name and the path.
pub(crate) fn file_exists(seed: u64, endpoint: &Endpoint, path: &str) -> bool {
    let path = path.trim();
    if path.is_empty() {
        return false;
    }
    let windows = windows_style(path);
    if windows != (endpoint.os_platform == "Windows") {
        return false;
    }
    let listed = endpoint
        .files
        .iter()
        .map(String::as_str)
        .chain(standard_files(&endpoint.os_platform).iter().copied())
        .any(|file| same_path(windows, file, path));
    if listed {
        return true;
    }
    let key = if windows {
        path.replace('/', "\\").to_ascii_lowercase()
    } else {
        path.to_owned()
    };
    let temporary = if windows {
        key.contains("\\temp\\")
    } else {
        key.starts_with("/tmp/") || key.starts_with("/var/tmp/")
    };
    temporary && unit(mix(identity(seed, endpoint), fnv(&key)), 21) < 0.125
}

/// The `TSE-Error:` a few endpoints answer for a slow sensor (about one in twenty-five, a
/// stable choice per endpoint and sensor; never `File Exists`, never a value the fleet file
/// gives).
pub(crate) fn tse_error(seed: u64, endpoint: &Endpoint, sensor: &SensorDef) -> Option<String> {
    let given = match sensor.id {
        19 => endpoint.running_processes.is_some(),
        20 => endpoint.logged_in_users.is_some(),
        21 => endpoint.installed_applications.is_some(),
        _ => true,
    };
    if !sensor.slow || given || unit(mix(identity(seed, endpoint), sensor.id), 33) >= 0.04 {
        return None;
    }
    Some(format!(
        "TSE-Error: {} did not finish within its 60-second limit",
        sensor.name
    ))
}

/// Seconds after an endpoint answers a question until its slow `sensor` has a result: 0 on
/// most, 2 to 15 on about one in five (drawn per question, endpoint and sensor). Until then
/// its cell is `[current results unavailable]`.
pub(crate) fn ready_after(seed: u64, question_id: u64, machine: u32, sensor: &SensorDef) -> f64 {
    if !sensor.slow {
        return 0.0;
    }
    let hash = mix(
        seed ^ question_id.rotate_left(17),
        (u64::from(machine) << 8) | sensor.id,
    );
    if unit(hash, 35) < 0.2 {
        2.0 + 13.0 * unit(hash, 36)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;
    use crate::sensors::by_name;

    #[test]
    fn answers_are_reproducible_and_fit_the_platform() {
        let config = SimConfig::default();
        for endpoint in &config.fleet {
            let processes = running_processes(7, endpoint);
            assert_eq!(processes, running_processes(7, endpoint));
            let client = match endpoint.os_platform.as_str() {
                "Windows" => "TaniumClient.exe",
                _ => "TaniumClient",
            };
            assert!(processes.iter().any(|p| p == client), "{processes:?}");
            assert!(!installed_applications(7, endpoint).is_empty());
        }
        let levels: Vec<String> = config.fleet.iter().map(|e| logging_level(7, e)).collect();
        assert!(levels.iter().filter(|level| *level == "1").count() > levels.len() / 2);
    }

    #[test]
    fn values_a_fleet_file_gives_are_the_answers() {
        let mut endpoint = SimConfig::default().fleet[0].clone();
        endpoint.running_processes = Some(vec!["only.exe".to_owned()]);
        endpoint.logged_in_users = Some(Vec::new());
        endpoint.logging_level = Some(7);
        let now = initial(7, &endpoint);
        let answer = |name: &str| answer(7, &endpoint, &now, by_name(name).unwrap(), &[]);
        assert_eq!(answer("Running Processes"), vec!["only.exe"]);
        assert!(answer("Logged In Users").is_empty());
        assert_eq!(answer("Tanium Client Logging Level"), vec!["7"]);
        assert_eq!(answer("Computer Name"), vec!["WIN-DC01"]);
        assert!(tse_error(7, &endpoint, by_name("Running Processes").unwrap()).is_none());
        let exists = by_name("File Exists").unwrap();
        let path = ["C:\\Windows\\notepad.exe".to_owned()];
        assert_eq!(
            super::answer(7, &endpoint, &now, exists, &path),
            vec!["File Exists: C:\\Windows\\notepad.exe"]
        );
        assert_eq!(
            super::answer(7, &endpoint, &now, exists, &["/etc/hosts".to_owned()]),
            vec!["File does not exist"]
        );
    }

    #[test]
    fn files_exist_by_list_platform_and_temporary_folder() {
        let config = SimConfig::default();
        let windows = config
            .fleet
            .iter()
            .find(|e| e.os_platform == "Windows")
            .unwrap();
        let linux = config
            .fleet
            .iter()
            .find(|e| e.os_platform == "Linux")
            .unwrap();
        assert!(file_exists(7, windows, "c:/windows/system32/CMD.EXE"));
        assert!(!file_exists(7, linux, "C:\\Windows\\System32\\cmd.exe"));
        assert!(file_exists(7, linux, "/etc/passwd"));
        assert!(!file_exists(7, linux, "/ETC/PASSWD"));
        assert!(!file_exists(7, windows, ""));
        let mut listed = windows.clone();
        listed.files = vec!["D:\\Tools\\x.exe".to_owned()];
        assert!(file_exists(7, &listed, "d:\\tools\\X.exe"));
        // About one in eight Windows endpoints has a given file in a Temp folder.
        let generated = SimConfig::with_generated_fleet(4000);
        let windows: Vec<_> = generated
            .fleet
            .iter()
            .filter(|e| e.os_platform == "Windows")
            .collect();
        let having = windows
            .iter()
            .filter(|e| file_exists(7, e, "C:\\Windows\\Temp\\dropper.exe"))
            .count();
        let share = having as f64 / windows.len() as f64;
        assert!((0.09..0.16).contains(&share), "{share}");
    }

    #[test]
    fn special_answers_are_rare_and_stable() {
        let generated = SimConfig::with_generated_fleet(4000);
        let processes = by_name("Running Processes").unwrap();
        let errors = generated
            .fleet
            .iter()
            .filter(|e| tse_error(7, e, processes).is_some())
            .count();
        assert!((80..240).contains(&errors), "{errors}");
        assert!(tse_error(7, &generated.fleet[0], by_name("Computer Name").unwrap()).is_none());
        let late = (0..4000u32)
            .filter(|machine| ready_after(7, 90_001, *machine, processes) > 0.0)
            .count();
        assert!((600..1000).contains(&late), "{late}");
        assert_eq!(
            ready_after(7, 90_001, 3, by_name("Computer Name").unwrap()),
            0.0
        );
    }
}
