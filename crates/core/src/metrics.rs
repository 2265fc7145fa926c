//! Metric definitions and the Prometheus text exposition, as pure data.
//!
//! Every metric has a fixed name, help text, kind and a fixed set of label values, so label
//! cardinality is bounded by construction: recording an unknown label value maps it to
//! `other`. Values live in the shared Counters (one key per series, see [`Series::key`]), so
//! every instance's observations add up; this module turns an observation into the keys to
//! increment and a snapshot of values into the exposition text. Not here: reading or writing
//! the counters (`crates/edge`), serving `/metrics` (the metrics component).

use std::fmt::Write as _;

/// Counter or histogram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Counter,
    /// Cumulative buckets with these upper bounds (seconds), plus `_sum` and `_count`.
    Histogram(&'static [f64]),
}

/// One metric family.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    /// Label names and, for each, the only values it may take (the last is the catch-all).
    pub labels: &'static [(&'static str, &'static [&'static str])],
}

/// Latency buckets in seconds: 5 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

const ROUTES: &[&str] = &[
    "health", "sessions", "messages", "kb", "escalate", "metrics", "static", "other",
];
const STATUS_CLASSES: &[&str] = &["2xx", "3xx", "4xx", "5xx", "other"];

/// HTTP requests by route group and status class.
pub const HTTP_REQUESTS: Metric = Metric {
    name: "support_http_requests_total",
    help: "HTTP requests handled, by route group and status class.",
    kind: Kind::Counter,
    labels: &[("route", ROUTES), ("status", STATUS_CLASSES)],
};

/// Request latency by route group.
pub const HTTP_LATENCY: Metric = Metric {
    name: "support_http_request_duration_seconds",
    help: "Time to handle an HTTP request, by route group.",
    kind: Kind::Histogram(LATENCY_BUCKETS),
    labels: &[("route", ROUTES)],
};

/// Rate-limit rejections by what was limited.
pub const RATE_LIMITED: Metric = Metric {
    name: "support_rate_limited_total",
    help: "Requests refused with 429, by the limit that was hit.",
    kind: Kind::Counter,
    labels: &[("limit", &["visitor", "client", "other"])],
};

/// Search latency by retriever (the vector one includes embedding the query; `rerank` is
/// the reranker's pass over the fused list of a reranked search).
pub const RETRIEVAL_LATENCY: Metric = Metric {
    name: "support_retrieval_duration_seconds",
    help: "Time one retriever took to answer a search, by retriever.",
    kind: Kind::Histogram(LATENCY_BUCKETS),
    labels: &[("retriever", &["vector", "keyword", "rerank", "other"])],
};

/// Knowledge-base uploads by what they did.
pub const KB_DOCUMENTS: Metric = Metric {
    name: "support_knowledge_documents_ingested_total",
    help: "Knowledge-base uploads, by outcome (rejected: unreadable or unsupported file).",
    kind: Kind::Counter,
    labels: &[(
        "outcome",
        &["created", "updated", "unchanged", "rejected", "other"],
    )],
};

/// Chunks written to the knowledge base, by whether their vectors were written too.
pub const KB_CHUNKS: Metric = Metric {
    name: "support_knowledge_chunks_indexed_total",
    help: "Chunks stored by knowledge-base uploads, by vector status (pending: keyword-only until re-uploaded).",
    kind: Kind::Counter,
    labels: &[("vectors", &["indexed", "pending", "other"])],
};

/// Time from a visitor's message arriving to the reply being stored.
pub const MESSAGE_LATENCY: Metric = Metric {
    name: "support_message_duration_seconds",
    help: "Time to handle a visitor message through the answer pipeline.",
    kind: Kind::Histogram(LATENCY_BUCKETS),
    labels: &[],
};

/// Bot turns by who composed the reply.
pub const ANSWERS: Metric = Metric {
    name: "support_answers_total",
    help: "Visitor messages by how the bot replied (answered: a grounded answer; unknown: no grounded answer, a person offered; clarify: the bot asked which of several things was meant; small_talk: a greeting, thanks or goodbye answered in kind; escalated; silent: a person has the conversation).",
    kind: Kind::Counter,
    labels: &[
        (
            "responder",
            &[
                "extractive",
                "llm",
                "fallback",
                "small_talk",
                "none",
                "other",
            ],
        ),
        (
            "outcome",
            &[
                "answered",
                "unknown",
                "clarify",
                "small_talk",
                "escalated",
                "silent",
                "other",
            ],
        ),
    ],
};

/// The outcomes of `core_logic::outcome::Outcome`, and the catch-all.
const CONVERSATION_OUTCOMES: &[&str] =
    &["resolved", "handed_off", "abandoned", "unresolved", "other"];

/// Conversations by how they ended (`core_logic::outcome`), counted once each when it is
/// settled after going idle.
pub const CONVERSATIONS: Metric = Metric {
    name: "support_conversations_total",
    help: "Conversations settled after going idle, by outcome (resolved: by the bot; handed_off; abandoned: left after an offer or a question; unresolved: rated not helpful or asked again).",
    kind: Kind::Counter,
    labels: &[("outcome", CONVERSATION_OUTCOMES)],
};

/// Hand-offs to a person by why.
pub const ESCALATIONS: Metric = Metric {
    name: "support_escalations_total",
    help: "Conversations handed to a person, by reason.",
    kind: Kind::Counter,
    labels: &[(
        "reason",
        &[
            "human_requested",
            "frustration",
            "repeated_failure",
            "low_confidence",
            "sensitive_topic",
            "agent",
            "other",
        ],
    )],
};

/// Tickets opened in the tenant's queue, by why.
pub const TICKETS: Metric = Metric {
    name: "support_tickets_opened_total",
    help: "Tickets opened for a person, by reason (agent_initiated: an agent took over).",
    kind: Kind::Counter,
    labels: &[(
        "reason",
        &[
            "human_requested",
            "frustration",
            "repeated_failure",
            "low_confidence",
            "sensitive_topic",
            "agent_initiated",
            "other",
        ],
    )],
};

/// Outbound webhook deliveries by format and outcome.
pub const WEBHOOK_DELIVERIES: Metric = Metric {
    name: "support_webhook_deliveries_total",
    help: "Outbound ticketing webhook delivery attempts, by format and outcome (retry: failed, will be tried again; dead: failed for the last time, dead-lettered).",
    kind: Kind::Counter,
    labels: &[
        ("format", &["generic", "zendesk", "freshdesk", "other"]),
        ("outcome", &["delivered", "retry", "dead", "other"]),
    ],
};

/// Inbound ticketing webhooks by provider and outcome.
pub const INBOUND_WEBHOOKS: Metric = Metric {
    name: "support_inbound_webhooks_total",
    help: "Inbound ticketing webhooks, by provider and outcome (applied, duplicate, ignored, rejected: bad signature or body).",
    kind: Kind::Counter,
    labels: &[
        ("provider", &["generic", "zendesk", "freshdesk", "other"]),
        (
            "outcome",
            &["applied", "duplicate", "ignored", "rejected", "other"],
        ),
    ],
};

/// Tickets entering each status (open: opened; pending: claimed; solved).
pub const TICKET_STATUS: Metric = Metric {
    name: "support_ticket_transitions_total",
    help: "Tickets entering a status: open (opened), pending (claimed by an agent), solved.",
    kind: Kind::Counter,
    labels: &[("status", &["open", "pending", "solved", "other"])],
};

/// LLM requests by outcome, with their latency.
pub const LLM_LATENCY: Metric = Metric {
    name: "support_llm_request_duration_seconds",
    help: "Time of one LLM chat-completions request (read to its end), by outcome (error: failed or timed out).",
    kind: Kind::Histogram(LATENCY_BUCKETS),
    labels: &[("outcome", &["ok", "error", "other"])],
};

/// Tokens the LLM reported.
pub const LLM_TOKENS: Metric = Metric {
    name: "support_llm_tokens_total",
    help: "Tokens the LLM reported using, by kind (prompt, completion).",
    kind: Kind::Counter,
    labels: &[("kind", &["prompt", "completion", "other"])],
};

/// Every metric the app exports.
/// Failed calls to the dependencies retrieval can do without, by dependency.
pub const DEPENDENCY_FAILURES: Metric = Metric {
    name: "support_dependency_failures_total",
    help: "Failed calls to the embedder or the vector index (timed out, refused, 5xx, unreadable), by dependency.",
    kind: Kind::Counter,
    labels: &[("dependency", &["embedder", "vector_index", "other"])],
};

/// The gauge of open circuit breakers, rendered from their states (not from counters).
pub const CIRCUIT_OPEN: &str = "support_dependency_circuit_open";

/// The exposition of [`CIRCUIT_OPEN`]: 1 while a dependency is skipped (open, or half-open
/// waiting for its probe), else 0.
pub fn circuit_exposition(states: &[(&str, crate::breaker::BreakerState)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP {CIRCUIT_OPEN} Whether a dependency's circuit breaker is open (calls skipped): 1, else 0."
    );
    let _ = writeln!(out, "# TYPE {CIRCUIT_OPEN} gauge");
    for (dependency, state) in states {
        let open = i32::from(*state != crate::breaker::BreakerState::Closed);
        let _ = writeln!(out, "{CIRCUIT_OPEN}{{dependency=\"{dependency}\"}} {open}");
    }
    out
}

pub const ALL: &[Metric] = &[
    HTTP_REQUESTS,
    HTTP_LATENCY,
    RATE_LIMITED,
    RETRIEVAL_LATENCY,
    KB_DOCUMENTS,
    KB_CHUNKS,
    MESSAGE_LATENCY,
    ANSWERS,
    CONVERSATIONS,
    ESCALATIONS,
    TICKETS,
    WEBHOOK_DELIVERIES,
    INBOUND_WEBHOOKS,
    TICKET_STATUS,
    LLM_LATENCY,
    LLM_TOKENS,
    DEPENDENCY_FAILURES,
];

/// The status class label of an HTTP status.
pub fn status_class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

/// One time series: a metric, its label values, and (for histograms) which part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    pub metric: &'static str,
    pub labels: Vec<(&'static str, &'static str)>,
    /// `None` for counters; `Some("bucket:<le>")`, `Some("sum")`, `Some("count")` for histograms.
    pub part: Option<String>,
}

impl Series {
    /// The counter key that holds this series.
    pub fn key(&self) -> String {
        let mut key = String::from(self.metric);
        for (name, value) in &self.labels {
            let _ = write!(key, "|{name}={value}");
        }
        if let Some(part) = &self.part {
            let _ = write!(key, "|{part}");
        }
        key
    }
}

/// Maps given label values onto the metric's fixed sets (unknown → the catch-all).
fn bounded_labels(metric: &Metric, values: &[&str]) -> Vec<(&'static str, &'static str)> {
    metric
        .labels
        .iter()
        .enumerate()
        .map(|(i, (name, allowed))| {
            let given = values.get(i).copied().unwrap_or("");
            let value = allowed
                .iter()
                .find(|v| **v == given)
                .copied()
                .unwrap_or(allowed[allowed.len() - 1]);
            (*name, value)
        })
        .collect()
}

/// The increments one observation makes: `(series, amount)`. Histogram sums are kept in
/// microseconds so they stay integers in the counters.
pub fn observe(metric: &Metric, label_values: &[&str], value: f64) -> Vec<(Series, i64)> {
    let labels = bounded_labels(metric, label_values);
    match metric.kind {
        Kind::Counter => vec![(
            Series {
                metric: metric.name,
                labels,
                part: None,
            },
            value.max(0.0).round() as i64,
        )],
        Kind::Histogram(bounds) => {
            let series = |part: String| Series {
                metric: metric.name,
                labels: labels.clone(),
                part: Some(part),
            };
            // Only the first bucket the value fits is incremented; exposition accumulates.
            let bucket = bounds
                .iter()
                .find(|b| value <= **b)
                .map(|b| format!("bucket:{b}"))
                .unwrap_or_else(|| "bucket:+Inf".to_string());
            vec![
                (series(bucket), 1),
                (series("sum".into()), (value.max(0.0) * 1e6).round() as i64),
                (series("count".into()), 1),
            ]
        }
    }
}

/// Every series a metric can have, for the exposition to read.
pub fn all_series(metric: &Metric) -> Vec<Series> {
    let mut combos: Vec<Vec<(&'static str, &'static str)>> = vec![Vec::new()];
    for (name, values) in metric.labels {
        combos = combos
            .into_iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut next = prefix.clone();
                    next.push((*name, *v));
                    next
                })
            })
            .collect();
    }
    let parts: Vec<Option<String>> = match metric.kind {
        Kind::Counter => vec![None],
        Kind::Histogram(bounds) => bounds
            .iter()
            .map(|b| Some(format!("bucket:{b}")))
            .chain([
                Some("bucket:+Inf".to_string()),
                Some("sum".into()),
                Some("count".into()),
            ])
            .collect(),
    };
    combos
        .into_iter()
        .flat_map(|labels| {
            parts.iter().map(move |part| Series {
                metric: metric.name,
                labels: labels.clone(),
                part: part.clone(),
            })
        })
        .collect()
}

fn label_text(labels: &[(&str, &str)], extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// Renders the Prometheus text exposition; `value` gives each series' counter value.
pub fn exposition(metrics: &[Metric], mut value: impl FnMut(&Series) -> i64) -> String {
    let mut out = String::new();
    for metric in metrics {
        let kind = match metric.kind {
            Kind::Counter => "counter",
            Kind::Histogram(_) => "histogram",
        };
        let _ = writeln!(out, "# HELP {} {}", metric.name, metric.help);
        let _ = writeln!(out, "# TYPE {} {kind}", metric.name);
        match metric.kind {
            Kind::Counter => {
                for series in all_series(metric) {
                    let _ = writeln!(
                        out,
                        "{}{} {}",
                        metric.name,
                        label_text(&series.labels, None),
                        value(&series)
                    );
                }
            }
            Kind::Histogram(bounds) => {
                let label_sets: Vec<Vec<(&'static str, &'static str)>> = all_series(metric)
                    .into_iter()
                    .filter(|s| s.part.as_deref() == Some("count"))
                    .map(|s| s.labels)
                    .collect();
                for labels in label_sets {
                    let mut get = |part: String| {
                        value(&Series {
                            metric: metric.name,
                            labels: labels.clone(),
                            part: Some(part),
                        })
                    };
                    let mut cumulative = 0;
                    for b in bounds {
                        cumulative += get(format!("bucket:{b}"));
                        let _ = writeln!(
                            out,
                            "{}_bucket{} {cumulative}",
                            metric.name,
                            label_text(&labels, Some(("le", b.to_string())))
                        );
                    }
                    cumulative += get("bucket:+Inf".into());
                    let _ = writeln!(
                        out,
                        "{}_bucket{} {cumulative}",
                        metric.name,
                        label_text(&labels, Some(("le", "+Inf".into())))
                    );
                    let sum = get("sum".into()) as f64 / 1e6;
                    let _ = writeln!(
                        out,
                        "{}_sum{} {sum}",
                        metric.name,
                        label_text(&labels, None)
                    );
                    let _ = writeln!(
                        out,
                        "{}_count{} {}",
                        metric.name,
                        label_text(&labels, None),
                        get("count".into())
                    );
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn record(store: &mut HashMap<String, i64>, metric: &Metric, labels: &[&str], value: f64) {
        for (series, by) in observe(metric, labels, value) {
            *store.entry(series.key()).or_default() += by;
        }
    }

    #[test]
    fn unknown_label_values_fall_into_the_catch_all() {
        let obs = observe(&HTTP_REQUESTS, &["/api/anything/else", "2xx"], 1.0);
        assert_eq!(obs[0].0.labels, vec![("route", "other"), ("status", "2xx")]);
    }

    #[test]
    fn circuit_gauge_is_one_while_calls_are_skipped() {
        use crate::breaker::BreakerState;
        let text = circuit_exposition(&[
            ("embedder", BreakerState::Open),
            ("vector_index", BreakerState::Closed),
        ]);
        assert!(text.contains("# TYPE support_dependency_circuit_open gauge\n"));
        assert!(text.contains("support_dependency_circuit_open{dependency=\"embedder\"} 1\n"));
        assert!(text.contains("support_dependency_circuit_open{dependency=\"vector_index\"} 0\n"));
        let half = circuit_exposition(&[("embedder", BreakerState::HalfOpen)]);
        assert!(half.contains("{dependency=\"embedder\"} 1"));
    }

    #[test]
    fn status_classes() {
        for (status, class) in [
            (200, "2xx"),
            (302, "3xx"),
            (404, "4xx"),
            (503, "5xx"),
            (99, "other"),
        ] {
            assert_eq!(status_class(status), class);
        }
    }

    #[test]
    fn histogram_buckets_are_cumulative_in_the_exposition() {
        let mut store = HashMap::new();
        record(&mut store, &HTTP_LATENCY, &["sessions"], 0.003);
        record(&mut store, &HTTP_LATENCY, &["sessions"], 0.02);
        record(&mut store, &HTTP_LATENCY, &["sessions"], 30.0);
        let text = exposition(&[HTTP_LATENCY], |s| {
            store.get(&s.key()).copied().unwrap_or(0)
        });
        assert!(text.contains(
            "support_http_request_duration_seconds_bucket{route=\"sessions\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "support_http_request_duration_seconds_bucket{route=\"sessions\",le=\"0.025\"} 2"
        ));
        assert!(text.contains(
            "support_http_request_duration_seconds_bucket{route=\"sessions\",le=\"10\"} 2"
        ));
        assert!(text.contains(
            "support_http_request_duration_seconds_bucket{route=\"sessions\",le=\"+Inf\"} 3"
        ));
        assert!(text.contains("support_http_request_duration_seconds_count{route=\"sessions\"} 3"));
        assert!(
            text.contains("support_http_request_duration_seconds_sum{route=\"sessions\"} 30.023")
        );
    }

    #[test]
    fn counters_render_every_series_with_help_and_type() {
        let mut store = HashMap::new();
        record(&mut store, &HTTP_REQUESTS, &["health", "2xx"], 1.0);
        record(&mut store, &HTTP_REQUESTS, &["health", "2xx"], 1.0);
        let text = exposition(&[HTTP_REQUESTS], |s| {
            store.get(&s.key()).copied().unwrap_or(0)
        });
        assert!(text.starts_with("# HELP support_http_requests_total "));
        assert!(text.contains("# TYPE support_http_requests_total counter"));
        assert!(text.contains("support_http_requests_total{route=\"health\",status=\"2xx\"} 2"));
        assert!(text.contains("support_http_requests_total{route=\"kb\",status=\"5xx\"} 0"));
        // Cardinality is bounded: routes x status classes.
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("support_http_requests_total{"))
                .count(),
            ROUTES.len() * STATUS_CLASSES.len()
        );
    }

    #[test]
    fn series_keys_are_distinct() {
        let mut keys: Vec<String> = ALL.iter().flat_map(all_series).map(|s| s.key()).collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n);
    }
}
