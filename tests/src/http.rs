//! HTTP helpers shared by the end-to-end suites: one exchange kept for assertions
//! ([`Reply`]), problem+json checks, and tokens for a tenant's staff signed with the test
//! secret the harness gives every app.

use core_logic::auth::{AuthConfig, Principal, Role};
use jwt_simple::prelude::Duration;
use reqwest::Method;
use reqwest::blocking::RequestBuilder;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::{App, TEST_JWT_SECRET};

pub const ISSUER: &str = "support-agent";
pub const AUDIENCE: &str = "support-agent-api";

/// One HTTP exchange, kept for assertions.
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json with this status.
    pub fn assert_problem(&self, status: u16, context: &str) {
        assert_eq!(self.status, status, "{context}: {}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{context}"
        );
        let body = self.json();
        assert_eq!(body["status"], status, "{context}");
        assert!(
            body["type"]
                .as_str()
                .unwrap_or("")
                .starts_with("urn:support-agent:problem:"),
            "{context}: {body}"
        );
    }
}

pub fn send(builder: RequestBuilder) -> Reply {
    let resp = builder.send().expect("request sent");
    Reply {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        text: resp.text().unwrap_or_default(),
    }
}

pub fn request(app: &App, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
    let mut builder = App::client().request(method, app.url(path));
    if let Some(token) = token {
        builder = builder.bearer_auth(token);
    }
    builder
}

pub fn post_json(app: &App, path: &str, token: Option<&str>, body: &Value) -> RequestBuilder {
    request(app, Method::POST, path, token)
        .header("content-type", "application/json")
        .body(body.to_string())
}

/// The token settings of apps the harness starts.
pub fn auth() -> AuthConfig {
    AuthConfig::new(ISSUER, AUDIENCE, Some(TEST_JWT_SECRET.as_bytes()), "").unwrap()
}

/// A ten-minute token of a tenant's agent or admin.
pub fn staff_token(tenant: &str, role: Role, subject: &str) -> String {
    let principal = Principal {
        tenant: tenant.into(),
        subject: subject.into(),
        role,
        session: None,
    };
    auth().issue(&principal, Duration::from_mins(10)).unwrap()
}

/// The value of one series (`name{labels}` exactly as exposed) in a Prometheus text
/// exposition; 0 when it is not there.
pub fn metric_value(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0)
}
