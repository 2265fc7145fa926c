//! Where a tenant-configured outbound URL (a ticketing webhook) may point: a public address
//! only, never loopback, link-local, private, unspecified, multicast or reserved space
//! (server-side request forgery protection).
//!
//! The URL is read the way a browser and the `url` crate read it (WHATWG), so numeric
//! spellings of an address are caught: `http://2130706433/`, `http://0x7f000001/`,
//! `http://127.1/` and `http://[::ffff:127.0.0.1]/` are all loopback. Names that only mean
//! something inside a network (`localhost`, `*.local`, `*.internal`, one-label names) are
//! refused too.
//!
//! Not here: DNS. A public-looking name that resolves to a private address can only be
//! refused where names are resolved (the host, or the deployment's egress policy; see the
//! README's "Outbound webhooks and SSRF"). Operators widening `allowed_outbound_hosts` do not
//! change what this refuses; only the explicit `webhook_allow_private_hosts` opt-in does
//! (for local development and the tests' in-process receivers).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a URL may not be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not an absolute `http://` or `https://` URL.
    NotHttp,
    /// Credentials in the URL (`http://user@host/`): ambiguous between parsers, never needed.
    Credentials,
    /// A backslash or another character that parsers disagree on.
    Ambiguous,
    /// The address (or the address the name spells) is not a public one.
    PrivateAddress(IpAddr),
    /// A name that only resolves inside a network (`localhost`, `*.internal`, `intranet`).
    LocalName(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotHttp => f.write_str("url must be an absolute http(s) URL"),
            Refusal::Credentials => f.write_str("url must not carry credentials"),
            Refusal::Ambiguous => f.write_str("url contains characters that are not allowed"),
            Refusal::PrivateAddress(ip) => write!(
                f,
                "url points at {ip}, a loopback, link-local, private or reserved address"
            ),
            Refusal::LocalName(name) => {
                write!(f, "url names {name:?}, a host that is not public")
            }
        }
    }
}

/// Checks that `url` is an http(s) URL whose host is a public address or a public-looking
/// domain name.
pub fn check_public_url(url: &str) -> Result<(), Refusal> {
    if url.contains('\\') || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Refusal::Ambiguous);
    }
    let parsed = url::Url::parse(url).map_err(|_| Refusal::NotHttp)?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Refusal::NotHttp);
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Refusal::Credentials);
    }
    match parsed.host() {
        None => Err(Refusal::NotHttp),
        Some(url::Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip)),
        Some(url::Host::Domain(name)) => check_name(name),
    }
}

fn check_name(name: &str) -> Result<(), Refusal> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let local = !name.contains('.')
        || [
            "localhost",
            "local",
            "internal",
            "localdomain",
            "home.arpa",
            "lan",
        ]
        .iter()
        .any(|suffix| name == *suffix || name.ends_with(&format!(".{suffix}")));
    if local {
        return Err(Refusal::LocalName(name));
    }
    Ok(())
}

/// `Ok` for a globally reachable unicast address.
pub fn check_ip(ip: IpAddr) -> Result<(), Refusal> {
    if is_public(ip) {
        Ok(())
    } else {
        Err(Refusal::PrivateAddress(ip))
    }
}

/// Whether `ip` is a globally reachable unicast address (IPv4 embedded in IPv6 judged as
/// the IPv4 address it carries).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                   // "this network", 0.0.0.0
        || a == 10                             // private
        || a == 127                            // loopback
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 169 && b == 254)              // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0)      // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)      // documentation
        || (a == 192 && b == 88 && c == 99)    // 6to4 relay
        || (a == 192 && b == 168)              // private
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100)   // documentation
        || (a == 203 && b == 0 && c == 113)    // documentation
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // IPv4 carried inside IPv6: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64
    // (64:ff9b::/96), 6to4 (2002::/16).
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    if s[..6] == [0; 6] {
        // ::, ::1 and the deprecated IPv4-compatible form.
        return !ip.is_unspecified() && !ip.is_loopback() && is_public_v4(embedded_v4(s[6], s[7]));
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] {
        return is_public_v4(embedded_v4(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return is_public_v4(embedded_v4(s[1], s[2]));
    }
    !((s[0] & 0xfe00) == 0xfc00            // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80       // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0       // site-local (deprecated) fec0::/10
        || (s[0] & 0xff00) == 0xff00       // multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0100 && s[1..4] == [0; 3])) // discard-only 100::/64
}

fn embedded_v4(high: u16, low: u16) -> Ipv4Addr {
    let [a, b] = high.to_be_bytes();
    let [c, d] = low.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_link_local_and_private_addresses_are_refused_in_every_spelling() {
        for url in [
            "http://127.0.0.1/",
            "http://127.0.0.1:8080/hooks",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0x7f.0.0.1/",
            "http://0177.0.0.1/",
            "http://%31%32%37.0.0.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2002:c0a8:0101::1]/",
            "http://0.0.0.0/",
            "http://0/",
            "http://[::]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fe80::1]/",
            "http://10.0.0.1/",
            "http://10.255.255.255/",
            "http://172.16.0.1/",
            "http://172.31.255.254/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://[fc00::1]/",
            "http://[fd12:3456::1]/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "https://198.18.0.1/",
        ] {
            assert!(
                matches!(check_public_url(url), Err(Refusal::PrivateAddress(_))),
                "{url}: {:?}",
                check_public_url(url)
            );
        }
    }

    #[test]
    fn local_names_credentials_and_odd_urls_are_refused() {
        for (url, want) in [
            ("http://localhost/", "local"),
            ("http://LOCALHOST./", "local"),
            ("http://api.localhost/", "local"),
            ("http://metadata.google.internal/", "local"),
            ("http://chroma.spin.internal/", "local"),
            ("http://printer.local/", "local"),
            ("http://intranet/", "local"),
            ("http://1.2.3.4.5/", "scheme"),
            ("http://0x1g.0.0.1/", "scheme"),
            ("http://user:pw@example.com/", "credentials"),
            ("http://example.com@127.0.0.1/", "credentials"),
            ("http://example.com\\@127.0.0.1/", "ambiguous"),
            ("http://exa mple.com/", "ambiguous"),
            ("ftp://example.com/", "scheme"),
            ("file:///etc/passwd", "scheme"),
            ("gopher://example.com/", "scheme"),
            ("/relative", "scheme"),
            ("http:///", "scheme"),
        ] {
            let got = check_public_url(url);
            let ok = match want {
                "local" => matches!(got, Err(Refusal::LocalName(_))),
                "credentials" => got == Err(Refusal::Credentials),
                "ambiguous" => got == Err(Refusal::Ambiguous),
                _ => got == Err(Refusal::NotHttp),
            };
            assert!(ok, "{url}: {got:?}");
        }
    }

    #[test]
    fn public_addresses_and_names_are_allowed() {
        for url in [
            "https://acme.zendesk.com",
            "https://acme.freshdesk.com/api/v2/tickets",
            "https://hooks.example.com:8443/support?x=1",
            "http://93.184.216.34/",
            "http://172.32.0.1/",
            "http://172.15.255.255/",
            "http://192.169.0.1/",
            "http://100.128.0.1/",
            "http://[2606:4700:4700::1111]/",
            "http://[2002:5db8:d822::1]/",
            "https://xn--bcher-kva.example/",
        ] {
            assert_eq!(check_public_url(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn refusals_say_what_is_wrong_without_echoing_more_than_the_host() {
        let refusal = check_public_url("http://169.254.169.254/latest?token=abc").unwrap_err();
        let text = refusal.to_string();
        assert!(text.contains("169.254.169.254"), "{text}");
        assert!(!text.contains("token=abc"), "{text}");
    }
}
