//! The LLM's client: OpenAI-compatible `POST {base}/chat/completions`, whole or streamed
//! (`stream: true`, read as one `text/event-stream` body and parsed by
//! `core_logic::llm::StreamParser`).
//!
//! [`Llm::chat`] sends each request of the tool loop the way every such server takes it
//! (the reasons are in `core_logic::llm`'s module doc): a request that offers tools goes
//! unstreamed, since llama-cpp-python's `chatml-function-calling` answers a streamed one with
//! automatic tool choice by 200 and an empty body; a request without tools (the answer
//! request) is streamed, and sent once more unstreamed if its stream carries no completion
//! (an empty body or only an error event). No request of ours is refused by llama.cpp, so a
//! visitor never waits for a failed round trip there; the unstreamed retry costs one only
//! on a server that cannot stream at all.
//!
//! Configured by Spin variables (declared in `spin.toml`):
//! - `llm_base_url`: the API base, e.g. `http://127.0.0.1:8080/v1`; unset or empty means no
//!   LLM (the pipeline answers extractively). Its host must be in the component's
//!   `allowed_outbound_hosts`.
//! - `llm_model`: the model name sent in each request; required with a base URL.
//! - `llm_api_key` (secret, optional): sent as `Authorization: Bearer …`; it is never logged
//!   nor put in an error, and `Debug` hides it.
//! - `llm_timeout_ms` (default 15000): the limit on connecting, on the first byte of the
//!   answer and between two of its bytes (`wasi:http` request options). An unstreamed
//!   request's first byte comes when the whole completion is done: a tool round (a call, or
//!   a text answer from a model that answers with tools offered) must be generated within it.
//! - `llm_turn_budget_ms` (default 20000): the limit on all of one turn's requests together
//!   (tool rounds and the answer request, each read to its end). Past it the turn stops
//!   waiting and the extractive responder answers, so a model slow on every round cannot keep
//!   a visitor past the host's request limit (devhost's 30 s would answer 503; Spin sets
//!   none, so the visitor would only wait longer).
//!
//! Not here: the prompt, the tool loop, the parsing (`core_logic::llm`); deciding when to
//! call the LLM and what to do when it fails (the pipeline).

use std::time::{Duration, Instant};

use core_logic::llm::{ChatRequest, ChatResponse, StreamParser, StreamedCompletion};

use crate::log;
use spin_sdk::http::Method;

use crate::config::{self, ConfigError};
use crate::outbound::{JsonClient, OutboundError};

/// `llm_timeout_ms` when unset.
pub const DEFAULT_TIMEOUT_MS: u64 = 15_000;

/// `llm_turn_budget_ms` when unset: with retrieval's own limits (1 s each) it keeps a
/// turn well inside a 30 s host limit.
pub const DEFAULT_TURN_BUDGET_MS: u64 = 20_000;

/// Where the LLM is and how to call it.
#[derive(Clone, PartialEq, Eq)]
pub struct LlmConfig {
    /// Without a trailing slash.
    pub base_url: String,
    pub model: String,
    api_key: Option<String>,
    pub timeout: Duration,
    pub turn_budget: Duration,
}

impl std::fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| ".."))
            .field("timeout", &self.timeout)
            .field("turn_budget", &self.turn_budget)
            .finish()
    }
}

impl LlmConfig {
    /// The LLM named by the `llm_*` variables; `None` when `llm_base_url` is unset or empty.
    pub fn from_config() -> Result<Option<LlmConfig>, ConfigError> {
        Self::parse(
            config::optional("llm_base_url").as_deref(),
            config::optional("llm_model").as_deref(),
            config::optional("llm_api_key").as_deref(),
            config::optional("llm_timeout_ms").as_deref(),
            config::optional("llm_turn_budget_ms").as_deref(),
        )
    }

    /// [`from_config`](Self::from_config) on given values (unset or empty are `None`).
    pub fn parse(
        base_url: Option<&str>,
        model: Option<&str>,
        api_key: Option<&str>,
        timeout_ms: Option<&str>,
        turn_budget_ms: Option<&str>,
    ) -> Result<Option<LlmConfig>, ConfigError> {
        let Some(base_url) = present(base_url) else {
            return Ok(None);
        };
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(ConfigError(
                "`llm_base_url`: expected http://… or https://…".into(),
            ));
        }
        let model =
            present(model).ok_or_else(|| ConfigError("variable `llm_model` is not set".into()))?;
        let timeout_ms = milliseconds("llm_timeout_ms", timeout_ms, DEFAULT_TIMEOUT_MS)?;
        let turn_budget_ms =
            milliseconds("llm_turn_budget_ms", turn_budget_ms, DEFAULT_TURN_BUDGET_MS)?;
        Ok(Some(LlmConfig {
            base_url: base_url.trim_end_matches('/').to_string(),
            model: model.to_string(),
            api_key: present(api_key).map(str::to_string),
            timeout: Duration::from_millis(timeout_ms),
            turn_budget: Duration::from_millis(turn_budget_ms),
        }))
    }

    pub fn has_api_key(&self) -> bool {
        self.api_key.is_some()
    }
}

/// A positive number of milliseconds, `default` when unset; the error names the variable.
fn milliseconds(variable: &str, value: Option<&str>, default: u64) -> Result<u64, ConfigError> {
    match present(value) {
        None => Ok(default),
        Some(v) => v.parse::<u64>().ok().filter(|&ms| ms > 0).ok_or_else(|| {
            ConfigError(format!(
                "`{variable}`: expected a positive number of milliseconds"
            ))
        }),
    }
}

/// An OpenAI-compatible chat-completions API.
#[derive(Debug, Clone)]
pub struct Llm {
    client: JsonClient,
    model: String,
    turn_budget: Duration,
}

impl Llm {
    /// The caller's request id is not forwarded: llama-cpp-python's server answers 400
    /// with an empty body to an `x-request-id` that is not a UUID, and ours are not.
    pub fn new(config: &LlmConfig) -> Llm {
        let mut client = JsonClient::new(&config.base_url, None).with_time_limit(config.timeout);
        if let Some(key) = &config.api_key {
            client = client.with_bearer(key);
        }
        Llm {
            client,
            model: config.model.clone(),
            turn_budget: config.turn_budget,
        }
    }

    /// How long one turn's requests may take together (`llm_turn_budget_ms`): the caller
    /// passes `started + turn_budget()` as each request's deadline.
    pub fn turn_budget(&self) -> Duration {
        self.turn_budget
    }

    /// The configured model: what [`ChatRequest::model`] should name.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// One whole completion (`stream` is left out of the request), answered by `deadline`.
    pub fn complete(
        &self,
        request: &ChatRequest,
        deadline: Instant,
    ) -> Result<ChatResponse, OutboundError> {
        let mut request = request.clone();
        request.stream = None;
        let response: ChatResponse = self.client.clone().with_deadline(deadline).call(
            Method::Post,
            "/chat/completions",
            Some(&request),
        )?;
        Ok(response.normalize())
    }

    /// One request of the tool loop: unstreamed when it offers tools, streamed otherwise
    /// (and unstreamed after all when the stream carries no completion). The stream is read
    /// to its end before anything is returned: the answer is checked against its sources
    /// before a word of it reaches the visitor. Everything is over by `deadline`.
    pub fn chat(
        &self,
        request: &ChatRequest,
        deadline: Instant,
    ) -> Result<ChatResponse, OutboundError> {
        if request.offers_tools() {
            return self.complete(request, deadline);
        }
        let streamed = self.complete_streaming(request, deadline)?;
        if streamed.has_completion() {
            return Ok(streamed.into_response());
        }
        log::warn(
            "llm",
            &format!(
                "the streamed completion carried none ({}); sending it unstreamed",
                streamed.error.as_deref().unwrap_or(if streamed.done {
                    "only [DONE]"
                } else {
                    "an empty stream"
                })
            ),
        );
        self.complete(request, deadline)
    }

    /// A streamed completion (`stream: true`), read to its end and added up: content, tool
    /// calls, usage, whether `data: [DONE]` arrived, and an error event's message. A server
    /// that answers with a whole JSON completion instead is read as one.
    pub fn complete_streaming(
        &self,
        request: &ChatRequest,
        deadline: Instant,
    ) -> Result<StreamedCompletion, OutboundError> {
        let mut request = request.clone();
        request.stream = Some(true);
        let body = self.client.clone().with_deadline(deadline).send(
            Method::Post,
            "/chat/completions",
            Some(&request),
        )?;
        if body.trim_ascii_start().starts_with(b"{") {
            let whole: ChatResponse =
                serde_json::from_slice(&body).map_err(|e| OutboundError::Decode(e.to_string()))?;
            return Ok(as_streamed(whole));
        }
        let mut parser = StreamParser::new();
        parser.push(&body);
        Ok(parser.finish())
    }
}

fn as_streamed(response: ChatResponse) -> StreamedCompletion {
    let usage = response.usage;
    let Some(choice) = response.normalize().choices.into_iter().next() else {
        return StreamedCompletion {
            usage,
            done: true,
            ..StreamedCompletion::default()
        };
    };
    StreamedCompletion {
        content: choice.message.content.unwrap_or_default(),
        tool_calls: choice.message.tool_calls,
        usage,
        finish_reason: choice.finish_reason,
        malformed_lines: 0,
        done: true,
        error: None,
    }
}

/// A value that is set and not blank, trimmed.
fn present(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_base_url_means_no_llm() {
        assert_eq!(
            LlmConfig::parse(None, Some("m"), None, None, None),
            Ok(None)
        );
        assert_eq!(
            LlmConfig::parse(Some("  "), None, None, None, None),
            Ok(None)
        );
    }

    #[test]
    fn a_configured_llm_has_defaults_and_hides_its_key() {
        let config = LlmConfig::parse(
            Some("http://127.0.0.1:8080/v1/"),
            Some("smollm2"),
            Some("sk-very-secret"),
            None,
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(config.base_url, "http://127.0.0.1:8080/v1");
        assert_eq!(config.timeout, Duration::from_millis(DEFAULT_TIMEOUT_MS));
        assert_eq!(
            config.turn_budget,
            Duration::from_millis(DEFAULT_TURN_BUDGET_MS)
        );
        assert!(config.has_api_key());
        let shown = format!("{config:?}");
        assert!(!shown.contains("sk-very-secret"), "{shown}");
        let llm = Llm::new(&config);
        let shown = format!("{llm:?}");
        assert!(!shown.contains("sk-very-secret"), "{shown}");
    }

    #[test]
    fn bad_values_name_the_variable_not_the_value() {
        let x = Some("http://x/v1");
        let cases = [
            (Some("ftp://x"), Some("m"), None, None, "llm_base_url"),
            (x, None, None, None, "llm_model"),
            (x, Some("m"), Some("soon"), None, "llm_timeout_ms"),
            (x, Some("m"), Some("0"), None, "llm_timeout_ms"),
            (x, Some("m"), None, Some("-5"), "llm_turn_budget_ms"),
            (x, Some("m"), None, Some("0"), "llm_turn_budget_ms"),
        ];
        for (base, model, timeout, budget, variable) in cases {
            let err =
                LlmConfig::parse(base, model, Some("sk-secret"), timeout, budget).unwrap_err();
            assert!(err.0.contains(variable), "{err}");
            assert!(!err.0.contains("sk-secret"), "{err}");
        }
    }

    #[test]
    fn a_whole_completion_reads_as_a_finished_stream() {
        let whole: ChatResponse = serde_json::from_str(
            r#"{"choices":[{"message":{"role":"assistant","content":"Hi [1]."},"finish_reason":"stop"}],
               "usage":{"prompt_tokens":3,"completion_tokens":2}}"#,
        )
        .unwrap();
        let got = as_streamed(whole);
        assert_eq!(got.content, "Hi [1].");
        assert!(got.done);
        assert_eq!(got.usage.unwrap().completion_tokens, 2);
    }
}
