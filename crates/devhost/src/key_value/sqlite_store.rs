//! Key-value stores of `type = "spin"`: rows in a SQLite file (or in memory), as Spin keeps them.
//!
//! The table is Spin's own (`spin_key_value(store, key, value)`, crates/key-value-spin), so a
//! `.spin/sqlite_key_value.db` written by devhost reads the same under `spin up` and back.
//! Not for access checks or WIT types beyond the error (see `host.rs`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::Context as _;

use crate::bindings::fermyon::spin::key_value::Error;

/// One label's SQLite backend. The connection is opened on first use and shared by every
/// `open` of the label for the app's lifetime (so an in-memory store keeps its data).
pub struct SqliteKeyValue {
    path: Option<PathBuf>,
    connection: Arc<OnceLock<Mutex<rusqlite::Connection>>>,
}

impl SqliteKeyValue {
    /// A backend at `path` (`None`: in memory); creates the file's folder.
    pub fn new(path: Option<PathBuf>) -> anyhow::Result<Self> {
        if let Some(parent) = path
            .as_ref()
            .and_then(|p| p.parent())
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).with_context(|| {
                format!("cannot create the key-value folder {}", parent.display())
            })?;
        }
        Ok(Self {
            path,
            connection: Arc::new(OnceLock::new()),
        })
    }

    /// Runs `f` on the connection (opening it first if needed) on a blocking thread.
    async fn with_conn<R: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, Error> {
        let cell = self.connection.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let conn = connection(&cell, path)?;
            let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&conn).map_err(other)
        })
        .await
        .map_err(other)?
    }

    /// Opens the database (creating the table) so a broken file fails at `open`, as in Spin.
    pub async fn ensure_open(&self) -> Result<(), Error> {
        if self.connection.get().is_some() {
            return Ok(());
        }
        self.with_conn(|_| Ok(())).await
    }

    pub async fn get(&self, store: &str, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let (store, key) = (store.to_owned(), key.to_owned());
        self.with_conn(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?;
            let mut rows = stmt.query([&store, &key])?;
            rows.next()?.map(|r| r.get::<_, Vec<u8>>(0)).transpose()
        })
        .await
    }

    pub async fn set(&self, store: &str, key: &str, value: Vec<u8>) -> Result<(), Error> {
        let (store, key) = (store.to_owned(), key.to_owned());
        self.with_conn(move |c| {
            c.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT(store, key) DO UPDATE SET value = ?3",
            )?
            .execute(rusqlite::params![store, key, value])
            .map(drop)
        })
        .await
    }

    pub async fn delete(&self, store: &str, key: &str) -> Result<(), Error> {
        let (store, key) = (store.to_owned(), key.to_owned());
        self.with_conn(move |c| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .execute([&store, &key])
                .map(drop)
        })
        .await
    }

    pub async fn exists(&self, store: &str, key: &str) -> Result<bool, Error> {
        let (store, key) = (store.to_owned(), key.to_owned());
        self.with_conn(move |c| {
            c.prepare_cached("SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2 LIMIT 1")?
                .exists([&store, &key])
        })
        .await
    }

    pub async fn get_keys(&self, store: &str) -> Result<Vec<String>, Error> {
        let store = store.to_owned();
        self.with_conn(move |c| {
            c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1")?
                .query_map([&store], |row| row.get::<_, String>(0))?
                .collect()
        })
        .await
    }
}

fn connection(
    cell: &OnceLock<Mutex<rusqlite::Connection>>,
    path: Option<PathBuf>,
) -> Result<&Mutex<rusqlite::Connection>, Error> {
    if let Some(conn) = cell.get() {
        return Ok(conn);
    }
    let conn = match path {
        Some(path) => rusqlite::Connection::open(path),
        None => rusqlite::Connection::open_in_memory(),
    }
    .map_err(other)?;
    conn.execute(
        "CREATE TABLE IF NOT EXISTS spin_key_value (
            store TEXT NOT NULL,
            key   TEXT NOT NULL,
            value BLOB NOT NULL,
            PRIMARY KEY (store, key)
        )",
        [],
    )
    .map_err(other)?;
    // A racing first use may open twice; the loser's connection is dropped.
    Ok(cell.get_or_init(|| Mutex::new(conn)))
}

fn other(e: impl std::fmt::Display) -> Error {
    Error::Other(e.to_string())
}
