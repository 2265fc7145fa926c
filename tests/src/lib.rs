//! The end-to-end harness: runs the repository's own `spin.toml` on the devhost binary
//! (built by `make test` before the tests) in a private state folder on a free port, with
//! the environment a test chooses, and talks to it over HTTP.

pub mod fault_proxy;
pub mod http;
pub mod llm_server;
pub mod platform;
pub mod services;
pub mod ticketing;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The repository root (this crate lives in `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The devhost binary built into the same target folder as this test.
pub fn devhost_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // <target>/release/deps/<test>
    let bin = exe.parent().and_then(Path::parent).unwrap().join("devhost");
    assert!(
        bin.exists(),
        "{} is missing: run `make test` (it builds devhost first)",
        bin.display()
    );
    bin
}

/// The HS256 secret every app started here gets as `SPIN_VARIABLE_JWT_SECRET` (unless a test
/// sets its own), so tests can mint agent and admin tokens with `core_logic::auth`.
pub const TEST_JWT_SECRET: &str = "e2e-test-secret-not-for-production-0123456789";

/// The app running on devhost.
pub struct App {
    child: Child,
    pub base: String,
    _state: tempfile::TempDir,
    log: PathBuf,
    /// What it was started with, for [`App::restart`].
    env: Vec<(String, String)>,
    args: Vec<String>,
}

impl App {
    /// Starts the app with `SPIN_VARIABLE_*` and other environment from `env`.
    pub fn start(env: &[(&str, &str)]) -> App {
        Self::start_with_args(env, &[])
    }

    pub fn start_with_args(env: &[(&str, &str)], args: &[&str]) -> App {
        Self::start_in(tempfile::tempdir().unwrap(), env, args)
    }

    /// Starts the app with `state` as its state folder (for tests that prepare it first).
    pub fn start_in(state: tempfile::TempDir, env: &[(&str, &str)], args: &[&str]) -> App {
        let (child, base, log) = Self::spawn(state.path(), env, args);
        App {
            child,
            base,
            _state: state,
            log,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// Kills the app (SIGKILL: no graceful shutdown, like a crash).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the app again on the same state folder and environment, without the
    /// `--sqlite` seed statements of the first start, plus `extra_args`.
    pub fn restart(&mut self, extra_args: &[&str]) {
        self.kill();
        let mut args: Vec<&str> = Vec::new();
        let mut skip = false;
        for arg in &self.args {
            if skip {
                skip = false;
            } else if arg == "--sqlite" {
                skip = true;
            } else {
                args.push(arg);
            }
        }
        args.extend_from_slice(extra_args);
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (child, base, log) = Self::spawn(self._state.path(), &env, &args);
        self.child = child;
        self.base = base;
        self.log = log;
    }

    fn spawn(state: &Path, env: &[(&str, &str)], args: &[&str]) -> (Child, String, PathBuf) {
        // A restart keeps the first run's log beside the new one.
        let mut log = state.join("devhost.log");
        let mut n = 1;
        while log.exists() {
            n += 1;
            log = state.join(format!("devhost.{n}.log"));
        }
        let mut cmd = Command::new(devhost_bin());
        cmd.current_dir(repo_root())
            .args([
                "--from",
                "spin.toml",
                "--listen",
                "127.0.0.1:0",
                "--state-dir",
            ])
            .arg(state)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        if !env.iter().any(|(k, _)| *k == "SPIN_VARIABLE_JWT_SECRET") {
            cmd.env("SPIN_VARIABLE_JWT_SECRET", TEST_JWT_SECRET);
        }
        // The tests' ticketing receivers listen on 127.0.0.1, which the app refuses to reach
        // by default (SSRF protection): the opt-in local development uses, unless a test
        // (tests/security.rs) sets it.
        if !env
            .iter()
            .any(|(k, _)| *k == "SPIN_VARIABLE_WEBHOOK_ALLOW_PRIVATE_HOSTS")
        {
            cmd.env("SPIN_VARIABLE_WEBHOOK_ALLOW_PRIVATE_HOSTS", "true");
        }
        // Never the embedder or Chroma of a `make run` on this machine: a test that wants
        // them starts its own (`services`) and passes their addresses.
        for service in ["EMBEDDER", "CHROMA"] {
            let url_var = format!("SPIN_VARIABLE_{service}_URL");
            if !env.iter().any(|(k, _)| *k == url_var) {
                let host = format!("127.0.0.1:{}", closed_port());
                cmd.env(&url_var, format!("http://{host}"));
                cmd.env(format!("SPIN_VARIABLE_{service}_HOST"), host);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("Serving ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(180)) {
            Ok(base) => (child, base, log),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "the app did not start:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn client() -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap()
    }

    pub fn get(&self, path: &str) -> reqwest::blocking::Response {
        Self::client().get(self.url(path)).send().unwrap()
    }

    /// The state folder (`sqlite_db.db` of the default database lives here).
    pub fn state_dir(&self) -> &Path {
        self._state.path()
    }

    /// The log of every run so far (a restart starts a new file).
    pub fn logs(&self) -> String {
        let mut runs: Vec<PathBuf> = std::fs::read_dir(self._state.path())
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with("devhost") && n.ends_with(".log"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        runs.sort();
        let _ = &self.log;
        runs.iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Runs each named suite function `fn(Backend)` as two tests, `sqlite::name` and
/// `postgres_redis::name`, so every suite proves both storage backends.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name($crate::platform::Backend::Sqlite) })*
        }
        mod postgres_redis {
            $(#[test] fn $name() { super::$name($crate::platform::Backend::Postgres) })*
        }
    };
}
