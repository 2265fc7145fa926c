//! Rate-limit rules: how many requests a visitor and a client address may make per window,
//! read from a tenant's settings with defaults, and the fixed-window counter keys and
//! `Retry-After` values that enforce them.
//!
//! Pure: the counting itself is `edge::counters` (shared by every instance).

use serde::Deserialize;

use crate::problem::{Problem, ProblemKind};

/// Requests per window when a tenant's settings say nothing.
pub const DEFAULT_PER_VISITOR: u32 = 120;
pub const DEFAULT_PER_CLIENT: u32 = 600;
pub const DEFAULT_WINDOW_SECS: u32 = 60;
/// Bounds on configured values, so a typo cannot make a window last a year.
pub const MAX_WINDOW_SECS: u32 = 24 * 60 * 60;

/// A tenant's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Requests one visitor (token subject) may make per window.
    pub per_visitor: u32,
    /// Requests one client address may make per window.
    pub per_client: u32,
    pub window_secs: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_visitor: DEFAULT_PER_VISITOR,
            per_client: DEFAULT_PER_CLIENT,
            window_secs: DEFAULT_WINDOW_SECS,
        }
    }
}

#[derive(Deserialize)]
struct Settings {
    #[serde(default)]
    rate_limits: Option<SettingsLimits>,
}

#[derive(Deserialize)]
struct SettingsLimits {
    per_visitor: Option<serde_json::Value>,
    per_client: Option<serde_json::Value>,
    window_secs: Option<serde_json::Value>,
}

fn positive(value: Option<&serde_json::Value>, max: u32) -> Option<u32> {
    value
        .and_then(serde_json::Value::as_u64)
        .filter(|n| (1..=u64::from(max)).contains(n))
        .map(|n| n as u32)
}

impl RateLimits {
    /// Reads `{"rate_limits": {"per_visitor": N, "per_client": N, "window_secs": N}}` from a
    /// tenant's settings JSON. Missing or unusable values fall back to the defaults one by one.
    pub fn from_settings(settings_json: &str) -> RateLimits {
        let defaults = RateLimits::default();
        let Some(limits) = serde_json::from_str::<Settings>(settings_json)
            .ok()
            .and_then(|s| s.rate_limits)
        else {
            return defaults;
        };
        RateLimits {
            per_visitor: positive(limits.per_visitor.as_ref(), u32::MAX)
                .unwrap_or(defaults.per_visitor),
            per_client: positive(limits.per_client.as_ref(), u32::MAX)
                .unwrap_or(defaults.per_client),
            window_secs: positive(limits.window_secs.as_ref(), MAX_WINDOW_SECS)
                .unwrap_or(defaults.window_secs),
        }
    }
}

/// Who is being counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    Visitor(&'a str),
    Client(&'a str),
}

/// The counter for one subject in the current window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Counter key (the tenant is added by the counters backend).
    pub key: String,
    /// How long the counter must live.
    pub ttl_secs: u64,
    /// Seconds until the window ends, at least 1: the `Retry-After` of a 429.
    pub retry_after_secs: u64,
}

/// The fixed window containing `now_ms`.
pub fn window(subject: Subject<'_>, now_ms: i64, window_secs: u32) -> Window {
    let len_ms = i64::from(window_secs.max(1)) * 1000;
    let index = now_ms.div_euclid(len_ms);
    let ends_ms = (index + 1) * len_ms;
    let remaining_secs = ((ends_ms - now_ms) as u64).div_ceil(1000).max(1);
    let (kind, who) = match subject {
        Subject::Visitor(v) => ("visitor", v),
        Subject::Client(c) => ("client", c),
    };
    Window {
        key: format!("rl:{kind}:{who}:{index}"),
        ttl_secs: u64::from(window_secs.max(1)),
        retry_after_secs: remaining_secs,
    }
}

/// 429 once `count` (this request included) exceeds `limit`.
pub fn check(count: i64, limit: u32, window: &Window) -> Result<(), Problem> {
    if count <= i64::from(limit) {
        Ok(())
    } else {
        Err(Problem::new(
            ProblemKind::TooManyRequests,
            "too many requests; retry after the time in Retry-After",
        )
        .with_retry_after(window.retry_after_secs))
    }
}

/// The IP part of a `spin-client-addr` value (`ip:port`, `[v6]:port`, or a bare IP).
pub fn client_ip(addr: &str) -> Option<String> {
    let addr = addr.trim();
    if let Ok(sock) = addr.parse::<std::net::SocketAddr>() {
        return Some(sock.ip().to_string());
    }
    addr.parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_override_defaults_one_by_one() {
        let d = RateLimits::default();
        let cases = [
            ("{}", d),
            ("not json", d),
            (r#"{"rate_limits":null}"#, d),
            (
                r#"{"rate_limits":{"per_visitor":5}}"#,
                RateLimits {
                    per_visitor: 5,
                    ..d
                },
            ),
            (
                r#"{"rate_limits":{"per_client":7,"window_secs":10}}"#,
                RateLimits {
                    per_client: 7,
                    window_secs: 10,
                    ..d
                },
            ),
            (r#"{"rate_limits":{"per_visitor":0}}"#, d),
            (r#"{"rate_limits":{"per_visitor":-3}}"#, d),
            (r#"{"rate_limits":{"per_visitor":"5"}}"#, d),
            (r#"{"rate_limits":{"window_secs":100000000}}"#, d),
        ];
        for (settings, expected) in cases {
            assert_eq!(RateLimits::from_settings(settings), expected, "{settings}");
        }
    }

    #[test]
    fn windows_are_fixed_and_retry_after_counts_down_to_their_end() {
        let cases = [
            (0, 60, "rl:client:1.2.3.4:0", 60),
            (59_001, 60, "rl:client:1.2.3.4:0", 1),
            (59_999, 60, "rl:client:1.2.3.4:0", 1),
            (60_000, 60, "rl:client:1.2.3.4:1", 60),
            (61_500, 60, "rl:client:1.2.3.4:1", 59),
            (61_500, 1, "rl:client:1.2.3.4:61", 1),
        ];
        for (now, secs, key, retry) in cases {
            let w = window(Subject::Client("1.2.3.4"), now, secs);
            assert_eq!(w.key, key, "{now}");
            assert_eq!(w.retry_after_secs, retry, "{now}");
            assert_eq!(w.ttl_secs, u64::from(secs));
        }
        let v = window(Subject::Visitor("v1"), 0, 60);
        assert_eq!(v.key, "rl:visitor:v1:0");
    }

    #[test]
    fn the_request_over_the_limit_is_429_with_retry_after() {
        let w = window(Subject::Visitor("v"), 30_000, 60);
        assert!(check(1, 3, &w).is_ok());
        assert!(check(3, 3, &w).is_ok());
        let err = check(4, 3, &w).unwrap_err();
        assert_eq!(err.status(), 429);
        assert_eq!(err.retry_after, Some(30));
    }

    #[test]
    fn client_addresses_lose_their_port() {
        let cases = [
            ("127.0.0.1:5555", Some("127.0.0.1")),
            ("[::1]:8080", Some("::1")),
            ("10.0.0.7", Some("10.0.0.7")),
            ("2001:db8::1", Some("2001:db8::1")),
            ("not an address", None),
            ("", None),
        ];
        for (addr, ip) in cases {
            assert_eq!(client_ip(addr).as_deref(), ip, "{addr}");
        }
    }
}
