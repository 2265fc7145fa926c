//! Recording metrics into the shared Counters and reading them back for `/metrics`.
//!
//! App-wide series are kept under a reserved tenant key, so every instance's observations
//! add up whatever backend the counters use. Recording never fails a request: a counters
//! outage is logged (without addresses) and the request goes on.

use std::time::Duration;

use core_logic::metrics::{self, Metric, Series};

use crate::config;
use crate::counters::{self, Counters};
use crate::db::DbError;

/// The counters "tenant" app-wide metrics live under (real tenant ids never start with `_`).
pub const METRICS_SCOPE: &str = "_metrics";

/// Metric series never expire on their own (ten years).
const SERIES_TTL_SECS: u64 = 10 * 365 * 24 * 60 * 60;

fn open() -> Result<Box<dyn Counters>, DbError> {
    if counters::unavailable_in_this_request() {
        return Err(DbError::Unavailable(
            "failed earlier in this request".into(),
        ));
    }
    let backend = config::counters_backend().map_err(|e| DbError::Unavailable(e.0))?;
    counters::open(&backend)
}

/// Whether this app records metrics: the `metrics_recording` variable, `on` unless `off`
/// (to measure what recording costs). Read once per instance.
fn recording() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| config::optional("metrics_recording").is_none_or(|v| v.trim() != "off"))
}

fn add(
    counters: &dyn Counters,
    metric: &Metric,
    labels: &[&str],
    value: f64,
) -> Result<(), DbError> {
    if !recording() || counters::unavailable_in_this_request() {
        return Ok(());
    }
    for (series, by) in metrics::observe(metric, labels, value) {
        if by != 0 {
            counters.incr(METRICS_SCOPE, &series.key(), by, SERIES_TTL_SECS)?;
        }
    }
    Ok(())
}

/// Records one handled request: its route group, status and how long it took.
pub fn record_request(route_group: &str, status: u16, elapsed: Duration) {
    if !recording() {
        return;
    }
    let outcome = open().and_then(|c| {
        add(
            c.as_ref(),
            &metrics::HTTP_REQUESTS,
            &[route_group, metrics::status_class(status)],
            1.0,
        )?;
        add(
            c.as_ref(),
            &metrics::HTTP_LATENCY,
            &[route_group],
            elapsed.as_secs_f64(),
        )
    });
    if let Err(e) = outcome {
        crate::log::warn("metrics", &format!("not recorded: {}", short(&e)));
    }
}

/// Records a 429, by the limit that was hit (`visitor` or `client`), on the counters the
/// limiter already has open.
pub fn record_rate_limited(counters: &dyn Counters, limit: &str) {
    if let Err(e) = add(counters, &metrics::RATE_LIMITED, &[limit], 1.0) {
        crate::log::warn("metrics", &format!("not recorded: {}", short(&e)));
    }
}

/// Records a search's per-retriever latencies.
pub fn record_retrieval(counters: &dyn Counters, timings: &[(&str, Duration)]) {
    // Sub-stages (`embed`, inside `vector`) are not retrievers.
    for (retriever, elapsed) in timings
        .iter()
        .filter(|(name, _)| matches!(*name, "vector" | "keyword" | "rerank"))
    {
        if let Err(e) = add(
            counters,
            &metrics::RETRIEVAL_LATENCY,
            &[retriever],
            elapsed.as_secs_f64(),
        ) {
            crate::log::warn("metrics", &format!("not recorded: {}", short(&e)));
        }
    }
}

/// Records a visitor turn: its latency, how the bot replied and, when it handed the
/// conversation off, why.
pub fn record_turn(
    counters: &dyn Counters,
    elapsed: Duration,
    responder: &str,
    outcome: &str,
    escalation: Option<&str>,
) {
    let mut result = add(
        counters,
        &metrics::MESSAGE_LATENCY,
        &[],
        elapsed.as_secs_f64(),
    )
    .and_then(|()| add(counters, &metrics::ANSWERS, &[responder, outcome], 1.0));
    if let Some(reason) = escalation {
        result = result.and_then(|()| add(counters, &metrics::ESCALATIONS, &[reason], 1.0));
    }
    if let Err(e) = result {
        crate::log::warn("metrics", &format!("not recorded: {}", short(&e)));
    }
}

/// Records conversations just settled, by outcome.
pub fn record_outcomes(outcomes: &[core_logic::outcome::Outcome]) {
    if outcomes.is_empty() {
        return;
    }
    let result = open().and_then(|c| {
        outcomes.iter().try_for_each(|outcome| {
            add(
                c.as_ref(),
                &metrics::CONVERSATIONS,
                &[outcome.as_str()],
                1.0,
            )
        })
    });
    if let Err(e) = result {
        crate::log::warn("metrics", &format!("not recorded: {}", short(&e)));
    }
}

/// Records a knowledge-base upload: its outcome and, when it stored chunks, how many and
/// whether their vectors were written.
pub fn record_ingest(counters: &dyn Counters, outcome: &str, chunks: Option<(i64, &str)>) {
    let mut result = add(counters, &metrics::KB_DOCUMENTS, &[outcome], 1.0);
    if let Some((count, vectors)) = chunks {
        result = result.and_then(|()| add(counters, &metrics::KB_CHUNKS, &[vectors], count as f64));
    }
    if let Err(e) = result {
        crate::log::warn("metrics", &format!("not recorded: {}", short(&e)));
    }
}

/// Records one increment of `metric` with `labels` (ticket and webhook events).
pub fn record_event(counters: &dyn Counters, metric: &Metric, labels: &[&str]) {
    if let Err(e) = add(counters, metric, labels, 1.0) {
        crate::log::warn("metrics", &format!("not recorded: {}", short(&e)));
    }
}

/// Records what the LLM cost a turn: each request's latency and outcome, and the tokens.
pub fn record_llm(counters: &dyn Counters, stats: &crate::responder::LlmStats) {
    let mut result = Ok(());
    for (elapsed, ok) in &stats.requests {
        result = result.and_then(|()| {
            add(
                counters,
                &metrics::LLM_LATENCY,
                &[if *ok { "ok" } else { "error" }],
                elapsed.as_secs_f64(),
            )
        });
    }
    for (kind, tokens) in [
        ("prompt", stats.prompt_tokens),
        ("completion", stats.completion_tokens),
    ] {
        if tokens > 0 {
            result =
                result.and_then(|()| add(counters, &metrics::LLM_TOKENS, &[kind], tokens as f64));
        }
    }
    if let Err(e) = result {
        crate::log::warn("metrics", &format!("not recorded: {}", short(&e)));
    }
}

/// Records a ticket entering `status` (`open`, `pending`, `solved`).
pub fn record_ticket_status(counters: &dyn Counters, status: &str) {
    record_event(counters, &metrics::TICKET_STATUS, &[status]);
}

/// Records a ticket just opened: by its reason, and as a move into `open`.
pub fn record_ticket_opened(counters: &dyn Counters, reason: &str) {
    record_event(counters, &metrics::TICKETS, &[reason]);
    record_ticket_status(counters, "open");
}

/// Records a failed call to `dependency` (`embedder` or `vector_index`).
pub fn record_dependency_failure(counters: &dyn Counters, dependency: &str) {
    record_event(counters, &metrics::DEPENDENCY_FAILURES, &[dependency]);
}

/// Records one webhook delivery attempt.
pub fn record_webhook(counters: &dyn Counters, format: &str, outcome: &str) {
    record_event(counters, &metrics::WEBHOOK_DELIVERIES, &[format, outcome]);
}

fn short(e: &DbError) -> &'static str {
    match e {
        DbError::Unavailable(_) => "counters unavailable",
        DbError::Conflict(_) | DbError::Query(_) | DbError::Decode(_) => "counters query failed",
    }
}

/// The Prometheus exposition of every metric, read from the counters.
pub fn exposition() -> Result<String, DbError> {
    let counters = open()?;
    let mut failure = None;
    let text = metrics::exposition(metrics::ALL, |series: &Series| {
        match counters.get(METRICS_SCOPE, &series.key()) {
            Ok(v) => v.unwrap_or(0),
            Err(e) => {
                failure.get_or_insert(e);
                0
            }
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    let mut states = Vec::new();
    for dependency in core_logic::breaker::Dependency::ALL {
        let state = crate::breaker::Breaker::new(counters.as_ref(), dependency).state()?;
        states.push((dependency.as_str(), state));
    }
    Ok(text + metrics::circuit_exposition(&states).as_str())
}
