//! `spin:sqlite/sqlite@3.0.0`: SQLite databases by label, on rusqlite, as `spin up` provides them.
//!
//! This file is the public face: which label lives where ([`SqliteDatabases`]), how one
//! connection runs a statement ([`SqliteConnection`]) and the start-up hook for
//! `spin up --sqlite`. `host.rs` implements the WIT interface (access checks, resources).
//! Which labels exist and their paths come from `crate::runtime_config`; this module does not
//! read config files or decide defaults.
//!
//! As in Spin (crates/sqlite-inproc), every `open` gets its own rusqlite connection, so
//! `last-insert-rowid` and `changes` are per connection, and a label without a path is a
//! private in-memory database of that connection: it starts empty on every `open`.

mod host;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;

use crate::bindings::spin::sqlite::sqlite::{Error, QueryResult, RowResult, Value};
use crate::runtime_config::SqliteDatabaseConfig;

pub use host::add_to_linker;

/// The largest query result a connection buffers for a guest (Spin's `MAX_HOST_BUFFERED_BYTES`).
const MAX_RESULT_BYTES: usize = 128 << 20;

/// How long a statement waits for another connection's lock before failing with `io`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Where one label's data lives.
#[derive(Debug, Clone)]
enum Location {
    File(PathBuf),
    /// A fresh in-memory database per connection (Spin's `type = "spin"` without `path`).
    Memory,
}

/// The app's SQLite databases, by label.
pub struct SqliteDatabases {
    locations: BTreeMap<String, Location>,
}

impl SqliteDatabases {
    /// Resolves every configured label, creating the parent folders of database files.
    pub fn new(config: &BTreeMap<String, SqliteDatabaseConfig>) -> anyhow::Result<Self> {
        let mut locations = BTreeMap::new();
        for (label, db) in config {
            let location = match &db.path {
                Some(path) => {
                    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                        std::fs::create_dir_all(parent).with_context(|| {
                            format!(
                                "cannot create the folder of SQLite database {label:?}: {}",
                                parent.display()
                            )
                        })?;
                    }
                    Location::File(path.clone())
                }
                None => Location::Memory,
            };
            locations.insert(label.clone(), location);
        }
        Ok(Self { locations })
    }

    /// Fails, as Spin does at start, if a component lists a database that is not configured.
    pub fn ensure_configured<'a>(
        &self,
        component_id: &str,
        labels: impl IntoIterator<Item = &'a String>,
    ) -> anyhow::Result<()> {
        let missing: Vec<String> = labels
            .into_iter()
            .filter(|l| !self.locations.contains_key(*l))
            .map(|l| format!("- Component {component_id} uses database '{l}'"))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        anyhow::bail!(
            "One or more components use SQLite databases which are not defined.\n\
             Check the spelling, or pass a runtime configuration file that defines these stores.\n\
             Details:\n{}",
            missing.join("\n")
        )
    }

    /// Runs `sql` (any number of statements) against `label`, as `spin up --sqlite` does
    /// before the app serves.
    pub fn execute_batch_file(&self, label: &str, sql: &str) -> anyhow::Result<()> {
        let location = self
            .locations
            .get(label)
            .with_context(|| format!("no SQLite database is configured for label {label:?}"))?;
        let conn = open_rusqlite(location)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("cannot open SQLite database {label:?}"))?;
        conn.execute_batch(sql)
            .with_context(|| format!("SQL statements for database {label:?} failed"))
    }

    /// Opens a new connection to `label`; `None` if the label is not configured.
    async fn connect(&self, label: &str) -> Option<Result<SqliteConnection, Error>> {
        let location = self.locations.get(label)?.clone();
        let opened = tokio::task::spawn_blocking(move || open_rusqlite(&location))
            .await
            .map_err(|e| Error::Io(format!("internal error opening the database: {e}")))
            .and_then(|r| r.map_err(Error::Io));
        Some(opened.map(|conn| SqliteConnection {
            conn: Arc::new(Mutex::new(conn)),
        }))
    }
}

fn open_rusqlite(location: &Location) -> Result<rusqlite::Connection, String> {
    let conn = match location {
        Location::File(path) => rusqlite::Connection::open(path),
        Location::Memory => rusqlite::Connection::open_in_memory(),
    }
    .map_err(|e| e.to_string())?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| e.to_string())?;
    if let Location::File(_) = location {
        // WAL lets readers proceed while another connection writes.
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
            .map_err(|e| e.to_string())?;
        // In WAL mode NORMAL still survives a crash of the process (commits are in the
        // WAL); it skips the fsync per commit that made single writes wait on the disk.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| e.to_string())?;
    }
    Ok(conn)
}

/// One open connection: the host side of the WIT `connection` resource.
pub struct SqliteConnection {
    conn: Arc<Mutex<rusqlite::Connection>>,
}

impl SqliteConnection {
    /// Runs one statement with positional parameters, off the async threads.
    async fn execute(
        &self,
        statement: String,
        parameters: Vec<Value>,
    ) -> Result<QueryResult, Error> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            run_statement(&conn, &statement, parameters)
        })
        .await
        .map_err(|e| Error::Io(format!("internal error running the statement: {e}")))?
    }

    fn with_conn<R>(&self, f: impl FnOnce(&rusqlite::Connection) -> R) -> R {
        f(&self.conn.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn last_insert_rowid(&self) -> i64 {
        self.with_conn(|c| c.last_insert_rowid())
    }

    fn changes(&self) -> u64 {
        self.with_conn(|c| c.changes())
    }
}

fn run_statement(
    conn: &rusqlite::Connection,
    statement: &str,
    parameters: Vec<Value>,
) -> Result<QueryResult, Error> {
    let io = |e: rusqlite::Error| Error::Io(e.to_string());
    let mut stmt = conn.prepare_cached(statement).map_err(io)?;
    let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let params = rusqlite::params_from_iter(parameters.into_iter().map(to_sql_value));
    let mut rows = stmt.query(params).map_err(io)?;
    let mut result_rows = Vec::new();
    let mut bytes = 0usize;
    while let Some(row) = rows.next().map_err(io)? {
        let mut values = Vec::with_capacity(columns.len());
        for i in 0..columns.len() {
            let value = from_sql_value(row.get_ref(i).map_err(io)?)?;
            bytes += memory_size(&value);
            values.push(value);
        }
        if bytes > MAX_RESULT_BYTES {
            return Err(Error::Io(format!(
                "query result exceeds limit of {MAX_RESULT_BYTES} bytes"
            )));
        }
        result_rows.push(RowResult { values });
    }
    Ok(QueryResult {
        columns,
        rows: result_rows,
    })
}

fn to_sql_value(value: Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as Sql;
    match value {
        Value::Integer(i) => Sql::Integer(i),
        Value::Real(r) => Sql::Real(r),
        Value::Text(t) => Sql::Text(t),
        Value::Blob(b) => Sql::Blob(b),
        Value::Null => Sql::Null,
    }
}

fn from_sql_value(value: rusqlite::types::ValueRef<'_>) -> Result<Value, Error> {
    use rusqlite::types::ValueRef;
    Ok(match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(
            String::from_utf8(t.to_vec())
                .map_err(|_| Error::Io("a text column holds invalid UTF-8".into()))?,
        ),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    })
}

fn memory_size(value: &Value) -> usize {
    std::mem::size_of::<Value>()
        + match value {
            Value::Text(t) => t.len(),
            Value::Blob(b) => b.len(),
            Value::Integer(_) | Value::Real(_) | Value::Null => 0,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn databases(dir: &std::path::Path) -> SqliteDatabases {
        let mut config = BTreeMap::new();
        config.insert(
            "default".to_string(),
            SqliteDatabaseConfig {
                path: Some(dir.join("nested/state/sqlite_db.db")),
            },
        );
        config.insert("mem".to_string(), SqliteDatabaseConfig { path: None });
        SqliteDatabases::new(&config).unwrap()
    }

    #[test]
    fn new_creates_parent_folders_of_database_files() {
        let dir = tempfile::tempdir().unwrap();
        databases(dir.path());
        assert!(dir.path().join("nested/state").is_dir());
    }

    #[test]
    fn batch_file_statements_are_visible_to_later_connections() {
        let dir = tempfile::tempdir().unwrap();
        let dbs = databases(dir.path());
        dbs.execute_batch_file(
            "default",
            "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1); INSERT INTO t VALUES (2);",
        )
        .unwrap();
        let conn = open_rusqlite(&dbs.locations["default"]).unwrap();
        let result = run_statement(&conn, "SELECT SUM(x) AS s FROM t", vec![]).unwrap();
        assert_eq!(result.columns, vec!["s".to_string()]);
        assert!(matches!(result.rows[0].values[0], Value::Integer(3)));
    }

    #[test]
    fn batch_file_for_an_unknown_label_is_an_error_naming_it() {
        let dbs = databases(tempfile::tempdir().unwrap().path());
        let err = dbs.execute_batch_file("nope", "SELECT 1").unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn listing_an_unconfigured_database_is_an_error_naming_component_and_label() {
        let dbs = databases(tempfile::tempdir().unwrap().path());
        let labels = ["default".to_string(), "mem".to_string()];
        dbs.ensure_configured("web", &labels).unwrap();
        let err = dbs
            .ensure_configured("web", &["default".to_string(), "nope".to_string()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("Component web uses database 'nope'"), "{err}");
    }

    #[test]
    fn values_round_trip_through_parameters() {
        let conn = open_rusqlite(&Location::Memory).unwrap();
        let result = run_statement(
            &conn,
            "SELECT ?, ?, ?, ?, ?",
            vec![
                Value::Integer(-7),
                Value::Real(1.5),
                Value::Text("héllo".into()),
                Value::Blob(vec![0, 255]),
                Value::Null,
            ],
        )
        .unwrap();
        let v = &result.rows[0].values;
        assert!(matches!(v[0], Value::Integer(-7)));
        assert!(matches!(v[1], Value::Real(r) if r == 1.5));
        assert!(matches!(&v[2], Value::Text(t) if t == "héllo"));
        assert!(matches!(&v[3], Value::Blob(b) if b == &[0, 255]));
        assert!(matches!(v[4], Value::Null));
    }

    #[test]
    fn sql_errors_are_io_errors_with_sqlite_message() {
        let conn = open_rusqlite(&Location::Memory).unwrap();
        let err = run_statement(&conn, "SELEC nonsense", vec![]).unwrap_err();
        assert!(
            matches!(&err, Error::Io(m) if m.contains("syntax error")),
            "{err:?}"
        );
    }
}
