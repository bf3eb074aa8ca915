//! Tokens, passwords and session strings never appear in `Debug` or `Display` of the
//! configuration, the client or any error the client returns.

use std::time::Duration;

use runbook_tanium::{Auth, ClientConfig, Error, RetryPolicy, TaniumClient};
use runbook_tanium_sim::{SimConfig, Simulator};

const TOKEN: &str = "token-0123456789abcdef0123456789abcdef0123456789abcdef0123";
const PASSWORD: &str = "correct horse battery staple";

fn assert_clean(text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text.contains(secret), "{secret:?} leaked into {text:?}");
    }
    let session =
        regex::Regex::new(r"\b\d+-\d+-[0-9a-fA-F]{8,}").unwrap_or_else(|err| panic!("{err}"));
    assert!(
        !session.is_match(text),
        "a session string leaked into {text:?}"
    );
}

fn quick(mut config: ClientConfig) -> ClientConfig {
    config.retry = RetryPolicy {
        attempts: 2,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(5),
    };
    config.request_timeout = Duration::from_secs(5);
    config
}

#[test]
fn configuration_debug_hides_token_and_password() {
    let token = ClientConfig::new("https://tanium.example.com", Auth::Token(TOKEN.into()));
    assert_clean(&format!("{token:?}"), &[TOKEN]);
    let login = ClientConfig::new(
        "https://tanium.example.com",
        Auth::Login {
            username: "analyst".to_owned(),
            password: PASSWORD.into(),
            domain: None,
        },
    );
    let shown = format!("{login:?}");
    assert_clean(&shown, &[PASSWORD]);
    assert!(shown.contains("analyst"));
    let client = TaniumClient::new(login).unwrap_or_else(|err| panic!("{err}"));
    assert_clean(&format!("{client:?}"), &[PASSWORD]);
}

#[test]
fn configuration_errors_hide_credentials_in_the_url() {
    let config = ClientConfig::new(
        "https://user:hunter2@tanium.example.com",
        Auth::Token(TOKEN.into()),
    );
    match TaniumClient::new(config) {
        Err(err @ Error::Config(_)) => assert_clean(&format!("{err} {err:?}"), &[TOKEN, "hunter2"]),
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_clients_never_show_secrets() {
    let config = SimConfig {
        time_scale: 1000.0,
        ..SimConfig::default()
    };
    let sim = Simulator::start(config)
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let (username, password) = sim.credentials();
    let real_token = sim.api_token();
    let secrets = [TOKEN, PASSWORD, real_token.as_str(), password.as_str()];

    // An unknown token: 401.
    let client = TaniumClient::new(quick(ClientConfig::new(
        sim.base_url(),
        Auth::Token(TOKEN.into()),
    )))
    .unwrap_or_else(|err| panic!("{err}"));
    let mut errors: Vec<Error> = Vec::new();
    errors.extend(client.package_by_name("Collect Diagnostics").await.err());

    // A wrong password: refused login.
    let wrong = Auth::Login {
        username: username.clone(),
        password: PASSWORD.into(),
        domain: None,
    };
    let client = TaniumClient::new(quick(ClientConfig::new(sim.base_url(), wrong)))
        .unwrap_or_else(|err| panic!("{err}"));
    errors.extend(client.package_by_name("Collect Diagnostics").await.err());

    // A good login; then a missing object, a bad request and an ambiguous send.
    let good = Auth::Login {
        username,
        password: password.clone().into(),
        domain: None,
    };
    let client = TaniumClient::new(quick(ClientConfig::new(sim.base_url(), good)))
        .unwrap_or_else(|err| panic!("{err}"));
    errors.extend(client.package_by_name("No Such Package").await.err());
    errors.extend(
        client
            .create_group("Computer Name equals \"unterminated")
            .await
            .err(),
    );
    sim.set_faults(runbook_tanium_sim::Faults {
        drop_after_create_share: 1.0,
        ..runbook_tanium_sim::Faults::default()
    });
    let action = runbook_tanium::NewAction {
        name: "leak check".to_owned(),
        action_group_id: runbook_tanium::Ref::Id(1),
        target_group: runbook_tanium::TargetGroupRef {
            id: runbook_tanium::Ref::Id(1),
            filter_flag: true,
        },
        package_id: runbook_tanium::Ref::Id(243),
        parameters: Vec::new(),
        expire_seconds: 600,
        distribute_seconds: 0,
        issue_seconds: None,
        start_time: None,
        expiration_time: None,
    };
    errors.extend(client.issue_action(&action).await.err());
    // The client after logging in holds a session; its Debug must not show it.
    assert_clean(&format!("{client:?}"), &secrets);

    assert_eq!(errors.len(), 5, "{errors:?}");
    assert!(matches!(errors[0], Error::Refused { status: 401, .. }));
    assert!(matches!(errors[1], Error::Refused { status: 401, .. }));
    assert!(matches!(errors[2], Error::NotFound { .. }));
    assert!(matches!(errors[3], Error::BadRequest { .. }));
    assert!(matches!(errors[4], Error::AmbiguousSend { .. }));
    for error in &errors {
        assert_clean(&format!("{error} / {error:?}"), &secrets);
    }
    sim.shutdown().await;
}
