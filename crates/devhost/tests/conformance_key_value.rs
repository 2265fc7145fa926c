//! Conformance of devhost's `fermyon:spin/key-value@2.0.0` against Spin's behaviour
//! (factor-key-value, key-value-spin, key-value-redis): every function, binary values, labels
//! and access checks, persistence in Spin's own SQLite layout, a Redis-backed store from a
//! runtime config file, and errors that never trap. Drives the conformance component's
//! `/kv/run` script endpoint through the real binary; Redis runs at 127.0.0.1:6379.

mod common;

use serde_json::{Value, json};

use common::*;

const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// Runs a script of operations in one instance and returns one result per operation.
fn run(host: &DevHost, ops: Value) -> Vec<Value> {
    run_ops(host, "kv", ops)
}

fn open(label: &str) -> Value {
    json!({ "op": "open", "label": label })
}

fn op(name: &str, key: &str) -> Value {
    json!({ "op": name, "store": 0, "key": key })
}

fn set(key: &str, value: &[u8]) -> Value {
    json!({ "op": "set", "store": 0, "key": key, "value": value })
}

/// A key no other test (or earlier run) uses, for the shared Redis server.
fn unique_key(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("devhost-test:kv:{test}:{}:{nanos}", std::process::id())
}

/// A runtime config file in its own folder (relative paths resolve against it).
fn redis_store_host(url: &str) -> (tempfile::TempDir, DevHost) {
    let (dir, config) = runtime_config(&format!(
        "[key_value_store.cache]\ntype = \"redis\"\nurl = \"{url}\"\n"
    ));
    let host = DevHost::start_with(
        &conformance_manifest(r#"key_value_stores = ["cache"]"#),
        &[],
        &["--runtime-config-file", &config],
    );
    (dir, host)
}

#[test]
fn every_function_works_on_the_default_store_with_binary_values() {
    let host = DevHost::start(&conformance_manifest(r#"key_value_stores = ["default"]"#));
    let all_bytes: Vec<u8> = (0..=255).collect();
    let r = run(
        &host,
        json!([
            open("default"),
            op("get", "k"),
            op("exists", "k"),
            set("k", &all_bytes),
            op("get", "k"),
            op("exists", "k"),
            set("k", b"second"),
            op("get", "k"),
            set("other", b""),
            op("get_keys", ""),
            op("delete", "k"),
            op("delete", "k"),
            op("get", "k"),
            op("exists", "k"),
            op("get", "other"),
        ]),
    );
    assert_eq!(r[0], json!({ "store": 0 }));
    assert_eq!(
        r[1],
        json!({ "value": null }),
        "a missing key is none, not an error"
    );
    assert_eq!(r[2], json!({ "value": false }));
    assert_eq!(r[4], json!({ "value": all_bytes }));
    assert_eq!(r[5], json!({ "value": true }));
    assert_eq!(r[7], json!({ "value": b"second" }), "set overwrites");
    let mut keys: Vec<String> = serde_json::from_value(r[9]["value"].clone()).unwrap();
    keys.sort();
    assert_eq!(keys, ["k", "other"]);
    assert_eq!(r[10], json!({ "ok": true }));
    assert_eq!(
        r[11],
        json!({ "ok": true }),
        "deleting a missing key is not an error"
    );
    assert_eq!(r[12], json!({ "value": null }));
    assert_eq!(r[13], json!({ "value": false }));
    assert_eq!(r[14], json!({ "value": [] }), "an empty value is kept");
}

#[test]
fn default_store_persists_across_requests_in_spins_table_layout() {
    let host = DevHost::start(&conformance_manifest(r#"key_value_stores = ["default"]"#));
    run(&host, json!([open("default"), set("greeting", b"hello")]));
    let r = run(&host, json!([open("default"), op("get", "greeting")]));
    assert_eq!(r[1], json!({ "value": b"hello" }));

    // The file is Spin's own `.spin/sqlite_key_value.db`, readable by `spin up`.
    let db = rusqlite::Connection::open(host.state_dir().join("sqlite_key_value.db")).unwrap();
    let value: Vec<u8> = db
        .query_row(
            "SELECT value FROM spin_key_value WHERE store = 'default' AND key = 'greeting'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(value, b"hello");
}

#[test]
fn labels_keep_separate_keys() {
    let (_dir, config) =
        runtime_config("[key_value_store.other]\ntype = \"spin\"\npath = \"kv/other.db\"\n");
    let host = DevHost::start_with(
        &conformance_manifest(r#"key_value_stores = ["default", "other"]"#),
        &[],
        &["--runtime-config-file", &config],
    );
    let r = run(
        &host,
        json!([
            open("default"),
            open("other"),
            set("shared-name", b"in default"),
            { "op": "get", "store": 1, "key": "shared-name" },
            { "op": "get_keys", "store": 1 },
        ]),
    );
    assert_eq!(r[3], json!({ "value": null }));
    assert_eq!(r[4], json!({ "value": [] }));
}

#[test]
fn unlisted_stores_are_access_denied_whether_or_not_they_exist() {
    let (_dir, config) = runtime_config("[key_value_store.other]\ntype = \"spin\"\n");
    let host = DevHost::start_with(
        &conformance_manifest(r#"key_value_stores = ["default"]"#),
        &[],
        &["--runtime-config-file", &config],
    );
    let r = run(
        &host,
        json!([open("other"), open("no-such-label"), open("default")]),
    );
    assert_eq!(r[0]["error"], "access-denied");
    assert_eq!(r[1]["error"], "access-denied");
    assert_eq!(
        r[2],
        json!({ "store": 0 }),
        "the instance goes on after the errors"
    );
}

#[test]
fn a_component_listing_no_stores_cannot_open_default() {
    let host = DevHost::start(&conformance_manifest(""));
    let r = run(&host, json!([open("default")]));
    assert_eq!(r[0]["error"], "access-denied");
}

#[test]
fn a_component_listing_an_unconfigured_store_does_not_start() {
    let err = DevHost::try_start(
        &conformance_manifest(r#"key_value_stores = ["default", "nowhere"]"#),
        &[],
        &[],
    )
    .err()
    .expect("Spin refuses to start when a listed store is not defined");
    assert!(err.contains("nowhere"), "{err}");
}

#[test]
fn a_redis_store_from_the_runtime_config_keeps_values_in_redis() {
    let (_dir, host) = redis_store_host(REDIS_URL);
    let key = unique_key("redis-store");
    let r = run(
        &host,
        json!([
            open("cache"),
            set(&key, b"\x00in redis\xff"),
            op("get", &key),
            op("exists", &key),
            op("get_keys", ""),
        ]),
    );
    assert_eq!(r[1], json!({ "ok": true }), "{r:?}");
    assert_eq!(r[2], json!({ "value": b"\x00in redis\xff" }));
    assert_eq!(r[3], json!({ "value": true }));
    let keys: Vec<String> = serde_json::from_value(r[4]["value"].clone()).unwrap();
    assert!(keys.contains(&key), "get-keys lists the Redis keys");

    // Spin stores the key as is: another Redis client sees it under the same name.
    let mut redis = redis::Client::open(REDIS_URL)
        .unwrap()
        .get_connection()
        .unwrap();
    let stored: Option<Vec<u8>> = redis::cmd("GET").arg(&key).query(&mut redis).unwrap();
    assert_eq!(stored.as_deref(), Some(&b"\x00in redis\xff"[..]));

    let r = run(
        &host,
        json!([open("cache"), op("delete", &key), op("exists", &key)]),
    );
    assert_eq!(r[2], json!({ "value": false }));
    let stored: Option<Vec<u8>> = redis::cmd("GET").arg(&key).query(&mut redis).unwrap();
    assert_eq!(stored, None);
}

#[test]
fn an_unreachable_redis_store_is_an_other_error_and_the_host_keeps_serving() {
    let (_dir, host) = redis_store_host("redis://127.0.0.1:1");
    let r = run(&host, json!([open("cache")]));
    assert_eq!(r[0]["error"], "other", "{r:?}");
    let r = run(&host, json!([open("cache")]));
    assert_eq!(
        r[0]["error"], "other",
        "a second request is served too: {r:?}"
    );
}
