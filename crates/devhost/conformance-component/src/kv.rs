//! Conformance endpoints for `fermyon:spin/key-value@2.0.0`.
//!
//! `POST /kv/run` takes a JSON list of operations and runs them in order in one instance,
//! answering one JSON result per operation: `{"op":"open","label":L}` (adds store number `i`),
//! `{"op":"get"|"exists"|"delete","store":i,"key":K}`, `{"op":"set","store":i,"key":K,
//! "value":[bytes]}`, `{"op":"get_keys","store":i}`. Errors are
//! `{"error":"<wit case>","message":...}`, so a test can check that the instance goes on.

use serde_json::{Value as Json, json};
use spin_sdk::http::{Request, Response};
use spin_sdk::key_value::{Error, Store};

pub fn handle(req: &Request, rest: &str) -> anyhow::Result<Response> {
    if rest != "run" {
        return Ok(crate::json(404, json!({ "error": "unknown kv endpoint" })));
    }
    let ops: Vec<Json> = serde_json::from_slice(req.body())?;
    let mut stores: Vec<Store> = Vec::new();
    let mut results = Vec::with_capacity(ops.len());
    for op in &ops {
        results.push(run(op, &mut stores)?);
    }
    Ok(crate::json(200, json!({ "results": results })))
}

fn run(op: &Json, stores: &mut Vec<Store>) -> anyhow::Result<Json> {
    let name = op["op"].as_str().unwrap_or_default();
    if name == "open" {
        let label = op["label"].as_str().unwrap_or_default();
        return Ok(match Store::open(label) {
            Ok(store) => {
                stores.push(store);
                json!({ "store": stores.len() - 1 })
            }
            Err(e) => error(&e),
        });
    }
    let index = op["store"].as_u64().unwrap_or(0) as usize;
    let store = stores
        .get(index)
        .ok_or_else(|| anyhow::anyhow!("operation {op} uses store {index}, not opened"))?;
    let key = op["key"].as_str().unwrap_or_default();
    let result = match name {
        "get" => store.get(key).map(|v| json!({ "value": v })),
        "set" => {
            let value: Vec<u8> = serde_json::from_value(op["value"].clone())?;
            store.set(key, &value).map(|()| json!({ "ok": true }))
        }
        "delete" => store.delete(key).map(|()| json!({ "ok": true })),
        "exists" => store.exists(key).map(|v| json!({ "value": v })),
        "get_keys" => store.get_keys().map(|v| json!({ "value": v })),
        other => anyhow::bail!("unknown kv operation {other:?}"),
    };
    Ok(result.unwrap_or_else(|e| error(&e)))
}

fn error(e: &Error) -> Json {
    let (kind, message) = match e {
        Error::StoreTableFull => ("store-table-full", None),
        Error::NoSuchStore => ("no-such-store", None),
        Error::AccessDenied => ("access-denied", None),
        Error::Other(m) => ("other", Some(m.as_str())),
    };
    json!({ "error": kind, "message": message })
}
