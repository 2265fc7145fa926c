//! Atomic counters with expiry, shared by every instance: rate limits and metrics.
//!
//! Two backends behind one trait, chosen by the `counters_url` variable: SQLite (an atomic
//! upsert on the `counters` table) and Redis (`SET … NX EX` then `INCRBY`). Keys are
//! always scoped by tenant.

use spin_sdk::redis;

use crate::config::CountersBackend;
use crate::db::{Db, DbError, Value};

/// Atomic counters with expiry.
pub trait Counters {
    /// Adds `by` to the tenant's `key` and returns the new value. A key that does not exist
    /// or has expired starts from zero and lives for `ttl_secs`.
    fn incr(&self, tenant: &str, key: &str, by: i64, ttl_secs: u64) -> Result<i64, DbError>;
    /// The current value, if the key exists and has not expired.
    fn get(&self, tenant: &str, key: &str) -> Result<Option<i64>, DbError>;
}

/// Whether the counters store failed to answer earlier in this request (a component
/// instance serves one request): later optional uses (recording metrics) skip it rather
/// than wait for it again.
static UNAVAILABLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// See [`UNAVAILABLE`].
pub fn unavailable_in_this_request() -> bool {
    UNAVAILABLE.load(std::sync::atomic::Ordering::Relaxed)
}

/// Notes an `Unavailable` error on its way out.
fn noted(e: DbError) -> DbError {
    if matches!(e, DbError::Unavailable(_)) {
        UNAVAILABLE.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    e
}

/// Opens the configured counters backend.
pub fn open(backend: &CountersBackend) -> Result<Box<dyn Counters>, DbError> {
    match backend {
        CountersBackend::Sqlite { label } => Ok(Box::new(SqliteCounters {
            db: Db::open(&crate::config::StoreBackend::Sqlite {
                label: label.clone(),
            })?,
        })),
        CountersBackend::Redis { url } => redis::Connection::open(url)
            .map(|conn| Box::new(RedisCounters { conn }) as Box<dyn Counters>)
            .map_err(|e| noted(DbError::Unavailable(format!("redis: {e:?}")))),
    }
}

/// Milliseconds since the Unix epoch, from the host's wall clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

struct SqliteCounters {
    db: Db,
}

impl Counters for SqliteCounters {
    fn incr(&self, tenant: &str, key: &str, by: i64, ttl_secs: u64) -> Result<i64, DbError> {
        let now = now_ms();
        let expires = now + (ttl_secs as i64) * 1000;
        let rows = self.db.query(
            "INSERT INTO counters (tenant_id, key, value, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, key) DO UPDATE SET \
               value = CASE WHEN counters.expires_at <= $5 THEN excluded.value \
                            ELSE counters.value + excluded.value END, \
               expires_at = CASE WHEN counters.expires_at <= $5 THEN excluded.expires_at \
                                 ELSE counters.expires_at END \
             RETURNING value",
            &[
                tenant.into(),
                key.into(),
                Value::Int(by),
                Value::Int(expires),
                Value::Int(now),
            ],
        )?;
        rows.first()
            .ok_or_else(|| DbError::Query("upsert returned no row".into()))?
            .int(0)
    }

    fn get(&self, tenant: &str, key: &str) -> Result<Option<i64>, DbError> {
        let rows = self.db.query(
            "SELECT value FROM counters WHERE tenant_id = $1 AND key = $2 AND expires_at > $3",
            &[tenant.into(), key.into(), Value::Int(now_ms())],
        )?;
        rows.first().map(|r| r.int(0)).transpose()
    }
}

struct RedisCounters {
    conn: redis::Connection,
}

fn redis_key(tenant: &str, key: &str) -> String {
    format!("counters:{tenant}:{key}")
}

impl Counters for RedisCounters {
    fn incr(&self, tenant: &str, key: &str, by: i64, ttl_secs: u64) -> Result<i64, DbError> {
        use redis::{RedisParameter as P, RedisResult as R};
        let key = redis_key(tenant, key);
        let ttl = i64::try_from(ttl_secs.max(1)).unwrap_or(i64::MAX);
        self.conn
            .execute(
                "SET",
                &[
                    P::Binary(key.clone().into_bytes()),
                    P::Binary(b"0".to_vec()),
                    P::Binary(b"EX".to_vec()),
                    P::Int64(ttl),
                    P::Binary(b"NX".to_vec()),
                ],
            )
            .map_err(|e| noted(DbError::Unavailable(format!("redis: {e:?}"))))?;
        let result = self
            .conn
            .execute("INCRBY", &[P::Binary(key.into_bytes()), P::Int64(by)])
            .map_err(|e| noted(DbError::Unavailable(format!("redis: {e:?}"))))?;
        match result.first() {
            Some(R::Int64(v)) => Ok(*v),
            other => Err(DbError::Decode(format!("INCRBY returned {other:?}"))),
        }
    }

    fn get(&self, tenant: &str, key: &str) -> Result<Option<i64>, DbError> {
        let value = self
            .conn
            .get(&redis_key(tenant, key))
            .map_err(|e| noted(DbError::Unavailable(format!("redis: {e:?}"))))?;
        value
            .map(|bytes| {
                String::from_utf8_lossy(&bytes)
                    .parse::<i64>()
                    .map_err(|_| DbError::Decode("counter is not an integer".into()))
            })
            .transpose()
    }
}
