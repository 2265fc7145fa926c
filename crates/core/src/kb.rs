//! Knowledge-base rules: what a document upload may carry, the names and ids derived from
//! it, the keyword query built from a question, and the parameters of the document list and
//! of the search preview.
//!
//! Pure: the ingest component reads requests and calls these; `edge::kb` stores and
//! searches. Not here: parsing files (`docparse`), chunking (`chunking`), fusing result
//! lists (`retrieval`).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::problem::{Problem, ProblemKind};
use crate::session::{parse_query_string, percent_decode};

/// External ids of visitors' attachments start with this; the knowledge base's may not.
pub const ATTACHMENT_PREFIX: &str = "attachment:";
/// Longest external id, in bytes (ids are usually relative file paths or URLs).
pub const MAX_EXTERNAL_ID_BYTES: usize = 512;
/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 300;
/// Longest source URL, in bytes.
pub const MAX_SOURCE_URL_BYTES: usize = 2048;
/// Longest search query, in characters.
pub const MAX_QUERY_CHARS: usize = 2000;
/// Most results one search returns.
pub const MAX_SEARCH_LIMIT: usize = 50;
/// Documents on one page of the list when the caller sets no limit.
pub const DEFAULT_DOCUMENT_PAGE: u32 = 50;
/// Most documents on one page of the list.
pub const MAX_DOCUMENT_PAGE: u32 = 200;
/// Most terms a keyword query keeps (long pasted questions would only slow the index).
pub const MAX_KEYWORD_TERMS: usize = 32;

fn bad_request(detail: impl Into<String>) -> Problem {
    Problem::new(ProblemKind::BadRequest, detail)
}

/// Whether a document's chunks are all in the vector index yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VectorStatus {
    Indexed,
    /// Stored and keyword-searchable; the vectors could not be written yet (embedder or
    /// vector index down). Uploading the same content again retries.
    Pending,
}

impl VectorStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VectorStatus::Indexed => "indexed",
            VectorStatus::Pending => "pending",
        }
    }

    pub fn parse(s: &str) -> Option<VectorStatus> {
        match s {
            "indexed" => Some(VectorStatus::Indexed),
            "pending" => Some(VectorStatus::Pending),
            _ => None,
        }
    }
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpsertOutcome {
    Created,
    Updated,
    /// Same content, title and source as stored, and already indexed: nothing was redone.
    Unchanged,
}

impl UpsertOutcome {
    /// The HTTP status of the response: 201 only when a document came into being.
    pub fn status(self) -> u16 {
        match self {
            UpsertOutcome::Created => 201,
            UpsertOutcome::Updated | UpsertOutcome::Unchanged => 200,
        }
    }
}

/// A document sent as JSON instead of a file upload.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonDocument {
    /// The caller's stable id; `POST` makes one from the content hash when absent.
    pub external_id: Option<String>,
    pub title: Option<String>,
    pub source_url: Option<String>,
    pub content: String,
    /// A hint such as `text/markdown` or `text/html`; the bytes decide.
    pub content_type: Option<String>,
    /// A hint such as `refunds.md`.
    pub file_name: Option<String>,
}

/// The descriptive fields of an upload, checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocumentFields {
    pub title: Option<String>,
    pub source_url: Option<String>,
}

/// An external id: 1..=512 bytes of text without control characters.
pub fn validate_external_id(id: &str) -> Result<&str, Problem> {
    if id.trim().is_empty() || id.len() > MAX_EXTERNAL_ID_BYTES {
        return Err(bad_request(format!(
            "`external_id` must be 1 to {MAX_EXTERNAL_ID_BYTES} bytes"
        )));
    }
    if id.chars().any(char::is_control) {
        return Err(bad_request(
            "`external_id` must not contain control characters",
        ));
    }
    if id.starts_with(ATTACHMENT_PREFIX) {
        return Err(bad_request(format!(
            "`external_id` must not start with `{ATTACHMENT_PREFIX}` (reserved for visitors' attachments)"
        )));
    }
    Ok(id)
}

/// Title and source URL: trimmed, empty means absent, bounded; the URL must be http(s).
pub fn validate_fields(
    title: Option<&str>,
    source_url: Option<&str>,
) -> Result<DocumentFields, Problem> {
    let title = title.map(str::trim).filter(|t| !t.is_empty());
    if title.is_some_and(|t| t.chars().count() > MAX_TITLE_CHARS || t.chars().any(char::is_control))
    {
        return Err(bad_request(format!(
            "`title` must be at most {MAX_TITLE_CHARS} characters without control characters"
        )));
    }
    let source_url = source_url.map(str::trim).filter(|u| !u.is_empty());
    if let Some(u) = source_url {
        let scheme_ok = u.starts_with("https://") || u.starts_with("http://");
        if !scheme_ok
            || u.len() > MAX_SOURCE_URL_BYTES
            || u.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(bad_request(format!(
                "`source_url` must be an http(s) URL of at most {MAX_SOURCE_URL_BYTES} bytes"
            )));
        }
    }
    Ok(DocumentFields {
        title: title.map(str::to_string),
        source_url: source_url.map(str::to_string),
    })
}

/// Lowercase hex SHA-256 of a document's raw bytes: what "unchanged" is decided on, and
/// what `kb-loader` computes locally to skip files.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The external id `POST` gives a document sent without one.
pub fn external_id_for(content_hash: &str) -> String {
    format!("sha256:{content_hash}")
}

/// A path segment, percent-decoded (`%2F` → `/`, so external ids that are paths fit in one
/// segment); `+` stays a plus.
pub fn decode_path_segment(segment: &str) -> Result<String, Problem> {
    percent_decode(segment, false)
}

/// The vector-index collection holding a tenant's knowledge base for embeddings of
/// `dimensions` floats. One collection per tenant keeps queries unfiltered (a metadata
/// filter over a shared collection costs several times the latency) and makes isolation
/// structural. The dimension is part of the name so a model change never mixes spaces.
///
/// Chroma wants 3–512 characters of `[A-Za-z0-9._-]`, starting and ending with an
/// alphanumeric, without `..`: tenant ids that could break those rules are hashed.
pub fn collection_name(tenant_id: &str, dimensions: usize) -> String {
    let plain = !tenant_id.is_empty()
        && tenant_id.len() <= 64
        && tenant_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let tenant = if plain {
        tenant_id.to_string()
    } else {
        format!("h{}", &content_hash(tenant_id.as_bytes())[..32])
    };
    format!("kb-{tenant}-{dimensions}d")
}

/// The collection of one tenant's session attachments (searched with a session filter,
/// which stays cheap because a session holds few chunks).
pub fn attachment_collection_name(tenant_id: &str, dimensions: usize) -> String {
    format!("att-{}", collection_name(tenant_id, dimensions))
}

/// Words that carry no meaning for keyword search (English function words and the usual
/// question words), dropped so an OR query does not match every chunk.
const STOPWORDS: &[&str] = &[
    "a", "about", "after", "all", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but",
    "by", "can", "could", "did", "do", "does", "doing", "for", "from", "get", "got", "had", "has",
    "have", "having", "he", "her", "here", "him", "his", "how", "i", "if", "in", "into", "is",
    "it", "its", "just", "me", "my", "of", "on", "or", "our", "please", "she", "should", "so",
    "some", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this",
    "those", "to", "too", "us", "was", "we", "were", "what", "when", "where", "which", "who",
    "why", "will", "with", "would", "you", "your",
];

/// The distinct search terms of a question: lowercase runs of letters and digits, in order,
/// without stopwords, at most [`MAX_KEYWORD_TERMS`]. Apostrophes end a word (`don't` → `don`,
/// which the stemmers treat as they treat the indexed text).
pub fn keyword_terms(query: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for word in query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let word = word.to_lowercase();
        if word.chars().count() > 64 || STOPWORDS.contains(&word.as_str()) {
            continue;
        }
        if !terms.contains(&word) {
            terms.push(word);
        }
        if terms.len() == MAX_KEYWORD_TERMS {
            break;
        }
    }
    terms
}

/// An SQLite FTS5 `MATCH` expression: any of the terms, each quoted so no term is read as
/// query syntax. `None` when there is nothing to search for.
pub fn fts5_match(terms: &[String]) -> Option<String> {
    (!terms.is_empty()).then(|| {
        terms
            .iter()
            .map(|t| format!("\"{}\"", t.replace('"', "")))
            .collect::<Vec<_>>()
            .join(" OR ")
    })
}

/// A PostgreSQL `to_tsquery` expression: any of the terms. Terms hold only letters and
/// digits (see [`keyword_terms`]), so they cannot carry tsquery operators.
pub fn pg_tsquery(terms: &[String]) -> Option<String> {
    (!terms.is_empty()).then(|| terms.join(" | "))
}

/// How much each retriever's ranking counts in the fusion. The defaults were chosen on the
/// sample knowledge base (`kb-loader eval`): the keyword list at half weight lifts hybrid
/// Recall@5 above both single retrievers, where equal weights let keyword noise push good
/// vector results down.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FusionWeights {
    pub vector: f64,
    pub keyword: f64,
}

pub const DEFAULT_FUSION_WEIGHTS: FusionWeights = FusionWeights {
    vector: 1.0,
    keyword: 0.5,
};

impl Default for FusionWeights {
    fn default() -> Self {
        DEFAULT_FUSION_WEIGHTS
    }
}

impl FusionWeights {
    /// The weights in a tenant's settings (see [`Ranking::from_settings`]).
    fn from_settings(settings: &serde_json::Value) -> FusionWeights {
        let weight = |name: &str, default: f64| {
            settings["retrieval"][name]
                .as_f64()
                .filter(|w| w.is_finite() && *w >= 0.0)
                .unwrap_or(default)
        };
        FusionWeights {
            vector: weight("vector_weight", DEFAULT_FUSION_WEIGHTS.vector),
            keyword: weight("keyword_weight", DEFAULT_FUSION_WEIGHTS.keyword),
        }
    }
}

/// Which retrievers a search asks, and whether a cross-encoder reorders the fused list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SearchMode {
    #[default]
    Hybrid,
    Vector,
    Keyword,
    /// Hybrid, then the best fused results ([`RERANK_CANDIDATES`] unless the tenant's
    /// [`Ranking`] says otherwise) reordered by the sidecar's `/v1/rerank` (the hybrid
    /// order stands when it cannot answer).
    Reranked,
}

/// How many fused results a reranked search sends to the reranker unless the tenant's
/// settings say otherwise: the cross-encoder reads every one (tens of milliseconds each on
/// one core), so only the top of the list.
pub const RERANK_CANDIDATES: usize = 10;

/// The most `retrieval.rerank_candidates` may ask for.
pub const MAX_RERANK_CANDIDATES: usize = 50;

/// How a tenant's searches rank: the fusion weights, the mode answers search with, and how
/// many fused results a reranked search sends to the reranker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranking {
    pub weights: FusionWeights,
    /// The mode of the answer pipeline's searches (and of an LLM's `search_kb`).
    pub answer_mode: SearchMode,
    pub rerank_candidates: usize,
}

impl Default for Ranking {
    fn default() -> Self {
        Ranking {
            weights: DEFAULT_FUSION_WEIGHTS,
            answer_mode: SearchMode::Hybrid,
            rerank_candidates: RERANK_CANDIDATES,
        }
    }
}

impl Ranking {
    /// Reads `{"retrieval": {"vector_weight": w, "keyword_weight": w, "rerank": true,
    /// "rerank_candidates": n}}`: each missing or unusable weight (negative, not a number) is
    /// the default; answers search reranked only when `rerank` is `true`; `n` is a whole
    /// number from 1 to [`MAX_RERANK_CANDIDATES`], anything else is [`RERANK_CANDIDATES`].
    pub fn from_settings(settings_json: &str) -> Ranking {
        let settings: serde_json::Value =
            serde_json::from_str(settings_json).unwrap_or(serde_json::Value::Null);
        let rerank_candidates = settings["retrieval"]["rerank_candidates"]
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| (1..=MAX_RERANK_CANDIDATES).contains(n))
            .unwrap_or(RERANK_CANDIDATES);
        Ranking {
            weights: FusionWeights::from_settings(&settings),
            answer_mode: if settings["retrieval"]["rerank"].as_bool() == Some(true) {
                SearchMode::Reranked
            } else {
                SearchMode::Hybrid
            },
            rerank_candidates,
        }
    }
}

impl SearchMode {
    pub fn uses_vector(self) -> bool {
        !matches!(self, SearchMode::Keyword)
    }

    pub fn uses_keyword(self) -> bool {
        !matches!(self, SearchMode::Vector)
    }

    pub fn reranks(self) -> bool {
        self == SearchMode::Reranked
    }
}

/// The order of results by their reranker scores, best first, ties in the order given:
/// positions into `scores`.
pub fn rerank_order(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order
}

/// The body of `POST /api/kb/search`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    pub query: String,
    #[serde(default, deserialize_with = "whole_number")]
    pub limit: Option<usize>,
    pub mode: Option<SearchMode>,
}

/// A JSON integer as JSON Schema counts them: `50` and `50.0` alike, not `50.5` or `-1`.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let Some(n) = Option::<f64>::deserialize(d)? else {
        return Ok(None);
    };
    if n.fract() != 0.0 || n < 0.0 || n > u32::MAX as f64 {
        return Err(serde::de::Error::custom(format!(
            "expected a whole number, got {n}"
        )));
    }
    Ok(Some(n as usize))
}

/// A search request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    pub query: String,
    pub limit: usize,
    pub mode: SearchMode,
}

impl Search {
    /// How many candidates each retriever is asked for: more than the final list, so the
    /// fusion has something to agree on and deduplication does not leave the list short.
    pub fn candidates(&self) -> usize {
        (self.limit * 2).max(20)
    }
}

/// Checks a search request: a non-blank query of at most [`MAX_QUERY_CHARS`] characters and
/// a limit in 1..=[`MAX_SEARCH_LIMIT`] (default 10).
pub fn validate_search(request: SearchRequest) -> Result<Search, Problem> {
    let query = request.query.trim();
    if query.is_empty() {
        return Err(bad_request("`query` must not be empty"));
    }
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(bad_request(format!(
            "`query` must be at most {MAX_QUERY_CHARS} characters"
        )));
    }
    let limit = request.limit.unwrap_or(crate::retrieval::DEFAULT_LIMIT);
    if !(1..=MAX_SEARCH_LIMIT).contains(&limit) {
        return Err(bad_request(format!(
            "`limit` must be between 1 and {MAX_SEARCH_LIMIT}"
        )));
    }
    Ok(Search {
        query: query.to_string(),
        limit,
        mode: request.mode.unwrap_or_default(),
    })
}

/// The parameters of `GET /api/kb/documents`: documents in external-id order, after a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentListQuery {
    pub limit: u32,
    /// The external id the previous page ended at.
    pub after: Option<String>,
}

/// The cursor the client gets for the page after `external_id`.
pub fn encode_document_cursor(external_id: &str) -> String {
    hex::encode(external_id)
}

/// Parses `limit=&cursor=`; unknown or repeated parameters are a 400.
pub fn parse_document_list_query(query: &str) -> Result<DocumentListQuery, Problem> {
    let mut out = DocumentListQuery {
        limit: DEFAULT_DOCUMENT_PAGE,
        after: None,
    };
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in parse_query_string(query)? {
        if seen.contains(&name) {
            return Err(bad_request(format!("`{name}` is given more than once")));
        }
        match name.as_str() {
            "limit" => {
                out.limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_DOCUMENT_PAGE).contains(n))
                    .ok_or_else(|| {
                        bad_request(format!("`limit` must be between 1 and {MAX_DOCUMENT_PAGE}"))
                    })?;
            }
            "cursor" => {
                // Only a place in external-id order: any non-empty hex text is one (the
                // contract's pattern), so a schema-valid cursor is never refused.
                let invalid = || bad_request("`cursor` is not a cursor this API returned");
                if value.is_empty() || value.len() > 2 * MAX_EXTERNAL_ID_BYTES {
                    return Err(invalid());
                }
                let bytes = hex::decode(&value).map_err(|_| invalid())?;
                out.after = Some(String::from_utf8_lossy(&bytes).into_owned());
            }
            other => {
                let shown: String = other.chars().take(40).collect();
                return Err(bad_request(format!("unknown query parameter `{shown}`")));
            }
        }
        seen.push(name);
    }
    Ok(out)
}

/// Whether `id` has the shape of a document id this API hands out (32 lowercase hex digits).
pub fn is_document_id(id: &str) -> bool {
    crate::session::is_session_id(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ids_are_bounded_text() {
        assert!(validate_external_id("billing/refunds.md").is_ok());
        assert!(validate_external_id("").is_err());
        assert!(validate_external_id("   ").is_err());
        assert!(validate_external_id("a\nb").is_err());
        assert!(validate_external_id(&"x".repeat(513)).is_err());
        assert!(validate_external_id(&"x".repeat(512)).is_ok());
        assert!(validate_external_id("attachment:abc").is_err());
    }

    #[test]
    fn fields_are_trimmed_and_urls_must_be_http() {
        let f = validate_fields(Some("  Refunds "), Some(" https://x.test/a ")).unwrap();
        assert_eq!(f.title.as_deref(), Some("Refunds"));
        assert_eq!(f.source_url.as_deref(), Some("https://x.test/a"));
        let empty = validate_fields(Some(""), Some(" ")).unwrap();
        assert_eq!(empty, DocumentFields::default());
        assert!(validate_fields(None, Some("javascript:alert(1)")).is_err());
        assert!(validate_fields(None, Some("https://x.test/a b")).is_err());
        assert!(validate_fields(Some(&"t".repeat(301)), None).is_err());
    }

    #[test]
    fn content_hash_is_hex_sha256() {
        assert_eq!(
            content_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn path_segments_decode_slashes_but_keep_plus() {
        assert_eq!(
            decode_path_segment("billing%2Frefunds+faq.md").unwrap(),
            "billing/refunds+faq.md"
        );
        assert!(decode_path_segment("%zz").is_err());
    }

    fn chroma_name_ok(name: &str) -> bool {
        let bytes = name.as_bytes();
        (3..=512).contains(&name.len())
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric()
            && !name.contains("..")
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    }

    #[test]
    fn collection_names_follow_chromas_rules_and_keep_tenants_apart() {
        let tenants = [
            "demo",
            "a",
            "acme_",
            "x.y",
            "a..b",
            "-",
            "Ünï",
            &"t".repeat(64),
        ];
        let mut names: Vec<String> = Vec::new();
        for t in tenants {
            let name = collection_name(t, 384);
            assert!(chroma_name_ok(&name), "{t:?} -> {name}");
            assert!(chroma_name_ok(&attachment_collection_name(t, 384)));
            assert!(!names.contains(&name), "{t:?} collides");
            names.push(name);
        }
        assert_eq!(collection_name("demo", 384), "kb-demo-384d");
        assert_ne!(collection_name("demo", 384), collection_name("demo", 768));
    }

    #[test]
    fn keyword_terms_drop_stopwords_and_duplicates() {
        assert_eq!(
            keyword_terms("How do I get a REFUND for my refund-eligible order #1234?"),
            vec!["refund", "eligible", "order", "1234"]
        );
        assert!(keyword_terms("how do I?").is_empty());
        assert_eq!(
            keyword_terms("Können Sie café"),
            vec!["können", "sie", "café"]
        );
        let long: String = (0..100).map(|i| format!("w{i} ")).collect();
        assert_eq!(keyword_terms(&long).len(), MAX_KEYWORD_TERMS);
    }

    #[test]
    fn keyword_queries_quote_terms_and_join_with_or() {
        let terms = keyword_terms("refund AND NOT shipping");
        assert_eq!(
            fts5_match(&terms).unwrap(),
            "\"refund\" OR \"not\" OR \"shipping\""
        );
        assert_eq!(pg_tsquery(&terms).unwrap(), "refund | not | shipping");
        assert_eq!(fts5_match(&[]), None);
        assert_eq!(pg_tsquery(&[]), None);
    }

    #[test]
    fn a_search_limit_is_any_whole_json_number() {
        let limit = |body: &str| serde_json::from_str::<SearchRequest>(body).map(|r| r.limit);
        assert_eq!(limit(r#"{"query":"x","limit":50}"#).unwrap(), Some(50));
        assert_eq!(limit(r#"{"query":"x","limit":50.0}"#).unwrap(), Some(50));
        assert_eq!(limit(r#"{"query":"x"}"#).unwrap(), None);
        assert_eq!(limit(r#"{"query":"x","limit":null}"#).unwrap(), None);
        assert!(limit(r#"{"query":"x","limit":50.5}"#).is_err());
        assert!(limit(r#"{"query":"x","limit":-1}"#).is_err());
    }

    #[test]
    fn search_requests_are_checked() {
        let ok = validate_search(SearchRequest {
            query: "  refunds ".into(),
            limit: None,
            mode: None,
        })
        .unwrap();
        assert_eq!(ok.query, "refunds");
        assert_eq!(ok.limit, 10);
        assert_eq!(ok.mode, SearchMode::Hybrid);
        assert_eq!(ok.candidates(), 20);
        for (query, limit) in [(" ", None), ("q", Some(0)), ("q", Some(51))] {
            let req = SearchRequest {
                query: query.into(),
                limit,
                mode: None,
            };
            assert_eq!(validate_search(req).unwrap_err().status(), 400);
        }
        let long = SearchRequest {
            query: "x".repeat(MAX_QUERY_CHARS + 1),
            limit: None,
            mode: Some(SearchMode::Keyword),
        };
        assert!(validate_search(long).is_err());
    }

    #[test]
    fn document_list_query_round_trips_the_cursor() {
        let q = parse_document_list_query(&format!(
            "limit=5&cursor={}",
            encode_document_cursor("billing/a.md")
        ))
        .unwrap();
        assert_eq!(q.limit, 5);
        assert_eq!(q.after.as_deref(), Some("billing/a.md"));
        assert_eq!(parse_document_list_query("").unwrap().limit, 50);
        // Hex that is no external id is still a place in the order.
        let odd = parse_document_list_query("cursor=ff41").unwrap();
        assert_eq!(odd.after.as_deref(), Some("\u{fffd}A"));
        for bad in [
            "limit=0",
            "limit=201",
            "cursor=zz",
            "cursor=",
            "cursor=abc",
            "limit=1&limit=2",
            "foo=1",
        ] {
            assert!(parse_document_list_query(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fusion_weights_come_from_settings_with_defaults() {
        assert_eq!(Ranking::from_settings("{}").weights, DEFAULT_FUSION_WEIGHTS);
        assert_eq!(
            Ranking::from_settings("not json").weights,
            DEFAULT_FUSION_WEIGHTS
        );
        let w =
            Ranking::from_settings(r#"{"retrieval":{"vector_weight":0.2,"keyword_weight":-1}}"#)
                .weights;
        assert_eq!((w.vector, w.keyword), (0.2, DEFAULT_FUSION_WEIGHTS.keyword));
    }

    #[test]
    fn rerank_candidates_come_from_settings_within_bounds() {
        assert_eq!(Ranking::from_settings("{}"), Ranking::default());
        let r = Ranking::from_settings(
            r#"{"retrieval":{"rerank_candidates":5,"keyword_weight":0.25}}"#,
        );
        assert_eq!(r.rerank_candidates, 5);
        assert_eq!(r.weights.keyword, 0.25);
        for n in ["0", "51", "-3", "2.5", "\"7\"", "null"] {
            let settings = format!(r#"{{"retrieval":{{"rerank_candidates":{n}}}}}"#);
            assert_eq!(
                Ranking::from_settings(&settings).rerank_candidates,
                RERANK_CANDIDATES,
                "{settings}"
            );
        }
        assert_eq!(
            Ranking::from_settings(r#"{"retrieval":{"rerank_candidates":50}}"#).rerank_candidates,
            MAX_RERANK_CANDIDATES
        );
    }

    #[test]
    fn outcomes_map_to_statuses() {
        assert_eq!(UpsertOutcome::Created.status(), 201);
        assert_eq!(UpsertOutcome::Unchanged.status(), 200);
        assert_eq!(VectorStatus::parse("pending"), Some(VectorStatus::Pending));
        assert_eq!(VectorStatus::parse("x"), None);
    }

    #[test]
    fn reranked_mode_asks_both_retrievers_and_is_chosen_by_the_tenant_setting() {
        assert!(SearchMode::Reranked.uses_vector() && SearchMode::Reranked.uses_keyword());
        assert!(SearchMode::Reranked.reranks() && !SearchMode::Hybrid.reranks());
        assert!(!SearchMode::Keyword.uses_vector() && !SearchMode::Vector.uses_keyword());
        let mode: SearchMode = serde_json::from_str(r#""reranked""#).unwrap();
        assert_eq!(mode, SearchMode::Reranked);
        assert_eq!(
            Ranking::from_settings(r#"{"retrieval":{"rerank":true}}"#).answer_mode,
            SearchMode::Reranked
        );
        for settings in [r#"{}"#, r#"{"retrieval":{"rerank":"yes"}}"#, "not json"] {
            assert_eq!(
                Ranking::from_settings(settings).answer_mode,
                SearchMode::Hybrid,
                "{settings}"
            );
        }
    }

    #[test]
    fn rerank_order_is_best_score_first_and_stable_on_ties() {
        assert_eq!(rerank_order(&[0.1, 0.9, 0.5, 0.9]), vec![1, 3, 2, 0]);
        assert!(rerank_order(&[]).is_empty());
    }
}
