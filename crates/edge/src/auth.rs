//! Authentication at the edge: the [`AuthConfig`] built from Spin variables (`jwt_secret`,
//! `jwt_public_keys`, `jwt_issuer`, `jwt_audience`) and the caller behind a request's
//! `Authorization: Bearer` header.
//!
//! Verification itself is `core_logic::auth`; this module only reads configuration and
//! headers. The secret is never logged.

use core_logic::auth::{AuthConfig, AuthError, Principal, bearer};
use core_logic::problem::Problem;
use spin_sdk::http::Request;

use crate::ApiError;
use crate::config;

/// The token settings of this app, from its Spin variables.
pub fn auth_config() -> Result<AuthConfig, ApiError> {
    let misconfigured = |e: &dyn std::fmt::Display| {
        crate::log::warn("auth", &e.to_string());
        ApiError::internal()
    };
    let secret = config::required("jwt_secret").map_err(|e| misconfigured(&e))?;
    let public_keys = config::required("jwt_public_keys").map_err(|e| misconfigured(&e))?;
    let issuer = config::required("jwt_issuer").map_err(|e| misconfigured(&e))?;
    let audience = config::required("jwt_audience").map_err(|e| misconfigured(&e))?;
    let secret = secret.trim();
    let secret = (!secret.is_empty()).then_some(secret.as_bytes());
    AuthConfig::new(&issuer, &audience, secret, &public_keys)
        .map_err(|e| misconfigured(&format!("`jwt_secret` or `jwt_public_keys`: {}", e.0)))
}

/// The verified caller of `req`; 401 problem+json when the token is missing or refused
/// (a header that is not text is refused like a malformed token).
pub fn authenticate(req: &Request, config: &AuthConfig) -> Result<Principal, ApiError> {
    let header = match req.header("authorization") {
        Some(value) => Some(
            value
                .as_str()
                .ok_or(AuthError::Malformed)
                .map_err(refused)?,
        ),
        None => None,
    };
    let token = bearer(header).map_err(refused)?;
    config.verify(token).map_err(refused)
}

fn refused(e: AuthError) -> ApiError {
    ApiError(Problem::from(e))
}
