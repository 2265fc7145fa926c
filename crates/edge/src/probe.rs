//! Dependency probes for readiness: one cheap round trip to each configured backend.
//!
//! A probe reports the backend's kind and a fixed error phrase, never the driver's message
//! (it may carry addresses or credentials).

use std::time::Instant;

use core_logic::health::DependencyStatus;
use spin_sdk::{pg4, redis, sqlite3};

use core_logic::breaker::Dependency;

use crate::breaker::Breaker;
use crate::config::{CallPath, CountersBackend, StoreBackend};
use crate::counters::Counters;

fn timed(
    name: &'static str,
    backend: &'static str,
    probe: impl FnOnce() -> Result<(), &'static str>,
) -> DependencyStatus {
    let started = Instant::now();
    let outcome = probe();
    DependencyStatus {
        name,
        backend,
        ok: outcome.is_ok(),
        required: true,
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        error: outcome.err(),
        circuit: None,
    }
}

fn sqlite_select_one(label: &str) -> Result<(), &'static str> {
    let conn = sqlite3::Connection::open(label).map_err(|_| "cannot open database")?;
    conn.execute("SELECT 1", &[])
        .map(|_| ())
        .map_err(|_| "query failed")
}

/// Probes the relational store.
pub fn store(backend: &StoreBackend) -> DependencyStatus {
    match backend {
        StoreBackend::Sqlite { label } => timed("store", "sqlite", || sqlite_select_one(label)),
        StoreBackend::Postgres { url } => timed("store", "postgres", || {
            let conn = pg4::Connection::open(url).map_err(|_| "unreachable")?;
            conn.query("SELECT 1", &[])
                .map(|_| ())
                .map_err(|_| "query failed")
        }),
    }
}

/// Probes the counters backend.
pub fn counters(backend: &CountersBackend) -> DependencyStatus {
    match backend {
        CountersBackend::Sqlite { label } => {
            timed("counters", "sqlite", || sqlite_select_one(label))
        }
        CountersBackend::Redis { url } => timed("counters", "redis", || {
            let conn = redis::Connection::open(url).map_err(|_| "unreachable")?;
            conn.execute("PING", &[])
                .map(|_| ())
                .map_err(|_| "command failed")
        }),
    }
}

/// Probes the embedding sidecar (optional: search degrades to keywords without it), then
/// reports its circuit breaker, which a successful probe closes.
pub fn embedder(request_id: Option<&str>, breakers: Option<&dyn Counters>) -> DependencyStatus {
    let status = timed("embedder", "sidecar", || {
        crate::embedder::Embedder::from_config(request_id, CallPath::Answer)
            .map_err(|_| "not configured")?
            .healthy()
            .map_err(|_| "unreachable")
    });
    optional(status, Dependency::Embedder, breakers)
}

/// Probes the vector index (optional, as the embedder).
pub fn vector_index(request_id: Option<&str>, breakers: Option<&dyn Counters>) -> DependencyStatus {
    use crate::vector_index::VectorIndex;
    let status = timed("vector_index", "chroma", || {
        crate::vector_index::Chroma::from_config(request_id, CallPath::Answer)
            .map_err(|_| "not configured")?
            .healthy()
            .map_err(|_| "unreachable")
    });
    optional(status, Dependency::VectorIndex, breakers)
}

/// An optional dependency's status with its breaker: closed by a successful probe, and
/// its state read back (left out when the counters cannot be read).
fn optional(
    mut status: DependencyStatus,
    dependency: Dependency,
    breakers: Option<&dyn Counters>,
) -> DependencyStatus {
    status.required = false;
    if let Some(counters) = breakers {
        let breaker = Breaker::new(counters, dependency);
        if status.ok {
            breaker.succeeded();
        }
        status.circuit = breaker.state().ok();
    }
    status
}
