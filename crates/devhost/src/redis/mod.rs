//! `fermyon:spin/redis@2.0.0`: outbound Redis, with connections cached per address.
//!
//! This file is the public face: [`RedisClients`] (the app-wide cache of connections, one
//! multiplexed connection per address) and [`SharedConnection`], which the key-value module's
//! Redis stores reuse. `host.rs` implements the WIT interface (allow-list check, commands,
//! reply conversion). Not for inbound Redis triggers, which devhost does not provide.

mod host;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisError, RedisResult};

pub use host::add_to_linker;

/// How long connecting to a Redis server may take before the call fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one command may wait for its answer before the call fails (and the connection
/// is reopened on the next call): a hung server costs a request seconds, not the whole
/// request limit. Spin sets no such limit; our commands take microseconds.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// One Redis server's multiplexed connection, opened on first use and reopened on the next use
/// after it broke (a restarted server, a dropped socket).
pub struct SharedConnection {
    client: redis::Client,
    connection: tokio::sync::Mutex<Option<MultiplexedConnection>>,
}

impl SharedConnection {
    /// Parses `url` (`redis://host[:port][/db]`); nothing is connected yet.
    pub fn new(url: &str) -> RedisResult<Self> {
        Ok(Self {
            client: redis::Client::open(url)?,
            connection: tokio::sync::Mutex::new(None),
        })
    }

    /// The connection, connecting first if there is none.
    pub async fn connection(&self) -> RedisResult<MultiplexedConnection> {
        let mut slot = self.connection.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(RESPONSE_TIMEOUT);
        let conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Runs one command sequence; a connection-level failure drops the cached connection so
    /// the next call reconnects.
    pub async fn run<T, F, Fut>(&self, f: F) -> RedisResult<T>
    where
        F: FnOnce(MultiplexedConnection) -> Fut + Send,
        Fut: Future<Output = RedisResult<T>> + Send,
        T: Send,
    {
        let result = f(self.connection().await?).await;
        if let Err(e) = &result
            && is_broken_connection(e)
        {
            *self.connection.lock().await = None;
        }
        result
    }
}

fn is_broken_connection(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() || e.is_timeout()
}

/// The app's outbound Redis connections, by address.
#[derive(Default)]
pub struct RedisClients {
    by_address: Mutex<HashMap<String, Arc<SharedConnection>>>,
}

impl RedisClients {
    pub fn new() -> Self {
        Self::default()
    }

    /// The cached connection for `address`, created (not yet connected) on first use.
    fn shared(&self, address: &str) -> RedisResult<Arc<SharedConnection>> {
        let mut map = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(shared) = map.get(address) {
            return Ok(shared.clone());
        }
        let shared = Arc::new(SharedConnection::new(address)?);
        map.insert(address.to_owned(), shared.clone());
        Ok(shared)
    }
}

/// An open connection: the host side of the WIT `connection` resource.
pub struct RedisConnection {
    shared: Arc<SharedConnection>,
}
