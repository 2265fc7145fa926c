//! Human handoff, the stored part: tickets, the outbox of webhook deliveries and the inbound
//! events already applied; and delivery of the outbox over outbound HTTP.
//!
//! Nothing is lost: every change that a ticketing system must hear of writes its outbox rows
//! in the same transaction ([`open_ticket`], [`enqueue`] called inside one). Delivery
//! happens after the request's work ([`deliver_due`]) and again from the flush route; an
//! event being delivered is leased (its next attempt pushed past the delivery's time limit),
//! so a process that dies mid-delivery leaves it to be sent again once the lease runs out.
//! Receivers deduplicate by the event id each delivery carries.

use std::time::Duration;

use core_logic::conversation::Author;
use core_logic::escalation::Intent;
use core_logic::handoff::{
    self, Delivery, EventKind, GENERIC_VERSION, HandoffSettings, Plan, Priority, Provider,
    Requester, TicketEvent, TicketReason, TicketSnapshot, TicketStatus, TranscriptLine,
};
use core_logic::session::SessionStatus;
use serde::Serialize;
use serde_json::json;
use spin_sdk::http::Method;

use crate::conversation;
use crate::counters::Counters;
use crate::db::{Db, DbError, Row, Value};
use crate::store::{self, Session, Tenant, new_id};

/// A ticket. Timestamps are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ticket {
    pub id: String,
    pub session_id: String,
    pub status: TicketStatus,
    pub reason: TicketReason,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intent: Option<Intent>,
    pub priority: Priority,
    pub summary: String,
    pub transcript: Vec<TranscriptLine>,
    pub opened_by: String,
    pub assignee: Option<String>,
    pub resolution: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const TICKET_COLUMNS: &str = "id, session_id, status, reason, intent, priority, summary, \
     transcript, opened_by, assignee, resolution, created_at, updated_at";

fn ticket_from(row: &Row) -> Result<Ticket, DbError> {
    let decode = |what: &str| DbError::Decode(format!("ticket {what}"));
    Ok(Ticket {
        id: row.text(0)?,
        session_id: row.text(1)?,
        status: TicketStatus::parse(&row.text(2)?).ok_or_else(|| decode("status"))?,
        reason: TicketReason::parse(&row.text(3)?).ok_or_else(|| decode("reason"))?,
        intent: row.opt_text(4)?.and_then(|i| Intent::parse(&i)),
        priority: Priority::parse(&row.text(5)?).ok_or_else(|| decode("priority"))?,
        summary: row.text(6)?,
        transcript: serde_json::from_str(&row.text(7)?).map_err(|_| decode("transcript"))?,
        opened_by: row.text(8)?,
        assignee: row.opt_text(9)?,
        resolution: row.opt_text(10)?,
        created_at: row.int(11)?,
        updated_at: row.int(12)?,
    })
}

fn one_ticket(db: &Db, where_sql: &str, params: &[Value]) -> Result<Option<Ticket>, DbError> {
    db.query(
        &format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE {where_sql}"),
        params,
    )?
    .first()
    .map(ticket_from)
    .transpose()
}

/// The session's ticket that is not solved yet, if any.
pub fn unsolved_ticket(
    db: &Db,
    tenant_id: &str,
    session_id: &str,
) -> Result<Option<Ticket>, DbError> {
    one_ticket(
        db,
        "tenant_id = $1 AND session_id = $2 AND status <> 'solved'",
        &[tenant_id.into(), session_id.into()],
    )
}

/// The session's latest ticket, solved or not.
pub fn latest_ticket(
    db: &Db,
    tenant_id: &str,
    session_id: &str,
) -> Result<Option<Ticket>, DbError> {
    one_ticket(
        db,
        "tenant_id = $1 AND session_id = $2 ORDER BY created_at DESC, id DESC LIMIT 1",
        &[tenant_id.into(), session_id.into()],
    )
}

pub fn ticket(db: &Db, tenant_id: &str, id: &str) -> Result<Option<Ticket>, DbError> {
    one_ticket(
        db,
        "tenant_id = $1 AND id = $2",
        &[tenant_id.into(), id.into()],
    )
}

/// Our ticket behind a ticketing system's ticket id.
pub fn ticket_by_external(
    db: &Db,
    tenant_id: &str,
    provider: Provider,
    external_id: &str,
) -> Result<Option<Ticket>, DbError> {
    let rows = db.query(
        "SELECT ticket_id FROM ticket_links WHERE tenant_id = $1 AND provider = $2 \
         AND external_id = $3 ORDER BY created_at DESC LIMIT 1",
        &[
            tenant_id.into(),
            provider.as_str().into(),
            external_id.into(),
        ],
    )?;
    match rows.first() {
        Some(row) => ticket(db, tenant_id, &row.text(0)?),
        None => Ok(None),
    }
}

/// The tickets in `status`, oldest first.
pub fn queue(
    db: &Db,
    tenant_id: &str,
    status: TicketStatus,
    limit: u32,
) -> Result<Vec<Ticket>, DbError> {
    db.query(
        &format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE tenant_id = $1 AND status = $2 \
             ORDER BY created_at, id LIMIT $3"
        ),
        &[
            tenant_id.into(),
            status.as_str().into(),
            Value::Int(i64::from(limit)),
        ],
    )?
    .iter()
    .map(ticket_from)
    .collect()
}

/// Why and by whom a conversation goes to a person.
#[derive(Debug, Clone)]
pub struct Opening {
    pub reason: TicketReason,
    pub intent: Option<Intent>,
    /// `None`: from the reason and intent.
    pub priority: Option<Priority>,
    /// `policy`, `visitor` or `agent:<subject>`.
    pub opened_by: String,
    /// A note for the agent, added to the summary.
    pub note: Option<String>,
}

/// Opens the session's ticket (or returns the unsolved one it has: `false`), moves the
/// session to `handed_off` with a `status` event, and writes the `ticket.opened` outbox
/// rows. Call inside a transaction.
pub fn open_ticket(
    db: &Db,
    tenant: &Tenant,
    session: &Session,
    opening: &Opening,
    now_ms: i64,
) -> Result<(Ticket, bool), DbError> {
    if let Some(existing) = unsolved_ticket(db, &tenant.id, &session.id)? {
        hand_off(db, &tenant.id, &session.id, opening.reason, now_ms)?;
        return Ok((existing, false));
    }
    let transcript: Vec<TranscriptLine> = conversation::recent(
        db,
        &tenant.id,
        &session.id,
        handoff::TRANSCRIPT_MESSAGES as u32,
    )?
    .into_iter()
    .map(|m| TranscriptLine {
        author: m.author,
        text: m.text,
        created_at: m.created_at,
    })
    .collect();
    let mut summary = handoff::summary(opening.reason, opening.intent, &transcript);
    if let Some(note) = opening
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        let note: String = note.chars().take(300).collect();
        summary.push_str(&format!(" Note: {note}"));
    }
    let ticket = Ticket {
        id: new_id()?,
        session_id: session.id.clone(),
        status: TicketStatus::Open,
        reason: opening.reason,
        intent: opening.intent,
        priority: opening
            .priority
            .unwrap_or_else(|| handoff::priority_for(opening.reason, opening.intent)),
        summary,
        transcript,
        opened_by: opening.opened_by.clone(),
        assignee: None,
        resolution: None,
        created_at: now_ms,
        updated_at: now_ms,
    };
    db.execute(
        &format!(
            "INSERT INTO tickets (tenant_id, {TICKET_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ),
        &[
            tenant.id.as_str().into(),
            ticket.id.as_str().into(),
            ticket.session_id.as_str().into(),
            ticket.status.as_str().into(),
            ticket.reason.as_str().into(),
            ticket.intent.map(Intent::as_str).into(),
            ticket.priority.as_str().into(),
            ticket.summary.as_str().into(),
            serde_json::to_string(&ticket.transcript)
                .unwrap_or_else(|_| "[]".into())
                .into(),
            ticket.opened_by.as_str().into(),
            Value::Null,
            Value::Null,
            Value::Int(now_ms),
            Value::Int(now_ms),
        ],
    )?;
    hand_off(db, &tenant.id, &session.id, opening.reason, now_ms)?;
    enqueue(
        db,
        tenant,
        session,
        &ticket,
        EventKind::TicketOpened,
        None,
        now_ms,
    )?;
    Ok((ticket, true))
}

fn hand_off(
    db: &Db,
    tenant_id: &str,
    session_id: &str,
    reason: TicketReason,
    now_ms: i64,
) -> Result<(), DbError> {
    if conversation::set_status(db, tenant_id, session_id, SessionStatus::HandedOff, now_ms)? {
        conversation::append_event(
            db,
            tenant_id,
            session_id,
            "status",
            &json!({ "status": "handed_off", "reason": reason.as_str() }),
            now_ms,
        )?;
    }
    Ok(())
}

/// How a claim ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    Claimed(Ticket),
    /// Another agent has it.
    Taken(String),
    Solved,
}

/// Gives the ticket to `agent` if nobody has it (claiming one's own again is a no-op).
/// Exactly one of two agents claiming at once wins: the update is conditional.
pub fn claim(
    db: &Db,
    tenant_id: &str,
    ticket_id: &str,
    agent: &str,
    now_ms: i64,
) -> Result<Claim, DbError> {
    db.execute(
        "UPDATE tickets SET status = 'pending', assignee = $1, updated_at = $2 \
         WHERE tenant_id = $3 AND id = $4 AND status = 'open'",
        &[
            agent.into(),
            Value::Int(now_ms),
            tenant_id.into(),
            ticket_id.into(),
        ],
    )?;
    let ticket = ticket(db, tenant_id, ticket_id)?
        .ok_or_else(|| DbError::Decode("claimed ticket vanished".into()))?;
    Ok(match (&ticket.status, ticket.assignee.as_deref()) {
        (TicketStatus::Solved, _) => Claim::Solved,
        (_, Some(a)) if a == agent => Claim::Claimed(ticket),
        (_, other) => Claim::Taken(other.unwrap_or_default().to_string()),
    })
}

/// Solves the ticket (`resolution`: `resolved` or `handed_back`), gives the session back to
/// the bot, and writes the `status` event and, with `notify`, the `ticket.resolved` outbox
/// rows; `false` when it was solved already. Call inside a transaction.
pub fn solve(
    db: &Db,
    tenant: &Tenant,
    session: &Session,
    ticket: &Ticket,
    resolution: &str,
    notify: bool,
    now_ms: i64,
) -> Result<bool, DbError> {
    let changed = db.execute(
        "UPDATE tickets SET status = 'solved', resolution = $1, updated_at = $2 \
         WHERE tenant_id = $3 AND id = $4 AND status <> 'solved'",
        &[
            resolution.into(),
            Value::Int(now_ms),
            tenant.id.as_str().into(),
            ticket.id.as_str().into(),
        ],
    )?;
    if changed == 0 {
        return Ok(false);
    }
    conversation::set_status(db, &tenant.id, &session.id, SessionStatus::Open, now_ms)?;
    conversation::append_event(
        db,
        &tenant.id,
        &session.id,
        "status",
        &json!({ "status": "open", "ticket": ticket.id, "resolution": resolution }),
        now_ms,
    )?;
    if notify {
        let mut solved = ticket.clone();
        solved.status = TicketStatus::Solved;
        solved.resolution = Some(resolution.to_string());
        enqueue(
            db,
            tenant,
            session,
            &solved,
            EventKind::TicketResolved,
            None,
            now_ms,
        )?;
    }
    Ok(true)
}

/// Writes one outbox row per configured webhook for this event of `ticket`; how many.
/// Call inside the transaction of the change the event reports.
pub fn enqueue(
    db: &Db,
    tenant: &Tenant,
    session: &Session,
    ticket: &Ticket,
    kind: EventKind,
    message: Option<(&str, TranscriptLine)>,
    now_ms: i64,
) -> Result<usize, DbError> {
    let settings = match HandoffSettings::from_settings(&tenant.settings) {
        Ok(s) => s,
        Err(e) => {
            // A broken configuration must not lose the change itself; the admin sees this.
            crate::log::warn("handoff", &format!("tenant {}: {e}", tenant.id));
            return Ok(0);
        }
    };
    let discriminator = message.as_ref().map(|(id, _)| *id).unwrap_or_default();
    let mut event = TicketEvent {
        version: GENERIC_VERSION.into(),
        id: String::new(),
        kind,
        tenant: tenant.id.clone(),
        created_at: now_ms,
        ticket: TicketSnapshot {
            id: ticket.id.clone(),
            session_id: ticket.session_id.clone(),
            status: ticket.status,
            reason: ticket.reason,
            intent: ticket.intent,
            priority: ticket.priority,
            subject: handoff::subject(ticket.reason, &ticket.transcript),
            summary: ticket.summary.clone(),
            resolution: ticket.resolution.clone(),
        },
        requester: Requester {
            id: session.visitor.id.clone(),
            name: session.visitor.name.clone(),
            email: session.visitor.email.clone(),
        },
        transcript: (kind == EventKind::TicketOpened).then(|| ticket.transcript.clone()),
        message: message.map(|(_, line)| line),
    };
    for hook in &settings.webhooks {
        event.id = handoff::event_id(&ticket.id, kind, discriminator, &hook.name);
        let payload =
            serde_json::to_string(&event).map_err(|e| DbError::Decode(format!("event: {e}")))?;
        db.execute(
            "INSERT INTO outbox (tenant_id, event_id, target, kind, ticket_id, payload, state, \
             attempts, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8) ON CONFLICT DO NOTHING",
            &[
                tenant.id.as_str().into(),
                event.id.as_str().into(),
                hook.name.as_str().into(),
                kind.as_str().into(),
                ticket.id.as_str().into(),
                payload.into(),
                Value::Int(now_ms),
                Value::Int(now_ms),
            ],
        )?;
    }
    Ok(settings.webhooks.len())
}

/// Records an inbound event id; `false` when it was applied before (a duplicate).
pub fn first_sight(
    db: &Db,
    tenant_id: &str,
    provider: Provider,
    event_id: &str,
    now_ms: i64,
) -> Result<bool, DbError> {
    Ok(db.execute(
        "INSERT INTO inbound_events (tenant_id, provider, event_id, received_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        &[
            tenant_id.into(),
            provider.as_str().into(),
            event_id.into(),
            Value::Int(now_ms),
        ],
    )? > 0)
}

/// Stores a human agent's message in the session (with its `message` event); `false` when
/// one with this id exists already (a retried request). Call inside a transaction.
pub fn record_agent_message(
    db: &Db,
    tenant_id: &str,
    session_id: &str,
    id: String,
    text: &str,
    agent: &str,
    now_ms: i64,
) -> Result<(bool, conversation::Message), DbError> {
    let mut message = conversation::Message {
        id,
        seq: 0,
        author: Author::Agent,
        text: text.to_string(),
        citations: json!([]),
        action: None,
        reply_to: None,
        responder: Some(format!("agent:{agent}")),
        created_at: now_ms,
    };
    let stored = conversation::record_message(db, tenant_id, session_id, &mut message)?;
    Ok((stored, message))
}

/// Deletes a session's tickets, their links and their outbox rows (they carry the
/// transcript), with the session's data.
pub fn delete_session_tickets(db: &Db, tenant_id: &str, session_id: &str) -> Result<(), DbError> {
    db.execute(
        "DELETE FROM outbox WHERE tenant_id = $1 AND ticket_id IN \
         (SELECT id FROM tickets WHERE tenant_id = $1 AND session_id = $2)",
        &[tenant_id.into(), session_id.into()],
    )?;
    db.execute(
        "DELETE FROM ticket_links WHERE tenant_id = $1 AND ticket_id IN \
         (SELECT id FROM tickets WHERE tenant_id = $1 AND session_id = $2)",
        &[tenant_id.into(), session_id.into()],
    )?;
    db.execute(
        "DELETE FROM tickets WHERE tenant_id = $1 AND session_id = $2",
        &[tenant_id.into(), session_id.into()],
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The outbox
// ---------------------------------------------------------------------------------------

/// One outbox row, as an admin sees it (the payload stays inside).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxEntry {
    pub id: i64,
    pub event_id: String,
    pub target: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub ticket_id: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    #[serde(skip)]
    tenant_id: String,
    #[serde(skip)]
    payload: String,
}

const OUTBOX_COLUMNS: &str = "id, event_id, target, kind, ticket_id, state, attempts, \
     next_attempt_at, last_error, created_at, delivered_at, tenant_id, payload";

fn entry_from(row: &Row) -> Result<OutboxEntry, DbError> {
    Ok(OutboxEntry {
        id: row.int(0)?,
        event_id: row.text(1)?,
        target: row.text(2)?,
        kind: row.text(3)?,
        ticket_id: row.text(4)?,
        state: row.text(5)?,
        attempts: row.int(6)?,
        next_attempt_at: row.int(7)?,
        last_error: row.opt_text(8)?,
        created_at: row.int(9)?,
        delivered_at: row.opt_int(10)?,
        tenant_id: row.text(11)?,
        payload: row.text(12)?,
    })
}

/// The tenant's outbox rows in `state`, newest first.
pub fn outbox(
    db: &Db,
    tenant_id: &str,
    state: handoff::OutboxState,
    limit: u32,
) -> Result<Vec<OutboxEntry>, DbError> {
    db.query(
        &format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE tenant_id = $1 AND state = $2 \
             ORDER BY id DESC LIMIT $3"
        ),
        &[
            tenant_id.into(),
            state.as_str().into(),
            Value::Int(i64::from(limit)),
        ],
    )?
    .iter()
    .map(entry_from)
    .collect()
}

/// Puts a dead event back in line for delivery now, its attempts reset; `false` when the
/// tenant has no dead event with this id.
pub fn replay(db: &Db, tenant_id: &str, id: i64, now_ms: i64) -> Result<bool, DbError> {
    Ok(db.execute(
        "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = $1, \
         last_error = NULL WHERE tenant_id = $2 AND id = $3 AND state = 'dead'",
        &[Value::Int(now_ms), tenant_id.into(), Value::Int(id)],
    )? > 0)
}

/// Delivery timing, from Spin variables, and the request id deliveries carry.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Limit on each wait of one delivery (connect, first byte, between bytes).
    pub timeout: Duration,
    /// The first retry's delay; doubled per failure.
    pub retry_base_ms: i64,
    /// The `x-request-id` of the request that delivers (forwarded as `x-request-id`).
    pub request_id: Option<String>,
    /// Deliveries may go to loopback, link-local and private addresses and local names
    /// (`webhook_allow_private_hosts`: local development and tests only). Off by default,
    /// whatever `allowed_outbound_hosts` allows.
    pub allow_private_hosts: bool,
}

impl DeliveryConfig {
    /// `webhook_timeout_ms` (default 10 s), `outbox_retry_base_ms` (default 30 s) and
    /// `webhook_allow_private_hosts` (default false).
    pub fn from_variables(request_id: Option<&str>) -> DeliveryConfig {
        let number = |name: &str, default: i64| {
            crate::config::optional(name)
                .and_then(|v| v.trim().parse::<i64>().ok())
                .filter(|v| *v >= 0)
                .unwrap_or(default)
        };
        DeliveryConfig {
            timeout: Duration::from_millis(number("webhook_timeout_ms", 10_000).max(1) as u64),
            retry_base_ms: number("outbox_retry_base_ms", 30_000),
            request_id: request_id.map(str::to_string),
            allow_private_hosts: crate::config::optional("webhook_allow_private_hosts")
                .is_some_and(|v| matches!(v.trim(), "true" | "1" | "yes")),
        }
    }

    /// How long a delivery in flight keeps its event from being sent again: past the
    /// longest a delivery can wait (connect + first byte), with a second to spare.
    fn lease_ms(&self) -> i64 {
        i64::try_from(self.timeout.as_millis()).unwrap_or(i64::MAX / 4) * 2 + 1000
    }
}

/// Delivers the tenant's due events right after a request wrote some; a failure is logged
/// and left to the flush route, never the request's problem.
pub fn deliver_after_request(
    db: &Db,
    counters: &dyn Counters,
    tenant_id: &str,
    request_id: Option<&str>,
) {
    let config = DeliveryConfig::from_variables(request_id);
    if let Err(e) = deliver_due(db, counters, Some(tenant_id), &config, 20) {
        crate::log::warn("outbox", &format!("delivery after the request failed: {e}"));
    }
}

/// What one flush did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FlushReport {
    pub delivered: u32,
    /// Failed this time; another attempt is scheduled.
    pub retrying: u32,
    /// Failed for the last time: dead-lettered.
    pub dead: u32,
    /// Waiting for their ticket to be created in the ticketing system first.
    pub waiting: u32,
}

/// Delivers the due outbox events (of one tenant, or of all), oldest first, at most
/// `limit` of them; each attempt is counted on `counters`. Once a target fails, its other
/// events wait for the next run.
pub fn deliver_due(
    db: &Db,
    counters: &dyn Counters,
    tenant_id: Option<&str>,
    config: &DeliveryConfig,
    limit: u32,
) -> Result<FlushReport, DbError> {
    let now = crate::counters::now_ms();
    let mut params: Vec<Value> = vec![Value::Int(now)];
    let mut sql = format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE state = 'pending' AND next_attempt_at <= $1"
    );
    if let Some(tenant) = tenant_id {
        params.push(tenant.into());
        sql.push_str(" AND tenant_id = $2");
    }
    params.push(Value::Int(i64::from(limit)));
    sql.push_str(&format!(" ORDER BY id LIMIT ${}", params.len()));
    let due: Vec<OutboxEntry> = db
        .query(&sql, &params)?
        .iter()
        .map(entry_from)
        .collect::<Result<_, _>>()?;
    let mut report = FlushReport::default();
    let mut tenants: Vec<(String, Option<HandoffSettings>)> = Vec::new();
    // Targets that failed in this run are not tried again in it: a receiver that is down,
    // hung or slow costs one delivery's time limit per run (a request's delivery, a flush),
    // not one per event waiting for it, which would run past the host's request limit.
    // Their remaining events stay due, in order, for the next run.
    let mut failed_targets: Vec<(String, String)> = Vec::new();
    for entry in due {
        if failed_targets
            .iter()
            .any(|(tenant, target)| *tenant == entry.tenant_id && *target == entry.target)
        {
            continue;
        }
        // Lease it: a concurrent flush, or this one's successor after a crash, skips it
        // until the lease runs out.
        let now = crate::counters::now_ms();
        let leased = db.execute(
            "UPDATE outbox SET next_attempt_at = $1 WHERE id = $2 AND state = 'pending' \
             AND next_attempt_at = $3",
            &[
                Value::Int(now + config.lease_ms()),
                Value::Int(entry.id),
                Value::Int(entry.next_attempt_at),
            ],
        )?;
        if leased == 0 {
            continue;
        }
        if !tenants.iter().any(|(id, _)| *id == entry.tenant_id) {
            let settings = store::tenant(db, &entry.tenant_id)?
                .and_then(|t| HandoffSettings::from_settings(&t.settings).ok());
            tenants.push((entry.tenant_id.clone(), settings));
        }
        let settings = tenants
            .iter()
            .find(|(id, _)| *id == entry.tenant_id)
            .and_then(|(_, s)| s.as_ref());
        let outcome = deliver_one(db, settings, &entry, config)?;
        let now = crate::counters::now_ms();
        match outcome {
            Attempt::Delivered => {
                report.delivered += 1;
                db.execute(
                    "UPDATE outbox SET state = 'delivered', attempts = attempts + 1, \
                     delivered_at = $1, last_error = NULL WHERE id = $2",
                    &[Value::Int(now), Value::Int(entry.id)],
                )?;
                crate::metrics::record_webhook(
                    counters,
                    entry.target_format(settings),
                    "delivered",
                );
            }
            Attempt::Await => {
                report.waiting += 1;
                db.execute(
                    "UPDATE outbox SET next_attempt_at = $1 WHERE id = $2",
                    &[
                        Value::Int(now + config.retry_base_ms.max(1000)),
                        Value::Int(entry.id),
                    ],
                )?;
            }
            Attempt::Failed(error) => {
                let attempts = entry.attempts + 1;
                let max =
                    settings.map_or(handoff::DEFAULT_MAX_ATTEMPTS, HandoffSettings::max_attempts);
                let dead = attempts >= i64::from(max) || error.permanent;
                crate::log::warn(
                    "outbox",
                    &format!(
                        "event {} to {} failed (attempt {attempts}): {}",
                        entry.event_id, entry.target, error.message
                    ),
                );
                if dead {
                    report.dead += 1;
                } else {
                    report.retrying += 1;
                }
                if !error.permanent {
                    failed_targets.push((entry.tenant_id.clone(), entry.target.clone()));
                }
                let delay = handoff::retry_delay_ms(
                    u32::try_from(attempts).unwrap_or(u32::MAX),
                    config.retry_base_ms,
                );
                db.execute(
                    "UPDATE outbox SET state = $1, attempts = $2, next_attempt_at = $3, \
                     last_error = $4 WHERE id = $5",
                    &[
                        (if dead { "dead" } else { "pending" }).into(),
                        Value::Int(attempts),
                        Value::Int(now + delay),
                        error.message.into(),
                        Value::Int(entry.id),
                    ],
                )?;
                crate::metrics::record_webhook(
                    counters,
                    entry.target_format(settings),
                    if dead { "dead" } else { "retry" },
                );
            }
        }
    }
    Ok(report)
}

impl OutboxEntry {
    fn target_format(&self, settings: Option<&HandoffSettings>) -> &'static str {
        settings
            .and_then(|s| s.webhook(&self.target))
            .map_or("unknown", |w| w.format.as_str())
    }
}

struct Failure {
    /// Short, for the admin listing; never a credential.
    message: String,
    /// Retrying cannot help (the webhook is gone from the settings).
    permanent: bool,
}

enum Attempt {
    Delivered,
    Await,
    Failed(Failure),
}

fn deliver_one(
    db: &Db,
    settings: Option<&HandoffSettings>,
    entry: &OutboxEntry,
    config: &DeliveryConfig,
) -> Result<Attempt, DbError> {
    let permanent = |message: &str| {
        Ok(Attempt::Failed(Failure {
            message: message.to_string(),
            permanent: true,
        }))
    };
    let Some(hook) = settings.and_then(|s| s.webhook(&entry.target)) else {
        return permanent("the webhook is no longer configured");
    };
    let Ok(event) = serde_json::from_str::<TicketEvent>(&entry.payload) else {
        return permanent("the stored event is unreadable");
    };
    let external = external_id(db, &entry.tenant_id, &entry.ticket_id, &entry.target)?;
    let delivery = match handoff::plan(hook, &event, external.as_deref()) {
        Plan::Send(delivery) => delivery,
        Plan::AwaitTicket => {
            // The creation died, or its answer named no ticket: this can never be sent.
            if creation_is_dead(db, &entry.tenant_id, &entry.ticket_id, &entry.target)? {
                return permanent("the ticket was never created in the ticketing system");
            }
            return Ok(Attempt::Await);
        }
    };
    // Server-side request forgery: a tenant's URL never reaches a private address, even
    // when an operator widened `allowed_outbound_hosts`. Checked on every delivery, so
    // settings stored before this check (or written to the database directly) are caught.
    if !config.allow_private_hosts
        && let Err(refusal) = core_logic::destination::check_public_url(&delivery.url)
    {
        return permanent(&format!("refused to deliver: {refusal}"));
    }
    match send(&delivery, hook, &event.id, config) {
        Ok((status, body)) if (200..300).contains(&status) => {
            if event.kind == EventKind::TicketOpened
                && let Some(external) = handoff::created_ticket_id(hook.format, &body)
            {
                db.execute(
                    "INSERT INTO ticket_links (tenant_id, ticket_id, target, provider, \
                     external_id, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT DO NOTHING",
                    &[
                        entry.tenant_id.as_str().into(),
                        entry.ticket_id.as_str().into(),
                        entry.target.as_str().into(),
                        hook.format.as_str().into(),
                        external.into(),
                        Value::Int(crate::counters::now_ms()),
                    ],
                )?;
            }
            Ok(Attempt::Delivered)
        }
        Ok((status, _)) => Ok(Attempt::Failed(Failure {
            message: format!("the receiver answered {status}"),
            permanent: false,
        })),
        Err(e) => Ok(Attempt::Failed(Failure {
            message: match e {
                crate::outbound::OutboundError::Unreachable(_) => {
                    "the receiver could not be reached".to_string()
                }
                other => format!("{other}").chars().take(200).collect(),
            },
            permanent: false,
        })),
    }
}

fn send(
    delivery: &Delivery,
    hook: &handoff::Webhook,
    event_id: &str,
    config: &DeliveryConfig,
) -> Result<(u16, Vec<u8>), crate::outbound::OutboundError> {
    use base64::Engine as _;
    let now_secs = crate::counters::now_ms() / 1000;
    let signature = handoff::sign(&hook.secret, now_secs, &delivery.body);
    let mut headers: Vec<(&str, String)> = vec![
        ("content-type", "application/json".into()),
        ("accept", "application/json".into()),
        ("user-agent", "support-agent-webhooks/1".into()),
        (handoff::SIGNATURE_HEADER, signature),
        (handoff::EVENT_ID_HEADER, event_id.to_string()),
        // Zendesk deduplicates ticket creation by it; others ignore it.
        ("idempotency-key", event_id.to_string()),
    ];
    if let Some(id) = &config.request_id {
        headers.push(("x-request-id", id.clone()));
    }
    if let Some((user, password)) = &delivery.basic_auth {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{user}:{}", password.expose()));
        headers.push(("authorization", format!("Basic {token}")));
    }
    let method = match delivery.method {
        "PUT" => Method::Put,
        _ => Method::Post,
    };
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    crate::outbound::send_raw(
        method,
        &delivery.url,
        &pairs,
        delivery.body.clone(),
        config.timeout,
    )
}

fn external_id(
    db: &Db,
    tenant_id: &str,
    ticket_id: &str,
    target: &str,
) -> Result<Option<String>, DbError> {
    db.query(
        "SELECT external_id FROM ticket_links WHERE tenant_id = $1 AND ticket_id = $2 \
         AND target = $3",
        &[tenant_id.into(), ticket_id.into(), target.into()],
    )?
    .first()
    .map(|r| r.text(0))
    .transpose()
}

fn creation_is_dead(
    db: &Db,
    tenant_id: &str,
    ticket_id: &str,
    target: &str,
) -> Result<bool, DbError> {
    Ok(!db
        .query(
            "SELECT id FROM outbox WHERE tenant_id = $1 AND ticket_id = $2 AND target = $3 \
             AND kind = 'ticket.opened' AND state <> 'pending'",
            &[tenant_id.into(), ticket_id.into(), target.into()],
        )?
        .is_empty())
}
