//! The answer pipeline for one visitor message, in the order of `ARCHITECTURE.md`: store the
//! message first, stay silent when a person has the conversation, retrieve (knowledge base
//! and the session's attachments), compose a grounded answer, decide whether to escalate,
//! then store the reply, its events and the memory in one transaction.
//!
//! A retry with the same idempotency key finds its message and reply already stored and gets
//! them back; a crash between the two leaves the message stored and the next retry answers
//! it. The decisions are `core_logic`'s (`answer`, `escalation`, `memory`); this module
//! sequences the I/O and times each stage.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use core_logic::answer::{self, ExtractiveConfig, Passage};
use core_logic::conversation::{
    Author, Phrase, RECENT_TURNS, VisitorMessage, message_id_for_key, partly_covered_answer, phrase,
};
use core_logic::escalation::{Decision, EscalationPolicy, Reason, TurnSignals, decide};
use core_logic::kb::Search;
use core_logic::problem::ProblemKind;
use core_logic::session::SessionStatus;
use serde_json::{Value as Json, json};

use crate::ApiError;
use crate::conversation::{self, MemoryRecord, Message};
use crate::handoff::{self, Opening};
use crate::knowledge::Knowledge;
use crate::responder::{self, LlmOutcome, Prompt};
use crate::store::{Session, Tenant, new_id};
use core_logic::handoff::{EventKind, TranscriptLine};

/// Share of an answer sentence's content words its sources must contain.
pub const MIN_SUPPORT: f64 = 0.6;
/// Passages the responder reads.
const PASSAGES: usize = 5;

/// One visitor turn: the session, its tenant, the knowledge base scoped to the session and
/// the LLM, when one is configured.
pub struct Turn<'a> {
    pub knowledge: Knowledge<'a>,
    pub tenant: &'a Tenant,
    pub session: &'a Session,
    pub llm: Option<&'a crate::llm::Llm>,
}

/// What a turn produced.
#[derive(Debug, Clone)]
pub struct TurnOutcome {
    pub visitor: Message,
    /// The bot's reply; `None` when a person has the conversation.
    pub reply: Option<Message>,
    /// The structured action of the turn (also on the reply).
    pub action: Option<Json>,
    /// A fixed notice for the visitor when the bot stays silent.
    pub notice: Option<String>,
    /// Whether retrieval ran without the vector index or embedder.
    pub degraded: bool,
    /// The message and reply were already stored by an earlier try with this key.
    pub replayed: bool,
    /// Time per stage (`store`, `vector`, `keyword`, `compose`, `reply`).
    pub stages: Vec<(&'static str, Duration)>,
    /// The ticket this turn opened (`true`) or wrote to (`false`), if any.
    pub ticket: Option<(crate::handoff::Ticket, bool)>,
    /// Outbox rows written: the caller delivers them after the turn.
    pub outbox: usize,
    /// What the LLM cost, when it was asked.
    pub llm: Option<crate::responder::LlmStats>,
    /// The query retrieval ran with when the message did not stand alone (a follow-up read
    /// with the earlier turns' terms); `None` when it was the message itself.
    pub follow_up_query: Option<String>,
}

impl Turn<'_> {
    fn ids(&self) -> (&str, &str) {
        (&self.tenant.id, &self.session.id)
    }

    /// Runs the pipeline for `message`, sent with idempotency `key` if any.
    pub fn run(
        &self,
        message: &VisitorMessage,
        key: Option<&str>,
        now_ms: i64,
    ) -> Result<TurnOutcome, ApiError> {
        let db = self.knowledge.db;
        let (tenant_id, session_id) = self.ids();
        let mut stages = Vec::new();
        if self.session.status == SessionStatus::Closed {
            return Err(ApiError::new(
                ProblemKind::Conflict,
                "the session is closed; start a new one",
            ));
        }

        // 1. The visitor's message is stored before anything that can fail.
        let started = Instant::now();
        let id = match key {
            Some(key) => message_id_for_key(session_id, key),
            None => new_id()?,
        };
        let mut visitor = Message {
            id,
            seq: 0,
            author: Author::Visitor,
            text: message.text.clone(),
            citations: Json::Array(Vec::new()),
            action: None,
            reply_to: None,
            responder: None,
            created_at: now_ms,
        };
        let handed_off = self.session.status == SessionStatus::HandedOff;
        let mut outbox = 0;
        let stored_first = db.transaction(|db| {
            if !conversation::record_message(db, tenant_id, session_id, &mut visitor)? {
                return Ok((false, None));
            }
            // A person has the conversation: the ticketing system hears of the message, in
            // the same transaction that stores it.
            let mut ticket = None;
            if handed_off && let Some(open) = handoff::unsolved_ticket(db, tenant_id, session_id)? {
                outbox = handoff::enqueue(
                    db,
                    self.tenant,
                    self.session,
                    &open,
                    EventKind::VisitorMessage,
                    Some((
                        &visitor.id,
                        TranscriptLine {
                            author: Author::Visitor,
                            text: visitor.text.clone(),
                            created_at: now_ms,
                        },
                    )),
                    now_ms,
                )?;
                ticket = Some((open, false));
            }
            Ok::<_, crate::db::DbError>((true, ticket))
        });
        let (inserted, ticket) = match stored_first {
            Ok(stored) => stored,
            // A concurrent retry with the same key stored it first.
            Err(crate::db::DbError::Conflict(_)) => (false, None),
            Err(e) => return Err(e.into()),
        };
        stages.push(("store", started.elapsed()));
        let visitor = if inserted {
            visitor
        } else {
            let stored = conversation::message(db, tenant_id, session_id, &visitor.id)?
                .ok_or_else(ApiError::internal)?;
            if stored.text != visitor.text {
                return Err(core_logic::idempotency::mismatch_problem().into());
            }
            if let Some(reply) = conversation::reply_to(db, tenant_id, session_id, &stored.id)? {
                return Ok(TurnOutcome {
                    action: reply.action.clone(),
                    visitor: stored,
                    reply: Some(reply),
                    notice: None,
                    degraded: false,
                    replayed: true,
                    stages,
                    ticket: None,
                    outbox: 0,
                    llm: None,
                    follow_up_query: None,
                });
            }
            stored
        };

        // 2. A person has the conversation: the bot stays silent.
        if self.session.status == SessionStatus::HandedOff {
            return Ok(TurnOutcome {
                visitor,
                reply: None,
                action: Some(json!({ "type": "handed_off" })),
                notice: Some(phrase(Phrase::PersonWillAnswer, self.locale()).to_string()),
                degraded: false,
                replayed: !inserted,
                stages,
                ticket,
                outbox,
                llm: None,
                follow_up_query: None,
            });
        }

        // 3. A greeting, a thank-you or a goodbye gets a courteous reply, not a search that
        // finds nothing and offers a person. It leaves the memory as it is (not a failure).
        if let Some(kind) = core_logic::small_talk::classify(&visitor.text) {
            let started = Instant::now();
            let reply = Message {
                id: new_id()?,
                seq: 0,
                author: Author::Bot,
                text: core_logic::small_talk::reply(kind, self.locale()).to_string(),
                citations: Json::Array(Vec::new()),
                action: Some(json!({ "type": "small_talk", "kind": kind })),
                reply_to: Some(visitor.id.clone()),
                responder: Some("small_talk".into()),
                created_at: now_ms,
            };
            let (stored, _) =
                store_reply(db, tenant_id, session_id, &visitor.id, reply, |_| Ok(()))?;
            stages.push(("reply", started.elapsed()));
            return Ok(TurnOutcome {
                visitor,
                action: stored.action.clone(),
                reply: Some(stored),
                notice: None,
                degraded: false,
                replayed: false,
                stages,
                ticket: None,
                outbox: 0,
                llm: None,
                follow_up_query: None,
            });
        }

        // 4. Memory and retrieval.
        let mut memory = conversation::memory(db, tenant_id, session_id)?;
        let recent = conversation::recent(db, tenant_id, session_id, RECENT_TURNS as u32 + 1)?;
        let earlier_visitor_turns: Vec<&str> = recent
            .iter()
            .filter(|m| m.author == Author::Visitor && m.id != visitor.id)
            // A greeting or a thank-you carries no topic.
            .filter(|m| core_logic::small_talk::classify(&m.text).is_none())
            .map(|m| m.text.as_str())
            .collect();
        // One query, or two readings (with the conversation's context, and alone) of which
        // the one the knowledge base supports with more confidence is kept.
        let mut found: Option<(String, crate::knowledge::SearchOutcome)> = None;
        for query in core_logic::memory::retrieval_queries(
            &visitor.text,
            &earlier_visitor_turns,
            core_logic::memory::ConversationContext::from_settings(&self.tenant.settings)
                .for_turn(memory.failed_turns > 0),
        ) {
            let outcome = self.knowledge.search(&Search {
                query: query.clone(),
                limit: PASSAGES,
                mode: self.knowledge.ranking.answer_mode,
            })?;
            stages.extend(outcome.timings.iter().copied());
            if found
                .as_ref()
                .is_none_or(|(_, best)| outcome.confidence > best.confidence)
            {
                found = Some((query, outcome));
            }
        }
        let (query, found) = found.ok_or_else(ApiError::internal)?;
        let follow_up_query = (query != visitor.text.trim()).then_some(query);
        let mut passages: Vec<Passage> = found
            .results
            .iter()
            .map(crate::knowledge::SearchHit::passage)
            .collect();

        // 5. What the policy decides whatever the answer (a request for a person, a
        // sensitive topic, frustration) is settled first, so no answer is composed for
        // nothing; otherwise a grounded answer, from the LLM when one is configured (the
        // extractive responder when it fails or strays from the sources), then the policy.
        let started = Instant::now();
        let policy = EscalationPolicy::from_settings(&self.tenant.settings);
        let signals = |answered: bool| TurnSignals {
            message: &visitor.text,
            retrieval_confidence: Some(found.confidence),
            failed_turns_before: u32::try_from(memory.failed_turns).unwrap_or(u32::MAX),
            answered,
        };
        let early = decide(&policy, &signals(true));
        let settled = matches!(early, Decision::Escalate { reason, .. } if reason.hands_off());
        // Retrieval that is not sure of its sources gets no extractive answer: sentences
        // that merely share words with an off-topic passage are not an answer.
        // A tenant that reranks may have the reranker judge instead
        // (`answer.min_rerank_score`): its best score for the visitor's question as they
        // meant it against the passages found. Alone, when the question stands alone (the
        // query may carry an earlier question's words, which find passages that answer that
        // one); with its context, when it does not ("How does it work?").
        let gate = answer::AnswerGate::from_settings(&self.tenant.settings);
        let read_alone =
            follow_up_query.is_some() && !core_logic::memory::reads_as_follow_up(&visitor.text);
        // Without a threshold for it the fused confidence decides: no second rerank.
        let question_rerank_score = if !found.reranked
            || found.degraded
            || gate.min_rerank_score.is_none()
        {
            None
        } else if read_alone {
            self.knowledge
                .best_rerank_score(&visitor.text, &found.results, PASSAGES, &mut stages)
        } else {
            found
                .results
                .iter()
                .filter_map(|hit| hit.rerank_score)
                .reduce(f64::max)
        };
        let confident = gate.passes(found.degraded, found.confidence, question_rerank_score);
        let extractive = |passages: &[Passage]| {
            if !confident {
                return None;
            }
            // A message that points back ("Was he a communist?") is answered only from
            // passages about what the conversation named, not from any sentence that shares
            // its words.
            let passages = match &follow_up_query {
                Some(query) => answer::about_subject(&visitor.text, query, passages),
                None => Cow::Borrowed(passages),
            };
            answer::extractive_answer(&visitor.text, &passages, &ExtractiveConfig::default())
                .filter(|a| {
                    answer::grounding(&a.text, &a.citations, &passages, MIN_SUPPORT).supported
                })
        };
        let mut responder = "extractive";
        let mut llm_stats = None;
        let answer = match (settled, self.llm) {
            (true, _) => None,
            (false, None) => extractive(&passages),
            // Below the gate no responder answers: the model is not asked unless the tenant
            // trusts it to judge answerability itself, and the offer of a person costs no
            // model request.
            (false, Some(_)) if !confident && !gate.llm_below_gate => None,
            (false, Some(llm)) => {
                let known = memory_of(&memory);
                let turns: Vec<(Author, String)> = recent
                    .iter()
                    .filter(|m| m.id != visitor.id)
                    .map(|m| (m.author, m.text.clone()))
                    .collect();
                let prompt = Prompt {
                    question: &visitor.text,
                    memory: &known,
                    recent_turns: &turns,
                    locale: self.locale(),
                };
                let (outcome, stats) =
                    responder::answer(llm, &self.knowledge, &prompt, &mut passages, MIN_SUPPORT);
                stages.push(("llm", stats.waited()));
                llm_stats = Some(stats);
                match outcome {
                    LlmOutcome::Answer(answer) => {
                        responder = "llm";
                        Some(answer)
                    }
                    // The model would rather have a person answer: offered, not forced.
                    LlmOutcome::Escalate(_) => {
                        responder = "llm";
                        None
                    }
                    LlmOutcome::Fallback(why) => {
                        crate::log::warn("responder", &format!("extractive fallback: {why}"));
                        responder = "fallback";
                        extractive(&passages)
                    }
                }
            }
        };
        let decision = if settled {
            early
        } else {
            decide(&policy, &signals(answer.is_some()))
        };
        let answered = answer.is_some();
        let offer_reason = match decision {
            Decision::Escalate {
                reason: Reason::RepeatedFailure,
                ..
            } => "repeated_failure",
            _ => "not_in_knowledge_base",
        };
        // "This library" or "the library" that the conversation never named: ask which one,
        // even over an answer (it would be about whichever article ranked first).
        let earlier: Vec<&str> = recent
            .iter()
            .filter(|m| m.id != visitor.id)
            .map(|m| m.text.as_str())
            .chain([memory.summary.as_str()])
            .collect();
        let clarification = core_logic::clarify::clarification(&visitor.text, &earlier, &passages);
        let clarifies = clarification.is_some();
        let answer = answer.filter(|_| !clarifies);
        let (text, citations, action, escalated) = match (decision, answer) {
            (Decision::Escalate { reason, intent }, _) if reason.hands_off() => (
                phrase(Phrase::HandingOff, self.locale()).to_string(),
                Json::Array(Vec::new()),
                Some(json!({ "type": "escalate", "reason": reason, "intent": intent })),
                Some((reason, intent)),
            ),
            (_, Some(answer)) => {
                // Quoted sentences say what the knowledge base holds; what it does not
                // mention is said first, and a person is offered for that part. A model
                // words that itself.
                let missing = match responder {
                    "llm" => Vec::new(),
                    _ => self.unknown_words(&visitor.text, &passages)?,
                };
                let text = partly_covered_answer(&answer.text, &missing, self.locale());
                let offer = (!missing.is_empty())
                    .then(|| json!({ "type": "offer_handoff", "reason": "partly_covered" }));
                (text, json!(answer.citations), offer, None)
            }
            (_, None) if let Some(asked) = &clarification => (
                core_logic::clarify::question(&asked.options, Some(&asked.phrase), self.locale()),
                Json::Array(Vec::new()),
                Some(json!({ "type": "clarify", "reason": null, "options": asked.options })),
                None,
            ),
            // Nothing grounded to say: no invented answer, an offer of a person instead.
            (_, None) => (
                phrase(Phrase::DontKnow, self.locale()).to_string(),
                Json::Array(Vec::new()),
                Some(json!({ "type": "offer_handoff", "reason": offer_reason })),
                None,
            ),
        };
        stages.push(("compose", started.elapsed()));

        // 6. The reply, its events and the memory, together.
        let started = Instant::now();
        let reply = Message {
            id: new_id()?,
            seq: 0,
            author: Author::Bot,
            text,
            citations,
            action: action.clone(),
            reply_to: Some(visitor.id.clone()),
            responder: Some(responder.into()),
            created_at: now_ms,
        };
        // With the reply stored, the window of recent turns moves on: the turns that leave
        // it go into the rolling summary.
        let leaving = recent.len().saturating_sub(RECENT_TURNS - 1);
        let dropped: Vec<(Author, &str)> = recent[..leaving]
            .iter()
            .map(|m| (m.author, m.text.as_str()))
            .collect();
        remember(&mut memory, &visitor.text, answered, &dropped);
        let mut ticket = None;
        let (stored, own) = store_reply(db, tenant_id, session_id, &visitor.id, reply, |db| {
            // Escalated: the ticket, the session's new status and the outbox rows go with
            // the reply, or none of them does.
            if let Some((reason, intent)) = escalated {
                let opening = Opening {
                    reason: reason.into(),
                    intent,
                    priority: None,
                    opened_by: if reason == Reason::HumanRequested {
                        "visitor".into()
                    } else {
                        "policy".into()
                    },
                    note: None,
                };
                ticket = Some(handoff::open_ticket(
                    db,
                    self.tenant,
                    self.session,
                    &opening,
                    now_ms,
                )?);
            }
            conversation::save_memory(db, tenant_id, session_id, &memory, now_ms)
        })?;
        if !own {
            ticket = None;
        }
        stages.push(("reply", started.elapsed()));
        Ok(TurnOutcome {
            visitor,
            action: stored.action.clone(),
            reply: Some(stored),
            notice: None,
            degraded: found.degraded,
            replayed: false,
            stages,
            outbox: usize::from(ticket.as_ref().is_some_and(|(_, new)| *new)),
            ticket,
            llm: llm_stats,
            follow_up_query,
        })
    }

    /// What an answer to `question` from `passages` should say it could not find: the
    /// question's specific words that no passage holds and the knowledge base never
    /// mentions, when they leave part of the question to answer
    /// ([`answer::partly_covered`]).
    fn unknown_words(&self, question: &str, passages: &[Passage]) -> Result<Vec<String>, ApiError> {
        let mut unknown = Vec::new();
        for word in answer::uncovered_terms(question, passages) {
            if !self.knowledge.mentions(&word)? {
                unknown.push(word);
            }
        }
        Ok(answer::partly_covered(question, &unknown))
    }

    fn locale(&self) -> Option<&str> {
        self.session.visitor.locale.as_deref()
    }
}

/// Stores the bot's `reply` to the visitor message `visitor_id`, with what `also` writes
/// in the same transaction (a ticket, the memory), or none of it. When a concurrent retry
/// of the same message answered first, its reply is the reply: returned with `false`.
fn store_reply(
    db: &crate::db::Db,
    tenant_id: &str,
    session_id: &str,
    visitor_id: &str,
    mut reply: Message,
    also: impl FnOnce(&crate::db::Db) -> Result<(), crate::db::DbError>,
) -> Result<(Message, bool), ApiError> {
    let outcome = db.transaction(|db| {
        if !conversation::record_message(db, tenant_id, session_id, &mut reply)? {
            return Ok(false);
        }
        also(db)?;
        Ok::<_, crate::db::DbError>(true)
    });
    match outcome {
        Ok(true) => Ok((reply, true)),
        Ok(false) | Err(crate::db::DbError::Conflict(_)) => {
            let theirs = conversation::reply_to(db, tenant_id, session_id, visitor_id)?
                .ok_or_else(ApiError::internal)?;
            Ok((theirs, false))
        }
        Err(e) => Err(e.into()),
    }
}

/// The bot's memory as the responders read it.
fn memory_of(memory: &MemoryRecord) -> core_logic::memory::Memory {
    serde_json::from_value(json!({ "facts": memory.facts, "summary": memory.summary }))
        .unwrap_or_default()
}

/// Longest rolling summary kept, in characters.
const SUMMARY_CHARS: usize = 600;

/// Updates what the bot remembers after a turn: facts the visitor stated, the summary of
/// turns that left the recent window, and how many turns in a row went unanswered.
fn remember(memory: &mut MemoryRecord, text: &str, answered: bool, dropped: &[(Author, &str)]) {
    let mut known = memory_of(memory);
    known.remember(core_logic::memory::extract_facts(text));
    memory.facts = json!(known.facts);
    if !dropped.is_empty() {
        memory.summary =
            core_logic::memory::rolling_summary(&memory.summary, dropped, SUMMARY_CHARS);
    }
    memory.failed_turns = if answered { 0 } else { memory.failed_turns + 1 };
}
