//! `Idempotency-Key` on POST routes: which keys are acceptable, the fingerprint of a request,
//! and what to do when a key comes back.
//!
//! A retried request with the same key and the same request replays the stored first
//! response; the same key with a different request is a 422. Only successful responses are
//! recorded, so a retry after a failure does the work again. Storing records is
//! `edge::store`'s job; this module decides.

use sha2::{Digest, Sha256};

use crate::problem::{Problem, ProblemKind};

/// The request header carrying the key.
pub const HEADER: &str = "idempotency-key";
/// Longest key accepted (a UUID is 36).
pub const MAX_KEY_LEN: usize = 255;
/// How long a record answers retries, in milliseconds (24 hours).
pub const RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

/// Checks a key's shape: 1–255 printable ASCII characters.
pub fn validate_key(key: &str) -> Result<&str, Problem> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Problem::new(
            ProblemKind::BadRequest,
            format!("`Idempotency-Key` must be 1 to {MAX_KEY_LEN} printable ASCII characters"),
        ));
    }
    Ok(key)
}

/// The fingerprint of a request: its method, route, caller and body. A JSON body is
/// canonicalised first (object keys sorted, whitespace dropped), so a retry that
/// re-serialises the same document still matches.
pub fn request_hash(method: &str, route: &str, caller: &str, body: &[u8]) -> String {
    let canonical = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .map(|v| v.to_string().into_bytes());
    let mut hasher = Sha256::new();
    for part in [method.as_bytes(), route.as_bytes(), caller.as_bytes()] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.update(canonical.as_deref().unwrap_or(body));
    hex::encode(hasher.finalize())
}

/// A response recorded under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub request_hash: String,
    pub status: u16,
    pub body: String,
    pub created_at_ms: i64,
}

/// What to do with a request that carries a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No live record: do the work and record the response.
    Proceed,
    /// The same request was answered before: send this again.
    Replay { status: u16, body: String },
    /// The key was used for a different request.
    Mismatch,
}

/// Decides from the record stored under the key, if any, at time `now_ms`.
pub fn decide(stored: Option<&StoredResponse>, request_hash: &str, now_ms: i64) -> Decision {
    match stored {
        Some(s) if now_ms - s.created_at_ms < RETENTION_MS => {
            if s.request_hash == request_hash {
                Decision::Replay {
                    status: s.status,
                    body: s.body.clone(),
                }
            } else {
                Decision::Mismatch
            }
        }
        _ => Decision::Proceed,
    }
}

/// The 422 for a key reused with a different request.
pub fn mismatch_problem() -> Problem {
    Problem::new(
        ProblemKind::Unprocessable,
        "this Idempotency-Key was already used with a different request",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_must_be_short_printable_ascii() {
        let long = "k".repeat(MAX_KEY_LEN + 1);
        let cases = [
            ("3f1c2a9e-8d7b-4c6a-9e1f-0a2b3c4d5e6f", true),
            ("k", true),
            ("", false),
            ("has space", false),
            ("tab\t", false),
            ("ключ", false),
            (long.as_str(), false),
        ];
        for (key, ok) in cases {
            assert_eq!(validate_key(key).is_ok(), ok, "{key:?}");
        }
    }

    #[test]
    fn equivalent_json_bodies_hash_the_same() {
        let a = request_hash("POST", "/api/sessions", "", br#"{"a":1,"b":[1,2]}"#);
        let b = request_hash(
            "POST",
            "/api/sessions",
            "",
            b"{ \"b\": [1, 2],\n \"a\": 1 }",
        );
        assert_eq!(a, b);
    }

    #[test]
    fn any_difference_in_the_request_changes_the_hash() {
        let base = request_hash("POST", "/api/sessions", "v1", br#"{"a":1}"#);
        let cases = [
            request_hash("PUT", "/api/sessions", "v1", br#"{"a":1}"#),
            request_hash("POST", "/api/sessions/x", "v1", br#"{"a":1}"#),
            request_hash("POST", "/api/sessions", "v2", br#"{"a":1}"#),
            request_hash("POST", "/api/sessions", "v1", br#"{"a":2}"#),
            request_hash("POST", "/api/sessions", "v1", b"not json"),
            // Length-prefixed parts: moving bytes between fields is not the same request.
            request_hash("POST", "/api/sessionsv", "1", br#"{"a":1}"#),
        ];
        for other in cases {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn a_returning_key_replays_mismatches_or_expires() {
        let stored = StoredResponse {
            request_hash: "h1".into(),
            status: 201,
            body: "{}".into(),
            created_at_ms: 1_000,
        };
        let cases = [
            (None, "h1", 2_000, Decision::Proceed),
            (
                Some(&stored),
                "h1",
                2_000,
                Decision::Replay {
                    status: 201,
                    body: "{}".into(),
                },
            ),
            (Some(&stored), "h2", 2_000, Decision::Mismatch),
            (Some(&stored), "h2", 1_000 + RETENTION_MS, Decision::Proceed),
        ];
        for (stored, hash, now, expected) in cases {
            assert_eq!(decide(stored, hash, now), expected);
        }
        assert_eq!(mismatch_problem().status(), 422);
    }
}
