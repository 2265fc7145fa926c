//! `kb-loader token`: what it prints verifies with the app's `AuthConfig` and says who it is
//! for; a missing or short secret is an error naming the variable, never showing a value.

use core_logic::auth::{AuthConfig, CustomClaims, Role};
use jwt_simple::prelude::{Duration, HS256Key, MACLike};

use crate::support::{kb_loader, kb_loader_with_env};

const SECRET: &str = "test-secret-0123456789abcdef-0123456789";
const SECRET_VAR: &str = "SPIN_VARIABLE_JWT_SECRET";

fn app_config() -> AuthConfig {
    AuthConfig::new(
        "support-agent",
        "support-agent-api",
        Some(SECRET.as_bytes()),
        "",
    )
    .unwrap()
}

#[test]
fn agent_token_verifies_and_carries_tenant_role_and_subject() {
    let out = kb_loader_with_env(
        &[
            "token", "--tenant", "acme", "--role", "agent", "--sub", "alice",
        ],
        &[(SECRET_VAR, SECRET)],
    )
    .success();
    assert_eq!(out.lines().count(), 1, "only the token on stdout");
    let principal = app_config().verify(&out).unwrap();
    assert_eq!(principal.tenant, "acme");
    assert_eq!(principal.role, Role::Agent);
    assert_eq!(principal.subject, "alice");
    assert_eq!(principal.session, None);
}

#[test]
fn visitor_token_carries_its_session_and_the_requested_lifetime() {
    let out = kb_loader_with_env(
        &[
            "token",
            "--tenant",
            "acme",
            "--role",
            "visitor",
            "--sub",
            "v-1",
            "--session",
            "s-42",
            "--ttl",
            "2h",
        ],
        &[(SECRET_VAR, SECRET)],
    )
    .success();
    let principal = app_config().verify(&out).unwrap();
    assert_eq!(principal.role, Role::Visitor);
    assert_eq!(principal.session.as_deref(), Some("s-42"));
    let claims = HS256Key::from_bytes(SECRET.as_bytes())
        .verify_token::<CustomClaims>(out.trim(), None)
        .unwrap();
    let lifetime = claims.expires_at.unwrap() - claims.issued_at.unwrap();
    assert_eq!(lifetime, Duration::from_hours(2));
}

#[test]
fn issuer_and_audience_follow_the_spin_variables() {
    let out = kb_loader_with_env(
        &[
            "token", "--tenant", "acme", "--role", "admin", "--sub", "ops",
        ],
        &[
            (SECRET_VAR, SECRET),
            ("SPIN_VARIABLE_JWT_ISSUER", "corp-idp"),
            ("SPIN_VARIABLE_JWT_AUDIENCE", "corp-api"),
        ],
    )
    .success();
    assert!(
        app_config().verify(&out).is_err(),
        "not for the default audience"
    );
    let corp = AuthConfig::new("corp-idp", "corp-api", Some(SECRET.as_bytes()), "").unwrap();
    assert_eq!(corp.verify(&out).unwrap().role, Role::Admin);
}

#[test]
fn missing_or_short_secret_is_an_error_naming_the_variable_only() {
    let args = [
        "token", "--tenant", "acme", "--role", "agent", "--sub", "alice",
    ];
    let run = kb_loader(&args);
    assert_eq!(run.stdout, "");
    let err = run.failure();
    assert!(err.contains(SECRET_VAR), "{err}");

    let short = "too-short-secret";
    let run = kb_loader_with_env(&args, &[(SECRET_VAR, short)]);
    assert_eq!(run.stdout, "");
    let err = run.failure();
    assert!(err.contains(SECRET_VAR) && !err.contains(short), "{err}");
}

#[test]
fn visitor_tokens_need_a_session_and_others_refuse_one() {
    let env = [(SECRET_VAR, SECRET)];
    let err = kb_loader_with_env(
        &[
            "token", "--tenant", "acme", "--role", "visitor", "--sub", "v-1",
        ],
        &env,
    )
    .failure();
    assert!(err.contains("--session"), "{err}");
    let err = kb_loader_with_env(
        &[
            "token",
            "--tenant",
            "acme",
            "--role",
            "agent",
            "--sub",
            "a",
            "--session",
            "s",
        ],
        &env,
    )
    .failure();
    assert!(err.contains("--session"), "{err}");
}
