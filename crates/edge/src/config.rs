//! Configuration from Spin variables: the one loader every component uses.
//!
//! Values reach components only as Spin variables (`SPIN_VARIABLE_*` or the runtime config).
//! This module parses the backend selectors; it never logs values (some are secrets).

use std::time::Duration;

use spin_sdk::variables;

/// Where relational data lives, from the `db_url` variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreBackend {
    /// `sqlite://<label>`: a Spin SQLite database by label.
    Sqlite { label: String },
    /// `postgres://…`: a PostgreSQL server.
    Postgres { url: String },
}

/// Where counters live, from the `counters_url` variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CountersBackend {
    Sqlite { label: String },
    Redis { url: String },
}

/// A configuration value that cannot be used. The message names the variable, not its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads a variable the component must have.
pub fn required(name: &str) -> Result<String, ConfigError> {
    variables::get(name).map_err(|_| ConfigError(format!("variable `{name}` is not set")))
}

/// Reads a variable that may be unset or empty (`None` for both).
pub fn optional(name: &str) -> Option<String> {
    variables::get(name).ok().filter(|v| !v.trim().is_empty())
}

/// Parses a `db_url` value.
pub fn parse_store(value: &str) -> Result<StoreBackend, ConfigError> {
    if let Some(label) = value.strip_prefix("sqlite://") {
        if label.is_empty() {
            return Err(ConfigError(
                "`db_url`: sqlite:// needs a database label".into(),
            ));
        }
        return Ok(StoreBackend::Sqlite {
            label: label.to_string(),
        });
    }
    if value.starts_with("postgres://") || value.starts_with("postgresql://") {
        return Ok(StoreBackend::Postgres {
            url: value.to_string(),
        });
    }
    Err(ConfigError(
        "`db_url`: expected sqlite://<label> or postgres://…".into(),
    ))
}

/// Parses a `counters_url` value.
pub fn parse_counters(value: &str) -> Result<CountersBackend, ConfigError> {
    if let Some(label) = value.strip_prefix("sqlite://") {
        if label.is_empty() {
            return Err(ConfigError(
                "`counters_url`: sqlite:// needs a database label".into(),
            ));
        }
        return Ok(CountersBackend::Sqlite {
            label: label.to_string(),
        });
    }
    if value.starts_with("redis://") || value.starts_with("rediss://") {
        return Ok(CountersBackend::Redis {
            url: value.to_string(),
        });
    }
    Err(ConfigError(
        "`counters_url`: expected sqlite://<label> or redis://…".into(),
    ))
}

/// Which use a call to the embedder or the vector index serves, which sets how long it may
/// wait: a visitor is waiting for an answer, while writing vectors (ingest, attachments,
/// deletes) works through batches and may take longer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallPath {
    /// Retrieval for an answer or a search, and health probes: the dependency's own
    /// variable (`embedder_timeout_ms`, `chroma_timeout_ms`).
    Answer,
    /// Writing and deleting vectors: `index_timeout_ms`.
    Write,
}

/// `embedder_timeout_ms` when unset: a query embedding takes 5–20 ms on the sidecar with
/// the default model (bench/embedder), EmbeddingGemma-300m about ten times that.
pub const DEFAULT_EMBEDDER_TIMEOUT_MS: u64 = 1_000;
/// `chroma_timeout_ms` when unset: a top-k query takes a few milliseconds.
pub const DEFAULT_CHROMA_TIMEOUT_MS: u64 = 1_000;
/// `index_timeout_ms` when unset: embedding a batch of 64 chunks takes about a second.
pub const DEFAULT_INDEX_TIMEOUT_MS: u64 = 30_000;

impl CallPath {
    /// The limit on each wait of a call on this path (`answer_variable` and its default
    /// for [`CallPath::Answer`]).
    pub fn time_limit(
        self,
        answer_variable: &str,
        answer_default_ms: u64,
    ) -> Result<Duration, ConfigError> {
        match self {
            CallPath::Answer => millis(answer_variable, answer_default_ms),
            CallPath::Write => millis("index_timeout_ms", DEFAULT_INDEX_TIMEOUT_MS),
        }
    }
}

/// A positive number of milliseconds from the variable `name`; `default_ms` when unset.
pub fn millis(name: &str, default_ms: u64) -> Result<Duration, ConfigError> {
    parse_millis(name, optional(name).as_deref(), default_ms)
}

/// Parses a `name` value of milliseconds (`None`: `default_ms`).
pub fn parse_millis(
    name: &str,
    value: Option<&str>,
    default_ms: u64,
) -> Result<Duration, ConfigError> {
    match value.map(str::trim) {
        None => Ok(Duration::from_millis(default_ms)),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis)
            .ok_or_else(|| {
                ConfigError(format!(
                    "`{name}`: expected a positive number of milliseconds"
                ))
            }),
    }
}

/// The configured store backend.
pub fn store_backend() -> Result<StoreBackend, ConfigError> {
    parse_store(&required("db_url")?)
}

/// The configured counters backend.
pub fn counters_backend() -> Result<CountersBackend, ConfigError> {
    parse_counters(&required("counters_url")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_select_the_backend() {
        assert_eq!(
            parse_store("sqlite://default").unwrap(),
            StoreBackend::Sqlite {
                label: "default".into()
            }
        );
        assert!(matches!(
            parse_store("postgres://u:p@h:5432/db").unwrap(),
            StoreBackend::Postgres { .. }
        ));
        assert!(parse_store("mysql://x").is_err());
        assert!(parse_store("sqlite://").is_err());
    }

    #[test]
    fn time_limits_are_positive_milliseconds() {
        assert_eq!(
            parse_millis("x_ms", None, 250).unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(
            parse_millis("x_ms", Some(" 40 "), 250).unwrap(),
            Duration::from_millis(40)
        );
        for bad in ["0", "-5", "1.5", "soon"] {
            let err = parse_millis("x_ms", Some(bad), 250).unwrap_err();
            assert!(err.0.contains("`x_ms`"), "{bad}");
            assert!(!err.0.contains(bad), "{bad}");
        }
    }

    #[test]
    fn errors_never_echo_the_value() {
        let err = parse_counters("http://user:secret@host").unwrap_err();
        assert!(!err.0.contains("secret"));
    }
}
