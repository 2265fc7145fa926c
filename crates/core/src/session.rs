//! Sessions as the API sees them: the visitor details a widget may send, session status
//! values, and the paging parameters of `GET /api/sessions` (query string, limit, cursor).
//!
//! Pure validation: every function takes what the client sent and returns either clean
//! values or a 4xx [`Problem`]. Storing sessions is `edge::store`'s job.

use serde::{Deserialize, Serialize};

use crate::problem::{Problem, ProblemKind};

/// Longest visitor name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest e-mail address (RFC 5321 path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Longest locale tag (BCP 47 recommends supporting at least 35).
pub const MAX_LOCALE_CHARS: usize = 35;
/// Longest widget key accepted before any lookup.
pub const MAX_WIDGET_KEY_CHARS: usize = 128;
/// Page size when the client gives none, and the largest it may ask for.
pub const DEFAULT_PAGE_LIMIT: u32 = 20;
pub const MAX_PAGE_LIMIT: u32 = 100;

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// The bot answers.
    Open,
    /// A human has taken over.
    HandedOff,
    /// Finished; kept for the record.
    Closed,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Open => "open",
            SessionStatus::HandedOff => "handed_off",
            SessionStatus::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<SessionStatus> {
        match s {
            "open" => Some(SessionStatus::Open),
            "handed_off" => Some(SessionStatus::HandedOff),
            "closed" => Some(SessionStatus::Closed),
            _ => None,
        }
    }
}

/// The body of `POST /api/sessions`. Unknown fields are refused so a typo is not ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSessionRequest {
    pub widget_key: String,
    #[serde(default)]
    pub visitor: Option<VisitorInput>,
}

/// What a visitor may tell about themselves; all optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitorInput {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
}

/// Visitor details after validation: trimmed, empty strings dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Visitor {
    pub name: Option<String>,
    pub email: Option<String>,
    pub locale: Option<String>,
}

fn unprocessable(detail: impl Into<String>) -> Problem {
    Problem::new(ProblemKind::Unprocessable, detail)
}

fn bad_request(detail: impl Into<String>) -> Problem {
    Problem::new(ProblemKind::BadRequest, detail)
}

fn non_empty(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Checks a widget key's shape (not whether a tenant has it).
pub fn validate_widget_key(key: &str) -> Result<&str, Problem> {
    let key = key.trim();
    if key.is_empty() {
        return Err(unprocessable("`widget_key` is required"));
    }
    if key.chars().count() > MAX_WIDGET_KEY_CHARS || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(unprocessable("`widget_key` is not a valid widget key"));
    }
    Ok(key)
}

/// Validates the visitor details of a new session.
pub fn validate_visitor(input: Option<&VisitorInput>) -> Result<Visitor, Problem> {
    let Some(input) = input else {
        return Ok(Visitor::default());
    };
    let name = non_empty(input.name.as_deref());
    if let Some(name) = &name {
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(unprocessable(format!(
                "`visitor.name` is longer than {MAX_NAME_CHARS} characters"
            )));
        }
        if name.chars().any(char::is_control) {
            return Err(unprocessable("`visitor.name` contains control characters"));
        }
    }
    let email = non_empty(input.email.as_deref());
    if let Some(email) = &email
        && !is_plausible_email(email)
    {
        return Err(unprocessable("`visitor.email` is not an e-mail address"));
    }
    let locale = non_empty(input.locale.as_deref());
    if let Some(locale) = &locale
        && !is_locale_tag(locale)
    {
        return Err(unprocessable(
            "`visitor.locale` is not a language tag such as `en` or `pt-BR`",
        ));
    }
    Ok(Visitor {
        name,
        email,
        locale,
    })
}

/// One `@`, something on each side, a dot in the domain, no spaces or controls, not too long.
fn is_plausible_email(s: &str) -> bool {
    if s.chars().count() > MAX_EMAIL_CHARS || s.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return false;
    }
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        }
        None => false,
    }
}

/// A BCP 47-shaped tag: 1–8 letter primary subtag, then alphanumeric subtags of 1–8.
fn is_locale_tag(s: &str) -> bool {
    if s.len() > MAX_LOCALE_CHARS {
        return false;
    }
    let mut parts = s.split(['-', '_']);
    let primary_ok = parts
        .next()
        .is_some_and(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
    primary_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Session ids are 32 lowercase hex digits; anything else cannot name a session.
pub fn is_session_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Where the next page starts: after this (created_at, id) in newest-first order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: i64,
    pub id: String,
}

impl Cursor {
    /// An opaque token for the client.
    pub fn encode(&self) -> String {
        hex::encode(format!("{}:{}", self.created_at, self.id))
    }

    pub fn decode(token: &str) -> Result<Cursor, Problem> {
        let invalid = || bad_request("`cursor` is not a cursor this API returned");
        if token.len() > 128 {
            return Err(invalid());
        }
        let bytes = hex::decode(token).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (at, id) = text.split_once(':').ok_or_else(invalid)?;
        let created_at = at.parse::<i64>().map_err(|_| invalid())?;
        if !is_session_id(id) {
            return Err(invalid());
        }
        Ok(Cursor {
            created_at,
            id: id.to_string(),
        })
    }
}

/// The parameters of `GET /api/sessions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub status: Option<SessionStatus>,
    pub limit: u32,
    pub after: Option<Cursor>,
}

/// Parses `status=&limit=&cursor=`; unknown or repeated parameters are a 400.
pub fn parse_list_query(query: &str) -> Result<ListQuery, Problem> {
    let mut out = ListQuery {
        status: None,
        limit: DEFAULT_PAGE_LIMIT,
        after: None,
    };
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in parse_query_string(query)? {
        if seen.contains(&name) {
            return Err(bad_request(format!("`{name}` is given more than once")));
        }
        match name.as_str() {
            "status" => {
                out.status = Some(SessionStatus::parse(&value).ok_or_else(|| {
                    bad_request("`status` must be one of open, handed_off, closed")
                })?);
            }
            "limit" => {
                out.limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE_LIMIT).contains(n))
                    .ok_or_else(|| {
                        bad_request(format!("`limit` must be between 1 and {MAX_PAGE_LIMIT}"))
                    })?;
            }
            "cursor" => out.after = Some(Cursor::decode(&value)?),
            other => {
                let shown: String = other.chars().take(40).collect();
                return Err(bad_request(format!("unknown query parameter `{shown}`")));
            }
        }
        seen.push(name);
    }
    Ok(out)
}

/// Splits a query string into percent-decoded pairs (`+` is a space). Empty pieces are skipped.
pub fn parse_query_string(query: &str) -> Result<Vec<(String, String)>, Problem> {
    let query = query.strip_prefix('?').unwrap_or(query);
    let mut pairs = Vec::new();
    for piece in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
        pairs.push((percent_decode(name, true)?, percent_decode(value, true)?));
    }
    Ok(pairs)
}

/// Percent-decodes a query-string piece (`plus_is_space`) or a path segment.
pub(crate) fn percent_decode(s: &str, plus_is_space: bool) -> Result<String, Problem> {
    let invalid = || bad_request("the request URL is not valid percent-encoded UTF-8");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or_else(invalid)?;
                let hex = std::str::from_utf8(hex).map_err(|_| invalid())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| invalid())?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visitor(name: Option<&str>, email: Option<&str>, locale: Option<&str>) -> VisitorInput {
        VisitorInput {
            name: name.map(Into::into),
            email: email.map(Into::into),
            locale: locale.map(Into::into),
        }
    }

    #[test]
    fn visitor_details_are_validated_field_by_field() {
        let long_name = "n".repeat(MAX_NAME_CHARS + 1);
        let ok_name = "é".repeat(MAX_NAME_CHARS);
        let long_email = format!("{}@example.com", "a".repeat(MAX_EMAIL_CHARS));
        let cases: &[(VisitorInput, bool)] = &[
            (visitor(None, None, None), true),
            (
                visitor(Some("Ada"), Some("ada@example.com"), Some("en")),
                true,
            ),
            (visitor(Some(&ok_name), None, None), true),
            (visitor(Some(&long_name), None, None), false),
            (visitor(Some("bell\u{7}"), None, None), false),
            (visitor(None, Some("ada"), None), false),
            (visitor(None, Some("ada@localhost"), None), false),
            (visitor(None, Some("a da@example.com"), None), false),
            (visitor(None, Some("@example.com"), None), false),
            (visitor(None, Some("a@b@example.com"), None), false),
            (visitor(None, Some(&long_email), None), false),
            (visitor(None, None, Some("pt-BR")), true),
            (visitor(None, None, Some("zh-Hant-TW")), true),
            (visitor(None, None, Some("en_US")), true),
            (visitor(None, None, Some("english please")), false),
            (visitor(None, None, Some("e1")), false),
            (visitor(None, None, Some(&"a-".repeat(20))), false),
        ];
        for (input, ok) in cases {
            assert_eq!(validate_visitor(Some(input)).is_ok(), *ok, "{input:?}");
        }
    }

    #[test]
    fn invalid_visitor_details_are_422() {
        let err = validate_visitor(Some(&visitor(None, Some("nope"), None))).unwrap_err();
        assert_eq!(err.status(), 422);
    }

    #[test]
    fn blank_visitor_fields_become_absent() {
        let v = validate_visitor(Some(&visitor(Some("  "), Some(""), Some(" en ")))).unwrap();
        assert_eq!(v.name, None);
        assert_eq!(v.email, None);
        assert_eq!(v.locale.as_deref(), Some("en"));
    }

    #[test]
    fn widget_keys_must_be_short_printable_ascii() {
        let cases = [
            ("wk_live_123", true),
            ("  wk  ", true),
            ("", false),
            ("   ", false),
            ("has space", false),
            ("ключ", false),
        ];
        for (key, ok) in cases {
            assert_eq!(validate_widget_key(key).is_ok(), ok, "{key:?}");
        }
        assert!(validate_widget_key(&"k".repeat(MAX_WIDGET_KEY_CHARS + 1)).is_err());
    }

    #[test]
    fn create_body_refuses_unknown_fields_and_wrong_types() {
        let cases = [
            (r#"{"widget_key":"k"}"#, true),
            (r#"{"widget_key":"k","visitor":{"name":"A"}}"#, true),
            (r#"{"widget_key":"k","visitor":null}"#, true),
            (r#"{"widget_key":"k","extra":1}"#, false),
            (r#"{"widget_key":"k","visitor":{"age":3}}"#, false),
            (r#"{"widget_key":5}"#, false),
            (r#"{"widget_key":"k","visitor":"Ada"}"#, false),
            (r#"{}"#, false),
            (r#"[]"#, false),
        ];
        for (body, ok) in cases {
            let parsed = serde_json::from_str::<CreateSessionRequest>(body);
            assert_eq!(parsed.is_ok(), ok, "{body}");
        }
    }

    #[test]
    fn session_ids_are_32_lowercase_hex() {
        let cases = [
            ("0123456789abcdef0123456789abcdef", true),
            ("0123456789ABCDEF0123456789abcdef", false),
            ("0123456789abcdef", false),
            ("../../etc/passwd", false),
            ("", false),
        ];
        for (id, ok) in cases {
            assert_eq!(is_session_id(id), ok, "{id}");
        }
    }

    #[test]
    fn status_values_round_trip() {
        for s in [
            SessionStatus::Open,
            SessionStatus::HandedOff,
            SessionStatus::Closed,
        ] {
            assert_eq!(SessionStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(SessionStatus::parse("OPEN"), None);
    }

    #[test]
    fn cursors_round_trip_and_forgeries_are_400() {
        let c = Cursor {
            created_at: 1_700_000_000_000,
            id: "0123456789abcdef0123456789abcdef".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        for bad in ["", "!!!", "6e6f742d612d637572736f72", &"a".repeat(200)] {
            assert_eq!(Cursor::decode(bad).unwrap_err().status(), 400, "{bad}");
        }
    }

    #[test]
    fn list_query_parameters_are_checked() {
        let q = parse_list_query("").unwrap();
        assert_eq!(q.limit, DEFAULT_PAGE_LIMIT);
        assert_eq!(q.status, None);
        let q = parse_list_query("status=handed_off&limit=5").unwrap();
        assert_eq!(q.status, Some(SessionStatus::HandedOff));
        assert_eq!(q.limit, 5);
        let cases = [
            ("limit=0", false),
            ("limit=100", true),
            ("limit=101", false),
            ("limit=-1", false),
            ("limit=ten", false),
            ("status=open", true),
            ("status=pending", false),
            ("status=open&status=closed", false),
            ("sort=asc", false),
            ("cursor=%ZZ", false),
            ("status=op%65n", true),
            ("&&limit=3&", true),
        ];
        for (query, ok) in cases {
            assert_eq!(parse_list_query(query).is_ok(), ok, "{query}");
        }
    }

    #[test]
    fn query_strings_are_percent_decoded() {
        assert_eq!(
            parse_query_string("?a=b%20c&d=e+f&g").unwrap(),
            vec![
                ("a".into(), "b c".into()),
                ("d".into(), "e f".into()),
                ("g".into(), String::new())
            ]
        );
        assert!(parse_query_string("a=%FF").is_err());
        assert!(parse_query_string("a=%4").is_err());
    }
}
