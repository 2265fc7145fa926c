//! Conformance of devhost's `spin:sqlite/sqlite@3.0.0` against Spin's behaviour (factor-sqlite,
//! sqlite-inproc): every function, value types, labels and access checks, persistence in
//! `.spin/`, `--sqlite`, and errors that never trap. Drives the conformance component's
//! `/sqlite/run` script endpoint through the real binary.

mod common;

use serde_json::{Value, json};

use common::*;

/// Runs a script of operations in one instance and returns one result per operation.
fn run(host: &DevHost, ops: Value) -> Vec<Value> {
    run_ops(host, "sqlite", ops)
}

fn open(label: &str) -> Value {
    json!({ "op": "open", "label": label })
}

fn exec(conn: usize, sql: &str, params: Value) -> Value {
    json!({ "op": "execute", "conn": conn, "sql": sql, "params": params })
}

fn default_db_host() -> DevHost {
    DevHost::start(&conformance_manifest(r#"sqlite_databases = ["default"]"#))
}

/// A runtime config file in its own folder (relative paths resolve against it).
#[test]
fn every_value_type_round_trips_through_parameters_and_rows() {
    let host = default_db_host();
    let r = run(
        &host,
        json!([
            open("default"),
            exec(
                0,
                "CREATE TABLE vals (i INTEGER, r REAL, t TEXT, b BLOB, n TEXT)",
                json!([])
            ),
            exec(
                0,
                "INSERT INTO vals VALUES (?, ?, ?, ?, ?)",
                json!([
                    { "integer": 9007199254740993i64 },
                    { "real": 1.5 },
                    { "text": "héllo ✓" },
                    { "blob": [0, 1, 254, 255] },
                    "null"
                ])
            ),
            exec(0, "SELECT i, r, t, b, n AS absent FROM vals", json!([])),
        ]),
    );
    assert_eq!(r[0], json!({ "conn": 0 }));
    assert_eq!(
        r[3]["columns"],
        json!(["i", "r", "t", "b", "absent"]),
        "{r:?}"
    );
    assert_eq!(
        r[3]["rows"],
        json!([[
            { "integer": 9007199254740993i64 },
            { "real": 1.5 },
            { "text": "héllo ✓" },
            { "blob": [0, 1, 254, 255] },
            "null"
        ]])
    );
}

#[test]
fn statements_without_rows_return_no_columns_and_no_rows() {
    let host = default_db_host();
    let r = run(
        &host,
        json!([
            open("default"),
            exec(0, "CREATE TABLE empty_result (x)", json!([]))
        ]),
    );
    assert_eq!(r[1], json!({ "columns": [], "rows": [] }));
}

#[test]
fn default_database_persists_across_requests_in_the_state_dir() {
    let host = default_db_host();
    run(
        &host,
        json!([
            open("default"),
            exec(0, "CREATE TABLE notes (body TEXT)", json!([])),
            exec(0, "INSERT INTO notes VALUES ('kept')", json!([])),
        ]),
    );
    // A fresh instance serves the next request; the data must come from the file.
    let r = run(
        &host,
        json!([
            open("default"),
            exec(0, "SELECT body FROM notes", json!([]))
        ]),
    );
    assert_eq!(r[1]["rows"], json!([[{ "text": "kept" }]]));
    assert!(host.state_dir().join("sqlite_db.db").is_file());
}

#[test]
fn last_insert_rowid_and_changes_are_per_connection() {
    let host = default_db_host();
    let r = run(
        &host,
        json!([
            open("default"),
            open("default"),
            { "op": "last_insert_rowid", "conn": 1 },
            { "op": "changes", "conn": 1 },
            exec(0, "CREATE TABLE items (id INTEGER PRIMARY KEY, v INTEGER)", json!([])),
            exec(0, "INSERT INTO items (id, v) VALUES (10, 1)", json!([])),
            exec(1, "INSERT INTO items (id, v) VALUES (20, 1)", json!([])),
            { "op": "last_insert_rowid", "conn": 0 },
            { "op": "last_insert_rowid", "conn": 1 },
            exec(0, "UPDATE items SET v = 2", json!([])),
            { "op": "changes", "conn": 0 },
            { "op": "changes", "conn": 1 },
        ]),
    );
    assert_eq!(
        r[2],
        json!({ "value": 0 }),
        "a new connection has no rowid yet"
    );
    assert_eq!(
        r[3],
        json!({ "value": 0 }),
        "a new connection has no changes yet"
    );
    assert_eq!(r[7], json!({ "value": 10 }));
    assert_eq!(r[8], json!({ "value": 20 }));
    assert_eq!(r[10], json!({ "value": 2 }));
    assert_eq!(r[11], json!({ "value": 1 }));
}

#[test]
fn unlisted_databases_are_access_denied_whether_or_not_they_exist() {
    let (_dir, config) =
        runtime_config("[sqlite_database.other]\ntype = \"spin\"\npath = \"other.db\"\n");
    let host = DevHost::start_with(
        &conformance_manifest(r#"sqlite_databases = ["default"]"#),
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
        json!({ "conn": 0 }),
        "the instance goes on after the errors"
    );
}

#[test]
fn a_component_listing_no_databases_cannot_open_default() {
    let host = DevHost::start(&conformance_manifest(""));
    let r = run(&host, json!([open("default")]));
    assert_eq!(r[0]["error"], "access-denied");
}

#[test]
fn a_component_listing_an_unconfigured_database_does_not_start() {
    let err = DevHost::try_start(
        &conformance_manifest(r#"sqlite_databases = ["default", "nowhere"]"#),
        &[],
        &[],
    )
    .err()
    .expect("Spin refuses to start when a listed database is not defined");
    assert!(err.contains("nowhere"), "{err}");
}

#[test]
fn sql_errors_are_io_errors_and_the_host_keeps_serving() {
    let host = default_db_host();
    let r = run(
        &host,
        json!([
            open("default"),
            exec(0, "SELEC nonsense", json!([])),
            exec(0, "SELECT * FROM missing_table", json!([])),
            exec(0, "SELECT ?", json!([])),
            exec(0, "SELECT 1 AS one", json!([])),
        ]),
    );
    assert_eq!(r[1]["error"], "io");
    assert!(
        r[1]["message"].as_str().unwrap().contains("syntax error"),
        "{}",
        r[1]
    );
    assert_eq!(r[2]["error"], "io");
    assert!(
        r[2]["message"].as_str().unwrap().contains("missing_table"),
        "{}",
        r[2]
    );
    assert_eq!(
        r[3]["error"], "io",
        "a missing parameter is an error: {}",
        r[3]
    );
    assert_eq!(r[4]["rows"], json!([[{ "integer": 1 }]]));
    let again = run(
        &host,
        json!([open("default"), exec(0, "SELECT 2 AS two", json!([]))]),
    );
    assert_eq!(again[1]["rows"], json!([[{ "integer": 2 }]]));
}

#[test]
fn runtime_config_labels_use_their_own_files() {
    let (dir, config) =
        runtime_config("[sqlite_database.extra]\ntype = \"spin\"\npath = \"data/extra.db\"\n");
    let host = DevHost::start_with(
        &conformance_manifest(r#"sqlite_databases = ["default", "extra"]"#),
        &[],
        &["--runtime-config-file", &config],
    );
    let r = run(
        &host,
        json!([
            open("extra"),
            open("default"),
            exec(0, "CREATE TABLE only_in_extra (x)", json!([])),
            exec(1, "SELECT * FROM only_in_extra", json!([])),
        ]),
    );
    assert_eq!(r[2], json!({ "columns": [], "rows": [] }));
    assert_eq!(
        r[3]["error"], "io",
        "the default database is another file: {}",
        r[3]
    );
    assert!(dir.path().join("data/extra.db").is_file());
}

#[test]
fn an_in_memory_database_is_private_to_its_connection() {
    // Spin (sqlite-inproc) gives each `open` of a path-less label a new in-memory database.
    let (_dir, config) = runtime_config("[sqlite_database.mem]\ntype = \"spin\"\n");
    let host = DevHost::start_with(
        &conformance_manifest(r#"sqlite_databases = ["mem"]"#),
        &[],
        &["--runtime-config-file", &config],
    );
    let r = run(
        &host,
        json!([
            open("mem"),
            open("mem"),
            exec(0, "CREATE TABLE t (x)", json!([])),
            exec(0, "INSERT INTO t VALUES (1)", json!([])),
            exec(0, "SELECT x FROM t", json!([])),
            exec(1, "SELECT x FROM t", json!([])),
        ]),
    );
    assert_eq!(r[4]["rows"], json!([[{ "integer": 1 }]]));
    assert_eq!(r[5]["error"], "io", "{}", r[5]);
}

#[test]
fn sqlite_flag_with_a_file_runs_its_statements_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("seed.sql");
    std::fs::write(
        &sql,
        "CREATE TABLE seeded (n INTEGER);\nINSERT INTO seeded VALUES (1);\nINSERT INTO seeded VALUES (2);\n",
    )
    .unwrap();
    let arg = format!("@{}", sql.display());
    let host = DevHost::start_with(
        &conformance_manifest(r#"sqlite_databases = ["default"]"#),
        &[],
        &["--sqlite", &arg],
    );
    let r = run(
        &host,
        json!([
            open("default"),
            exec(0, "SELECT SUM(n) AS s FROM seeded", json!([]))
        ]),
    );
    assert_eq!(r[1]["rows"], json!([[{ "integer": 3 }]]));
}

#[test]
fn concurrent_requests_all_write_to_the_same_file() {
    let host = default_db_host();
    run(
        &host,
        json!([
            open("default"),
            exec(0, "CREATE TABLE hits (n INTEGER)", json!([]))
        ]),
    );
    let inserts: Vec<Value> = std::iter::once(open("default"))
        .chain((0..20).map(|i| exec(0, "INSERT INTO hits VALUES (?)", json!([{ "integer": i }]))))
        .collect();
    std::thread::scope(|s| {
        for _ in 0..8 {
            let inserts = Value::Array(inserts.clone());
            let host = &host;
            s.spawn(move || {
                let r = run(host, inserts);
                assert!(r.iter().all(|v| v.get("error").is_none()), "{r:?}");
            });
        }
    });
    let r = run(
        &host,
        json!([
            open("default"),
            exec(0, "SELECT COUNT(*) AS c FROM hits", json!([]))
        ]),
    );
    assert_eq!(r[1]["rows"], json!([[{ "integer": 160 }]]));
}
