//! Problem details (RFC 9457): the one error shape every route returns.
//!
//! Pure data and its JSON; turning it into an HTTP response is `crates/edge`'s job.
//! `detail` is written for the client and never carries driver or host internals.

use serde::Serialize;

/// The kinds of problem the API reports; each has a stable `type` and an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unprocessable,
    TooManyRequests,
    Internal,
    Unavailable,
}

impl ProblemKind {
    pub fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::Unprocessable => 422,
            Self::TooManyRequests => 429,
            Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }

    /// The stable slug in the problem's `type` URI.
    pub fn slug(self) -> &'static str {
        match self {
            Self::BadRequest => "bad-request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::Unprocessable => "unprocessable",
            Self::TooManyRequests => "too-many-requests",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::BadRequest => "Bad Request",
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden => "Forbidden",
            Self::NotFound => "Not Found",
            Self::MethodNotAllowed => "Method Not Allowed",
            Self::Conflict => "Conflict",
            Self::PayloadTooLarge => "Payload Too Large",
            Self::UnsupportedMediaType => "Unsupported Media Type",
            Self::Unprocessable => "Unprocessable Content",
            Self::TooManyRequests => "Too Many Requests",
            Self::Internal => "Internal Server Error",
            Self::Unavailable => "Service Unavailable",
        }
    }
}

/// One problem, ready to be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub detail: String,
    /// Seconds, for 429 and 503.
    pub retry_after: Option<u64>,
    /// The methods the route accepts, for 405 (the `Allow` header).
    pub allow: Option<String>,
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
}

impl Problem {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            retry_after: None,
            allow: None,
        }
    }

    /// A 405's accepted methods, e.g. `GET, POST`.
    pub fn with_allow(mut self, methods: &str) -> Self {
        self.allow = Some(methods.to_string());
        self
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// The `type` URI: stable, and the same one devhost uses for its own problems.
    pub fn type_uri(&self) -> String {
        format!("urn:support-agent:problem:{}", self.kind.slug())
    }

    /// The `application/problem+json` body.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&ProblemBody {
            kind: self.type_uri(),
            title: self.kind.title(),
            status: self.status(),
            detail: &self.detail,
        })
        .unwrap_or_else(|_| String::from("{}"))
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.kind.title(),
            self.status(),
            self.detail
        )
    }
}

impl std::error::Error for Problem {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_type_title_status_detail() {
        let p = Problem::new(ProblemKind::NotFound, "no session 7");
        let v: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
        assert_eq!(v["type"], "urn:support-agent:problem:not-found");
        assert_eq!(v["title"], "Not Found");
        assert_eq!(v["status"], 404);
        assert_eq!(v["detail"], "no session 7");
    }

    #[test]
    fn every_kind_is_a_client_or_server_error() {
        use ProblemKind::*;
        for kind in [
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            MethodNotAllowed,
            Conflict,
            PayloadTooLarge,
            UnsupportedMediaType,
            Unprocessable,
            TooManyRequests,
            Internal,
            Unavailable,
        ] {
            assert!((400..600).contains(&kind.status()));
            assert!(!kind.slug().is_empty());
        }
    }

    #[test]
    fn detail_is_escaped_as_json() {
        let p = Problem::new(ProblemKind::BadRequest, "quote \" and <tag>");
        let v: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
        assert_eq!(v["detail"], "quote \" and <tag>");
    }
}
