//! Shared by the integration tests: where the model directories are (failing loudly when
//! the default model is not installed, never skipping), the committed reference fixtures,
//! and a running `embedder` process with a minimal blocking HTTP client to talk to it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The default model directory, as `scripts/embedder/install-model.sh` leaves it.
pub fn minilm_dir() -> PathBuf {
    let dir = repo_root().join(".models/minilm");
    for file in [
        "embedder.json",
        "tokenizer.json",
        "model.onnx",
        "model-int8.onnx",
    ] {
        assert!(
            dir.join(file).is_file(),
            "the default embedding model is not installed ({} is missing): run scripts/embedder/install-model.sh first",
            dir.join(file).display()
        );
    }
    dir
}

/// The rerank model directory, as `scripts/embedder/install-reranker.sh` leaves it.
pub fn reranker_dir() -> PathBuf {
    let dir = repo_root().join(".models/reranker");
    for file in ["embedder.json", "tokenizer.json", "model.onnx"] {
        assert!(
            dir.join(file).is_file(),
            "the rerank model is not installed ({} is missing): run scripts/embedder/install-reranker.sh first",
            dir.join(file).display()
        );
    }
    dir
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The tiny Gemma-3-architecture model committed as a fixture.
pub fn tiny_gemma_dir() -> PathBuf {
    fixtures().join("tiny-gemma3")
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

pub fn as_vec(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

/// An `embedder` process listening on a free loopback port; killed on drop.
pub struct Sidecar {
    child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl Sidecar {
    pub fn start(model_dir: &Path, extra: &[&str]) -> Sidecar {
        let mut child = Command::new(env!("CARGO_BIN_EXE_embedder"))
            .arg("--model-dir")
            .arg(model_dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("EMBEDDING_MODEL_DIR")
            .env_remove("RERANK_MODEL_DIR")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn embedder");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = String::new();
            let _ = err_pipe.read_to_string(&mut buf);
            sink.lock().unwrap().push_str(&buf);
        });
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(rest) = line.strip_prefix("embedder listening on http://") {
                        break rest.parse().expect("address");
                    }
                }
                _ => {
                    let status = child.wait().expect("wait");
                    std::thread::sleep(Duration::from_millis(100));
                    panic!(
                        "embedder exited before listening ({status}): {}",
                        stderr.lock().unwrap()
                    );
                }
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Sidecar {
            child,
            addr,
            stderr,
        }
    }

    pub fn get(&self, path: &str) -> HttpResponse {
        http(self.addr, "GET", path, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> HttpResponse {
        http(self.addr, "POST", path, Some(body.to_string().as_bytes()))
    }

    pub fn post_raw(&self, path: &str, body: &[u8]) -> HttpResponse {
        http(self.addr, "POST", path, Some(body))
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary to completion (for start-up failures) and returns (success, stderr).
pub fn run_to_exit(model_dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_embedder"))
        .arg("--model-dir")
        .arg(model_dir)
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("EMBEDDING_MODEL_DIR")
        .env_remove("RERANK_MODEL_DIR")
        .stdout(Stdio::null())
        .output()
        .expect("run embedder");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`).
pub fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&[u8]>) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let body = body.unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}
