//! Outbound HTTP with JSON bodies over Spin's `wasi:http` (`spin_sdk::http::send`), for the
//! embedding sidecar, the vector index and later the LLM: one place that builds requests,
//! forwards the caller's request id, and turns transport failures and error statuses into an
//! [`OutboundError`] that says which service failed without echoing its reply to clients.
//!
//! Blocking: components are synchronous handlers, so each call runs the request on Spin's
//! executor (`spin_sdk::http::run`). Not for inbound requests (`crate::request`).
//!
//! A client may carry a bearer token (sent as `Authorization`, never shown by `Debug` nor
//! put in an error), a time limit and a deadline. `spin_sdk::http::send` takes no
//! `wasi:http` request options, so a limited request goes to the outgoing handler itself
//! with connect, first-byte and between-bytes timeouts; without a limit the host's defaults
//! apply (devhost: 10 s to connect, 60 s to the first byte and between bytes). A deadline
//! bounds the whole exchange: each wait is cut to the time left, and the body is read
//! polling the stream against a timer, so one that keeps trickling in stops at the deadline.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use spin_sdk::http::conversions::TryIntoOutgoingRequest;
use spin_sdk::http::{Method, OutgoingBody, Request, Response};
use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types::{IncomingBody, IncomingResponse, RequestOptions};
use wasi::io::streams::{InputStream, StreamError};

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

/// A credential: its `Debug` shows that it is set, never what it is.
#[derive(Clone)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// A JSON HTTP client for one service's base URL.
#[derive(Debug, Clone)]
pub struct JsonClient {
    base: String,
    request_id: Option<String>,
    bearer: Option<Secret>,
    time_limit: Option<Duration>,
    deadline: Option<Instant>,
}

impl JsonClient {
    /// `base` without a trailing slash is joined with each path (which starts with `/`).
    pub fn new(base: &str, request_id: Option<&str>) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            request_id: request_id.map(str::to_string),
            bearer: None,
            time_limit: None,
            deadline: None,
        }
    }

    /// Sends `Authorization: Bearer <token>` with every request.
    pub fn with_bearer(mut self, token: &str) -> Self {
        self.bearer = Some(Secret(token.to_string()));
        self
    }

    /// Limits the wait to connect, for the first byte of the answer, and between two of
    /// its bytes, each to `limit` (not the whole exchange: a body that keeps trickling in
    /// is read to its end).
    pub fn with_time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = Some(limit);
        self
    }

    /// Ends every exchange by `deadline`, whatever its waits: past it a call fails as
    /// [`OutboundError::Unreachable`] (a body still arriving is dropped).
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
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
        if let Some(Secret(token)) = &self.bearer {
            builder.header("authorization", format!("Bearer {token}"));
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
        let (status, body) = match (self.time_limit, self.deadline) {
            (None, None) => {
                let response: Response = spin_sdk::http::run(spin_sdk::http::send(request))
                    .map_err(|e| OutboundError::Unreachable(format!("{e:?}")))?;
                (*response.status(), response.into_body())
            }
            (limit, deadline) => send_limited(request, limit, deadline)?,
        };
        if !(200..300).contains(&status) {
            return Err(OutboundError::Status {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        Ok(body)
    }
}

/// Sends `request` with `wasi:http` request options limiting each wait to `limit` and to
/// the time left before `deadline`, and reads the answer by `deadline`: its status and body.
fn send_limited(
    request: Request,
    limit: Option<Duration>,
    deadline: Option<Instant>,
) -> Result<(u16, Vec<u8>), OutboundError> {
    let unreachable = |e: String| OutboundError::Unreachable(e);
    let wait = match (limit, deadline.map(time_left).transpose()?) {
        (Some(limit), Some(left)) => limit.min(left),
        (limit, left) => limit.or(left).unwrap_or(Duration::MAX),
    };
    let (outgoing, body) = request
        .try_into_outgoing_request()
        .map_err(|e| unreachable(format!("{e:#}")))?;
    let nanos = u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX);
    let options = RequestOptions::new();
    // A host that supports no such limit refuses it; its own default then applies.
    let _ = options.set_connect_timeout(Some(nanos));
    let _ = options.set_first_byte_timeout(Some(nanos));
    let _ = options.set_between_bytes_timeout(Some(nanos));
    let sink = outgoing
        .body()
        .map_err(|()| unreachable("the request body was already taken".into()))?;
    let pending = outgoing_handler::handle(outgoing, Some(options))
        .map_err(|e| unreachable(format!("{e:?}")))?;
    write_body(sink, body.unwrap_or_default())?;
    let incoming = loop {
        match pending.get() {
            Some(Ok(Ok(response))) => break response,
            Some(Ok(Err(code))) => return Err(unreachable(format!("{code:?}"))),
            Some(Err(())) => return Err(unreachable("the response was already taken".into())),
            None => pending.subscribe().block(),
        }
    };
    read_response(incoming, deadline)
}

/// The time before `deadline`; an error once it has passed.
fn time_left(deadline: Instant) -> Result<Duration, OutboundError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(OutboundError::Unreachable(
            "the time allowed for the exchange ran out".into(),
        ));
    }
    Ok(left)
}

/// The status and whole body of `incoming`, read by `deadline` (each wait for more bytes
/// is also limited by the request's between-bytes timeout, which the host enforces).
fn read_response(
    incoming: IncomingResponse,
    deadline: Option<Instant>,
) -> Result<(u16, Vec<u8>), OutboundError> {
    let status = incoming.status();
    let body = incoming
        .consume()
        .map_err(|()| OutboundError::Unreachable("the response body was already taken".into()))?;
    let mut bytes = Vec::new();
    {
        let stream = body.stream().map_err(|()| {
            OutboundError::Unreachable("the response body stream was already taken".into())
        })?;
        loop {
            match stream.read(64 * 1024) {
                Ok(chunk) if chunk.is_empty() => wait_readable(&stream, deadline)?,
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(OutboundError::Unreachable(format!(
                        "reading the response: {}",
                        e.to_debug_string()
                    )));
                }
            }
        }
    }
    // The trailers are not read; dropping the future lets the host release the body.
    drop(IncomingBody::finish(body));
    Ok((status, bytes))
}

/// Waits until `stream` has bytes (or has ended), or fails when `deadline` comes first.
fn wait_readable(stream: &InputStream, deadline: Option<Instant>) -> Result<(), OutboundError> {
    let readable = stream.subscribe();
    let Some(deadline) = deadline else {
        readable.block();
        return Ok(());
    };
    let left = time_left(deadline)?;
    let nanos = u64::try_from(left.as_nanos()).unwrap_or(u64::MAX);
    let timer = wasi::clocks::monotonic_clock::subscribe_duration(nanos);
    if wasi::io::poll::poll(&[&readable, &timer]).contains(&0) {
        Ok(())
    } else {
        Err(OutboundError::Unreachable(
            "the time allowed for the exchange ran out while reading the response".into(),
        ))
    }
}

/// Writes a whole request body and finishes it.
fn write_body(body: OutgoingBody, bytes: Vec<u8>) -> Result<(), OutboundError> {
    let failed = |e| OutboundError::Unreachable(format!("writing the request: {e:?}"));
    {
        let stream = body
            .write()
            .map_err(|()| OutboundError::Unreachable("the request body is closed".into()))?;
        // The call is limited to 4096 bytes at a time.
        for chunk in bytes.chunks(4096) {
            stream.blocking_write_and_flush(chunk).map_err(failed)?;
        }
    }
    OutgoingBody::finish(body, None).map_err(|e| OutboundError::Unreachable(format!("{e:?}")))
}

/// Sends `body` to `url` with exactly `headers` (plus nothing of a [`JsonClient`]'s), each
/// wait limited to `limit`; the status and body of whatever answer comes back. For webhook
/// deliveries, where the caller signs the body and judges the status itself.
pub fn send_raw(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    limit: Duration,
) -> Result<(u16, Vec<u8>), OutboundError> {
    let mut builder = Request::builder();
    builder.method(method).uri(url);
    for (name, value) in headers {
        builder.header(*name, *value);
    }
    send_limited(builder.body(body).build(), Some(limit), None)
}
