//! The `spin:postgres/postgres@4.0.0` host traits, implemented on [`HostState`].
//!
//! Matches Spin's host (crates/factor-outbound-pg): `open` checks every host of the address
//! against the component's `allowed_outbound_hosts` as `postgres://host:port` and refuses with
//! `connection-failed`; database errors become `query-failed(db-error)` with the server's
//! fields; parameters that are not valid values become `bad-parameter`; a query that returns
//! no rows has no columns either (Spin infers the columns from the first row). A column value
//! that cannot be represented (`NaN::numeric`, `infinity::date`) becomes
//! `value-conversion-failed` (Spin answers `query-failed(text)` there).
//! Not here: value conversions (`convert.rs`), pooling (`mod.rs`).

// The error type is the interface's own (as large as its `db-error` record); boxing it in
// helpers would only be undone at the trait boundary.
#![allow(clippy::result_large_err)]

use postgres_types::ToSql;
use tokio_postgres::Config;
use tokio_postgres::config::Host as PgHost;
use wasmtime::component::Resource;

use super::convert;
use super::{PgConnection, error_chain};
use crate::bindings::spin::postgres::postgres::{
    Column, DbError, Error, Host, HostConnection, ParameterValue, QueryError, RowSet,
};
use crate::outbound_http::allowed_hosts::AllowedHosts;
use crate::state::HostState;

impl Host for HostState {}

impl HostConnection for HostState {
    async fn open(&mut self, address: String) -> Result<Resource<PgConnection>, Error> {
        let config: Config = address.parse().map_err(|e| {
            Error::ConnectionFailed(format!("invalid address: {}", error_chain(&e)))
        })?;
        ensure_allowed(&self.component.allowed_hosts, &config)?;
        let connection = self
            .component
            .services
            .postgres
            .connect(&address, config)
            .await
            .map_err(Error::ConnectionFailed)?;
        self.table
            .push(connection)
            .map_err(|e| Error::ConnectionFailed(format!("too many connections: {e}")))
    }

    async fn query(
        &mut self,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<RowSet, Error> {
        let params = sql_params(&params)?;
        let client = client(self, &connection)?;
        let rows = tokio::time::timeout(
            super::STATEMENT_TIMEOUT,
            client.query(&statement, &param_refs(&params)),
        )
        .await
        .map_err(|_| statement_timed_out())?
        .map_err(query_failed)?;
        let Some(first) = rows.first() else {
            return Ok(RowSet {
                columns: vec![],
                rows: vec![],
            });
        };
        let columns = first
            .columns()
            .iter()
            .map(|c| Column {
                name: c.name().to_owned(),
                data_type: convert::data_type(c.type_()),
            })
            .collect();
        let rows = rows
            .iter()
            .map(|row| (0..row.len()).map(|i| convert::db_value(row, i)).collect())
            .collect::<Result<_, _>>()
            .map_err(Error::ValueConversionFailed)?;
        Ok(RowSet { columns, rows })
    }

    async fn execute(
        &mut self,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<u64, Error> {
        let params = sql_params(&params)?;
        let client = client(self, &connection)?;
        tokio::time::timeout(
            super::STATEMENT_TIMEOUT,
            client.execute(&statement, &param_refs(&params)),
        )
        .await
        .map_err(|_| statement_timed_out())?
        .map_err(query_failed)
    }

    async fn drop(&mut self, connection: Resource<PgConnection>) -> wasmtime::Result<()> {
        // Dropping the host value hands the connection back to its pool.
        self.table.delete(connection)?;
        Ok(())
    }
}

fn client<'a>(
    state: &'a HostState,
    connection: &Resource<PgConnection>,
) -> Result<&'a tokio_postgres::Client, Error> {
    state
        .table
        .get(connection)
        .ok()
        .and_then(PgConnection::client)
        .ok_or_else(|| Error::ConnectionFailed("no such connection".into()))
}

fn sql_params(params: &[ParameterValue]) -> Result<Vec<convert::SqlParam>, Error> {
    params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            convert::to_sql(p).map_err(|e| Error::BadParameter(format!("${}: {e}", i + 1)))
        })
        .collect()
}

fn param_refs(params: &[convert::SqlParam]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// Refuses the address unless every host it may connect to is allowed, as
/// `postgres://host:port` (port 5432 unless given).
fn ensure_allowed(allowed: &AllowedHosts, config: &Config) -> Result<(), Error> {
    let ports = config.get_ports();
    // As libpq: one port per host, or one port for all.
    let port_of = |i: usize| match ports {
        [] => 5432,
        [only] => *only,
        many => many.get(i).copied().unwrap_or(5432),
    };
    let mut targets = Vec::new();
    for (i, host) in config.get_hosts().iter().enumerate() {
        match host {
            PgHost::Tcp(name) => targets.push((name.clone(), port_of(i))),
            #[cfg(unix)]
            PgHost::Unix(_) => {
                return Err(Error::ConnectionFailed(
                    "Unix sockets are not supported on WebAssembly".into(),
                ));
            }
        }
    }
    // `hostaddr` is where tokio-postgres actually connects when it is given.
    for (i, ip) in config.get_hostaddrs().iter().enumerate() {
        targets.push((ip.to_string(), port_of(i)));
    }
    for (host, port) in targets {
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host
        };
        let url = format!("postgres://{host}:{port}");
        if !allowed.allows_url(&url) {
            return Err(Error::ConnectionFailed(format!(
                "address {url} is not permitted: it is not allowed by the component's \
                 allowed_outbound_hosts"
            )));
        }
    }
    Ok(())
}

/// A failed statement: the server's structured error when there is one, else the driver's
/// message (for example a parameter whose type does not suit the statement).
/// A statement the server did not answer in time: the connection, not the query, failed.
fn statement_timed_out() -> Error {
    Error::ConnectionFailed(format!(
        "the server did not answer within {:?}",
        super::STATEMENT_TIMEOUT
    ))
}

fn query_failed(e: tokio_postgres::Error) -> Error {
    // The server went away under the connection: a connection failure, not a bad query.
    if e.is_closed() {
        return Error::ConnectionFailed("the connection was closed".into());
    }
    let as_text = format!("{e:?}");
    Error::QueryFailed(match e.as_db_error() {
        None => QueryError::Text(as_text),
        Some(db) => {
            let mut extras = Vec::new();
            let mut extra = |name: &str, value: Option<String>| {
                if let Some(value) = value {
                    extras.push((name.to_owned(), value));
                }
            };
            extra("column", db.column().map(str::to_owned));
            extra("constraint", db.constraint().map(str::to_owned));
            extra("routine", db.routine().map(str::to_owned));
            extra("hint", db.hint().map(str::to_owned));
            extra("table", db.table().map(str::to_owned));
            extra("datatype", db.datatype().map(str::to_owned));
            extra("schema", db.schema().map(str::to_owned));
            extra("file", db.file().map(str::to_owned));
            extra("line", db.line().map(|l| l.to_string()));
            extra("where_", db.where_().map(str::to_owned));
            QueryError::DbError(DbError {
                as_text,
                severity: db.severity().to_owned(),
                code: db.code().code().to_owned(),
                message: db.message().to_owned(),
                detail: db.detail().map(str::to_owned),
                extras,
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(entries: &[&str], address: &str) -> Result<(), String> {
        let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        let allowed = AllowedHosts::parse(&entries).unwrap();
        let config: Config = address.parse().unwrap();
        ensure_allowed(&allowed, &config).map_err(|e| match e {
            Error::ConnectionFailed(m) => m,
            other => panic!("expected connection-failed, got {other:?}"),
        })
    }

    #[test]
    fn address_is_checked_as_postgres_host_and_port() {
        let allow = ["postgres://127.0.0.1:5432"];
        assert!(check(&allow, "postgres://postgres@127.0.0.1/test").is_ok());
        assert!(check(&allow, "host=127.0.0.1 port=5432 user=postgres").is_ok());
        let err = check(&allow, "postgres://postgres@127.0.0.1:5433/test").unwrap_err();
        assert!(
            err.contains("postgres://127.0.0.1:5433 is not permitted"),
            "{err}"
        );
        assert!(check(&allow, "host=localhost user=postgres").is_err());
    }

    #[test]
    fn every_host_and_hostaddr_must_be_allowed() {
        let allow = ["postgres://127.0.0.1:5432"];
        assert!(check(&allow, "host=127.0.0.1,10.0.0.1 user=postgres").is_err());
        assert!(check(&allow, "host=127.0.0.1 hostaddr=10.0.0.1 user=postgres").is_err());
        assert!(check(&allow, "hostaddr=127.0.0.1 user=postgres").is_ok());
    }

    #[test]
    fn ipv6_hosts_are_checked_in_brackets() {
        assert!(check(&["postgres://[::1]:5432"], "host=::1 user=postgres").is_ok());
        assert!(check(&["postgres://127.0.0.1"], "host=::1 user=postgres").is_err());
    }

    #[test]
    fn unix_sockets_are_refused() {
        let err = check(&["postgres://*:*"], "host=/var/run/postgresql user=x").unwrap_err();
        assert!(err.contains("Unix sockets"), "{err}");
    }
}
