//! The `spin:sqlite/sqlite@3.0.0` host functions: access checks and the connection resource.
//!
//! Only the WIT glue lives here; running statements is [`super::SqliteConnection`]'s job.
//! Checks follow Spin's factor-sqlite: a label the component does not list is `access-denied`
//! (whether or not it exists), a listed label that is not configured is `no-such-database`.

use wasmtime::component::{HasSelf, Linker, Resource};

use super::SqliteConnection;
use crate::bindings::spin::sqlite::sqlite::{self, Error, QueryResult, Value};
use crate::state::HostState;

impl HostState {
    fn sqlite_connection(
        &self,
        connection: &Resource<SqliteConnection>,
    ) -> Result<&SqliteConnection, Error> {
        self.table
            .get(connection)
            .map_err(|_| Error::InvalidConnection)
    }
}

impl sqlite::Host for HostState {}

impl sqlite::HostConnection for HostState {
    async fn open(&mut self, database: String) -> Result<Resource<SqliteConnection>, Error> {
        if !self.component.sqlite_databases.contains(&database) {
            return Err(Error::AccessDenied);
        }
        let connection = self
            .component
            .services
            .sqlite
            .connect(&database)
            .await
            .ok_or(Error::NoSuchDatabase)??;
        self.table
            .push(connection)
            .map_err(|e| Error::Io(format!("too many connections opened: {e}")))
    }

    async fn execute(
        &mut self,
        connection: Resource<SqliteConnection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> Result<QueryResult, Error> {
        self.sqlite_connection(&connection)?
            .execute(statement, parameters)
            .await
    }

    async fn last_insert_rowid(&mut self, connection: Resource<SqliteConnection>) -> i64 {
        // The handle was validated by wasmtime when the guest passed it in.
        self.sqlite_connection(&connection)
            .map(SqliteConnection::last_insert_rowid)
            .unwrap_or(0)
    }

    async fn changes(&mut self, connection: Resource<SqliteConnection>) -> u64 {
        self.sqlite_connection(&connection)
            .map(SqliteConnection::changes)
            .unwrap_or(0)
    }

    async fn drop(&mut self, connection: Resource<SqliteConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

/// Adds `spin:sqlite/sqlite@3.0.0` to the linker.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    sqlite::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}
