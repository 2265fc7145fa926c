//! `token`: a signed HS256 JWT for a tenant's visitor, agent or admin, made with
//! `core_logic::auth::AuthConfig` from the same Spin variables the app reads, so the app
//! accepts it. The secret is read from the environment and never printed.

use std::time::Duration;

use anyhow::{anyhow, bail, ensure};
use core_logic::auth::{AuthConfig, Principal, Role};

pub const SECRET_VAR: &str = "SPIN_VARIABLE_JWT_SECRET";
pub const ISSUER_VAR: &str = "SPIN_VARIABLE_JWT_ISSUER";
pub const AUDIENCE_VAR: &str = "SPIN_VARIABLE_JWT_AUDIENCE";
pub const DEFAULT_ISSUER: &str = "support-agent";
pub const DEFAULT_AUDIENCE: &str = "support-agent-api";

const MAX_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// Who the token speaks for and for how long.
pub struct TokenRequest {
    pub tenant: String,
    pub role: Role,
    pub subject: String,
    pub session: Option<String>,
    pub ttl: Duration,
}

/// Signs the token; `env` looks up environment variables (empty counts as unset).
pub fn mint(
    request: &TokenRequest,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<String> {
    ensure!(
        !request.tenant.trim().is_empty(),
        "--tenant must not be empty"
    );
    ensure!(
        !request.subject.trim().is_empty(),
        "--sub must not be empty"
    );
    match (request.role, &request.session) {
        (Role::Visitor, None) => bail!("visitor tokens need --session"),
        (Role::Visitor, Some(s)) if s.trim().is_empty() => bail!("--session must not be empty"),
        (Role::Agent | Role::Admin, Some(_)) => bail!("--session is only for visitor tokens"),
        _ => {}
    }
    let env = |name: &str| env(name).filter(|v| !v.is_empty());
    let secret = env(SECRET_VAR).ok_or_else(|| anyhow!("{SECRET_VAR} is not set"))?;
    ensure!(
        secret.len() >= 32,
        "{SECRET_VAR} must be at least 32 bytes long"
    );
    let issuer = env(ISSUER_VAR).unwrap_or_else(|| DEFAULT_ISSUER.into());
    let audience = env(AUDIENCE_VAR).unwrap_or_else(|| DEFAULT_AUDIENCE.into());
    let config = AuthConfig::new(&issuer, &audience, Some(secret.as_bytes()), "")
        .map_err(|e| anyhow!("{SECRET_VAR}: {}", e.0))?;
    let principal = Principal {
        tenant: request.tenant.clone(),
        subject: request.subject.clone(),
        role: request.role,
        session: request.session.clone(),
    };
    config
        .issue(
            &principal,
            jwt_simple::prelude::Duration::from_secs(request.ttl.as_secs()),
        )
        .map_err(|e| anyhow!("cannot sign the token: {}", e.0))
}

/// Parses `--ttl`: a whole number with `s`, `m`, `h` or `d` (a bare number is seconds),
/// from one second to 365 days.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let unit_secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{text}`: use a number with s, m, h or d, e.g. 1h")),
    };
    let ttl = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_secs))
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}`: use a number with s, m, h or d, e.g. 1h"))?;
    if ttl.is_zero() || ttl > MAX_TTL {
        return Err(format!(
            "`{text}`: the lifetime must be between 1s and 365d"
        ));
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn agent() -> TokenRequest {
        TokenRequest {
            tenant: "acme".into(),
            role: Role::Agent,
            subject: "alice".into(),
            session: None,
            ttl: Duration::from_secs(3600),
        }
    }

    #[test]
    fn ttls_accept_units_and_refuse_nonsense() {
        assert_eq!(parse_ttl("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_ttl("120"), Ok(Duration::from_secs(120)));
        for bad in [
            "",
            "0s",
            "h",
            "1w",
            "-1h",
            "1.5h",
            "366d",
            "99999999999999999999d",
        ] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn issuer_and_audience_come_from_the_environment() {
        let env = |name: &str| match name {
            SECRET_VAR => Some(SECRET.to_string()),
            ISSUER_VAR => Some("idp".to_string()),
            AUDIENCE_VAR => Some("api".to_string()),
            _ => None,
        };
        let token = mint(&agent(), env).unwrap();
        let config = AuthConfig::new("idp", "api", Some(SECRET.as_bytes()), "").unwrap();
        assert_eq!(config.verify(&token).unwrap().subject, "alice");
    }

    #[test]
    fn secret_errors_name_the_variable_and_never_the_value() {
        let err = mint(&agent(), |_| None).unwrap_err().to_string();
        assert!(err.contains(SECRET_VAR), "{err}");
        let short = "short-secret-value";
        let err = mint(&agent(), |n| (n == SECRET_VAR).then(|| short.to_string()))
            .unwrap_err()
            .to_string();
        assert!(err.contains(SECRET_VAR) && !err.contains(short), "{err}");
    }

    #[test]
    fn session_goes_with_visitor_tokens_only() {
        let env = |n: &str| (n == SECRET_VAR).then(|| SECRET.to_string());
        let visitor = TokenRequest {
            role: Role::Visitor,
            ..agent()
        };
        assert!(mint(&visitor, env).is_err());
        let agent_with_session = TokenRequest {
            session: Some("s1".into()),
            ..agent()
        };
        assert!(mint(&agent_with_session, env).is_err());
    }
}
