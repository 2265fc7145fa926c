//! `/pg/...`: exercises `spin:postgres/postgres@4.0.0` (spin-sdk's `pg4`) against the database
//! at the component variable `pg_url`, answering JSON the conformance tests assert on.
//!
//! Endpoints (the path after `/pg/`):
//! - `open`: opens a connection and runs `SELECT 1`.
//! - `types?table=T`: creates `T` with a column of every type the WIT names, inserts three
//!   rows through parameters (typical values, edge values, all `db-null`), reads them back,
//!   drops `T`.
//! - `script` (POST): runs each non-empty line of the body as one statement on one
//!   connection (`query` for lines starting `SELECT`/`WITH`/`VALUES`/`SHOW` or containing
//!   `RETURNING`, else `execute`), stopping at the first error.
//! - `param-error?kind=K`: runs a statement with an invalid or ill-suited parameter.
//!
//! Values are `{"<wit-variant>": payload}`; errors are `{"error": {"kind": "<wit-variant>", ..}}`
//! with status 200, so a test can tell a returned error from a trap (500).
//! Not for: anything but the conformance tests.

use serde_json::{Value, json};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{
    Connection, DbDataType, DbValue, Interval, ParameterValue, PgError, QueryError, RangeBoundKind,
    RowSet,
};

use crate::{json, query_param};

pub fn handle(req: &Request, rest: &str) -> anyhow::Result<Response> {
    let address = spin_sdk::variables::get("pg_url")?;
    let body = match rest {
        "open" => open(&address),
        "types" => {
            let table = query_param(req, "table").unwrap_or_default();
            if !is_identifier(&table) {
                return Ok(json(
                    400,
                    json!({ "error": "table: lowercase letters, digits, _" }),
                ));
            }
            types(&address, &table)
        }
        "script" => script(&address, &String::from_utf8_lossy(req.body())),
        "param-error" => param_error(&address, &query_param(req, "kind").unwrap_or_default()),
        _ => {
            return Ok(json(
                404,
                json!({ "error": "unknown pg endpoint", "path": rest }),
            ));
        }
    };
    Ok(json(
        200,
        body.unwrap_or_else(|e| json!({ "error": error_json(&e) })),
    ))
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn open(address: &str) -> Result<Value, PgError> {
    let db = Connection::open(address)?;
    let rows = db.query("SELECT 1 AS one", &[])?;
    Ok(json!({ "ok": true, "result": rowset_json(&rows) }))
}

/// Every column type with a WIT variant, in table order after `id int4`.
const COLUMNS: &[(&str, &str)] = &[
    ("b", "bool"),
    ("c", "\"char\""),
    ("i2", "int2"),
    ("i4", "int4"),
    ("i8", "int8"),
    ("f4", "float4"),
    ("f8", "float8"),
    ("t", "text"),
    ("vc", "varchar(20)"),
    ("bp", "char(5)"),
    ("nm", "name"),
    ("by", "bytea"),
    ("d", "date"),
    ("tm", "time"),
    ("ts", "timestamp"),
    ("tstz", "timestamptz"),
    ("u", "uuid"),
    ("jb", "jsonb"),
    ("js", "json"),
    ("n", "numeric"),
    ("r4", "int4range"),
    ("r8", "int8range"),
    ("rn", "numrange"),
    ("a4", "int4[]"),
    ("a8", "int8[]"),
    ("an", "numeric[]"),
    ("at", "text[]"),
    ("iv", "interval"),
];

fn typical_row() -> Vec<ParameterValue> {
    use RangeBoundKind::{Exclusive, Inclusive};
    vec![
        ParameterValue::Int32(1),
        ParameterValue::Boolean(true),
        ParameterValue::Int8(-5),
        ParameterValue::Int16(-12345),
        ParameterValue::Int32(2_000_000_000),
        ParameterValue::Int64(-9_000_000_000_000),
        ParameterValue::Floating32(1.5),
        ParameterValue::Floating64(-2.25e100),
        ParameterValue::Str("héllo \"wörld\"\n".into()),
        ParameterValue::Str("varchar".into()),
        ParameterValue::Str("ab".into()),
        ParameterValue::Str("a_name".into()),
        ParameterValue::Binary(vec![0, 1, 254, 255]),
        ParameterValue::Date((2024, 2, 29)),
        ParameterValue::Time((23, 59, 58, 123_456_000)),
        ParameterValue::Datetime((2024, 2, 29, 12, 34, 56, 789_000_000)),
        ParameterValue::Timestamp(1_700_000_000),
        ParameterValue::Uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
        ParameterValue::Jsonb(br#"{"a": [1, 2, {"b": null}]}"#.to_vec()),
        ParameterValue::Jsonb(br#"{"k": "v"}"#.to_vec()),
        ParameterValue::Decimal("12345.6789".into()),
        ParameterValue::RangeInt32((Some((1, Inclusive)), Some((10, Exclusive)))),
        ParameterValue::RangeInt64((Some((5, Exclusive)), Some((9, Inclusive)))),
        ParameterValue::RangeDecimal((
            Some(("1.5".into(), Exclusive)),
            Some(("2.25".into(), Inclusive)),
        )),
        ParameterValue::ArrayInt32(vec![Some(1), None, Some(-3)]),
        ParameterValue::ArrayInt64(vec![Some(i64::MAX), None]),
        ParameterValue::ArrayDecimal(vec![Some("1.10".into()), None, Some("-0.5".into())]),
        ParameterValue::ArrayStr(vec![Some("a".into()), None, Some("c,d".into())]),
        ParameterValue::Interval(Interval {
            micros: 3_723_000_004,
            days: 4,
            months: 14,
        }),
    ]
}

fn edge_row() -> Vec<ParameterValue> {
    vec![
        ParameterValue::Int32(2),
        ParameterValue::Boolean(false),
        ParameterValue::Int8(i8::MAX),
        ParameterValue::Int16(i16::MIN),
        ParameterValue::Int32(i32::MIN),
        ParameterValue::Int64(i64::MIN),
        ParameterValue::Floating32(-0.0),
        ParameterValue::Floating64(f64::MAX),
        ParameterValue::Str(String::new()),
        ParameterValue::Str("\u{1F600}".into()),
        ParameterValue::Str("abcde".into()),
        ParameterValue::Str(String::new()),
        ParameterValue::Binary(vec![]),
        ParameterValue::Date((-44, 3, 15)),
        ParameterValue::Time((0, 0, 0, 0)),
        ParameterValue::Datetime((1969, 12, 31, 23, 59, 59, 999_999_000)),
        ParameterValue::Timestamp(-1),
        ParameterValue::Uuid("00000000-0000-0000-0000-000000000000".into()),
        ParameterValue::Jsonb(b"[]".to_vec()),
        ParameterValue::Jsonb(b"null".to_vec()),
        ParameterValue::Decimal("-0.000000000000000000000000001".into()),
        ParameterValue::RangeInt32((None, None)),
        ParameterValue::RangeInt64((None, Some((0, RangeBoundKind::Exclusive)))),
        ParameterValue::RangeDecimal((Some(("0".into(), RangeBoundKind::Inclusive)), None)),
        ParameterValue::ArrayInt32(vec![]),
        ParameterValue::ArrayInt64(vec![None]),
        ParameterValue::ArrayDecimal(vec![]),
        ParameterValue::ArrayStr(vec![Some(String::new())]),
        ParameterValue::Interval(Interval {
            micros: -1,
            days: -2,
            months: -3,
        }),
    ]
}

fn null_row() -> Vec<ParameterValue> {
    let mut row = vec![ParameterValue::Int32(3)];
    row.extend(COLUMNS.iter().map(|_| ParameterValue::DbNull));
    row
}

fn types(address: &str, table: &str) -> Result<Value, PgError> {
    let db = Connection::open(address)?;
    let columns: Vec<String> = COLUMNS.iter().map(|(n, t)| format!("{n} {t}")).collect();
    // A table left by an earlier, interrupted run would make CREATE fail.
    db.execute(&format!("DROP TABLE IF EXISTS {table}"), &[])?;
    db.execute(
        &format!(
            "CREATE TABLE {table} (id int4 PRIMARY KEY, {})",
            columns.join(", ")
        ),
        &[],
    )?;
    let result = insert_and_read(&db, table);
    db.execute(&format!("DROP TABLE {table}"), &[])?;
    result
}

fn insert_and_read(db: &Connection, table: &str) -> Result<Value, PgError> {
    let placeholders: Vec<String> = (1..=COLUMNS.len() + 1).map(|i| format!("${i}")).collect();
    let insert = format!("INSERT INTO {table} VALUES ({})", placeholders.join(", "));
    let mut inserted = 0;
    for row in [typical_row(), edge_row(), null_row()] {
        inserted += db.execute(&insert, &row)?;
    }
    // "char", name, json and timestamptz have no WIT reading on Spin: read them back
    // through the casts a component would use.
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|(name, _)| match *name {
            "c" => "c::int4 AS c".to_string(),
            "nm" => "nm::text AS nm".to_string(),
            "js" => "js::jsonb AS js".to_string(),
            "tstz" => "tstz AT TIME ZONE 'UTC' AS tstz".to_string(),
            other => other.to_string(),
        })
        .collect();
    let rows = db.query(
        &format!("SELECT id, {} FROM {table} ORDER BY id", columns.join(", ")),
        &[],
    )?;
    Ok(json!({ "inserted": inserted, "result": rowset_json(&rows) }))
}

fn script(address: &str, body: &str) -> Result<Value, PgError> {
    let db = Connection::open(address)?;
    let mut results = Vec::new();
    for statement in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let upper = statement.to_ascii_uppercase();
        let is_query = ["SELECT", "WITH", "VALUES", "SHOW"]
            .iter()
            .any(|k| upper.starts_with(k))
            || upper.contains("RETURNING");
        let outcome = if is_query {
            db.query(statement, &[]).map(|rows| rowset_json(&rows))
        } else {
            db.execute(statement, &[]).map(|n| json!({ "affected": n }))
        };
        match outcome {
            Ok(result) => results.push(result),
            Err(e) => return Ok(json!({ "results": results, "error": error_json(&e) })),
        }
    }
    Ok(json!({ "results": results, "error": null }))
}

fn param_error(address: &str, kind: &str) -> Result<Value, PgError> {
    let (statement, param) = match kind {
        "uuid" => ("SELECT $1::uuid", ParameterValue::Uuid("not-a-uuid".into())),
        "decimal" => (
            "SELECT $1::numeric",
            ParameterValue::Decimal("1.2.3".into()),
        ),
        "date" => ("SELECT $1::date", ParameterValue::Date((2023, 2, 29))),
        "time" => ("SELECT $1::time", ParameterValue::Time((25, 0, 0, 0))),
        "jsonb" => ("SELECT $1::jsonb", ParameterValue::Jsonb(b"{oops".to_vec())),
        "range" => (
            "SELECT $1::int4range",
            ParameterValue::RangeInt32((None, Some((i32::MAX, RangeBoundKind::Inclusive)))),
        ),
        "wrong-type" => ("SELECT $1::int4", ParameterValue::Str("seven".into())),
        "missing" => ("SELECT $1::int4, $2::int4", ParameterValue::Int32(7)),
        _ => ("SELECT $1::int4", ParameterValue::Int32(7)),
    };
    let db = Connection::open(address)?;
    let rows = db.query(statement, &[param])?;
    Ok(json!({ "result": rowset_json(&rows) }))
}

fn error_json(e: &PgError) -> Value {
    match e {
        PgError::ConnectionFailed(m) => json!({ "kind": "connection-failed", "message": m }),
        PgError::BadParameter(m) => json!({ "kind": "bad-parameter", "message": m }),
        PgError::ValueConversionFailed(m) => {
            json!({ "kind": "value-conversion-failed", "message": m })
        }
        PgError::Other(m) => json!({ "kind": "other", "message": m }),
        PgError::QueryFailed(QueryError::Text(t)) => json!({ "kind": "query-failed", "text": t }),
        PgError::QueryFailed(QueryError::DbError(db)) => json!({
            "kind": "query-failed",
            "db_error": {
                "as_text": db.as_text,
                "severity": db.severity,
                "code": db.code,
                "message": db.message,
                "detail": db.detail,
                "extras": db
                    .extras
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect::<serde_json::Map<_, _>>(),
            },
        }),
    }
}

fn rowset_json(rows: &RowSet) -> Value {
    let columns: Vec<Value> = rows
        .columns
        .iter()
        .map(|c| json!({ "name": c.name, "type": data_type_name(&c.data_type) }))
        .collect();
    let rows: Vec<Value> = rows
        .rows
        .iter()
        .map(|row| Value::Array(row.iter().map(value_json).collect()))
        .collect();
    json!({ "columns": columns, "rows": rows })
}

fn data_type_name(t: &DbDataType) -> String {
    match t {
        DbDataType::Boolean => "boolean".into(),
        DbDataType::Int8 => "int8".into(),
        DbDataType::Int16 => "int16".into(),
        DbDataType::Int32 => "int32".into(),
        DbDataType::Int64 => "int64".into(),
        DbDataType::Floating32 => "floating32".into(),
        DbDataType::Floating64 => "floating64".into(),
        DbDataType::Str => "str".into(),
        DbDataType::Binary => "binary".into(),
        DbDataType::Date => "date".into(),
        DbDataType::Time => "time".into(),
        DbDataType::Datetime => "datetime".into(),
        DbDataType::Timestamp => "timestamp".into(),
        DbDataType::Uuid => "uuid".into(),
        DbDataType::Jsonb => "jsonb".into(),
        DbDataType::Decimal => "decimal".into(),
        DbDataType::RangeInt32 => "range-int32".into(),
        DbDataType::RangeInt64 => "range-int64".into(),
        DbDataType::RangeDecimal => "range-decimal".into(),
        DbDataType::ArrayInt32 => "array-int32".into(),
        DbDataType::ArrayInt64 => "array-int64".into(),
        DbDataType::ArrayDecimal => "array-decimal".into(),
        DbDataType::ArrayStr => "array-str".into(),
        DbDataType::Interval => "interval".into(),
        DbDataType::Other(name) => format!("other({name})"),
    }
}

fn bound_json<T: Into<Value> + Clone>(bound: &Option<(T, RangeBoundKind)>) -> Value {
    match bound {
        None => Value::Null,
        Some((v, RangeBoundKind::Inclusive)) => json!([v.clone().into(), "inclusive"]),
        Some((v, RangeBoundKind::Exclusive)) => json!([v.clone().into(), "exclusive"]),
    }
}

fn value_json(v: &DbValue) -> Value {
    match v {
        DbValue::Boolean(b) => json!({ "boolean": b }),
        DbValue::Int8(n) => json!({ "int8": n }),
        DbValue::Int16(n) => json!({ "int16": n }),
        DbValue::Int32(n) => json!({ "int32": n }),
        DbValue::Int64(n) => json!({ "int64": n }),
        DbValue::Floating32(f) => json!({ "floating32": f }),
        DbValue::Floating64(f) => json!({ "floating64": f }),
        DbValue::Str(s) => json!({ "str": s }),
        DbValue::Binary(b) => json!({ "binary": b }),
        DbValue::Date(d) => json!({ "date": [d.0, d.1, d.2] }),
        DbValue::Time(t) => json!({ "time": [t.0, t.1, t.2, t.3] }),
        DbValue::Datetime(t) => json!({ "datetime": [t.0, t.1, t.2, t.3, t.4, t.5, t.6] }),
        DbValue::Timestamp(n) => json!({ "timestamp": n }),
        DbValue::Uuid(u) => json!({ "uuid": u }),
        DbValue::Jsonb(b) => json!({ "jsonb": String::from_utf8_lossy(b) }),
        DbValue::Decimal(d) => json!({ "decimal": d }),
        DbValue::RangeInt32((l, u)) => json!({ "range-int32": [bound_json(l), bound_json(u)] }),
        DbValue::RangeInt64((l, u)) => json!({ "range-int64": [bound_json(l), bound_json(u)] }),
        DbValue::RangeDecimal((l, u)) => {
            json!({ "range-decimal": [bound_json(l), bound_json(u)] })
        }
        DbValue::ArrayInt32(a) => json!({ "array-int32": a }),
        DbValue::ArrayInt64(a) => json!({ "array-int64": a }),
        DbValue::ArrayDecimal(a) => json!({ "array-decimal": a }),
        DbValue::ArrayStr(a) => json!({ "array-str": a }),
        DbValue::Interval(i) => {
            json!({ "interval": { "micros": i.micros, "days": i.days, "months": i.months } })
        }
        DbValue::DbNull => json!({ "db-null": null }),
        DbValue::Unsupported(b) => json!({ "unsupported": b }),
    }
}
