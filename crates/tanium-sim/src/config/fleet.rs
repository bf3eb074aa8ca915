//! The built-in fleet (thirty-six machines) and generated fleets for scale tests.

use super::Endpoint;

pub(super) fn endpoint(name: &str, ip: &str, os: &str, tags: &[&str], online: bool) -> Endpoint {
    let mut endpoint = Endpoint {
        computer_name: name.to_owned(),
        ip_address: ip.to_owned(),
        operating_system: os.to_owned(),
        os_platform: String::new(),
        custom_tags: tags.iter().map(|tag| (*tag).to_owned()).collect(),
        online,
        running_processes: None,
        installed_applications: None,
        logged_in_users: None,
        logging_level: None,
        files: Vec::new(),
    };
    endpoint.fill_platform();
    endpoint
}

/// Where the built-in fleet's suspicious hosts keep their payload.
pub(crate) const EVIL_PATH: &str = "C:\\Users\\Public\\evil.exe";

/// The processes of a Windows machine, with `extra` ones.
fn windows_processes(server: bool, extra: &[&str]) -> Vec<String> {
    let mut list = vec![
        "System",
        "smss.exe",
        "csrss.exe",
        "wininit.exe",
        "services.exe",
        "lsass.exe",
        "svchost.exe",
        "TaniumClient.exe",
        "MsMpEng.exe",
    ];
    list.extend(if server {
        &["spoolsv.exe"][..]
    } else {
        &["explorer.exe", "RuntimeBroker.exe"][..]
    });
    list.extend(extra);
    list.into_iter().map(str::to_owned).collect()
}

/// The built-in fleet's suspicious hosts: `WIN-APP01` and `WIN-LAPTOP-0042` run `evil.exe`
/// (and so does `WIN-LAPTOP-0051`, which is offline and never says so); the three, and
/// `WIN-LAPTOP-0057`, where it sits unstarted, have the file [`EVIL_PATH`].
fn plant_evil(fleet: &mut [Endpoint]) {
    for endpoint in fleet.iter_mut() {
        let processes = match endpoint.computer_name.as_str() {
            "WIN-APP01" => Some(windows_processes(true, &["w3wp.exe", "evil.exe"])),
            "WIN-LAPTOP-0042" => Some(windows_processes(
                false,
                &["chrome.exe", "OUTLOOK.EXE", "evil.exe"],
            )),
            "WIN-LAPTOP-0051" => Some(windows_processes(false, &["msedge.exe", "evil.exe"])),
            "WIN-LAPTOP-0057" => None,
            _ => continue,
        };
        endpoint.running_processes = processes;
        endpoint.files.push(EVIL_PATH.to_owned());
    }
}

/// Thirty-six machines: Windows servers and laptops, Linux servers with and without dots
/// in their names, Macs; three offline; a few running `evil.exe` ([`plant_evil`]).
pub(super) fn default_fleet() -> Vec<Endpoint> {
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
    plant_evil(&mut fleet);
    fleet
}

pub(super) fn generated_fleet(count: usize, seed: u64) -> Vec<Endpoint> {
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
            let mut endpoint = endpoint(&name, &ip, os, &[tag], roll % 100 >= 3);
            // One laptop in a thousand runs evil.exe, so that a question can find them.
            if index % 1000 == 3 {
                let mut processes = crate::sensors::values::running_processes(seed, &endpoint);
                processes.push("evil.exe".to_owned());
                endpoint.running_processes = Some(processes);
                endpoint.files.push(EVIL_PATH.to_owned());
            }
            endpoint
        })
        .collect()
}
