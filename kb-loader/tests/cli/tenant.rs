//! `kb-loader tenant add` and `tenant list` on both backends.

use crate::migrate::on_both_backends;
use crate::support::{TestDb, kb_loader};

on_both_backends!(
    added_tenants_are_listed_with_their_widget_keys,
    adding_an_existing_tenant_fails_unless_if_missing,
    a_widget_key_of_another_tenant_is_refused,
    tenant_commands_before_migrate_say_to_migrate,
    webhooks_to_private_hosts_are_refused_unless_allowed,
);

fn migrated(db: &TestDb) -> String {
    let url = db.url();
    kb_loader(&["migrate", "--db-url", &url]).success();
    url
}

fn added_tenants_are_listed_with_their_widget_keys(db: &TestDb) {
    let url = migrated(db);
    let generated = kb_loader(&[
        "tenant", "add", "--db-url", &url, "--id", "acme", "--name", "Acme Inc",
    ])
    .success();
    let generated = generated.trim_end();
    assert!(
        generated.starts_with("wk_") && generated.len() > 20,
        "{generated}"
    );
    let given = kb_loader(&[
        "tenant",
        "add",
        "--db-url",
        &url,
        "--id",
        "demo",
        "--name",
        "Demo Company",
        "--widget-key",
        "wk_demo",
    ])
    .success();
    assert_eq!(given, "wk_demo\n");

    let table = kb_loader(&["tenant", "list", "--db-url", &url]).success();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[1].starts_with("acme") && lines[1].contains(generated),
        "{table}"
    );
    assert!(
        lines[2].contains("Demo Company") && lines[2].contains("wk_demo"),
        "{table}"
    );

    let json = kb_loader(&["tenant", "list", "--db-url", &url, "--json"]).success();
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json[1]["id"], "demo");
    assert_eq!(json[1]["widget_key"], "wk_demo");
    assert_eq!(json[1]["settings"], serde_json::json!({}));
    assert!(
        json[1]["created_at"].as_i64().unwrap() > 1_700_000_000_000,
        "Unix ms"
    );
    assert_eq!(
        db.scalar("SELECT settings FROM tenants WHERE id = 'demo'")
            .as_deref(),
        Some("{}")
    );
}

fn adding_an_existing_tenant_fails_unless_if_missing(db: &TestDb) {
    let url = migrated(db);
    let add = |extra: &[&str]| {
        let mut args = vec![
            "tenant", "add", "--db-url", &url, "--id", "demo", "--name", "Demo",
        ];
        args.extend_from_slice(extra);
        kb_loader(&args)
    };
    add(&["--widget-key", "wk_demo"]).success();
    let err = add(&["--widget-key", "wk_other"]).failure();
    assert!(
        err.contains("demo") && err.contains("--if-missing"),
        "{err}"
    );
    // A no-op that prints the existing key, as `make run` relies on.
    let out = add(&["--widget-key", "wk_other", "--if-missing"]).success();
    assert_eq!(out, "wk_demo\n");
    assert_eq!(
        db.scalar("SELECT widget_key FROM tenants WHERE id = 'demo'")
            .as_deref(),
        Some("wk_demo")
    );
    assert_eq!(
        db.scalar("SELECT CAST(count(*) AS BIGINT) FROM tenants")
            .as_deref(),
        Some("1")
    );
}

fn a_widget_key_of_another_tenant_is_refused(db: &TestDb) {
    let url = migrated(db);
    let add = |id: &str| {
        kb_loader(&[
            "tenant",
            "add",
            "--db-url",
            &url,
            "--id",
            id,
            "--name",
            id,
            "--widget-key",
            "wk_same",
        ])
    };
    add("first").success();
    let err = add("second").failure();
    assert!(err.contains("widget key"), "{err}");
    assert_eq!(
        db.scalar("SELECT CAST(count(*) AS BIGINT) FROM tenants")
            .as_deref(),
        Some("1")
    );
}

fn tenant_commands_before_migrate_say_to_migrate(db: &TestDb) {
    let url = db.url();
    let err = kb_loader(&["tenant", "list", "--db-url", &url]).failure();
    assert!(err.contains("kb-loader migrate"), "{err}");
    let err = kb_loader(&[
        "tenant", "add", "--db-url", &url, "--id", "a", "--name", "A",
    ])
    .failure();
    assert!(err.contains("kb-loader migrate"), "{err}");
}

fn webhooks_to_private_hosts_are_refused_unless_allowed(db: &TestDb) {
    let url = migrated(db);
    let settings = |hook_url: &str| {
        serde_json::json!({ "handoff": { "webhooks": [
            { "name": "ops", "format": "generic", "url": hook_url, "secret": "whsec-cli" }
        ] } })
        .to_string()
    };
    let add = |id: &str, hook_url: &str, extra: &[&str]| {
        let settings = settings(hook_url);
        let mut args = vec![
            "tenant",
            "add",
            "--db-url",
            &url,
            "--id",
            id,
            "--name",
            id,
            "--settings",
            &settings,
        ];
        args.extend_from_slice(extra);
        kb_loader(&args)
    };
    for (i, hook_url) in [
        "http://127.0.0.1:9000/hooks",
        "http://2130706433/",
        "http://[::ffff:127.0.0.1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "http://localhost:8080/",
    ]
    .iter()
    .enumerate()
    {
        let err = add(&format!("private{i}"), hook_url, &[]).failure();
        assert!(
            err.contains("webhooks[ops]") && err.contains("--allow-private-webhooks"),
            "{hook_url}: {err}"
        );
        assert!(
            !err.contains("whsec-cli"),
            "the secret is in the error: {err}"
        );
    }
    assert_eq!(
        db.scalar("SELECT CAST(count(*) AS BIGINT) FROM tenants")
            .as_deref(),
        Some("0")
    );
    add("public", "https://acme.example.com/hooks", &[]).success();
    add(
        "local",
        "http://127.0.0.1:9000/hooks",
        &["--allow-private-webhooks"],
    )
    .success();
    assert_eq!(
        db.scalar("SELECT CAST(count(*) AS BIGINT) FROM tenants")
            .as_deref(),
        Some("2")
    );
}
