//! Relational access over Spin SQLite (`spin:sqlite`) and PostgreSQL (`spin:postgres`) with
//! one API: SQL written once with `$1, $2, …` placeholders (SQLite binds them in order of
//! first appearance, so each `$n` must first appear in increasing order), a small value
//! type, transactions, and driver errors mapped to [`DbError`] — never raw driver text to
//! clients. Typed, tenant-scoped queries live in the stores built on this (`crate::store`).

use spin_sdk::{pg4, sqlite3};

use crate::config::StoreBackend;

/// A value bound to or read from a query. Timestamps are Unix milliseconds (`Int`), JSON is `Text`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(Value::Null)
    }
}

/// One result row; columns by position, as selected.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    pub fn text(&self, i: usize) -> Result<String, DbError> {
        match self.0.get(i) {
            Some(Value::Text(s)) => Ok(s.clone()),
            other => Err(DbError::Decode(format!(
                "column {i}: expected text, found {other:?}"
            ))),
        }
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>, DbError> {
        match self.0.get(i) {
            Some(Value::Null) => Ok(None),
            _ => self.text(i).map(Some),
        }
    }

    pub fn int(&self, i: usize) -> Result<i64, DbError> {
        match self.0.get(i) {
            Some(Value::Int(v)) => Ok(*v),
            other => Err(DbError::Decode(format!(
                "column {i}: expected integer, found {other:?}"
            ))),
        }
    }

    /// A floating-point column (an integer one is widened, as SQLite may return either).
    pub fn real(&self, i: usize) -> Result<f64, DbError> {
        match self.0.get(i) {
            Some(Value::Real(v)) => Ok(*v),
            Some(Value::Int(v)) => Ok(*v as f64),
            other => Err(DbError::Decode(format!(
                "column {i}: expected a number, found {other:?}"
            ))),
        }
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, DbError> {
        match self.0.get(i) {
            Some(Value::Null) => Ok(None),
            _ => self.int(i).map(Some),
        }
    }
}

/// What went wrong, in terms a route can map to a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbError {
    /// The database cannot be reached or opened (→ 503).
    Unavailable(String),
    /// A uniqueness or key constraint was violated (→ 409).
    Conflict(String),
    /// The statement failed for another reason (→ 500; a bug or a schema mismatch).
    Query(String),
    /// A column did not hold what the code expected (→ 500).
    Decode(String),
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Unavailable(m) => write!(f, "database unavailable: {m}"),
            DbError::Conflict(m) => write!(f, "constraint violated: {m}"),
            DbError::Query(m) => write!(f, "query failed: {m}"),
            DbError::Decode(m) => write!(f, "unexpected column value: {m}"),
        }
    }
}

impl From<DbError> for core_logic::problem::Problem {
    fn from(e: DbError) -> Self {
        use core_logic::problem::{Problem, ProblemKind};
        // The driver's words stay in the server log; the client gets a fixed phrase.
        crate::log::warn("store", &e.to_string());
        match e {
            DbError::Unavailable(_) => Problem::new(
                ProblemKind::Unavailable,
                "the database is unavailable; try again shortly",
            )
            .with_retry_after(5),
            DbError::Conflict(_) => Problem::new(
                ProblemKind::Conflict,
                "the resource already exists or changed",
            ),
            DbError::Query(_) | DbError::Decode(_) => Problem::new(
                ProblemKind::Internal,
                "the server could not complete the request",
            ),
        }
    }
}

/// Which SQL dialect a connection speaks, for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// An open connection to the configured store.
pub enum Db {
    Sqlite(sqlite3::Connection),
    Postgres(pg4::Connection),
}

impl Db {
    /// Opens the store named by the `db_url` backend.
    pub fn open(backend: &StoreBackend) -> Result<Db, DbError> {
        match backend {
            StoreBackend::Sqlite { label } => sqlite3::Connection::open(label)
                .map(Db::Sqlite)
                .map_err(|e| DbError::Unavailable(format!("sqlite {label}: {e:?}"))),
            StoreBackend::Postgres { url } => pg4::Connection::open(url)
                .map(Db::Postgres)
                .map_err(|e| DbError::Unavailable(format!("postgres: {}", pg_error_kind(&e)))),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs a statement that returns rows.
    pub fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        match self {
            Db::Sqlite(conn) => {
                let params: Vec<sqlite3::Value> = params.iter().map(to_sqlite).collect();
                let result = conn.execute(sql, &params).map_err(sqlite_error)?;
                Ok(result
                    .rows
                    .into_iter()
                    .map(|r| Row(r.values.into_iter().map(from_sqlite).collect()))
                    .collect())
            }
            Db::Postgres(conn) => {
                let params: Vec<pg4::ParameterValue> = params.iter().map(to_pg).collect();
                let set = conn.query(sql, &params).map_err(pg_error)?;
                Ok(set
                    .rows
                    .into_iter()
                    .map(|r| Row(r.into_iter().map(from_pg).collect()))
                    .collect())
            }
        }
    }

    /// Runs a statement and returns how many rows it changed.
    pub fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        match self {
            Db::Sqlite(conn) => {
                let params: Vec<sqlite3::Value> = params.iter().map(to_sqlite).collect();
                conn.execute(sql, &params).map_err(sqlite_error)?;
                Ok(conn.changes())
            }
            Db::Postgres(conn) => {
                let params: Vec<pg4::ParameterValue> = params.iter().map(to_pg).collect();
                conn.execute(sql, &params).map_err(pg_error)
            }
        }
    }

    /// Runs `work` in a transaction: committed when it returns `Ok`, rolled back otherwise.
    pub fn transaction<T, E: From<DbError>>(
        &self,
        work: impl FnOnce(&Db) -> Result<T, E>,
    ) -> Result<T, E> {
        let begin = match self.dialect() {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        };
        self.execute(begin, &[])?;
        match work(self) {
            Ok(value) => {
                self.execute("COMMIT", &[])?;
                Ok(value)
            }
            Err(e) => {
                let _ = self.execute("ROLLBACK", &[]);
                Err(e)
            }
        }
    }
}

fn to_sqlite(v: &Value) -> sqlite3::Value {
    match v {
        Value::Null => sqlite3::Value::Null,
        Value::Int(i) => sqlite3::Value::Integer(*i),
        Value::Real(r) => sqlite3::Value::Real(*r),
        Value::Text(s) => sqlite3::Value::Text(s.clone()),
        Value::Blob(b) => sqlite3::Value::Blob(b.clone()),
    }
}

fn from_sqlite(v: sqlite3::Value) -> Value {
    match v {
        sqlite3::Value::Null => Value::Null,
        sqlite3::Value::Integer(i) => Value::Int(i),
        sqlite3::Value::Real(r) => Value::Real(r),
        sqlite3::Value::Text(s) => Value::Text(s),
        sqlite3::Value::Blob(b) => Value::Blob(b),
    }
}

fn to_pg(v: &Value) -> pg4::ParameterValue {
    match v {
        Value::Null => pg4::ParameterValue::DbNull,
        Value::Int(i) => pg4::ParameterValue::Int64(*i),
        Value::Real(r) => pg4::ParameterValue::Floating64(*r),
        Value::Text(s) => pg4::ParameterValue::Str(s.clone()),
        Value::Blob(b) => pg4::ParameterValue::Binary(b.clone()),
    }
}

fn from_pg(v: pg4::DbValue) -> Value {
    use pg4::DbValue as D;
    match v {
        D::DbNull => Value::Null,
        D::Boolean(b) => Value::Int(i64::from(b)),
        D::Int8(i) => Value::Int(i64::from(i)),
        D::Int16(i) => Value::Int(i64::from(i)),
        D::Int32(i) => Value::Int(i64::from(i)),
        D::Int64(i) => Value::Int(i),
        D::Floating32(f) => Value::Real(f64::from(f)),
        D::Floating64(f) => Value::Real(f),
        D::Str(s) => Value::Text(s),
        D::Binary(b) => Value::Blob(b),
        D::Jsonb(b) => Value::Text(String::from_utf8_lossy(&b).into_owned()),
        D::Decimal(s) => Value::Text(s),
        D::Uuid(s) => Value::Text(s),
        D::Timestamp(t) => Value::Int(t.saturating_mul(1000)),
        other => Value::Text(format!("{other:?}")),
    }
}

fn sqlite_error(e: sqlite3::Error) -> DbError {
    match e {
        sqlite3::Error::Io(msg) if msg.contains("UNIQUE") || msg.contains("constraint") => {
            DbError::Conflict(msg)
        }
        sqlite3::Error::Io(msg) => DbError::Query(msg),
        other => DbError::Unavailable(format!("{other:?}")),
    }
}

fn pg_error_kind(e: &pg4::PgError) -> &'static str {
    match e {
        pg4::PgError::ConnectionFailed(_) => "connection failed",
        pg4::PgError::BadParameter(_) => "bad parameter",
        pg4::PgError::QueryFailed(_) => "query failed",
        pg4::PgError::ValueConversionFailed(_) => "value conversion failed",
        pg4::PgError::Other(_) => "other error",
    }
}

fn pg_error(e: pg4::PgError) -> DbError {
    match &e {
        pg4::PgError::ConnectionFailed(_) => DbError::Unavailable(pg_error_kind(&e).into()),
        pg4::PgError::QueryFailed(pg4::QueryError::DbError(db)) => {
            // Class 23: integrity constraint violation.
            if db.code.starts_with("23") {
                DbError::Conflict(format!("{} ({})", db.message, db.code))
            } else {
                DbError::Query(format!("{} ({})", db.message, db.code))
            }
        }
        pg4::PgError::QueryFailed(pg4::QueryError::Text(t)) => DbError::Query(t.clone()),
        other => DbError::Query(format!("{other:?}")),
    }
}
