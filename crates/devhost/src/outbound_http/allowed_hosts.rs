//! `allowed_outbound_hosts`: parsing entries and deciding whether a URL may be reached.
//!
//! Matches Spin's rules (crates/outbound-networking-config/src/allowed_hosts.rs): an entry is
//! `scheme://host[:port]`; scheme `*` is any scheme; host `*` is any host, `*.example.com` any
//! subdomain, `self`/`self.alt` the app itself, an IP or CIDR block, or a literal host; port
//! omitted means the scheme's well-known port, `*` any port, `a..b` a range (end exclusive).
//! Templates (`{{ var }}`) are resolved before parsing, by the caller.
//! Not here: the HTTP client itself (see `outbound_http`), Postgres/Redis clients.

use std::net::IpAddr;

use ipnet::IpNet;

/// The well-known port of a scheme, as Spin knows them.
pub fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "postgres" => Some(5432),
        "redis" => Some(6379),
        "mysql" => Some(3306),
        "mqtt" => Some(1883),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SchemePattern {
    Any,
    Named(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// `*.example.com`, stored as `.example.com`.
    Subdomains(String),
    Literal(String),
    Cidr(IpNet),
    /// `self` or `self.alt`: requests to the app itself.
    SelfApp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Exact(u16),
    /// `a..b`, end exclusive.
    Range(u16, u16),
}

/// One parsed `allowed_outbound_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHostConfig {
    scheme: SchemePattern,
    host: HostPattern,
    port: PortPattern,
}

impl AllowedHostConfig {
    /// Parses one entry; the error says what is wrong with it.
    pub fn parse(entry: &str) -> Result<Self, String> {
        let entry = entry.trim();
        if entry.contains("{{") {
            return Err("unresolved template: resolve `{{ variable }}` before parsing".into());
        }
        let (scheme, rest) = entry
            .split_once("://")
            .ok_or_else(|| "expected `scheme://host[:port]`".to_string())?;
        let scheme = match scheme {
            "*" => SchemePattern::Any,
            s if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
            {
                SchemePattern::Named(s.to_ascii_lowercase())
            }
            _ => return Err(format!("invalid scheme {scheme:?}")),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Err("missing host".into());
        }
        // A CIDR block is the only place a '/' may appear; anything else is a path.
        let (host_part, port_part) = split_host_port(rest)?;
        let host = parse_host(host_part)?;
        let port = match port_part {
            None => match &scheme {
                SchemePattern::Named(s) => match well_known_port(s) {
                    Some(p) => PortPattern::Exact(p),
                    None => {
                        return Err(format!(
                            "scheme {s:?} has no well-known port: give a port explicitly"
                        ));
                    }
                },
                SchemePattern::Any => {
                    return Err("a port is required when the scheme is `*`".into());
                }
            },
            Some("*") => PortPattern::Any,
            Some(p) => match p.split_once("..") {
                Some((a, b)) => {
                    let a: u16 = a.parse().map_err(|_| format!("invalid port range {p:?}"))?;
                    let b: u16 = b.parse().map_err(|_| format!("invalid port range {p:?}"))?;
                    if a >= b {
                        return Err(format!("empty port range {p:?}"));
                    }
                    PortPattern::Range(a, b)
                }
                None => PortPattern::Exact(p.parse().map_err(|_| format!("invalid port {p:?}"))?),
            },
        };
        Ok(Self { scheme, host, port })
    }

    fn allows(&self, target: &OutboundTarget) -> bool {
        let scheme_ok = match &self.scheme {
            SchemePattern::Any => true,
            // A relative request carries no scheme of its own: as in Spin, `http://self`
            // and `https://self` both allow it.
            SchemePattern::Named(s) if target.host == TargetHost::SelfApp => {
                s == "http" || s == "https"
            }
            SchemePattern::Named(s) => *s == target.scheme,
        };
        let host_ok = match (&self.host, &target.host) {
            (HostPattern::SelfApp, TargetHost::SelfApp) => true,
            (_, TargetHost::SelfApp) | (HostPattern::SelfApp, _) => false,
            (HostPattern::Any, _) => true,
            (HostPattern::Subdomains(suffix), TargetHost::Name(h)) => {
                h.ends_with(suffix.as_str()) && h.len() > suffix.len()
            }
            (HostPattern::Literal(l), TargetHost::Name(h)) => l == h,
            (HostPattern::Literal(l), TargetHost::Ip(ip)) => l.parse::<IpAddr>() == Ok(*ip),
            (HostPattern::Cidr(net), TargetHost::Ip(ip)) => net.contains(ip),
            (HostPattern::Subdomains(_) | HostPattern::Cidr(_), _) => false,
        };
        let port_ok = match (&self.port, target.port) {
            (PortPattern::Any, _) => true,
            (PortPattern::Exact(p), Some(t)) => *p == t,
            (PortPattern::Range(a, b), Some(t)) => (*a..*b).contains(&t),
            // Relative requests to the app have no port of their own.
            (_, None) => matches!(target.host, TargetHost::SelfApp),
        };
        scheme_ok && host_ok && port_ok
    }
}

fn split_host_port(rest: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(inner) = rest.strip_prefix('[') {
        // [v6]:port or [v6]
        let (host, after) = inner
            .split_once(']')
            .ok_or_else(|| "unterminated IPv6 address".to_string())?;
        return match after {
            "" => Ok((host, None)),
            p => Ok((
                host,
                Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| format!("unexpected {p:?} after the address"))?,
                ),
            )),
        };
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        Some(_) => return Err("IPv6 addresses must be written in brackets".into()),
        None => (rest, None),
    };
    if let Some((_, after_slash)) = host.split_once('/')
        && (host.parse::<IpNet>().is_err() || after_slash.contains('/'))
    {
        return Err("paths are not allowed: give only scheme, host and port".into());
    }
    Ok((host, port))
}

fn parse_host(host: &str) -> Result<HostPattern, String> {
    let host = host.to_ascii_lowercase();
    if host == "*" {
        return Ok(HostPattern::Any);
    }
    if host == "self" || host == "self.alt" {
        return Ok(HostPattern::SelfApp);
    }
    if let Some(domain) = host.strip_prefix("*.") {
        if domain.is_empty() || domain.contains('*') {
            return Err(format!("invalid wildcard host {host:?}"));
        }
        if domain.parse::<IpAddr>().is_ok() {
            return Err("wildcards apply to domain names, not IP addresses".into());
        }
        return Ok(HostPattern::Subdomains(format!(".{domain}")));
    }
    if host.contains('*') {
        return Err(format!(
            "invalid host {host:?}: `*` may only stand as the whole host or the leading label"
        ));
    }
    if host.contains('/') {
        return host
            .parse::<IpNet>()
            .map(HostPattern::Cidr)
            .map_err(|_| format!("invalid CIDR block {host:?}"));
    }
    if host.is_empty() {
        return Err("missing host".into());
    }
    Ok(HostPattern::Literal(host))
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TargetHost {
    SelfApp,
    Name(String),
    Ip(IpAddr),
}

/// A request's destination as the allow-list sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundTarget {
    scheme: String,
    host: TargetHost,
    port: Option<u16>,
}

impl OutboundTarget {
    /// A relative request (no authority): a request to the app itself.
    pub fn self_app(scheme: &str) -> Self {
        Self {
            scheme: scheme.to_ascii_lowercase(),
            host: TargetHost::SelfApp,
            port: None,
        }
    }

    /// A destination from its parts; `port` defaults to the scheme's well-known port.
    pub fn new(scheme: &str, host: &str, port: Option<u16>) -> Self {
        let scheme = scheme.to_ascii_lowercase();
        let host_l = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let host = match host_l.parse::<IpAddr>() {
            Ok(ip) => TargetHost::Ip(ip),
            Err(_) => TargetHost::Name(host_l),
        };
        let port = port.or_else(|| well_known_port(&scheme));
        Self { scheme, host, port }
    }

    /// A destination from a URL such as `postgres://user@host:5432/db` or `redis://host`.
    pub fn from_url(url: &str) -> Result<Self, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("invalid address: {e}"))?;
        let host = parsed
            .host_str()
            .ok_or_else(|| "address has no host".to_string())?;
        Ok(Self::new(parsed.scheme(), host, parsed.port()))
    }
}

/// The parsed allow-list of one component.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    entries: Vec<AllowedHostConfig>,
}

impl AllowedHosts {
    /// Parses every (already template-resolved) entry.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let entries = entries
            .iter()
            .map(|e| AllowedHostConfig::parse(e).map_err(|err| format!("{e:?}: {err}")))
            .collect::<Result<_, _>>()?;
        Ok(Self { entries })
    }

    /// Whether any entry allows the destination.
    pub fn allows(&self, target: &OutboundTarget) -> bool {
        self.entries.iter().any(|e| e.allows(target))
    }

    /// Whether a database/cache URL (`postgres://…`, `redis://…`) may be reached.
    pub fn allows_url(&self, url: &str) -> bool {
        OutboundTarget::from_url(url).is_ok_and(|t| self.allows(&t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(entries: &[&str], scheme: &str, host: &str, port: Option<u16>) -> bool {
        let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        AllowedHosts::parse(&entries)
            .unwrap()
            .allows(&OutboundTarget::new(scheme, host, port))
    }

    #[test]
    fn omitted_port_means_the_well_known_port() {
        assert!(allows(
            &["https://example.com"],
            "https",
            "example.com",
            None
        ));
        assert!(allows(
            &["https://example.com"],
            "https",
            "example.com",
            Some(443)
        ));
        assert!(!allows(
            &["https://example.com"],
            "https",
            "example.com",
            Some(8443)
        ));
        assert!(allows(&["postgres://db"], "postgres", "db", Some(5432)));
        assert!(allows(&["redis://cache"], "redis", "cache", None));
    }

    #[test]
    fn scheme_must_match_unless_wildcard() {
        assert!(!allows(
            &["https://example.com"],
            "http",
            "example.com",
            Some(443)
        ));
        assert!(allows(
            &["*://example.com:443"],
            "http",
            "example.com",
            Some(443)
        ));
    }

    #[test]
    fn wildcard_hosts_and_subdomains() {
        assert!(allows(&["https://*"], "https", "anything.org", None));
        assert!(allows(
            &["https://*.example.com"],
            "https",
            "a.b.example.com",
            None
        ));
        assert!(!allows(
            &["https://*.example.com"],
            "https",
            "example.com",
            None
        ));
        assert!(!allows(
            &["https://*.example.com"],
            "https",
            "badexample.com",
            None
        ));
    }

    #[test]
    fn port_wildcards_and_ranges() {
        assert!(allows(
            &["http://localhost:*"],
            "http",
            "localhost",
            Some(1234)
        ));
        assert!(allows(
            &["http://localhost:8000..8002"],
            "http",
            "localhost",
            Some(8001)
        ));
        assert!(!allows(
            &["http://localhost:8000..8002"],
            "http",
            "localhost",
            Some(8002)
        ));
    }

    #[test]
    fn ip_and_cidr() {
        assert!(allows(
            &["http://127.0.0.1:8080"],
            "http",
            "127.0.0.1",
            Some(8080)
        ));
        assert!(allows(&["http://10.0.0.0/8:80"], "http", "10.1.2.3", None));
        assert!(!allows(&["http://10.0.0.0/8:80"], "http", "11.1.2.3", None));
        assert!(allows(&["http://[::1]:80"], "http", "[::1]", None));
    }

    #[test]
    fn self_allows_only_relative_requests() {
        let hosts = AllowedHosts::parse(&["http://self".to_string()]).unwrap();
        assert!(hosts.allows(&OutboundTarget::self_app("http")));
        assert!(hosts.allows(&OutboundTarget::self_app("https")));
        assert!(!hosts.allows(&OutboundTarget::new("http", "self", None)));
        let none = AllowedHosts::parse(&[]).unwrap();
        assert!(!none.allows(&OutboundTarget::self_app("http")));
    }

    #[test]
    fn empty_list_denies_everything() {
        assert!(!allows(&[], "https", "example.com", None));
    }

    #[test]
    fn urls_of_databases() {
        let hosts = AllowedHosts::parse(&["postgres://127.0.0.1:5432".into()]).unwrap();
        assert!(hosts.allows_url("postgres://postgres@127.0.0.1:5432/test"));
        assert!(hosts.allows_url("postgres://postgres@127.0.0.1/test"));
        assert!(!hosts.allows_url("postgres://postgres@127.0.0.1:5433/test"));
        assert!(!hosts.allows_url("redis://127.0.0.1:5432"));
    }

    #[test]
    fn bad_entries_are_rejected_with_reason() {
        for (entry, why) in [
            ("example.com", "scheme://"),
            ("https://example.com/path", "paths"),
            ("ftp://example.com", "well-known port"),
            ("*://example.com", "port is required"),
            ("https://ex*ample.com", "leading label"),
            ("https://example.com:99999", "invalid port"),
            ("https://example.com:9..3", "empty port range"),
            ("https://*.10.0.0.1", "domain names"),
        ] {
            let err = AllowedHostConfig::parse(entry).unwrap_err();
            assert!(err.contains(why), "{entry}: {err}");
        }
    }
}
