//! The LLM responder: runs `core_logic::llm`'s bounded tool loop against the configured
//! OpenAI-compatible endpoint, with our three tools (`search_kb` over the tenant's knowledge
//! and the session's attachments, `recall_memory`, `escalate`): tool rounds unstreamed,
//! then, if the model has not answered in one, the answer request (the prompt built again
//! with every source found, no tools, streamed). `edge::llm::Llm::chat` sends each.
//!
//! An answer without any `[n]` marker gets each sentence the source that supports it
//! (`core_logic::llm::mark_sources`): small models leave the markers out although told to
//! cite. A sentence no single source supports leaves the answer uncited, and so unused.
//!
//! Its answer is not trusted: the pipeline keeps it only when [`core_logic::answer::grounding`]
//! finds every sentence supported by the passages it cites; anything else (the endpoint
//! down or slow, its turn budget spent, an empty or ungrounded answer, a model that keeps
//! calling tools) is a [`LlmOutcome::Fallback`] and the extractive responder answers
//! instead.

use std::time::{Duration, Instant};

use core_logic::answer::{self, Answer, Passage};
use core_logic::conversation::Author;
use core_logic::kb::Search;
use core_logic::llm::{
    ChatMessage, ChatRequest, DEFAULT_MAX_ROUNDS, Step, ToolLoop, ToolRequest, build_messages,
    citations_from, mark_sources, recall_memory, search_result,
};
use core_logic::memory::Memory;

use crate::knowledge::Knowledge;
use crate::llm::Llm;

/// Passages one `search_kb` call adds.
const SEARCH_PASSAGES: usize = 4;

/// What the LLM made of a turn.
#[derive(Debug, Clone)]
pub enum LlmOutcome {
    /// A grounded answer with its citations.
    Answer(Answer),
    /// The model asked for a person (the caller offers one; the policy decides hand-offs).
    Escalate(String),
    /// No usable answer; why, for the log (never shown to the visitor).
    Fallback(String),
}

/// What the model cost this turn: each request's latency and the tokens reported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LlmStats {
    pub requests: Vec<(Duration, bool)>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl LlmStats {
    /// Time spent waiting for the model.
    pub fn waited(&self) -> Duration {
        self.requests.iter().map(|(d, _)| *d).sum()
    }
}

/// The question and what the model may know about the conversation.
pub struct Prompt<'a> {
    pub question: &'a str,
    pub memory: &'a Memory,
    pub recent_turns: &'a [(Author, String)],
    pub locale: Option<&'a str>,
}

/// Runs the tool loop. `passages` are the sources in the prompt; `search_kb` results are
/// appended to them (so `[n]` markers keep naming `passages[n - 1]`). Returns the outcome
/// and what the model cost.
pub fn answer(
    llm: &Llm,
    knowledge: &Knowledge<'_>,
    prompt: &Prompt<'_>,
    passages: &mut Vec<Passage>,
    min_support: f64,
) -> (LlmOutcome, LlmStats) {
    let messages = |passages: &[Passage]| -> Vec<ChatMessage> {
        build_messages(
            prompt.question,
            passages,
            prompt.memory,
            &prompt.memory.summary,
            prompt.recent_turns,
            prompt.locale,
        )
    };
    let first = ChatRequest::with_tools(llm.model(), messages(passages));
    let mut tool_loop = ToolLoop::new(DEFAULT_MAX_ROUNDS);
    let mut stats = LlmStats::default();
    let deadline = Instant::now() + llm.turn_budget();
    // Each round is one request; retries of invalid arguments count too, so this bounds
    // the calls even if the loop's own limits were changed.
    for _ in 0..(DEFAULT_MAX_ROUNDS * 2 + 2) {
        let request = if tool_loop.answering() {
            ChatRequest::new(llm.model(), messages(passages))
        } else {
            tool_loop.request(&first)
        };
        let started = Instant::now();
        if started >= deadline {
            let why = format!("the turn's LLM budget ({:?}) is spent", llm.turn_budget());
            return (LlmOutcome::Fallback(why), stats);
        }
        let response = llm.chat(&request, deadline);
        stats.requests.push((started.elapsed(), response.is_ok()));
        let response = match response {
            Ok(r) => r,
            Err(e) => return (LlmOutcome::Fallback(format!("the LLM failed: {e}")), stats),
        };
        if let Some(usage) = &response.usage {
            stats.prompt_tokens += u64::from(usage.prompt_tokens);
            stats.completion_tokens += u64::from(usage.completion_tokens);
        }
        match tool_loop.next(&response) {
            Step::CallTools(calls) => {
                for call in calls {
                    let content = match call.request() {
                        Ok(ToolRequest::SearchKb { query }) => search(knowledge, &query, passages),
                        Ok(ToolRequest::RecallMemory) => recall_memory(prompt.memory),
                        // Escalation ends the loop before tools run; arguments were checked.
                        Ok(ToolRequest::Escalate { .. }) | Err(_) => String::new(),
                    };
                    tool_loop.tool_result(&call.id, &content);
                }
            }
            Step::Retry | Step::AskForAnswer => {}
            Step::Final(text) => {
                let text = mark_sources(&text, passages, min_support);
                let (text, citations) = citations_from(&text, passages);
                let verdict = answer::grounding(&text, &citations, passages, min_support);
                let outcome = if citations.is_empty() {
                    LlmOutcome::Fallback("the answer cites no source".into())
                } else if verdict.supported {
                    LlmOutcome::Answer(Answer { text, citations })
                } else {
                    LlmOutcome::Fallback(format!(
                        "{} sentence(s) not supported by the sources",
                        verdict.unsupported_sentences.len().max(1)
                    ))
                };
                return (outcome, stats);
            }
            Step::Escalate(reason) => return (LlmOutcome::Escalate(reason), stats),
            Step::GiveUp(why) => return (LlmOutcome::Fallback(why), stats),
        }
    }
    (
        LlmOutcome::Fallback("the tool loop did not finish".into()),
        stats,
    )
}

/// `search_kb`: the knowledge base (and the session's attachments), new passages appended
/// and numbered after the ones the model has.
fn search(knowledge: &Knowledge<'_>, query: &str, passages: &mut Vec<Passage>) -> String {
    let found = match knowledge.search(&Search {
        query: query.to_string(),
        limit: SEARCH_PASSAGES,
        mode: knowledge.ranking.answer_mode,
    }) {
        Ok(found) => found,
        Err(_) => return "The search failed; answer from the sources you have.".into(),
    };
    let first = passages.len() + 1;
    let fresh: Vec<Passage> = found
        .results
        .iter()
        .filter(|hit| !passages.iter().any(|p| p.chunk_id == hit.chunk_id))
        .map(crate::knowledge::SearchHit::passage)
        .collect();
    let text = search_result(&fresh, first);
    passages.extend(fresh);
    text
}
