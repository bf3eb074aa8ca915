//! The operator's policy, judged from a URL alone: which hosts are allowed (the patterns of
//! `--http-allow` and `RUNBOOK_HTTP_ALLOW`), plain `http://` only where written, loopback and
//! link-local addresses only when allowed by name, and never the Tanium server.
//!
//! Messages name the host and port at most: never a URL's path, query or user information.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;
use runbook_engine::{EgressError, EgressErrorKind};

#[cfg(test)]
mod tests;

/// The grammar of an allow pattern, shown with every pattern refused.
pub(crate) const GRAMMAR: &str = "an allowed host is [http:// or https://]HOST[:PORT], where HOST is \
a DNS name (api.example.com), *.SUFFIX for any name under SUFFIX (*.example.com, not \
example.com itself), * for any host, an IPv4 address (10.0.0.5) or an IPv6 address in brackets \
([fd00::5]); no path. Examples: hooks.slack.com, https://*.service-now.com, \
http://10.1.2.3:8080, [::1]:9000";

/// How to allow a host, in the words of every refusal.
fn how_to_allow(pattern: &str) -> String {
    format!("allow it with --http-allow {pattern} or in RUNBOOK_HTTP_ALLOW")
}

/// The scheme an allow pattern was written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    /// `http://`: plain HTTP allowed (and HTTPS).
    Http,
    /// `https://`: HTTPS only.
    Https,
}

/// The host part of an allow pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// One DNS name, lower case, without a trailing dot.
    Name(String),
    /// `*.suffix`: names with at least one more label before `.suffix` (stored lower case,
    /// without the `*.`).
    Under(String),
    /// `*`: any name or address.
    Any,
    /// One address (IPv4-mapped IPv6 addresses stored as IPv4).
    Address(IpAddr),
}

/// One allow pattern, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    scheme: Option<Scheme>,
    host: HostPattern,
    port: Option<u16>,
}

impl Pattern {
    /// Reads a pattern as the operator wrote it; the error names it and shows the grammar.
    pub(crate) fn parse(text: &str) -> Result<Pattern, String> {
        Self::read(text.trim())
            .map_err(|why| format!("the allowed host {text:?} cannot be read ({why}): {GRAMMAR}"))
    }

    fn read(text: &str) -> Result<Pattern, &'static str> {
        if text.is_empty() {
            return Err("it is empty");
        }
        let lower = text.to_ascii_lowercase();
        let (scheme, rest) = if let Some(rest) = lower.strip_prefix("http://") {
            (Some(Scheme::Http), rest)
        } else if let Some(rest) = lower.strip_prefix("https://") {
            (Some(Scheme::Https), rest)
        } else if lower.contains("://") {
            return Err("only http:// and https:// may be written");
        } else {
            (None, lower.as_str())
        };
        if rest.contains(['/', '?', '#']) {
            return Err("a path, query or fragment is not allowed");
        }
        if rest.contains('@') {
            return Err("user information is not allowed");
        }
        let (host, port) = split_port(rest)?;
        Ok(Pattern {
            scheme,
            host: read_host(host)?,
            port,
        })
    }

    /// Whether the pattern names one host exactly (not `*`, not `*.suffix`).
    fn exact(&self) -> bool {
        matches!(self.host, HostPattern::Name(_) | HostPattern::Address(_))
    }

    fn matches(&self, host: &UrlHost, port: u16) -> bool {
        if self.port.is_some_and(|allowed| allowed != port) {
            return false;
        }
        match (&self.host, host) {
            (HostPattern::Any, _) => true,
            (HostPattern::Name(name), UrlHost::Name(host)) => name == host,
            (HostPattern::Under(suffix), UrlHost::Name(host)) => host
                .strip_suffix(suffix.as_str())
                .and_then(|before| before.strip_suffix('.'))
                .is_some_and(|labels| !labels.is_empty()),
            (HostPattern::Address(address), UrlHost::Address(host)) => *address == *host,
            _ => false,
        }
    }

    /// Whether a URL of this scheme may go where the pattern allows: plain HTTP where written
    /// with `http://`, or to a loopback host through an exact pattern written without scheme.
    fn allows_scheme(&self, https: bool, loopback: bool) -> bool {
        match self.scheme {
            Some(Scheme::Http) => true,
            Some(Scheme::Https) => https,
            None => https || (loopback && self.exact()),
        }
    }
}

/// Splits `HOST[:PORT]` (an IPv6 host in brackets).
fn split_port(text: &str) -> Result<(&str, Option<u16>), &'static str> {
    let (host, port) = if text.starts_with('[') {
        match text.find(']') {
            Some(end) => {
                let rest = &text[end + 1..];
                match rest.strip_prefix(':') {
                    Some(port) => (&text[..=end], Some(port)),
                    None if rest.is_empty() => (text, None),
                    None => return Err("only :PORT may follow an IPv6 address"),
                }
            }
            None => return Err("an IPv6 address misses its closing bracket"),
        }
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let port = match port {
        None => None,
        Some(port) => match port.parse::<u16>() {
            Ok(number) if number > 0 && port.chars().all(|c| c.is_ascii_digit()) => Some(number),
            _ => return Err("the port must be a number from 1 to 65535"),
        },
    };
    Ok((host, port))
}

fn read_host(host: &str) -> Result<HostPattern, &'static str> {
    if host == "*" {
        return Ok(HostPattern::Any);
    }
    if let Some(inside) = host.strip_prefix('[') {
        let inside = inside.strip_suffix(']').unwrap_or(inside);
        return inside
            .parse::<Ipv6Addr>()
            .map(|address| HostPattern::Address(IpAddr::V6(address).to_canonical()))
            .map_err(|_| "the text in brackets is not an IPv6 address");
    }
    if host.contains(':') {
        return Err("an IPv6 address must be written in brackets");
    }
    if let Some(suffix) = host.strip_prefix("*.") {
        let suffix = read_name(suffix)?;
        if looks_like_ipv4(&suffix) {
            return Err("*. must be followed by a DNS name");
        }
        return Ok(HostPattern::Under(suffix));
    }
    if host.contains('*') {
        return Err("* may only be written alone or as *.SUFFIX");
    }
    let name = read_name(host)?;
    if looks_like_ipv4(&name) {
        return name
            .parse::<Ipv4Addr>()
            .map(|address| HostPattern::Address(IpAddr::V4(address)))
            .map_err(|_| "it is not a valid IPv4 address");
    }
    Ok(HostPattern::Name(name))
}

/// A DNS name, lower case, its trailing dot dropped.
fn read_name(name: &str) -> Result<String, &'static str> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Err("the host is empty");
    }
    if name.len() > 253 {
        return Err("the name is longer than 253 characters");
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("each label of a name has 1 to 63 characters");
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err("a name has only letters, digits, '-' and '_' (write IDNs in punycode)");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label of a name neither starts nor ends with '-'");
        }
    }
    Ok(name.to_owned())
}

/// Names whose last label is all digits are IPv4 addresses (as URLs read them).
fn looks_like_ipv4(name: &str) -> bool {
    name.rsplit('.')
        .next()
        .is_some_and(|last| !last.is_empty() && last.chars().all(|c| c.is_ascii_digit()))
}

/// A URL's host: a DNS name (lower case, without a trailing dot) or an address (IPv4-mapped
/// IPv6 addresses as IPv4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UrlHost {
    Name(String),
    Address(IpAddr),
}

impl UrlHost {
    fn of(url: &Url) -> Option<UrlHost> {
        let host = url.host_str()?;
        if let Some(inside) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            return inside
                .parse::<Ipv6Addr>()
                .ok()
                .map(|address| UrlHost::Address(IpAddr::V6(address).to_canonical()));
        }
        if let Ok(address) = host.parse::<Ipv4Addr>() {
            return Some(UrlHost::Address(IpAddr::V4(address)));
        }
        let name = host.strip_suffix('.').unwrap_or(host);
        Some(UrlHost::Name(name.to_ascii_lowercase()))
    }
}

/// The kind of address an `http` step reaches only when its host is allowed by name.
pub(crate) fn special_address(address: IpAddr) -> Option<&'static str> {
    fn v4(address: Ipv4Addr) -> Option<&'static str> {
        if address.is_loopback() {
            Some("a loopback address")
        } else if address.is_link_local() {
            Some("a link-local address (cloud metadata lives there)")
        } else if address.is_unspecified() {
            Some("the unspecified address")
        } else {
            None
        }
    }
    match address {
        IpAddr::V4(address) => v4(address),
        IpAddr::V6(address) => {
            if address.is_loopback() {
                Some("a loopback address")
            } else if address.is_unspecified() {
                Some("the unspecified address")
            } else if address.segments()[0] & 0xffc0 == 0xfe80 {
                Some("a link-local address (cloud metadata lives there)")
            } else if address == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254) {
                Some("the cloud metadata address")
            } else if address.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                // NAT64 (64:ff9b::a.b.c.d) reaches the IPv4 address it carries.
                let [.., a, b] = address.segments();
                let [a1, a2] = a.to_be_bytes();
                let [b1, b2] = b.to_be_bytes();
                v4(Ipv4Addr::new(a1, a2, b1, b2))
            } else {
                // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) forms.
                address.to_ipv4().and_then(v4)
            }
        }
    }
}

fn special_name(name: &str) -> bool {
    name == "localhost" || name.ends_with(".localhost")
}

/// Where the Tanium server is: never reachable through an `http` step.
#[derive(Debug, Clone)]
pub(crate) struct Tanium {
    pub(crate) host: UrlHost,
    /// The host as written in the URL (to resolve it).
    pub(crate) host_str: String,
    pub(crate) port: u16,
}

impl Tanium {
    pub(crate) fn parse(url: &str) -> Result<Tanium, String> {
        let parsed = Url::parse(url.trim())
            .map_err(|err| format!("the Tanium server's URL cannot be read: {err}"))?;
        match (
            UrlHost::of(&parsed),
            parsed.host_str(),
            parsed.port_or_known_default(),
        ) {
            (Some(host), Some(host_str), Some(port)) => Ok(Tanium {
                host,
                host_str: host_str.to_owned(),
                port,
            }),
            _ => Err("the Tanium server's URL names no host and port".to_owned()),
        }
    }
}

/// Whether two socket addresses reach the same server: equal, or one of them the unspecified
/// address (which reaches this machine) and the other a loopback address, on the same port.
pub(crate) fn same_server(a: SocketAddr, b: SocketAddr) -> bool {
    let (x, y) = (a.ip().to_canonical(), b.ip().to_canonical());
    a.port() == b.port()
        && (x == y
            || (x.is_unspecified() && y.is_loopback())
            || (x.is_loopback() && y.is_unspecified()))
}

/// A URL the policy lets through, with what sending needs to check where it resolves.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) url: Url,
    pub(crate) host: UrlHost,
    /// The host as the URL writes it (IPv6 in brackets): what messages show.
    pub(crate) shown: String,
    pub(crate) port: u16,
    /// Matched by an exact pattern: loopback and link-local addresses are allowed then.
    pub(crate) by_name: bool,
}

impl Target {
    /// `host` or `host:port` when the port is not the scheme's default.
    pub(crate) fn host_and_port(&self) -> String {
        shown_with_port(&self.url, &self.shown, self.port)
    }

    /// The scheme, host and port: a redirect to another origin drops credentials.
    pub(crate) fn origin(&self) -> (String, UrlHost, u16) {
        (self.url.scheme().to_owned(), self.host.clone(), self.port)
    }
}

fn shown_with_port(url: &Url, shown: &str, port: u16) -> String {
    if url.port().is_some() {
        format!("{shown}:{port}")
    } else {
        shown.to_owned()
    }
}

/// The allowed hosts and the Tanium server.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub(crate) patterns: Vec<Pattern>,
    pub(crate) tanium: Option<Tanium>,
}

fn refused(message: String) -> EgressError {
    EgressError::new(EgressErrorKind::Refused, message)
}

impl Policy {
    /// Judges a URL from its text alone (no name resolved).
    pub(crate) fn judge(&self, url: &str) -> Result<Target, EgressError> {
        let url = Url::parse(url).map_err(|err| {
            EgressError::new(
                EgressErrorKind::NotSent,
                format!("the http step's URL cannot be read: {err}"),
            )
        })?;
        self.judge_url(url)
    }

    pub(crate) fn judge_url(&self, url: Url) -> Result<Target, EgressError> {
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            other => {
                let to = url
                    .host_str()
                    .map(|host| format!(" (to {host})"))
                    .unwrap_or_default();
                return Err(refused(format!(
                    "an http step sends only http:// and https:// URLs, not {other}://{to}"
                )));
            }
        };
        let (Some(host), Some(shown), Some(port)) = (
            UrlHost::of(&url),
            url.host_str().map(str::to_owned),
            url.port_or_known_default(),
        ) else {
            return Err(EgressError::new(
                EgressErrorKind::NotSent,
                "the http step's URL names no host",
            ));
        };
        let named = shown_with_port(&url, &shown, port);
        if let Some(tanium) = &self.tanium
            && tanium.host == host
            && tanium.port == port
        {
            return Err(refused(format!(
                "{named} is the Tanium server, which is never reachable through an http step"
            )));
        }
        if self.patterns.is_empty() {
            return Err(refused(format!(
                "an http step may not reach {named}: no host is allowed; {}",
                how_to_allow(&shown)
            )));
        }
        let matching: Vec<&Pattern> = self
            .patterns
            .iter()
            .filter(|pattern| pattern.matches(&host, port))
            .collect();
        if matching.is_empty() {
            return Err(refused(format!(
                "an http step may not reach {named}: no allowed host matches it; {}",
                how_to_allow(&shown)
            )));
        }
        let special = match &host {
            UrlHost::Name(name) => special_name(name).then_some("a loopback name"),
            UrlHost::Address(address) => special_address(*address),
        };
        let loopback = match &host {
            UrlHost::Name(name) => special_name(name),
            UrlHost::Address(address) => address.to_canonical().is_loopback(),
        };
        let usable: Vec<&Pattern> = matching
            .into_iter()
            .filter(|pattern| pattern.allows_scheme(https, loopback))
            .collect();
        if usable.is_empty() {
            return Err(refused(format!(
                "an http step may not reach {named} over plain http://: the request (and any \
                 token in it) would cross the network unencrypted; use https://, or allow plain \
                 HTTP to this host with --http-allow http://{shown} (or in RUNBOOK_HTTP_ALLOW)"
            )));
        }
        let by_name = usable.iter().any(|pattern| pattern.exact());
        if let Some(kind) = special
            && !by_name
        {
            return Err(refused(format!(
                "an http step may not reach {named}: it is {kind}, reachable only when allowed \
                 by name, not by a wildcard; {}",
                how_to_allow(&shown)
            )));
        }
        Ok(Target {
            url,
            host,
            shown,
            port,
            by_name,
        })
    }

    /// Checks where a target's name resolved: loopback and link-local addresses only when
    /// allowed by name, never the Tanium server's addresses.
    pub(crate) fn check_addresses(
        &self,
        target: &Target,
        addresses: &[SocketAddr],
        tanium: &[SocketAddr],
    ) -> Result<(), EgressError> {
        let named = target.host_and_port();
        for address in addresses {
            if tanium.iter().any(|server| same_server(*address, *server)) {
                return Err(refused(format!(
                    "{named} resolves to the Tanium server, which is never reachable through an \
                     http step"
                )));
            }
            // A name reaches such an address only when it is `localhost` allowed by name: any
            // other name resolving there (a rebinding, a hostile DNS answer) is refused.
            let written_so = match &target.host {
                UrlHost::Address(_) => true,
                UrlHost::Name(name) => special_name(name),
            };
            if !(target.by_name && written_so)
                && let Some(kind) = special_address(address.ip())
            {
                return Err(refused(format!(
                    "an http step may not reach {named}: it resolves to {kind} ({}), reachable \
                     only through that address or `localhost` allowed by name; {}",
                    address.ip(),
                    how_to_allow(&target.shown)
                )));
            }
        }
        Ok(())
    }
}
