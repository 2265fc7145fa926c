//! Conformance endpoints for `spin:sqlite/sqlite@3.0.0`.
//!
//! `POST /sqlite/run` takes a JSON list of operations and runs them in order in one instance,
//! answering one JSON result per operation, so a test can script several connections
//! (per-connection `last-insert-rowid`, in-memory isolation) and check that an error leaves
//! the instance usable. Operations:
//! `{"op":"open","label":L}` (adds connection number `i`),
//! `{"op":"execute","conn":i,"sql":S,"params":[V...]}`, `{"op":"last_insert_rowid","conn":i}`,
//! `{"op":"changes","conn":i}`. Values are `{"integer":n}`, `{"real":x}`, `{"text":s}`,
//! `{"blob":[bytes]}` or `"null"`; errors are `{"error":"<wit case>","message":...}`.

use serde_json::{Value as Json, json};
use spin_sdk::http::{Request, Response};
use spin_sdk::sqlite3::{Connection, Error, Value};

pub fn handle(req: &Request, rest: &str) -> anyhow::Result<Response> {
    if rest != "run" {
        return Ok(crate::json(
            404,
            json!({ "error": "unknown sqlite endpoint" }),
        ));
    }
    let ops: Vec<Json> = serde_json::from_slice(req.body())?;
    let mut connections: Vec<Connection> = Vec::new();
    let mut results = Vec::with_capacity(ops.len());
    for op in &ops {
        results.push(run(op, &mut connections)?);
    }
    Ok(crate::json(200, json!({ "results": results })))
}

fn run(op: &Json, connections: &mut Vec<Connection>) -> anyhow::Result<Json> {
    let name = op["op"].as_str().unwrap_or_default();
    if name == "open" {
        let label = op["label"].as_str().unwrap_or_default();
        return Ok(match Connection::open(label) {
            Ok(conn) => {
                connections.push(conn);
                json!({ "conn": connections.len() - 1 })
            }
            Err(e) => error(&e),
        });
    }
    let index = op["conn"].as_u64().unwrap_or(0) as usize;
    let conn = connections
        .get(index)
        .ok_or_else(|| anyhow::anyhow!("operation {op} uses connection {index}, not opened"))?;
    Ok(match name {
        "execute" => {
            let sql = op["sql"].as_str().unwrap_or_default();
            let params = op["params"]
                .as_array()
                .map(|ps| ps.iter().map(to_value).collect::<anyhow::Result<Vec<_>>>())
                .transpose()?
                .unwrap_or_default();
            match conn.execute(sql, &params) {
                Ok(result) => json!({
                    "columns": result.columns,
                    "rows": result
                        .rows
                        .iter()
                        .map(|r| r.values.iter().map(from_value).collect::<Vec<_>>())
                        .collect::<Vec<_>>(),
                }),
                Err(e) => error(&e),
            }
        }
        "last_insert_rowid" => json!({ "value": conn.last_insert_rowid() }),
        "changes" => json!({ "value": conn.changes() }),
        other => anyhow::bail!("unknown sqlite operation {other:?}"),
    })
}

fn to_value(v: &Json) -> anyhow::Result<Value> {
    if v == "null" {
        return Ok(Value::Null);
    }
    let (kind, inner) = v
        .as_object()
        .and_then(|o| o.iter().next())
        .ok_or_else(|| anyhow::anyhow!("bad value {v}"))?;
    Ok(match kind.as_str() {
        "integer" => Value::Integer(inner.as_i64().unwrap_or_default()),
        "real" => Value::Real(inner.as_f64().unwrap_or_default()),
        "text" => Value::Text(inner.as_str().unwrap_or_default().to_string()),
        "blob" => Value::Blob(serde_json::from_value(inner.clone())?),
        other => anyhow::bail!("bad value kind {other:?}"),
    })
}

fn from_value(v: &Value) -> Json {
    match v {
        Value::Integer(i) => json!({ "integer": i }),
        Value::Real(r) => json!({ "real": r }),
        Value::Text(t) => json!({ "text": t }),
        Value::Blob(b) => json!({ "blob": b }),
        Value::Null => json!("null"),
    }
}

fn error(e: &Error) -> Json {
    let (kind, message) = match e {
        Error::NoSuchDatabase => ("no-such-database", None),
        Error::AccessDenied => ("access-denied", None),
        Error::InvalidConnection => ("invalid-connection", None),
        Error::DatabaseFull => ("database-full", None),
        Error::Io(m) => ("io", Some(m.as_str())),
    };
    json!({ "error": kind, "message": message })
}
