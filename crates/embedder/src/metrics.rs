//! Process metrics and their Prometheus text exposition (`GET /metrics`): request counts by
//! route and status, texts and tokens embedded, queue depth, rejections, batch sizes and
//! latency histograms.
//!
//! Plain atomics, no registry crate: the set of metrics is fixed and small. This module
//! records and renders; it decides nothing.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    pub fn set(&self, v: usize) {
        self.0.store(v as u64, Ordering::Relaxed);
    }

    /// Adds `n` and returns the value before.
    pub fn add(&self, n: usize) -> u64 {
        self.0.fetch_add(n as u64, Ordering::SeqCst)
    }

    pub fn sub(&self, n: usize) {
        self.0.fetch_sub(n as u64, Ordering::SeqCst);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A cumulative histogram with fixed upper bounds.
#[derive(Debug)]
pub struct Histogram {
    bounds: Vec<f64>,
    counts: Vec<AtomicU64>,
    count: AtomicU64,
    sum_bits: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &[f64]) -> Histogram {
        Histogram {
            bounds: bounds.to_vec(),
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_bits: AtomicU64::new(0f64.to_bits()),
        }
    }

    pub fn observe(&self, v: f64) {
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            if v <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .sum_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + v).to_bits())
            });
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count());
        let _ = writeln!(
            out,
            "{name}_sum {}",
            f64::from_bits(self.sum_bits.load(Ordering::Relaxed))
        );
        let _ = writeln!(out, "{name}_count {}", self.count());
    }
}

const LATENCY_BOUNDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const BATCH_BOUNDS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];

/// Every metric the sidecar exports.
#[derive(Debug)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    pub texts: Counter,
    pub tokens: Counter,
    pub truncated: Counter,
    pub rejected: Counter,
    pub queue_depth: Gauge,
    pub batch_size: Histogram,
    pub inference_seconds: Histogram,
    pub request_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Mutex::new(BTreeMap::new()),
            texts: Counter::default(),
            tokens: Counter::default(),
            truncated: Counter::default(),
            rejected: Counter::default(),
            queue_depth: Gauge::default(),
            batch_size: Histogram::new(BATCH_BOUNDS),
            inference_seconds: Histogram::new(LATENCY_BOUNDS),
            request_seconds: Histogram::new(LATENCY_BOUNDS),
        }
    }
}

impl Metrics {
    /// Counts one finished request on `route` (a fixed route name, not the raw path).
    pub fn request(&self, route: &'static str, status: u16) {
        *self
            .requests
            .lock()
            .expect("metrics lock")
            .entry((route, status))
            .or_default() += 1;
    }

    /// The Prometheus text exposition format, version 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP embedder_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE embedder_requests_total counter\n");
        for ((route, status), n) in self.requests.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "embedder_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        for (name, help, counter) in [
            ("embedder_texts_total", "Texts embedded.", &self.texts),
            (
                "embedder_tokens_total",
                "Tokens embedded (after truncation).",
                &self.tokens,
            ),
            (
                "embedder_truncated_texts_total",
                "Texts cut at the model's maximum sequence length.",
                &self.truncated,
            ),
            (
                "embedder_rejected_total",
                "Requests refused with 503 because the queue was full.",
                &self.rejected,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                counter.get()
            );
        }
        let _ = writeln!(
            out,
            "# HELP embedder_queue_depth Texts admitted and not yet embedded.\n# TYPE embedder_queue_depth gauge\nembedder_queue_depth {}",
            self.queue_depth.get()
        );
        self.batch_size.render(
            &mut out,
            "embedder_batch_size",
            "Texts per batch given to an inference thread (one graph run, or one run per text).",
        );
        self.inference_seconds.render(
            &mut out,
            "embedder_inference_seconds",
            "Duration of one graph run.",
        );
        self.request_seconds.render(
            &mut out,
            "embedder_request_duration_seconds",
            "Duration of POST /v1/embeddings requests.",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new(&[1.0, 2.0]);
        h.observe(0.5);
        h.observe(1.5);
        h.observe(3.0);
        let mut out = String::new();
        h.render(&mut out, "x", "help");
        assert!(out.contains("x_bucket{le=\"1\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"2\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_sum 5\n"), "{out}");
    }

    #[test]
    fn requests_are_counted_by_route_and_status() {
        let m = Metrics::default();
        m.request("embeddings", 200);
        m.request("embeddings", 200);
        m.request("embeddings", 400);
        let out = m.render();
        assert!(out.contains("embedder_requests_total{route=\"embeddings\",status=\"200\"} 2"));
        assert!(out.contains("embedder_requests_total{route=\"embeddings\",status=\"400\"} 1"));
        assert!(out.contains("# TYPE embedder_batch_size histogram"));
    }
}
