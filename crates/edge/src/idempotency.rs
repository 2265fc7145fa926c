//! `Idempotency-Key` handling for POST routes over the store: replay the recorded response of
//! a retried request, refuse a key reused for another request (422), otherwise do the work
//! and record its response in the same transaction. Decisions are `core_logic::idempotency`.

use core_logic::idempotency::{self, Decision, StoredResponse};
use spin_sdk::http::{Request, Response};

use crate::ApiError;
use crate::counters::now_ms;
use crate::db::Db;
use crate::error::json_response;
use crate::request::header_str;
use crate::store;

/// The request's `Idempotency-Key`, validated, if it has one.
pub fn key(req: &Request) -> Result<Option<String>, ApiError> {
    header_str(req, idempotency::HEADER)?
        .map(|k| idempotency::validate_key(k).map(str::to_string))
        .transpose()
        .map_err(ApiError::from)
}

fn replay(status: u16, body: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("idempotent-replayed", "true")
        .body(body.to_string())
        .build()
}

/// Runs `work` and answers with its JSON. With a key, a retry of the same request (same
/// `request_hash`) gets the first response again and a different request 422; otherwise
/// `work` runs in a transaction with the recording of its response (successes only).
/// Without a key `work` runs as is: wrap it in [`Db::transaction`] if it needs one.
pub fn run(
    db: &Db,
    tenant: &str,
    scope: &str,
    key: Option<&str>,
    request_hash: &str,
    work: impl FnOnce(&Db) -> Result<(u16, serde_json::Value), ApiError>,
) -> Result<Response, ApiError> {
    let Some(key) = key else {
        let (status, body) = work(db)?;
        return Ok(json_response(status, &body));
    };
    let decide = || -> Result<Decision, ApiError> {
        let stored = store::idempotency_get(db, tenant, scope, key)?;
        Ok(idempotency::decide(stored.as_ref(), request_hash, now_ms()))
    };
    match decide()? {
        Decision::Replay { status, body } => return Ok(replay(status, &body)),
        Decision::Mismatch => return Err(idempotency::mismatch_problem().into()),
        Decision::Proceed => {}
    }
    let outcome = db.transaction(|db| {
        let (status, body) = work(db)?;
        if (200..300).contains(&status) {
            let now = now_ms();
            let record = StoredResponse {
                request_hash: request_hash.to_string(),
                status,
                body: body.to_string(),
                created_at_ms: now,
            };
            store::idempotency_put(
                db,
                tenant,
                scope,
                key,
                &record,
                now - idempotency::RETENTION_MS,
            )?;
        }
        Ok::<_, ApiError>((status, body))
    });
    match outcome {
        Ok((status, body)) => Ok(json_response(status, &body)),
        // A concurrent request with the same key recorded first: answer as a retry would.
        Err(e) if e.0.kind == core_logic::problem::ProblemKind::Conflict => match decide()? {
            Decision::Replay { status, body } => Ok(replay(status, &body)),
            Decision::Mismatch => Err(idempotency::mismatch_problem().into()),
            Decision::Proceed => Err(e),
        },
        Err(e) => Err(e),
    }
}
