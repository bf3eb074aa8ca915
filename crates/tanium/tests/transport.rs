//! Transport failures without a Tanium server: refused connections are retried (even for
//! actions, which never reached a server), a timed-out action is never sent again, and bad
//! TLS material is refused up front.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use runbook_tanium::{
    Auth, ClientConfig, Error, NewAction, Ref, RetryPolicy, TaniumClient, TargetGroupRef,
};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

fn config(base_url: String) -> ClientConfig {
    let mut config = ClientConfig::new(base_url, Auth::Token("token-test".into()));
    config.request_timeout = Duration::from_millis(300);
    config.retry = RetryPolicy {
        attempts: 3,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(5),
    };
    config
}

fn action() -> NewAction {
    NewAction {
        name: "transport check".to_owned(),
        action_group_id: Ref::Id(1),
        target_group: TargetGroupRef {
            id: Ref::Id(2),
            filter_flag: false,
        },
        package_id: Ref::Id(3),
        parameters: Vec::new(),
        expire_seconds: 600,
        distribute_seconds: 0,
        issue_seconds: None,
        start_time: None,
        expiration_time: None,
    }
}

/// A server that accepts connections, reads, and never answers; counts connections.
async fn silent_server() -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let address = listener.local_addr().unwrap_or_else(|err| panic!("{err}"));
    let accepted = Arc::new(AtomicU64::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                while matches!(stream.read(&mut buffer).await, Ok(n) if n > 0) {}
            });
        }
    });
    (format!("http://{address}"), accepted)
}

#[tokio::test]
async fn refused_connections_are_retried_then_reported() {
    // Bind and drop a listener to find a port where nothing listens.
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let address = listener.local_addr().unwrap_or_else(|err| panic!("{err}"));
    drop(listener);
    let client = TaniumClient::new(config(format!("http://{address}")))
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(matches!(
        client.package_by_id(1).await,
        Err(Error::Transport { .. })
    ));
    // The action never reached a server, so this is not ambiguous.
    match client.issue_action(&action()).await {
        Err(Error::Transport { path, .. }) => assert_eq!(path, "/api/v2/actions"),
        other => panic!("expected a transport error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_timed_out_action_is_ambiguous_and_sent_once() {
    let (base_url, accepted) = silent_server().await;
    let client = TaniumClient::new(config(base_url)).unwrap_or_else(|err| panic!("{err}"));
    match client.issue_action(&action()).await {
        Err(Error::AmbiguousSend {
            method,
            path,
            cause,
        }) => {
            assert_eq!(
                (method.as_str(), path.as_str()),
                ("POST", "/api/v2/actions")
            );
            assert!(cause.contains("timed out"), "{cause}");
        }
        other => panic!("expected an ambiguous send, got {other:?}"),
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);

    // A read that times out is retried: three attempts.
    let before = accepted.load(Ordering::SeqCst);
    assert!(matches!(
        client.action(9).await,
        Err(Error::Transport { .. })
    ));
    let attempts = accepted.load(Ordering::SeqCst) - before;
    assert_eq!(attempts, 3);
}

#[test]
fn bad_configuration_is_refused() {
    let mut bad_pem = config("https://tanium.example.com".to_owned());
    bad_pem.ca_cert_pem = Some(b"not a certificate".to_vec());
    assert!(matches!(TaniumClient::new(bad_pem), Err(Error::Config(_))));
    assert!(matches!(
        TaniumClient::new(config("ftp://tanium.example.com".to_owned())),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        TaniumClient::new(config("not a url".to_owned())),
        Err(Error::Config(_))
    ));
    let trailing = TaniumClient::new(config("https://tanium.example.com/api/v2/".to_owned()));
    assert_eq!(
        trailing.ok().map(|c| c.base_url().to_owned()),
        Some("https://tanium.example.com".to_owned())
    );
}

/// A server that answers `429 Retry-After: 1` to the first request and a package to the rest.
/// Answers the first request 429 with `Retry-After: retry_after` seconds, then 200.
async fn rate_limiting_server(retry_after: u64) -> String {
    use tokio::io::AsyncWriteExt;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let address = listener.local_addr().unwrap_or_else(|err| panic!("{err}"));
    let served = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let served = served.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(n) if n > 0 => request.extend_from_slice(&buffer[..n]),
                        _ => return,
                    }
                }
                let answer = if served.fetch_add(1, Ordering::SeqCst) == 0 {
                    let body = r#"{"text":"429 Too Many Requests"}"#;
                    format!(
                        "HTTP/1.1 429 Too Many Requests\r\nRetry-After: {retry_after}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    let body = r#"{"data":{"id":7,"name":"Collect Diagnostics","command":"x","expire_seconds":600}}"#;
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    format!("http://{address}")
}

#[tokio::test]
async fn retry_after_is_honoured_up_to_the_cap() {
    // A generous cap: the client waits the whole second the server asked for.
    let mut patient = config(rate_limiting_server(1).await);
    patient.retry.cap = Duration::from_secs(5);
    let client = TaniumClient::new(patient).unwrap_or_else(|err| panic!("{err}"));
    let started = std::time::Instant::now();
    let package = client
        .package_by_id(7)
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(package.id, 7);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );

    // A small cap bounds the wait: the server asks for 30 s, the client waits far less (the
    // margin holds on a loaded machine).
    let client = TaniumClient::new(config(rate_limiting_server(30).await))
        .unwrap_or_else(|err| panic!("{err}"));
    let started = std::time::Instant::now();
    assert!(client.package_by_id(7).await.is_ok());
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}
