//! Conformance of devhost's `spin:postgres/postgres@4.0.0` against Spin's semantics, through
//! the real binary, the conformance component (`/pg/...`) and the real PostgreSQL on
//! 127.0.0.1:5432 (user `postgres`, database `test`, trust auth).
//! Each test uses its own table names, so tests can run in parallel.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const PG_ALLOWED: &str = "postgres://127.0.0.1:5432";

/// devhost running the conformance component with `pg_url` = `url` and only `allowed` hosts.
fn pg_host(allowed: &[&str], url: &str) -> DevHost {
    let allowed: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
    DevHost::start(&conformance_manifest(&format!(
        "allowed_outbound_hosts = [{}]\nvariables = {{ pg_url = {url:?} }}",
        allowed.join(", ")
    )))
}

fn local_pg() -> DevHost {
    pg_host(&[PG_ALLOWED], PG_URL)
}

/// A table name no other test (or test process) uses.
fn table(name: &str) -> String {
    format!("devhost_pg_{name}_{}", std::process::id())
}

/// A table name of [`table`], dropped first in case an interrupted run left it behind.
fn fresh_table(host: &DevHost, name: &str) -> String {
    let t = table(name);
    let outcome = script(host, &format!("DROP TABLE IF EXISTS {t}"));
    assert_eq!(outcome["error"], Value::Null, "{outcome:#}");
    t
}

/// Runs each line of `script` as one statement on one connection (see the component's
/// `/pg/script`); answers `{"results": [...], "error": ...}`.
fn script(host: &DevHost, script: &str) -> Value {
    let resp = host.post("/pg/script", script.to_string());
    assert_eq!(resp.status(), 200, "a returned error, not a trap");
    resp.json().unwrap()
}

/// The rows of the last result of a script that must succeed.
fn last_rows(outcome: &Value) -> Value {
    assert_eq!(outcome["error"], Value::Null, "{outcome:#}");
    outcome["results"].as_array().unwrap().last().unwrap()["rows"].clone()
}

fn column_types(result: &Value) -> Vec<(String, String)> {
    result["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap().to_string();
            (name, c["type"].as_str().unwrap().to_string())
        })
        .collect()
}

const ROUND_TRIP_TYPES: &[(&str, &str)] = &[
    ("id", "int32"),
    ("b", "boolean"),
    ("c", "int32"),
    ("i2", "int16"),
    ("i4", "int32"),
    ("i8", "int64"),
    ("f4", "floating32"),
    ("f8", "floating64"),
    ("t", "str"),
    ("vc", "str"),
    ("bp", "str"),
    ("nm", "str"),
    ("by", "binary"),
    ("d", "date"),
    ("tm", "time"),
    ("ts", "datetime"),
    ("tstz", "datetime"),
    ("u", "uuid"),
    ("jb", "jsonb"),
    ("js", "jsonb"),
    ("n", "decimal"),
    ("r4", "range-int32"),
    ("r8", "range-int64"),
    ("rn", "range-decimal"),
    ("a4", "array-int32"),
    ("a8", "array-int64"),
    ("an", "array-decimal"),
    ("at", "array-str"),
    ("iv", "interval"),
];

/// Inserts the component's three rows (typical, edge, all NULL) through parameters and
/// returns what reading them back gave.
fn round_trip(host: &DevHost, name: &str) -> Value {
    let body = host.get_json(&format!("/pg/types?table={}", table(name)));
    assert_eq!(body.get("error"), None, "{body:#}");
    assert_eq!(body["inserted"], 3);
    let result = &body["result"];
    let expected: Vec<(String, String)> = ROUND_TRIP_TYPES
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    assert_eq!(column_types(result), expected);
    result["rows"].clone()
}

fn assert_row(actual: &Value, expected: &[Value]) {
    let actual = actual.as_array().unwrap();
    assert_eq!(actual.len(), expected.len());
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert_eq!(a, e, "column {} ({})", i, ROUND_TRIP_TYPES[i].0);
    }
}

#[test]
fn every_type_round_trips_through_parameters() {
    let host = local_pg();
    let rows = round_trip(&host, "types");
    assert_row(
        &rows[0],
        &[
            json!({ "int32": 1 }),
            json!({ "boolean": true }),
            json!({ "int32": -5 }),
            json!({ "int16": -12345 }),
            json!({ "int32": 2_000_000_000 }),
            json!({ "int64": -9_000_000_000_000i64 }),
            json!({ "floating32": 1.5 }),
            json!({ "floating64": -2.25e100 }),
            json!({ "str": "héllo \"wörld\"\n" }),
            json!({ "str": "varchar" }),
            // char(5) pads with blanks.
            json!({ "str": "ab   " }),
            json!({ "str": "a_name" }),
            json!({ "binary": [0, 1, 254, 255] }),
            json!({ "date": [2024, 2, 29] }),
            json!({ "time": [23, 59, 58, 123_456_000] }),
            json!({ "datetime": [2024, 2, 29, 12, 34, 56, 789_000_000] }),
            // timestamp(1700000000) is Unix seconds, read back as a UTC datetime.
            json!({ "datetime": [2023, 11, 14, 22, 13, 20, 0] }),
            json!({ "uuid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" }),
            json!({ "jsonb": r#"{"a":[1,2,{"b":null}]}"# }),
            json!({ "jsonb": r#"{"k":"v"}"# }),
            json!({ "decimal": "12345.6789" }),
            json!({ "range-int32": [[1, "inclusive"], [10, "exclusive"]] }),
            // (5,9] is normalised to [6,10) for a discrete range.
            json!({ "range-int64": [[6, "inclusive"], [10, "exclusive"]] }),
            json!({ "range-decimal": [["1.5", "exclusive"], ["2.25", "inclusive"]] }),
            json!({ "array-int32": [1, null, -3] }),
            json!({ "array-int64": [i64::MAX, null] }),
            json!({ "array-decimal": ["1.10", null, "-0.5"] }),
            json!({ "array-str": ["a", null, "c,d"] }),
            json!({ "interval": { "micros": 3_723_000_004i64, "days": 4, "months": 14 } }),
        ],
    );
}

#[test]
fn edge_values_round_trip_through_parameters() {
    let host = local_pg();
    let rows = round_trip(&host, "edges");
    assert_row(
        &rows[1],
        &[
            json!({ "int32": 2 }),
            json!({ "boolean": false }),
            json!({ "int32": 127 }),
            json!({ "int16": i16::MIN }),
            json!({ "int32": i32::MIN }),
            json!({ "int64": i64::MIN }),
            json!({ "floating32": -0.0 }),
            json!({ "floating64": f64::MAX }),
            json!({ "str": "" }),
            json!({ "str": "\u{1F600}" }),
            json!({ "str": "abcde" }),
            json!({ "str": "" }),
            json!({ "binary": [] }),
            // 45 BC in the proleptic Gregorian calendar (astronomical year -44).
            json!({ "date": [-44, 3, 15] }),
            json!({ "time": [0, 0, 0, 0] }),
            json!({ "datetime": [1969, 12, 31, 23, 59, 59, 999_999_000] }),
            json!({ "datetime": [1969, 12, 31, 23, 59, 59, 0] }),
            json!({ "uuid": "00000000-0000-0000-0000-000000000000" }),
            json!({ "jsonb": "[]" }),
            // A JSON null is a value, not an SQL NULL.
            json!({ "jsonb": "null" }),
            json!({ "decimal": "-0.000000000000000000000000001" }),
            json!({ "range-int32": [null, null] }),
            json!({ "range-int64": [null, [0, "exclusive"]] }),
            json!({ "range-decimal": [["0", "inclusive"], null] }),
            json!({ "array-int32": [] }),
            json!({ "array-int64": [null] }),
            json!({ "array-decimal": [] }),
            json!({ "array-str": [""] }),
            json!({ "interval": { "micros": -1, "days": -2, "months": -3 } }),
        ],
    );
}

#[test]
fn null_parameters_of_every_type_read_back_as_db_null() {
    let host = local_pg();
    let rows = round_trip(&host, "nulls");
    let mut expected = vec![json!({ "int32": 3 })];
    expected.extend((1..ROUND_TRIP_TYPES.len()).map(|_| json!({ "db-null": null })));
    assert_row(&rows[2], &expected);
}

#[test]
fn aliased_types_map_as_spin_maps_them() {
    // As in Spin: "char", name and json have no WIT variant of their own.
    let host = local_pg();
    let outcome = script(
        &host,
        "SELECT 'a'::\"char\" AS c, 'nm'::name AS nm, '{\"x\": 1}'::json AS js, \
         ARRAY['x', NULL]::varchar[] AS va, ARRAY['p']::char(2)[] AS ba",
    );
    let result = &outcome["results"][0];
    let types = column_types(result);
    assert_eq!(types[3], ("va".to_string(), "array-str".to_string()));
    assert_eq!(types[4], ("ba".to_string(), "array-str".to_string()));
    for (i, name) in ["c", "nm", "js"].iter().enumerate() {
        assert_eq!(types[i].0, *name);
        assert!(types[i].1.contains("other"), "{name}: {:?}", types[i]);
        assert!(
            result["rows"][0][i].get("unsupported").is_some(),
            "{}",
            result["rows"][0][i]
        );
    }
    assert_eq!(result["rows"][0][3], json!({ "array-str": ["x", null] }));
}

#[test]
fn timestamptz_columns_fail_the_query_as_on_spin() {
    let host = local_pg();
    let outcome = script(&host, "SELECT '2024-01-02 03:04:05+02'::timestamptz AS tz");
    assert!(!outcome["error"].is_null(), "{outcome}");
    // Cast as the message says, and it reads.
    let cast = script(
        &host,
        "SELECT '2024-01-02 03:04:05+02'::timestamptz AT TIME ZONE 'UTC' AS tz",
    );
    assert_eq!(
        cast["results"][0]["rows"][0][0],
        json!({ "datetime": [2024, 1, 2, 1, 4, 5, 0] })
    );
}

#[test]
fn types_without_a_wit_variant_are_unsupported_with_their_raw_bytes() {
    let host = local_pg();
    let outcome = script(
        &host,
        "SELECT '192.168.0.1/24'::inet AS ip, NULL::inet AS no_ip, 42::oid AS o",
    );
    let result = &outcome["results"][0];
    assert_eq!(
        column_types(result),
        [
            ("ip", "other(inet)"),
            ("no_ip", "other(inet)"),
            ("o", "other(oid)")
        ]
        .map(|(n, t)| (n.to_string(), t.to_string()))
    );
    assert_eq!(
        result["rows"][0],
        json!([
            // inet's binary form: family, bits, is_cidr, length, address.
            { "unsupported": [2, 24, 0, 4, 192, 168, 0, 1] },
            { "db-null": null },
            { "unsupported": [0, 0, 0, 42] },
        ])
    );
}

#[test]
fn query_with_no_rows_has_no_columns_as_in_spin() {
    let host = local_pg();
    let outcome = script(&host, "SELECT 1 AS one WHERE false");
    assert_eq!(outcome["results"][0], json!({ "columns": [], "rows": [] }));
}

#[test]
fn execute_returns_the_number_of_rows_affected() {
    let host = local_pg();
    let t = fresh_table(&host, "affected");
    let outcome = script(
        &host,
        &format!(
            "CREATE TABLE {t} (id int4)\n\
             INSERT INTO {t} VALUES (1), (2), (3)\n\
             UPDATE {t} SET id = id + 10 WHERE id > 1\n\
             DELETE FROM {t} RETURNING id\n\
             DROP TABLE {t}"
        ),
    );
    assert_eq!(outcome["error"], Value::Null, "{outcome:#}");
    let results = outcome["results"].as_array().unwrap();
    assert_eq!(results[0]["affected"], 0);
    assert_eq!(results[1]["affected"], 3);
    assert_eq!(results[2]["affected"], 2);
    assert_eq!(
        results[3]["rows"],
        json!([[{ "int32": 1 }], [{ "int32": 12 }], [{ "int32": 13 }]])
    );
}

#[test]
fn missing_table_is_a_structured_db_error_42p01() {
    let host = local_pg();
    let t = fresh_table(&host, "missing");
    let outcome = script(&host, &format!("SELECT * FROM {t}"));
    let error = &outcome["error"];
    assert_eq!(error["kind"], "query-failed", "{outcome:#}");
    let db = &error["db_error"];
    assert_eq!(db["code"], "42P01");
    assert_eq!(db["severity"], "ERROR");
    assert_eq!(db["message"], format!("relation \"{t}\" does not exist"));
    assert_eq!(db["detail"], Value::Null);
    assert!(db["as_text"].as_str().unwrap().contains("42P01"), "{db:#}");
}

#[test]
fn unique_violation_is_a_structured_db_error_with_detail_and_extras() {
    let host = local_pg();
    let t = fresh_table(&host, "unique");
    let outcome = script(
        &host,
        &format!(
            "CREATE TABLE {t} (id int4 PRIMARY KEY)\n\
             INSERT INTO {t} VALUES (1)\n\
             INSERT INTO {t} VALUES (1)\n\
             SELECT 'not reached'"
        ),
    );
    script(&host, &format!("DROP TABLE {t}"));
    assert_eq!(
        outcome["results"].as_array().unwrap().len(),
        2,
        "{outcome:#}"
    );
    let db = &outcome["error"]["db_error"];
    assert_eq!(db["code"], "23505", "{outcome:#}");
    assert_eq!(db["severity"], "ERROR");
    assert_eq!(
        db["message"],
        format!("duplicate key value violates unique constraint \"{t}_pkey\"")
    );
    assert_eq!(db["detail"], "Key (id)=(1) already exists.");
    assert_eq!(db["extras"]["constraint"], format!("{t}_pkey"));
    assert_eq!(db["extras"]["table"], t);
    assert_eq!(db["extras"]["schema"], "public");
}

#[test]
fn invalid_parameter_values_are_bad_parameter() {
    let host = local_pg();
    for kind in ["uuid", "decimal", "date", "time", "jsonb", "range"] {
        let body = host.get_json(&format!("/pg/param-error?kind={kind}"));
        assert_eq!(body["error"]["kind"], "bad-parameter", "{kind}: {body:#}");
    }
    // The control case binds fine.
    let body = host.get_json("/pg/param-error?kind=none");
    assert_eq!(body["result"]["rows"], json!([[{ "int32": 7 }]]));
}

#[test]
fn parameter_unsuited_to_the_statement_is_query_failed_text_as_in_spin() {
    let host = local_pg();
    for kind in ["wrong-type", "missing"] {
        let body = host.get_json(&format!("/pg/param-error?kind={kind}"));
        let error = &body["error"];
        assert_eq!(error["kind"], "query-failed", "{kind}: {body:#}");
        assert!(error["text"].is_string(), "{kind}: {body:#}");
    }
}

#[test]
fn value_the_wit_cannot_hold_is_value_conversion_failed() {
    let host = local_pg();
    for sql in ["SELECT 'NaN'::numeric AS n", "SELECT 'infinity'::date AS d"] {
        let outcome = script(&host, sql);
        let error = &outcome["error"];
        assert_eq!(
            error["kind"], "value-conversion-failed",
            "{sql}: {outcome:#}"
        );
    }
}

#[test]
fn denied_address_is_connection_failed_and_the_host_keeps_serving() {
    // Allowed: another port of the same host, and the same port by another name.
    let host = pg_host(
        &["postgres://127.0.0.1:5433", "postgres://localhost:5432"],
        PG_URL,
    );
    for _ in 0..2 {
        let resp = host.get("/pg/open");
        assert_eq!(resp.status(), 200, "a returned error, not a trap");
        let body: Value = resp.json().unwrap();
        assert_eq!(body["error"]["kind"], "connection-failed", "{body:#}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("postgres://127.0.0.1:5432"), "{message}");
        assert!(
            message.contains("not permitted") && message.contains("not allowed"),
            "{message}"
        );
    }
    assert_eq!(host.post("/echo", "still here").status(), 200);

    // With no allowed_outbound_hosts at all, nothing is allowed.
    let closed = DevHost::start(&conformance_manifest(&format!(
        "variables = {{ pg_url = {PG_URL:?} }}"
    )));
    assert_eq!(
        closed.get_json("/pg/open")["error"]["kind"],
        "connection-failed"
    );
}

#[test]
fn allowed_key_value_address_connects() {
    let host = pg_host(
        &[PG_ALLOWED],
        "host=127.0.0.1 port=5432 user=postgres dbname=test",
    );
    let body = host.get_json("/pg/open");
    assert_eq!(body["ok"], true, "{body:#}");
    assert_eq!(body["result"]["rows"], json!([[{ "int32": 1 }]]));
}

#[test]
fn unreachable_port_is_connection_failed_not_a_trap() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let host = pg_host(
        &[&format!("postgres://127.0.0.1:{port}")],
        &format!("postgres://postgres@127.0.0.1:{port}/test"),
    );
    let resp = host.get("/pg/open");
    assert_eq!(resp.status(), 200, "a returned error, not a trap");
    let body: Value = resp.json().unwrap();
    assert_eq!(body["error"]["kind"], "connection-failed", "{body:#}");
    assert_eq!(host.post("/echo", "still here").status(), 200);
}

#[test]
fn failed_connection_message_does_not_contain_the_password() {
    let host = pg_host(
        &[PG_ALLOWED],
        "postgres://postgres:hunter2secret@127.0.0.1:5432/devhost_no_such_database",
    );
    let body = host.get_json("/pg/open");
    assert_eq!(body["error"]["kind"], "connection-failed", "{body:#}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("devhost_no_such_database"), "{message}");
    assert!(!message.contains("hunter2secret"), "{message}");
}

#[test]
fn connections_are_reused_across_requests_with_their_session_reset() {
    let host = local_pg();
    let first = last_rows(&script(
        &host,
        "SET statement_timeout = '4321ms'\nSELECT pg_backend_pid() AS pid",
    ));
    let first_pid = first[0][0]["int32"].as_i64().unwrap();
    let mut reused = false;
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(100));
        let rows = last_rows(&script(
            &host,
            "SHOW statement_timeout\nSELECT pg_backend_pid() AS pid",
        ));
        let pid = rows[0][0]["int32"].as_i64().unwrap();
        if pid == first_pid {
            reused = true;
            let outcome = script(&host, "SHOW statement_timeout");
            // Another request may have taken the same connection since; both must be reset.
            assert_eq!(last_rows(&outcome)[0][0]["str"], "0");
            break;
        }
    }
    assert!(reused, "no request reused backend {first_pid}");
}

#[test]
fn transaction_left_open_by_a_request_is_rolled_back() {
    let host = local_pg();
    let t = fresh_table(&host, "open_tx");
    let setup = script(
        &host,
        &format!("CREATE TABLE {t} (id int4)\nBEGIN\nINSERT INTO {t} VALUES (1)"),
    );
    assert_eq!(setup["error"], Value::Null, "{setup:#}");
    // The request ended without COMMIT; its connection must not stay idle in transaction.
    let deadline = Instant::now() + Duration::from_secs(10);
    let open = loop {
        let rows = last_rows(&script(
            &host,
            &format!(
                "SELECT count(*) AS n FROM pg_stat_activity \
                 WHERE state LIKE 'idle in transaction%' AND query LIKE 'INSERT INTO {t} %'"
            ),
        ));
        let open = rows[0][0]["int64"].as_i64().unwrap();
        if open == 0 || Instant::now() > deadline {
            break open;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let count = last_rows(&script(&host, &format!("SELECT count(*) AS n FROM {t}")));
    script(&host, &format!("DROP TABLE {t}"));
    assert_eq!(open, 0, "a connection stayed idle in transaction");
    assert_eq!(count[0][0]["int64"], 0);
}

#[test]
fn transaction_left_failed_by_a_request_does_not_reach_the_next_request() {
    let host = local_pg();
    let failed = script(&host, "BEGIN\nSELECT 1 / 0 AS boom");
    assert_eq!(failed["error"]["db_error"]["code"], "22012", "{failed:#}");
    // A pooled connection still in the failed transaction would answer 25P02 here.
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(50));
        let rows = last_rows(&script(&host, "SELECT 1 AS one"));
        assert_eq!(rows, json!([[{ "int32": 1 }]]));
    }
}
