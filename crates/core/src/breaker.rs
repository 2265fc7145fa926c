//! Circuit breakers for the dependencies retrieval can do without (the embedding sidecar and
//! the vector index): after a run of failures a dependency is skipped for a cool-down, so a
//! hung service costs each visitor nothing instead of a time limit per message; after the
//! cool-down one call probes it, and a success closes the breaker.
//!
//! The state lives in the shared Counters (so every component instance sees the same
//! breaker) as two numbers: consecutive failures, and whether the open marker — a key that
//! expires after the cool-down — exists. This module decides from those numbers; reading and
//! writing them is `crates/edge` (`edge::breaker`).

use serde::Serialize;

/// The dependencies with a breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dependency {
    Embedder,
    VectorIndex,
}

impl Dependency {
    pub const ALL: [Dependency; 2] = [Dependency::Embedder, Dependency::VectorIndex];

    /// The name in counters keys, health reports and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Dependency::Embedder => "embedder",
            Dependency::VectorIndex => "vector_index",
        }
    }

    /// The Spin variable with the dependency's address.
    pub fn url_variable(self) -> &'static str {
        match self {
            Dependency::Embedder => "embedder_url",
            Dependency::VectorIndex => "chroma_url",
        }
    }
}

/// The counters key of one part (`failures`, `open`, `probe`) of the breaker of
/// `dependency` at `endpoint` (its URL). Keyed by endpoint, so apps that share a counters
/// store share a breaker exactly when they call the same service; the URL itself is hashed
/// (FNV-1a), never stored.
pub fn counters_key(dependency: Dependency, endpoint: &str, part: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in endpoint.trim_end_matches('/').bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("breaker:{}:{hash:016x}:{part}", dependency.as_str())
}

/// How many failures open a breaker and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Consecutive failed calls that open the breaker.
    pub failures: i64,
    /// How long it stays open before a call may probe the dependency again (whole seconds:
    /// the counters' expiry is in seconds).
    pub cooldown_secs: u64,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            failures: 5,
            cooldown_secs: 30,
        }
    }
}

/// A breaker's state as the counters show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are skipped until the cool-down ends.
    Open,
    /// The cool-down is over but the failures are not cleared: one call may probe.
    HalfOpen,
}

impl BreakerState {
    /// From the open marker and the consecutive failures counted so far.
    pub fn from_counters(open_marker: bool, failures: i64, settings: &BreakerSettings) -> Self {
        if open_marker {
            BreakerState::Open
        } else if failures >= settings.failures {
            BreakerState::HalfOpen
        } else {
            BreakerState::Closed
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// What to do with a call, given the breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Make the call.
    Call,
    /// Make the call only if this instance wins the probe (one caller per cool-down).
    Probe,
    /// Do not call: the dependency counts as unavailable.
    Skip,
}

impl BreakerState {
    pub fn admission(self) -> Admission {
        match self {
            BreakerState::Closed => Admission::Call,
            BreakerState::HalfOpen => Admission::Probe,
            BreakerState::Open => Admission::Skip,
        }
    }
}

/// Whether a failure that brought the consecutive count to `failures` opens the breaker
/// (again, for a failed probe).
pub fn failure_opens(failures: i64, settings: &BreakerSettings) -> bool {
    failures >= settings.failures
}

/// How long the consecutive-failure count is kept without a new failure: long enough that
/// a half-open breaker still remembers its failures when the cool-down ends.
pub fn failure_memory_secs(settings: &BreakerSettings) -> u64 {
    settings.cooldown_secs.max(1) * 10
}

/// How long a won probe keeps other callers out: one cool-down, so a probe that hangs until
/// its time limit is not joined by every other request.
pub fn probe_secs(settings: &BreakerSettings) -> u64 {
    settings.cooldown_secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: BreakerSettings = BreakerSettings {
        failures: 3,
        cooldown_secs: 10,
    };

    #[test]
    fn a_run_of_failures_opens_the_breaker_and_the_cool_down_makes_it_half_open() {
        let cases = [
            // (open marker, consecutive failures, state, admission)
            (false, 0, BreakerState::Closed, Admission::Call),
            (false, 2, BreakerState::Closed, Admission::Call),
            (true, 3, BreakerState::Open, Admission::Skip),
            (true, 7, BreakerState::Open, Admission::Skip),
            (false, 3, BreakerState::HalfOpen, Admission::Probe),
            (false, 9, BreakerState::HalfOpen, Admission::Probe),
        ];
        for (open, failures, state, admission) in cases {
            let got = BreakerState::from_counters(open, failures, &SETTINGS);
            assert_eq!(got, state, "{open} {failures}");
            assert_eq!(got.admission(), admission, "{open} {failures}");
        }
    }

    #[test]
    fn only_the_failure_that_reaches_the_threshold_or_a_failed_probe_opens_it() {
        assert!(!failure_opens(1, &SETTINGS));
        assert!(!failure_opens(2, &SETTINGS));
        assert!(failure_opens(3, &SETTINGS));
        assert!(failure_opens(4, &SETTINGS));
    }

    #[test]
    fn failures_outlive_the_cool_down_and_a_probe_holds_for_one() {
        assert_eq!(probe_secs(&SETTINGS), 10);
        assert!(failure_memory_secs(&SETTINGS) > probe_secs(&SETTINGS));
        let short = BreakerSettings {
            failures: 1,
            cooldown_secs: 0,
        };
        assert_eq!(probe_secs(&short), 1);
        assert_eq!(failure_memory_secs(&short), 10);
    }

    #[test]
    fn breakers_are_kept_per_endpoint_without_its_address() {
        let a = counters_key(Dependency::Embedder, "http://10.0.0.5:8088", "open");
        assert_eq!(
            a,
            counters_key(Dependency::Embedder, "http://10.0.0.5:8088/", "open")
        );
        assert_ne!(
            a,
            counters_key(Dependency::Embedder, "http://10.0.0.6:8088", "open")
        );
        assert_ne!(
            a,
            counters_key(Dependency::VectorIndex, "http://10.0.0.5:8088", "open")
        );
        assert!(a.starts_with("breaker:embedder:") && a.ends_with(":open"));
        assert!(!a.contains("10.0.0.5"));
    }

    #[test]
    fn names_are_stable() {
        let names: Vec<&str> = Dependency::ALL.iter().map(|d| d.as_str()).collect();
        assert_eq!(names, ["embedder", "vector_index"]);
        assert_eq!(BreakerState::HalfOpen.as_str(), "half_open");
    }
}
