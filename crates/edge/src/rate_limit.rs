//! Enforcing rate limits with the shared [`Counters`]: one fixed-window counter per visitor
//! and one per client address, limits from the tenant's settings (`core_logic::rate_limit`).

use core_logic::rate_limit::{RateLimits, Subject, check, window};

use crate::ApiError;
use crate::counters::{Counters, now_ms};

/// Counts this request for each subject given; 429 with `Retry-After` once one is over its limit.
pub fn enforce(
    counters: &dyn Counters,
    tenant: &str,
    limits: &RateLimits,
    visitor: Option<&str>,
    client_ip: Option<&str>,
) -> Result<(), ApiError> {
    let now = now_ms();
    let subjects = [
        visitor.map(|v| (Subject::Visitor(v), limits.per_visitor)),
        client_ip.map(|ip| (Subject::Client(ip), limits.per_client)),
    ];
    for (subject, limit) in subjects.into_iter().flatten() {
        let w = window(subject, now, limits.window_secs);
        let count = counters.incr(tenant, &w.key, 1, w.ttl_secs)?;
        if let Err(refused) = check(count, limit, &w) {
            let which = match subject {
                Subject::Visitor(_) => "visitor",
                Subject::Client(_) => "client",
            };
            crate::metrics::record_rate_limited(counters, which);
            return Err(refused.into());
        }
    }
    Ok(())
}
