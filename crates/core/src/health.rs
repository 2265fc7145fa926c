//! Readiness: turning per-dependency probe results into the `/health/ready` report.
//! Probing itself is I/O and lives in `crates/edge`.

use serde::Serialize;

/// The outcome of probing one dependency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DependencyStatus {
    /// A stable name: `store`, `counters`, `embedder`, `vector_index`.
    pub name: &'static str,
    /// The backend in use (`sqlite`, `postgres`, `redis`, `sidecar`, `chroma`), never its
    /// address or credentials.
    pub backend: &'static str,
    pub ok: bool,
    /// Whether the app cannot serve without it. Without the embedder or the vector index,
    /// search falls back to keywords: the app is degraded, not down.
    pub required: bool,
    pub latency_ms: f64,
    /// A short, fixed description of the failure; never a driver message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    /// For a dependency with a circuit breaker, its state after this probe (a probe that
    /// succeeds closes it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub circuit: Option<crate::breaker::BreakerState>,
}

/// The readiness report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Readiness {
    pub status: &'static str,
    pub version: &'static str,
    pub dependencies: Vec<DependencyStatus>,
}

impl Readiness {
    /// `ready` when every dependency answered, `degraded` when only optional ones did not,
    /// `unavailable` when a required one did not.
    pub fn from_checks(version: &'static str, dependencies: Vec<DependencyStatus>) -> Self {
        let status = if dependencies.iter().any(|d| d.required && !d.ok) {
            "unavailable"
        } else if dependencies.iter().any(|d| !d.ok) {
            "degraded"
        } else {
            "ready"
        };
        Self {
            status,
            version,
            dependencies,
        }
    }

    /// Whether the app can serve requests (perhaps degraded).
    pub fn is_ready(&self) -> bool {
        self.status != "unavailable"
    }

    /// 200 when ready or degraded, 503 otherwise.
    pub fn http_status(&self) -> u16 {
        if self.is_ready() { 200 } else { 503 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(name: &'static str, ok: bool) -> DependencyStatus {
        DependencyStatus {
            name,
            backend: "sqlite",
            ok,
            required: !matches!(name, "embedder" | "vector_index"),
            latency_ms: 1.0,
            error: (!ok).then_some("unreachable"),
            circuit: None,
        }
    }

    #[test]
    fn ready_only_when_every_dependency_is_up() {
        let r = Readiness::from_checks("1", vec![dep("store", true), dep("counters", true)]);
        assert_eq!((r.status, r.http_status()), ("ready", 200));
        let r = Readiness::from_checks("1", vec![dep("store", true), dep("counters", false)]);
        assert_eq!((r.status, r.http_status()), ("unavailable", 503));
    }

    #[test]
    fn optional_dependencies_down_mean_degraded_not_unavailable() {
        let r = Readiness::from_checks("1", vec![dep("store", true), dep("embedder", false)]);
        assert_eq!((r.status, r.http_status()), ("degraded", 200));
        let r = Readiness::from_checks("1", vec![dep("store", false), dep("embedder", false)]);
        assert_eq!((r.status, r.http_status()), ("unavailable", 503));
    }

    #[test]
    fn report_names_backends_but_no_addresses() {
        let r = Readiness::from_checks("1", vec![dep("store", false)]);
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"backend\":\"sqlite\""));
        assert!(json.contains("\"error\":\"unreachable\""));
    }
}
