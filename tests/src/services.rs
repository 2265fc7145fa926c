//! The app's external services, run for real beside it: the Chroma vector database (from the
//! venv `scripts/chroma/install.sh` makes; `make test` runs it) and the embedding sidecar
//! (the `embedder` binary built into the same target folder as the tests). Each runs on a
//! free loopback port with its own temp folder (log file, data), can be stopped and restarted
//! on the same port and data (for degraded-mode tests), and is killed on drop.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{closed_port, repo_root};

/// A child process serving HTTP on `127.0.0.1:port`, ready once `health_path` answers 200.
struct Service {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    port: u16,
    health_path: &'static str,
    ready_timeout: Duration,
    dir: tempfile::TempDir,
    log: PathBuf,
    child: Option<Child>,
}

impl Service {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Spawns the process (its output appended to the log, so a restart keeps the earlier
    /// run's) and waits until it answers; panics with the log when it exits or times out.
    fn spawn(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start {} ({}): {e}",
                self.name,
                self.program.display()
            )
        });
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let health = format!("{}{}", self.url(), self.health_path);
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                panic!(
                    "{} exited ({status}) before answering {health}:\n{}",
                    self.name,
                    self.logs()
                );
            }
            if client
                .get(&health)
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            if start.elapsed() > self.ready_timeout {
                self.stop();
                panic!(
                    "{} did not answer {health} within {:?}:\n{}",
                    self.name,
                    self.ready_timeout,
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the process (SIGKILL: an unclean stop, like a crash) and waits for it to exit.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Sends `signal` (`STOP`, `CONT`) to the running process.
    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("the service is not running");
        let status = Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {}", self.name);
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The venv `scripts/chroma/install.sh` installs Chroma into.
pub fn chroma_venv() -> PathBuf {
    match std::env::var_os("CHROMA_VENV") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(std::env::var_os("HOME").expect("HOME is not set"))
            .join(".cache/support-agent/chroma-venv"),
    }
}

/// A Chroma server (`chroma run`, HTTP API v2 under `{url}/api/v2`) with its data in a temp
/// folder. Its default tenant and database are `default_tenant` / `default_database`.
pub struct Chroma {
    /// `http://127.0.0.1:PORT` (no trailing slash, no `/api/v2`).
    pub url: String,
    service: Service,
}

impl Chroma {
    /// Starts Chroma on a free port with an empty data folder; returns once
    /// `GET /api/v2/heartbeat` answers (panics after 60 s, with its log).
    pub fn start() -> Chroma {
        let bin = chroma_venv().join("bin/chroma");
        assert!(
            bin.exists(),
            "{} is missing: run scripts/chroma/install.sh (make test does)",
            bin.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("e2e-chroma")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        let port = closed_port();
        let mut service = Service {
            name: "chroma",
            program: bin,
            args: vec![
                "run".into(),
                "--host".into(),
                "127.0.0.1".into(),
                "--port".into(),
                port.to_string(),
                "--path".into(),
                data.to_string_lossy().into_owned(),
            ],
            env: vec![
                ("ANONYMIZED_TELEMETRY", "False".into()),
                ("NO_COLOR", "1".into()),
            ],
            port,
            health_path: "/api/v2/heartbeat",
            ready_timeout: Duration::from_secs(60),
            log: dir.path().join("chroma.log"),
            dir,
            child: None,
        };
        service.spawn();
        Chroma {
            url: service.url(),
            service,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.service.port)
    }

    pub fn port(&self) -> u16 {
        self.service.port
    }

    /// `{url}/api/v2{path}`, e.g. `api("/heartbeat")`.
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v2{}", self.url, path)
    }

    /// The data folder (`--path`), kept across `stop`/`restart`.
    pub fn data_dir(&self) -> PathBuf {
        self.service.dir.path().join("data")
    }

    /// Everything the server printed (all runs so far).
    pub fn logs(&self) -> String {
        self.service.logs()
    }

    pub fn is_running(&self) -> bool {
        self.service.child.is_some()
    }

    /// Kills the server (SIGKILL); the port stops answering. Data written so far stays.
    pub fn stop(&mut self) {
        self.service.stop();
    }

    /// Freezes the server (SIGSTOP): the port still accepts connections but nothing
    /// answers, as with a hung process. Killing or dropping it resumes it first.
    pub fn pause(&self) {
        self.service.signal("STOP");
    }

    /// Resumes a paused server (SIGCONT).
    pub fn resume(&self) {
        self.service.signal("CONT");
    }

    /// Starts it again on the same port and data folder (stopping it first if running).
    pub fn restart(&mut self) {
        self.service.restart();
    }
}

/// The embedding sidecar with the default model (`.models/minilm`, all-MiniLM-L6-v2, 384
/// dimensions): OpenAI's `POST {url}/v1/embeddings`, `GET {url}/health`.
pub struct Embedder {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub url: String,
    service: Service,
}

/// The embedder binary built into the same target folder as this test.
pub fn embedder_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // <target>/release/deps/<test>
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("embedder");
    assert!(
        bin.exists(),
        "{} is missing: run `make test` (it builds the embedder first)",
        bin.display()
    );
    bin
}

impl Embedder {
    /// Starts the sidecar on a free port; returns once `GET /health` answers 200 (panics
    /// after 120 s, with its log).
    pub fn start() -> Embedder {
        Self::launch(false)
    }

    /// [`Embedder::start`] with the rerank model (`.models/reranker`) behind `/v1/rerank`.
    pub fn start_with_reranker() -> Embedder {
        Self::launch(true)
    }

    fn launch(rerank: bool) -> Embedder {
        let installed = |name: &str| {
            let dir = repo_root().join(".models").join(name);
            assert!(
                dir.join("embedder.json").exists(),
                "{} is missing: run `make models`",
                dir.display()
            );
            dir.to_string_lossy().into_owned()
        };
        let mut args = vec!["--model-dir".to_string(), installed("minilm")];
        if rerank {
            args.extend(["--rerank-model-dir".to_string(), installed("reranker")]);
        }
        let program = embedder_bin();
        let dir = tempfile::Builder::new()
            .prefix("e2e-embedder")
            .tempdir()
            .unwrap();
        let port = closed_port();
        let mut service = Service {
            name: "embedder",
            program,
            args: args
                .into_iter()
                .chain(["--listen".into(), format!("127.0.0.1:{port}")])
                .collect(),
            env: vec![("NO_COLOR", "1".into())],
            port,
            health_path: "/health",
            ready_timeout: Duration::from_secs(120),
            log: dir.path().join("embedder.log"),
            dir,
            child: None,
        };
        service.spawn();
        Embedder {
            url: service.url(),
            service,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.service.port)
    }

    pub fn port(&self) -> u16 {
        self.service.port
    }

    pub fn logs(&self) -> String {
        self.service.logs()
    }

    pub fn is_running(&self) -> bool {
        self.service.child.is_some()
    }

    /// Kills the sidecar (SIGKILL); the port stops answering.
    pub fn stop(&mut self) {
        self.service.stop();
    }

    /// Freezes the sidecar (SIGSTOP): connections are accepted, nothing answers.
    pub fn pause(&self) {
        self.service.signal("STOP");
    }

    /// Resumes a paused sidecar (SIGCONT).
    pub fn resume(&self) {
        self.service.signal("CONT");
    }

    /// Starts it again on the same port (stopping it first if running).
    pub fn restart(&mut self) {
        self.service.restart();
    }
}
