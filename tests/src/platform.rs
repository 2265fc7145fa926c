//! The app on a migrated store with seeded tenants, on either backend: (SQLite store, SQLite
//! counters) in the app's private state folder, or (a fresh PostgreSQL database on
//! 127.0.0.1:5432, Redis on 127.0.0.1:6379), the database dropped afterwards.
//!
//! Migrations run with `kb-loader migrate` when its binary is built beside devhost, otherwise
//! from the SQL files in `migrations/`; tenants are inserted with their settings JSON.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::{App, devhost_bin, repo_root};

/// PostgreSQL as the tests reach it.
pub const PG_HOST: &str = "127.0.0.1";
pub const PG_PORT: &str = "5432";
pub const PG_USER: &str = "postgres";
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// Which stores the app runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite store and SQLite counters (the embedded default).
    Sqlite,
    /// PostgreSQL store and Redis counters (production).
    Postgres,
}

/// A tenant to seed.
#[derive(Debug, Clone)]
pub struct TenantSeed {
    pub id: String,
    pub name: String,
    pub widget_key: String,
    /// Settings JSON (e.g. rate limits).
    pub settings: String,
}

impl TenantSeed {
    /// A tenant with ids unique to this test run (Redis counters are shared between runs).
    pub fn unique(label: &str, settings: &str) -> TenantSeed {
        let id = format!("{label}-{}", unique_suffix());
        TenantSeed {
            name: format!("Tenant {label}"),
            widget_key: format!("wk-{id}"),
            id,
            settings: settings.to_string(),
        }
    }
}

/// A suffix no other test process or test in this process uses.
pub fn unique_suffix() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{}x{}x{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The app on a migrated, seeded store; drops its PostgreSQL database when dropped.
pub struct PlatformApp {
    pub app: App,
    pub backend: Backend,
    pg_database: Option<String>,
}

impl std::ops::Deref for PlatformApp {
    type Target = App;
    fn deref(&self) -> &App {
        &self.app
    }
}

fn sql_text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn insert_tenant_sql(t: &TenantSeed) -> String {
    format!(
        "INSERT INTO tenants (id, name, widget_key, settings, created_at) VALUES ({}, {}, {}, {}, 0);",
        sql_text(&t.id),
        sql_text(&t.name),
        sql_text(&t.widget_key),
        sql_text(&t.settings)
    )
}

fn kb_loader_bin() -> Option<PathBuf> {
    let bin = devhost_bin().parent()?.join("kb-loader");
    bin.exists().then_some(bin)
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn psql(database: &str) -> Command {
    let mut cmd = Command::new("psql");
    cmd.args([
        "-h",
        PG_HOST,
        "-p",
        PG_PORT,
        "-U",
        PG_USER,
        "-v",
        "ON_ERROR_STOP=1",
        "-q",
        "-d",
        database,
    ]);
    cmd
}

/// Migrates `db_url` with kb-loader, if it is built; returns whether it did.
fn kb_loader_migrate(db_url: &str) -> bool {
    let Some(bin) = kb_loader_bin() else {
        return false;
    };
    run(Command::new(bin)
        .current_dir(repo_root())
        .args(["migrate", "--db-url", db_url]));
    true
}

impl PlatformApp {
    /// A new visitor session of `tenant` through the API, `visitor` being the request's
    /// visitor fields (`{"name": …, "locale": …}`): (the session's JSON, its visitor token).
    pub fn open_session(
        &self,
        tenant: &TenantSeed,
        visitor: serde_json::Value,
    ) -> (serde_json::Value, String) {
        let reply = crate::http::send(crate::http::post_json(
            self,
            "/api/sessions",
            None,
            &serde_json::json!({ "widget_key": tenant.widget_key, "visitor": visitor }),
        ));
        assert_eq!(reply.status, 201, "{}", reply.text);
        let body = reply.json();
        (
            body["session"].clone(),
            body["token"].as_str().unwrap().to_string(),
        )
    }

    /// [`PlatformApp::open_session`] with the session's id: (id, visitor token).
    pub fn open_session_id(
        &self,
        tenant: &TenantSeed,
        visitor: serde_json::Value,
    ) -> (String, String) {
        let (session, token) = self.open_session(tenant, visitor);
        (session["id"].as_str().unwrap().to_string(), token)
    }

    /// The first column of the first row of `sql` run on the app's database, as text
    /// (through the `sqlite3` or `psql` command line, beside the running app).
    pub fn sql_scalar(&self, sql: &str) -> String {
        let mut cmd = match &self.pg_database {
            Some(database) => {
                let mut cmd = psql(database);
                cmd.args(["-t", "-A", "-c", sql]);
                cmd
            }
            None => {
                let mut cmd = Command::new("sqlite3");
                cmd.arg(self.state_dir().join("sqlite_db.db")).arg(sql);
                cmd
            }
        };
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        assert!(
            out.status.success(),
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string()
    }

    /// Starts the app on `backend` with `tenants` seeded and extra environment `env`.
    pub fn start(backend: Backend, tenants: &[TenantSeed], env: &[(&str, &str)]) -> PlatformApp {
        Self::start_with_args(backend, tenants, env, &[])
    }

    /// [`start`](Self::start) pointed at a running Chroma and embedding sidecar, plus `env`.
    pub fn start_with_retrieval(
        backend: Backend,
        tenants: &[TenantSeed],
        chroma: &crate::services::Chroma,
        embedder: &crate::services::Embedder,
        env: &[(&str, &str)],
    ) -> PlatformApp {
        let (chroma_host, embedder_host) = (chroma.host(), embedder.host());
        let mut full_env: Vec<(&str, &str)> = vec![
            ("SPIN_VARIABLE_CHROMA_URL", &chroma.url),
            ("SPIN_VARIABLE_CHROMA_HOST", &chroma_host),
            ("SPIN_VARIABLE_EMBEDDER_URL", &embedder.url),
            ("SPIN_VARIABLE_EMBEDDER_HOST", &embedder_host),
        ];
        full_env.extend_from_slice(env);
        Self::start(backend, tenants, &full_env)
    }

    /// [`start`](Self::start) with extra devhost arguments (e.g. a longer
    /// `--request-timeout-secs` for a test against a slow real service).
    pub fn start_with_args(
        backend: Backend,
        tenants: &[TenantSeed],
        env: &[(&str, &str)],
        host_args: &[&str],
    ) -> PlatformApp {
        match backend {
            Backend::Sqlite => Self::start_sqlite(tenants, env, host_args),
            Backend::Postgres => Self::start_postgres(tenants, env, host_args),
        }
    }

    fn start_sqlite(
        tenants: &[TenantSeed],
        env: &[(&str, &str)],
        host_args: &[&str],
    ) -> PlatformApp {
        let state = tempfile::tempdir().unwrap();
        let db_file = state.path().join("sqlite_db.db");
        let mut args: Vec<String> = host_args.iter().map(|a| a.to_string()).collect();
        if !kb_loader_migrate(&format!("sqlite://{}", db_file.display())) {
            let schema = repo_root().join("migrations/sqlite/0001_platform.sql");
            args.push("--sqlite".into());
            args.push(format!("@{}", schema.display()));
        }
        for t in tenants {
            args.push("--sqlite".into());
            args.push(insert_tenant_sql(t));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        PlatformApp {
            app: App::start_in(state, env, &args),
            backend: Backend::Sqlite,
            pg_database: None,
        }
    }

    fn start_postgres(
        tenants: &[TenantSeed],
        env: &[(&str, &str)],
        host_args: &[&str],
    ) -> PlatformApp {
        let (pg, redis) = (
            format!("{PG_HOST}:{PG_PORT}"),
            REDIS_URL.replace("redis://", ""),
        );
        Self::start_postgres_through(tenants, env, host_args, &pg, &redis)
    }

    /// The PostgreSQL backend with the app reaching PostgreSQL and Redis at other addresses
    /// (`host:port`, e.g. a [`crate::fault_proxy::FaultProxy`] in front of the real ones);
    /// the database is created and migrated directly.
    pub fn start_postgres_through(
        tenants: &[TenantSeed],
        env: &[(&str, &str)],
        host_args: &[&str],
        pg_addr: &str,
        redis_addr: &str,
    ) -> PlatformApp {
        let database = format!("e2e_{}", unique_suffix());
        run(psql("postgres").args(["-c", &format!("CREATE DATABASE {database}")]));
        let db_url = format!("postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}");
        // From here on, dropping `guard` drops the database even if a step panics.
        let guard = DropDatabase(Some(database.clone()));
        if !kb_loader_migrate(&db_url) {
            let schema = repo_root().join("migrations/postgres/0001_platform.sql");
            run(psql(&database).arg("-f").arg(schema));
        }
        let inserts: String = tenants.iter().map(insert_tenant_sql).collect();
        if !inserts.is_empty() {
            run(psql(&database).args(["-c", &inserts]));
        }
        let app_db_url = format!("postgres://{PG_USER}@{pg_addr}/{database}");
        let counters_url = format!("redis://{redis_addr}");
        let mut full_env: Vec<(&str, &str)> = vec![
            ("SPIN_VARIABLE_DB_URL", app_db_url.as_str()),
            ("SPIN_VARIABLE_DB_HOST", pg_addr),
            ("SPIN_VARIABLE_COUNTERS_URL", counters_url.as_str()),
            ("SPIN_VARIABLE_COUNTERS_HOST", redis_addr),
        ];
        full_env.extend_from_slice(env);
        let app = App::start_with_args(&full_env, host_args);
        let mut guard = guard;
        PlatformApp {
            app,
            backend: Backend::Postgres,
            pg_database: guard.0.take(),
        }
    }
}

struct DropDatabase(Option<String>);

impl Drop for DropDatabase {
    fn drop(&mut self) {
        if let Some(db) = self.0.take() {
            let _ = psql("postgres")
                .args(["-c", &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")])
                .output();
        }
    }
}

impl Drop for PlatformApp {
    fn drop(&mut self) {
        // The app still runs here; `WITH (FORCE)` closes its connections.
        drop(DropDatabase(self.pg_database.take()));
    }
}
