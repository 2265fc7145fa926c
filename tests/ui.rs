//! The web UI end to end.
//!
//! - The static component over HTTP (devhost, the repository's spin.toml, `static/dist` as
//!   `make ui` builds it): pages, the widget loader, caching and security headers, and
//!   `/api/...` paths that no API route serves staying problem+json 404s.
//! - The browser tests: `scripts/run-local.sh` — exactly what `make run` starts: the sidecar,
//!   Chroma, the app and the sample knowledge base — on free ports and a temporary state
//!   folder, then `tests/e2e/ui.e2e.mjs` (playwright-core driving Debian's Chromium) as a
//!   visitor, an agent and an admin. Screenshots go to `tests/e2e/screenshots/`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use e2e::{App, closed_port, devhost_bin, repo_root};

fn dist() -> PathBuf {
    repo_root().join("static/dist")
}

fn assert_ui_built() {
    assert!(
        dist().join("index.html").exists() && dist().join("widget.js").exists(),
        "static/dist is not built: run `make ui` (make test does)"
    );
}

#[test]
fn pages_and_the_widget_loader_are_served_with_their_headers() {
    assert_ui_built();
    let app = App::start(&[]);
    for (path, wanted) in [
        ("/", "text/html"),
        ("/chat/", "text/html"),
        ("/chat", "text/html"),
        ("/agent/", "text/html"),
        ("/admin/", "text/html"),
        ("/widget.js", "text/javascript"),
    ] {
        let resp = app.get(path);
        assert_eq!(resp.status(), 200, "{path}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with(wanted), "{path}: {ct}");
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
        if wanted == "text/html" {
            let csp = resp.headers()["content-security-policy"].to_str().unwrap();
            let framing = if path.starts_with("/chat") {
                "frame-ancestors *"
            } else {
                "frame-ancestors 'self'"
            };
            assert!(csp.contains(framing), "{path}: {csp}");
            assert_eq!(resp.headers()["cache-control"], "no-cache");
        }
    }
    // The chat page's hashed assets are cacheable for a year.
    let page = app.get("/chat/").text().unwrap();
    let asset = page
        .split('"')
        .find(|s| s.starts_with("/assets/") && s.ends_with(".js"))
        .expect("the chat page loads a hashed script")
        .to_string();
    let resp = app.get(&asset);
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
}

#[test]
fn an_unchanged_file_answers_304_to_its_etag() {
    assert_ui_built();
    let app = App::start(&[]);
    let first = app.get("/widget.js");
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    let again = App::client()
        .get(app.url("/widget.js"))
        .header("if-none-match", &etag)
        .send()
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.bytes().unwrap().is_empty());
}

#[test]
fn api_paths_no_route_serves_stay_problem_json_404s() {
    assert_ui_built();
    let app = App::start(&[]);
    for path in ["/api/nope", "/api/kb/unknown/thing", "/api", "/nope.html"] {
        let resp = app.get(path);
        assert_eq!(resp.status(), 404, "{path}");
        assert_eq!(
            resp.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
    }
    let resp = App::client()
        .post(app.url("/api/nope"))
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let resp = App::client().post(app.url("/chat/")).send().unwrap();
    assert_eq!(resp.status(), 405);
}

#[test]
fn paths_outside_the_build_are_refused() {
    assert_ui_built();
    let app = App::start(&[]);
    for path in [
        "/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/.env",
        "/assets/..%2f..%2fspin.toml",
    ] {
        let resp = app.get(path);
        assert_eq!(resp.status(), 404, "{path}");
        let body = resp.text().unwrap();
        assert!(!body.contains("[workspace]") && !body.contains("spin_manifest_version"));
    }
}

/// `scripts/run-local.sh` on free ports in its own process group; stopped (the whole group)
/// on drop.
struct LocalRun {
    child: Child,
    base: String,
    state: tempfile::TempDir,
    output: mpsc::Receiver<String>,
}

impl LocalRun {
    fn start() -> LocalRun {
        use std::os::unix::process::CommandExt;
        let state = tempfile::tempdir().unwrap();
        let listen = format!("127.0.0.1:{}", closed_port());
        let mut child = Command::new("bash")
            .arg("scripts/run-local.sh")
            .current_dir(repo_root())
            .env("CARGO_TARGET_DIR", target_dir())
            .env("LISTEN", &listen)
            .env("EMBEDDER_LISTEN", format!("127.0.0.1:{}", closed_port()))
            .env("CHROMA_LISTEN", format!("127.0.0.1:{}", closed_port()))
            .env("STATE_DIR", state.path())
            // /metrics on, and every conversation settled when it is scraped.
            .env("SPIN_VARIABLE_METRICS_TOKEN", METRICS_TOKEN)
            .env("SPIN_VARIABLE_OUTCOME_IDLE_SECS", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("bash runs scripts/run-local.sh");
        let (tx, rx) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let run = LocalRun {
            child,
            base: format!("http://{listen}"),
            state,
            output: rx,
        };
        run.wait_running();
        run
    }

    /// Waits for the script's "support-agent is running" (after the sample KB is loaded).
    fn wait_running(&self) {
        let mut seen = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(600);
        while std::time::Instant::now() < deadline {
            match self.output.recv_timeout(Duration::from_secs(1)) {
                Ok(line) => {
                    let running = line.contains("support-agent is running");
                    seen.push(line);
                    if running {
                        return;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!("make run's script did not come up:\n{}", seen.join("\n"));
    }

    fn token(&self, role: &str) -> String {
        let secret = std::fs::read_to_string(self.state.path().join("jwt_secret")).unwrap();
        let out = Command::new(target_dir().join("release/kb-loader"))
            .args(["token", "--tenant", "demo", "--role", role])
            .args(["--sub", &format!("e2e-{role}"), "--ttl", "1h"])
            .env("SPIN_VARIABLE_JWT_SECRET", secret.trim())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
}

impl Drop for LocalRun {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// The cargo target folder the tests were built into (`<target>/release/deps/<test>`).
fn target_dir() -> PathBuf {
    devhost_bin()
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf()
}

/// The bearer token of the local run's `/metrics`.
const METRICS_TOKEN: &str = "ui-test-metrics";

fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "{} is missing: run `make e2e-tools` (Debian's chromium; make test does)",
        path.display()
    );
    path
}

#[test]
fn visitor_agent_and_admin_in_real_browsers() {
    assert_ui_built();
    let e2e = repo_root().join("tests/e2e");
    assert!(
        e2e.join("node_modules/playwright-core").exists(),
        "playwright-core is missing: run `make e2e-tools` (make test does)"
    );
    let chromium = chromium();
    let run = LocalRun::start();
    let screenshots = e2e.join("screenshots");
    let _ = std::fs::remove_dir_all(&screenshots);
    let out = Command::new("node")
        .args(["--test", "--test-concurrency=1", "ui.e2e.mjs"])
        .current_dir(&e2e)
        .env("BASE_URL", &run.base)
        .env("WIDGET_KEY", "wk_demo")
        .env("AGENT_TOKEN", run.token("agent"))
        .env("ADMIN_TOKEN", run.token("admin"))
        .env("METRICS_TOKEN", METRICS_TOKEN)
        .env("CHROMIUM", &chromium)
        .env("SCREENSHOT_DIR", &screenshots)
        .output()
        .expect("node runs the browser tests");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{report}");
    assert!(out.status.success(), "the browser tests failed:\n{report}");
    assert!(
        report.contains("# fail 0") && !report.contains("# pass 0\n"),
        "{report}"
    );
    for shot in ["chat.png", "inbox.png", "admin.png", "widget.png"] {
        let path = screenshots.join(shot);
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "{} was not written", path.display());
    }
}
