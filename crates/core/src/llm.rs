//! The pure half of the LLM responder: OpenAI chat-completions wire types, the prompt, the
//! three tools' schemas, a parser for streamed (`text/event-stream`) completions, a bounded
//! tool-calling loop as a state machine, and the mapping of the model's `[n]` markers to
//! [`Citation`]s.
//!
//! Plain data in, plain data out: sending requests is `edge::llm`, running the tools
//! (retrieval, memory, escalation) and wiring the loop into the pipeline is the caller's.
//! The answer this produces is not trusted: the caller runs [`crate::answer::grounding`] on
//! it, and falls back to the extractive answer when the loop gives up.
//!
//! One turn has two kinds of request, because "OpenAI-compatible" servers differ most in
//! how they take tools:
//! - **tool rounds** offer the tools (`tool_choice: "auto"`) and are sent unstreamed
//!   ([`ChatRequest::offers_tools`]): OpenAI, vLLM and Ollama stream tool calls, but
//!   llama-cpp-python's `chatml-function-calling` refuses a streamed request with automatic
//!   tool choice (status 200, an empty body), and every server answers them unstreamed;
//! - **the answer request** offers no tools: the prompt built again with every source the
//!   rounds found ([`ToolLoop::answering`]), which every server streams. The loop asks for
//!   it when the model answers a tool round with nothing (llama.cpp's automatic tool choice
//!   never answers with text: its "message" branch is held by a grammar that allows only a
//!   tool name or the end), repeats a call it already made, sends invalid arguments twice,
//!   or has used its rounds. A fresh prompt rather than the tool transcript because small
//!   models read their own tool calls as the topic ("This tool is designed to help you
//!   find…") where the same sources as a plain prompt get a plain answer.
//!
//! So no request is ever refused for its shape, and a server that cannot stream a
//! completion costs nothing extra until one is streamed (then the caller may resend it
//! unstreamed: see [`StreamedCompletion::has_completion`]).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};

use crate::answer::{Citation, Passage, content_words, split_sentences, stem, take_markers};
use crate::conversation::Author;
use crate::memory::{FactKind, Memory};

/// Tool-calling rounds (model asks, we answer) a turn may take when the caller sets none.
pub const DEFAULT_MAX_ROUNDS: usize = 3;
/// Characters of one source's text put in the prompt at most (small models have small
/// context windows; the best part of a passage is usually its start).
pub const MAX_SOURCE_CHARS: usize = 1500;

/// The tool that searches the knowledge base: `{"query": string}`.
pub const SEARCH_KB: &str = "search_kb";
/// The tool that hands the conversation to a person: `{"reason": string}`.
pub const ESCALATE: &str = "escalate";
/// The tool that returns what we know about the visitor: no arguments.
pub const RECALL_MEMORY: &str = "recall_memory";

// ---------------------------------------------------------------------------------------
// Wire types
// ---------------------------------------------------------------------------------------

/// Who speaks a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

/// One message of a chat-completions request, or the message of a response's choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    #[serde(default = "assistant")]
    pub role: Role,
    /// `None` (`null`) in a response that only calls tools. Left out when `None`; the
    /// [`ToolLoop`] sends `""` instead, since llama-cpp-python's server refuses both a
    /// `null` and a missing content (OpenAI accepts all three).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tool_calls: Vec<ToolCall>,
    /// In a `tool` message: the id of the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// In a `tool` message: the tool's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

fn assistant() -> Role {
    Role::Assistant
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> ChatMessage {
        ChatMessage::plain(Role::System, content)
    }

    pub fn user(content: impl Into<String>) -> ChatMessage {
        ChatMessage::plain(Role::User, content)
    }

    pub fn assistant(content: impl Into<String>) -> ChatMessage {
        ChatMessage::plain(Role::Assistant, content)
    }

    /// The answer to tool call `id`.
    pub fn tool(id: &str, name: Option<&str>, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            tool_call_id: Some(id.to_string()),
            name: name.map(str::to_string),
            ..ChatMessage::plain(Role::Tool, content)
        }
    }

    fn plain(role: Role, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role,
            content: Some(content.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
        }
    }
}

/// A call of one tool, as the model asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Some servers leave it out; [`ChatResponse::normalize`] fills it in.
    #[serde(default)]
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionCall,
}

fn function_type() -> String {
    "function".to_string()
}

/// The function a [`ToolCall`] names, with its arguments as the JSON text the model wrote
/// (which need not be valid JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCall {
    #[serde(default)]
    pub name: String,
    /// OpenAI sends a string; a server that sends an object gets it written back as text.
    #[serde(default, deserialize_with = "json_text")]
    pub arguments: String,
}

fn json_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    #[serde(rename = "type")]
    pub kind: String,
    pub function: FunctionSpec,
}

/// A tool's name, what it is for, and the JSON schema of its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionSpec {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

/// A `POST /chat/completions` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// `"auto"`, `"none"`, or `{"type":"function","function":{"name":…}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
}

impl ChatRequest {
    /// A request for `messages` without tools: a low temperature and at most 400 tokens.
    pub fn new(model: &str, messages: Vec<ChatMessage>) -> ChatRequest {
        ChatRequest {
            model: model.to_string(),
            messages,
            tools: Vec::new(),
            tool_choice: None,
            temperature: Some(0.2),
            max_tokens: Some(400),
            stream: None,
        }
    }

    /// [`ChatRequest::new`] with our [`tools`] offered (`tool_choice: "auto"`).
    pub fn with_tools(model: &str, messages: Vec<ChatMessage>) -> ChatRequest {
        ChatRequest {
            tools: tools(),
            tool_choice: Some(json!("auto")),
            ..ChatRequest::new(model, messages)
        }
    }

    /// Whether the model may call a tool in its answer: tools are offered and `tool_choice`
    /// is not `"none"`. Such a request is sent unstreamed (see the module doc).
    pub fn offers_tools(&self) -> bool {
        !self.tools.is_empty() && self.tool_choice.as_ref().and_then(Value::as_str) != Some("none")
    }
}

/// Tokens a completion used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u32,
    #[serde(default)]
    pub completion_tokens: u32,
}

/// One choice of a completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub message: ChatMessage,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// A chat-completions response (only the fields we read).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    #[serde(default)]
    pub choices: Vec<Choice>,
    #[serde(default)]
    pub usage: Option<Usage>,
}

impl ChatResponse {
    /// Gives tool calls without an id one (`call_<choice>_<n>`), so results can answer them.
    pub fn normalize(mut self) -> ChatResponse {
        for (c, choice) in self.choices.iter_mut().enumerate() {
            for (n, call) in choice.message.tool_calls.iter_mut().enumerate() {
                if call.id.is_empty() {
                    call.id = format!("call_{c}_{n}");
                }
            }
        }
        self
    }
}

// ---------------------------------------------------------------------------------------
// Streaming
// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct StreamChunk {
    #[serde(default)]
    choices: Vec<StreamChoice>,
    #[serde(default)]
    usage: Option<Usage>,
    /// An error sent inside a 200 stream (`{"error": {"message": …}}` or a string).
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct StreamChoice {
    #[serde(default)]
    delta: Delta,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Default, Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    tool_calls: Vec<ToolCallDelta>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "optional_json_text")]
    arguments: Option<String>,
}

fn optional_json_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Null => None,
        other => Some(other.to_string()),
    })
}

/// What a streamed completion added up to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamedCompletion {
    pub content: String,
    /// In the order of their `index`.
    pub tool_calls: Vec<ToolCall>,
    pub usage: Option<Usage>,
    pub finish_reason: Option<String>,
    /// `data:` lines that were not a chunk we could read; skipped.
    pub malformed_lines: usize,
    /// Whether `data: [DONE]` arrived (a stream cut short has not).
    pub done: bool,
    /// The message of an error event in the stream (`data: {"error": …}`), if one came.
    pub error: Option<String>,
}

impl StreamedCompletion {
    /// Whether the stream carried a completion at all: some content, a tool call or a
    /// finish reason. A server that cannot stream a request may still answer 200 with a
    /// stream without any (llama-cpp-python sends an empty body, others an error event);
    /// the request is then worth sending once more unstreamed.
    pub fn has_completion(&self) -> bool {
        !self.content.is_empty() || !self.tool_calls.is_empty() || self.finish_reason.is_some()
    }

    /// The completion as a one-choice [`ChatResponse`], for [`ToolLoop::next`].
    pub fn into_response(self) -> ChatResponse {
        let content = (!self.content.is_empty()).then_some(self.content);
        ChatResponse {
            choices: vec![Choice {
                message: ChatMessage {
                    role: Role::Assistant,
                    content,
                    tool_calls: self.tool_calls,
                    tool_call_id: None,
                    name: None,
                },
                finish_reason: self.finish_reason,
            }],
            usage: self.usage,
        }
        .normalize()
    }
}

/// Reads a `text/event-stream` completion as it arrives, in pieces of any size (a piece may
/// end inside a line, or inside a UTF-8 character).
///
/// Only `data:` lines count; comments, `event:`/`id:` fields and blank lines are ignored.
/// Content deltas are appended; tool-call deltas are merged by `index` (the id and name come
/// once, or are repeated unchanged in every delta as llama-cpp-python does; the arguments
/// come in fragments). A `data:` line that is not JSON of a chunk's shape is
/// skipped and counted; an `{"error": …}` chunk's message is kept. Nothing after
/// `data: [DONE]` is read.
#[derive(Debug, Default)]
pub struct StreamParser {
    pending: Vec<u8>,
    out: StreamedCompletion,
    /// The `index` of each entry of `out.tool_calls`.
    indices: Vec<usize>,
}

impl StreamParser {
    pub fn new() -> StreamParser {
        StreamParser::default()
    }

    /// Feeds the next piece of the body.
    pub fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            self.line(&String::from_utf8_lossy(&line));
        }
    }

    /// Feeds one whole line (with or without its line break).
    pub fn line(&mut self, line: &str) {
        if self.out.done {
            return;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        let Some(data) = line.strip_prefix("data:") else {
            return;
        };
        let data = data.trim();
        if data == "[DONE]" {
            self.out.done = true;
            return;
        }
        if data.is_empty() {
            return;
        }
        match serde_json::from_str::<StreamChunk>(data) {
            Ok(chunk) => self.apply(chunk),
            Err(_) => self.out.malformed_lines += 1,
        }
    }

    fn apply(&mut self, chunk: StreamChunk) {
        if let Some(error) = chunk.error.filter(|e| !e.is_null()) {
            let message = match &error {
                Value::String(s) => s.clone(),
                other => other
                    .get("message")
                    .and_then(Value::as_str)
                    .map_or_else(|| other.to_string(), str::to_string),
            };
            self.out.error = Some(message);
        }
        if chunk.usage.is_some() {
            self.out.usage = chunk.usage;
        }
        // Only the first choice is read (we never ask for more than one).
        let Some(choice) = chunk.choices.into_iter().next() else {
            return;
        };
        if let Some(reason) = choice.finish_reason {
            self.out.finish_reason = Some(reason);
        }
        if let Some(text) = choice.delta.content {
            self.out.content.push_str(&text);
        }
        for (n, delta) in choice.delta.tool_calls.into_iter().enumerate() {
            let index = delta.index.unwrap_or(n);
            let slot = match self.indices.iter().position(|&i| i == index) {
                Some(slot) => slot,
                None => {
                    self.indices.push(index);
                    self.out.tool_calls.push(ToolCall {
                        id: String::new(),
                        kind: function_type(),
                        function: FunctionCall {
                            name: String::new(),
                            arguments: String::new(),
                        },
                    });
                    self.out.tool_calls.len() - 1
                }
            };
            let call = &mut self.out.tool_calls[slot];
            if let Some(id) = delta.id.filter(|id| !id.is_empty()) {
                call.id = id;
            }
            if let Some(function) = delta.function {
                // OpenAI sends the name once; llama-cpp-python repeats it in every delta.
                if let Some(name) = function.name
                    && name != call.function.name
                {
                    call.function.name.push_str(&name);
                }
                if let Some(arguments) = function.arguments {
                    call.function.arguments.push_str(&arguments);
                }
            }
        }
    }

    /// Whether any content or tool call has arrived yet (for time-to-first-token).
    pub fn has_output(&self) -> bool {
        !self.out.content.is_empty() || !self.out.tool_calls.is_empty()
    }

    /// Everything read so far (an unfinished last line included), tool calls in `index`
    /// order.
    pub fn finish(mut self) -> StreamedCompletion {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.line(&String::from_utf8_lossy(&rest));
        }
        let mut calls: Vec<(usize, ToolCall)> =
            self.indices.into_iter().zip(self.out.tool_calls).collect();
        calls.sort_by_key(|(i, _)| *i);
        self.out.tool_calls = calls.into_iter().map(|(_, c)| c).collect();
        self.out
    }
}

/// Parses a whole streamed body: see [`StreamParser`].
pub fn parse_stream(body: &str) -> StreamedCompletion {
    let mut parser = StreamParser::new();
    parser.push(body.as_bytes());
    parser.finish()
}

// ---------------------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------------------

/// The tools offered to the model: [`SEARCH_KB`], [`ESCALATE`] and [`RECALL_MEMORY`].
pub fn tools() -> Vec<Tool> {
    let function = |name: &str, description: &str, parameters: Value| Tool {
        kind: function_type(),
        function: FunctionSpec {
            name: name.to_string(),
            description: description.to_string(),
            parameters,
        },
    };
    vec![
        function(
            SEARCH_KB,
            "Search the help center for passages about a topic. Use it when the numbered \
             sources do not cover the question.",
            json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "What to search for, in a few words."}
                },
                "required": ["query"],
                "additionalProperties": false
            }),
        ),
        function(
            ESCALATE,
            "Hand the conversation to a human support agent. Use it when the visitor asks for \
             a person, or the request needs one.",
            json!({
                "type": "object",
                "properties": {
                    "reason": {"type": "string", "description": "Why a person is needed."}
                },
                "required": ["reason"],
                "additionalProperties": false
            }),
        ),
        function(
            RECALL_MEMORY,
            "Recall what the visitor told earlier in the conversation: name, e-mail, order \
             numbers, phone, and a summary of earlier turns.",
            json!({"type": "object", "properties": {}, "additionalProperties": false}),
        ),
    ]
}

/// A tool call with its arguments read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolRequest {
    SearchKb { query: String },
    Escalate { reason: String },
    RecallMemory,
}

/// Why a tool call's arguments could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgumentError {
    /// Not a JSON object.
    NotJson,
    /// A required string is missing or empty.
    Missing(&'static str),
    UnknownTool(String),
}

impl std::fmt::Display for ArgumentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArgumentError::NotJson => f.write_str("the arguments are not a valid JSON object"),
            ArgumentError::Missing(field) => write!(f, "the argument `{field}` is missing"),
            ArgumentError::UnknownTool(name) => write!(f, "there is no tool named `{name}`"),
        }
    }
}

impl ToolCall {
    /// The call as one of our tools. Empty arguments count as `{}`.
    pub fn request(&self) -> Result<ToolRequest, ArgumentError> {
        let text = self.function.arguments.trim();
        let args: Value = if text.is_empty() {
            json!({})
        } else {
            serde_json::from_str(text).map_err(|_| ArgumentError::NotJson)?
        };
        if !args.is_object() {
            return Err(ArgumentError::NotJson);
        }
        let string = |field: &'static str| {
            args.get(field)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .ok_or(ArgumentError::Missing(field))
        };
        match self.function.name.as_str() {
            SEARCH_KB => Ok(ToolRequest::SearchKb {
                query: string("query")?,
            }),
            ESCALATE => Ok(ToolRequest::Escalate {
                reason: string("reason").unwrap_or_default(),
            }),
            RECALL_MEMORY => Ok(ToolRequest::RecallMemory),
            other => Err(ArgumentError::UnknownTool(other.to_string())),
        }
    }
}

/// The [`RECALL_MEMORY`] tool's result: the visitor's facts and the summary, as text.
pub fn recall_memory(memory: &Memory) -> String {
    let facts = facts_text(memory);
    let mut out = if facts.is_empty() {
        "Nothing is known about the visitor.".to_string()
    } else {
        format!("Known about the visitor: {facts}.")
    };
    if !memory.summary.trim().is_empty() {
        out.push_str("\nEarlier in the conversation:\n");
        out.push_str(memory.summary.trim());
    }
    out
}

/// The [`SEARCH_KB`] tool's result: the passages numbered from `first` (the next number
/// after the sources already in the prompt, so markers stay unambiguous).
pub fn search_result(passages: &[Passage], first: usize) -> String {
    if passages.is_empty() {
        return "No passages found.".to_string();
    }
    passages
        .iter()
        .enumerate()
        .map(|(i, p)| source_text(first + i, p))
        .collect::<Vec<_>>()
        .join("\n\n")
}

// ---------------------------------------------------------------------------------------
// The prompt
// ---------------------------------------------------------------------------------------

/// The rules the model answers by.
const RULES: &str = "You are the customer support assistant of this website.\n\
Rules:\n\
- Answer ONLY from the numbered sources below. Do not use anything else you know.\n\
- Cite the source of every sentence with its number in brackets, like [1].\n\
- If the sources do not cover the question, say that you don't know. Do not guess.\n\
- Never invent numbers, prices, dates or time limits: use only those in the sources.\n\
- Reply in the visitor's language";

const RULES_END: &str = "- If the visitor asks for a person (a human, an agent), call the \
`escalate` tool.\n\
- Keep the answer short: a few sentences.";

fn language_rule(locale: Option<&str>) -> String {
    match locale.map(str::trim).filter(|l| !l.is_empty()) {
        Some(locale) => {
            format!("{RULES} (the language of their message; their browser says `{locale}`).")
        }
        None => format!("{RULES} (the language of their message)."),
    }
}

/// `[n] Title › Heading › Heading` and the passage's text, cut to [`MAX_SOURCE_CHARS`].
fn source_text(n: usize, p: &Passage) -> String {
    let mut label = p.title.trim().to_string();
    for heading in &p.heading_path {
        if !label.is_empty() {
            label.push_str(" › ");
        }
        label.push_str(heading.trim());
    }
    let text = p.text.trim();
    let text = match text.char_indices().nth(MAX_SOURCE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    };
    format!("[{n}] {label}\n{text}")
}

fn facts_text(memory: &Memory) -> String {
    memory
        .facts
        .iter()
        .map(|f| {
            let kind = match f.kind {
                FactKind::Name => "name",
                FactKind::Email => "e-mail",
                FactKind::OrderNumber => "order number",
                FactKind::Phone => "phone",
            };
            format!("{kind}: {}", f.value)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The messages of a grounded answer: one system message with the rules, the numbered
/// sources (`[n] Title › Heading path` and the text), the known visitor facts and the
/// summary of earlier turns; then the recent turns (visitor as `user`, bot and agent as
/// `assistant`, system turns left out); then the question.
///
/// `recent_turns` are the turns before the question, oldest first; `summary` is usually
/// `memory.summary` (passed apart so the caller can choose).
pub fn build_messages(
    question: &str,
    passages: &[Passage],
    memory: &Memory,
    summary: &str,
    recent_turns: &[(Author, String)],
    locale: Option<&str>,
) -> Vec<ChatMessage> {
    let mut system = language_rule(locale);
    system.push('\n');
    system.push_str(RULES_END);
    system.push_str("\n\nSources:\n");
    if passages.is_empty() {
        system.push_str("(none)\n");
    }
    for (i, p) in passages.iter().enumerate() {
        system.push_str(&source_text(i + 1, p));
        system.push_str("\n\n");
    }
    let facts = facts_text(memory);
    if !facts.is_empty() {
        system.push_str(&format!(
            "Known about the visitor (they told us): {facts}.\n"
        ));
    }
    if !summary.trim().is_empty() {
        system.push_str("Earlier in this conversation:\n");
        system.push_str(summary.trim());
        system.push('\n');
    }
    let mut messages = vec![ChatMessage::system(system.trim_end())];
    for (author, text) in recent_turns {
        match author {
            Author::Visitor => messages.push(ChatMessage::user(text.as_str())),
            Author::Bot => messages.push(ChatMessage::assistant(text.as_str())),
            Author::Agent => {
                messages.push(ChatMessage::assistant(format!("(support agent) {text}")))
            }
            Author::System => {}
        }
    }
    messages.push(ChatMessage::user(question));
    messages
}

// ---------------------------------------------------------------------------------------
// The tool loop
// ---------------------------------------------------------------------------------------

/// What the caller does next in a [`ToolLoop`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Run these calls (their arguments parse: see [`ToolCall::request`]), give each result
    /// to [`ToolLoop::tool_result`], then send the next request.
    CallTools(Vec<ToolCall>),
    /// The model's arguments were not valid: the loop has told it so; send
    /// [`ToolLoop::request`] again.
    Retry,
    /// The tools have nothing more to give: send the answer request, without tools (see
    /// [`ToolLoop::answering`]).
    AskForAnswer,
    /// The model's answer (not yet grounded: see [`citations_from`]).
    Final(String),
    /// The model called [`ESCALATE`] with this reason (possibly empty).
    Escalate(String),
    /// No usable answer: the caller falls back to the extractive responder.
    GiveUp(String),
}

/// A bounded tool-calling conversation, as a state machine: the caller sends requests and
/// runs tools, the loop decides what each response means.
///
/// Tool rounds first: at most `max_rounds` of them, each sent as [`ToolLoop::request`]
/// (the first request, then the calls and results so far). A text answer to a round is the
/// [`Step::Final`] answer. Once [`ToolLoop::answering`], the caller sends the answer
/// request instead: its prompt built again with every source found, and no tools. That
/// happens after the last round, after an empty answer to a round, after a round that only
/// repeats calls already run (their results would be the same), and after invalid
/// arguments twice (the first time they are answered with a tool error asking for valid
/// JSON: [`Step::Retry`]). An empty answer, or a tool call, in reply to the answer request
/// gives up.
#[derive(Debug, Clone)]
pub struct ToolLoop {
    max_rounds: usize,
    rounds: usize,
    invalid_arguments: usize,
    /// The assistant and tool messages of this loop, to append to the first request's.
    transcript: Vec<ChatMessage>,
    /// The calls run so far, as (name, arguments in a canonical form).
    calls_run: Vec<(String, String)>,
    /// Asked for the answer before the rounds ran out.
    answer_now: bool,
    finished: bool,
}

impl ToolLoop {
    pub fn new(max_rounds: usize) -> ToolLoop {
        ToolLoop {
            max_rounds,
            rounds: 0,
            invalid_arguments: 0,
            transcript: Vec::new(),
            calls_run: Vec::new(),
            answer_now: false,
            finished: false,
        }
    }

    /// Tool rounds taken so far.
    pub fn rounds(&self) -> usize {
        self.rounds
    }

    /// Whether the next request is the answer request: the prompt with every source found
    /// so far (those of the first request and the `search_kb` results) and no tools,
    /// `ChatRequest::new(model, build_messages(…))`. Small models answer a plain prompt far
    /// better than a transcript of their own tool calls, and llama.cpp only answers with
    /// text when no tool is offered.
    pub fn answering(&self) -> bool {
        self.answer_now || self.rounds >= self.max_rounds
    }

    /// The assistant tool-call messages and tool results so far.
    pub fn transcript(&self) -> &[ChatMessage] {
        &self.transcript
    }

    /// The next tool round: `first` (the request with [`build_messages`]' messages and the
    /// tools) followed by this loop's transcript. Once [`answering`](Self::answering), the
    /// same with `tool_choice: "none"`, for a caller that cannot build the prompt again.
    pub fn request(&self, first: &ChatRequest) -> ChatRequest {
        let mut request = first.clone();
        request.messages.extend(self.transcript.iter().cloned());
        if self.answering() && !request.tools.is_empty() {
            request.tool_choice = Some(json!("none"));
        }
        request
    }

    /// The result of tool call `id`, as the model will read it.
    pub fn tool_result(&mut self, id: &str, content: &str) {
        let name = self
            .transcript
            .iter()
            .flat_map(|m| &m.tool_calls)
            .find(|c| c.id == id)
            .map(|c| c.function.name.clone());
        self.transcript
            .push(ChatMessage::tool(id, name.as_deref(), content));
    }

    /// Reads the model's response.
    pub fn next(&mut self, response: &ChatResponse) -> Step {
        if self.finished {
            return Step::GiveUp("the loop has already ended".to_string());
        }
        let step = self.decide(response);
        if !matches!(step, Step::CallTools(_) | Step::Retry | Step::AskForAnswer) {
            self.finished = true;
        }
        step
    }

    fn decide(&mut self, response: &ChatResponse) -> Step {
        let Some(choice) = response.choices.first() else {
            return Step::GiveUp("the response has no choices".to_string());
        };
        let message = &choice.message;
        let answering = self.answering();
        if message.tool_calls.is_empty() {
            let text = message.content.as_deref().unwrap_or("").trim();
            if !text.is_empty() {
                return Step::Final(text.to_string());
            }
            if answering {
                return Step::GiveUp("the model gave an empty answer".to_string());
            }
            // llama.cpp's automatic tool choice answers with nothing when it picks text.
            self.answer_now = true;
            return Step::AskForAnswer;
        }
        if answering {
            return Step::GiveUp(if self.rounds >= self.max_rounds {
                format!("the model still called tools after {} rounds", self.rounds)
            } else {
                "the model called a tool when none was offered".to_string()
            });
        }
        let mut calls = message.tool_calls.clone();
        for (n, call) in calls.iter_mut().enumerate() {
            if call.id.is_empty() {
                call.id = format!("call_{}_{n}", self.rounds);
            }
        }
        let requests: Vec<Result<ToolRequest, ArgumentError>> =
            calls.iter().map(ToolCall::request).collect();
        // Asking for a person wins over everything else the model asked for.
        for (call, request) in calls.iter().zip(&requests) {
            match request {
                Ok(ToolRequest::Escalate { reason }) => return Step::Escalate(reason.clone()),
                Err(_) if call.function.name == ESCALATE => return Step::Escalate(String::new()),
                _ => {}
            }
        }
        let invalid = requests.iter().any(Result::is_err);
        if invalid && self.invalid_arguments >= 1 {
            // Twice: the model cannot call our tools, but may still answer from the sources.
            self.answer_now = true;
            return Step::AskForAnswer;
        }
        let signatures: Vec<(String, String)> = calls.iter().map(signature).collect();
        if !invalid && signatures.iter().all(|s| self.calls_run.contains(s)) {
            // Small models repeat a call whose result they already have.
            self.answer_now = true;
            return Step::AskForAnswer;
        }
        self.rounds += 1;
        self.transcript.push(ChatMessage {
            content: Some(message.content.clone().unwrap_or_default()),
            tool_calls: calls.clone(),
            ..ChatMessage::plain(Role::Assistant, "")
        });
        if invalid {
            self.invalid_arguments += 1;
            for (call, request) in calls.iter().zip(&requests) {
                let content = match request {
                    Err(e) => format!(
                        "Error: {e}. Call the tool again with arguments that are a valid JSON \
                         object matching its schema, e.g. {}.",
                        example_arguments(&call.function.name)
                    ),
                    Ok(_) => "Not run: another call in this turn had invalid arguments. Call \
                              it again with the corrected ones."
                        .to_string(),
                };
                self.transcript.push(ChatMessage::tool(
                    &call.id,
                    Some(call.function.name.as_str()),
                    content,
                ));
            }
            return Step::Retry;
        }
        self.calls_run.extend(signatures);
        Step::CallTools(calls)
    }
}

/// A call's tool name and its arguments written again as compact JSON, so the same call
/// with other spacing compares equal.
fn signature(call: &ToolCall) -> (String, String) {
    let text = call.function.arguments.trim();
    let arguments = match serde_json::from_str::<Value>(if text.is_empty() { "{}" } else { text }) {
        Ok(value) => value.to_string(),
        Err(_) => text.to_string(),
    };
    (call.function.name.clone(), arguments)
}

fn example_arguments(tool: &str) -> &'static str {
    match tool {
        SEARCH_KB => r#"{"query": "refund policy"}"#,
        ESCALATE => r#"{"reason": "the visitor asked for a person"}"#,
        RECALL_MEMORY => "{}",
        _ => r#"{"query": "…"} for search_kb"#,
    }
}

// ---------------------------------------------------------------------------------------
// Citations
// ---------------------------------------------------------------------------------------

/// The model's answer with its `[n]` markers renumbered in order of first use and each
/// used source as a [`Citation`] (`[n]` names `passages[n - 1]`, the numbering of
/// [`build_messages`] and [`search_result`]). Markers out of range are dropped from the
/// text. A citation's quote is the passage sentence sharing the most content words with the
/// answer sentences that cite it.
pub fn citations_from(text: &str, passages: &[Passage]) -> (String, Vec<Citation>) {
    // Old number (1-based, in range) → new marker, in order of first use.
    let mut order: Vec<usize> = Vec::new();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let Some(len) = marker_len(&rest[open..]) else {
            out.push_str(&rest[..=open]);
            rest = &rest[open + 1..];
            continue;
        };
        let numbers: Vec<usize> = rest[open + 1..open + len - 1]
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .filter(|&n| (1..=passages.len()).contains(&n))
            .collect();
        let mut kept: Vec<usize> = Vec::new();
        for n in numbers {
            let marker = match order.iter().position(|&o| o == n) {
                Some(i) => i + 1,
                None => {
                    order.push(n);
                    order.len()
                }
            };
            if !kept.contains(&marker) {
                kept.push(marker);
            }
        }
        if kept.is_empty() {
            // Dropped: so is the space before it.
            out.push_str(rest[..open].trim_end_matches(' '));
        } else {
            out.push_str(&rest[..open]);
            for marker in kept {
                out.push_str(&format!("[{marker}]"));
            }
        }
        rest = &rest[open + len..];
    }
    out.push_str(rest);

    // The answer's sentences that cite each new marker, for the quotes.
    let mut citing: Vec<Vec<String>> = vec![Vec::new(); order.len()];
    for sentence in split_sentences(&out) {
        let (markers, plain) = take_markers(&sentence);
        for m in markers {
            if let Some(list) = citing.get_mut(m.wrapping_sub(1)) {
                list.push(plain.clone());
            }
        }
    }
    let citations = order
        .iter()
        .zip(&citing)
        .enumerate()
        .map(|(i, (&n, sentences))| {
            let p = &passages[n - 1];
            Citation {
                marker: i + 1,
                chunk_id: p.chunk_id.clone(),
                document_id: p.document_id.clone(),
                title: p.title.clone(),
                heading_path: p.heading_path.clone(),
                source_url: p.source_url.clone(),
                quote: best_quote(p, &sentences.join(" ")),
            }
        })
        .collect();
    (out, citations)
}

/// The model's answer with a `[n]` marker at the end of each sentence, naming the first
/// source that supports that sentence by itself (by [`crate::answer::grounding`] with
/// `min_support`), when the answer cites nothing: small models often leave the markers
/// out although told to cite. Unchanged when it cites a source already, or when one of its
/// sentences (with content words) no single source supports. The result is read by
/// [`citations_from`] and checked by the grounding guard like any other answer.
pub fn mark_sources(text: &str, passages: &[Passage], min_support: f64) -> String {
    if !citations_from(text, passages).1.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut cursor = 0;
    for sentence in split_sentences(text) {
        let Some(at) = text[cursor..].find(&sentence) else {
            return text.to_string();
        };
        out.push_str(&text[cursor..cursor + at]);
        cursor += at + sentence.len();
        if content_words(&sentence).is_empty() {
            out.push_str(&sentence);
            continue;
        }
        let source = passages.iter().position(|p| {
            crate::answer::grounding(&sentence, &[], std::slice::from_ref(p), min_support).supported
        });
        let Some(source) = source else {
            return text.to_string();
        };
        let body =
            sentence.trim_end_matches(['.', '!', '?', '…', ':', '"', '\'', ')', '”', '’', '»']);
        out.push_str(body);
        out.push_str(&format!(" [{}]", source + 1));
        out.push_str(&sentence[body.len()..]);
    }
    out.push_str(&text[cursor..]);
    out
}

/// The length of a `[1]`, `[1, 2]` or `[1,2]` marker at the start of `s`.
fn marker_len(s: &str) -> Option<usize> {
    let close = s.find(']')?;
    let inner = &s[1..close];
    let ok = !inner.is_empty()
        && inner.chars().any(|c| c.is_ascii_digit())
        && inner
            .chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == ' ');
    ok.then_some(close + 1)
}

/// The passage's sentence (headings and fences left out) with the most content words in
/// common with `answer`; the first sentence when none shares any.
fn best_quote(p: &Passage, answer: &str) -> String {
    let mut prose = String::new();
    let mut in_code = false;
    for line in p.text.lines() {
        let line = line.trim();
        if line.starts_with("```") || line.starts_with("~~~") {
            in_code = !in_code;
            continue;
        }
        if in_code || line.starts_with('#') {
            continue;
        }
        let line = line
            .trim_start_matches(['-', '*', '+', '>'])
            .trim_start()
            .replace("**", "")
            .replace('`', "");
        if line.is_empty() {
            prose.push('\n');
        } else {
            prose.push_str(&line);
            prose.push(' ');
        }
    }
    let wanted: Vec<String> = content_words(answer).iter().map(|w| stem(w)).collect();
    let mut best: Option<(usize, String)> = None;
    for block in prose.split('\n') {
        for sentence in split_sentences(block.trim()) {
            let mut seen: Vec<String> = Vec::new();
            for w in content_words(&sentence) {
                let s = stem(&w);
                if wanted.contains(&s) && !seen.contains(&s) {
                    seen.push(s);
                }
            }
            if best.as_ref().is_none_or(|(score, _)| seen.len() > *score) {
                best = Some((seen.len(), sentence));
            }
        }
    }
    best.map(|(_, s)| s).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::Fact;

    fn passage(id: &str, title: &str, headings: &[&str], text: &str) -> Passage {
        Passage {
            chunk_id: format!("chunk-{id}"),
            document_id: format!("doc-{id}"),
            title: title.to_string(),
            heading_path: headings.iter().map(|h| h.to_string()).collect(),
            source_url: Some(format!("https://help.example.test/{id}")),
            text: text.to_string(),
            score: 0.8,
        }
    }

    fn kb() -> Vec<Passage> {
        vec![
            passage(
                "returns",
                "Returns",
                &["Policies", "Return window"],
                "## Return window\n\nYou can return any item within 30 days of delivery. \
                 Items must be unused and in their original packaging.",
            ),
            passage(
                "shipping",
                "Shipping",
                &["Delivery times"],
                "Orders placed before 2 pm ship the same day. Delivery to Canada takes \
                 7–10 business days.",
            ),
        ]
    }

    fn memory() -> Memory {
        Memory {
            facts: vec![
                Fact {
                    kind: FactKind::Name,
                    value: "Dana".to_string(),
                },
                Fact {
                    kind: FactKind::OrderNumber,
                    value: "A-10442".to_string(),
                },
            ],
            summary: "Visitor asked about: damaged parcel.".to_string(),
        }
    }

    fn response(json: &str) -> ChatResponse {
        serde_json::from_str::<ChatResponse>(json)
            .unwrap()
            .normalize()
    }

    fn tool_call_response(name: &str, arguments: &str) -> ChatResponse {
        response(
            &json!({
                "choices": [{
                    "message": {"role": "assistant", "content": null, "tool_calls": [{
                        "id": "call_1", "type": "function",
                        "function": {"name": name, "arguments": arguments}
                    }]},
                    "finish_reason": "tool_calls"
                }]
            })
            .to_string(),
        )
    }

    fn text_response(text: &str) -> ChatResponse {
        response(
            &json!({"choices": [{"message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}]})
            .to_string(),
        )
    }

    #[test]
    fn the_prompt_numbers_the_sources_and_states_the_rules() {
        let turns = vec![
            (Author::Visitor, "Hi, my parcel arrived broken".to_string()),
            (Author::Bot, "Sorry to hear that.".to_string()),
            (Author::System, "session resumed".to_string()),
        ];
        let messages = build_messages(
            "Can I send it back?",
            &kb(),
            &memory(),
            "Visitor asked about: damaged parcel.",
            &turns,
            Some("de-AT"),
        );
        assert_eq!(messages[0].role, Role::System);
        let system = messages[0].content.as_deref().unwrap();
        for part in [
            "ONLY from the numbered sources",
            "[1]",
            "don't know",
            "Never invent numbers",
            "Reply in the visitor's language",
            "`de-AT`",
            "`escalate`",
            "[1] Returns › Policies › Return window\n## Return window\n\nYou can return",
            "[2] Shipping › Delivery times\nOrders placed before 2 pm",
            "name: Dana; order number: A-10442",
            "Earlier in this conversation:\nVisitor asked about: damaged parcel.",
        ] {
            assert!(system.contains(part), "missing {part:?} in:\n{system}");
        }
        assert!(system.find("[1] Returns").unwrap() < system.find("[2] Shipping").unwrap());
        let rest: Vec<(Role, &str)> = messages[1..]
            .iter()
            .map(|m| (m.role, m.content.as_deref().unwrap()))
            .collect();
        assert_eq!(
            rest,
            [
                (Role::User, "Hi, my parcel arrived broken"),
                (Role::Assistant, "Sorry to hear that."),
                (Role::User, "Can I send it back?"),
            ]
        );
    }

    #[test]
    fn a_prompt_without_sources_or_facts_says_so_and_names_no_locale() {
        let messages = build_messages("Hello?", &[], &Memory::default(), "", &[], None);
        let system = messages[0].content.as_deref().unwrap();
        assert!(system.contains("Sources:\n(none)"), "{system}");
        assert!(!system.contains("Known about the visitor"), "{system}");
        assert!(!system.contains("browser says"), "{system}");
        assert!(
            system.contains("Reply in the visitor's language (the language of their message).")
        );
        assert_eq!(messages.len(), 2);
    }

    #[test]
    fn long_sources_are_cut_in_the_prompt() {
        let long = passage("long", "Long", &[], &"word ".repeat(1000));
        let messages = build_messages("q", &[long], &Memory::default(), "", &[], None);
        let system = messages[0].content.as_deref().unwrap();
        assert!(system.ends_with('…'), "{system}");
        assert!(system.len() < 2500, "{}", system.len());
    }

    #[test]
    fn the_request_serializes_as_openai_expects() {
        let request = ChatRequest::with_tools("smollm2", vec![ChatMessage::user("Hi")]);
        let value = serde_json::to_value(&request).unwrap();
        assert_eq!(value["model"], "smollm2");
        assert_eq!(
            value["messages"],
            json!([{"role": "user", "content": "Hi"}])
        );
        assert_eq!(value["tool_choice"], "auto");
        assert!(value.get("stream").is_none());
        let names: Vec<&str> = value["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                assert_eq!(t["type"], "function");
                assert_eq!(t["function"]["parameters"]["type"], "object");
                t["function"]["name"].as_str().unwrap()
            })
            .collect();
        assert_eq!(names, [SEARCH_KB, ESCALATE, RECALL_MEMORY]);
        assert_eq!(
            value["tools"][0]["function"]["parameters"]["required"],
            json!(["query"])
        );
        assert_eq!(
            value["tools"][1]["function"]["parameters"]["required"],
            json!(["reason"])
        );
        let tool =
            serde_json::to_value(ChatMessage::tool("call_1", Some(SEARCH_KB), "found")).unwrap();
        assert_eq!(
            tool,
            json!({"role": "tool", "content": "found", "tool_call_id": "call_1", "name": "search_kb"})
        );
    }

    #[test]
    fn a_tool_call_response_with_null_content_and_string_arguments_parses() {
        // As llama-cpp-python's server answers with `chatml-function-calling`.
        let got = response(
            r#"{"id":"chatcmpl-1","object":"chat.completion","created":1764180000,"model":"smollm2",
            "choices":[{"index":0,"message":{"role":"assistant","content":null,
            "tool_calls":[{"id":"call__0_search_kb_cmpl-1","type":"function",
            "function":{"name":"search_kb","arguments":"{\"query\": \"refund policy\"}"}}],
            "function_call":{"name":"search_kb","arguments":"{\"query\": \"refund policy\"}"}},
            "logprobs":null,"finish_reason":"tool_calls"}],
            "usage":{"prompt_tokens":312,"completion_tokens":14,"total_tokens":326}}"#,
        );
        let message = &got.choices[0].message;
        assert_eq!(message.content, None);
        assert_eq!(
            message.tool_calls[0].function.arguments,
            r#"{"query": "refund policy"}"#
        );
        assert_eq!(
            message.tool_calls[0].request(),
            Ok(ToolRequest::SearchKb {
                query: "refund policy".to_string()
            })
        );
        assert_eq!(got.choices[0].finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(
            got.usage,
            Some(Usage {
                prompt_tokens: 312,
                completion_tokens: 14
            })
        );
    }

    #[test]
    fn odd_but_readable_responses_parse() {
        // Arguments as an object, no id, `tool_calls: null`, no usage.
        let got = response(
            r#"{"choices":[{"message":{"content":null,"tool_calls":[{"function":
            {"name":"recall_memory","arguments":{}}}]}}]}"#,
        );
        let call = &got.choices[0].message.tool_calls[0];
        assert_eq!(call.id, "call_0_0");
        assert_eq!(call.kind, "function");
        assert_eq!(call.function.arguments, "{}");
        assert_eq!(call.request(), Ok(ToolRequest::RecallMemory));
        let got = response(
            r#"{"choices":[{"message":{"role":"assistant","content":"Hi","tool_calls":null}}]}"#,
        );
        assert!(got.choices[0].message.tool_calls.is_empty());
        assert_eq!(got.usage, None);
    }

    #[test]
    fn tool_arguments_are_checked() {
        let call = |name: &str, args: &str| ToolCall {
            id: "c".to_string(),
            kind: "function".to_string(),
            function: FunctionCall {
                name: name.to_string(),
                arguments: args.to_string(),
            },
        };
        assert_eq!(
            call(SEARCH_KB, "{query: refunds}").request(),
            Err(ArgumentError::NotJson)
        );
        assert_eq!(
            call(SEARCH_KB, "\"refunds\"").request(),
            Err(ArgumentError::NotJson)
        );
        assert_eq!(
            call(SEARCH_KB, r#"{"q": "x"}"#).request(),
            Err(ArgumentError::Missing("query"))
        );
        assert_eq!(
            call(RECALL_MEMORY, "").request(),
            Ok(ToolRequest::RecallMemory)
        );
        assert_eq!(
            call("delete_account", "{}").request(),
            Err(ArgumentError::UnknownTool("delete_account".to_string()))
        );
        assert_eq!(
            call(ESCALATE, r#"{"reason": " wants a human "}"#).request(),
            Ok(ToolRequest::Escalate {
                reason: "wants a human".to_string()
            })
        );
    }

    #[test]
    fn a_stream_adds_up_to_content_and_usage() {
        let body = "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n\
                    data: {\"choices\":[{\"delta\":{\"content\":\"You can return \"}}]}\n\n\
                    : keep-alive comment\n\
                    data: {\"choices\":[{\"delta\":{\"content\":\"items within 30 days [1].\"},\"finish_reason\":null}]}\r\n\r\n\
                    data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":50,\"completion_tokens\":9}}\n\n\
                    data: [DONE]\n\n\
                    data: {\"choices\":[{\"delta\":{\"content\":\"after done\"}}]}\n";
        let got = parse_stream(body);
        assert_eq!(got.content, "You can return items within 30 days [1].");
        assert_eq!(got.finish_reason.as_deref(), Some("stop"));
        assert_eq!(got.usage.unwrap().completion_tokens, 9);
        assert!(got.done);
        assert_eq!(got.malformed_lines, 0);
        assert!(got.tool_calls.is_empty());
    }

    #[test]
    fn split_tool_call_arguments_are_joined_and_malformed_chunks_skipped() {
        let body = [
            r#"data: {"choices":[{"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"search_kb","arguments":""}}]}}]}"#,
            r#"data: {"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"que"}}]}}]}"#,
            r#"data: {"choices":[{"delta":{"tool_calls":[{"index":1,"id":"call_b","function":{"name":"recall_memory","arguments":"{}"}}]}}]}"#,
            r#"data: {"choices":[{"delta":{"content":"#,
            r#"data: {"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ry\": \"refunds\"}"}}]}}]}"#,
            r#"data: {"choices":[{"delta":{},"finish_reason":"tool_calls"}]}"#,
            "data: [DONE]",
        ]
        .join("\n\n");
        // Fed in awkward pieces: across lines and inside UTF-8 characters alike.
        let mut parser = StreamParser::new();
        for piece in body.as_bytes().chunks(7) {
            parser.push(piece);
        }
        let got = parser.finish();
        assert_eq!(got.malformed_lines, 1);
        assert!(got.done);
        assert_eq!(got.content, "");
        let calls: Vec<(&str, &str, &str)> = got
            .tool_calls
            .iter()
            .map(|c| {
                (
                    c.id.as_str(),
                    c.function.name.as_str(),
                    c.function.arguments.as_str(),
                )
            })
            .collect();
        assert_eq!(
            calls,
            [
                ("call_a", SEARCH_KB, r#"{"query": "refunds"}"#),
                ("call_b", RECALL_MEMORY, "{}"),
            ]
        );
        let response = got.into_response();
        assert_eq!(response.choices[0].message.content, None);
        let mut tool_loop = ToolLoop::new(2);
        assert!(matches!(tool_loop.next(&response), Step::CallTools(calls) if calls.len() == 2));
    }

    #[test]
    fn repeated_ids_and_names_in_tool_call_deltas_are_not_doubled() {
        // As llama-cpp-python 0.3.36 streams a tool call.
        let delta = |args: &str| {
            format!(
                "data: {}\n\n",
                json!({"choices": [{"index": 0, "finish_reason": null, "delta": {
                    "role": null, "content": null,
                    "function_call": {"name": "search_kb", "arguments": args},
                    "tool_calls": [{"index": 0, "id": "call__0_search_kb_cmpl-3f2f", "type": "function",
                                    "function": {"name": "search_kb", "arguments": args}}]}}]})
            )
        };
        let body = ["{\"", "qu", "ery", "\": \"refunds\"}"]
            .iter()
            .map(|a| delta(a))
            .collect::<String>()
            + "data: [DONE]\n\n";
        let got = parse_stream(&body);
        assert_eq!(got.tool_calls.len(), 1);
        assert_eq!(got.tool_calls[0].id, "call__0_search_kb_cmpl-3f2f");
        assert_eq!(got.tool_calls[0].function.name, SEARCH_KB);
        assert_eq!(
            got.tool_calls[0].function.arguments,
            r#"{"query": "refunds"}"#
        );
    }

    #[test]
    fn a_stream_cut_short_is_not_done_and_multibyte_text_survives_any_split() {
        let body = "data: {\"choices\":[{\"delta\":{\"content\":\"Lieferung: 7–10 Tage\"}}]}\n\ndata: {\"choi";
        for size in 1..body.len() {
            let mut parser = StreamParser::new();
            for piece in body.as_bytes().chunks(size) {
                parser.push(piece);
            }
            let got = parser.finish();
            assert_eq!(got.content, "Lieferung: 7–10 Tage", "pieces of {size}");
            assert!(!got.done);
            assert_eq!(got.malformed_lines, 1);
        }
    }

    #[test]
    fn a_stream_without_a_completion_is_told_apart() {
        // llama-cpp-python 0.3.36 refusing a streamed request with automatic tool choice:
        // 200, `text/event-stream`, and no event at all.
        let refused = parse_stream("");
        assert!(!refused.has_completion());
        assert!(!refused.done);
        // A server that says why inside the stream.
        let refused = parse_stream(
            "data: {\"error\":{\"message\":\"Automatic streaming tool choice is not supported\",\"type\":\"invalid_request_error\"}}\n\n\
             data: [DONE]\n\n",
        );
        assert!(!refused.has_completion());
        assert!(refused.done);
        assert_eq!(
            refused.error.as_deref(),
            Some("Automatic streaming tool choice is not supported")
        );
        assert_eq!(
            parse_stream("data: {\"error\":\"overloaded\"}\n")
                .error
                .as_deref(),
            Some("overloaded")
        );
        let answered = parse_stream(
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n",
        );
        assert!(answered.has_completion());
        assert_eq!(answered.error, None);
        let finished_empty =
            parse_stream("data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
        assert!(finished_empty.has_completion());
    }

    #[test]
    fn a_tool_call_then_its_result_then_a_final_answer() {
        let first = ChatRequest::with_tools(
            "m",
            build_messages("Refunds?", &kb(), &Memory::default(), "", &[], None),
        );
        let mut tool_loop = ToolLoop::new(DEFAULT_MAX_ROUNDS);
        let step = tool_loop.next(&tool_call_response(SEARCH_KB, r#"{"query":"refund"}"#));
        let Step::CallTools(calls) = step else {
            panic!("{step:?}")
        };
        assert_eq!(calls[0].id, "call_1");
        tool_loop.tool_result(&calls[0].id, &search_result(&kb()[..1], 3));
        let request = tool_loop.request(&first);
        let n = first.messages.len();
        assert_eq!(request.messages.len(), n + 2);
        assert_eq!(request.messages[n].role, Role::Assistant);
        assert_eq!(request.messages[n].tool_calls[0].function.name, SEARCH_KB);
        let call = serde_json::to_value(&request.messages[n]).unwrap();
        assert_eq!(call["content"], "", "{call}");
        let result = &request.messages[n + 1];
        assert_eq!(result.role, Role::Tool);
        assert_eq!(result.tool_call_id.as_deref(), Some("call_1"));
        assert_eq!(result.name.as_deref(), Some(SEARCH_KB));
        assert!(
            result
                .content
                .as_deref()
                .unwrap()
                .starts_with("[3] Returns")
        );
        assert_eq!(request.tool_choice, Some(json!("auto")));
        assert_eq!(
            tool_loop.next(&text_response(" Within 30 days [1]. ")),
            Step::Final("Within 30 days [1].".to_string())
        );
        assert!(matches!(
            tool_loop.next(&text_response("again")),
            Step::GiveUp(_)
        ));
    }

    #[test]
    fn invalid_arguments_are_rejected_once_then_the_answer_is_asked_for() {
        let mut tool_loop = ToolLoop::new(DEFAULT_MAX_ROUNDS);
        assert_eq!(
            tool_loop.next(&tool_call_response(SEARCH_KB, "{query: refund")),
            Step::Retry
        );
        let error = tool_loop.transcript().last().unwrap();
        assert_eq!(error.role, Role::Tool);
        assert_eq!(error.tool_call_id.as_deref(), Some("call_1"));
        let error = error.content.as_deref().unwrap();
        assert!(error.contains("valid JSON"), "{error}");
        assert!(error.contains(r#"{"query": "refund policy"}"#), "{error}");
        assert!(!tool_loop.answering());
        let n = tool_loop.transcript().len();
        assert_eq!(
            tool_loop.next(&tool_call_response(SEARCH_KB, "query=refund")),
            Step::AskForAnswer
        );
        assert!(tool_loop.answering());
        assert_eq!(
            tool_loop.transcript().len(),
            n,
            "an unanswered call is not added"
        );
        assert_eq!(
            tool_loop.next(&text_response("Within 30 days [1].")),
            Step::Final("Within 30 days [1].".to_string())
        );
    }

    #[test]
    fn a_corrected_call_after_a_rejection_is_run() {
        let mut tool_loop = ToolLoop::new(DEFAULT_MAX_ROUNDS);
        assert_eq!(
            tool_loop.next(&tool_call_response(SEARCH_KB, "{}")),
            Step::Retry
        );
        assert!(matches!(
            tool_loop.next(&tool_call_response(SEARCH_KB, r#"{"query":"refund"}"#)),
            Step::CallTools(_)
        ));
    }

    #[test]
    fn the_rounds_are_bounded_and_then_the_answer_is_asked_for() {
        let first = ChatRequest::with_tools("m", vec![ChatMessage::user("q")]);
        assert!(first.offers_tools());
        let mut tool_loop = ToolLoop::new(2);
        for query in ["refunds", "returns"] {
            assert!(!tool_loop.answering());
            let step = tool_loop.next(&tool_call_response(
                SEARCH_KB,
                &json!({ "query": query }).to_string(),
            ));
            let Step::CallTools(calls) = step else {
                panic!("{step:?}")
            };
            tool_loop.tool_result(&calls[0].id, "No passages found.");
        }
        assert_eq!(tool_loop.rounds(), 2);
        assert!(tool_loop.answering());
        let last = tool_loop.request(&first);
        assert_eq!(last.tool_choice, Some(json!("none")));
        assert!(!last.offers_tools());
        let step = tool_loop.next(&tool_call_response(RECALL_MEMORY, "{}"));
        assert!(
            matches!(&step, Step::GiveUp(why) if why.contains("2 rounds")),
            "{step:?}"
        );
    }

    #[test]
    fn a_repeated_call_is_not_run_again_and_the_answer_is_asked_for() {
        let mut tool_loop = ToolLoop::new(DEFAULT_MAX_ROUNDS);
        let step = tool_loop.next(&tool_call_response(SEARCH_KB, r#"{"query": "refunds"}"#));
        let Step::CallTools(calls) = step else {
            panic!("{step:?}")
        };
        tool_loop.tool_result(&calls[0].id, "No passages found.");
        // The same call, spaced differently.
        assert_eq!(
            tool_loop.next(&tool_call_response(SEARCH_KB, r#"{ "query":"refunds" }"#)),
            Step::AskForAnswer
        );
        assert!(tool_loop.answering());
        assert_eq!(tool_loop.rounds(), 1);
        let step = tool_loop.next(&tool_call_response(SEARCH_KB, r#"{"query": "other"}"#));
        assert!(
            matches!(&step, Step::GiveUp(why) if why.contains("none was offered")),
            "{step:?}"
        );
    }

    #[test]
    fn an_empty_answer_to_a_tool_round_asks_for_the_answer_without_tools() {
        // llama-cpp-python's `chatml-function-calling` with `tool_choice: "auto"` answers
        // `"content": ""` whenever the model picks text over a tool.
        let mut tool_loop = ToolLoop::new(DEFAULT_MAX_ROUNDS);
        assert_eq!(tool_loop.next(&text_response("")), Step::AskForAnswer);
        assert!(tool_loop.answering());
        assert_eq!(
            tool_loop.next(&text_response("Orders ship the same day [2].")),
            Step::Final("Orders ship the same day [2].".to_string())
        );
    }

    #[test]
    fn only_requests_that_let_the_model_call_a_tool_offer_tools() {
        let messages = vec![ChatMessage::user("q")];
        assert!(!ChatRequest::new("m", messages.clone()).offers_tools());
        let mut request = ChatRequest::with_tools("m", messages);
        assert!(request.offers_tools());
        request.tool_choice = Some(json!({"type": "function", "function": {"name": SEARCH_KB}}));
        assert!(request.offers_tools());
        request.tool_choice = None;
        assert!(
            request.offers_tools(),
            "tools without a choice mean \"auto\""
        );
        request.tool_choice = Some(json!("none"));
        assert!(!request.offers_tools());
    }

    #[test]
    fn escalate_ends_the_loop_even_with_bad_arguments() {
        let mut tool_loop = ToolLoop::new(DEFAULT_MAX_ROUNDS);
        assert_eq!(
            tool_loop.next(&tool_call_response(
                ESCALATE,
                r#"{"reason":"asked for a human"}"#
            )),
            Step::Escalate("asked for a human".to_string())
        );
        let mut tool_loop = ToolLoop::new(DEFAULT_MAX_ROUNDS);
        assert_eq!(
            tool_loop.next(&tool_call_response(ESCALATE, "human pls")),
            Step::Escalate(String::new())
        );
    }

    #[test]
    fn empty_or_missing_answers_to_the_answer_request_give_up() {
        for response in [text_response("  "), ChatResponse::default()] {
            let mut tool_loop = ToolLoop::new(1);
            if !response.choices.is_empty() {
                assert_eq!(tool_loop.next(&response), Step::AskForAnswer);
            }
            let step = tool_loop.next(&response);
            assert!(matches!(step, Step::GiveUp(_)), "{step:?}");
        }
    }

    #[test]
    fn recall_memory_lists_facts_and_summary() {
        let text = recall_memory(&memory());
        assert!(text.contains("name: Dana; order number: A-10442"), "{text}");
        assert!(text.contains("damaged parcel"), "{text}");
        assert_eq!(
            recall_memory(&Memory::default()),
            "Nothing is known about the visitor."
        );
    }

    #[test]
    fn markers_become_citations_numbered_by_first_use() {
        let kb = kb();
        let (text, citations) = citations_from(
            "Orders ship the same day if placed before 2 pm [2]. You can return items within \
             30 days of delivery [1][2]. See also [7]. Costs [1, 9] apply.",
            &kb,
        );
        assert_eq!(
            text,
            "Orders ship the same day if placed before 2 pm [1]. You can return items within \
             30 days of delivery [2][1]. See also. Costs [2] apply."
        );
        assert_eq!(citations.len(), 2);
        assert_eq!(citations[0].marker, 1);
        assert_eq!(citations[0].chunk_id, "chunk-shipping");
        assert_eq!(
            citations[0].quote,
            "Orders placed before 2 pm ship the same day."
        );
        assert_eq!(citations[1].marker, 2);
        assert_eq!(citations[1].chunk_id, "chunk-returns");
        assert_eq!(citations[1].heading_path, ["Policies", "Return window"]);
        assert_eq!(
            citations[1].quote,
            "You can return any item within 30 days of delivery."
        );
        let verdict =
            crate::answer::grounding(&text, &citations, &kb, crate::answer::DEFAULT_MIN_SUPPORT);
        assert!(
            !verdict.supported,
            "`Costs apply` is not in the sources: {verdict:?}"
        );
    }

    #[test]
    fn an_answer_without_markers_gets_each_sentence_its_supporting_source() {
        let kb = kb();
        let text = "Orders placed before 2 pm ship the same day. You can return any item \
                    within 30 days of delivery! Hope this helps.";
        let marked = mark_sources(text, &kb, crate::answer::DEFAULT_MIN_SUPPORT);
        assert_eq!(
            marked,
            "Orders placed before 2 pm ship the same day [2]. You can return any item \
             within 30 days of delivery [1]! Hope this helps."
        );
        let (text, citations) = citations_from(&marked, &kb);
        assert_eq!(citations.len(), 2);
        assert_eq!(citations[0].chunk_id, "chunk-shipping");
        assert!(
            crate::answer::grounding(&text, &citations, &kb, crate::answer::DEFAULT_MIN_SUPPORT)
                .supported
        );
    }

    #[test]
    fn an_answer_with_markers_or_an_unsupported_sentence_is_not_marked() {
        let kb = kb();
        let min = crate::answer::DEFAULT_MIN_SUPPORT;
        let cited = "Orders ship the same day [1]. You can return items within 30 days.";
        assert_eq!(mark_sources(cited, &kb, min), cited);
        // The second sentence is in no source: nothing is cited, so nothing is answered.
        let invented = "Orders placed before 2 pm ship the same day. Returns are free for 90 days.";
        assert_eq!(mark_sources(invented, &kb, min), invented);
        // Supported only by both sources together: no single source supports it.
        let mixed = "Items ordered before 2 pm can be returned within 30 days.";
        assert_eq!(mark_sources(mixed, &kb, min), mixed);
    }

    #[test]
    fn text_without_markers_has_no_citations_and_brackets_stay() {
        let (text, citations) = citations_from("Use [Settings] > [Account] to see it.", &kb());
        assert_eq!(text, "Use [Settings] > [Account] to see it.");
        assert!(citations.is_empty());
        let (text, citations) = citations_from("All [3] gone [0].", &kb());
        assert_eq!(text, "All gone.");
        assert!(citations.is_empty());
    }
}
