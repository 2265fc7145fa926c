//! The ingest component: `/api/kb` routes, as thin glue between HTTP, `core_logic` and
//! `edge::knowledge`. Every route needs an admin token of the tenant whose knowledge base it
//! touches; another tenant's document is a 404.
//!
//! - `POST /api/kb/documents`: upload (multipart `file`, or JSON); upserts by `external_id`
//!   when given, else by content hash.
//! - `PUT /api/kb/documents/{external_id}`: upsert by the caller's id (percent-encoded);
//!   unchanged content is not re-embedded.
//! - `GET /api/kb/documents?limit=&cursor=`, `GET|DELETE /api/kb/documents/{id}`.
//! - `POST /api/kb/search`: the search preview, with each retriever's rank and score.
//! - `GET /api/kb/unanswered?since=&until=&format=json|csv`: the questions the bot could
//!   not answer, near-duplicates grouped, with the passages the knowledge base offers.
//! - `GET|POST /api/kb/curated`: the answers admins wrote for them (each a document of kind
//!   `curated`, which the bot then cites), marking the questions they address.

use core_logic::auth::{Role, require_role};
use core_logic::kb::{
    SearchRequest, UpsertOutcome, decode_path_segment, encode_document_cursor, external_id_for,
    is_document_id, parse_document_list_query, validate_external_id, validate_fields,
    validate_search,
};
use edge::config::CallPath;
use edge::counters::now_ms;
use edge::embedder::Embedder;
use edge::knowledge::Knowledge;
use edge::request::{self, MAX_JSON_BODY_BYTES};
use edge::services::Services;
use edge::store::Tenant;
use edge::vector_index::{Chroma, VectorIndex};
use edge::{ApiError, config};
use spin_sdk::http::{IntoResponse, Method, Request, Response};
use spin_sdk::http_component;

/// Largest document accepted (the parser's own input limit).
const MAX_DOCUMENT_BYTES: usize = 20 * 1024 * 1024;

#[http_component]
fn handle(req: Request) -> Response {
    let started = std::time::Instant::now();
    edge::log::begin(&req);
    let resp = route(&req).unwrap_or_else(IntoResponse::into_response);
    edge::metrics::record_request("kb", *resp.status(), started.elapsed());
    edge::log::request("ingest", &req, *resp.status(), started.elapsed());
    resp
}

fn route(req: &Request) -> Result<Response, ApiError> {
    let info = request::path_info(req);
    let segments: Vec<&str> = info.split('/').filter(|s| !s.is_empty()).collect();
    match (req.method(), segments.as_slice()) {
        (Method::Post, ["documents"]) => create(req),
        (Method::Get, ["documents"]) => list(req),
        (Method::Get, ["documents", id]) => read(req, id),
        (Method::Put, ["documents", external_id]) => upsert(req, external_id),
        (Method::Delete, ["documents", id]) => delete(req, id),
        (Method::Post, ["search"]) => search(req),
        (Method::Post, ["reindex"]) => reindex(req),
        (Method::Get, ["unanswered"]) => unanswered(req),
        (Method::Get, ["curated"]) => curated_list(req),
        (Method::Post, ["curated"]) => curate(req),
        (_, ["documents"]) => Err(ApiError::method_not_allowed("GET, POST")),
        (_, ["documents", _]) => Err(ApiError::method_not_allowed("GET, PUT, DELETE")),
        (_, ["search"] | ["reindex"]) => Err(ApiError::method_not_allowed("POST")),
        (_, ["unanswered"]) => Err(ApiError::method_not_allowed("GET")),
        (_, ["curated"]) => Err(ApiError::method_not_allowed("GET, POST")),
        _ => Err(ApiError::not_found("no such knowledge-base route")),
    }
}

/// The verified admin and their tenant, this request counted against the tenant's limits.
fn admin(services: &Services, req: &Request) -> Result<Tenant, ApiError> {
    let (principal, tenant) = services.caller(req)?;
    require_role(&principal, &[Role::Admin])?;
    Ok(tenant)
}

/// The embedder and vector index of this app; `None` (searched as unreachable) when their
/// variables are not set.
struct Retrievers {
    embedder: Option<Embedder>,
    index: Option<Chroma>,
}

impl Retrievers {
    /// With the time limits of `path` (writing documents, or searching).
    fn open(request_id: Option<&str>, path: CallPath) -> Retrievers {
        let note = |e: config::ConfigError| edge::log::warn("ingest", &e.to_string());
        Retrievers {
            embedder: Embedder::from_config(request_id, path).map_err(note).ok(),
            index: Chroma::from_config(request_id, path).map_err(note).ok(),
        }
    }

    fn knowledge<'a>(&'a self, services: &'a Services, tenant: &'a Tenant) -> Knowledge<'a> {
        Knowledge {
            db: &services.db,
            tenant_id: &tenant.id,
            session_id: None,
            ranking: core_logic::kb::Ranking::from_settings(&tenant.settings),
            embedder: self.embedder.as_ref(),
            index: self.index.as_ref().map(|c| c as &dyn VectorIndex),
            breakers: Some(services.counters.as_ref()),
        }
    }
}

/// Documents per `POST /api/kb/reindex`: a few seconds of embedding, well inside the
/// host's request limit.
const REINDEX_BATCH: u32 = 20;

/// `POST /api/kb/reindex`: writes the vectors of pending documents (stored while the
/// embedder or the vector index was down), a batch per call; the caller repeats while
/// `pending` falls.
fn reindex(req: &Request) -> Result<Response, ApiError> {
    let services = Services::open(req, "ingest")?;
    let tenant = admin(&services, req)?;
    let retrievers = Retrievers::open(services.request_id.as_deref(), CallPath::Write);
    let done = retrievers
        .knowledge(&services, &tenant)
        .index_pending(REINDEX_BATCH)?;
    Ok(edge::error::json_response(200, &to_json(&done)?))
}

fn no_document() -> ApiError {
    ApiError::not_found("no such document")
}

fn to_json(value: &impl serde::Serialize) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(|_| ApiError::internal())
}

/// Reads, checks and stores the uploaded document under `external_id` (or the id the upload
/// names, or one made from its content).
fn store_upload(req: &Request, path_segment: Option<&str>) -> Result<Response, ApiError> {
    let services = Services::open(req, "ingest")?;
    let tenant = admin(&services, req)?;
    let path_external_id = path_segment.map(decode_path_segment).transpose()?;
    let path_external_id = path_external_id.as_deref();
    let upload = edge::upload::read(req, MAX_DOCUMENT_BYTES)?;
    let fields = validate_fields(upload.title.as_deref(), upload.source_url.as_deref())?;
    let external_id = match (path_external_id, upload.external_id.as_deref()) {
        (Some(path), Some(body)) if path != body => {
            return Err(ApiError::bad_request(
                "`external_id` in the form differs from the one in the URL",
            ));
        }
        (Some(id), _) | (None, Some(id)) => validate_external_id(id)?.to_string(),
        (None, None) => external_id_for(&core_logic::kb::content_hash(&upload.bytes)),
    };
    // Without a file name, the external id (often a path like `billing/refunds.md`) hints
    // at the type of a text document.
    let mut upload = upload;
    if upload.file_name.is_none() {
        upload.file_name = external_id.rsplit('/').next().map(str::to_string);
    }
    let retrievers = Retrievers::open(services.request_id.as_deref(), CallPath::Write);
    let counters = services.counters.as_ref();
    let ingested = match retrievers.knowledge(&services, &tenant).upsert(
        &upload,
        &external_id,
        &fields,
        now_ms(),
    ) {
        Ok(ingested) => ingested,
        Err(e) => {
            if matches!(e.0.status(), 413 | 415 | 422) {
                edge::metrics::record_ingest(counters, "rejected", None);
            }
            return Err(e);
        }
    };
    let stored = (ingested.status != UpsertOutcome::Unchanged).then(|| {
        (
            ingested.document.chunk_count,
            ingested.vector_index.as_str(),
        )
    });
    let outcome = serde_json::to_value(ingested.status).unwrap_or_default();
    edge::metrics::record_ingest(counters, outcome.as_str().unwrap_or("other"), stored);
    Ok(edge::error::json_response(
        ingested.status.status(),
        &to_json(&ingested)?,
    ))
}

fn create(req: &Request) -> Result<Response, ApiError> {
    store_upload(req, None)
}

fn upsert(req: &Request, segment: &str) -> Result<Response, ApiError> {
    store_upload(req, Some(segment))
}

fn list(req: &Request) -> Result<Response, ApiError> {
    let services = Services::open(req, "ingest")?;
    let tenant = admin(&services, req)?;
    let query = parse_document_list_query(req.query())?;
    let (documents, next) = edge::kb::list_documents(&services.db, &tenant.id, &query)?;
    Ok(edge::error::json_response(
        200,
        &serde_json::json!({
            "documents": to_json(&documents)?,
            "next_cursor": next.map(|id| encode_document_cursor(&id)),
        }),
    ))
}

fn read(req: &Request, id: &str) -> Result<Response, ApiError> {
    let services = Services::open(req, "ingest")?;
    let tenant = admin(&services, req)?;
    if !is_document_id(id) {
        return Err(no_document());
    }
    let document = edge::kb::document(&services.db, &tenant.id, id)?.ok_or_else(no_document)?;
    let chunks = edge::kb::chunks_of(&services.db, &tenant.id, id)?;
    Ok(edge::error::json_response(
        200,
        &serde_json::json!({ "document": to_json(&document)?, "chunks": to_json(&chunks)? }),
    ))
}

fn delete(req: &Request, id: &str) -> Result<Response, ApiError> {
    let services = Services::open(req, "ingest")?;
    let tenant = admin(&services, req)?;
    if !is_document_id(id) {
        return Err(no_document());
    }
    let retrievers = Retrievers::open(services.request_id.as_deref(), CallPath::Write);
    if !retrievers.knowledge(&services, &tenant).delete(id)? {
        return Err(no_document());
    }
    Ok(Response::builder().status(204).body(Vec::new()).build())
}

fn search(req: &Request) -> Result<Response, ApiError> {
    let services = Services::open(req, "ingest")?;
    let tenant = admin(&services, req)?;
    let body: SearchRequest = request::json_body(req, MAX_JSON_BODY_BYTES)?;
    let search = validate_search(body)?;
    let retrievers = Retrievers::open(services.request_id.as_deref(), CallPath::Answer);
    let outcome = retrievers.knowledge(&services, &tenant).search(&search)?;
    edge::metrics::record_retrieval(services.counters.as_ref(), &outcome.timings);
    Ok(edge::error::json_response(200, &to_json(&outcome)?))
}

/// `GET /api/kb/unanswered`: JSON, or CSV with `format=csv`.
fn unanswered(req: &Request) -> Result<Response, ApiError> {
    let services = Services::open(req, "ingest")?;
    let tenant = admin(&services, req)?;
    let query = core_logic::unanswered::parse_list_query(req.query(), now_ms())?;
    let retrievers = Retrievers::open(services.request_id.as_deref(), CallPath::Answer);
    let knowledge = retrievers.knowledge(&services, &tenant);
    let list = edge::unanswered::list(&knowledge, query.since, query.until)?;
    if query.csv {
        return Ok(Response::builder()
            .status(200)
            .header("content-type", "text/csv; charset=utf-8")
            .header(
                "content-disposition",
                "attachment; filename=\"unanswered.csv\"",
            )
            .body(edge::unanswered::csv(&list))
            .build());
    }
    Ok(edge::error::json_response(200, &to_json(&list)?))
}

fn curated_list(req: &Request) -> Result<Response, ApiError> {
    let services = Services::open(req, "ingest")?;
    let tenant = admin(&services, req)?;
    let answers = edge::unanswered::curated_answers(&services.db, &tenant.id)?;
    Ok(edge::error::json_response(
        200,
        &serde_json::json!({ "answers": to_json(&answers)? }),
    ))
}

/// `POST /api/kb/curated`: 201 for a new question, 200 when it updated the answer.
fn curate(req: &Request) -> Result<Response, ApiError> {
    let services = Services::open(req, "ingest")?;
    let tenant = admin(&services, req)?;
    let curated =
        core_logic::unanswered::validate_curated(request::json_body(req, MAX_JSON_BODY_BYTES)?)?;
    let retrievers = Retrievers::open(services.request_id.as_deref(), CallPath::Write);
    let knowledge = retrievers.knowledge(&services, &tenant);
    let (ingested, answer, addressed) = edge::unanswered::curate(&knowledge, &curated, now_ms())?;
    let stored = (ingested.status != UpsertOutcome::Unchanged).then(|| {
        (
            ingested.document.chunk_count,
            ingested.vector_index.as_str(),
        )
    });
    let outcome = serde_json::to_value(ingested.status).unwrap_or_default();
    edge::metrics::record_ingest(
        services.counters.as_ref(),
        outcome.as_str().unwrap_or("other"),
        stored,
    );
    Ok(edge::error::json_response(
        ingested.status.status(),
        &serde_json::json!({
            "answer": to_json(&answer)?,
            "status": ingested.status,
            "document": to_json(&ingested.document)?,
            "vector_index": ingested.vector_index,
            "addressed": addressed,
        }),
    ))
}
