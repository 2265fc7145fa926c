//! Reading requests safely: the route part after a component's wildcard, the client's IP,
//! header values, and JSON bodies with a size limit, a media-type check, UTF-8 and schema
//! validation — every failure a 4xx problem, never a panic.

use core_logic::problem::ProblemKind;
use serde::de::DeserializeOwned;
use spin_sdk::http::Request;

use crate::ApiError;

/// Largest JSON body the API routes accept.
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;

/// The path below the component's route (`spin-path-info`), without a trailing slash.
pub fn path_info(req: &Request) -> String {
    req.header("spin-path-info")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .trim_end_matches('/')
        .to_string()
}

/// The caller's IP from `spin-client-addr` (the port dropped).
pub fn client_ip(req: &Request) -> Option<String> {
    req.header("spin-client-addr")
        .and_then(|v| v.as_str())
        .and_then(core_logic::rate_limit::client_ip)
}

/// A header as text; 400 when it is present but not valid UTF-8.
pub fn header_str<'a>(req: &'a Request, name: &str) -> Result<Option<&'a str>, ApiError> {
    match req.header(name) {
        None => Ok(None),
        Some(value) => value
            .as_str()
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("the `{name}` header is not text"))),
    }
}

/// Parses the body as a JSON object of type `T`: 413 over `max_bytes`, 415 without a JSON
/// media type, 400 for invalid UTF-8, malformed JSON, another JSON value than an object,
/// wrong types or unknown fields.
pub fn json_body<T: DeserializeOwned>(req: &Request, max_bytes: usize) -> Result<T, ApiError> {
    let body = req.body();
    if body.len() > max_bytes {
        return Err(ApiError::new(
            ProblemKind::PayloadTooLarge,
            format!("the body is larger than {max_bytes} bytes"),
        ));
    }
    let media_type = header_str(req, "content-type")?
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    let is_json = media_type
        .as_deref()
        .is_some_and(|t| t == "application/json" || t.ends_with("+json"));
    if !is_json {
        return Err(ApiError::new(
            ProblemKind::UnsupportedMediaType,
            "the body must be application/json",
        ));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the body is not valid UTF-8"))?;
    // Every body this API takes is a JSON object; serde's derived structs would also take an
    // array of the fields in order (`[null, null]`), which no document allows.
    if !text.trim_start().starts_with('{') {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    serde_json::from_str(text).map_err(|e| {
        let detail = match e.classify() {
            serde_json::error::Category::Data => {
                let message: String = e.to_string().chars().take(200).collect();
                format!("the body does not match the expected shape: {message}")
            }
            _ => "the body is not valid JSON".to_string(),
        };
        ApiError::bad_request(detail)
    })
}

/// Refuses any body: for routes that take none (an empty JSON object is tolerated).
pub fn no_body(req: &Request) -> Result<(), ApiError> {
    let body = req.body();
    let trimmed = std::str::from_utf8(body).map(str::trim);
    match trimmed {
        Ok("") | Ok("{}") => Ok(()),
        _ if body.len() > MAX_JSON_BODY_BYTES => Err(ApiError::new(
            ProblemKind::PayloadTooLarge,
            format!("the body is larger than {MAX_JSON_BODY_BYTES} bytes"),
        )),
        _ => Err(ApiError::bad_request("this route takes no body")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use spin_sdk::http::Method;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[allow(dead_code)]
        name: String,
    }

    fn post(content_type: Option<&str>, body: &[u8]) -> Request {
        let mut builder = Request::builder();
        builder.method(Method::Post).uri("/x").body(body.to_vec());
        if let Some(ct) = content_type {
            builder.header("content-type", ct);
        }
        builder.build()
    }

    #[test]
    fn json_bodies_are_checked_before_use() {
        let json = Some("application/json");
        let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(100));
        let cases: Vec<(Option<&str>, &[u8], Option<u16>)> = vec![
            (json, br#"{"name":"a"}"#, None),
            (
                Some("application/json; charset=utf-8"),
                br#"{"name":"a"}"#,
                None,
            ),
            (
                Some("application/merge-patch+json"),
                br#"{"name":"a"}"#,
                None,
            ),
            (None, br#"{"name":"a"}"#, Some(415)),
            (Some("text/plain"), br#"{"name":"a"}"#, Some(415)),
            (json, big.as_bytes(), Some(413)),
            (json, b"{\"name\":\"\xff\"}", Some(400)),
            (json, br#"{"name":"#, Some(400)),
            (json, br#"{"name":1}"#, Some(400)),
            (json, br#"{"name":"a","role":"admin"}"#, Some(400)),
            // A struct's fields in order, as an array: serde would take it.
            (json, br#"["a"]"#, Some(400)),
            (json, br#" "a" "#, Some(400)),
        ];
        for (ct, body, expected) in cases {
            let result = json_body::<Body>(&post(ct, body), 64);
            assert_eq!(
                result.err().map(|e| e.0.status()),
                expected,
                "{ct:?} {}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn routes_without_a_body_take_nothing_or_an_empty_object() {
        let cases: [(&[u8], Option<u16>); 4] = [
            (b"", None),
            (b" {} ", None),
            (b"junk", Some(400)),
            (&[b'x'; MAX_JSON_BODY_BYTES + 1], Some(413)),
        ];
        for (body, expected) in cases {
            let result = no_body(&post(None, body));
            assert_eq!(result.err().map(|e| e.0.status()), expected);
        }
    }
}
