use super::*;

fn policy(allow: &[&str], tanium: Option<&str>) -> Policy {
    Policy {
        patterns: allow
            .iter()
            .map(|text| Pattern::parse(text).expect("a valid pattern"))
            .collect(),
        tanium: tanium.map(|url| Tanium::parse(url).expect("a Tanium URL")),
    }
}

fn refusal(policy: &Policy, url: &str) -> String {
    match policy.judge(url) {
        Ok(_) => panic!("{url} was allowed"),
        Err(err) => {
            assert_eq!(err.kind, EgressErrorKind::Refused, "{url}: {}", err.message);
            err.message
        }
    }
}

#[test]
fn patterns_read_as_the_grammar_says() {
    let name = |name: &str| HostPattern::Name(name.to_owned());
    let table: &[(&str, Option<Scheme>, HostPattern, Option<u16>)] = &[
        ("hooks.slack.com", None, name("hooks.slack.com"), None),
        ("API.Example.COM.", None, name("api.example.com"), None),
        ("localhost", None, name("localhost"), None),
        ("my_host-1", None, name("my_host-1"), None),
        (
            "https://*.service-now.com",
            Some(Scheme::Https),
            HostPattern::Under("service-now.com".to_owned()),
            None,
        ),
        (
            "HTTP://siem.corp:8088",
            Some(Scheme::Http),
            name("siem.corp"),
            Some(8088),
        ),
        ("*", None, HostPattern::Any, None),
        ("*:8443", None, HostPattern::Any, Some(8443)),
        (
            "10.1.2.3",
            None,
            HostPattern::Address("10.1.2.3".parse().expect("ip")),
            None,
        ),
        (
            "http://127.0.0.1:9000",
            Some(Scheme::Http),
            HostPattern::Address("127.0.0.1".parse().expect("ip")),
            Some(9000),
        ),
        (
            "[fd00::5]",
            None,
            HostPattern::Address("fd00::5".parse().expect("ip")),
            None,
        ),
        (
            "[::1]:8080",
            None,
            HostPattern::Address("::1".parse().expect("ip")),
            Some(8080),
        ),
        (
            "[::ffff:10.0.0.1]",
            None,
            HostPattern::Address("10.0.0.1".parse().expect("ip")),
            None,
        ),
        ("  padded.example  ", None, name("padded.example"), None),
    ];
    for (text, scheme, host, port) in table {
        let pattern = Pattern::parse(text).unwrap_or_else(|err| panic!("{text}: {err}"));
        assert_eq!(
            pattern,
            Pattern {
                scheme: *scheme,
                host: host.clone(),
                port: *port
            },
            "{text}"
        );
    }
}

#[test]
fn bad_patterns_are_named_with_the_grammar() {
    for text in [
        "",
        "   ",
        "https://hooks.slack.com/services/x",
        "example.com/",
        "*foo.com",
        "foo.*.com",
        "*.",
        "*.10.0.0.1",
        "example.com:0",
        "example.com:65536",
        "example.com:http",
        "example.com:+80",
        "example.com:",
        "ftp://example.com",
        "user@example.com",
        "::1",
        "[::1",
        "[nope]",
        "[::1]x",
        "1.2.3.999",
        "exa mple.com",
        "-bad.com",
        "a..b",
        "example.com?x=1",
    ] {
        let err = Pattern::parse(text).expect_err(text);
        assert!(err.contains(&format!("{text:?}")), "{text}: {err}");
        assert!(err.contains(GRAMMAR), "{text}: {err}");
        assert!(err.contains("*.example.com"), "examples shown: {err}");
    }
}

#[test]
fn patterns_match_hosts_and_ports() {
    let table: &[(&str, &str, bool)] = &[
        ("example.com", "https://example.com/", true),
        ("example.com", "https://EXAMPLE.com./x", true),
        ("Example.COM.", "https://example.com:8443/", true),
        ("example.com", "https://www.example.com/", false),
        ("example.com", "https://example.com.evil.net/", false),
        ("*.example.com", "https://www.example.com/", true),
        ("*.example.com", "https://a.b.example.com/", true),
        ("*.example.com", "https://example.com/", false),
        ("*.example.com", "https://badexample.com/", false),
        ("*.example.com", "https://10.0.0.1/", false),
        ("*", "https://anything.net/", true),
        ("*", "https://10.0.0.1:444/", true),
        ("*", "https://[fd00::1]/", true),
        ("example.com:8443", "https://example.com:8443/", true),
        ("example.com:8443", "https://example.com/", false),
        ("example.com:443", "https://example.com/", true),
        ("http://example.com:80", "http://example.com/", true),
        ("10.0.0.1", "https://10.0.0.1/", true),
        ("10.0.0.1", "https://10.0.0.2/", false),
        ("10.0.0.1", "https://[::ffff:10.0.0.1]/", true),
        ("[fd00::5]", "https://[FD00:0::5]/", true),
        ("[fd00::5]:9000", "https://[fd00::5]:9000/", true),
        ("[fd00::5]:9000", "https://[fd00::5]:9001/", false),
        ("[fd00::5]", "https://[fd00::6]/", false),
    ];
    for (pattern, url, expected) in table {
        let result = policy(&[pattern], None).judge(url);
        assert_eq!(
            result.is_ok(),
            *expected,
            "{pattern} against {url}: {result:?}"
        );
    }
}

#[test]
fn a_host_not_allowed_is_refused_naming_it_and_how_to_allow_it() {
    let message = refusal(
        &policy(&["hooks.slack.com"], None),
        "https://user:pw@api.example.com/services/SECRET-MARKER?token=SECRET-QUERY#frag",
    );
    assert!(message.contains("api.example.com"), "{message}");
    assert!(
        message.contains("--http-allow api.example.com"),
        "{message}"
    );
    assert!(message.contains("RUNBOOK_HTTP_ALLOW"), "{message}");
    for secret in ["SECRET", "services", "token", "user", "pw", "frag"] {
        assert!(!message.contains(secret), "{secret} in {message}");
    }
}

#[test]
fn with_nothing_allowed_everything_is_refused_saying_so() {
    let message = refusal(&policy(&[], None), "https://example.com/SECRET-MARKER");
    assert!(message.contains("no host is allowed"), "{message}");
    assert!(message.contains("--http-allow example.com"), "{message}");
    assert!(!message.contains("SECRET"), "{message}");
}

#[test]
fn other_schemes_and_bad_urls_are_not_sent() {
    let allow_all = policy(&["*"], None);
    refusal(&allow_all, "ftp://example.com/file");
    refusal(&allow_all, "file:///etc/passwd");
    let err = allow_all.judge("not a url").expect_err("refused");
    assert_eq!(err.kind, EgressErrorKind::NotSent);
}

#[test]
fn plain_http_only_where_written_with_http() {
    let message = refusal(
        &policy(&["siem.corp", "https://*.corp"], None),
        "http://siem.corp:8088/SECRET-MARKER",
    );
    assert!(message.contains("unencrypted"), "{message}");
    assert!(
        message.contains("--http-allow http://siem.corp"),
        "{message}"
    );
    assert!(message.contains("siem.corp:8088"), "{message}");
    assert!(!message.contains("SECRET"), "{message}");
    assert!(
        policy(&["http://siem.corp"], None)
            .judge("http://siem.corp:8088/")
            .is_ok()
    );
    assert!(
        policy(&["http://siem.corp"], None)
            .judge("https://siem.corp/")
            .is_ok()
    );
    refusal(&policy(&["https://siem.corp"], None), "http://siem.corp/");
    // Loopback allowed by name may be plain HTTP (it does not cross the network).
    assert!(
        policy(&["127.0.0.1"], None)
            .judge("http://127.0.0.1:9000/")
            .is_ok()
    );
    assert!(
        policy(&["localhost"], None)
            .judge("http://localhost:9000/")
            .is_ok()
    );
    assert!(policy(&["[::1]"], None).judge("http://[::1]:9000/").is_ok());
    refusal(&policy(&["https://127.0.0.1"], None), "http://127.0.0.1/");
}

#[test]
fn loopback_link_local_and_unspecified_only_by_name() {
    let allow_all = policy(&["*", "http://*"], None);
    for url in [
        "http://127.0.0.1:9000/",
        "http://127.1.2.3/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://0.0.0.0:8080/",
        "http://[::]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://localhost:8080/",
        "http://api.localhost/",
        "http://LOCALHOST./",
    ] {
        let message = refusal(&allow_all, url);
        assert!(message.contains("by name"), "{url}: {message}");
    }
    let message = refusal(&allow_all, "http://169.254.169.254/latest/meta-data/");
    assert!(message.contains("link-local"), "{message}");
    assert!(!message.contains("meta-data"), "{message}");
    refusal(&policy(&["*.localhost"], None), "https://api.localhost/");
    assert!(
        policy(&["127.0.0.1"], None)
            .judge("http://127.0.0.1:9000/")
            .is_ok()
    );
    assert!(
        policy(&["http://169.254.169.254"], None)
            .judge("http://169.254.169.254/")
            .is_ok()
    );
    // Private ranges are not special: on-premises servers live there.
    for url in [
        "https://10.1.2.3/",
        "https://172.16.0.1/",
        "https://192.168.1.1/",
    ] {
        assert!(allow_all.judge(url).is_ok(), "{url}");
    }
}

#[test]
fn the_tanium_server_is_never_reachable() {
    let allowed = policy(
        &["127.0.0.1", "tanium.corp"],
        Some("http://127.0.0.1:7443/api/v2"),
    );
    let message = refusal(&allowed, "http://127.0.0.1:7443/SECRET-MARKER");
    assert!(message.contains("127.0.0.1:7443"), "{message}");
    assert!(message.contains("Tanium server"), "{message}");
    assert!(!message.contains("SECRET"), "{message}");
    assert!(allowed.judge("http://127.0.0.1:7444/").is_ok());
    let by_name = policy(&["*"], Some("https://Tanium.Corp/"));
    refusal(&by_name, "https://tanium.corp./x");
    refusal(&by_name, "https://TANIUM.corp:443/");
    assert!(by_name.judge("https://tanium.corp:8443/").is_ok());
}

#[test]
fn resolved_addresses_are_checked() {
    let wildcard = policy(&["*.corp"], Some("https://tanium.corp/"));
    let target = wildcard
        .judge("https://svc.corp/")
        .expect("allowed by its name");
    let loopback: SocketAddr = "127.0.0.1:443".parse().expect("address");
    let metadata: SocketAddr = "169.254.169.254:443".parse().expect("address");
    let private: SocketAddr = "10.0.0.9:443".parse().expect("address");
    for address in [loopback, metadata] {
        let err = wildcard
            .check_addresses(&target, &[private, address], &[])
            .expect_err("refused");
        assert_eq!(err.kind, EgressErrorKind::Refused);
        assert!(err.message.contains("svc.corp"), "{}", err.message);
    }
    assert!(wildcard.check_addresses(&target, &[private], &[]).is_ok());
    let err = wildcard
        .check_addresses(&target, &[private], &[private])
        .expect_err("the Tanium server");
    assert!(err.message.contains("Tanium server"), "{}", err.message);
    // A name allowed exactly still does not reach loopback or metadata by resolving there
    // (a rebinding): only `localhost` does, or the address written in the URL.
    let named = policy(&["svc.corp"], None);
    let target = named.judge("https://svc.corp/").expect("allowed");
    for address in [loopback, metadata] {
        assert!(named.check_addresses(&target, &[address], &[]).is_err());
    }
    let local = policy(&["localhost"], None);
    let target = local.judge("https://localhost/").expect("allowed");
    assert!(local.check_addresses(&target, &[loopback], &[]).is_ok());
    let unspecified: SocketAddr = "0.0.0.0:443".parse().expect("address");
    assert!(
        local
            .check_addresses(&target, &[unspecified], &[loopback])
            .is_err()
    );
    // Cloud metadata over IPv6, and NAT64 around a link-local IPv4 address.
    let anything = policy(&["*"], None);
    let target = anything.judge("https://svc.corp/").expect("allowed");
    for address in ["[fd00:ec2::254]:443", "[64:ff9b::a9fe:a9fe]:443"] {
        let address: SocketAddr = address.parse().expect("address");
        assert!(
            anything.check_addresses(&target, &[address], &[]).is_err(),
            "{address}"
        );
    }
}
