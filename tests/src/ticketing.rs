//! A ticketing system for tests, in process: it receives the app's outbound webhooks the way
//! Zendesk's and Freshdesk's Tickets APIs and a generic receiver would, answers creations
//! with a new ticket id in each provider's response shape, and records every request.
//!
//! It can fail the first N deliveries (500) or hold the first one without answering, for
//! the retry and crash tests. Requests are judged by the tests against JSON Schemas of the
//! providers' request bodies (`tests/fixtures/ticketing/`), and signatures are checked with
//! [`verify_signature`].

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

pub use crate::llm_server::Received;
use crate::llm_server::{read_request, respond};

/// How the receiver treats the first deliveries.
#[derive(Debug, Clone, Copy, Default)]
pub struct Behaviour {
    /// Answer 500 to this many requests first.
    pub fail_first: usize,
    /// Hold the first request this long without answering (then close the connection).
    pub hang_first: Option<Duration>,
}

struct Shared {
    behaviour: Behaviour,
    seen: AtomicUsize,
    next_id: AtomicU64,
    received: Mutex<Vec<Received>>,
    /// Requests answered 2xx.
    accepted: Mutex<Vec<Received>>,
    /// Tickets created: (path of the creating request, the id answered).
    created: Mutex<Vec<(String, u64)>>,
    stop: AtomicBool,
}

/// The receiver on `127.0.0.1:<free port>`; stopped on drop.
pub struct Ticketing {
    port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Ticketing {
    pub fn start(behaviour: Behaviour) -> Ticketing {
        Self::start_on(TcpListener::bind("127.0.0.1:0").unwrap(), behaviour)
    }

    /// Serves on `listener` (to come back on the same port after a restart).
    pub fn start_on(listener: TcpListener, behaviour: Behaviour) -> Ticketing {
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            behaviour,
            seen: AtomicUsize::new(0),
            next_id: AtomicU64::new(1000),
            received: Mutex::new(Vec::new()),
            accepted: Mutex::new(Vec::new()),
            created: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        listener.set_nonblocking(true).unwrap();
        let accept = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                while !shared.stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let _ = stream.set_nonblocking(false);
                            let shared = shared.clone();
                            std::thread::spawn(move || serve(stream, &shared));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        Ticketing {
            port,
            shared,
            accept: Some(accept),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    pub fn accepted(&self) -> Vec<Received> {
        self.shared.accepted.lock().unwrap().clone()
    }

    /// The id answered to the first ticket creation at `path`.
    pub fn created_id(&self, path: &str) -> Option<u64> {
        self.shared
            .created
            .lock()
            .unwrap()
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, id)| *id)
    }

    /// Waits up to `within` for `n` accepted requests; all accepted so far.
    pub fn wait_accepted(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let accepted = self.accepted();
            if accepted.len() >= n || std::time::Instant::now() >= deadline {
                return accepted;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Ticketing {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
    }
}

fn serve(stream: TcpStream, shared: &Shared) {
    let Some(received) = read_request(&stream) else {
        return;
    };
    shared.received.lock().unwrap().push(received.clone());
    let n = shared.seen.fetch_add(1, Ordering::SeqCst);
    let mut out = stream;
    if n == 0
        && let Some(hold) = shared.behaviour.hang_first
    {
        std::thread::sleep(hold);
        return;
    }
    if n < shared.behaviour.fail_first {
        let _ = respond(
            &mut out,
            500,
            "application/json",
            br#"{"error":"try later"}"#,
        );
        return;
    }
    let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
    let path = received.path.split('?').next().unwrap_or("").to_string();
    let (status, body) = match (received.method.as_str(), path.as_str()) {
        ("POST", "/api/v2/tickets.json") => {
            (201, json!({ "ticket": { "id": id, "status": "new" } }))
        }
        ("POST", "/api/v2/tickets") => (201, json!({ "id": id, "status": 2 })),
        _ => (200, json!({ "ok": true })),
    };
    if status == 201 {
        shared.created.lock().unwrap().push((path, id));
    }
    shared.accepted.lock().unwrap().push(received);
    let _ = respond(
        &mut out,
        status,
        "application/json",
        body.to_string().as_bytes(),
    );
}

/// Checks an `x-support-signature` header the way a receiver would: HMAC-SHA256 of
/// `"<t>.<body>"` under `secret`.
pub fn verify_signature(request: &Received, secret: &str) -> bool {
    let header = request.header("x-support-signature").unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    core_logic::handoff::verify(
        &core_logic::handoff::Secret::new(secret),
        Some(header),
        &request.body,
        now,
    )
    .is_ok()
}

/// The JSON Schema of a provider's request body, from `tests/fixtures/ticketing/`.
pub fn schema(name: &str) -> Value {
    let path = crate::repo_root()
        .join("tests/fixtures/ticketing")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Asserts `body` matches the schema `name`.
pub fn assert_shape(name: &str, body: &Value) {
    let schema = schema(name);
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{name}: {errors:?}\n{body:#}");
}
