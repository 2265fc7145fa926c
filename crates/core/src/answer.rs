//! The built-in extractive responder and the grounding guard.
//!
//! Without an LLM, [`extractive_answer`] composes a reply from the retrieved passages: it
//! splits them into sentences (reading their Markdown), scores each by the question terms
//! it contains, and picks a few that together cover the question, each followed by a
//! citation marker (`[1]`). When no sentence matches well enough it returns `None` and the
//! pipeline says it does not know.
//!
//! [`grounding`] checks any answer, extractive or from an LLM, against the passages it
//! cites: every sentence must share most of its content words, and all of its numbers,
//! with its sources. An answer that fails is not sent.
//!
//! Pure and deterministic. Not here: retrieving passages (`retrieval`, `edge`), deciding to
//! escalate (`escalation`), prompting an LLM.

use std::borrow::Cow;
use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::kb::keyword_terms;

/// Sentences in an extractive answer when the caller sets no limit.
pub const DEFAULT_MAX_SENTENCES: usize = 3;
/// Passages read when the caller sets no limit (the best ones; the rest rarely help).
pub const DEFAULT_MAX_PASSAGES: usize = 5;
/// Share of a sentence's content words its sources must contain, when the caller sets none.
pub const DEFAULT_MIN_SUPPORT: f64 = 0.6;
/// Share of the question's terms (of at most 4 counted) a sentence must hold to lead an
/// answer, its passage's title and headings counting in part. Chosen on the tuning half of
/// mtrag-un (replay): 0.4 answers one more answerable question than 0.5 ("I meant what kind
/// of sources are there?") with as many unanswerable ones answered; 0.3 answered 21% of the
/// unanswerable questions against 13%. On the test half 0.4 answers 18% of them against 20%,
/// with as many answerable ones citing a right article.
const MIN_TERMS_MATCHED: f64 = 0.4;
/// Each rank down the passage list multiplies a sentence's score by this.
const RANK_DECAY: f64 = 0.85;
/// What a question term found only in a passage's title or headings counts for.
const CONTEXT_WEIGHT: f64 = 0.5;
/// What a question term found in both the sentence and its passage's title or headings adds:
/// a passage whose headings name the subject is the likelier answer.
const CONTEXT_BONUS: f64 = 0.25;

/// A retrieved passage, ranked best first by the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Passage {
    pub chunk_id: String,
    pub document_id: String,
    /// The document's title.
    pub title: String,
    /// The headings above the passage, outermost first.
    pub heading_path: Vec<String>,
    pub source_url: Option<String>,
    /// The passage's Markdown.
    pub text: String,
    /// The retrieval score (shown, not used: the order is the rank).
    pub score: f64,
}

/// How the extractive responder picks sentences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractiveConfig {
    /// Most sentences in an answer.
    pub max_sentences: usize,
    /// Most passages read, from the top of the list.
    pub max_passages: usize,
}

impl Default for ExtractiveConfig {
    fn default() -> Self {
        Self {
            max_sentences: DEFAULT_MAX_SENTENCES,
            max_passages: DEFAULT_MAX_PASSAGES,
        }
    }
}

/// Retrieval confidence below which the extractive responder does not answer (it says it
/// does not know and offers a person), unless the tenant sets `answer.min_confidence`.
/// Chosen on the tuning half of mtrag-un (`make eval --half tune`, replay) with the previous
/// visitor question in every later query (the default `retrieval.conversation_context`):
/// 0.72 is the lowest threshold that answers at most 15% of unanswerable questions (14.9%;
/// 0.70: 19%), citing a right article for 77% of answerable ones (now 13% and 78%, with
/// [`MIN_TERMS_MATCHED`] and follow-ups answered from their subject; 0.71 then: 13% and
/// 80%, but no better on the test half).
/// On the test half it answers 18% of unanswerable questions and cites a right article for
/// 68% of answerable ones. A score fitted on the same half from further signals (the
/// similarity gap between the first two passages, the share of rare question terms the best
/// passage holds, the keyword retriever's agreement) measured no better on the test half
/// (AUC 0.78 vs 0.78; `bench/answerability`). Applies only when retrieval was not degraded.
pub const DEFAULT_MIN_ANSWER_CONFIDENCE: f64 = 0.72;

/// Whether retrieval is sure enough of its sources for a responder to answer from them:
/// sentences that merely share words with an off-topic passage are not an answer. The LLM
/// responder is asked only past the same gate, unless the tenant lets it judge for itself
/// (`answer.llm_below_gate`). From the tenant's `answer` settings.
///
/// A tenant that reranks (`retrieval.rerank`) may have the reranker decide instead:
/// `answer.min_rerank_score` is the reranker's best score (0..=1) for the visitor's question
/// against the passages found that an answer needs. The question is read alone when it
/// stands alone: in a conversation the query carries the previous question's words, so the
/// passages found often answer that earlier question and score high for the joined query
/// even when the last question has no answer. A question that does not stand alone ("How
/// does it work?") is read with its context. There is no default: measured on mtrag-un it is
/// a trade, not a gain. As a gate alone (`bench/answerability/last_question.py`) 0.16, the
/// lowest score that answers at most 15% of the tuning half's unanswerable questions, gave
/// on the test half 14% unanswerable answered and a right article first for 78% of
/// answerable ones (the fused confidence: 16%, 66%). In the whole pipeline (replay,
/// reranking on) it answers fewer unanswerable questions and fewer answerable ones: test half
/// 20% -> 16% and 69% -> 67% answered citing a right article, tuning half 15% -> 11% and
/// 77% -> 71% (README, "Answer quality").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnswerGate {
    /// `answer.min_confidence` (0..=1): the fused confidence needed.
    pub min_confidence: f64,
    /// `answer.min_rerank_score` (0..=1): the reranker's score for the question needed, in
    /// its place, when the search was reranked; `None` (the default) leaves the fused
    /// confidence to decide.
    pub min_rerank_score: Option<f64>,
    /// `answer.llm_below_gate` (default false): a configured LLM is asked even when the gate
    /// is not passed, and judges answerability itself (it may search again, answer or
    /// decline). For a model trusted to judge that; below the gate a turn otherwise costs
    /// no model request (README, "Answer quality": SmolLM2-135M measured).
    pub llm_below_gate: bool,
}

impl Default for AnswerGate {
    fn default() -> Self {
        Self {
            min_confidence: DEFAULT_MIN_ANSWER_CONFIDENCE,
            min_rerank_score: None,
            llm_below_gate: false,
        }
    }
}

impl AnswerGate {
    /// Reads `{"answer": {"min_confidence": 0..=1, "min_rerank_score": 0..=1,
    /// "llm_below_gate": bool}}`; a missing or out-of-range value is the default.
    pub fn from_settings(settings_json: &str) -> AnswerGate {
        let settings: serde_json::Value =
            serde_json::from_str(settings_json).unwrap_or(serde_json::Value::Null);
        let share = |name: &str| {
            settings["answer"][name]
                .as_f64()
                .filter(|c| (0.0..=1.0).contains(c))
        };
        AnswerGate {
            min_confidence: share("min_confidence").unwrap_or(DEFAULT_MIN_ANSWER_CONFIDENCE),
            min_rerank_score: share("min_rerank_score"),
            llm_below_gate: settings["answer"]["llm_below_gate"]
                .as_bool()
                .unwrap_or(false),
        }
    }

    /// Whether to answer: always when retrieval was degraded (its confidence means little
    /// then); on the reranker's score for the question when the tenant set a threshold for
    /// it and there is one, else on the fused confidence.
    pub fn passes(
        &self,
        degraded: bool,
        confidence: f64,
        question_rerank_score: Option<f64>,
    ) -> bool {
        if degraded {
            return true;
        }
        match (question_rerank_score, self.min_rerank_score) {
            (Some(score), Some(min)) => score >= min,
            _ => confidence >= self.min_confidence,
        }
    }
}

/// A source an answer used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    /// The number in the answer's `[n]` markers, from 1 in order of first use.
    pub marker: usize,
    pub chunk_id: String,
    pub document_id: String,
    pub title: String,
    pub heading_path: Vec<String>,
    pub source_url: Option<String>,
    /// The sentences used from the passage, as they read there with Markdown markup
    /// removed, joined by spaces.
    pub quote: String,
}

/// A composed answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// Markdown: sentences, each followed by the marker of its source (`… 30 days [1].`).
    pub text: String,
    /// The passages actually used, numbered in order of first use.
    pub citations: Vec<Citation>,
}

/// The verdict of [`grounding`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grounding {
    /// Every sentence is supported, and there is at least one.
    pub supported: bool,
    /// The sentences that are not, without their markers.
    pub unsupported_sentences: Vec<String>,
}

/// Words that say nothing about the subject of a question or an answer: conversational
/// filler and the courtesies an LLM adds ("Hope this helps!").
const FILLER: &[&str] = &[
    "also",
    "anything",
    "assist",
    "certainly",
    "course",
    "else",
    "glad",
    "great",
    "happy",
    "hello",
    "help",
    "helps",
    "hey",
    "hi",
    "hope",
    "know",
    "let",
    "like",
    "long",
    "many",
    "much",
    "need",
    "ok",
    "okay",
    "question",
    "questions",
    "sure",
    "tell",
    "thank",
    "thanks",
    "want",
    "welcome",
    "yes",
];

/// A light suffix stemmer for English (`refunds`, `refunded` → `refund`; `shipping`,
/// `ships` → `ship`; `policies` → `policy`; `quickly` → `quick`), enough to match a
/// question's words with a passage's. Words with digits are left alone.
pub fn stem(word: &str) -> String {
    if !word.chars().all(char::is_alphabetic) {
        return word.to_string();
    }
    let len = word.chars().count();
    let mut s = word.to_string();
    let undouble = |s: &mut String| {
        let mut chars = s.chars().rev();
        if let (Some(a), Some(b)) = (chars.next(), chars.next())
            && a == b
            && !"aeioulsz".contains(a)
        {
            s.pop();
        }
    };
    if len > 4 && s.ends_with("ies") {
        s.truncate(s.len() - 3);
        s.push('y');
    } else if len > 5 && s.ends_with("ing") {
        s.truncate(s.len() - 3);
        undouble(&mut s);
    } else if len > 4 && s.ends_with("ed") {
        s.truncate(s.len() - 2);
        undouble(&mut s);
    } else if (len > 5 && s.ends_with("ly"))
        || (len > 4
            && ["ses", "xes", "zes", "ches", "shes"]
                .iter()
                .any(|e| s.ends_with(e)))
    {
        // `-ly`, and the `-es` of a plural whose singular ends in a hiss.
        s.truncate(s.len() - 2);
    } else if len > 3
        && s.ends_with('s')
        && !(s.ends_with("ss") || s.ends_with("us") || s.ends_with("is"))
    {
        s.pop();
    }
    if s.chars().count() > 3 && s.ends_with('e') {
        s.pop();
    }
    s
}

/// The content words of a text, in order, lowercase, unstemmed: its [`keyword_terms`]
/// without filler and single letters, not capped in number.
pub(crate) fn content_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .flat_map(keyword_terms)
        .filter(|w| {
            !FILLER.contains(&w.as_str())
                && (w.chars().count() > 1 || w.chars().all(|c| c.is_ascii_digit()))
        })
        .collect()
}

fn is_number(word: &str) -> bool {
    word.chars().all(|c| c.is_ascii_digit())
}

/// The distinct stems of a text's content words.
pub(crate) fn stems(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in content_words(text) {
        let s = stem(&word);
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// The distinct stems of a question's terms ([`keyword_terms`], so at most 32), numbers
/// included.
pub(crate) fn question_stems(question: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for term in keyword_terms(question) {
        if FILLER.contains(&term.as_str()) || (term.chars().count() < 2 && !is_number(&term)) {
            continue;
        }
        let s = stem(&term);
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// A sentence of a passage, ready to quote.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sentence {
    /// Markdown markup removed.
    text: String,
    /// The list (numbered in the passage) the sentence is an item of.
    list: Option<usize>,
    /// A table row (`Header: cell; Header: cell`): complete without end punctuation.
    row: bool,
    /// The last sentence of its paragraph, list item or row.
    block_end: bool,
}

/// The quotable sentences of a Markdown passage, in reading order. Headings (ATX, setext and
/// lines that are bold and nothing else), rules, code blocks and table separators are not
/// sentences; list items, quotes and paragraphs are split into sentences; a table row reads
/// `Header: cell; Header: cell`.
fn sentences(markdown: &str) -> Vec<Sentence> {
    let mut blocks: Vec<(String, Option<usize>, bool)> = Vec::new();
    let mut para = String::new();
    let mut para_list: Option<usize> = None;
    let mut para_lines = 0;
    let mut lists = 0;
    let mut in_list = false;
    let mut in_code = false;
    let mut header: Option<Vec<String>> = None;
    let mut last_row: Option<Vec<String>> = None;

    let flush = |para: &mut String,
                 list: Option<usize>,
                 blocks: &mut Vec<(String, Option<usize>, bool)>| {
        if !para.trim().is_empty() {
            blocks.push((std::mem::take(para), list, false));
        }
        para.clear();
    };

    for raw in markdown.lines() {
        let line = raw.trim();
        if line.starts_with("```") || line.starts_with("~~~") {
            flush(&mut para, para_list, &mut blocks);
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        if line.is_empty() {
            flush(&mut para, para_list, &mut blocks);
            continue;
        }
        let is_table_row = line.starts_with('|');
        if !is_table_row {
            header = None;
            last_row = None;
        }
        if is_table_row {
            flush(&mut para, para_list, &mut blocks);
            in_list = false;
            let cells: Vec<String> = line
                .trim_matches('|')
                .split('|')
                .map(|c| clean_inline(c.trim()))
                .collect();
            let separator = line
                .chars()
                .all(|c| matches!(c, '|' | '-' | ':' | ' ' | '\t'));
            if separator {
                if let Some(row) = last_row.take() {
                    // The row above a separator is the header, not content.
                    blocks.pop();
                    header = Some(row);
                }
                continue;
            }
            let text = cells
                .iter()
                .enumerate()
                .filter(|(_, c)| !c.is_empty())
                .map(|(i, c)| match header.as_ref().and_then(|h| h.get(i)) {
                    Some(h) if !h.is_empty() => format!("{h}: {c}"),
                    _ => c.clone(),
                })
                .collect::<Vec<_>>()
                .join("; ");
            if !text.is_empty() {
                blocks.push((text, None, true));
            }
            last_row = Some(cells);
            continue;
        }
        let rule = line.len() >= 3
            && (line.chars().all(|c| c == '=' || c == ' ')
                || line.chars().all(|c| c == '-' || c == ' ')
                || line.chars().all(|c| c == '*' || c == ' ')
                || line.chars().all(|c| c == '_' || c == ' '));
        if rule {
            if line.starts_with(['=', '-']) && para_lines == 1 {
                para.clear(); // a setext heading
            }
            flush(&mut para, para_list, &mut blocks);
            in_list = false;
            continue;
        }
        if line.starts_with('#') {
            flush(&mut para, para_list, &mut blocks);
            in_list = false;
            continue;
        }
        let line = line.trim_start_matches('>').trim_start();
        let bold_only = (line.starts_with("**") && line.ends_with("**") && line.len() > 4)
            || (line.starts_with("__") && line.ends_with("__") && line.len() > 4);
        if bold_only && !line[2..line.len() - 2].contains("**") {
            flush(&mut para, para_list, &mut blocks);
            continue;
        }
        if let Some(item) = list_item(line) {
            flush(&mut para, para_list, &mut blocks);
            if !in_list {
                lists += 1;
                in_list = true;
            }
            para_list = Some(lists);
            para.push_str(item);
            para_lines = 1;
            continue;
        }
        if para.is_empty() {
            para_list = if raw.starts_with([' ', '\t']) && in_list {
                Some(lists)
            } else {
                in_list = false;
                None
            };
            para_lines = 0;
        } else {
            para.push(' ');
        }
        para.push_str(line);
        para_lines += 1;
    }
    flush(&mut para, para_list, &mut blocks);

    let mut out = Vec::new();
    for (block, list, row) in blocks {
        let parts: Vec<String> = split_sentences(&clean_inline(&block))
            .into_iter()
            .filter(|s| s.chars().any(char::is_alphanumeric))
            .collect();
        let last = parts.len().saturating_sub(1);
        for (i, sentence) in parts.into_iter().enumerate() {
            out.push(Sentence {
                text: sentence,
                list,
                row,
                block_end: i == last,
            });
        }
    }
    out
}

/// The text of a list item line (`- x`, `* x`, `+ x`, `1. x`, `1) x`), or `None`.
fn list_item(line: &str) -> Option<&str> {
    for bullet in ["- ", "* ", "+ "] {
        if let Some(rest) = line.strip_prefix(bullet) {
            let rest = rest.trim_start();
            // Task list boxes are markup too.
            let rest = ["[ ] ", "[x] ", "[X] "]
                .iter()
                .find_map(|b| rest.strip_prefix(b))
                .unwrap_or(rest);
            return Some(rest);
        }
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if (1..=3).contains(&digits) {
        let rest = &line[digits..];
        for marker in [". ", ") "] {
            if let Some(rest) = rest.strip_prefix(marker) {
                return Some(rest.trim_start());
            }
        }
    }
    None
}

/// Inline Markdown reduced to its text: links and images to their text, emphasis, code
/// and strike-through markers and HTML tags dropped, whitespace collapsed.
fn clean_inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        // `[text](url)` and `![alt](url)` → text; `[text][ref]` → text.
        if c == '[' || (c == '!' && rest[1..].starts_with('[')) {
            let open = if c == '!' { 1 } else { 0 };
            if let Some(close) = rest[open..].find(']').map(|i| i + open) {
                let label = &rest[open + 1..close];
                let after = &rest[close + 1..];
                let target_end = if after.starts_with('(') {
                    after.find(')')
                } else if after.starts_with('[') {
                    after.find(']')
                } else {
                    None
                };
                let marker_like = label
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == ',' || c == ' ');
                if let Some(end) = target_end
                    && !label.contains('[')
                    && !marker_like
                {
                    out.push_str(label);
                    rest = &after[end + 1..];
                    continue;
                }
            }
        }
        if c == '<'
            && let Some(end) = rest.find('>')
        {
            let inner = &rest[1..end];
            let tag = inner
                .trim_start_matches('/')
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic());
            if inner.starts_with("http://") || inner.starts_with("https://") {
                out.push_str(inner);
                rest = &rest[end + 1..];
                continue;
            }
            if tag {
                out.push(' ');
                rest = &rest[end + 1..];
                continue;
            }
        }
        // A backslash escape (`1\.`, `\*`) is the character it escapes.
        if c == '\\'
            && let Some(escaped) = rest[1..].chars().next().filter(char::is_ascii_punctuation)
        {
            out.push(escaped);
            rest = &rest[1 + escaped.len_utf8()..];
            continue;
        }
        let next_is_word = rest[c.len_utf8()..]
            .chars()
            .next()
            .is_some_and(char::is_alphanumeric);
        let prev_is_word = out.chars().next_back().is_some_and(char::is_alphanumeric);
        let markup = match c {
            '*' | '`' => true,
            '~' => rest.starts_with("~~"),
            '_' => !(prev_is_word && next_is_word),
            _ => false,
        };
        if !markup {
            out.push(c);
        } else if next_is_word && out.ends_with([':', '.', '!', '?', ';', ',', ')']) {
            // `**Important:**Wix` renders with the colon bold and no space; read as text it
            // must not become one word.
            out.push(' ');
        }
        rest = &rest[c.len_utf8()..];
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Words before a full stop that do not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "e.g", "i.e", "etc", "mr", "mrs", "ms", "dr", "st", "vs", "approx", "incl", "no", "nr", "z.b",
    "ca", "bzw", "p", "pp", "fig",
];

/// Where the citation markers (`[1]`, `[1, 2]`, `[1][2]`) at the start of `text` end, with
/// the whitespace between them.
fn leading_markers(text: &str) -> usize {
    let mut end = 0;
    loop {
        let rest = &text[end..];
        let trimmed = rest.trim_start();
        let Some(inner) = trimmed.strip_prefix('[') else {
            break;
        };
        let Some(close) = inner.find(']') else { break };
        let body = &inner[..close];
        let is_marker = !body.is_empty()
            && body
                .chars()
                .all(|c| c.is_ascii_digit() || c == ',' || c == ' ')
            && body.chars().any(|c| c.is_ascii_digit());
        if !is_marker {
            break;
        }
        end += rest.len() - trimmed.len() + 1 + close + 1;
    }
    end
}

/// Splits text into sentences after `.`, `!` or `?` (and any closing quotes, brackets or
/// citation markers) followed by whitespace and a capital, digit, quote or the end;
/// abbreviations and initials do not end a sentence.
pub(crate) fn split_sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < text.len() {
        let c = text[i..].chars().next().unwrap_or(' ');
        i += c.len_utf8();
        if !matches!(c, '.' | '!' | '?' | '…') {
            continue;
        }
        let mut end = i;
        while let Some(q) = text[end..].chars().next()
            && matches!(q, '.' | '!' | '?' | '"' | '\'' | ')' | '”' | '’' | '»')
        {
            end += q.len_utf8();
        }
        end += leading_markers(&text[end..]);
        let rest = &text[end..];
        let after_space = rest.trim_start();
        let next = after_space.chars().next();
        let spaced = after_space.len() < rest.len();
        let starts_sentence = next.is_none_or(|n| {
            spaced && (n.is_uppercase() || n.is_ascii_digit() || "\"'“«¿¡([".contains(n))
        });
        if !starts_sentence {
            continue;
        }
        if c == '.' {
            let word = text[start..i - 1]
                .rsplit(char::is_whitespace)
                .next()
                .unwrap_or("")
                .trim_start_matches(['(', '"', '\''])
                .to_lowercase();
            let initial = word.chars().count() == 1 && word.chars().all(char::is_alphabetic);
            if initial || ABBREVIATIONS.contains(&word.as_str()) {
                continue;
            }
        }
        let sentence = text[start..end].trim();
        if !sentence.is_empty() {
            out.push(sentence.to_string());
        }
        start = end;
        i = end;
    }
    let tail = text[start..].trim();
    if !tail.is_empty() {
        out.push(tail.to_string());
    }
    out
}

/// One sentence considered for an answer.
struct Candidate {
    /// Rank of its passage, from 0.
    passage: usize,
    /// Position among the passage's sentences.
    index: usize,
    sentence: Sentence,
    /// Indices of the question stems the sentence contains.
    matched: Vec<usize>,
    /// Its score alone: see [`extractive_answer`].
    score: f64,
    /// Whether it matches enough of the question to answer on its own.
    qualifies: bool,
}

/// Composes an answer from the best-matching sentences of the passages, or `None` when no
/// sentence matches the question well enough (the pipeline then says it does not know).
///
/// The question's terms are its [`keyword_terms`] without filler ("how long", "I need"),
/// stemmed by [`stem`]. A sentence's weight is the number of question terms it contains,
/// plus 0.5 for each further term found only in its passage's title or headings and 0.25 for
/// each contained term the title or headings name too; its score is that weight over the
/// number of question terms, times 0.85 per rank of its passage. A sentence qualifies when
/// it contains at least one term and its weight reaches half of the question's term count
/// (counted up to 4). The best-scoring qualifying sentence leads;
/// then, up to `max_sentences`, the sentence adding the most question terms not yet covered
/// (one from the leading passage needs only to add one; one from elsewhere must qualify),
/// or else the next sentence after the lead in its passage when it shares a term with the
/// question or continues the same list. Sentences appear grouped by passage, the lead's
/// passage first and then by rank, in reading order, each followed by its passage's marker.
pub fn extractive_answer(
    question: &str,
    passages: &[Passage],
    config: &ExtractiveConfig,
) -> Option<Answer> {
    let question = question_stems(question);
    if question.is_empty() || config.max_sentences == 0 {
        return None;
    }
    let needed = MIN_TERMS_MATCHED * question.len().min(4) as f64;

    let mut candidates: Vec<Candidate> = Vec::new();
    for (rank, passage) in passages.iter().take(config.max_passages).enumerate() {
        let weight = RANK_DECAY.powi(rank as i32);
        let context_text = format!("{} {}", passage.title, passage.heading_path.join(" "));
        let context = stems(&context_text);
        for (index, sentence) in sentences(&passage.text).into_iter().enumerate() {
            if !quotable(&sentence, index) {
                continue;
            }
            let own = stems(&sentence.text);
            let matched: Vec<usize> = (0..question.len())
                .filter(|&q| own.contains(&question[q]))
                .collect();
            let in_context = |q: &usize| context.contains(&question[*q]);
            let context_only = (0..question.len())
                .filter(|q| !matched.contains(q) && in_context(q))
                .count();
            let context_too = matched.iter().filter(|q| in_context(q)).count();
            let total = matched.len() as f64
                + CONTEXT_WEIGHT * context_only as f64
                + CONTEXT_BONUS * context_too as f64;
            candidates.push(Candidate {
                passage: rank,
                index,
                sentence,
                qualifies: !matched.is_empty() && total >= needed,
                score: total / question.len() as f64 * weight,
                matched,
            });
        }
    }

    let lead = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.qualifies)
        .max_by(|(_, a), (_, b)| {
            a.score
                .total_cmp(&b.score)
                .then_with(|| b.passage.cmp(&a.passage))
                .then_with(|| b.index.cmp(&a.index))
        })
        .map(|(i, _)| i)?;

    let lead_vocabulary = {
        let p = &passages[candidates[lead].passage];
        stems(&format!(
            "{} {} {}",
            p.title,
            p.heading_path.join(" "),
            p.text
        ))
    };
    let mut chosen = vec![lead];
    let mut covered: Vec<usize> = candidates[lead].matched.clone();
    let mut chain_end = lead; // the last of the lead's run of consecutive sentences
    while chosen.len() < config.max_sentences {
        let lead_c = &candidates[lead];
        let lead_passage = &passages[lead_c.passage];
        let mut best: Option<(usize, f64)> = None;
        for (i, c) in candidates.iter().enumerate() {
            if chosen.contains(&i) || (c.matched.is_empty() && c.sentence.list.is_none()) {
                continue;
            }
            let new = c.matched.iter().filter(|q| !covered.contains(q)).count();
            let same_passage = c.passage == lead_c.passage;
            let continues = same_passage
                && c.index == candidates[chain_end].index + 1
                && (!c.matched.is_empty()
                    || c.sentence.list.is_some() && c.sentence.list == lead_c.sentence.list);
            // Another source only for a fact the leading passage lacks altogether: an answer
            // read from one article does not borrow a neighbour's sentence on the same words.
            let lacking = c
                .matched
                .iter()
                .filter(|q| !covered.contains(q) && !lead_vocabulary.contains(&question[**q]))
                .count();
            let same_document = passages[c.passage].document_id == lead_passage.document_id;
            let adds = if same_passage {
                new > 0
            } else {
                c.qualifies && (lacking > 0 || (same_document && new > 0))
            };
            if !(adds || continues) {
                continue;
            }
            // New terms count most, then staying in the lead's passage, then more terms.
            let gain = if adds {
                new as f64 * RANK_DECAY.powi(c.passage as i32)
                    + if same_passage { 0.3 } else { 0.0 }
                    + 0.1 * c.matched.len() as f64
            } else {
                0.5
            };
            if best.is_none_or(|(_, g)| gain > g) {
                best = Some((i, gain));
            }
        }
        let Some((next, _)) = best else { break };
        if candidates[next].passage == lead_c.passage
            && candidates[next].index == candidates[chain_end].index + 1
        {
            chain_end = next;
        }
        for q in &candidates[next].matched {
            if !covered.contains(q) {
                covered.push(*q);
            }
        }
        chosen.push(next);
    }

    let lead_passage = candidates[lead].passage;
    chosen.sort_by_key(|&i| {
        let c = &candidates[i];
        (c.passage != lead_passage, c.passage, c.index)
    });
    let mut text = String::new();
    let mut citations: Vec<Citation> = Vec::new();
    for i in chosen {
        let c = &candidates[i];
        let passage = &passages[c.passage];
        let marker = match citations
            .iter_mut()
            .find(|x| x.chunk_id == passage.chunk_id)
        {
            Some(citation) => {
                citation.quote.push(' ');
                citation.quote.push_str(&c.sentence.text);
                citation.marker
            }
            None => {
                let marker = citations.len() + 1;
                citations.push(Citation {
                    marker,
                    chunk_id: passage.chunk_id.clone(),
                    document_id: passage.document_id.clone(),
                    title: passage.title.clone(),
                    heading_path: passage.heading_path.clone(),
                    source_url: passage.source_url.clone(),
                    quote: c.sentence.text.clone(),
                });
                marker
            }
        };
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&with_marker(&c.sentence.text, marker));
    }
    Some(Answer { text, citations })
}

/// The passages that speak of the conversation's subject, when the visitor's message points
/// back to it ("Was he a communist?", [`crate::memory::refers_back`]): the words `query` (the
/// retrieval query built with the conversation's context) adds to `message`, of which a passage
/// must hold at least one in its title, headings or text. A sentence that shares the message's
/// words but comes from a passage about something else ("the communist Eastern Bloc" in an
/// article on the Berlin Wall) does not answer it. All the passages when the message names its
/// own subject or the query adds nothing.
pub fn about_subject<'a>(
    message: &str,
    query: &str,
    passages: &'a [Passage],
) -> Cow<'a, [Passage]> {
    if !crate::memory::refers_back(message) {
        return Cow::Borrowed(passages);
    }
    let own = stems(message);
    let subject: Vec<String> = stems(query)
        .into_iter()
        .filter(|s| !own.contains(s))
        .collect();
    if subject.is_empty() {
        return Cow::Borrowed(passages);
    }
    Cow::Owned(
        passages
            .iter()
            .filter(|p| {
                let vocabulary = Vocabulary::of_passage(p);
                subject.iter().any(|s| vocabulary.words.contains(s))
            })
            .cloned()
            .collect(),
    )
}

/// The words of `question` written as names, in order: capitalized where a sentence does not
/// begin ("Can I pay with Bitcoin?", "a Writ of Execution"), or with a capital inside
/// ("MontanaVA", "iPhone"); four letters or more, no digits. These are the things a
/// knowledge base can lack; a visitor's other words ("I wish …", "oops", "summarize",
/// "devastating") are how they talk, and a question typed in capitals names nothing.
fn named_words(question: &str) -> Vec<&str> {
    if !question.chars().any(char::is_lowercase) {
        return Vec::new();
    }
    let mut names = Vec::new();
    let mut sentence_start = true;
    let mut rest = question;
    while let Some(start) = rest.find(char::is_alphanumeric) {
        let before = &rest[..start];
        if before.contains(['.', '!', '?', ':', '\n']) {
            sentence_start = true;
        }
        let len = rest[start..]
            .find(|c: char| !c.is_alphanumeric())
            .unwrap_or(rest.len() - start);
        let word = &rest[start..start + len];
        let mut chars = word.chars();
        let first_upper = chars.next().is_some_and(char::is_uppercase);
        let inner_upper = chars.any(char::is_uppercase);
        let is_name = (first_upper && !sentence_start) || inner_upper;
        if is_name && word.chars().count() >= 4 && word.chars().all(char::is_alphabetic) {
            names.push(word);
        }
        sentence_start = false;
        rest = &rest[start + len..];
    }
    names
}

/// The names in `question` ([`named_words`]) that none of `passages` mentions (in its
/// title, headings or text), as the visitor wrote them, in order: what an answer from those
/// passages leaves out ("Do you accept Bitcoin?" over passages on cards and PayPal:
/// `["Bitcoin"]`).
pub fn uncovered_terms(question: &str, passages: &[Passage]) -> Vec<String> {
    let vocabularies: Vec<Vocabulary> = passages.iter().map(Vocabulary::of_passage).collect();
    let mut missing: Vec<String> = Vec::new();
    for word in named_words(question) {
        let Some(term) = content_words(word).into_iter().next() else {
            continue;
        };
        let held = vocabularies.iter().any(|v| v.words.contains(&stem(&term)));
        if held || missing.iter().any(|m| m.to_lowercase() == term) {
            continue;
        }
        missing.push(word.to_string());
    }
    missing
}

/// Most unknown words an answer names; a question with more is not partly covered but
/// about something else, which the confidence gate is for.
pub const MAX_UNKNOWN_NAMED: usize = 2;

/// What an answer to `question` should say it could not find, of `unknown` (its words that
/// the knowledge base never mentions: [`uncovered_terms`] that no other passage holds
/// either): all of them when at least one other question term is left to answer and there
/// are at most [`MAX_UNKNOWN_NAMED`]; otherwise nothing.
pub fn partly_covered(question: &str, unknown: &[String]) -> Vec<String> {
    let terms = question_stems(question).len();
    if unknown.len() <= MAX_UNKNOWN_NAMED && unknown.len() < terms {
        unknown.to_vec()
    } else {
        Vec::new()
    }
}

/// Whether a sentence can be quoted as it stands. A passage is a window of its document, so
/// its first sentence may begin mid-sentence (a lowercase start, or the end of a word or a
/// quote: "'s", "''") and its last may stop
/// mid-sentence: quoting either would cut a sentence, a word or a quote. A paragraph that
/// ends without closing punctuation (outside a list or table) is a page title, a heading
/// without markup or navigation ("Science | Mission"), or the cut end of the passage: none
/// of them answers; nor does a question.
fn quotable(sentence: &Sentence, index: usize) -> bool {
    let text = sentence.text.trim();
    // No sentence begins with the end of a word or of a quote ("'s Explorer Post 811 …",
    // "'' For Sherpas …", ", and then …"): the passage's window cut it.
    let cut_start = text.starts_with([
        '\'', '\u{2019}', '\u{201d}', ',', ';', ':', '.', '!', '?', ')', ']', '}',
    ]);
    let starts_mid =
        cut_start || (index == 0 && text.chars().next().is_some_and(char::is_lowercase));
    let closed = text.ends_with([
        '.', '!', '?', ':', ';', ')', '"', '\'', '\u{201d}', '\u{2019}', '\u{bb}', '\u{2026}',
    ]);
    let ends_mid = sentence.block_end && sentence.list.is_none() && !sentence.row && !closed;
    // An FAQ's question restated is no answer, however well it matches.
    let question = text.ends_with('?');
    !(starts_mid || ends_mid || question)
}

/// `sentence [n].` for a sentence ending in a full stop (or none, or a colon);
/// `sentence? [n]` for one ending in `?` or `!`.
fn with_marker(sentence: &str, marker: usize) -> String {
    let trimmed = sentence.trim_end_matches(['.', ':', ';', ',']);
    if trimmed.ends_with(['?', '!']) {
        format!("{trimmed} [{marker}]")
    } else {
        format!("{trimmed} [{marker}].")
    }
}

/// The marker numbers in a sentence and the sentence without them.
pub(crate) fn take_markers(sentence: &str) -> (Vec<usize>, String) {
    let mut markers = Vec::new();
    let mut text = String::with_capacity(sentence.len());
    let mut rest = sentence;
    while let Some(open) = rest.find('[') {
        let len = leading_markers(&rest[open..]);
        if len == 0 {
            text.push_str(&rest[..=open]);
            rest = &rest[open + 1..];
            continue;
        }
        text.push_str(rest[..open].trim_end());
        for n in rest[open..open + len].split(|c: char| !c.is_ascii_digit()) {
            if let Ok(n) = n.parse::<usize>() {
                markers.push(n);
            }
        }
        rest = &rest[open + len..];
    }
    text.push_str(rest);
    (markers, text.trim().to_string())
}

/// The stems and numbers of a source.
struct Vocabulary {
    words: HashSet<String>,
}

impl Vocabulary {
    fn of(texts: &[&str]) -> Vocabulary {
        let mut words = HashSet::new();
        for text in texts {
            for word in content_words(text) {
                words.insert(stem(&word));
            }
        }
        Vocabulary { words }
    }

    fn of_passage(p: &Passage) -> Vocabulary {
        let mut texts = vec![p.text.as_str(), p.title.as_str()];
        texts.extend(p.heading_path.iter().map(String::as_str));
        Vocabulary::of(&texts)
    }
}

/// Checks that every sentence of an answer is supported by the passages it cites.
///
/// The answer is read as Markdown (headings are not checked). Each sentence's `[n]` markers
/// name citations; a citation's passage is found by chunk id among `passages` (its quote,
/// title and headings stand in when the passage is absent). A sentence is supported when
/// - every number in it appears in its sources, and
/// - at least `min_support` of its content words (stemmed, without stopwords and
///   courtesies) appear in its sources, or it has none.
///
/// A sentence without markers is checked against all passages and citations together; a
/// sentence whose markers name no citation is unsupported.
pub fn grounding(
    answer_text: &str,
    citations: &[Citation],
    passages: &[Passage],
    min_support: f64,
) -> Grounding {
    let passage_vocab: Vec<Vocabulary> = passages.iter().map(Vocabulary::of_passage).collect();
    // Each citation's source: the index of its passage, or the vocabulary of its own fields.
    let citation_sources: Vec<Result<usize, Vocabulary>> = citations
        .iter()
        .map(|c| {
            passages
                .iter()
                .position(|p| p.chunk_id == c.chunk_id)
                .ok_or_else(|| {
                    let mut texts = vec![c.quote.as_str(), c.title.as_str()];
                    texts.extend(c.heading_path.iter().map(String::as_str));
                    Vocabulary::of(&texts)
                })
        })
        .collect();

    let mut checked = 0;
    let mut unsupported = Vec::new();
    for sentence in sentences(answer_text) {
        let (markers, text) = take_markers(&sentence.text);
        let words = content_words(&text);
        if words.is_empty() && text.chars().all(|c| !c.is_alphanumeric()) {
            continue;
        }
        checked += 1;
        let sources: Vec<&Vocabulary> = if markers.is_empty() {
            passage_vocab
                .iter()
                .chain(citation_sources.iter().filter_map(|s| s.as_ref().err()))
                .collect()
        } else {
            citations
                .iter()
                .zip(&citation_sources)
                .filter(|(c, _)| markers.contains(&c.marker))
                .map(|(_, s)| match s {
                    Ok(p) => &passage_vocab[*p],
                    Err(v) => v,
                })
                .collect()
        };
        let known = |w: &String| sources.iter().any(|v| v.words.contains(w));
        let stems: Vec<String> = words.iter().map(|w| stem(w)).collect();
        let (numbers, terms): (Vec<&String>, Vec<&String>) =
            stems.iter().partition(|w| is_number(w));
        let numbers_ok = numbers.iter().all(|n| known(n));
        let supported_terms = terms.iter().filter(|t| known(t)).count();
        let terms_ok =
            terms.is_empty() || supported_terms as f64 >= min_support * terms.len() as f64;
        if sources.is_empty() || !numbers_ok || !terms_ok {
            unsupported.push(text);
        }
    }
    Grounding {
        supported: checked > 0 && unsupported.is_empty(),
        unsupported_sentences: unsupported,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(id: &str, title: &str, headings: &[&str], text: &str) -> Passage {
        Passage {
            chunk_id: format!("chunk-{id}"),
            document_id: format!("doc-{id}"),
            title: title.to_string(),
            heading_path: headings.iter().map(|h| h.to_string()).collect(),
            source_url: Some(format!("https://help.example.test/{id}")),
            text: text.to_string(),
            score: 0.5,
        }
    }

    fn refunds() -> Passage {
        passage(
            "refunds",
            "Refund policy",
            &["Billing", "Refunds"],
            "## Refunds\n\n\
             You can return any item within **30 days** of delivery for a full refund. \
             Refunds are issued to the original payment method within 5 business days after \
             we receive the return. Sale items are final and cannot be refunded.\n\n\
             - Gift cards are non-refundable.\n\
             - Shipping costs are refunded only if the item arrived damaged. See \
             [our returns page](https://help.example.test/returns) for the return form.\n",
        )
    }

    #[test]
    fn a_question_partly_covered_names_the_words_no_passage_mentions() {
        let payments = passage(
            "payments",
            "Payment methods",
            &["Billing"],
            "We accept Visa, Mastercard and PayPal. Cards are charged when the order ships.",
        );
        let passages = [payments, shipping()];
        // As the visitor wrote it; a word found in any passage (stemmed) is covered.
        assert_eq!(
            uncovered_terms("Do you accept Bitcoin or PayPal payments?", &passages),
            ["Bitcoin"]
        );
        let named = |q: &str, unknown: &[&str]| {
            partly_covered(
                q,
                &unknown.iter().map(|u| u.to_string()).collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            named("Do you accept Bitcoin or PayPal?", &["Bitcoin"]),
            ["Bitcoin"]
        );
        // Words that are no names are never named.
        assert!(
            uncovered_terms(
                "Is it possible to pay by card in a different way?",
                &passages
            )
            .is_empty()
        );
        // Only names count: capitalized where no sentence begins, or with a capital inside.
        assert_eq!(
            uncovered_terms(
                "Oops, I meant: I wish you took Bitcoin or lactating MontanaVA cards?",
                &passages
            ),
            ["Bitcoin", "MontanaVA"]
        );
        assert!(uncovered_terms("Bitcoin? Litecoin. Monero: yes?", &passages).is_empty());
        assert!(uncovered_terms("DO YOU TAKE MONERO", &passages).is_empty());
        // Nothing else asked, or more than two words unknown: not partly covered.
        assert!(named("Bitcoin?", &["Bitcoin"]).is_empty());
        assert!(
            named(
                "Accept Bitcoin, Litecoin or Monero?",
                &["Bitcoin", "Litecoin", "Monero"]
            )
            .is_empty()
        );
        assert!(named("Which cards do you accept?", &[]).is_empty());
    }

    fn shipping() -> Passage {
        passage(
            "shipping",
            "Shipping",
            &["Shipping", "Delivery times"],
            "| Destination | Delivery time |\n\
             |---|---|\n\
             | Germany | 1–2 business days |\n\
             | Rest of the EU | 3–5 business days |\n\
             | Canada | 7–10 business days |\n\n\
             Orders placed before 2 pm ship the same day. We ship with DHL and UPS; tracking \
             numbers are emailed once the parcel leaves our warehouse.\n",
        )
    }

    fn password() -> Passage {
        passage(
            "password",
            "Account help",
            &["Account", "Password reset"],
            "### Resetting your password\n\n\
             1. Open the *Sign in* page and click **Forgot password?**.\n\
             2. Enter the email address of your account.\n\
             3. Follow the link in the email within 24 hours.\n\n\
             If the email does not arrive, check your spam folder. For security reasons, \
             support agents never ask for your password.\n",
        )
    }

    fn kb() -> Vec<Passage> {
        vec![refunds(), shipping(), password()]
    }

    fn answer(question: &str, passages: &[Passage]) -> Option<Answer> {
        extractive_answer(question, passages, &ExtractiveConfig::default())
    }

    #[test]
    fn odd_markdown_never_panics() {
        let long = "[x](".repeat(2000);
        let inputs = [
            "",
            "[",
            "![",
            "[](",
            "<",
            "<>",
            "#",
            "|",
            "|-|",
            "1.",
            "* ",
            "**",
            "```",
            "…",
            "[1",
            "[1]",
            ". . .",
            "?!?!",
            "a.[",
            "İstanbul. Ünï.",
            "x_ _y",
            &long,
        ];
        for text in inputs {
            let passages = [passage("p", text, &[text], text)];
            let _ = sentences(text);
            let _ = extractive_answer(text, &passages, &ExtractiveConfig::default());
            let _ = grounding(text, &[], &passages, DEFAULT_MIN_SUPPORT);
            let _ = take_markers(text);
        }
    }

    #[test]
    fn the_stemmer_folds_common_suffixes() {
        let cases = [
            ("refunds", "refund"),
            ("refunded", "refund"),
            ("refunding", "refund"),
            ("shipping", "ship"),
            ("shipped", "ship"),
            ("ships", "ship"),
            ("policies", "policy"),
            ("quickly", "quick"),
            ("takes", "tak"),
            ("taking", "tak"),
            ("charges", "charg"),
            ("charged", "charg"),
            ("boxes", "box"),
            ("address", "address"),
            ("status", "status"),
            ("2024", "2024"),
            ("days", "day"),
        ];
        for (word, expected) in cases {
            assert_eq!(stem(word), expected, "{word}");
        }
    }

    #[test]
    fn markdown_is_read_as_sentences() {
        let text = "# Title\n\nIntro line one\ncontinues here. Second sentence, e.g. this one! \
                    Third?\n\n**Bold heading**\n\n- Item *one* with [a link](https://x.test)\n\
                    - Item two\n\n| Plan | Price |\n|:--|--:|\n| Basic | 5 EUR |\n\n```\ncode. Not a \
                    sentence.\n```\n\nSetext heading\n---\n\n> Quoted `text` here.\n";
        let got: Vec<(String, Option<usize>)> = sentences(text)
            .into_iter()
            .map(|s| (s.text, s.list))
            .collect();
        let want = [
            ("Intro line one continues here.", None),
            ("Second sentence, e.g. this one!", None),
            ("Third?", None),
            ("Item one with a link", Some(1)),
            ("Item two", Some(1)),
            ("Plan: Basic; Price: 5 EUR", None),
            ("Quoted text here.", None),
        ];
        let want: Vec<(String, Option<usize>)> =
            want.iter().map(|(t, l)| (t.to_string(), *l)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn markdown_elements_keep_their_words_apart() {
        let text = "## Before you start\nComplete the checklist\n- Item one\n- Item two\n\
                    In addition, you need a **verified** account.\n\n**Important:**Wix \
                    Payments is not available everywhere.\n\n| Plan | Price |\n|---|---|\n\
                    | Basic | `$5` |\n\nRun `npm install`, then *start*.\n\nRated 4\\* in 2019\\.\n";
        let got: Vec<String> = sentences(text).into_iter().map(|s| s.text).collect();
        assert_eq!(
            got,
            [
                "Complete the checklist",
                "Item one",
                "Item two In addition, you need a verified account.",
                "Important: Wix Payments is not available everywhere.",
                "Plan: Basic; Price: $5",
                "Run npm install, then start.",
                // Backslash escapes are the characters they escape.
                "Rated 4* in 2019.",
            ]
        );
    }

    #[test]
    fn questions_select_the_sentences_that_answer_them() {
        let kb = kb();
        let cases: [(&str, &[&str], &str); 6] = [
            (
                "How long do I have to return an item?",
                &["within 30 days of delivery"],
                "chunk-refunds",
            ),
            (
                "When will my refund be issued?",
                &["original payment method within 5 business days"],
                "chunk-refunds",
            ),
            (
                "How long does shipping to Canada take?",
                &["Destination: Canada; Delivery time: 7–10 business days"],
                "chunk-shipping",
            ),
            (
                "Which carriers do you ship with?",
                &["DHL and UPS"],
                "chunk-shipping",
            ),
            (
                "How do I reset my password?",
                &[
                    "Forgot password?",
                    "Enter the email address",
                    "within 24 hours",
                ],
                "chunk-password",
            ),
            (
                "Are gift cards refundable?",
                &["Gift cards are non-refundable"],
                "chunk-refunds",
            ),
        ];
        for (question, expected, chunk) in cases {
            let got = answer(question, &kb).unwrap_or_else(|| panic!("no answer: {question}"));
            for part in expected {
                assert!(got.text.contains(part), "{question}: {}", got.text);
            }
            assert_eq!(got.citations[0].chunk_id, chunk, "{question}");
            assert_eq!(got.citations[0].marker, 1);
            assert!(got.text.contains("[1]"), "{}", got.text);
            let sentences_in_answer = got.text.matches("[").count();
            assert!(sentences_in_answer <= DEFAULT_MAX_SENTENCES, "{}", got.text);
        }
    }

    #[test]
    fn the_answer_to_a_password_question_reads_the_steps_in_order() {
        let got = answer("How do I reset my password?", &kb()).unwrap();
        assert_eq!(
            got.text,
            "Open the Sign in page and click Forgot password? [1] Enter the email address of \
             your account [1]. Follow the link in the email within 24 hours [1]."
        );
        assert_eq!(got.citations.len(), 1);
        let c = &got.citations[0];
        assert_eq!(c.document_id, "doc-password");
        assert_eq!(c.heading_path, ["Account", "Password reset"]);
        assert_eq!(
            c.source_url.as_deref(),
            Some("https://help.example.test/password")
        );
        assert!(c.quote.starts_with("Open the Sign in page"));
        assert!(c.quote.ends_with("within 24 hours."));
    }

    #[test]
    fn citations_are_numbered_by_first_use_and_list_only_used_passages() {
        // Refunds and shipping both answer part of the question; password does not.
        let passages = vec![password(), shipping(), refunds()];
        let got = answer(
            "Are shipping costs refunded and how fast do orders ship?",
            &passages,
        )
        .unwrap();
        let ids: Vec<&str> = got.citations.iter().map(|c| c.chunk_id.as_str()).collect();
        assert!(!ids.contains(&"chunk-password"), "{ids:?}");
        let markers: Vec<usize> = got.citations.iter().map(|c| c.marker).collect();
        assert_eq!(markers, (1..=got.citations.len()).collect::<Vec<_>>());
        for c in &got.citations {
            assert!(got.text.contains(&format!("[{}]", c.marker)));
        }
        let first_marker_pos = got.text.find("[1]").unwrap();
        if let Some(second) = got.text.find("[2]") {
            assert!(first_marker_pos < second);
        }
    }

    #[test]
    fn the_answer_stays_in_the_leading_passage_unless_another_adds_question_terms() {
        let got = answer("Do you ship to Canada?", &kb()).unwrap();
        assert!(
            got.text
                .starts_with("Destination: Canada; Delivery time: 7–10 business days [1]."),
            "{}",
            got.text
        );
        let ids: Vec<&str> = got.citations.iter().map(|c| c.chunk_id.as_str()).collect();
        assert_eq!(ids, ["chunk-shipping"]);
    }

    #[test]
    fn the_guard_reads_llm_style_markers() {
        let kb = kb();
        let citations = answer("How do I reset my password?", &kb)
            .unwrap()
            .citations;
        let text = "Click Forgot password on the sign in page.[1] The link in the email is \
                    valid for 24 hours.[1]\n\n- Check your spam folder if the email does not \
                    arrive [1]";
        let verdict = grounding(text, &citations, &kb, DEFAULT_MIN_SUPPORT);
        assert!(verdict.supported, "{verdict:?}");
        let invented = "The link in the email is valid for 48 hours.[1]";
        assert!(!grounding(invented, &citations, &kb, DEFAULT_MIN_SUPPORT).supported);
    }

    #[test]
    fn out_of_scope_questions_get_no_answer() {
        let kb = kb();
        for question in [
            "Do you sell gift vouchers for weddings?",
            "What is the capital of France?",
            "Can I pay with bitcoin?",
            "hello?",
            "",
        ] {
            assert_eq!(answer(question, &kb), None, "{question}");
        }
        assert_eq!(answer("refund", &[]), None);
        let none = ExtractiveConfig {
            max_sentences: 0,
            ..ExtractiveConfig::default()
        };
        assert_eq!(extractive_answer("refund", &kb, &none), None);
    }

    #[test]
    fn extractive_answers_always_pass_the_grounding_guard() {
        let kb = kb();
        for question in [
            "How long do I have to return an item?",
            "When will my refund arrive?",
            "How long does shipping to Canada take?",
            "Which carriers do you ship with?",
            "How do I reset my password?",
            "Are gift cards refundable?",
            "Are shipping costs refunded and how fast do orders ship?",
            "email not arriving spam",
        ] {
            let got = answer(question, &kb).unwrap();
            let verdict = grounding(&got.text, &got.citations, &kb, DEFAULT_MIN_SUPPORT);
            assert!(verdict.supported, "{question}: {verdict:?}");
            // The quotes alone support the answer too.
            let verdict = grounding(&got.text, &got.citations, &[], 1.0);
            assert!(verdict.supported, "{question} from quotes: {verdict:?}");
        }
    }

    #[test]
    fn the_guard_rejects_invented_figures_and_other_topics() {
        let kb = kb();
        let got = answer("How long do I have to return an item?", &kb).unwrap();
        let cases = [
            // An invented number.
            (
                "You can return any item within 60 days of delivery [1].",
                vec!["You can return any item within 60 days of delivery."],
            ),
            // A claim about something the source does not mention.
            (
                "You can return any item within 30 days [1]. We also offer free lifetime \
                 warranty on electronics [1].",
                vec!["We also offer free lifetime warranty on electronics."],
            ),
            // A marker that names no citation.
            (
                "You can return any item within 30 days [7].",
                vec!["You can return any item within 30 days."],
            ),
        ];
        for (text, unsupported) in cases {
            let verdict = grounding(text, &got.citations, &kb, DEFAULT_MIN_SUPPORT);
            assert!(!verdict.supported, "{text}");
            assert_eq!(verdict.unsupported_sentences, unsupported, "{text}");
        }
        // The number must be in the cited passage, not just any passage.
        let wrong_source = "Orders placed before 2 pm ship the same day [1].";
        let verdict = grounding(wrong_source, &got.citations, &kb, DEFAULT_MIN_SUPPORT);
        assert!(!verdict.supported);
    }

    #[test]
    fn the_guard_accepts_paraphrases_courtesies_and_unmarked_supported_sentences() {
        let kb = kb();
        let citations = answer("How long does shipping to Canada take?", &kb)
            .unwrap()
            .citations;
        let cases = [
            (
                "Parcels to Canada take 7–10 business days [1]. Hope this helps!",
                true,
            ),
            (
                "## Delivery\n\nDelivery to Canada takes 7 to 10 business days.",
                true,
            ),
            ("Delivery to Canada takes 4 business days.", false),
            ("", false),
        ];
        for (text, supported) in cases {
            let verdict = grounding(text, &citations, &kb, DEFAULT_MIN_SUPPORT);
            assert_eq!(verdict.supported, supported, "{text}: {verdict:?}");
        }
    }

    #[test]
    fn markers_are_taken_out_of_sentences() {
        let cases = [
            ("Refunds take 5 days [1].", vec![1], "Refunds take 5 days."),
            (
                "Refunds take 5 days.[1][2]",
                vec![1, 2],
                "Refunds take 5 days.",
            ),
            ("See [1, 3] and [note].", vec![1, 3], "See and [note]."),
        ];
        for (sentence, markers, text) in cases {
            assert_eq!(take_markers(sentence), (markers, text.to_string()));
        }
        assert_eq!(
            split_sentences("One [1]. Two? [2] Three.[3] four"),
            ["One [1].", "Two? [2]", "Three.[3] four"]
        );
    }

    #[test]
    fn the_answer_gate_thresholds_come_from_settings_or_the_defaults() {
        assert_eq!(AnswerGate::from_settings("{}"), AnswerGate::default());
        assert_eq!(AnswerGate::default().min_rerank_score, None);
        assert!(!AnswerGate::default().llm_below_gate);
        assert_eq!(
            AnswerGate::from_settings(
                r#"{"answer":{"min_confidence":0.2,"min_rerank_score":0.5,"llm_below_gate":true}}"#
            ),
            AnswerGate {
                min_confidence: 0.2,
                min_rerank_score: Some(0.5),
                llm_below_gate: true,
            }
        );
        for bad in [
            r#"{"answer":{"min_confidence":2,"min_rerank_score":-0.1}}"#,
            r#"{"answer":{"min_confidence":"x","min_rerank_score":"0.5","llm_below_gate":1}}"#,
            r#"{"answer":[]}"#,
            "nope",
        ] {
            assert_eq!(
                AnswerGate::from_settings(bad),
                AnswerGate::default(),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_answer_gate_reads_the_rerank_score_when_the_tenant_sets_a_threshold() {
        let gate = AnswerGate::from_settings(
            r#"{"answer":{"min_confidence":0.7,"min_rerank_score":0.3}}"#,
        );
        // Without a rerank score, the fused confidence decides.
        assert!(gate.passes(false, 0.7, None));
        assert!(!gate.passes(false, 0.69, None));
        // With one, it decides alone: a confident search whose passages do not answer the
        // question is refused, and the other way round.
        assert!(!gate.passes(false, 0.95, Some(0.29)));
        assert!(gate.passes(false, 0.2, Some(0.3)));
        // Degraded retrieval always answers what it found.
        assert!(gate.passes(true, 0.0, Some(0.0)));
        assert!(gate.passes(true, 0.0, None));
        // Without a threshold for it, a rerank score changes nothing.
        let fused = AnswerGate::from_settings(r#"{"answer":{"min_confidence":0.7}}"#);
        assert!(fused.passes(false, 0.95, Some(0.0)));
        assert!(!fused.passes(false, 0.5, Some(1.0)));
    }

    #[test]
    fn a_passage_cut_mid_sentence_is_not_quoted_at_its_edges() {
        let window = passage(
            "backups",
            "Backups",
            &["Operations"],
            "ing the data is stored in the EU region. Backups run nightly at 2 am. Restores \
             take up to four hours and the operator can",
        );
        let got = answer(
            "When do backups run and how long do restores take?",
            std::slice::from_ref(&window),
        )
        .unwrap();
        assert_eq!(got.text, "Backups run nightly at 2 am [1].");
        assert!(answer("Where is the data stored, which region?", &[window]).is_none());
    }

    #[test]
    fn a_passage_cut_after_an_apostrophe_or_a_quote_is_not_quoted_from_there() {
        for cut in [
            "'s Explorer Post 811 takes youth aged 14 to 21.",
            "'' Explorer Post 811 takes youth aged 14 to 21.",
        ] {
            let window = passage(
                "explorers",
                "Explorers",
                &[],
                &format!("{cut} Explorers meet every Tuesday at the station."),
            );
            let got = answer(
                "Which ages does Explorer Post 811 take, and when do explorers meet?",
                &[window],
            )
            .unwrap();
            assert_eq!(
                got.text, "Explorers meet every Tuesday at the station [1].",
                "{cut}"
            );
        }
    }

    #[test]
    fn page_titles_and_unpunctuated_lines_are_not_answers() {
        let page = passage(
            "clipper",
            "Europa Clipper",
            &[],
            "Science | Mission – NASA's Europa Clipper\nScience | Mission – NASA's Europa \
             Clipper\n\nThe Europa Clipper mission will study Jupiter's moon Europa.\n\n\
             Related missions and science\n",
        );
        let got = answer("What is the Europa Clipper mission?", &[page]).unwrap();
        assert_eq!(
            got.text,
            "The Europa Clipper mission will study Jupiter's moon Europa [1]."
        );
    }

    #[test]
    fn an_faq_question_is_not_its_own_answer() {
        let faq = passage(
            "faq",
            "Backups",
            &[],
            "How many copies of my backup can I create in other regions? You can keep up to \
             two copies of each backup in other regions.",
        );
        let got = answer(
            "How many copies of my backup can I create in other regions?",
            &[faq],
        )
        .unwrap();
        assert_eq!(
            got.text,
            "You can keep up to two copies of each backup in other regions [1]."
        );
    }

    #[test]
    fn a_follow_up_is_answered_only_from_passages_about_the_conversations_subject() {
        let frank = passage(
            "frank",
            "Andre Gunder Frank",
            &["Andre Gunder Frank"],
            "Andre Gunder Frank was a German-American economic historian. He used Marxian \
             concepts in political economy.",
        );
        let wall = passage(
            "wall",
            "Berlin Wall",
            &["Berlin Wall"],
            "The Wall served to prevent the emigration that had marked the communist Eastern \
             Bloc.",
        );
        let passages = [frank, wall];
        let query = "andre gunder frank Was he a communist?";
        // Without the subject, the sentence sharing the message's word answers it.
        let loose = answer("Was he a communist?", &passages).unwrap();
        assert_eq!(loose.citations[0].chunk_id, "chunk-wall", "{}", loose.text);
        // "he" is Frank: only his article may answer, and it does not say.
        let kept = about_subject("Was he a communist?", query, &passages);
        assert_eq!(*kept, passages[..1]);
        assert_eq!(answer("Was he a communist?", &kept), None);
        // A message that names its own subject keeps every passage.
        let own = "Did the Berlin Wall stop emigration?";
        assert_eq!(
            *about_subject(own, &format!("andre gunder frank {own}"), &passages),
            passages
        );
        // So does a query that adds nothing.
        assert_eq!(
            *about_subject("Was he a communist?", "Was he a communist?", &passages),
            passages
        );
    }

    #[test]
    fn a_second_article_is_cited_only_for_a_fact_the_first_lacks() {
        let returns = passage(
            "returns",
            "Returns",
            &["Returns"],
            "You can return any item within 30 days for a refund. Refunds go back to the \
             original payment method.",
        );
        let gift = passage(
            "gift",
            "Gift cards",
            &["Gift cards"],
            "Gift card refunds are handled by the store. You can return items within 30 \
             days for a refund at any store.",
        );
        let got = answer(
            "How many days do I have to return an item for a refund?",
            &[returns.clone(), gift.clone()],
        )
        .unwrap();
        let ids: Vec<&str> = got.citations.iter().map(|c| c.chunk_id.as_str()).collect();
        assert_eq!(ids, ["chunk-returns"], "{}", got.text);

        // The gift-card passage names what the first one lacks: it may add it.
        let got = answer(
            "How many days do I have to return an item for a refund, and who handles gift card refunds?",
            &[returns, gift],
        )
        .unwrap();
        let ids: Vec<&str> = got.citations.iter().map(|c| c.chunk_id.as_str()).collect();
        assert_eq!(ids, ["chunk-returns", "chunk-gift"], "{}", got.text);
    }
}
