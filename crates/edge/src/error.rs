//! The one HTTP error type every component returns: a [`Problem`] rendered as
//! `application/problem+json`, with `Retry-After` where it applies.

use core_logic::problem::{Problem, ProblemKind};
use spin_sdk::http::{IntoResponse, Response};

/// An error on its way to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError(pub Problem);

impl ApiError {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self(Problem::new(kind, detail))
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::NotFound, detail)
    }

    /// A 405 naming the accepted methods (`GET, POST`) in its detail and `Allow` header.
    pub fn method_not_allowed(allowed: &str) -> Self {
        Self(
            Problem::new(
                ProblemKind::MethodNotAllowed,
                format!("this route accepts {allowed}"),
            )
            .with_allow(allowed),
        )
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::BadRequest, detail)
    }

    /// A misconfiguration or failure the client can do nothing about; the detail stays generic.
    pub fn internal() -> Self {
        Self::new(
            ProblemKind::Internal,
            "the server could not complete the request",
        )
    }

    /// The response this error becomes.
    pub fn to_response(&self) -> Response {
        let mut builder = Response::builder();
        builder
            .status(self.0.status())
            .header("content-type", "application/problem+json");
        if let Some(secs) = self.0.retry_after {
            builder.header("retry-after", secs.to_string());
        }
        if let Some(methods) = &self.0.allow {
            builder.header("allow", methods.as_str());
        }
        // RFC 6750: a 401 names the scheme the client should use.
        if self.0.kind == ProblemKind::Unauthorized {
            builder.header("www-authenticate", "Bearer");
        }
        builder.body(self.0.to_json()).build()
    }
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        Self(p)
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.to_response()
    }
}

/// A JSON response with the given status.
pub fn json_response(status: u16, value: &serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(value.to_string())
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_problem_json_with_status_and_retry_after() {
        let err =
            ApiError(Problem::new(ProblemKind::TooManyRequests, "slow down").with_retry_after(7));
        let resp = err.to_response();
        assert_eq!(*resp.status(), 429);
        assert_eq!(
            resp.header("content-type").and_then(|v| v.as_str()),
            Some("application/problem+json")
        );
        assert_eq!(
            resp.header("retry-after").and_then(|v| v.as_str()),
            Some("7")
        );
        let body: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
        assert_eq!(body["status"], 429);
    }

    #[test]
    fn method_not_allowed_says_which_methods_in_allow() {
        let resp = ApiError::method_not_allowed("GET, POST").to_response();
        assert_eq!(*resp.status(), 405);
        assert_eq!(
            resp.header("allow").and_then(|v| v.as_str()),
            Some("GET, POST")
        );
    }

    #[test]
    fn unauthorized_names_the_bearer_scheme() {
        let resp = ApiError::new(ProblemKind::Unauthorized, "no token").to_response();
        assert_eq!(
            resp.header("www-authenticate").and_then(|v| v.as_str()),
            Some("Bearer")
        );
        let resp = ApiError::new(ProblemKind::Forbidden, "no").to_response();
        assert!(resp.header("www-authenticate").is_none());
    }

    #[test]
    fn internal_errors_say_nothing_about_internals() {
        let body = String::from_utf8(ApiError::internal().to_response().body().to_vec()).unwrap();
        assert!(body.contains("could not complete"));
    }
}
