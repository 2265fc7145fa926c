//! The `--db-url` argument: a SQLite file (`sqlite://PATH`) or a PostgreSQL database
//! (`postgres://user@host:5432/db`). Knows how to describe the target without its password;
//! not for opening connections (that is `crate::database`).

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, bail};

/// Where the data lives.
#[derive(Debug)]
pub enum DbUrl {
    Sqlite(PathBuf),
    Postgres(Box<tokio_postgres::Config>),
}

impl DbUrl {
    /// Parses a URL; errors never repeat it, since it may hold a password.
    pub fn parse(url: &str) -> anyhow::Result<DbUrl> {
        let url = url.trim();
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                bail!("--db-url sqlite:// needs a file path, e.g. sqlite://.spin/sqlite_db.db");
            }
            // `sqlite://default` is how the app names a Spin database label; the CLI needs the
            // file the runtime config maps that label to.
            if !path.contains(['/', '.']) {
                bail!(
                    "--db-url sqlite://{path} looks like a Spin database label, not a file; \
                     give the file path (runtime-config/local.toml maps `default` to \
                     sqlite://.spin/sqlite_db.db; write sqlite://./{path} for a file named {path})"
                );
            }
            return Ok(DbUrl::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let config = tokio_postgres::Config::from_str(url)
                .context("--db-url is not a valid PostgreSQL URL")?;
            return Ok(DbUrl::Postgres(Box::new(config)));
        }
        let scheme = url.split_once("://").map_or("(none)", |(s, _)| s);
        bail!(
            "--db-url scheme `{scheme}` is not supported; use sqlite://PATH or \
             postgres://user@host:5432/db"
        )
    }

    /// The subfolder of the migrations folder for this backend.
    pub fn backend_folder(&self) -> &'static str {
        match self {
            DbUrl::Sqlite(_) => "sqlite",
            DbUrl::Postgres(_) => "postgres",
        }
    }

    /// A description for messages: the file, or user, host, port and database — no password.
    pub fn describe(&self) -> String {
        match self {
            DbUrl::Sqlite(path) => format!("SQLite database {}", path.display()),
            DbUrl::Postgres(config) => {
                let host = match config.get_hosts().first() {
                    Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
                    #[cfg(unix)]
                    Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
                    None => "localhost".into(),
                };
                let port = config.get_ports().first().copied().unwrap_or(5432);
                let user = config.get_user().unwrap_or("(default user)");
                let db = config.get_dbname().unwrap_or(user);
                format!("PostgreSQL database {db} on {host}:{port} as {user}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_absolute_and_relative_files() {
        match DbUrl::parse("sqlite:///var/lib/app.db").unwrap() {
            DbUrl::Sqlite(p) => assert_eq!(p, PathBuf::from("/var/lib/app.db")),
            other => panic!("{other:?}"),
        }
        match DbUrl::parse("sqlite://.spin/sqlite_db.db").unwrap() {
            DbUrl::Sqlite(p) => assert_eq!(p, PathBuf::from(".spin/sqlite_db.db")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_spin_label_is_not_taken_for_a_file() {
        let err = DbUrl::parse("sqlite://default").unwrap_err().to_string();
        assert!(err.contains("label"), "{err}");
    }

    #[test]
    fn postgres_descriptions_and_errors_never_show_the_password() {
        let url = DbUrl::parse("postgres://ops:hunter2secret@db.internal:6543/support").unwrap();
        let text = url.describe();
        assert_eq!(
            text,
            "PostgreSQL database support on db.internal:6543 as ops"
        );
        assert_eq!(url.backend_folder(), "postgres");
        let err = DbUrl::parse("mysql://ops:hunter2secret@db/x").unwrap_err();
        let err = format!("{err:#}");
        assert!(err.contains("`mysql`") && !err.contains("hunter2"), "{err}");
        let err = format!(
            "{:#}",
            DbUrl::parse("postgres://ops:hunter2secret@h:notaport/x").unwrap_err()
        );
        assert!(!err.contains("hunter2"), "{err}");
    }
}
