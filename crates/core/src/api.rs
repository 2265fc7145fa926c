//! The API's route table: every method and path template each component serves.
//!
//! Components dispatch on these, and the OpenAPI test (`tests/openapi.rs`) checks that
//! `openapi.yaml` documents exactly this set, so the document cannot fall behind the code.

/// One served route: an HTTP method and an OpenAPI path template (`{id}` for parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub component: &'static str,
    pub method: &'static str,
    pub path: &'static str,
}

const fn route(component: &'static str, method: &'static str, path: &'static str) -> Route {
    Route {
        component,
        method,
        path,
    }
}

/// Every route the app serves.
pub const ROUTES: &[Route] = &[
    route("health", "GET", "/health"),
    route("health", "GET", "/health/ready"),
    route("metrics", "GET", "/metrics"),
    route("session", "POST", "/api/sessions"),
    route("session", "GET", "/api/sessions"),
    route("session", "GET", "/api/sessions/{id}"),
    route("session", "DELETE", "/api/sessions/{id}"),
    route("session", "POST", "/api/sessions/{id}/token"),
    route("message", "POST", "/api/sessions/{id}/messages"),
    route("message", "GET", "/api/sessions/{id}/messages"),
    route("message", "GET", "/api/sessions/{id}/events"),
    route("message", "POST", "/api/sessions/{id}/attachments"),
    route("message", "PUT", "/api/sessions/{id}/feedback"),
    route("ingest", "POST", "/api/kb/documents"),
    route("ingest", "GET", "/api/kb/documents"),
    route("ingest", "GET", "/api/kb/documents/{id}"),
    route("ingest", "PUT", "/api/kb/documents/{id}"),
    route("ingest", "DELETE", "/api/kb/documents/{id}"),
    route("ingest", "POST", "/api/kb/search"),
    route("ingest", "POST", "/api/kb/reindex"),
    route("ingest", "GET", "/api/kb/unanswered"),
    route("ingest", "GET", "/api/kb/curated"),
    route("ingest", "POST", "/api/kb/curated"),
    route("escalate", "POST", "/api/sessions/{id}/escalate"),
    route("escalate", "GET", "/api/agent/conversations"),
    route("escalate", "GET", "/api/agent/conversations/{id}"),
    route("escalate", "POST", "/api/agent/conversations/{id}/claim"),
    route("escalate", "POST", "/api/agent/conversations/{id}/messages"),
    route("escalate", "POST", "/api/agent/conversations/{id}/resolve"),
    route("escalate", "POST", "/api/agent/conversations/{id}/handback"),
    route("escalate", "POST", "/api/webhooks/{provider}"),
    route("escalate", "POST", "/api/admin/outbox/flush"),
    route("escalate", "GET", "/api/admin/outbox"),
    route("escalate", "POST", "/api/admin/outbox/{id}/replay"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_unique_and_absolute() {
        for (i, a) in ROUTES.iter().enumerate() {
            assert!(a.path.starts_with('/'), "{a:?}");
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "duplicate {a:?}"
                );
            }
        }
    }
}
