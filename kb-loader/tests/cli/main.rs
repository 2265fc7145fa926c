//! Tests of the real `kb-loader` binary: migrations and tenants on a temporary SQLite file and
//! on a fresh PostgreSQL database (127.0.0.1:5432, user `postgres`, trust auth), and tokens
//! checked with `core_logic::auth`.

mod migrate;
mod support;
mod tenant;
mod token;

#[test]
fn help_documents_every_command() {
    let help = support::kb_loader(&["--help"]).success();
    for command in ["migrate", "token", "tenant"] {
        assert!(help.contains(command), "{help}");
    }
    let tenant = support::kb_loader(&["tenant", "--help"]).success();
    assert!(
        tenant.contains("add") && tenant.contains("list"),
        "{tenant}"
    );
}
