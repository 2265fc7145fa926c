//! Outbound HTTP with JSON bodies over Spin's `wasi:http` (`spin_sdk::http::send`), for the
//! embedding sidecar, the vector index and later the LLM: one place that builds requests,
//! forwards the caller's request id, and turns transport failures and error statuses into an
//! [`OutboundError`] that says which service failed without echoing its reply to clients.
//!
//! Blocking: components are synchronous handlers, so each call runs the request on Spin's
//! executor (`spin_sdk::http::run`). Not for inbound requests (`crate::request`).

use serde::Serialize;
use serde::de::DeserializeOwned;
use spin_sdk::http::{Method, Request, Response};

/// Why an outbound call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundError {
    /// No response: refused, unreachable, not allowed by `allowed_outbound_hosts`, timed out.
    Unreachable(String),
    /// The service answered with an error status; the body is kept for the server log.
    Status { status: u16, body: String },
    /// The service answered 2xx with a body of the wrong shape.
    Decode(String),
}

impl std::fmt::Display for OutboundError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutboundError::Unreachable(m) => write!(f, "unreachable: {m}"),
            OutboundError::Status { status, body } => {
                let shown: String = body.chars().take(300).collect();
                write!(f, "status {status}: {shown}")
            }
            OutboundError::Decode(m) => write!(f, "unexpected response: {m}"),
        }
    }
}

/// A JSON HTTP client for one service's base URL.
#[derive(Debug, Clone)]
pub struct JsonClient {
    base: String,
    request_id: Option<String>,
}

impl JsonClient {
    /// `base` without a trailing slash is joined with each path (which starts with `/`).
    pub fn new(base: &str, request_id: Option<&str>) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            request_id: request_id.map(str::to_string),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends `body` (if any) as JSON and decodes a JSON answer.
    pub fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, OutboundError> {
        let bytes = self.send(method, path, body)?;
        serde_json::from_slice(&bytes).map_err(|e| OutboundError::Decode(e.to_string()))
    }

    /// Sends `body` (if any) as JSON; the raw 2xx body.
    pub fn send<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Vec<u8>, OutboundError> {
        let mut builder = Request::builder();
        builder
            .method(method)
            .uri(format!("{}{}", self.base, path))
            .header("accept", "application/json");
        if let Some(id) = &self.request_id {
            builder.header("x-request-id", id.as_str());
        }
        let request = match body {
            Some(body) => {
                let json =
                    serde_json::to_vec(body).map_err(|e| OutboundError::Decode(e.to_string()))?;
                builder
                    .header("content-type", "application/json")
                    .body(json)
                    .build()
            }
            None => builder.build(),
        };
        let response: Response = spin_sdk::http::run(spin_sdk::http::send(request))
            .map_err(|e| OutboundError::Unreachable(format!("{e:?}")))?;
        let status = *response.status();
        if !(200..300).contains(&status) {
            return Err(OutboundError::Status {
                status,
                body: String::from_utf8_lossy(response.body()).into_owned(),
            });
        }
        Ok(response.into_body())
    }
}
