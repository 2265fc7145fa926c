//! `api`: the client of the app's knowledge-base HTTP API (`/api/kb/...`) that `load`,
//! `sync`, `list`, `delete` and `eval` share. It sends the bearer token, retries what the
//! server asks to retry (503 with backoff, 429 after `Retry-After`), and turns problem
//! responses into errors that say what went wrong without ever showing the token.
//!
//! Not here: deciding what to upload or delete (`load`, `documents`), scoring results
//! (`eval`).

use std::fmt;
use std::time::Duration;

use core_logic::kb::{SearchMode, VectorStatus};
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response, multipart};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Documents asked for per page when listing (the API's maximum).
const LIST_PAGE: u32 = 200;
/// Uploads are parsed, chunked and embedded before the answer: allow for large files.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A document as the API describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub id: String,
    pub external_id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub source_url: Option<String>,
    #[serde(default)]
    pub content_type: String,
    pub content_hash: String,
    #[serde(default)]
    pub chunk_count: u64,
    pub vector_status: VectorStatus,
    /// Unix milliseconds.
    #[serde(default)]
    pub created_at: i64,
    /// Unix milliseconds.
    #[serde(default)]
    pub updated_at: i64,
}

/// What an upsert did to the stored document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpsertStatus {
    Created,
    Updated,
    Unchanged,
}

/// The answer to `PUT /api/kb/documents/{external_id}` (the stored document it also holds
/// is not needed).
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Upserted {
    pub status: UpsertStatus,
    /// `pending` when the document is stored but the vector index could not be written.
    pub vector_index: VectorStatus,
}

/// A curated answer: the question an admin answered and the answer, as `kb-loader curated`
/// exports and imports them (one JSON object a line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CuratedAnswer {
    pub question: String,
    pub answer: String,
}

/// The answer to `POST /api/kb/curated`; only what the CLI uses.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Curated {
    pub status: UpsertStatus,
    pub vector_index: VectorStatus,
}

/// One search result; only what the CLI uses.
#[derive(Debug, Clone, Deserialize)]
pub struct SearchResult {
    pub external_id: String,
    pub score: f64,
}

/// The answer to `POST /api/kb/reindex`.
#[derive(Debug, Clone, Deserialize)]
pub struct Reindexed {
    pub indexed: Vec<String>,
    pub pending: i64,
    pub stopped: Option<String>,
}

/// The answer to `POST /api/kb/search`.
#[derive(Debug, Clone, Deserialize)]
pub struct SearchResponse {
    pub results: Vec<SearchResult>,
    #[serde(default)]
    pub degraded: bool,
    #[serde(default)]
    pub missing: Vec<String>,
    #[serde(default)]
    pub confidence: f64,
}

#[derive(Deserialize)]
struct DocumentPage {
    documents: Vec<Document>,
    next_cursor: Option<String>,
}

/// The `application/problem+json` body of an error response.
#[derive(Deserialize)]
struct Problem {
    title: Option<String>,
    detail: Option<String>,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// No connection could be made.
    Unreachable { base_url: String },
    /// Connected, but no answer came in time.
    TimedOut { base_url: String },
    /// The server answered with an error status; `detail` is the problem's detail.
    Status { status: u16, detail: String },
    /// The answer was not what the API promises.
    InvalidResponse { detail: String },
}

impl ApiError {
    /// Whether no later call can succeed either (bad token, no app), so a batch should stop.
    pub fn is_fatal(&self) -> bool {
        match self {
            ApiError::Unreachable { .. } => true,
            ApiError::Status { status, .. } => matches!(status, 401 | 403),
            ApiError::TimedOut { .. } | ApiError::InvalidResponse { .. } => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Unreachable { base_url } => {
                write!(
                    f,
                    "cannot reach the app at {base_url}: is it running? (make run)"
                )
            }
            ApiError::TimedOut { base_url } => write!(
                f,
                "the app at {base_url} did not answer within {}s",
                REQUEST_TIMEOUT.as_secs()
            ),
            ApiError::Status {
                status: 401,
                detail,
            } => write!(f, "the token was refused: {detail} (401)"),
            ApiError::Status {
                status: 403,
                detail,
            } => write!(
                f,
                "the token may not do this (an admin token of the tenant is needed): {detail} (403)"
            ),
            ApiError::Status { status, detail } => write!(f, "{detail} ({status})"),
            ApiError::InvalidResponse { detail } => {
                write!(f, "unexpected answer from the app: {detail}")
            }
        }
    }
}

impl std::error::Error for ApiError {}

/// How often and how long to retry a 503 or 429.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Tries in all, the first included, while the app answers 503 (a dependency is down).
    pub attempts: u32,
    /// Wait before the second try after a 503; doubled for each further try.
    pub backoff: Duration,
    /// Tries in all while the app answers 429. Higher than `attempts`: the app says when to
    /// come back, and a bulk load or an evaluation can reach the tenant's rate limit more
    /// than once.
    pub rate_limited_attempts: u32,
    /// Longest wait honoured from a `Retry-After` (`backoff` when there is none).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            backoff: Duration::from_millis(500),
            rate_limited_attempts: 10,
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// A client of one app, speaking for one token. Shared by reference between threads.
pub struct Api {
    base_url: String,
    token: String,
    http: Client,
    retry: RetryPolicy,
}

impl Api {
    /// `base_url` is the app's origin, e.g. `http://127.0.0.1:3000`.
    pub fn new(base_url: &str, token: &str) -> anyhow::Result<Api> {
        let base_url = base_url.trim().trim_end_matches('/').to_string();
        anyhow::ensure!(
            base_url.starts_with("http://"),
            "--url must be an http:// URL (this build speaks plain HTTP to a local or \
             proxied app), not {base_url:?}"
        );
        anyhow::ensure!(!token.trim().is_empty(), "the token is empty");
        let http = Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()?;
        Ok(Api {
            base_url,
            token: token.trim().to_string(),
            http,
            retry: RetryPolicy::default(),
        })
    }

    #[cfg(test)]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Api {
        self.retry = retry;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Every document of the tenant, following the cursors.
    pub fn list_documents(&self) -> Result<Vec<Document>, ApiError> {
        let mut documents = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/kb/documents?limit={LIST_PAGE}");
            if let Some(c) = &cursor {
                path.push_str("&cursor=");
                path.push_str(&encode_component(c));
            }
            let page: DocumentPage = self.json(|| self.http.get(self.url(&path)))?;
            documents.extend(page.documents);
            match page.next_cursor {
                Some(next) if cursor.as_ref() == Some(&next) => {
                    return Err(ApiError::InvalidResponse {
                        detail: "the document list repeats the same cursor".into(),
                    });
                }
                Some(next) => cursor = Some(next),
                None => return Ok(documents),
            }
        }
    }

    /// Creates or replaces the document `external_id` with a file's contents; the server
    /// finds its type from `file_name` and the bytes.
    pub fn upsert_document(
        &self,
        external_id: &str,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<Upserted, ApiError> {
        let url = self.url(&format!(
            "/api/kb/documents/{}",
            encode_component(external_id)
        ));
        self.json(|| {
            let part = multipart::Part::bytes(bytes.to_vec()).file_name(file_name.to_string());
            self.http
                .put(&url)
                .multipart(multipart::Form::new().part("file", part))
        })
    }

    /// Deletes a document by the server's id.
    pub fn delete_document(&self, id: &str) -> Result<(), ApiError> {
        let url = self.url(&format!("/api/kb/documents/{}", encode_component(id)));
        self.send(|| self.http.delete(&url)).map(drop)
    }

    /// Writes the vectors of a batch of pending documents.
    pub fn reindex(&self) -> Result<Reindexed, ApiError> {
        let url = self.url("/api/kb/reindex");
        self.json(|| self.http.post(&url))
    }

    /// The tenant's curated answers, most recently changed first.
    pub fn curated_answers(&self) -> Result<Vec<CuratedAnswer>, ApiError> {
        #[derive(Deserialize)]
        struct Stored {
            question: String,
            answer: String,
        }
        #[derive(Deserialize)]
        struct Page {
            answers: Vec<Stored>,
        }
        let url = self.url("/api/kb/curated");
        let page: Page = self.json(|| self.http.get(&url))?;
        Ok(page
            .answers
            .into_iter()
            .map(|a| CuratedAnswer {
                question: a.question,
                answer: a.answer,
            })
            .collect())
    }

    /// Writes a curated answer (a new question, or a new answer to a known one).
    pub fn curate(&self, answer: &CuratedAnswer) -> Result<Curated, ApiError> {
        let url = self.url("/api/kb/curated");
        self.json(|| self.http.post(&url).json(answer))
    }

    pub fn search(
        &self,
        query: &str,
        limit: usize,
        mode: SearchMode,
    ) -> Result<SearchResponse, ApiError> {
        let body = serde_json::json!({ "query": query, "limit": limit, "mode": mode });
        let url = self.url("/api/kb/search");
        self.json(|| self.http.post(&url).json(&body))
    }

    /// A new chat session of the tenant whose widget key this is: its id and visitor token.
    pub fn start_session(&self, widget_key: &str) -> Result<(String, String), ApiError> {
        let url = self.url("/api/sessions");
        let body = serde_json::json!({ "widget_key": widget_key });
        let response = self.send_as(None, || self.http.post(&url).json(&body))?;
        let created: serde_json::Value =
            response.json().map_err(|e| ApiError::InvalidResponse {
                detail: e.to_string(),
            })?;
        match (created["session"]["id"].as_str(), created["token"].as_str()) {
            (Some(id), Some(token)) => Ok((id.to_string(), token.to_string())),
            _ => Err(ApiError::InvalidResponse {
                detail: "the new session has no id or token".into(),
            }),
        }
    }

    /// The visitor of `session` says `text`: the turn (message, reply, action) as the API
    /// returns it.
    pub fn say(
        &self,
        session: &str,
        visitor_token: &str,
        text: &str,
    ) -> Result<serde_json::Value, ApiError> {
        let url = self.url(&format!(
            "/api/sessions/{}/messages",
            encode_component(session)
        ));
        let body = serde_json::json!({ "text": text });
        let response = self.send_as(Some(visitor_token), || self.http.post(&url).json(&body))?;
        response.json().map_err(|e| ApiError::InvalidResponse {
            detail: e.to_string(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    fn json<T: DeserializeOwned>(
        &self,
        request: impl Fn() -> RequestBuilder,
    ) -> Result<T, ApiError> {
        let response = self.send(request)?;
        let body = response.bytes().map_err(|e| self.transport_error(&e))?;
        serde_json::from_slice(&body).map_err(|e| ApiError::InvalidResponse {
            detail: e.to_string(),
        })
    }

    /// Sends the request made by `request` (again, when retrying) and returns a successful
    /// response.
    fn send(&self, request: impl Fn() -> RequestBuilder) -> Result<Response, ApiError> {
        self.send_as(Some(&self.token), request)
    }

    /// [`send`](Self::send) with another token, or none.
    fn send_as(
        &self,
        token: Option<&str>,
        request: impl Fn() -> RequestBuilder,
    ) -> Result<Response, ApiError> {
        let (mut unavailable, mut rate_limited) = (0, 0);
        loop {
            let mut builder = request();
            if let Some(token) = token {
                builder = builder.bearer_auth(token);
            }
            let response = builder.send().map_err(|e| self.transport_error(&e))?;
            let wait = match response.status() {
                status if status.is_success() => return Ok(response),
                StatusCode::SERVICE_UNAVAILABLE => {
                    unavailable += 1;
                    (unavailable < self.retry.attempts)
                        .then(|| self.retry.backoff * 2u32.pow(unavailable - 1))
                }
                StatusCode::TOO_MANY_REQUESTS => {
                    rate_limited += 1;
                    (rate_limited < self.retry.rate_limited_attempts).then(|| {
                        retry_after(&response)
                            .unwrap_or(self.retry.backoff)
                            .min(self.retry.max_retry_after)
                    })
                }
                _ => None,
            };
            match wait {
                Some(wait) => std::thread::sleep(wait),
                None => return Err(problem(response)),
            }
        }
    }

    fn transport_error(&self, e: &reqwest::Error) -> ApiError {
        let base_url = self.base_url.clone();
        if e.is_timeout() {
            ApiError::TimedOut { base_url }
        } else if e.is_connect() {
            ApiError::Unreachable { base_url }
        } else {
            // reqwest's message names the URL, which holds no secret (the token travels in
            // a header).
            ApiError::InvalidResponse {
                detail: error_chain(e),
            }
        }
    }
}

/// The error of a failed response, from its problem body when it has one.
fn problem(response: Response) -> ApiError {
    let status = response.status();
    let text = response.text().unwrap_or_default();
    let detail = serde_json::from_str::<Problem>(&text)
        .ok()
        .and_then(|p| p.detail.or(p.title))
        .filter(|d| !d.trim().is_empty())
        .or_else(|| {
            let text = text.trim();
            (!text.is_empty() && text.len() <= 200 && !text.starts_with('<'))
                .then(|| text.to_string())
        })
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_lowercase());
    ApiError::Status {
        status: status.as_u16(),
        detail,
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by the app).
fn retry_after(response: &Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?;
    let secs: u64 = value.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Percent-encodes `text` as one URL path segment or query value: everything but the
/// unreserved characters (RFC 3986 `ALPHA / DIGIT / - . _ ~`) is escaped, `/` included.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::{Reply, TestServer, document_json};

    fn api(server: &TestServer) -> Api {
        Api::new(&server.url, "secret-token")
            .unwrap()
            .with_retry(RetryPolicy {
                backoff: Duration::ZERO,
                max_retry_after: Duration::ZERO,
                ..RetryPolicy::default()
            })
    }

    fn upserted(status: &str) -> serde_json::Value {
        serde_json::json!({
            "document": document_json("d1", "billing/refund policy.md", "ab", "indexed"),
            "status": status,
            "vector_index": "indexed",
        })
    }

    #[test]
    fn upload_is_a_multipart_put_to_the_encoded_external_id_with_the_token() {
        let server = TestServer::start(|_| Reply::json(201, upserted("created")));
        let done = api(&server)
            .upsert_document(
                "billing/refund policy.md",
                "refund policy.md",
                b"# Refunds\n",
            )
            .unwrap();
        assert_eq!(done.status, UpsertStatus::Created);
        let requests = server.requests();
        assert_eq!(requests.len(), 1);
        let r = &requests[0];
        assert_eq!(r.method, "PUT");
        assert_eq!(r.target, "/api/kb/documents/billing%2Frefund%20policy.md");
        assert_eq!(r.header("authorization"), Some("Bearer secret-token"));
        assert!(
            r.header("content-type")
                .unwrap()
                .starts_with("multipart/form-data; boundary=")
        );
        let body = r.body_text();
        assert!(body.contains(r#"name="file"; filename="refund policy.md""#));
        assert!(body.contains("# Refunds\n"));
    }

    #[test]
    fn listing_follows_cursors_until_there_is_none() {
        let server = TestServer::start(|r| {
            let next = if r.target.contains("cursor=") {
                serde_json::Value::Null
            } else {
                "6162".into()
            };
            let n = if next.is_null() { "2" } else { "1" };
            Reply::json(
                200,
                serde_json::json!({
                    "documents": [document_json(n, &format!("doc{n}.md"), "ab", "pending")],
                    "next_cursor": next,
                }),
            )
        });
        let docs = api(&server).list_documents().unwrap();
        let ids: Vec<&str> = docs.iter().map(|d| d.external_id.as_str()).collect();
        assert_eq!(ids, ["doc1.md", "doc2.md"]);
        assert_eq!(docs[1].vector_status, VectorStatus::Pending);
        let targets: Vec<String> = server.requests().into_iter().map(|r| r.target).collect();
        assert_eq!(
            targets,
            [
                "/api/kb/documents?limit=200",
                "/api/kb/documents?limit=200&cursor=6162"
            ]
        );
    }

    #[test]
    fn refused_token_shows_the_problem_detail_but_never_the_token() {
        let server = TestServer::start(|_| Reply::problem(401, "the token has expired"));
        let err = api(&server).list_documents().unwrap_err();
        let text = err.to_string();
        assert_eq!(text, "the token was refused: the token has expired (401)");
        assert!(!text.contains("secret-token"));
        assert!(err.is_fatal());
    }

    #[test]
    fn forbidden_says_an_admin_token_is_needed() {
        let server = TestServer::start(|_| Reply::problem(403, "admins only"));
        let text = api(&server).list_documents().unwrap_err().to_string();
        assert!(text.contains("admin token"), "{text}");
        assert!(text.ends_with("admins only (403)"), "{text}");
    }

    #[test]
    fn unsupported_file_type_reports_the_servers_detail_and_status() {
        let server = TestServer::start(|_| Reply::problem(415, "unsupported file type"));
        let err = api(&server)
            .upsert_document("scans/photo.png", "photo.png", b"\x89PNG")
            .unwrap_err();
        assert_eq!(err.to_string(), "unsupported file type (415)");
        assert!(!err.is_fatal());
        assert_eq!(server.requests().len(), 1, "a 415 is not retried");
    }

    #[test]
    fn an_error_without_a_problem_body_falls_back_to_the_status_reason() {
        let server = TestServer::start(|_| Reply::empty(413));
        let err = api(&server).delete_document("d1").unwrap_err();
        assert_eq!(err.to_string(), "payload too large (413)");
    }

    #[test]
    fn unreachable_app_says_how_to_start_it() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let api = Api::new(&format!("http://127.0.0.1:{port}/"), "t").unwrap();
        let err = api.list_documents().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("cannot reach the app at http://127.0.0.1:{port}: is it running? (make run)")
        );
        assert!(err.is_fatal());
    }

    #[test]
    fn unavailable_is_retried_and_then_succeeds() {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let server = TestServer::start(move |_| {
            if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                Reply::problem(503, "the embedder is down")
            } else {
                Reply::json(200, upserted("updated"))
            }
        });
        let done = api(&server).upsert_document("a.md", "a.md", b"x").unwrap();
        assert_eq!(done.status, UpsertStatus::Updated);
        let requests = server.requests();
        assert_eq!(requests.len(), 2);
        assert!(
            requests[1].body_text().contains(r#"name="file""#),
            "retry resends the file"
        );
    }

    #[test]
    fn unavailable_gives_up_after_three_tries() {
        let server = TestServer::start(|_| Reply::problem(503, "the database is down"));
        let err = api(&server).list_documents().unwrap_err();
        assert_eq!(err.to_string(), "the database is down (503)");
        assert_eq!(server.requests().len(), 3);
    }

    #[test]
    fn too_many_requests_is_retried_after_the_servers_wait() {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let server = TestServer::start(move |_| {
            if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                Reply::problem(429, "slow down").with_header("retry-after", "0")
            } else {
                Reply::empty(204)
            }
        });
        api(&server).delete_document("d1").unwrap();
        assert_eq!(server.requests().len(), 2);
    }

    #[test]
    fn delete_addresses_the_server_id() {
        let server = TestServer::start(|_| Reply::empty(204));
        api(&server).delete_document("doc_01/x").unwrap();
        let r = &server.requests()[0];
        assert_eq!(r.method, "DELETE");
        assert_eq!(r.target, "/api/kb/documents/doc_01%2Fx");
    }

    #[test]
    fn search_posts_the_query_limit_and_mode() {
        let server = TestServer::start(|_| {
            Reply::json(
                200,
                serde_json::json!({
                    "results": [{
                        "chunk_id": "c1", "document_id": "d1", "external_id": "a.md",
                        "title": "A", "heading_path": [], "source_url": null, "text": "...",
                        "rank": 1, "score": 0.5, "vector": null,
                        "keyword": {"rank": 1, "score": 2.0},
                    }],
                    "degraded": true,
                    "missing": ["vector"],
                    "confidence": 0.25,
                }),
            )
        });
        let found = api(&server)
            .search("how do refunds work?", 30, SearchMode::Keyword)
            .unwrap();
        assert_eq!(found.results[0].external_id, "a.md");
        assert!(found.degraded);
        assert_eq!(found.missing, ["vector"]);
        let r = &server.requests()[0];
        assert_eq!(
            (r.method.as_str(), r.target.as_str()),
            ("POST", "/api/kb/search")
        );
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"query": "how do refunds work?", "limit": 30, "mode": "keyword"})
        );
    }

    #[test]
    fn path_segments_escape_slashes_spaces_and_non_ascii() {
        assert_eq!(encode_component("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(
            encode_component("faq/en/refund policy.md"),
            "faq%2Fen%2Frefund%20policy.md"
        );
        assert_eq!(encode_component("ä?#%+"), "%C3%A4%3F%23%25%2B");
    }

    #[test]
    fn only_plain_http_urls_are_accepted() {
        assert!(Api::new("https://app.example", "t").is_err());
        assert!(Api::new("http://127.0.0.1:3000/", "t").is_ok());
        assert!(Api::new("http://127.0.0.1:3000", " ").is_err());
    }
}
