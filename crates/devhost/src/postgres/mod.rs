//! `spin:postgres/postgres@4.0.0`: PostgreSQL for components, over tokio-postgres.
//!
//! The public face: [`PostgresClients`] keeps idle connections per address, shared by every
//! component and request of the app (as Spin keeps a pool per address); [`PgConnection`] is
//! the host side of the WIT `connection` resource; [`add_to_linker`] wires the interface in.
//! `host.rs` implements the interface (allow-list check, errors), `convert.rs` the value
//! conversions. Not here: parsing `allowed_outbound_hosts` (`outbound_http::allowed_hosts`);
//! TLS (connections use `NoTls`, so an address that requires TLS fails to connect).

mod convert;
mod host;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::{Client, Config, NoTls};

use crate::state::HostState;

/// Connections in use at once per address; more `open`s wait (Spin's pool size is 64 too).
const MAX_IN_USE_PER_ADDRESS: usize = 64;
/// Idle connections kept per address for the next request.
const MAX_IDLE_PER_ADDRESS: usize = 16;
/// Addresses whose pools are kept; past this, unused pools are forgotten.
const MAX_ADDRESSES: usize = 16;
/// How long connecting (TCP and start-up) may take when the address sets no `connect_timeout`.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one statement may wait for the server before the call fails as a connection
/// failure: a hung server or network then costs a request seconds, not the whole request
/// limit. (Spin sets no such limit; our statements take milliseconds.)
pub(crate) const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long resetting a released connection may take before it is closed instead.
const RESET_TIMEOUT: Duration = Duration::from_secs(5);
/// Run on a released connection before another request may use it: ends any transaction the
/// guest left open and clears session state (the statements deadpool's `Clean` recycling
/// runs, which Spin uses, preceded by `ROLLBACK`). The first `SET` keeps `ROLLBACK` outside a
/// transaction from sending a warning (logged on every release otherwise); `ROLLBACK` undoes
/// it. In a transaction the guest left failed, the `SET` fails and the connection is closed.
const RESET_SESSION: &str = "SET client_min_messages = error; ROLLBACK; CLOSE ALL; \
     SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *; SELECT pg_advisory_unlock_all(); \
     DISCARD TEMP; DISCARD SEQUENCES;";

/// Postgres connections shared app-wide, pooled by address.
pub struct PostgresClients {
    pools: Mutex<HashMap<String, Arc<AddressPool>>>,
}

impl Default for PostgresClients {
    fn default() -> Self {
        Self::new()
    }
}

impl PostgresClients {
    pub fn new() -> Self {
        Self {
            pools: Mutex::new(HashMap::new()),
        }
    }

    /// A connection to `address` (already parsed as `config`): an idle one if there is one,
    /// else a new one. The error is safe to show the guest (no password).
    async fn connect(&self, address: &str, mut config: Config) -> Result<PgConnection, String> {
        let pool = self.pool(address);
        let permit = pool
            .in_use
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| "connection pool closed".to_string())?;
        if let Some(client) = pool.take_idle() {
            return Ok(PgConnection::new(client, pool, permit));
        }
        let timeout = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        config.connect_timeout(timeout);
        let connecting = tokio::time::timeout(timeout, config.connect(NoTls));
        let (client, connection) = match connecting.await {
            Ok(Ok(connected)) => connected,
            Ok(Err(e)) => return Err(without_password(error_chain(&e), &config)),
            Err(_) => return Err(format!("timed out after {timeout:?}")),
        };
        // The connection task ends when the client is dropped or the server goes away.
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "postgres connection ended");
            }
        });
        Ok(PgConnection::new(client, pool, permit))
    }

    fn pool(&self, address: &str) -> Arc<AddressPool> {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = pools.get(address) {
            return pool.clone();
        }
        if pools.len() >= MAX_ADDRESSES {
            // Forget pools no connection refers to; their idle connections close.
            pools.retain(|_, pool| Arc::strong_count(pool) > 1);
        }
        let pool = Arc::new(AddressPool {
            idle: Mutex::new(Vec::new()),
            in_use: Arc::new(Semaphore::new(MAX_IN_USE_PER_ADDRESS)),
        });
        pools.insert(address.to_owned(), pool.clone());
        pool
    }
}

/// The error and its causes, `: `-separated (tokio-postgres puts the server's message in the
/// cause: its own text is only, say, "db error").
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        cause = c.source();
    }
    message
}

/// Connection errors from the driver do not contain the password, but make sure of it.
fn without_password(message: String, config: &Config) -> String {
    match config.get_password().map(String::from_utf8_lossy) {
        Some(password) if !password.is_empty() => message.replace(password.as_ref(), "***"),
        _ => message,
    }
}

struct AddressPool {
    idle: Mutex<Vec<Client>>,
    in_use: Arc<Semaphore>,
}

impl AddressPool {
    fn take_idle(&self) -> Option<Client> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(client) = idle.pop() {
            if !client.is_closed() {
                return Some(client);
            }
        }
        None
    }

    fn put_idle(&self, client: Client) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE_PER_ADDRESS {
            idle.push(client);
        }
    }
}

/// An open connection: the host type of the WIT resource `connection`.
///
/// Dropping it (the guest drops the resource, or the instance ends) resets the session in
/// the background and returns the connection to its address's pool.
pub struct PgConnection {
    client: Option<Client>,
    pool: Arc<AddressPool>,
    permit: Option<OwnedSemaphorePermit>,
}

impl PgConnection {
    fn new(client: Client, pool: Arc<AddressPool>, permit: OwnedSemaphorePermit) -> Self {
        Self {
            client: Some(client),
            pool,
            permit: Some(permit),
        }
    }

    fn client(&self) -> Option<&Client> {
        self.client.as_ref()
    }
}

impl Drop for PgConnection {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let permit = self.permit.take();
        if client.is_closed() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let pool = self.pool.clone();
        runtime.spawn(async move {
            let reset = tokio::time::timeout(RESET_TIMEOUT, client.batch_execute(RESET_SESSION));
            match reset.await {
                Ok(Ok(())) => pool.put_idle(client),
                Ok(Err(e)) => tracing::debug!(error = %e, "closing postgres connection"),
                Err(_) => tracing::debug!("closing postgres connection: reset timed out"),
            }
            drop(permit);
        });
    }
}

/// Adds `spin:postgres/postgres@4.0.0` to the linker.
pub fn add_to_linker(linker: &mut wasmtime::component::Linker<HostState>) -> anyhow::Result<()> {
    crate::bindings::spin::postgres::postgres::add_to_linker::<
        HostState,
        wasmtime::component::HasSelf<HostState>,
    >(linker, |state| state)
    .map_err(|e| anyhow::anyhow!("adding spin:postgres/postgres@4.0.0: {e:#}"))
}
