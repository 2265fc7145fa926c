//! OpenAI-compatible LLM servers for tests of the LLM responder:
//! - [`ScriptedLlm`], in process: answers `POST /v1/chat/completions` with the next of a
//!   script of replies (a completion, a tool call, an SSE stream chunked or whole, an error
//!   status, a delay, a malformed chunk, raw bytes such as a stream cut off) and records
//!   every request it received; optionally it refuses streamed requests as servers that
//!   cannot stream them do ([`Refusal`]).
//! - [`RealLlm`]: llama-cpp-python's server with the SmolLM2-135M model, from the venv
//!   `scripts/llm/install.sh` makes (it builds the server once; later runs take a second).
//!
//! The real model is tiny: tests assert on the wire format, and on answers only where a
//! one-line passage makes the answer certain.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{closed_port, repo_root};

/// One scripted reply to `POST /v1/chat/completions`.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with this JSON body.
    Json(Value),
    /// This status with this body (e.g. 500).
    Status(u16, String),
    /// 200 `text/event-stream`: each item is the payload of one `data:` line (send
    /// `"[DONE]"` as an item to end the stream properly). `chunked` sends one HTTP chunk per
    /// event, `pause` apart; otherwise one body with a `content-length`.
    Stream {
        events: Vec<String>,
        chunked: bool,
        pause: Duration,
    },
    /// Waits this long before answering with the inner reply (for time limits).
    Delay(Duration, Box<Reply>),
    /// These bytes as the whole answer, then the connection closed: a response cut off or
    /// broken on the wire (e.g. an event stream that stops mid-chunk).
    Raw(String),
}

impl Reply {
    /// A finished completion answering `text`.
    pub fn completion(text: &str) -> Reply {
        Reply::Json(json!({
            "id": "chatcmpl-scripted",
            "object": "chat.completion",
            "model": "scripted",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        }))
    }

    /// A completion calling one tool with `arguments` as written (valid JSON or not).
    pub fn tool_call(id: &str, name: &str, arguments: &str) -> Reply {
        Reply::Json(json!({
            "id": "chatcmpl-scripted",
            "object": "chat.completion",
            "model": "scripted",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": id, "type": "function",
                                "function": {"name": name, "arguments": arguments}}]},
                "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        }))
    }

    /// A chunked stream of content `pieces`, a finish chunk with usage, and `[DONE]`.
    pub fn stream_text(pieces: &[&str]) -> Reply {
        let mut events: Vec<String> = pieces.iter().map(|p| content_chunk(p)).collect();
        events.push(
            json!({"object": "chat.completion.chunk",
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 10, "completion_tokens": pieces.len()}})
            .to_string(),
        );
        events.push("[DONE]".to_string());
        Reply::Stream {
            events,
            chunked: true,
            pause: Duration::from_millis(5),
        }
    }
}

/// A `chat.completion.chunk` adding `text` to the content.
pub fn content_chunk(text: &str) -> String {
    json!({"object": "chat.completion.chunk",
           "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
    .to_string()
}

/// A `chat.completion.chunk` with a tool call delta (`id` and `name` only in the first).
pub fn tool_call_chunk(index: usize, id: Option<&str>, name: Option<&str>, args: &str) -> String {
    let mut function = json!({"arguments": args});
    if let Some(name) = name {
        function["name"] = json!(name);
    }
    let mut call = json!({"index": index, "type": "function", "function": function});
    if let Some(id) = id {
        call["id"] = json!(id);
    }
    json!({"object": "chat.completion.chunk",
           "choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": null}]})
    .to_string()
}

/// Streamed requests a [`ScriptedLlm`] refuses without taking a reply from its script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// As llama-cpp-python 0.3.36's `chatml-function-calling` refuses a streamed request
    /// that offers tools with automatic choice (`tool_choice` `"auto"` or left out): 200,
    /// `text/event-stream; charset=utf-8`, chunked, and no event at all (the reason,
    /// "Automatic streaming tool choice is not supported", only goes to the server's log).
    /// The bytes are [`LLAMA_CPP_REFUSAL`], captured from the real server.
    StreamedAutoToolChoice,
    /// Every streamed request: 200 and one `data: {"error": …}` event, then `[DONE]`, as a
    /// server or proxy that cannot stream at all might answer.
    EveryStream,
}

/// llama-cpp-python 0.3.36's whole answer (`chatml-function-calling`) to a streamed request
/// with tools and `tool_choice: "auto"`, captured with `curl --raw`: a 200 whose chunked
/// body ends at once. Left out: `date`, `x-request-id` and `openai-processing-ms`; and
/// `connection: keep-alive` is `close` here, as in every answer of this one-request-per-
/// connection server.
pub const LLAMA_CPP_REFUSAL: &str = "HTTP/1.1 200 OK\r\nserver: uvicorn\r\n\
cache-control: no-store\r\nconnection: close\r\nx-accel-buffering: no\r\n\
content-type: text/event-stream; charset=utf-8\r\nvary: Origin\r\n\
Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";

impl Refusal {
    /// Whether this server refuses `request` (a chat-completions body).
    pub fn refuses(self, request: &Value) -> bool {
        if request["stream"] != json!(true) {
            return false;
        }
        match self {
            Refusal::EveryStream => true,
            Refusal::StreamedAutoToolChoice => {
                let tools = request["tools"].as_array().is_some_and(|t| !t.is_empty());
                let choice = &request["tool_choice"];
                tools && (choice.is_null() || *choice == json!("auto"))
            }
        }
    }
}

/// A request the scripted server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("request body is not JSON ({e}): {:?}", self.body))
    }
}

struct Shared {
    script: Mutex<VecDeque<Reply>>,
    received: Mutex<Vec<Received>>,
    refusal: Option<Refusal>,
    refused: AtomicUsize,
    stop: AtomicBool,
}

/// The in-process scripted server on `127.0.0.1:<free port>`; stopped on drop.
pub struct ScriptedLlm {
    port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl ScriptedLlm {
    /// Starts serving `script`, one reply per chat-completions request, in order. A request
    /// after the script ran out gets a 500 saying so.
    pub fn start(script: Vec<Reply>) -> ScriptedLlm {
        Self::serve(script, None)
    }

    /// [`start`](Self::start), but the streamed requests `refusal` names are refused (and
    /// counted: [`refused`](Self::refused)) without taking a reply from the script.
    pub fn refusing(refusal: Refusal, script: Vec<Reply>) -> ScriptedLlm {
        Self::serve(script, Some(refusal))
    }

    fn serve(script: Vec<Reply>, refusal: Option<Refusal>) -> ScriptedLlm {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            script: Mutex::new(script.into()),
            received: Mutex::new(Vec::new()),
            refusal,
            refused: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let accept = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if shared.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = shared.clone();
                    std::thread::spawn(move || serve(stream, &shared));
                }
            })
        };
        ScriptedLlm {
            port,
            shared,
            accept: Some(accept),
        }
    }

    /// The API base, as `llm_base_url` takes it: `http://127.0.0.1:<port>/v1`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// `127.0.0.1:<port>`, for `allowed_outbound_hosts`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Adds a reply at the end of the script.
    pub fn push(&self, reply: Reply) {
        self.shared.script.lock().unwrap().push_back(reply);
    }

    /// Every request so far, in order of arrival (`GET /v1/models` included).
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// How many streamed requests were refused (see [`Refusal`]).
    pub fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// The chat-completions requests so far, their bodies as JSON.
    pub fn completions(&self) -> Vec<Value> {
        self.received()
            .iter()
            .filter(|r| r.path == "/v1/chat/completions")
            .map(Received::json)
            .collect()
    }
}

impl Drop for ScriptedLlm {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Reads one request (a `content-length` or chunked body), answers it, closes.
fn serve(stream: TcpStream, shared: &Shared) {
    let Some(received) = read_request(&stream) else {
        return;
    };
    let (method, path) = (received.method.clone(), received.path.clone());
    let refused = path == "/v1/chat/completions"
        && shared.refusal.is_some_and(|refusal| {
            serde_json::from_slice::<Value>(&received.body).is_ok_and(|r| refusal.refuses(&r))
        });
    shared.received.lock().unwrap().push(received);
    let mut out = stream;
    if refused {
        shared.refused.fetch_add(1, Ordering::SeqCst);
        let _ = match shared.refusal {
            Some(Refusal::StreamedAutoToolChoice) => out
                .write_all(LLAMA_CPP_REFUSAL.as_bytes())
                .and_then(|()| out.flush()),
            _ => answer(
                &mut out,
                Reply::Stream {
                    events: vec![
                        json!({"error": {"message": "streaming is not supported",
                                         "type": "invalid_request_error"}})
                        .to_string(),
                        "[DONE]".to_string(),
                    ],
                    chunked: true,
                    pause: Duration::ZERO,
                },
            ),
        };
        return;
    }
    let reply = match (method.as_str(), path.as_str()) {
        ("GET", "/v1/models") => Reply::Json(json!({
            "object": "list",
            "data": [{"id": "scripted", "object": "model", "owned_by": "tests"}]
        })),
        ("POST", "/v1/chat/completions") => {
            let next = shared.script.lock().unwrap().pop_front();
            next.unwrap_or_else(|| {
                Reply::Status(500, r#"{"error":"the test script ran out"}"#.into())
            })
        }
        _ => Reply::Status(404, r#"{"error":"not found"}"#.into()),
    };
    // The peer may have given up (time-limit tests): write errors are expected then.
    let _ = answer(&mut out, reply);
}

/// Reads one HTTP/1.1 request (a `content-length` or chunked body) from `stream`.
pub(crate) fn read_request(stream: &TcpStream) -> Option<Received> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            if reader.read_line(&mut size).unwrap_or(0) == 0 {
                break;
            }
            let size =
                usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16).unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            if reader.read_exact(&mut chunk).is_err() || size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(len, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some(Received {
        method,
        path,
        headers,
        body,
    })
}

fn answer(out: &mut TcpStream, reply: Reply) -> std::io::Result<()> {
    match reply {
        Reply::Delay(wait, inner) => {
            std::thread::sleep(wait);
            answer(out, *inner)
        }
        Reply::Raw(bytes) => {
            out.write_all(bytes.as_bytes())?;
            out.flush()
        }
        Reply::Json(value) => respond(out, 200, "application/json", value.to_string().as_bytes()),
        Reply::Status(status, body) => respond(out, status, "application/json", body.as_bytes()),
        Reply::Stream {
            events,
            chunked: false,
            ..
        } => {
            let body: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
            respond(out, 200, "text/event-stream", body.as_bytes())
        }
        Reply::Stream {
            events,
            chunked: true,
            pause,
        } => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-store\r\n\
                 transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            )?;
            for event in events {
                let data = format!("data: {event}\n\n");
                write!(out, "{:x}\r\n{data}\r\n", data.len())?;
                out.flush()?;
                std::thread::sleep(pause);
            }
            write!(out, "0\r\n\r\n")?;
            out.flush()
        }
    }
}

pub(crate) fn respond(
    out: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        if status < 400 { "OK" } else { "Error" },
        body.len()
    )?;
    out.write_all(body)?;
    out.flush()
}

/// What `scripts/llm/install.sh` left: the model's path, or why it failed.
pub fn install_real_llm() -> Result<PathBuf, String> {
    let script = repo_root().join("scripts/llm/install.sh");
    let output = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} exited with {}:\n{}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let model = String::from_utf8_lossy(&output.stdout).trim().to_string();
    Ok(PathBuf::from(model))
}

/// The venv `scripts/llm/install.sh` installs into.
pub fn llm_venv() -> PathBuf {
    match std::env::var_os("LLM_VENV") {
        Some(v) => PathBuf::from(v),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
            .join(".cache/support-agent/llm-venv"),
    }
}

/// llama-cpp-python's OpenAI-compatible server with `model`, on a free loopback port;
/// killed on drop.
pub struct RealLlm {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
    /// From spawning to `/v1/models` answering.
    pub startup: Duration,
}

impl RealLlm {
    /// Installs the server and its model (`scripts/llm/install.sh`) and starts it; panics
    /// with the reason when either fails: a test of the real server does not pass without
    /// one.
    pub fn install_and_start() -> RealLlm {
        let model = install_real_llm().unwrap_or_else(|why| {
            panic!("the real LLM server could not be installed, so its test cannot run:\n{why}")
        });
        RealLlm::start(&model)
    }

    /// Starts the server as shared/LOCAL-LLM.md says (2 threads, 2048 tokens of context,
    /// `chatml-function-calling` for tools) and waits until `/v1/models` answers; panics
    /// with its log when it exits or takes over two minutes.
    pub fn start(model: &std::path::Path) -> RealLlm {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("llama-server.log");
        let port = closed_port();
        let python = llm_venv().join("bin/python");
        let started = Instant::now();
        let mut child = Command::new(&python)
            .args(["-m", "llama_cpp.server", "--model"])
            .arg(model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--n_ctx", "2048", "--n_threads", "2"])
            .args(["--chat_format", "chatml-function-calling"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(File::create(&log).unwrap())
            .stderr(File::create(dir.path().join("stderr.log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}/v1/models");
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the LLM server exited with {status}:\n{}",
                    std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default()
                );
            }
            if client
                .get(&url)
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                panic!(
                    "the LLM server did not answer in 120 s:\n{}",
                    std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        RealLlm {
            child,
            port,
            log,
            _dir: dir,
            startup: started.elapsed(),
        }
    }

    /// The API base: `http://127.0.0.1:<port>/v1`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// The server's output so far (uvicorn's access log and llama.cpp's timings).
    pub fn logs(&self) -> String {
        let stderr = self.log.with_file_name("stderr.log");
        format!(
            "{}{}",
            std::fs::read_to_string(&self.log).unwrap_or_default(),
            std::fs::read_to_string(stderr).unwrap_or_default()
        )
    }
}

impl Drop for RealLlm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
