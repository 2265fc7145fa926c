//! Test harness: starts the real `devhost` binary on a manifest in a temporary folder and
//! talks to it over HTTP. The conformance component must be built first
//! (`make components`, or `cargo build --release --target wasm32-wasip2 -p conformance-component`).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The cargo target folder this test binary was built into.
pub fn target_dir() -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_devhost"));
    // <target>/release/devhost
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

/// Path of a component built for wasm32-wasip2 (release).
pub fn wasm(name: &str) -> PathBuf {
    let path = target_dir()
        .join("wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: build the components first (make components)",
        path.display()
    );
    path
}

/// A standard manifest: the conformance component on `/...` with `extra` added to its table.
pub fn conformance_manifest(extra: &str) -> String {
    format!(
        r#"spin_manifest_version = 2
[application]
name = "conformance"
[[trigger.http]]
route = "/..."
component = "conformance"
[component.conformance]
source = "{{conformance}}"
{extra}
"#
    )
}

/// Posts a list of operations to a conformance section's `run` endpoint (`/sqlite/run`,
/// `/kv/run`, `/redis/run`) and returns one result per operation.
pub fn run_ops(host: &DevHost, section: &str, ops: serde_json::Value) -> Vec<serde_json::Value> {
    let resp = host.post(&format!("/{section}/run"), ops.to_string());
    let status = resp.status();
    let text = resp.text().unwrap();
    assert_eq!(status, 200, "{text}\n{}", host.logs());
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    body["results"].as_array().unwrap().clone()
}

/// Writes a runtime config file; keep the folder alive while devhost uses it.
pub fn runtime_config(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runtime-config.toml");
    std::fs::write(&path, text).unwrap();
    let path = path.to_string_lossy().into_owned();
    (dir, path)
}

/// A running devhost.
pub struct DevHost {
    child: Child,
    pub base: String,
    pub dir: tempfile::TempDir,
    stderr_log: PathBuf,
}

impl DevHost {
    pub fn start(manifest: &str) -> DevHost {
        Self::start_with(manifest, &[], &[])
    }

    /// Starts devhost on `manifest` (placeholder `{conformance}` = the conformance component)
    /// with extra environment variables and arguments; waits until it listens.
    pub fn start_with(manifest: &str, env: &[(&str, &str)], args: &[&str]) -> DevHost {
        Self::try_start(manifest, env, args)
            .unwrap_or_else(|e| panic!("devhost did not start: {e}"))
    }

    /// Like `start_with`, but returns devhost's error output when it fails to start.
    pub fn try_start(
        manifest: &str,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Result<DevHost, String> {
        let dir = tempfile::tempdir().unwrap();
        let manifest = manifest.replace(
            "{conformance}",
            &wasm("conformance_component").to_string_lossy(),
        );
        let manifest_path = dir.path().join("spin.toml");
        std::fs::write(&manifest_path, manifest).unwrap();
        let stderr_log = dir.path().join("devhost.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_devhost"));
        cmd.arg("--from")
            .arg(&manifest_path)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .args(args)
            .env_remove("DEVHOST_LISTEN")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_log).unwrap());
        // Keep the compile cache across tests so each start does not recompile.
        cmd.arg("--state-dir").arg(dir.path().join(".spin"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("Serving ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(base) => Ok(DevHost {
                child,
                base,
                dir,
                stderr_log,
            }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(std::fs::read_to_string(&stderr_log).unwrap_or_default())
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

    pub fn get_json(&self, path: &str) -> serde_json::Value {
        let resp = self.get(path);
        let status = resp.status();
        let text = resp.text().unwrap();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: {status} {text:?}: {e}"))
    }

    pub fn post(
        &self,
        path: &str,
        body: impl Into<reqwest::blocking::Body>,
    ) -> reqwest::blocking::Response {
        Self::client()
            .post(self.url(path))
            .body(body)
            .send()
            .unwrap()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join(".spin")
    }

    /// Everything devhost wrote to stderr so far (its logs).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit (after a signal), returning whether it exited cleanly.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<bool> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.success());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for DevHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
