//! Requests sent to real loopback receivers (allowed by name, `127.0.0.1`): what arrives, what
//! comes back, sizes, time-outs, refused connections, redirects and the Tanium server.

mod common;

use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use common::{Receiver, answer, egress, request};
use runbook_egress::{EgressConfig, HttpEgress, MAX_REDIRECTS, split_allow_list};
use runbook_engine::{Egress, EgressErrorKind, HttpMethod};

#[tokio::test]
async fn every_method_arrives_with_its_headers_and_body_and_the_answer_comes_back() {
    let receiver = Receiver::start(|_| {
        answer(
            201,
            &[
                ("X-Answer", "One"),
                ("Set-Cookie", "a=1"),
                ("Set-Cookie", "b=2"),
            ],
            "answered",
        )
    })
    .await;
    let egress = egress(&["127.0.0.1"], None);
    for method in HttpMethod::ALL {
        let mut sent = request(method, receiver.url("/api/items?x=1"));
        sent.headers = vec![
            ("X-Token".to_owned(), "secret-token".to_owned()),
            ("X-Multi".to_owned(), "one".to_owned()),
            ("X-Multi".to_owned(), "two".to_owned()),
        ];
        if method != HttpMethod::Get {
            sent.headers
                .push(("Content-Type".to_owned(), "application/json".to_owned()));
            sent.body = Some(br#"{"a":1}"#.to_vec());
        }
        let got = egress.send(&sent).await.expect("sent");
        assert_eq!(got.status, 201);
        assert_eq!(got.body, b"answered");
        assert!(
            got.headers
                .contains(&("x-answer".to_owned(), "One".to_owned()))
        );
        let cookies: Vec<&str> = got
            .headers
            .iter()
            .filter(|(name, _)| name == "set-cookie")
            .map(|(_, value)| value.as_str())
            .collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        let seen = receiver.seen().pop().expect("received");
        assert_eq!(seen.method, method.as_str());
        assert_eq!(seen.path, "/api/items?x=1");
        assert_eq!(seen.header("x-token"), Some("secret-token"));
        let multi: Vec<&str> = seen
            .headers
            .iter()
            .filter(|(name, _)| name == "x-multi")
            .map(|(_, value)| value.as_str())
            .collect();
        assert_eq!(multi, ["one", "two"]);
        assert!(
            seen.header("user-agent")
                .is_some_and(|agent| agent.starts_with("runbook/"))
        );
        if method == HttpMethod::Get {
            assert!(seen.body.is_empty());
        } else {
            assert_eq!(seen.body, br#"{"a":1}"#);
            assert_eq!(seen.header("content-type"), Some("application/json"));
        }
    }
    assert_eq!(receiver.seen().len(), HttpMethod::ALL.len());
}

#[tokio::test]
async fn a_name_allowed_exactly_is_pinned_to_its_checked_addresses() {
    let receiver = Receiver::start(|_| answer(200, &[], "hello")).await;
    let egress = egress(&["localhost"], None);
    let url = format!("http://localhost:{}/x", receiver.port());
    let got = egress
        .send(&request(HttpMethod::Get, url))
        .await
        .expect("sent");
    assert_eq!(got.body, b"hello");
}

#[tokio::test]
async fn an_answer_announced_larger_than_max_response_is_too_large() {
    let receiver = Receiver::start(|_| answer(200, &[], vec![b'x'; 1000])).await;
    let egress = egress(&["127.0.0.1"], None);
    let mut sent = request(HttpMethod::Get, receiver.url("/big/SECRET-PATH"));
    sent.max_response = 100;
    let err = egress.send(&sent).await.expect_err("too large");
    assert_eq!(err.kind, EgressErrorKind::TooLarge);
    assert!(
        err.message
            .contains(&format!("127.0.0.1:{}", receiver.port())),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("max_response (100 bytes)"),
        "{}",
        err.message
    );
    assert!(!err.message.contains("SECRET"), "{}", err.message);
    sent.max_response = 1000;
    assert_eq!(egress.send(&sent).await.expect("fits").body.len(), 1000);
}

#[tokio::test]
async fn a_streamed_answer_larger_than_max_response_is_too_large() {
    let receiver = Receiver::start(|_| {
        let chunks = (0..10).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'y'; 100])));
        answer(
            200,
            &[],
            Body::from_stream(futures_util::stream::iter(chunks)),
        )
    })
    .await;
    let egress = egress(&["127.0.0.1"], None);
    let mut sent = request(HttpMethod::Get, receiver.url("/stream"));
    sent.max_response = 250;
    let err = egress.send(&sent).await.expect_err("too large");
    assert_eq!(err.kind, EgressErrorKind::TooLarge, "{}", err.message);
    sent.max_response = 1000;
    let got = egress.send(&sent).await.expect("fits");
    assert_eq!(got.body.len(), 1000);
    assert!(got.headers.iter().all(|(name, _)| name != "content-length"));
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_may_have_got_the_request() {
    let receiver = Receiver::start(|_| answer(200, &[], "late")).await;
    let egress = egress(&["127.0.0.1"], None);
    let mut sent = request(HttpMethod::Post, receiver.url("/sleep/SECRET-PATH"));
    sent.body = Some(b"payload".to_vec());
    sent.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = egress.send(&sent).await.expect_err("timed out");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(err.kind, EgressErrorKind::MaybeSent, "{}", err.message);
    assert!(!err.message.contains("SECRET"), "{}", err.message);
    assert_eq!(receiver.seen().len(), 1);
}

#[tokio::test]
async fn a_time_out_too_long_for_the_clock_is_no_time_out() {
    let receiver = Receiver::start(|_| answer(200, &[], "ok")).await;
    let mut sent = request(HttpMethod::Get, receiver.url("/"));
    sent.timeout = Duration::MAX;
    let got = egress(&["127.0.0.1"], None)
        .send(&sent)
        .await
        .expect("sent");
    assert_eq!(got.body, b"ok");
}

#[tokio::test]
async fn a_closed_port_is_not_sent() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    let egress = egress(&["127.0.0.1"], None);
    let err = egress
        .send(&request(
            HttpMethod::Post,
            format!("http://{address}/SECRET-PATH"),
        ))
        .await
        .expect_err("refused connection");
    assert_eq!(err.kind, EgressErrorKind::NotSent, "{}", err.message);
    assert!(
        err.message.contains(&address.to_string()),
        "{}",
        err.message
    );
    assert!(!err.message.contains("SECRET"), "{}", err.message);
}

#[tokio::test]
async fn a_refused_url_sends_nothing() {
    let receiver = Receiver::start(|_| answer(200, &[], "")).await;
    let egress = egress(&["*", "http://*"], None);
    let err = egress
        .send(&request(HttpMethod::Post, receiver.url("/x")))
        .await
        .expect_err("loopback under a wildcard");
    assert_eq!(err.kind, EgressErrorKind::Refused);
    assert!(err.message.contains("127.0.0.1"), "{}", err.message);
    assert!(receiver.seen().is_empty());
}

#[tokio::test]
async fn a_303_after_a_post_is_followed_with_a_get_and_307_keeps_the_post() {
    let receiver = Receiver::start(|seen| match seen.path.as_str() {
        "/see-other" => answer(303, &[("Location", "/landing")], ""),
        "/temporary" => answer(307, &[("Location", "landing")], ""),
        _ => answer(200, &[], "landed"),
    })
    .await;
    let egress = egress(&["127.0.0.1"], None);
    let mut sent = request(HttpMethod::Post, receiver.url("/see-other"));
    sent.headers = vec![("Content-Type".to_owned(), "text/plain".to_owned())];
    sent.body = Some(b"payload".to_vec());
    let got = egress.send(&sent).await.expect("followed");
    assert_eq!((got.status, got.body.as_slice()), (200, &b"landed"[..]));
    let seen = receiver.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].body.as_slice()),
        ("POST", &b"payload"[..])
    );
    assert_eq!(seen[1].method, "GET");
    assert_eq!(seen[1].path, "/landing");
    assert!(seen[1].body.is_empty());
    assert_eq!(seen[1].header("content-type"), None);

    sent.url = receiver.url("/temporary");
    egress.send(&sent).await.expect("followed");
    let seen = receiver.seen();
    assert_eq!(seen.len(), 4);
    assert_eq!(
        (seen[3].method.as_str(), seen[3].body.as_slice()),
        ("POST", &b"payload"[..])
    );
    assert_eq!(seen[3].path, "/landing");
}

#[tokio::test]
async fn a_redirect_to_a_host_not_allowed_is_not_followed() {
    let elsewhere = Receiver::start(|_| answer(200, &[], "")).await;
    let to_localhost = format!("http://localhost:{}/SECRET-PATH", elsewhere.port());
    let first = Receiver::start(move |seen| match seen.path.as_str() {
        "/to-localhost" => answer(302, &[("Location", to_localhost.as_str())], ""),
        _ => answer(
            307,
            &[("Location", "https://elsewhere.example/SECRET-PATH?k=v")],
            "",
        ),
    })
    .await;
    let egress = egress(&["127.0.0.1"], None);
    let err = egress
        .send(&request(HttpMethod::Post, first.url("/to-localhost")))
        .await
        .expect_err("refused");
    assert_eq!(
        err.kind,
        EgressErrorKind::RedirectRefused,
        "{}",
        err.message
    );
    assert!(
        err.message
            .contains(&format!("redirect to localhost:{}", elsewhere.port())),
        "{}",
        err.message
    );
    assert!(err.message.contains("not followed"), "{}", err.message);
    assert!(!err.message.contains("SECRET"), "{}", err.message);
    let err = egress
        .send(&request(HttpMethod::Post, first.url("/to-elsewhere")))
        .await
        .expect_err("refused");
    assert_eq!(
        err.kind,
        EgressErrorKind::RedirectRefused,
        "{}",
        err.message
    );
    assert!(err.message.contains("elsewhere.example"), "{}", err.message);
    assert!(!err.message.contains("SECRET"), "{}", err.message);
    assert_eq!(first.seen().len(), 2);
    assert!(elsewhere.seen().is_empty());
}

#[tokio::test]
async fn redirects_are_followed_up_to_the_limit() {
    let hops = |stop: usize| {
        move |seen: &common::Seen| {
            let hop: usize = seen
                .path
                .trim_start_matches("/hop/")
                .parse()
                .expect("a hop number");
            if hop < stop {
                answer(302, &[("Location", &format!("/hop/{}", hop + 1))], "")
            } else {
                answer(200, &[], "arrived")
            }
        }
    };
    let enough = Receiver::start(hops(MAX_REDIRECTS)).await;
    let egress = egress(&["127.0.0.1"], None);
    let got = egress
        .send(&request(HttpMethod::Get, enough.url("/hop/0")))
        .await
        .expect("five redirects are followed");
    assert_eq!(got.body, b"arrived");
    assert_eq!(enough.seen().len(), MAX_REDIRECTS + 1);

    let endless = Receiver::start(hops(usize::MAX)).await;
    let err = egress
        .send(&request(HttpMethod::Get, endless.url("/hop/0")))
        .await
        .expect_err("too many redirects");
    assert_eq!(
        err.kind,
        EgressErrorKind::RedirectRefused,
        "{}",
        err.message
    );
    assert!(
        err.message.contains(&MAX_REDIRECTS.to_string()),
        "{}",
        err.message
    );
    assert_eq!(endless.seen().len(), MAX_REDIRECTS + 1);
}

#[tokio::test]
async fn nothing_the_playbook_wrote_goes_to_another_origin() {
    let other = Receiver::start(|_| answer(200, &[], "other")).await;
    let to_other = other.url("/landing");
    let to_other_too = to_other.clone();
    let first = Receiver::start(move |seen| match seen.path.as_str() {
        "/cross" => answer(307, &[("Location", to_other.as_str())], ""),
        "/cross-get" => answer(302, &[("Location", to_other_too.as_str())], ""),
        "/same" => answer(307, &[("Location", "/landing")], ""),
        _ => answer(200, &[], "same"),
    })
    .await;
    let egress = egress(&["127.0.0.1"], None);
    let with_credentials = |method: HttpMethod, path: &str, body: bool| {
        let mut sent = request(method, first.url(path));
        sent.headers = vec![
            ("Authorization".to_owned(), "Bearer secret".to_owned()),
            ("Cookie".to_owned(), "session=secret".to_owned()),
            ("Proxy-Authorization".to_owned(), "Basic secret".to_owned()),
            ("X-Api-Key".to_owned(), "secret".to_owned()),
        ];
        sent.body = body.then(|| b"payload".to_vec());
        sent
    };
    // A redirect that would carry the body to another origin is not followed.
    let err = egress
        .send(&with_credentials(HttpMethod::Post, "/cross", true))
        .await
        .expect_err("not followed");
    assert_eq!(
        err.kind,
        EgressErrorKind::RedirectRefused,
        "{}",
        err.message
    );
    assert!(other.seen().is_empty());
    // One without a body goes there with none of the playbook's headers.
    egress
        .send(&with_credentials(HttpMethod::Get, "/cross-get", false))
        .await
        .expect("followed");
    let landed = other.seen().pop().expect("received");
    for name in [
        "authorization",
        "cookie",
        "proxy-authorization",
        "x-api-key",
    ] {
        assert_eq!(landed.header(name), None, "{name}");
    }
    // The same origin keeps them, and the body.
    egress
        .send(&with_credentials(HttpMethod::Post, "/same", true))
        .await
        .expect("followed");
    let landed = first.seen().pop().expect("received");
    assert_eq!(landed.path, "/landing");
    assert_eq!(landed.header("authorization"), Some("Bearer secret"));
    assert_eq!(landed.header("x-api-key"), Some("secret"));
    assert_eq!(landed.body, b"payload");
}

#[tokio::test]
async fn the_tanium_server_is_refused_even_when_allowed_and_other_ports_work() {
    let tanium = Receiver::start(|_| answer(200, &[], "tanium")).await;
    let receiver = Receiver::start(|_| answer(200, &[], "receiver")).await;
    for tanium_url in [
        tanium.url("/"),
        format!("http://localhost:{}", tanium.port()),
    ] {
        let egress = egress(&["127.0.0.1"], Some(tanium_url.clone()));
        let err = egress
            .send(&request(HttpMethod::Get, tanium.url("/api/v2/SECRET-PATH")))
            .await
            .expect_err("the Tanium server");
        assert_eq!(
            err.kind,
            EgressErrorKind::Refused,
            "{tanium_url}: {}",
            err.message
        );
        assert!(err.message.contains("Tanium server"), "{}", err.message);
        assert!(!err.message.contains("SECRET"), "{}", err.message);
        let got = egress
            .send(&request(HttpMethod::Get, receiver.url("/")))
            .await
            .expect("another port");
        assert_eq!(got.body, b"receiver");
    }
    // A redirect to the Tanium server is not followed either.
    let to_tanium = tanium.url("/api/v2/actions");
    let bouncer =
        Receiver::start(move |_| answer(302, &[("Location", to_tanium.as_str())], "")).await;
    let egress = egress(&["127.0.0.1"], Some(tanium.url("/")));
    let err = egress
        .send(&request(HttpMethod::Get, bouncer.url("/")))
        .await
        .expect_err("refused");
    assert_eq!(
        err.kind,
        EgressErrorKind::RedirectRefused,
        "{}",
        err.message
    );
    assert!(tanium.seen().is_empty());
}

#[test]
fn new_names_a_bad_pattern_and_a_bad_ca_file() {
    let err = HttpEgress::new(EgressConfig {
        allow: vec!["hooks.slack.com".to_owned(), "*bad.com".to_owned()],
        ..EgressConfig::default()
    })
    .expect_err("a bad pattern");
    assert!(err.contains("\"*bad.com\""), "{err}");
    assert!(err.contains("*.example.com"), "{err}");
    let err = HttpEgress::new(EgressConfig {
        ca_cert_pem: Some(b"not a certificate".to_vec()),
        ..EgressConfig::default()
    })
    .expect_err("a bad CA file");
    assert!(err.contains("CA certificate"), "{err}");
    let nothing = HttpEgress::new(EgressConfig::default()).expect("nothing allowed is valid");
    let err = nothing
        .check_url("https://example.com/")
        .expect_err("refused");
    assert!(
        err.message.contains("no host is allowed"),
        "{}",
        err.message
    );
}

#[test]
fn the_allow_list_splits_on_commas_and_whitespace() {
    assert_eq!(
        split_allow_list(" hooks.slack.com,https://*.service-now.com\n\t10.0.0.5:8443 ,, [::1] "),
        [
            "hooks.slack.com",
            "https://*.service-now.com",
            "10.0.0.5:8443",
            "[::1]"
        ]
    );
    assert!(split_allow_list(" , ").is_empty());
}

/// Rule 5's price: a client per hop for names. Prints how long `new` and one loopback GET take.
#[tokio::test]
async fn setting_up_and_one_loopback_get_are_quick() {
    let receiver = Receiver::start(|_| answer(200, &[], "ok")).await;
    for (host, allow) in [("127.0.0.1", "127.0.0.1"), ("localhost", "localhost")] {
        let started = Instant::now();
        let egress = egress(&[allow], None);
        let set_up = started.elapsed();
        let url = format!("http://{host}:{}/", receiver.port());
        egress
            .send(&request(HttpMethod::Get, url.clone()))
            .await
            .expect("sent");
        let first = started.elapsed();
        let again = Instant::now();
        egress
            .send(&request(HttpMethod::Get, url))
            .await
            .expect("sent");
        eprintln!(
            "timing {host}: new {set_up:?}, new + first GET {first:?}, second GET {:?}",
            again.elapsed()
        );
        assert!(first < Duration::from_secs(5));
    }
}
