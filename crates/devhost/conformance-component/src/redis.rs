//! Conformance endpoints for `fermyon:spin/redis@2.0.0`.
//!
//! `POST /redis/run` takes a JSON list of operations and runs them in order in one instance,
//! answering one JSON result per operation. `{"op":"open"}` connects to the component
//! variable `redis_url` (or `"address"` if given) and adds connection number `i`; the others
//! take `"conn":i` and mirror the WIT functions: `publish` (`channel`, `payload`), `get`,
//! `set` (`key`, `value`), `incr`, `del` (`keys`), `sadd`/`srem` (`key`, `values`),
//! `smembers`, `execute` (`command`, `args`: `{"int64":n}` or `{"binary":[bytes]}`).
//! Byte strings are JSON arrays of numbers; errors are `{"error":"<wit case>","message":...}`.

use serde_json::{Value as Json, json};
use spin_sdk::http::{Request, Response};
use spin_sdk::redis::{Connection, Error, RedisParameter, RedisResult};

pub fn handle(req: &Request, rest: &str) -> anyhow::Result<Response> {
    if rest != "run" {
        return Ok(crate::json(
            404,
            json!({ "error": "unknown redis endpoint" }),
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

fn strings(v: &Json) -> anyhow::Result<Vec<String>> {
    Ok(serde_json::from_value(v.clone())?)
}

fn bytes(v: &Json) -> anyhow::Result<Vec<u8>> {
    Ok(serde_json::from_value(v.clone())?)
}

fn run(op: &Json, connections: &mut Vec<Connection>) -> anyhow::Result<Json> {
    let name = op["op"].as_str().unwrap_or_default();
    if name == "open" {
        let address = match op["address"].as_str() {
            Some(a) => a.to_string(),
            None => spin_sdk::variables::get("redis_url")?,
        };
        return Ok(match Connection::open(&address) {
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
    let key = op["key"].as_str().unwrap_or_default();
    let result = match name {
        "publish" => {
            let channel = op["channel"].as_str().unwrap_or_default();
            conn.publish(channel, &bytes(&op["payload"])?)
                .map(|()| json!({ "ok": true }))
        }
        "get" => conn.get(key).map(|v| json!({ "value": v })),
        "set" => conn
            .set(key, &bytes(&op["value"])?)
            .map(|()| json!({ "ok": true })),
        "incr" => conn.incr(key).map(|v| json!({ "value": v })),
        "del" => conn
            .del(&strings(&op["keys"])?)
            .map(|v| json!({ "value": v })),
        "sadd" => conn
            .sadd(key, &strings(&op["values"])?)
            .map(|v| json!({ "value": v })),
        "srem" => conn
            .srem(key, &strings(&op["values"])?)
            .map(|v| json!({ "value": v })),
        "smembers" => conn.smembers(key).map(|v| json!({ "value": v })),
        "execute" => {
            let command = op["command"].as_str().unwrap_or_default();
            let args = op["args"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(to_parameter)
                        .collect::<anyhow::Result<Vec<_>>>()
                })
                .transpose()?
                .unwrap_or_default();
            conn.execute(command, &args).map(
                |results| json!({ "value": results.iter().map(from_result).collect::<Vec<_>>() }),
            )
        }
        other => anyhow::bail!("unknown redis operation {other:?}"),
    };
    Ok(result.unwrap_or_else(|e| error(&e)))
}

fn to_parameter(v: &Json) -> anyhow::Result<RedisParameter> {
    if let Some(n) = v.get("int64") {
        return Ok(RedisParameter::Int64(n.as_i64().unwrap_or_default()));
    }
    Ok(RedisParameter::Binary(bytes(&v["binary"])?))
}

fn from_result(r: &RedisResult) -> Json {
    match r {
        RedisResult::Nil => json!({ "nil": null }),
        RedisResult::Status(s) => json!({ "status": s }),
        RedisResult::Int64(n) => json!({ "int64": n }),
        RedisResult::Binary(b) => json!({ "binary": b }),
    }
}

fn error(e: &Error) -> Json {
    let (kind, message) = match e {
        Error::InvalidAddress => ("invalid-address", None),
        Error::TooManyConnections => ("too-many-connections", None),
        Error::TypeError => ("type-error", None),
        Error::Other(m) => ("other", Some(m.as_str())),
    };
    json!({ "error": kind, "message": message })
}
