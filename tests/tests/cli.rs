//! The command line as a new user meets it: the simulator's world (`runbook sim --describe`
//! and `GET /sim/fleet`).

use runbook_tests::Test;

#[test]
fn sim_describe_prints_the_world_as_text() {
    let out = Test::new().args(["sim", "--describe"]).run();
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    for expected in [
        "Fleet: 36 endpoints, 33 online, 3 offline",
        "WIN-DC01",
        "offline",
        "Sensors: Computer Name, IP Address",
        "Set Windows Tanium Client Logging Level (id 15",
        "$1 \"Log Level (0-99)\" NumericParameter, default \"1\", 0 to 99",
        "$1 \"Force reboot\" DropDownParameter, default \"no\", one of yes | no",
        "Windows Servers: Operating System contains \"Windows Server\"",
        "Default: No Computers",
        "approver (id 2, password approver-sim",
        "approves actions",
        "Faults: latency 0 ms",
    ] {
        assert!(out.stdout.contains(expected), "{expected}\n{}", out.stdout);
    }
}

#[test]
fn sim_describe_json_shows_the_flags_and_a_fleet_file() {
    let out = Test::new()
        .file(
            "fleet.yaml",
            "endpoints:\n  - computer_name: lab-01\n    ip_address: 10.9.0.1\n    operating_system: Debian 12\n    online: false\ngroups:\n  - name: Lab\n    text: \" Computer Name starts with lab\"\n",
        )
        .args([
            "sim",
            "--describe",
            "--format",
            "json",
            "--fleet",
            "fleet.yaml",
            "--approval",
            "--503-share",
            "0.1",
        ])
        .run();
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let world: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(world["fleet"]["size"], 1);
    assert_eq!(world["fleet"]["endpoints"][0]["os_platform"], "Linux");
    assert_eq!(world["fleet"]["endpoints"][0]["online"], false);
    assert!(
        world["groups"]
            .as_array()
            .is_some_and(|groups| groups.iter().any(|group| group["name"] == "Lab")),
        "{world}"
    );
    assert_eq!(world["approval"]["required"], true);
    assert_eq!(world["approval"]["auto_approve_after_seconds"], 120);
    assert_eq!(world["faults"]["error_503_share"], 0.1);
    assert_eq!(world["users"][1]["name"], "approver");
}

#[test]
fn format_needs_describe() {
    let out = Test::new().args(["sim", "--format", "json"]).run();
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
}

#[tokio::test]
async fn the_running_simulator_serves_its_world_at_sim_fleet() {
    let sim = runbook_tanium_sim::Simulator::start(runbook_tanium_sim::SimConfig::default())
        .await
        .expect("the simulator starts");
    let world: serde_json::Value = reqwest::get(format!("{}/sim/fleet", sim.base_url()))
        .await
        .expect("GET /sim/fleet")
        .json()
        .await
        .expect("JSON");
    assert_eq!(world["fleet"]["size"], 36);
    assert_eq!(world["packages"][0]["parameters"][0]["key"], "$1");
    sim.shutdown().await;
}
