//! The `fermyon:spin/redis@2.0.0` host functions, matching Spin's factor-outbound-redis.
//!
//! An address the component's `allowed_outbound_hosts` does not allow, or one that does not
//! parse, is `invalid-address`; a server that cannot be reached is `other(message)`. Command
//! failures are `other(message)` except where Spin returns `type-error` (`sadd` when the reply
//! cannot be converted). `execute` flattens nested array and set replies into one list, as
//! Spin does. Not for connection caching (see `mod.rs`).

use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, FromRedisValue, RedisError, Value};
use wasmtime::component::{HasSelf, Linker, Resource};

use std::sync::Arc;

use super::{RedisConnection, SharedConnection};
use crate::bindings::fermyon::spin::redis as wit;
use crate::bindings::fermyon::spin::redis::{Error, RedisParameter, RedisResult};
use crate::state::HostState;

impl HostState {
    fn redis_shared(
        &self,
        connection: &Resource<RedisConnection>,
    ) -> Result<Arc<SharedConnection>, Error> {
        self.table
            .get(connection)
            .map(|c| c.shared.clone())
            .map_err(|_| Error::Other("could not find connection for resource".into()))
    }
}

/// Runs `f` on `shared`, mapping failures to `other`.
async fn run<T, F, Fut>(shared: Arc<SharedConnection>, f: F) -> Result<T, Error>
where
    F: FnOnce(MultiplexedConnection) -> Fut + Send,
    Fut: Future<Output = redis::RedisResult<T>> + Send,
    T: Send,
{
    shared.run(f).await.map_err(other)
}

fn other(e: RedisError) -> Error {
    Error::Other(e.to_string())
}

impl wit::Host for HostState {}

impl wit::HostConnection for HostState {
    async fn open(&mut self, address: String) -> Result<Resource<RedisConnection>, Error> {
        if !self.component.allowed_hosts.allows_url(&address) {
            return Err(Error::InvalidAddress);
        }
        let shared = self
            .component
            .services
            .redis
            .shared(&address)
            .map_err(|_| Error::InvalidAddress)?;
        shared.connection().await.map_err(other)?;
        self.table
            .push(RedisConnection { shared })
            .map_err(|_| Error::TooManyConnections)
    }

    async fn publish(
        &mut self,
        connection: Resource<RedisConnection>,
        channel: String,
        payload: Vec<u8>,
    ) -> Result<(), Error> {
        run(self.redis_shared(&connection)?, |mut c| async move {
            c.publish::<_, _, ()>(&channel, &payload).await
        })
        .await
    }

    async fn get(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
    ) -> Result<Option<Vec<u8>>, Error> {
        run(self.redis_shared(&connection)?, |mut c| async move {
            c.get::<_, Option<Vec<u8>>>(&key).await
        })
        .await
    }

    async fn set(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), Error> {
        run(self.redis_shared(&connection)?, |mut c| async move {
            c.set::<_, _, ()>(&key, &value).await
        })
        .await
    }

    async fn incr(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
    ) -> Result<i64, Error> {
        // Spin reports a non-integer value as `other` with the server's message, not
        // `type-error`; a guest that works on Spin must see the same here.
        run(self.redis_shared(&connection)?, |mut c| async move {
            c.incr::<_, _, i64>(&key, 1).await
        })
        .await
    }

    async fn del(
        &mut self,
        connection: Resource<RedisConnection>,
        keys: Vec<String>,
    ) -> Result<u32, Error> {
        run(self.redis_shared(&connection)?, |mut c| async move {
            c.del::<_, u32>(&keys).await
        })
        .await
    }

    async fn sadd(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, Error> {
        self.redis_shared(&connection)?
            .run(|mut c| async move { c.sadd::<_, _, u32>(&key, &values).await })
            .await
            .map_err(|e| {
                if e.kind() == redis::ErrorKind::TypeError {
                    Error::TypeError
                } else {
                    other(e)
                }
            })
    }

    async fn smembers(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
    ) -> Result<Vec<String>, Error> {
        run(self.redis_shared(&connection)?, |mut c| async move {
            c.smembers::<_, Vec<String>>(&key).await
        })
        .await
    }

    async fn srem(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, Error> {
        run(self.redis_shared(&connection)?, |mut c| async move {
            c.srem::<_, _, u32>(&key, &values).await
        })
        .await
    }

    async fn execute(
        &mut self,
        connection: Resource<RedisConnection>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> Result<Vec<RedisResult>, Error> {
        let mut cmd = redis::cmd(&command);
        for argument in arguments {
            match argument {
                RedisParameter::Int64(v) => cmd.arg(v),
                RedisParameter::Binary(v) => cmd.arg(v),
            };
        }
        run(self.redis_shared(&connection)?, |mut c| async move {
            cmd.query_async::<FlatResults>(&mut c).await
        })
        .await
        .map(|r| r.0)
    }

    async fn drop(&mut self, connection: Resource<RedisConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

/// An `execute` reply as the guest sees it: nested arrays and sets flattened in order.
struct FlatResults(Vec<RedisResult>);

impl FromRedisValue for FlatResults {
    fn from_redis_value(value: &Value) -> redis::RedisResult<Self> {
        let mut out = Vec::new();
        flatten(value, &mut out)?;
        Ok(Self(out))
    }
}

fn flatten(value: &Value, out: &mut Vec<RedisResult>) -> redis::RedisResult<()> {
    let unsupported = |what: &str| {
        Err(RedisError::from((
            redis::ErrorKind::TypeError,
            "Could not convert Redis response",
            format!("Redis {what} type is not supported"),
        )))
    };
    match value {
        Value::Nil => out.push(RedisResult::Nil),
        Value::Int(v) => out.push(RedisResult::Int64(*v)),
        Value::BulkString(bytes) => out.push(RedisResult::Binary(bytes.clone())),
        Value::SimpleString(s) => out.push(RedisResult::Status(s.clone())),
        Value::Okay => out.push(RedisResult::Status("OK".into())),
        Value::Array(items) | Value::Set(items) => {
            for item in items {
                flatten(item, out)?;
            }
        }
        Value::Double(v) => out.push(RedisResult::Binary(v.to_string().into_bytes())),
        Value::Boolean(v) => out.push(RedisResult::Int64(i64::from(*v))),
        Value::BigNumber(v) => out.push(RedisResult::Binary(v.to_string().into_bytes())),
        Value::Map(_) => return unsupported("Map"),
        Value::Attribute { .. } => return unsupported("Attribute"),
        Value::VerbatimString { .. } => return unsupported("string with format attribute"),
        Value::Push { .. } => return unsupported("Pub/Sub"),
        Value::ServerError(err) => {
            return Err(RedisError::from((
                redis::ErrorKind::ResponseError,
                "Server error",
                format!("{err:?}"),
            )));
        }
    }
    Ok(())
}

/// Adds `fermyon:spin/redis@2.0.0` to the linker.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    wit::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execute_replies_flatten_nested_arrays_in_order() {
        let reply = Value::Array(vec![
            Value::Int(1),
            Value::Array(vec![Value::BulkString(b"a".to_vec()), Value::Nil]),
            Value::Okay,
            Value::SimpleString("QUEUED".into()),
            Value::Boolean(true),
        ]);
        let FlatResults(flat) = FlatResults::from_redis_value(&reply).unwrap();
        let expected = vec![
            RedisResult::Int64(1),
            RedisResult::Binary(b"a".to_vec()),
            RedisResult::Nil,
            RedisResult::Status("OK".into()),
            RedisResult::Status("QUEUED".into()),
            RedisResult::Int64(1),
        ];
        assert_eq!(format!("{flat:?}"), format!("{expected:?}"));
    }

    #[test]
    fn execute_replies_with_maps_are_type_errors() {
        let reply = Value::Map(vec![(Value::Int(1), Value::Int(2))]);
        let err = FlatResults::from_redis_value(&reply).err().unwrap();
        assert_eq!(err.kind(), redis::ErrorKind::TypeError);
    }
}
