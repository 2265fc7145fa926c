//! `kb-loader migrate` on both backends: applying, re-running, failing half-way, and
//! refusing edited history.

use sha2::{Digest, Sha256};

use crate::support::{MIGRATIONS, TestDb, kb_loader, migrations_copy};

/// Runs each listed test on a temporary SQLite file and on a fresh PostgreSQL database.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(&crate::support::TestDb::sqlite()) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(&crate::support::TestDb::postgres()) } )*
        }
    };
}
pub(crate) use on_both_backends;

on_both_backends!(
    migrate_applies_the_platform_schema_and_rerunning_is_a_no_op,
    a_failing_migration_exits_non_zero_and_leaves_the_previous_version_intact,
    an_applied_migration_that_changed_is_refused_naming_the_file,
);

fn migrate_applies_the_platform_schema_and_rerunning_is_a_no_op(db: &TestDb) {
    // No --migrations: the files built into the binary.
    let out = kb_loader(&["migrate", "--db-url", &db.url()]).success();
    assert_eq!(
        out,
        "applied 0001_platform\napplied 0002_knowledge_base\napplied 0003_conversations\n\
         applied 0004_handoff\napplied 0005_feedback\n"
    );
    for table in [
        "tenants",
        "sessions",
        "idempotency_keys",
        "counters",
        "kb_documents",
        "kb_chunks",
        "messages",
        "session_events",
        "session_memory",
        "tickets",
        "ticket_links",
        "outbox",
        "inbound_events",
        "feedback",
        "curated_answers",
        "addressed_questions",
    ] {
        assert!(db.table_exists(table), "{table}");
    }
    let file = std::fs::read(format!("{MIGRATIONS}/{}/0001_platform.sql", db.backend())).unwrap();
    let recorded = db.scalar("SELECT checksum FROM schema_migrations WHERE version = 1");
    assert_eq!(recorded, Some(hex::encode(Sha256::digest(file))));
    assert_eq!(
        db.scalar("SELECT name FROM schema_migrations WHERE version = 1")
            .as_deref(),
        Some("0001_platform")
    );
    let applied_at = db.scalar("SELECT applied_at FROM schema_migrations WHERE version = 1");
    assert!(
        applied_at.unwrap().parse::<i64>().unwrap() > 1_700_000_000_000,
        "Unix ms"
    );

    let again = kb_loader(&["migrate", "--db-url", &db.url()]).success();
    assert_eq!(again, "up to date at version 5\n");
    assert_eq!(
        db.scalar("SELECT CAST(count(*) AS BIGINT) FROM schema_migrations")
            .as_deref(),
        Some("5")
    );
}

fn a_failing_migration_exits_non_zero_and_leaves_the_previous_version_intact(db: &TestDb) {
    let dir = migrations_copy(db.backend());
    let broken = dir.path().join(db.backend()).join("0002_broken.sql");
    // The first statement succeeds; the second fails, so the first must be rolled back too.
    std::fs::write(
        &broken,
        "CREATE TABLE half_done (x INTEGER);\nINSERT INTO no_such_table VALUES (1);\n",
    )
    .unwrap();
    let migrations = dir.path().to_str().unwrap();
    let run = kb_loader(&["migrate", "--db-url", &db.url(), "--migrations", migrations]);
    assert_eq!(run.stdout, "applied 0001_platform\n");
    let err = run.failure();
    assert!(
        err.contains("0002_broken.sql") && err.contains("no_such_table"),
        "{err}"
    );

    assert_eq!(
        db.scalar("SELECT CAST(max(version) AS BIGINT) FROM schema_migrations")
            .as_deref(),
        Some("1")
    );
    assert!(db.table_exists("tenants") && db.table_exists("sessions"));
    assert!(
        !db.table_exists("half_done"),
        "the failed migration's work is rolled back"
    );

    // Once fixed, the next run applies it.
    std::fs::write(&broken, "CREATE TABLE half_done (x INTEGER);\n").unwrap();
    let out = kb_loader(&["migrate", "--db-url", &db.url(), "--migrations", migrations]).success();
    assert_eq!(out, "applied 0002_broken\n");
    assert!(db.table_exists("half_done"));
}

fn an_applied_migration_that_changed_is_refused_naming_the_file(db: &TestDb) {
    let dir = migrations_copy(db.backend());
    let migrations = dir.path().to_str().unwrap();
    kb_loader(&["migrate", "--db-url", &db.url(), "--migrations", migrations]).success();

    let file = dir.path().join(db.backend()).join("0001_platform.sql");
    let mut sql = std::fs::read_to_string(&file).unwrap();
    sql.push_str("CREATE TABLE sneaked_in (x INTEGER);\n");
    std::fs::write(&file, sql).unwrap();
    let err = kb_loader(&["migrate", "--db-url", &db.url(), "--migrations", migrations]).failure();
    assert!(
        err.contains("0001_platform.sql") && err.contains("changed"),
        "{err}"
    );
    assert!(!db.table_exists("sneaked_in"));
}

/// A copy of the binary elsewhere migrates without the tree that built it: the SQL is in
/// the binary, and nothing in it names the repository's folder.
#[test]
fn a_copied_binary_migrates_without_the_source_tree() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("kb-loader");
    std::fs::copy(env!("CARGO_BIN_EXE_kb-loader"), &copy).unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .canonicalize()
        .unwrap();
    let bytes = std::fs::read(&copy).unwrap();
    let needle = repo.to_str().unwrap().as_bytes();
    assert!(
        !bytes.windows(needle.len()).any(|w| w == needle),
        "the binary names {}",
        repo.display()
    );
    let db = dir.path().join("copied.db");
    let out = std::process::Command::new(&copy)
        .args(["migrate", "--db-url", &format!("sqlite://{}", db.display())])
        .current_dir(dir.path())
        .env_remove("KB_LOADER_DB_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).ends_with("applied 0005_feedback\n"),
        "{out:?}"
    );
}
