//! Authentication and authorization: JWT verification (jwt-simple), roles, tenant checks.
//!
//! Tokens carry the tenant, subject, role, the visitor's session, expiry, issuer and
//! audience. HS256 tokens are signed with the app's secret (sessions, `kb-loader token`);
//! ES256 and RS256 public keys let a company's own identity provider sign agent and admin
//! tokens. `alg: none` and every other algorithm are refused. Pure: no I/O, no clock
//! reads beyond jwt-simple's own.

use std::collections::HashSet;

use jwt_simple::prelude::*;
use serde::{Deserialize, Serialize};

use crate::problem::{Problem, ProblemKind};

/// Who a caller is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Visitor,
    Agent,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "visitor" => Some(Role::Visitor),
            "agent" => Some(Role::Agent),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Visitor => "visitor",
            Role::Agent => "agent",
            Role::Admin => "admin",
        }
    }
}

/// Our claims beside the registered ones (`sub`, `exp`, `iss`, `aud`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomClaims {
    /// Tenant id.
    pub tid: String,
    pub role: Role,
    /// The visitor's session; only visitor tokens have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// A verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant: String,
    pub subject: String,
    pub role: Role,
    pub session: Option<String>,
}

/// The keys and expectations tokens are checked against.
#[derive(Clone)]
pub struct AuthConfig {
    pub issuer: String,
    pub audience: String,
    hs256: Option<HS256Key>,
    es256: Vec<ES256PublicKey>,
    rs256: Vec<RS256PublicKey>,
}

/// Why a token was refused. All map to 401: the caller is not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    Missing,
    Malformed,
    UnsupportedAlgorithm,
    BadSignature,
    Expired,
    WrongIssuer,
    WrongAudience,
    InvalidClaims,
}

impl AuthError {
    /// A client-facing phrase; it never says which key or secret was tried.
    pub fn detail(self) -> &'static str {
        match self {
            AuthError::Missing => "a bearer token is required",
            AuthError::Malformed => "the token is malformed",
            AuthError::UnsupportedAlgorithm => "the token's algorithm is not accepted",
            AuthError::BadSignature => "the token's signature is not valid",
            AuthError::Expired => "the token has expired",
            AuthError::WrongIssuer => "the token's issuer is not accepted",
            AuthError::WrongAudience => "the token is not meant for this service",
            AuthError::InvalidClaims => "the token's claims are not valid",
        }
    }
}

impl From<AuthError> for Problem {
    fn from(e: AuthError) -> Problem {
        Problem::new(ProblemKind::Unauthorized, e.detail())
    }
}

/// A key given in configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(pub String);

impl AuthConfig {
    /// `hs256_secret` signs and verifies our own tokens; `public_keys_pem` holds any number
    /// of PEM public keys (EC P-256 for ES256, RSA for RS256) from external identity providers.
    pub fn new(
        issuer: &str,
        audience: &str,
        hs256_secret: Option<&[u8]>,
        public_keys_pem: &str,
    ) -> Result<Self, KeyError> {
        if let Some(secret) = hs256_secret
            && secret.len() < 32
        {
            return Err(KeyError(
                "the HS256 secret must be at least 32 bytes".into(),
            ));
        }
        let mut es256 = Vec::new();
        let mut rs256 = Vec::new();
        for block in pem_blocks(public_keys_pem) {
            if let Ok(k) = ES256PublicKey::from_pem(&block) {
                es256.push(k);
            } else if let Ok(k) = RS256PublicKey::from_pem(&block) {
                rs256.push(k);
            } else {
                return Err(KeyError(
                    "a public key is neither an EC P-256 nor an RSA key in PEM".into(),
                ));
            }
        }
        Ok(Self {
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            hs256: hs256_secret.map(HS256Key::from_bytes),
            es256,
            rs256,
        })
    }

    fn options(&self) -> VerificationOptions {
        VerificationOptions {
            allowed_issuers: Some(HashSet::from([self.issuer.clone()])),
            allowed_audiences: Some(HashSet::from([self.audience.clone()])),
            time_tolerance: Some(Duration::from_secs(30)),
            max_token_length: Some(8 * 1024),
            ..Default::default()
        }
    }

    /// Verifies a token and returns who it speaks for.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        let meta = Token::decode_metadata(token).map_err(|_| AuthError::Malformed)?;
        let options = self.options();
        let result = match meta.algorithm() {
            "HS256" => match &self.hs256 {
                Some(key) => key.verify_token::<CustomClaims>(token, Some(options)),
                None => return Err(AuthError::UnsupportedAlgorithm),
            },
            "ES256" => first_ok(&self.es256, |k| {
                k.verify_token::<CustomClaims>(token, Some(options.clone()))
            }),
            "RS256" => first_ok(&self.rs256, |k| {
                k.verify_token::<CustomClaims>(token, Some(options.clone()))
            }),
            _ => return Err(AuthError::UnsupportedAlgorithm),
        };
        let claims = result.map_err(classify)?;
        let subject = claims
            .subject
            .filter(|s| !s.is_empty())
            .ok_or(AuthError::InvalidClaims)?;
        if claims.expires_at.is_none() {
            return Err(AuthError::InvalidClaims);
        }
        let custom = claims.custom;
        if custom.tid.is_empty() || (custom.role == Role::Visitor) != custom.sid.is_some() {
            return Err(AuthError::InvalidClaims);
        }
        Ok(Principal {
            tenant: custom.tid,
            subject,
            role: custom.role,
            session: custom.sid,
        })
    }

    /// Signs an HS256 token for `principal`, valid for `valid_for_secs` seconds (for callers
    /// that do not depend on jwt-simple's `Duration`).
    pub fn issue_for_secs(
        &self,
        principal: &Principal,
        valid_for_secs: u64,
    ) -> Result<String, KeyError> {
        self.issue(principal, Duration::from_secs(valid_for_secs))
    }

    /// Signs an HS256 token for `principal`, valid for `valid_for`.
    pub fn issue(&self, principal: &Principal, valid_for: Duration) -> Result<String, KeyError> {
        let key = self
            .hs256
            .as_ref()
            .ok_or_else(|| KeyError("no HS256 secret is configured".into()))?;
        let claims = Claims::with_custom_claims(
            CustomClaims {
                tid: principal.tenant.clone(),
                role: principal.role,
                sid: principal.session.clone(),
            },
            valid_for,
        )
        .with_issuer(&self.issuer)
        .with_audience(&self.audience)
        .with_subject(&principal.subject);
        key.authenticate(claims)
            .map_err(|e| KeyError(format!("signing failed: {e}")))
    }
}

fn first_ok<K>(
    keys: &[K],
    verify: impl Fn(&K) -> Result<JWTClaims<CustomClaims>, jwt_simple::Error>,
) -> Result<JWTClaims<CustomClaims>, jwt_simple::Error> {
    let mut last = None;
    for key in keys {
        match verify(key) {
            Ok(claims) => return Ok(claims),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| jwt_simple::Error::msg("no key for this algorithm")))
}

fn classify(e: jwt_simple::Error) -> AuthError {
    use jwt_simple::JWTError;
    match e.downcast_ref::<JWTError>() {
        Some(JWTError::TokenHasExpired) => AuthError::Expired,
        Some(JWTError::RequiredIssuerMismatch | JWTError::RequiredIssuerMissing) => {
            AuthError::WrongIssuer
        }
        Some(JWTError::RequiredAudienceMismatch | JWTError::RequiredAudienceMissing) => {
            AuthError::WrongAudience
        }
        Some(JWTError::InvalidSignature | JWTError::InvalidAuthenticationTag) => {
            AuthError::BadSignature
        }
        Some(JWTError::TokenNotValidYet | JWTError::TokenIsTooOld | JWTError::ClockDrift) => {
            AuthError::InvalidClaims
        }
        Some(JWTError::AlgorithmMismatch) => AuthError::UnsupportedAlgorithm,
        Some(_) => AuthError::Malformed,
        None => AuthError::BadSignature,
    }
}

/// Splits a string holding several PEM blocks.
fn pem_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("-----BEGIN ") {
            current.clear();
        }
        if !line.is_empty() {
            current.push_str(line);
            current.push('\n');
        }
        if line.starts_with("-----END ") {
            blocks.push(std::mem::take(&mut current));
        }
    }
    blocks
}

/// Extracts the token from an `Authorization: Bearer …` header value.
pub fn bearer(header: Option<&str>) -> Result<&str, AuthError> {
    let value = header.ok_or(AuthError::Missing)?.trim();
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::Malformed);
    }
    Ok(token.trim())
}

/// 403 unless the caller has one of `roles`.
pub fn require_role(principal: &Principal, roles: &[Role]) -> Result<(), Problem> {
    if roles.contains(&principal.role) {
        Ok(())
    } else {
        Err(Problem::new(
            ProblemKind::Forbidden,
            "this route is not open to your role",
        ))
    }
}

/// 403 unless the caller belongs to `tenant`.
pub fn require_tenant(principal: &Principal, tenant: &str) -> Result<(), Problem> {
    if principal.tenant == tenant {
        Ok(())
    } else {
        Err(Problem::new(
            ProblemKind::Forbidden,
            "this resource belongs to another tenant",
        ))
    }
}

/// Compares two secrets without stopping at the first difference, so the time taken says
/// nothing about where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn config() -> AuthConfig {
        AuthConfig::new("support-agent", "support-agent-api", Some(SECRET), "").unwrap()
    }

    fn agent() -> Principal {
        Principal {
            tenant: "acme".into(),
            subject: "alice".into(),
            role: Role::Agent,
            session: None,
        }
    }

    #[test]
    fn issued_token_verifies_to_the_same_principal() {
        let c = config();
        let token = c.issue(&agent(), Duration::from_mins(5)).unwrap();
        assert_eq!(c.verify(&token).unwrap(), agent());
    }

    #[test]
    fn visitor_tokens_carry_their_session() {
        let c = config();
        let visitor = Principal {
            tenant: "acme".into(),
            subject: "v1".into(),
            role: Role::Visitor,
            session: Some("s1".into()),
        };
        let token = c.issue(&visitor, Duration::from_mins(5)).unwrap();
        assert_eq!(c.verify(&token).unwrap().session.as_deref(), Some("s1"));
        let sessionless = Principal {
            session: None,
            ..visitor
        };
        let token = c.issue(&sessionless, Duration::from_mins(5)).unwrap();
        assert_eq!(c.verify(&token), Err(AuthError::InvalidClaims));
    }

    #[test]
    fn expired_token_is_refused() {
        let c = config();
        let key = HS256Key::from_bytes(SECRET);
        let mut claims = Claims::with_custom_claims(
            CustomClaims {
                tid: "acme".into(),
                role: Role::Agent,
                sid: None,
            },
            Duration::from_secs(1),
        )
        .with_issuer("support-agent")
        .with_audience("support-agent-api")
        .with_subject("alice");
        let past = Clock::now_since_epoch() - Duration::from_hours(2);
        claims.issued_at = Some(past);
        claims.expires_at = Some(past + Duration::from_secs(60));
        let token = key.authenticate(claims).unwrap();
        assert_eq!(c.verify(&token), Err(AuthError::Expired));
    }

    #[test]
    fn wrong_audience_and_issuer_are_refused() {
        let token = config().issue(&agent(), Duration::from_mins(5)).unwrap();
        let other_aud = AuthConfig::new("support-agent", "elsewhere", Some(SECRET), "").unwrap();
        assert_eq!(other_aud.verify(&token), Err(AuthError::WrongAudience));
        let other_iss = AuthConfig::new("someone", "support-agent-api", Some(SECRET), "").unwrap();
        assert_eq!(other_iss.verify(&token), Err(AuthError::WrongIssuer));
    }

    #[test]
    fn bad_signature_is_refused() {
        let token = config().issue(&agent(), Duration::from_mins(5)).unwrap();
        let other = AuthConfig::new(
            "support-agent",
            "support-agent-api",
            Some(b"ffffffffffffffffffffffffffffffff"),
            "",
        )
        .unwrap();
        assert_eq!(other.verify(&token), Err(AuthError::BadSignature));
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(config().verify(&tampered).is_err());
    }

    #[test]
    fn alg_none_is_refused() {
        let token = config().issue(&agent(), Duration::from_mins(5)).unwrap();
        let mut parts = token.split('.');
        let _header = parts.next().unwrap();
        let payload = parts.next().unwrap();
        let none_header =
            Base64UrlSafeNoPadding::encode_to_string(br#"{"alg":"none","typ":"JWT"}"#).unwrap();
        let forged = format!("{none_header}.{payload}.");
        assert_eq!(
            config().verify(&forged),
            Err(AuthError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn es256_and_rs256_public_keys_verify_external_tokens() {
        let es = ES256KeyPair::generate();
        let rs = RS256KeyPair::generate(2048).unwrap();
        let pems = format!(
            "{}\n{}",
            es.public_key().to_pem().unwrap(),
            rs.public_key().to_pem().unwrap()
        );
        let c = AuthConfig::new("idp", "support-agent-api", None, &pems).unwrap();
        for token in [
            es.sign(claims_for("idp")).unwrap(),
            rs.sign(claims_for("idp")).unwrap(),
        ] {
            assert_eq!(c.verify(&token).unwrap().role, Role::Admin);
        }
        // No HS256 secret configured: HS256 tokens are not accepted at all.
        let hs = config().issue(&agent(), Duration::from_mins(5)).unwrap();
        assert_eq!(c.verify(&hs), Err(AuthError::UnsupportedAlgorithm));
    }

    fn claims_for(issuer: &str) -> JWTClaims<CustomClaims> {
        Claims::with_custom_claims(
            CustomClaims {
                tid: "acme".into(),
                role: Role::Admin,
                sid: None,
            },
            Duration::from_mins(5),
        )
        .with_issuer(issuer)
        .with_audience("support-agent-api")
        .with_subject("ops")
    }

    #[test]
    fn garbage_and_missing_tokens_are_refused() {
        let c = config();
        assert_eq!(c.verify(""), Err(AuthError::Missing));
        assert_eq!(c.verify("not-a-jwt"), Err(AuthError::Malformed));
        assert_eq!(bearer(None), Err(AuthError::Missing));
        assert_eq!(bearer(Some("Basic abc")), Err(AuthError::Malformed));
        assert_eq!(bearer(Some("Bearer abc")), Ok("abc"));
    }

    #[test]
    fn short_secrets_are_rejected_at_configuration() {
        assert!(AuthConfig::new("i", "a", Some(b"short"), "").is_err());
        assert!(
            AuthConfig::new(
                "i",
                "a",
                None,
                "-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----"
            )
            .is_err()
        );
    }

    #[test]
    fn role_and_tenant_checks_are_403() {
        let p = agent();
        assert!(require_role(&p, &[Role::Agent, Role::Admin]).is_ok());
        assert_eq!(require_role(&p, &[Role::Admin]).unwrap_err().status(), 403);
        assert!(require_tenant(&p, "acme").is_ok());
        assert_eq!(require_tenant(&p, "globex").unwrap_err().status(), 403);
    }
}
