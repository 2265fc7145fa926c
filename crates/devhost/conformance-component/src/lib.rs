//! The conformance component: a guest built from this repo that exercises each host
//! interface devhost provides, so `crates/devhost/tests/` can check devhost against Spin's
//! semantics over real HTTP. Each first path segment selects an interface; responses are
//! JSON the tests assert on. Not part of the app.

mod kv;
mod pg;
mod redis;
mod sqlite;

use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

fn json(status: u16, value: serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(value.to_string())
        .build()
}

fn query_param(req: &Request, name: &str) -> Option<String> {
    req.query().split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[http_component]
async fn handle(req: Request) -> anyhow::Result<Response> {
    // The component may be mounted under any route; spin-path-info is the part after it.
    let info = req
        .header("spin-path-info")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let trimmed = info.trim_start_matches('/');
    let (section, rest) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    match section {
        "pg" => pg::handle(&req, rest),
        "sqlite" => sqlite::handle(&req, rest),
        "kv" => kv::handle(&req, rest),
        "redis" => redis::handle(&req, rest),
        "" | "headers" => {
            let headers: serde_json::Map<String, serde_json::Value> = req
                .headers()
                .map(|(k, v)| (k.to_string(), v.as_str().unwrap_or("").into()))
                .collect();
            Ok(json(
                200,
                serde_json::json!({ "path": req.path(), "headers": headers }),
            ))
        }
        "vars" => {
            let name = query_param(&req, "name").unwrap_or_default();
            Ok(match spin_sdk::variables::get(&name) {
                Ok(value) => json(200, serde_json::json!({ "value": value })),
                Err(e) => json(200, serde_json::json!({ "error": variable_error(&e) })),
            })
        }
        "env" => {
            let name = query_param(&req, "name").unwrap_or_default();
            Ok(json(
                200,
                serde_json::json!({ "value": std::env::var(&name).ok() }),
            ))
        }
        "files" => {
            let path = query_param(&req, "path").unwrap_or_default();
            let read = std::fs::read_to_string(&path);
            let write = std::fs::write(&path, b"overwritten");
            Ok(json(
                200,
                serde_json::json!({
                    "content": read.as_ref().ok(),
                    "read_error": read.as_ref().err().map(|e| e.to_string()),
                    "write_ok": write.is_ok(),
                }),
            ))
        }
        "http" => {
            let url = query_param(&req, "url").unwrap_or_default();
            let outbound = Request::new(Method::Get, url);
            Ok(match spin_sdk::http::send::<_, Response>(outbound).await {
                Ok(resp) => json(
                    200,
                    serde_json::json!({
                        "status": resp.status(),
                        "body": String::from_utf8_lossy(resp.body()),
                    }),
                ),
                Err(e) => json(200, serde_json::json!({ "error": format!("{e:?}") })),
            })
        }
        "echo" => Ok(json(200, serde_json::json!({ "len": req.body().len() }))),
        "trap" => panic!("conformance: deliberate trap"),
        "spin" => {
            // Burns CPU forever: only the host's time limit ends it.
            let mut x: u64 = 0;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        "grow" => {
            // Asks for far more memory than the host allows.
            let mut chunks: Vec<Vec<u8>> = Vec::new();
            for _ in 0..64 {
                chunks.push(vec![1u8; 64 << 20]);
            }
            Ok(json(200, serde_json::json!({ "chunks": chunks.len() })))
        }
        _ => Ok(json(
            404,
            serde_json::json!({ "error": "unknown section", "section": section }),
        )),
    }
}

fn variable_error(e: &spin_sdk::variables::Error) -> &'static str {
    use spin_sdk::variables::Error;
    match e {
        Error::InvalidName(_) => "invalid-name",
        Error::Undefined(_) => "undefined",
        Error::Provider(_) => "provider",
        Error::Other(_) => "other",
    }
}
