//! The client against the simulator: every operation, both kinds of authentication, retries
//! under injected faults, `POST /actions` never duplicated, and paging of a large result set.

use std::time::{Duration, Instant};

use runbook_engine::Lookup;
use runbook_tanium::targeting::{Clause, Combine, Operator, build_text};
use runbook_tanium::{
    ActionResults, ActionState, Auth, ClientConfig, Error, NewAction, Ref, RetryPolicy,
    TaniumClient, TargetGroupRef, Tuning, parameters,
};
use runbook_tanium_sim::{Faults, RunningSim, SimConfig, Simulator};

const FAST: f64 = 1000.0;

async fn start(config: SimConfig) -> RunningSim {
    Simulator::start(config)
        .await
        .unwrap_or_else(|err| panic!("simulator did not start: {err}"))
}

fn fast_config() -> SimConfig {
    SimConfig {
        time_scale: FAST,
        ..SimConfig::default()
    }
}

fn client_config(sim: &RunningSim, auth: Auth) -> ClientConfig {
    let mut config = ClientConfig::new(sim.base_url(), auth);
    config.request_timeout = Duration::from_secs(20);
    // Short delays keep the fault tests quick; the 429 answers' `Retry-After: 1` is capped
    // to `cap`, which is what the cap is for.
    config.retry = RetryPolicy {
        attempts: 12,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(20),
    };
    config
}

fn tuning() -> Tuning {
    Tuning {
        page_size: 5_000,
        question_poll_interval: Duration::from_millis(20),
        ..Tuning::default()
    }
}

fn token_client(sim: &RunningSim) -> TaniumClient {
    TaniumClient::with_tuning(
        client_config(sim, Auth::Token(sim.api_token().into())),
        tuning(),
    )
    .unwrap_or_else(|err| panic!("{err}"))
}

fn must<T>(result: Result<T, Error>) -> T {
    result.unwrap_or_else(|err| panic!("{err}"))
}

/// Polls the action's results until `expected` machines have a final status.
async fn wait_for_results(
    client: &TaniumClient,
    action_id: u64,
    expected: u64,
    max_rows: usize,
) -> ActionResults {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let results = must(client.action_results(action_id, false, max_rows).await);
        if results.succeeded + results.failed >= expected && results.running == 0 {
            return results;
        }
        assert!(
            Instant::now() < deadline,
            "results never completed: {results:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn new_action(
    name: &str,
    group_id: u64,
    action_group_id: u64,
    package_id: u64,
    parameters: Vec<(String, String)>,
) -> NewAction {
    NewAction {
        name: name.to_owned(),
        action_group_id: Ref::Id(action_group_id),
        target_group: TargetGroupRef {
            id: Ref::Id(group_id),
            filter_flag: false,
        },
        package_id: Ref::Id(package_id),
        parameters,
        expire_seconds: 3600,
        distribute_seconds: 0,
        issue_seconds: None,
        start_time: None,
        expiration_time: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_client_runs_every_operation() {
    let config = fast_config();
    let web_online = config
        .fleet
        .iter()
        .filter(|e| e.computer_name.starts_with("web-0") && e.online)
        .count() as u64;
    let sim = start(config).await;
    let client = token_client(&sim);

    let windows = must(client.filter_group("All Windows").await);
    assert_eq!(windows.text, "OS Platform equals Windows");
    let same = must(client.filter_group(&windows.id.to_string()).await);
    assert_eq!(same.name, "All Windows");
    match client.filter_group("No Such Group").await {
        Err(Error::NotFound { what, .. }) => assert!(what.contains("No Such Group"), "{what}"),
        other => panic!("expected not found, got {other:?}"),
    }

    let action_group = must(client.action_group("All Computers").await);
    assert!(matches!(
        client.action_group("Default").await,
        Err(Error::InvalidRequest(_))
    ));

    let package = must(client.package_by_name("Custom Tagging - Add Tags").await);
    assert_eq!(package.id, 173_205);
    let logging = must(client.package_by_id(15).await);
    assert_eq!(logging.parameters[0].label, "Log Level (0-99)");

    let text = must_text(&[("Computer Name", Operator::StartsWith, "web-0")]);
    let group_id = must(client.create_group(&text).await);
    let count = must(
        client
            .count_group_endpoints(group_id, Duration::from_secs(10))
            .await,
    );
    assert_eq!(count, web_online);

    let values = parameters::resolve(
        &package.parameters,
        &[("$1".to_owned(), "Quarantined".to_owned())],
    )
    .unwrap_or_else(|problems| panic!("{problems:?}"));
    let name = "tag web (run token-ops)";
    let action = must(
        client
            .issue_action(&new_action(
                name,
                group_id,
                action_group.id,
                package.id,
                values.clone(),
            ))
            .await,
    );
    assert_eq!(action.name, name);
    assert!(matches!(
        action.status,
        ActionState::Active | ActionState::Pending | ActionState::Open
    ));
    let saved_action_id = action
        .saved_action_id
        .unwrap_or_else(|| panic!("no saved action: {action:?}"));
    assert!(must(client.saved_action_approval(saved_action_id).await).approved);

    let found = must(client.find_action_by_name(name, Lookup::MayExist).await);
    assert_eq!(found.map(|a| a.id), Some(action.id));
    assert_eq!(
        must(
            client
                .find_action_by_name("never issued", Lookup::MayExist)
                .await
        ),
        None
    );

    let results = wait_for_results(&client, action.id, web_online, 100).await;
    assert_eq!(results.machines(), web_online);
    assert!(
        results
            .rows
            .iter()
            .all(|row| row.computer_name.starts_with("web-0")),
        "{results:?}"
    );
    let read = must(client.action(action.id).await);
    assert_eq!(read.id, action.id);
    assert!(!read.stopped_flag);

    let inspector = sim.inspect();
    let issued = inspector.actions.iter().find(|a| a.id == action.id);
    let issued = issued.unwrap_or_else(|| panic!("the simulator did not see the action"));
    assert_eq!(issued.parameters, values);
    assert_eq!(issued.package_id, package.id);

    // Stop a second action and see it stopped.
    let second = must(
        client
            .issue_action(&new_action(
                "to stop (run token-ops)",
                group_id,
                action_group.id,
                package.id,
                values,
            ))
            .await,
    );
    must(client.stop_action(second.id).await);
    let stopped = must(client.action(second.id).await);
    assert!(
        stopped.stopped_flag || stopped.status == ActionState::Stopped,
        "{stopped:?}"
    );
    sim.shutdown().await;
}

fn must_text(clauses: &[(&str, Operator, &str)]) -> String {
    let clauses: Vec<Clause> = clauses
        .iter()
        .map(|(sensor, op, value)| Clause {
            sensor: (*sensor).to_owned(),
            op: *op,
            value: (*value).into(),
        })
        .collect();
    build_text(Combine::All, &clauses).unwrap_or_else(|err| panic!("{err}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_session_is_renewed_when_it_expires_midway() {
    let mut config = fast_config();
    // 200 sim seconds are 200 ms of real time at this scale: long enough that a login is
    // followed by its request in time even on a loaded machine, short enough to expire
    // between the calls below.
    config.faults.login_session_ttl = Some(Duration::from_secs(200));
    let sim = start(config).await;
    let (username, password) = sim.credentials();
    let auth = Auth::Login {
        username: username.clone(),
        password: password.into(),
        domain: None,
    };
    let client = must(TaniumClient::with_tuning(
        client_config(&sim, auth),
        tuning(),
    ));
    for _ in 0..4 {
        must(client.package_by_name("Reboot Windows Machine").await);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let logins = sim.inspect().request_count("POST", "/api/v2/session/login");
    assert!(
        logins >= 2,
        "expected the session to be renewed, saw {logins} logins"
    );

    let wrong = Auth::Login {
        username,
        password: "not the password".into(),
        domain: Some("CORP".to_owned()),
    };
    let client = must(TaniumClient::with_tuning(
        client_config(&sim, wrong),
        tuning(),
    ));
    match client.package_by_name("Reboot Windows Machine").await {
        Err(Error::Refused { status: 401, hint }) => assert!(hint.contains("password"), "{hint}"),
        other => panic!("expected a refused login, got {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_token_fails_with_the_trusted_address_hint() {
    let mut config = fast_config();
    config.faults.refuse_token = true;
    let sim = start(config).await;
    let client = token_client(&sim);
    match client.filter_group("All Windows").await {
        Err(err @ Error::Refused { status: 401, .. }) => {
            let text = err.to_string();
            assert!(text.contains("trusted"), "{text}");
            assert!(!text.contains(&sim.api_token()), "{text}");
        }
        other => panic!("expected a refused token, got {other:?}"),
    }
    // Refusals are not retried.
    assert_eq!(
        sim.inspect()
            .request_count("GET", "/api/v2/groups/by-name/All%20Windows"),
        1
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_retried_through_injected_faults() {
    let mut config = fast_config();
    config.faults = Faults {
        error_share: 0.2,
        rate_limit_share: 0.1,
        drop_share: 0.1,
        ..Faults::default()
    };
    let sim = start(config).await;
    let client = token_client(&sim);
    for _ in 0..40 {
        let package = must(client.package_by_name("Collect Diagnostics").await);
        assert_eq!(package.id, 243);
    }
    let served = sim
        .inspect()
        .request_count("GET", "/api/v2/packages/by-name/Collect%20Diagnostics");
    assert!(served > 40, "no request was retried ({served} served)");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_are_never_sent_twice() {
    let mut config = fast_config();
    config.faults.drop_after_create_share = 1.0;
    let sim = start(config).await;
    let client = token_client(&sim);
    let group_id = must(
        client
            .create_group(&must_text(&[(
                "Computer Name",
                Operator::Equals,
                "db-01.corp.example",
            )]))
            .await,
    );
    let action_group = must(client.action_group("All Computers").await);

    // The server creates the action and cuts the connection: the outcome is unknown to us.
    let name = "cut after create (run 1)";
    match client
        .issue_action(&new_action(
            name,
            group_id,
            action_group.id,
            243,
            Vec::new(),
        ))
        .await
    {
        Err(Error::AmbiguousSend { path, .. }) => assert_eq!(path, "/api/v2/actions"),
        other => panic!("expected an ambiguous send, got {other:?}"),
    }
    assert_eq!(sim.inspect().request_count("POST", "/api/v2/actions"), 1);
    let found = must(client.find_action_by_name(name, Lookup::MayExist).await);
    assert!(found.is_some());

    // Mixed faults: issue, and after an ambiguous failure look up by name before issuing again
    // (what the engine does). Every name ends up issued exactly once.
    sim.set_faults(Faults {
        error_share: 0.15,
        drop_share: 0.15,
        drop_after_create_share: 0.25,
        ..Faults::default()
    });
    let mut posts = 0;
    for run in 0..15 {
        let name = format!("mixed faults (run {run})");
        let mut issued = false;
        for _ in 0..20 {
            posts += 1;
            match client
                .issue_action(&new_action(
                    &name,
                    group_id,
                    action_group.id,
                    243,
                    Vec::new(),
                ))
                .await
            {
                Ok(_) => issued = true,
                Err(Error::AmbiguousSend { .. }) => {
                    // The lookup is a read, retried through the faults.
                    issued =
                        must(client.find_action_by_name(&name, Lookup::MayExist).await).is_some();
                }
                Err(other) => panic!("unexpected error: {other}"),
            }
            if issued {
                break;
            }
        }
        assert!(issued, "{name} was never issued");
    }
    let inspector = sim.inspect();
    assert_eq!(
        inspector.request_count("POST", "/api/v2/actions"),
        posts + 1
    );
    for run in 0..15 {
        let name = format!("mixed faults (run {run})");
        let copies = inspector.actions.iter().filter(|a| a.name == name).count();
        assert_eq!(copies, 1, "{name} issued {copies} times");
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_reads_every_row_of_a_100000_row_result_set() {
    let mut config = SimConfig::with_generated_fleet(104_000);
    config.time_scale = 20_000.0;
    let online = config.fleet.iter().filter(|e| e.online).count() as u64;
    assert!(online >= 100_000, "the fleet has {online} online machines");
    let sim = start(config).await;
    let client = token_client(&sim);
    let all = must(client.filter_group("All Computers").await);
    let action_group = must(client.action_group("All Computers").await);
    let action = must(
        client
            .issue_action(&new_action(
                "collect everywhere (run paging)",
                all.id,
                action_group.id,
                243,
                Vec::new(),
            ))
            .await,
    );
    let results = wait_for_results(&client, action.id, online, 1_000).await;
    assert_eq!(results.rows_read, online);
    assert_eq!(results.machines(), online);
    assert_eq!(results.rows.len(), 1_000);
    assert!(results.rows_truncated);
    let pages = sim
        .inspect()
        .request_count("GET", &format!("/api/v2/result_data/action/{}", action.id));
    assert!(pages >= online / 5_000, "only {pages} pages were read");
    sim.shutdown().await;
}
