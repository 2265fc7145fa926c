//! Conformance of devhost's `fermyon:spin/redis@2.0.0` against Spin's behaviour
//! (factor-outbound-redis): every function, binary payloads, `execute` arguments and reply
//! flattening, `allowed_outbound_hosts` enforcement, and errors that never trap. Drives the
//! conformance component's `/redis/run` script endpoint through the real binary against the
//! Redis server at 127.0.0.1:6379; every test uses its own key prefix.

mod common;

use std::time::Duration;

use serde_json::{Value, json};

use common::*;

const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The conformance component with `redis_url` as a component variable and `allowed` as its
/// `allowed_outbound_hosts`.
fn manifest(redis_url: &str, allowed: &[&str]) -> String {
    let allowed: Vec<String> = allowed.iter().map(|h| format!("{h:?}")).collect();
    conformance_manifest(&format!(
        r#"allowed_outbound_hosts = [{}]
[component.conformance.variables]
redis_url = "{{{{ redis_url }}}}"
[variables]
redis_url = {{ default = "{redis_url}" }}
"#,
        allowed.join(", ")
    ))
}

fn allowed_host() -> DevHost {
    DevHost::start(&manifest(REDIS_URL, &["redis://127.0.0.1:6379"]))
}

/// Runs a script of operations in one instance and returns one result per operation.
fn run(host: &DevHost, ops: Value) -> Vec<Value> {
    run_ops(host, "redis", ops)
}

fn open() -> Value {
    json!({ "op": "open" })
}

/// A key prefix no other test (or earlier run) uses on the shared server.
fn prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("devhost-test:redis:{test}:{}:{nanos}", std::process::id())
}

fn direct() -> redis::Connection {
    redis::Client::open(REDIS_URL)
        .unwrap()
        .get_connection()
        .unwrap()
}

#[test]
fn get_set_and_del_round_trip_binary_values() {
    let host = allowed_host();
    let p = prefix("get-set");
    let (k, missing) = (format!("{p}:k"), format!("{p}:missing"));
    let all_bytes: Vec<u8> = (0..=255).collect();
    let r = run(
        &host,
        json!([
            open(),
            { "op": "get", "key": missing },
            { "op": "set", "key": k, "value": all_bytes },
            { "op": "get", "key": k },
            { "op": "del", "keys": [k, missing] },
            { "op": "get", "key": k },
        ]),
    );
    assert_eq!(r[0], json!({ "conn": 0 }));
    assert_eq!(
        r[1],
        json!({ "value": null }),
        "a missing key is none, not an error"
    );
    assert_eq!(r[2], json!({ "ok": true }));
    assert_eq!(r[3], json!({ "value": all_bytes }));
    assert_eq!(
        r[4],
        json!({ "value": 1 }),
        "del counts only keys that existed"
    );
    assert_eq!(r[5], json!({ "value": null }));
}

#[test]
fn values_set_in_one_request_are_read_by_the_next_and_by_other_clients() {
    let host = allowed_host();
    let k = format!("{}:k", prefix("persist"));
    run(
        &host,
        json!([open(), { "op": "set", "key": k, "value": b"kept" }]),
    );
    let r = run(&host, json!([open(), { "op": "get", "key": k }]));
    assert_eq!(r[1], json!({ "value": b"kept" }));
    let stored: Vec<u8> = redis::cmd("GET").arg(&k).query(&mut direct()).unwrap();
    assert_eq!(stored, b"kept");
}

#[test]
fn incr_counts_from_zero_and_a_non_integer_is_an_error_not_a_trap() {
    let host = allowed_host();
    let p = prefix("incr");
    let (n, text) = (format!("{p}:n"), format!("{p}:text"));
    let r = run(
        &host,
        json!([
            open(),
            { "op": "incr", "key": n },
            { "op": "incr", "key": n },
            { "op": "set", "key": text, "value": b"abc" },
            { "op": "incr", "key": text },
            { "op": "incr", "key": n },
        ]),
    );
    assert_eq!(r[1], json!({ "value": 1 }));
    assert_eq!(r[2], json!({ "value": 2 }));
    // Spin maps the server's reply to `other` with its message (not `type-error`).
    assert_eq!(r[4]["error"], "other", "{}", r[4]);
    assert!(
        r[4]["message"].as_str().unwrap().contains("not an integer"),
        "{}",
        r[4]
    );
    assert_eq!(
        r[5],
        json!({ "value": 3 }),
        "the connection goes on after the error"
    );
}

#[test]
fn set_commands_add_list_and_remove_members() {
    let host = allowed_host();
    let s = format!("{}:set", prefix("sets"));
    let r = run(
        &host,
        json!([
            open(),
            { "op": "sadd", "key": s, "values": ["a", "b", "a"] },
            { "op": "sadd", "key": s, "values": ["b", "c"] },
            { "op": "smembers", "key": s },
            { "op": "srem", "key": s, "values": ["a", "zzz"] },
            { "op": "smembers", "key": s },
            { "op": "smembers", "key": format!("{s}:missing") },
        ]),
    );
    assert_eq!(r[1], json!({ "value": 2 }));
    assert_eq!(r[2], json!({ "value": 1 }));
    let mut members: Vec<String> = serde_json::from_value(r[3]["value"].clone()).unwrap();
    members.sort();
    assert_eq!(members, ["a", "b", "c"]);
    assert_eq!(r[4], json!({ "value": 1 }));
    let mut members: Vec<String> = serde_json::from_value(r[5]["value"].clone()).unwrap();
    members.sort();
    assert_eq!(members, ["b", "c"]);
    assert_eq!(r[6], json!({ "value": [] }));
}

#[test]
fn execute_passes_int_and_binary_arguments_and_maps_each_reply_type() {
    let host = allowed_host();
    let p = prefix("execute");
    let (k, n) = (format!("{p}:k"), format!("{p}:n"));
    let bin = |s: &str| json!({ "binary": s.as_bytes() });
    let r = run(
        &host,
        json!([
            open(),
            { "op": "execute", "command": "SET", "args": [bin(&k), { "binary": [0, 255] }] },
            { "op": "execute", "command": "GET", "args": [bin(&k)] },
            { "op": "execute", "command": "INCRBY", "args": [bin(&n), { "int64": -5 }] },
            { "op": "execute", "command": "GET", "args": [bin(&format!("{p}:missing"))] },
            { "op": "execute", "command": "PING", "args": [] },
        ]),
    );
    assert_eq!(r[1], json!({ "value": [{ "status": "OK" }] }));
    assert_eq!(r[2], json!({ "value": [{ "binary": [0, 255] }] }));
    assert_eq!(r[3], json!({ "value": [{ "int64": -5 }] }));
    assert_eq!(r[4], json!({ "value": [{ "nil": null }] }));
    assert_eq!(r[5], json!({ "value": [{ "status": "PONG" }] }));
}

#[test]
fn execute_flattens_nested_array_replies_in_order() {
    let host = allowed_host();
    let r = run(
        &host,
        json!([
            open(),
            {
                "op": "execute",
                "command": "EVAL",
                "args": [{ "binary": b"return {1, {2, 'x'}, 'y'}" }, { "int64": 0 }]
            },
        ]),
    );
    assert_eq!(
        r[1],
        json!({ "value": [
            { "int64": 1 },
            { "int64": 2 },
            { "binary": b"x" },
            { "binary": b"y" }
        ] })
    );
}

#[test]
fn command_errors_are_other_errors_and_the_host_keeps_serving() {
    let host = allowed_host();
    let s = format!("{}:set", prefix("errors"));
    let r = run(
        &host,
        json!([
            open(),
            { "op": "sadd", "key": s, "values": ["m"] },
            { "op": "get", "key": s },
            { "op": "execute", "command": "NOSUCHCOMMAND", "args": [] },
            { "op": "smembers", "key": s },
        ]),
    );
    assert_eq!(r[2]["error"], "other", "GET on a set: {}", r[2]);
    assert_eq!(r[3]["error"], "other", "{}", r[3]);
    assert_eq!(r[4], json!({ "value": ["m"] }));
    let r = run(&host, json!([open(), { "op": "smembers", "key": s }]));
    assert_eq!(r[1], json!({ "value": ["m"] }));
}

#[test]
fn publish_delivers_the_payload_to_subscribers() {
    let host = allowed_host();
    let channel = prefix("publish");
    let mut conn = direct();
    let mut pubsub = conn.as_pubsub();
    pubsub.subscribe(&channel).unwrap();
    pubsub
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let r = run(
        &host,
        json!([open(), { "op": "publish", "channel": channel, "payload": b"\x00hello\xff" }]),
    );
    assert_eq!(r[1], json!({ "ok": true }));
    let message = pubsub.get_message().unwrap();
    assert_eq!(message.get_channel_name(), channel);
    assert_eq!(message.get_payload_bytes(), b"\x00hello\xff");
}

#[test]
fn an_address_not_in_allowed_outbound_hosts_is_invalid_address() {
    let host = DevHost::start(&manifest(REDIS_URL, &["redis://example.com"]));
    let r = run(&host, json!([open(), open()]));
    assert_eq!(r[0], json!({ "error": "invalid-address", "message": null }));
    assert_eq!(r[1]["error"], "invalid-address");
    let r = run(&host, json!([open()]));
    assert_eq!(r[0]["error"], "invalid-address", "the host keeps serving");
}

#[test]
fn a_component_without_allowed_outbound_hosts_cannot_open_redis() {
    let host = DevHost::start(&manifest(REDIS_URL, &[]));
    let r = run(&host, json!([open()]));
    assert_eq!(r[0]["error"], "invalid-address");
}

#[test]
fn an_unparsable_address_is_invalid_address() {
    let host = DevHost::start(&manifest(REDIS_URL, &["*://*:*"]));
    let r = run(
        &host,
        json!([{ "op": "open", "address": "not a redis address" }, open()]),
    );
    assert_eq!(r[0]["error"], "invalid-address");
    assert_eq!(
        r[1],
        json!({ "conn": 0 }),
        "a wildcard allow-list still lets real addresses through"
    );
}

#[test]
fn an_unreachable_server_is_an_other_error() {
    let host = DevHost::start(&manifest("redis://127.0.0.1:1", &["redis://127.0.0.1:1"]));
    let r = run(&host, json!([open()]));
    assert_eq!(r[0]["error"], "other", "{r:?}");
    assert!(r[0]["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[test]
fn a_connection_dropped_by_the_server_is_reopened_by_a_later_request() {
    let host = allowed_host();
    let k = format!("{}:k", prefix("reconnect"));
    let r = run(
        &host,
        json!([open(), { "op": "execute", "command": "CLIENT", "args": [{ "binary": b"ID" }] }]),
    );
    let id = r[1]["value"][0]["int64"].as_i64().unwrap();
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query(&mut direct())
        .unwrap();
    assert_eq!(killed, 1);
    // The first use after the drop may fail; the one after must work again.
    run(&host, json!([open(), { "op": "get", "key": k }]));
    let r = run(
        &host,
        json!([open(), { "op": "set", "key": k, "value": b"back" }, { "op": "get", "key": k }]),
    );
    assert_eq!(r[2], json!({ "value": b"back" }), "{r:?}");
}
