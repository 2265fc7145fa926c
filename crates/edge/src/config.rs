//! Configuration from Spin variables: the one loader every component uses.
//!
//! Values reach components only as Spin variables (`SPIN_VARIABLE_*` or the runtime config).
//! This module parses the backend selectors; it never logs values (some are secrets).

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
    fn errors_never_echo_the_value() {
        let err = parse_counters("http://user:secret@host").unwrap_err();
        assert!(!err.0.contains("secret"));
    }
}
