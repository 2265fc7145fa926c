//! Key-value stores of `type = "redis"`: keys stored as plain Redis strings, as Spin does.
//!
//! Like Spin's crates/key-value-redis, keys are not prefixed with the store label and
//! `get-keys` lists every key of the Redis database the URL selects (`redis://host/<db>`).
//! Not for outbound Redis (`crate::redis`), whose connection type this reuses.

use redis::AsyncCommands;

use crate::bindings::fermyon::spin::key_value::Error;
use crate::redis::SharedConnection;

/// One label's Redis backend, connected on first use.
pub struct RedisKeyValue {
    connection: SharedConnection,
}

impl RedisKeyValue {
    /// A backend for `url`; fails only if the URL does not parse (Spin refuses it at start).
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let connection = SharedConnection::new(url)
            .map_err(|e| anyhow::anyhow!("invalid Redis URL {url:?}: {e}"))?;
        Ok(Self { connection })
    }

    /// Connects, so an unreachable server fails at `open` with `other`, as in Spin.
    pub async fn ensure_open(&self) -> Result<(), Error> {
        self.connection.connection().await.map(drop).map_err(other)
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.connection
            .run(|mut c| async move { c.get::<_, Option<Vec<u8>>>(key).await })
            .await
            .map_err(other)
    }

    pub async fn set(&self, key: &str, value: Vec<u8>) -> Result<(), Error> {
        self.connection
            .run(|mut c| async move { c.set::<_, _, ()>(key, value).await })
            .await
            .map_err(other)
    }

    pub async fn delete(&self, key: &str) -> Result<(), Error> {
        self.connection
            .run(|mut c| async move { c.del::<_, ()>(key).await })
            .await
            .map_err(other)
    }

    pub async fn exists(&self, key: &str) -> Result<bool, Error> {
        self.connection
            .run(|mut c| async move { c.exists::<_, bool>(key).await })
            .await
            .map_err(other)
    }

    pub async fn get_keys(&self) -> Result<Vec<String>, Error> {
        self.connection
            .run(|mut c| async move { c.keys::<_, Vec<String>>("*").await })
            .await
            .map_err(other)
    }
}

fn other(e: redis::RedisError) -> Error {
    Error::Other(e.to_string())
}
