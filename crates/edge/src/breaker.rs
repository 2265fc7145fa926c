//! Circuit breakers in the shared Counters, for the embedder and the vector index: every
//! component instance reads and writes the same keys per dependency endpoint (consecutive
//! failures; the open marker, which expires after the cool-down; the half-open probe),
//! under a reserved scope. A breaker closed by a success just after it opened keeps its open
//! marker's old expiry if it opens again before that (the counters cannot reset an expiry):
//! that cool-down is then shorter.
//! The decisions are `core_logic::breaker`'s.
//!
//! Settings: `breaker_failures` (default 5) consecutive failures open a breaker for
//! `breaker_cooldown_secs` (default 30). A call that times out, is refused, gets a 5xx or
//! an unreadable answer is a failure; a 4xx is not (the service answered). When the counters
//! themselves fail, calls go through (the breaker fails open, logged): the dependency's own
//! time limit still bounds them.

use core_logic::breaker::{
    Admission, BreakerSettings, BreakerState, Dependency, counters_key, failure_memory_secs,
    failure_opens, probe_secs,
};

use crate::config;
use crate::counters::Counters;
use crate::db::DbError;
use crate::outbound::OutboundError;

/// The counters "tenant" breakers live under (real tenant ids never start with `_`).
pub const BREAKER_SCOPE: &str = "_breakers";

/// The settings from the `breaker_*` variables; an unusable value is logged and the
/// default used.
pub fn settings() -> BreakerSettings {
    let defaults = BreakerSettings::default();
    let number = |name: &str, default: u64| match config::optional(name) {
        None => default,
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or_else(|| {
                crate::log::warn("breaker", &format!("`{name}`: expected a positive number"));
                default
            }),
    };
    BreakerSettings {
        failures: i64::try_from(number("breaker_failures", defaults.failures as u64))
            .unwrap_or(defaults.failures),
        cooldown_secs: number("breaker_cooldown_secs", defaults.cooldown_secs),
    }
}

/// One dependency's breaker over the shared counters, for the endpoint its URL variable
/// names.
pub struct Breaker<'a> {
    counters: &'a dyn Counters,
    dependency: Dependency,
    endpoint: String,
    settings: BreakerSettings,
}

impl<'a> Breaker<'a> {
    pub fn new(counters: &'a dyn Counters, dependency: Dependency) -> Breaker<'a> {
        Breaker {
            counters,
            dependency,
            endpoint: config::optional(dependency.url_variable()).unwrap_or_default(),
            settings: settings(),
        }
    }

    fn key(&self, part: &str) -> String {
        counters_key(self.dependency, &self.endpoint, part)
    }

    fn get(&self, part: &str) -> Result<i64, DbError> {
        Ok(self
            .counters
            .get(BREAKER_SCOPE, &self.key(part))?
            .unwrap_or(0))
    }

    /// The open marker and the consecutive failures.
    fn read(&self) -> Result<(i64, i64), DbError> {
        Ok((self.get("open")?, self.get("failures")?))
    }

    /// The breaker's state now.
    pub fn state(&self) -> Result<BreakerState, DbError> {
        let (open, failures) = self.read()?;
        Ok(BreakerState::from_counters(
            open > 0,
            failures,
            &self.settings,
        ))
    }

    /// Runs `call` unless the breaker is open (or half-open and another caller holds the
    /// probe), and records how it went. A skipped call is an `Unreachable` error that says
    /// the circuit is open.
    pub fn call<T>(
        &self,
        call: impl FnOnce() -> Result<T, OutboundError>,
    ) -> Result<T, OutboundError> {
        let read = self.read();
        let admission = match &read {
            Ok((open, failures)) => {
                BreakerState::from_counters(*open > 0, *failures, &self.settings).admission()
            }
            Err(e) => {
                self.counters_failed(e);
                Admission::Call
            }
        };
        let admitted = match admission {
            Admission::Call => true,
            Admission::Skip => false,
            Admission::Probe => self
                .counters
                .incr(
                    BREAKER_SCOPE,
                    &self.key("probe"),
                    1,
                    probe_secs(&self.settings),
                )
                .map(|n| n == 1)
                .unwrap_or(true),
        };
        if !admitted {
            return Err(OutboundError::Unreachable(format!(
                "{}: circuit open, not called",
                self.dependency.as_str()
            )));
        }
        let result = call();
        match &result {
            // Most calls succeed on a closed breaker: nothing to clear, no more I/O.
            Ok(_) if matches!(&read, Ok((open, failures)) if *open <= 0 && *failures <= 0) => {}
            Ok(_) => self.succeeded(),
            Err(e) if counts_as_failure(e) => self.failed(),
            Err(_) => {}
        }
        result
    }

    /// Records a success: the failures and the open marker are cleared (the breaker closes).
    pub fn succeeded(&self) {
        let outcome = (|| {
            for part in ["failures", "open"] {
                let value = self.get(part)?;
                if value > 0 {
                    self.counters.incr(
                        BREAKER_SCOPE,
                        &self.key(part),
                        -value,
                        failure_memory_secs(&self.settings),
                    )?;
                }
            }
            Ok(())
        })();
        if let Err(e) = outcome {
            self.counters_failed(&e);
        }
    }

    /// Records a failure; the one that reaches the threshold (or a failed probe) opens the
    /// breaker for the cool-down.
    pub fn failed(&self) {
        let outcome = (|| {
            let failures = self.counters.incr(
                BREAKER_SCOPE,
                &self.key("failures"),
                1,
                failure_memory_secs(&self.settings),
            )?;
            crate::metrics::record_dependency_failure(self.counters, self.dependency.as_str());
            if failure_opens(failures, &self.settings) && self.get("open")? <= 0 {
                self.counters.incr(
                    BREAKER_SCOPE,
                    &self.key("open"),
                    1,
                    self.settings.cooldown_secs,
                )?;
                crate::log::warn(
                    "breaker",
                    &format!(
                        "{} failed {failures} times in a row: skipped for {} s",
                        self.dependency.as_str(),
                        self.settings.cooldown_secs
                    ),
                );
            }
            Ok(())
        })();
        if let Err(e) = outcome {
            self.counters_failed(&e);
        }
    }

    fn counters_failed(&self, e: &DbError) {
        let what = match e {
            DbError::Unavailable(_) => "counters unavailable",
            _ => "counters query failed",
        };
        crate::log::warn(
            "breaker",
            &format!("{} breaker not consulted: {what}", self.dependency.as_str()),
        );
    }
}

/// Whether an outbound error says the dependency is unwell (not that the request was bad).
fn counts_as_failure(e: &OutboundError) -> bool {
    match e {
        OutboundError::Unreachable(_) | OutboundError::Decode(_) => true,
        OutboundError::Status { status, .. } => *status >= 500,
    }
}

/// Runs `call` through `dependency`'s breaker when there are counters to keep it in.
pub fn guarded<T>(
    counters: Option<&dyn Counters>,
    dependency: Dependency,
    call: impl FnOnce() -> Result<T, OutboundError>,
) -> Result<T, OutboundError> {
    match counters {
        Some(counters) => Breaker::new(counters, dependency).call(call),
        None => call(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_unwell_dependency_counts_as_a_failure() {
        assert!(counts_as_failure(&OutboundError::Unreachable("t".into())));
        assert!(counts_as_failure(&OutboundError::Decode("x".into())));
        let status = |status| OutboundError::Status {
            status,
            body: String::new(),
        };
        assert!(counts_as_failure(&status(503)));
        assert!(!counts_as_failure(&status(404)));
        assert!(!counts_as_failure(&status(422)));
    }
}
