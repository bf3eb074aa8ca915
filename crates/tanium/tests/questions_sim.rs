//! Questions against the simulator, which reads the hand-built form (selects by hash, the
//! structured `group`) and question text each with its own code:
//!
//! - a question's `from` matches exactly the machines that the same clauses written as
//!   `target` text match (the text asked as plan --live asks it), for escaped values, lists of
//!   values, `not equals` lists and empty lists;
//! - a parameterised sensor is asked with its parameters;
//! - a saved question's newest question is read by its id.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use runbook_tanium::question_requests::{QuestionFilter, SensorChoice};
use runbook_tanium::targeting::{Clause, ClauseValue, Combine, Operator, build_text};
use runbook_tanium::{Auth, ClientConfig, Error, RetryPolicy, TaniumClient, Tuning};
use runbook_tanium_sim::{RunningSim, SimConfig, Simulator};
use serde_json::Value;

fn must<T>(result: Result<T, Error>) -> T {
    result.unwrap_or_else(|err| panic!("{err}"))
}

async fn simulator() -> (RunningSim, TaniumClient) {
    let sim = Simulator::start(SimConfig {
        time_scale: 1000.0,
        ..SimConfig::default()
    })
    .await
    .unwrap_or_else(|err| panic!("simulator did not start: {err}"));
    let mut config = ClientConfig::new(sim.base_url(), Auth::Token(sim.api_token().into()));
    config.request_timeout = Duration::from_secs(20);
    config.retry = RetryPolicy {
        attempts: 3,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(5),
    };
    let tuning = Tuning {
        // Small pages, so that the answers here span several.
        page_size: 3,
        question_poll_interval: Duration::from_millis(20),
        ..Tuning::default()
    };
    let client = TaniumClient::with_tuning(config, tuning).unwrap_or_else(|err| panic!("{err}"));
    (sim, client)
}

/// Waits until every machine expected has answered.
async fn answered(client: &TaniumClient, question_id: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let progress = must(client.question_progress(question_id).await);
        if progress.estimated_total > 0 && progress.mr_tested >= progress.estimated_total {
            return;
        }
        assert!(Instant::now() < deadline, "never answered: {progress:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn computer_name() -> SensorChoice {
    SensorChoice {
        name: "Computer Name".to_owned(),
        params: Vec::new(),
    }
}

fn clause(sensor: &str, op: Operator, value: ClauseValue) -> Clause {
    Clause {
        sensor: sensor.to_owned(),
        op,
        value,
    }
}

fn list(values: &[&str]) -> ClauseValue {
    ClauseValue::AnyOf(values.iter().map(|value| (*value).to_owned()).collect())
}

/// The names a question with `from` answers, and the names the same clauses match as text.
async fn both_ways(
    client: &TaniumClient,
    filter: &QuestionFilter,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let asked = must(client.ask_question(&[computer_name()], Some(filter)).await);
    answered(client, asked.id).await;
    let answer = must(client.question_answer(asked.id, 10_000).await);
    let from_question: BTreeSet<String> = answer
        .json_rows()
        .iter()
        .filter_map(|row| row["Computer Name"].as_str().map(str::to_owned))
        .collect();
    let text = build_text(filter.combine, &filter.clauses).unwrap_or_else(|err| panic!("{err}"));
    let survey = must(
        client
            .survey_text(&text, 10_000, Duration::from_secs(60))
            .await,
    );
    (from_question, survey.names.into_iter().collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_questions_from_matches_what_the_same_target_text_matches() {
    let (sim, client) = simulator().await;
    let every: BTreeSet<String> = {
        let (everything, _) = both_ways(
            &client,
            &QuestionFilter {
                combine: Combine::Any,
                clauses: vec![clause("Computer Name", Operator::NotEquals, list(&[]))],
            },
        )
        .await;
        everything
    };
    assert!(every.len() > 5, "{every:?}");
    let cases = [
        (
            Combine::All,
            vec![clause(
                "Computer Name",
                Operator::StartsWith,
                ClauseValue::One("WIN-".to_owned()),
            )],
        ),
        // A dot is a character here, not any character.
        (
            Combine::Any,
            vec![clause(
                "Computer Name",
                Operator::Contains,
                list(&[".", "SQL", "(x)"]),
            )],
        ),
        (
            Combine::All,
            vec![
                clause(
                    "Computer Name",
                    Operator::NotEquals,
                    list(&["WIN-DC01", "win-dc02"]),
                ),
                clause(
                    "Computer Name",
                    Operator::StartsWith,
                    list(&["WIN-D", "WIN-F"]),
                ),
            ],
        ),
        (
            Combine::Any,
            vec![
                clause("Custom Tags", Operator::Equals, list(&[])),
                clause(
                    "Computer Name",
                    Operator::EndsWith,
                    ClauseValue::One("01".to_owned()),
                ),
            ],
        ),
        (
            Combine::All,
            vec![clause("Computer Name", Operator::Equals, list(&[]))],
        ),
    ];
    for (combine, clauses) in cases {
        let filter = QuestionFilter { combine, clauses };
        let (from_question, from_text) = both_ways(&client, &filter).await;
        assert_eq!(from_question, from_text, "{filter:?}");
        assert!(from_question.is_subset(&every));
    }
    // The empty list matched nothing.
    let (nothing, _) = both_ways(
        &client,
        &QuestionFilter {
            combine: Combine::All,
            clauses: vec![clause("Computer Name", Operator::Equals, list(&[]))],
        },
    )
    .await;
    assert!(nothing.is_empty(), "{nothing:?}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parameterised_sensor_is_asked_with_its_parameters() {
    let (sim, client) = simulator().await;
    let sensor = must(client.sensor_by_name("file exists").await);
    assert!(
        sensor
            .parameters
            .iter()
            .any(|parameter| parameter.key == "path"),
        "{sensor:?}"
    );
    let asked = must(
        client
            .ask_question(
                &[
                    computer_name(),
                    SensorChoice {
                        name: "File Exists".to_owned(),
                        params: vec![("path".to_owned(), "C:\\Windows\\notepad.exe".to_owned())],
                    },
                ],
                None,
            )
            .await,
    );
    answered(&client, asked.id).await;
    let answer = must(client.question_answer(asked.id, 10_000).await);
    assert_eq!(answer.column_names()[0], "Computer Name");
    assert_eq!(
        answer.column_names().len(),
        3,
        "{:?}",
        answer.column_names()
    );
    assert!(answer.row_count > 0);
    let wrong = client
        .ask_question(
            &[SensorChoice {
                name: "File Exists".to_owned(),
                params: vec![("folder".to_owned(), "C:\\".to_owned())],
            }],
            None,
        )
        .await;
    assert!(
        matches!(&wrong, Err(Error::InvalidRequest(message)) if message.contains("unknown parameter \"folder\"")),
        "{wrong:?}"
    );
    let missing = client
        .ask_question(
            &[SensorChoice {
                name: "Shoe Size".to_owned(),
                params: Vec::new(),
            }],
            None,
        )
        .await;
    assert!(
        matches!(&missing, Err(error @ Error::NotFound { .. }) if error.to_string().starts_with("sensor \"Shoe Size\" was not found")),
        "{missing:?}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_question_is_read_through_its_newest_question() {
    let (sim, client) = simulator().await;
    let listed = must(
        client
            .send(&runbook_tanium::Request {
                method: runbook_tanium::Method::Get,
                path: "/api/v2/saved_questions".to_owned(),
                options: None,
                body: None,
                safe_to_repeat: true,
            })
            .await,
    );
    let first = listed
        .as_array()
        .and_then(|items| items.first())
        .cloned()
        .unwrap_or(Value::Null);
    let name = first["name"].as_str().unwrap_or_else(|| panic!("{listed}"));
    let by_name = must(client.saved_question_latest(name).await);
    let id = first["id"].as_u64().unwrap_or_default();
    let by_id = must(client.saved_question_latest(&id.to_string()).await);
    assert_eq!(by_name.text, name);
    assert!(by_id.id >= by_name.id, "{by_id:?} {by_name:?}");
    answered(&client, by_id.id).await;
    let answer = must(client.question_answer(by_id.id, 10_000).await);
    assert!(!answer.column_names().is_empty());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_asks_follows_and_reads_a_question() {
    use std::collections::BTreeMap;

    // The engine's own types: what the question step hands the platform. (`Combine` and
    // `Operator` are the same types in both crates.)
    use runbook_engine::{
        ClauseValue as EngineValue, Platform, PlatformErrorKind, QuestionFilter as EngineFilter,
        QuestionRequest, SensorSelect, TargetClause,
    };
    use runbook_tanium::TaniumPlatform;

    let (sim, client) = simulator().await;
    let platform = TaniumPlatform::new(client);
    let request = QuestionRequest::Sensors {
        get: vec![SensorSelect {
            sensor: "Computer Name".to_owned(),
            params: BTreeMap::new(),
        }],
        from: Some(EngineFilter {
            combine: Combine::Any,
            clauses: vec![TargetClause {
                sensor: "Computer Name".to_owned(),
                op: Operator::Equals,
                value: EngineValue::AnyOf(vec!["WIN-DC01".to_owned(), "win-fs01".to_owned()]),
            }],
        }),
    };
    if let Err(error) = platform.check_question(&request).await {
        panic!("{error}");
    }
    let asked = platform
        .ask_question(&request)
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(
        asked
            .text
            .starts_with("Get Computer Name from all machines"),
        "{}",
        asked.text
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let progress = platform
            .question_progress(asked.question_id)
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        if progress.estimated_total > 0 && progress.mr_tested >= progress.estimated_total {
            break;
        }
        assert!(Instant::now() < deadline, "never answered: {progress:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let answer = platform
        .question_answer(asked.question_id, 1)
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(answer.columns, ["Computer Name", "Count"]);
    assert_eq!(answer.row_count, 2);
    assert_eq!(answer.rows.len(), 1);
    assert!(answer.rows_truncated);
    assert_eq!(answer.rows[0]["Computer Name"], "WIN-DC01");
    assert_eq!(answer.rows[0]["Count"], 1);

    let missing = QuestionRequest::Sensors {
        get: vec![SensorSelect {
            sensor: "Shoe Size".to_owned(),
            params: BTreeMap::new(),
        }],
        from: None,
    };
    let error = platform
        .check_question(&missing)
        .await
        .expect_err("a missing sensor");
    assert_eq!(error.kind, PlatformErrorKind::NotFound);
    assert!(error.message.contains("\"Shoe Size\""), "{}", error.message);
    let saved = platform
        .check_question(&QuestionRequest::Saved {
            name_or_id: "No Such Saved Question".to_owned(),
        })
        .await
        .expect_err("a missing saved question");
    assert_eq!(saved.kind, PlatformErrorKind::NotFound);
    sim.shutdown().await;
}
