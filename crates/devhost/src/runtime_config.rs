//! Spin's runtime config file (`--runtime-config-file`), for the parts devhost provides.
//!
//! Reads `[sqlite_database.<label>]` (`type = "spin"` with an optional `path`),
//! `[key_value_store.<label>]` (`type = "spin"` with `path`, or `type = "redis"` with `url`)
//! and `[[config_provider]]` / `[variables_provider]` (only the environment provider, which
//! is always on). Anything else Spin knows but devhost does not provide is an error naming
//! the table, so a config never silently means less than it says.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where a SQLite database label lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteDatabaseConfig {
    /// `None` means in memory (Spin's `type = "spin"` without a path).
    pub path: Option<PathBuf>,
}

/// Which backend a key-value label uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyValueStoreConfig {
    /// A SQLite file (`None`: in memory).
    Spin { path: Option<PathBuf> },
    /// A Redis server.
    Redis { url: String },
}

/// The parsed runtime config. Labels not listed get Spin's defaults (see [`RuntimeConfig::with_defaults`]).
#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    pub sqlite_databases: BTreeMap<String, SqliteDatabaseConfig>,
    pub key_value_stores: BTreeMap<String, KeyValueStoreConfig>,
}

#[derive(Debug, Deserialize)]
struct RawSqlite {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
struct RawKeyValue {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: Option<PathBuf>,
    #[serde(default)]
    url: Option<String>,
}

impl RuntimeConfig {
    /// Reads a runtime config file; relative paths resolve against the file's folder, as in Spin.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read runtime config {}: {e}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        Self::parse(&text, &dir).map_err(|e| format!("runtime config {}: {e}", path.display()))
    }

    /// Parses runtime config text.
    pub fn parse(text: &str, dir: &Path) -> Result<Self, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut config = RuntimeConfig::default();
        for (key, value) in table {
            match key.as_str() {
                "sqlite_database" => {
                    let dbs: BTreeMap<String, RawSqlite> = value
                        .try_into()
                        .map_err(|e| format!("`[sqlite_database]`: {e}"))?;
                    for (label, db) in dbs {
                        if db.kind != "spin" {
                            return Err(format!(
                                "`[sqlite_database.{label}]`: type {:?} is not supported by devhost (only \"spin\")",
                                db.kind
                            ));
                        }
                        config.sqlite_databases.insert(
                            label,
                            SqliteDatabaseConfig {
                                path: db.path.map(|p| dir.join(p)),
                            },
                        );
                    }
                }
                "key_value_store" => {
                    let stores: BTreeMap<String, RawKeyValue> = value
                        .try_into()
                        .map_err(|e| format!("`[key_value_store]`: {e}"))?;
                    for (label, store) in stores {
                        let cfg = match store.kind.as_str() {
                            "spin" => KeyValueStoreConfig::Spin {
                                path: store.path.map(|p| dir.join(p)),
                            },
                            "redis" => KeyValueStoreConfig::Redis {
                                url: store.url.ok_or_else(|| {
                                    format!(
                                        "`[key_value_store.{label}]`: type \"redis\" needs `url`"
                                    )
                                })?,
                            },
                            other => {
                                return Err(format!(
                                    "`[key_value_store.{label}]`: type {other:?} is not supported by devhost (\"spin\" or \"redis\")"
                                ));
                            }
                        };
                        config.key_value_stores.insert(label, cfg);
                    }
                }
                "config_provider" | "variables_provider" => {
                    // Only the environment provider exists here; it is always on. Any other
                    // provider type (vault, azure_key_vault) cannot be honoured.
                    let providers = match value {
                        toml::Value::Array(a) => a,
                        other => vec![other],
                    };
                    for p in providers {
                        let kind = p.get("type").and_then(|t| t.as_str()).unwrap_or("");
                        if kind != "env" {
                            return Err(format!(
                                "`[{key}]`: provider type {kind:?} is not supported by devhost (only \"env\", which is always on)"
                            ));
                        }
                    }
                }
                other => {
                    return Err(format!(
                        "`[{other}]` is not supported by devhost (it provides sqlite_database, key_value_store and the env variables provider)"
                    ));
                }
            }
        }
        Ok(config)
    }

    /// Fills in Spin's defaults for the `default` labels: `.spin/sqlite_db.db` and
    /// `.spin/sqlite_key_value.db` under the state directory.
    pub fn with_defaults(mut self, state_dir: &Path) -> Self {
        self.sqlite_databases
            .entry("default".into())
            .or_insert_with(|| SqliteDatabaseConfig {
                path: Some(state_dir.join("sqlite_db.db")),
            });
        self.key_value_stores
            .entry("default".into())
            .or_insert_with(|| KeyValueStoreConfig::Spin {
                path: Some(state_dir.join("sqlite_key_value.db")),
            });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sqlite_and_key_value_tables() {
        let c = RuntimeConfig::parse(
            r#"
[sqlite_database.default]
type = "spin"
path = "data/app.db"
[key_value_store.cache]
type = "redis"
url = "redis://127.0.0.1:6379"
[key_value_store.mem]
type = "spin"
"#,
            Path::new("/rc"),
        )
        .unwrap();
        assert_eq!(
            c.sqlite_databases["default"].path,
            Some(PathBuf::from("/rc/data/app.db"))
        );
        assert_eq!(
            c.key_value_stores["cache"],
            KeyValueStoreConfig::Redis {
                url: "redis://127.0.0.1:6379".into()
            }
        );
        assert_eq!(
            c.key_value_stores["mem"],
            KeyValueStoreConfig::Spin { path: None }
        );
    }

    #[test]
    fn defaults_fill_only_missing_labels() {
        let c = RuntimeConfig::default().with_defaults(Path::new("/s"));
        assert_eq!(
            c.sqlite_databases["default"].path,
            Some(PathBuf::from("/s/sqlite_db.db"))
        );
    }

    #[test]
    fn unsupported_tables_and_types_are_named() {
        for (text, needle) in [
            ("[llm_compute]\ntype = \"spin\"", "llm_compute"),
            (
                "[sqlite_database.x]\ntype = \"libsql\"",
                "sqlite_database.x",
            ),
            ("[key_value_store.k]\ntype = \"redis\"", "needs `url`"),
            ("[[config_provider]]\ntype = \"vault\"", "vault"),
        ] {
            let err = RuntimeConfig::parse(text, Path::new("/")).unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
    }
}
