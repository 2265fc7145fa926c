//! What the bot remembers about a visitor beyond the recent turns: facts the visitor told
//! (name, e-mail, order numbers, phone), a rolling summary of the turns that left the recent
//! window, and the retrieval query that carries a short follow-up's context.
//!
//! Pure and deterministic: small scanners and word lists, no model. Not here: storing the
//! memory (`edge`), choosing the recent window (`conversation::RECENT_TURNS`), building an
//! LLM prompt.

use serde::{Deserialize, Serialize};

use crate::answer::{content_words, split_sentences, stem, take_markers};
use crate::conversation::Author;
use crate::escalation::fold;

/// Order numbers remembered at most; the oldest goes first.
pub const MAX_ORDER_NUMBERS: usize = 5;
/// Words in a remembered name at most.
pub const MAX_NAME_WORDS: usize = 3;
/// Longest bot or agent line kept in a summary, in characters.
const MAX_REPLY_ITEM_CHARS: usize = 100;
/// Content words kept for one visitor turn in a summary.
const MAX_TOPIC_WORDS: usize = 6;
/// Context terms a follow-up's retrieval query borrows at most.
const MAX_CONTEXT_TERMS: usize = 6;

/// What a fact is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactKind {
    Name,
    Email,
    OrderNumber,
    Phone,
}

/// Something the visitor said about themselves.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fact {
    pub kind: FactKind,
    /// A name as written; an e-mail with its domain in lowercase; an order number as
    /// written without a leading `#`; a phone number as `+` (when given) and digits.
    pub value: String,
}

impl Fact {
    fn new(kind: FactKind, value: impl Into<String>) -> Fact {
        Fact {
            kind,
            value: value.into(),
        }
    }
}

/// The facts in a message: names, then e-mails, order numbers and phone numbers, each in
/// the order they appear, without duplicates. See [`extract_name`], [`extract_emails`],
/// [`extract_order_numbers`] and [`extract_phones`] for what each recognises.
pub fn extract_facts(message: &str) -> Vec<Fact> {
    let mut facts: Vec<Fact> = Vec::new();
    let orders = extract_order_numbers(message);
    let found = extract_name(message)
        .map(|n| Fact::new(FactKind::Name, n))
        .into_iter()
        .chain(
            extract_emails(message)
                .into_iter()
                .map(|e| Fact::new(FactKind::Email, e)),
        )
        .chain(
            orders
                .iter()
                .map(|o| Fact::new(FactKind::OrderNumber, o.clone())),
        )
        .chain(
            extract_phones(message)
                .into_iter()
                .filter(|p| !orders.iter().any(|o| digits_of(o) == digits_of(p)))
                .map(|p| Fact::new(FactKind::Phone, p)),
        );
    for fact in found {
        if !facts.contains(&fact) {
            facts.push(fact);
        }
    }
    facts
}

fn digits_of(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// A word of a message with the punctuation around it trimmed.
struct Word<'a> {
    /// As written, trimmed.
    text: &'a str,
    /// Folded (see [`fold`]) for comparing with word lists.
    folded: String,
    /// Punctuation after it ends the clause (`,`, `.`, `!`, `?`, `;`, `:`).
    ends_clause: bool,
}

fn words(message: &str) -> Vec<Word<'_>> {
    message
        .split_whitespace()
        .filter_map(|piece| {
            let text = piece.trim_matches(|c: char| {
                !(c.is_alphanumeric() || matches!(c, '#' | '@' | '+' | '-' | '\'' | '’'))
            });
            let text = text.trim_end_matches(['-', '\'', '’']);
            let ends_clause = piece
                .trim_end_matches(['"', ')', '\'', '”', '’'])
                .ends_with([',', '.', '!', '?', ';', ':']);
            (!text.is_empty()).then(|| Word {
                text,
                folded: fold(text).replace('’', "'"),
                ends_clause,
            })
        })
        .collect()
}

/// Where a sequence of folded words starts in `words`, each position it occurs at.
fn occurrences<'a>(words: &'a [Word<'_>], phrase: &'a [&str]) -> impl Iterator<Item = usize> + 'a {
    (0..words.len().saturating_sub(phrase.len() - 1))
        .filter(move |&i| phrase.iter().zip(&words[i..]).all(|(p, w)| w.folded == *p))
}

/// Phrases a visitor introduces themselves with, folded.
const NAME_INTRODUCTIONS: &[&[&str]] = &[
    &["my", "name", "is"],
    &["my", "name's"],
    &["i'm"],
    &["i", "am"],
    &["call", "me"],
    &["ich", "heisse"],
    &["mein", "name", "ist"],
    &["je", "m'appelle"],
    &["mon", "nom", "est"],
    &["me", "llamo"],
    &["mi", "nombre", "es"],
    &["mi", "chiamo"],
    &["meu", "nome", "e"],
    &["ik", "heet"],
    &["mijn", "naam", "is"],
];

/// Capitalised words after an introduction that are not names ("I'm Sorry", "I am Not").
const NOT_NAMES: &[&str] = &[
    "a",
    "an",
    "the",
    "not",
    "so",
    "very",
    "really",
    "just",
    "still",
    "also",
    "sorry",
    "here",
    "back",
    "from",
    "in",
    "on",
    "at",
    "with",
    "happy",
    "glad",
    "interested",
    "unable",
    "trying",
    "looking",
    "writing",
    "calling",
    "and",
    "but",
    "i",
    "customer",
    "client",
    "kunde",
    "ok",
    "okay",
    "fine",
    "good",
    "new",
    "your",
    "this",
];

/// The visitor's name from "my name is X", "I'm X", "I am X", "call me X", "ich heiße X",
/// "mein Name ist X", "je m'appelle X", "me llamo X", "mi chiamo X", "meu nome é X",
/// "ik heet X", "mijn naam is X" (case of the phrase does not matter): the capitalised
/// words that follow, at most [`MAX_NAME_WORDS`], up to the end of the clause. Words in
/// capitals only, and a few words that follow "I'm" without being names ("I'm Sorry"), do
/// not count.
pub fn extract_name(message: &str) -> Option<String> {
    let words = words(message);
    for phrase in NAME_INTRODUCTIONS {
        for start in occurrences(&words, phrase).collect::<Vec<_>>() {
            let intro_end = start + phrase.len();
            if words[intro_end - 1].ends_clause {
                continue;
            }
            let mut name: Vec<&str> = Vec::new();
            for word in &words[intro_end..] {
                if !is_name_word(word) || name.len() == MAX_NAME_WORDS {
                    break;
                }
                name.push(word.text);
                if word.ends_clause {
                    break;
                }
            }
            if !name.is_empty() {
                return Some(name.join(" "));
            }
        }
    }
    None
}

fn is_name_word(word: &Word<'_>) -> bool {
    let mut chars = word.text.chars();
    let first_upper = chars.next().is_some_and(char::is_uppercase);
    let shape = word
        .text
        .chars()
        .all(|c| c.is_alphabetic() || matches!(c, '-' | '\'' | '’'));
    let letters = word.text.chars().filter(|c| c.is_alphabetic()).count();
    let all_caps = letters > 1 && !word.text.chars().any(char::is_lowercase);
    first_upper
        && shape
        && !all_caps
        && !word.folded.ends_with("ing")
        && !NOT_NAMES.contains(&word.folded.as_str())
}

/// E-mail addresses: a local part of letters, digits and `._%+-`, an `@`, and a domain of
/// at least two dot-separated labels of letters, digits and `-` ending in a top-level domain
/// of two or more letters. The domain is lowercased.
pub fn extract_emails(message: &str) -> Vec<String> {
    let bytes = message.as_bytes();
    let local_byte = |b: u8| b.is_ascii_alphanumeric() || b"._%+-".contains(&b);
    let domain_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-';
    let mut out: Vec<String> = Vec::new();
    for (at, _) in message.match_indices('@') {
        let mut start = at;
        while start > 0 && local_byte(bytes[start - 1]) {
            start -= 1;
        }
        let mut end = at + 1;
        while end < bytes.len() && domain_byte(bytes[end]) {
            end += 1;
        }
        let local = message[start..at].trim_start_matches('.');
        let domain = message[at + 1..end].trim_end_matches(['.', '-']);
        let labels: Vec<&str> = domain.split('.').collect();
        let valid = !local.is_empty()
            && !local.ends_with('.')
            && !local.contains("..")
            && labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty() && !l.starts_with('-') && !l.ends_with('-') && l.len() <= 63
            })
            && labels
                .last()
                .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()));
        if valid {
            let email = format!("{local}@{}", domain.to_ascii_lowercase());
            if !out.contains(&email) {
                out.push(email);
            }
        }
    }
    out
}

/// Words that announce an order number, folded.
const ORDER_WORDS: &[&str] = &[
    "order",
    "orders",
    "order#",
    "ordernumber",
    "bestellung",
    "bestellnummer",
    "auftrag",
    "auftragsnummer",
    "commande",
    "pedido",
    "ordine",
    "bestelling",
    "bestelnummer",
    "ordernummer",
];

/// Words that may sit between an order word and the number, folded.
const ORDER_FILLERS: &[&str] = &[
    "number",
    "no",
    "no.",
    "nr",
    "nr.",
    "num",
    "id",
    "#",
    "is",
    "was",
    "ist",
    "nummer",
    "numero",
    "n",
    "n°",
    "no:",
    "de",
    "du",
    "la",
    "mit",
    "der",
    "est",
    "es",
    "e",
    "is:",
    "number:",
    "ref",
    "reference",
];

/// Order numbers: a word of at least five letters, digits and dashes with at least one
/// digit, after an order word ("order", "Bestellung", "commande", "pedido", "ordine",
/// "bestelling"; up to three fillers such as "number", "no.", "#", "is" between) or after
/// `#`; and anywhere, words shaped like `NW-123456` (2–4 capitals, a dash, 4 or more
/// digits). The leading `#` is dropped.
pub fn extract_order_numbers(message: &str) -> Vec<String> {
    let words = words(message);
    let mut out: Vec<String> = Vec::new();
    let mut push = |value: &str| {
        let value = value.trim_start_matches('#').trim_matches('-');
        if is_order_number(value) && !out.iter().any(|o| o == value) {
            out.push(value.to_string());
        }
    };
    for (i, word) in words.iter().enumerate() {
        if let Some(number) = word.text.strip_prefix('#') {
            push(number);
            continue;
        }
        if let Some((prefix, number)) = word.text.split_once('#')
            && ORDER_WORDS.contains(&fold(prefix).as_str())
        {
            push(number);
            continue;
        }
        if is_prefixed_order_number(word.text) {
            push(word.text);
            continue;
        }
        if !ORDER_WORDS.contains(&word.folded.as_str()) {
            continue;
        }
        // Punctuation is no boundary here: "Order: 12345", "Nr. 4711".
        for next in words.iter().skip(i + 1).take(4) {
            if ORDER_FILLERS.contains(&next.folded.as_str()) {
                continue;
            }
            push(next.text);
            break;
        }
    }
    out
}

fn is_order_number(value: &str) -> bool {
    value.chars().count() >= 5
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && value.chars().any(|c| c.is_ascii_digit())
}

fn is_prefixed_order_number(word: &str) -> bool {
    let Some((prefix, digits)) = word.split_once('-') else {
        return false;
    };
    (2..=4).contains(&prefix.len())
        && prefix.chars().all(|c| c.is_ascii_uppercase())
        && digits.len() >= 4
        && digits.chars().all(|c| c.is_ascii_digit())
}

/// Words near a number that say it is a phone number, folded.
const PHONE_WORDS: &[&str] = &[
    "phone",
    "telephone",
    "tel",
    "tel.",
    "mobile",
    "cell",
    "call",
    "whatsapp",
    "telefon",
    "telefonnummer",
    "handy",
    "handynummer",
    "rufnummer",
    "portable",
    "telefono",
    "movil",
    "celular",
    "telemovel",
    "telefoon",
    "telefoonnummer",
    "mobiel",
];

/// Phone numbers: 8 to 15 digits, optionally after `+`, grouped by single spaces, dashes,
/// dots, slashes or parentheses; accepted when they start with `+` or a phone word
/// ("phone", "call", "Telefon", "portable", "teléfono"...) is among the four words before.
/// Dates (`2024-05-01`, `01.05.2024`) are not phone numbers. Returned as `+` (when given)
/// and the digits.
pub fn extract_phones(message: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let chars: Vec<(usize, char)> = message.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        let boundary = i == 0 || !chars[i - 1].1.is_alphanumeric();
        let opens = c == '+' || c == '(' || c.is_ascii_digit();
        if !boundary || !opens {
            i += 1;
            continue;
        }
        let mut j = i;
        let mut separators = 0;
        let mut last_digit = i;
        while j < chars.len() {
            let ch = chars[j].1;
            if ch.is_ascii_digit() {
                separators = 0;
                last_digit = j;
            } else if (ch == '+' && j == i) || matches!(ch, ' ' | '-' | '.' | '/' | '(' | ')') {
                separators += 1;
                if separators > 2 {
                    break;
                }
            } else {
                break;
            }
            j += 1;
        }
        let end = chars.get(last_digit + 1).map_or(message.len(), |(b, _)| *b);
        let candidate = &message[start..end];
        let digits = digits_of(candidate);
        let followed_by_word = chars
            .get(last_digit + 1)
            .is_some_and(|(_, ch)| ch.is_alphanumeric());
        let international = candidate.starts_with('+');
        let announced = || {
            words(&message[..start])
                .iter()
                .rev()
                .take(4)
                .any(|w| PHONE_WORDS.contains(&w.folded.as_str()))
        };
        if (8..=15).contains(&digits.len())
            && !followed_by_word
            && !is_date(candidate)
            && (international || announced())
        {
            let phone = if international {
                format!("+{digits}")
            } else {
                digits
            };
            if !out.contains(&phone) {
                out.push(phone);
            }
        }
        i = last_digit.max(i) + 1;
    }
    out
}

/// `YYYY-MM-DD`, `DD.MM.YYYY` and the like: three groups of 4-2-2 or 2-2-4 digits.
fn is_date(candidate: &str) -> bool {
    let groups: Vec<usize> = candidate
        .split(['-', '.', '/'])
        .map(|g| g.trim().chars().filter(char::is_ascii_digit).count())
        .collect();
    groups == [4, 2, 2] || groups == [2, 2, 4]
}

/// What the bot remembers about a visitor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    /// At most one fact of each kind, except order numbers (up to
    /// [`MAX_ORDER_NUMBERS`]); oldest first.
    pub facts: Vec<Fact>,
    /// The [`rolling_summary`] of the turns that left the recent window.
    pub summary: String,
}

impl Memory {
    /// Adds facts in order: a new name, e-mail or phone replaces the one remembered; order
    /// numbers accumulate (a repeated one becomes the newest), keeping the newest
    /// [`MAX_ORDER_NUMBERS`].
    pub fn remember(&mut self, facts: impl IntoIterator<Item = Fact>) {
        for fact in facts {
            match fact.kind {
                FactKind::OrderNumber => self.facts.retain(|f| *f != fact),
                kind => self.facts.retain(|f| f.kind != kind),
            }
            self.facts.push(fact);
            let orders = self.order_numbers().len();
            if orders > MAX_ORDER_NUMBERS {
                let oldest = self
                    .facts
                    .iter()
                    .position(|f| f.kind == FactKind::OrderNumber);
                if let Some(i) = oldest {
                    self.facts.remove(i);
                }
            }
        }
    }

    /// The remembered value of a kind (the newest order number for `OrderNumber`).
    pub fn latest(&self, kind: FactKind) -> Option<&str> {
        self.facts
            .iter()
            .rev()
            .find(|f| f.kind == kind)
            .map(|f| f.value.as_str())
    }

    /// The remembered order numbers, oldest first.
    pub fn order_numbers(&self) -> Vec<&str> {
        self.facts
            .iter()
            .filter(|f| f.kind == FactKind::OrderNumber)
            .map(|f| f.value.as_str())
            .collect()
    }
}

/// The labels of a summary's lines, in the order they are written.
const VISITOR_LABEL: &str = "Visitor asked about: ";
const BOT_LABEL: &str = "Bot answered: ";
const AGENT_LABEL: &str = "Agent said: ";
const LABELS: [&str; 3] = [VISITOR_LABEL, BOT_LABEL, AGENT_LABEL];

/// Folds the turns that left the recent window into the previous summary.
///
/// The summary has up to three lines, each a `; `-separated list, oldest first:
/// `Visitor asked about: refund damaged parcel; shipping canada.` (the first six content
/// words of each visitor turn), `Bot answered: …` and `Agent said: …` (the first sentence of
/// each reply without citation markers, cut to 100 characters). System turns and repeats are
/// left out. Lines of `previous` this function did not write are kept first, as they are.
/// While the summary is longer than `max_chars` characters, those foreign lines go first,
/// then the oldest item of the longest line; a last item that still does not fit is cut
/// with `…`.
pub fn rolling_summary<S: AsRef<str>>(
    previous: &str,
    dropped_turns: &[(Author, S)],
    max_chars: usize,
) -> String {
    let mut other: Vec<String> = Vec::new();
    let mut lists: [Vec<String>; 3] = Default::default();
    for line in previous.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match LABELS.iter().position(|label| line.starts_with(label)) {
            Some(i) => {
                let body = line[LABELS[i].len()..].trim_end_matches('.');
                lists[i].extend(
                    body.split("; ")
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                );
            }
            None => other.push(line.to_string()),
        }
    }
    for (author, text) in dropped_turns {
        let text = text.as_ref();
        let (slot, item) = match author {
            Author::Visitor => (0, topic(text)),
            Author::Bot => (1, first_sentence(text)),
            Author::Agent => (2, first_sentence(text)),
            Author::System => continue,
        };
        if !item.is_empty() && !lists[slot].contains(&item) {
            lists[slot].push(item);
        }
    }

    let render = |other: &[String], lists: &[Vec<String>; 3]| -> String {
        let mut lines: Vec<String> = other.to_vec();
        for (label, items) in LABELS.iter().zip(lists) {
            if !items.is_empty() {
                lines.push(format!("{label}{}.", items.join("; ")));
            }
        }
        lines.join("\n")
    };
    let mut summary = render(&other, &lists);
    while summary.chars().count() > max_chars {
        let longest = (0..3)
            .filter(|&i| !lists[i].is_empty())
            .max_by_key(|&i| (lists[i].iter().map(String::len).sum::<usize>(), 3 - i));
        let items = other.len() + lists.iter().map(Vec::len).sum::<usize>();
        if items <= 1 {
            break;
        }
        // Foreign lines are the oldest; then the longest line gives up its oldest item.
        if !other.is_empty() {
            other.remove(0);
        } else if let Some(i) = longest {
            lists[i].remove(0);
        }
        summary = render(&other, &lists);
    }
    truncate(&summary, max_chars)
}

/// The first six content words of a visitor turn, for a summary.
fn topic(text: &str) -> String {
    content_words(text)
        .into_iter()
        .take(MAX_TOPIC_WORDS)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first sentence of a reply without markers, `;` made `,`, cut for a summary.
fn first_sentence(text: &str) -> String {
    let (_, plain) = take_markers(text);
    let first = split_sentences(&plain)
        .into_iter()
        .next()
        .unwrap_or_default();
    let first = first.replace(';', ",").replace('\n', " ");
    truncate(first.trim_end_matches('.'), MAX_REPLY_ITEM_CHARS)
}

/// At most `max` characters, cut at a word boundary where possible, `…` marking the cut.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let cut: String = text.chars().take(max - 1).collect();
    let cut = match cut.rfind(' ') {
        Some(space) if space > cut.len() / 2 => cut[..space].trim_end().to_string(),
        _ => cut,
    };
    format!("{cut}…")
}

/// Words that start a follow-up, folded ("and how long does it take?").
const CONTINUATIONS: &[&[&str]] = &[
    &["and"],
    &["also"],
    &["what", "about"],
    &["how", "about"],
    &["what", "if"],
    &["what", "else"],
    &["same"],
    &["but"],
    &["und"],
    &["et"],
    &["y"],
    &["e"],
    &["en"],
    &["ok", "and"],
];

/// Words that point back at an earlier turn, folded.
const BACK_REFERENCES: &[&str] = &[
    "it", "that", "this", "they", "them", "those", "there", "one", "ones", "es", "das", "dies",
    "ca", "cela", "eso", "esto", "isso", "isto", "dat", "het", "questo", "quello",
];

/// Words that point back to a person or to things named before ([`refers_back`]).
const PERSONAL_REFERENCES: &[&str] = &[
    "he", "she", "him", "his", "her", "hers", "their", "theirs", "these", "er", "sie", "il",
    "elle", "ils", "elles", "ella", "ellos", "ele", "ela",
];

/// The query to retrieve with for the visitor's `current` message, given their previous
/// messages (`recent_visitor_turns`, oldest first, without `current`).
///
/// A follow-up needs its context: when `current` starts with a continuation ("and …",
/// "what about …", "und …"), has at most two content words, or points back ("it", "that",
/// "das", "ça") with at most three, the content words of the previous visitor message (and
/// the one before, when that gives fewer than two) that `current` does not already contain
/// are put in front, at most six. Any other message is its own query.
pub fn retrieval_query(current: &str, recent_visitor_turns: &[&str]) -> String {
    retrieval_query_with(
        current,
        recent_visitor_turns,
        ConversationContext::FollowUps,
    )
}

/// When the previous visitor message goes into the retrieval query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConversationContext {
    /// Only for a message that reads as a follow-up ([`retrieval_query`]).
    FollowUps,
    /// For every message after the first: conversations mostly stay on their topic, and a
    /// question that names no product or page still means the one discussed. The default:
    /// on the test half of mtrag-un (replay, with the default threshold, and
    /// [`ConversationContext::for_turn`]) it cites a right article for 69% of answerable
    /// questions instead of 64% and answers 20% of unanswerable ones instead of 24%
    /// (`make eval`; README "Answer quality").
    #[default]
    Always,
    /// Both readings are searched, and the one the knowledge base supports with more
    /// confidence is kept: the context where the conversation stays on its topic, the
    /// question alone where the visitor moved on (the caller compares; see
    /// [`retrieval_queries`]).
    Best,
}

impl ConversationContext {
    /// Reads `{"retrieval": {"conversation_context": "always" | "follow_ups" | "best"}}`
    /// from a tenant's settings; anything else is the default.
    pub fn from_settings(settings_json: &str) -> ConversationContext {
        let settings: serde_json::Value =
            serde_json::from_str(settings_json).unwrap_or(serde_json::Value::Null);
        match settings["retrieval"]["conversation_context"].as_str() {
            Some("follow_ups") => ConversationContext::FollowUps,
            Some("best") => ConversationContext::Best,
            _ => ConversationContext::default(),
        }
    }
}

impl ConversationContext {
    /// The reading for a turn: after an unanswered question, [`ConversationContext::Always`]
    /// searches [`ConversationContext::Best`] (with the context and alone), because a visitor
    /// who was not answered often moves on to another subject, and the words of a question
    /// the knowledge base does not cover only blur the next one.
    pub fn for_turn(self, previous_unanswered: bool) -> ConversationContext {
        match self {
            ConversationContext::Always if previous_unanswered => ConversationContext::Best,
            other => other,
        }
    }
}

/// The retrieval queries to try for `current`, the first preferred on a tie: one, or under
/// [`ConversationContext::Best`] the question with its context and the question alone when
/// those differ.
pub fn retrieval_queries(
    current: &str,
    recent_visitor_turns: &[&str],
    context: ConversationContext,
) -> Vec<String> {
    let query = retrieval_query_with(current, recent_visitor_turns, context);
    let alone = current.trim();
    if context == ConversationContext::Best && query != alone {
        vec![query, alone.to_string()]
    } else {
        vec![query]
    }
}

/// Whether `message` does not stand alone: it starts with a continuation ("and …", "what
/// about …", "und …"), has at most two content words, or points back ("it", "that", "das",
/// "ça") with at most three ([`retrieval_query`] gives such a message its context).
pub fn reads_as_follow_up(message: &str) -> bool {
    let own = content_words(message);
    let (continues, points_back) = back_references(message, &[BACK_REFERENCES]);
    continues || own.len() <= 2 || (points_back && own.len() <= 3)
}

/// Whether `message` speaks of something an earlier turn named: it starts with a
/// continuation, or points back to it ("it", "those", "he", "their") with at most three
/// content words. A short message that names its own subject ("emergency kit.") does not,
/// nor does a longer one whose "that" is a conjunction ("Do you think that Hurricane Wilma
/// …").
pub fn refers_back(message: &str) -> bool {
    let (continues, points_back) =
        back_references(message, &[BACK_REFERENCES, PERSONAL_REFERENCES]);
    continues || (points_back && content_words(message).len() <= 3)
}

/// Whether `message` starts with a continuation, and whether it holds a word of one of the
/// `references` lists.
fn back_references(message: &str, references: &[&[&str]]) -> (bool, bool) {
    let folded = fold(message);
    let words: Vec<&str> = folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let continues = CONTINUATIONS
        .iter()
        .any(|c| words.len() >= c.len() && words[..c.len()] == **c);
    let refers = words
        .iter()
        .any(|w| references.iter().any(|list| list.contains(w)));
    (continues, refers)
}

/// [`retrieval_query`], with the previous visitor message's words put in front of every
/// message after the first under [`ConversationContext::Always`] and
/// [`ConversationContext::Best`].
pub fn retrieval_query_with(
    current: &str,
    recent_visitor_turns: &[&str],
    context: ConversationContext,
) -> String {
    let current = current.trim();
    if context == ConversationContext::FollowUps && !reads_as_follow_up(current) {
        return current.to_string();
    }
    let own = content_words(current);
    let own_stems: Vec<String> = own.iter().map(|w| stem(w)).collect();
    let mut context: Vec<String> = Vec::new();
    for turn in recent_visitor_turns.iter().rev().take(2) {
        for word in content_words(turn) {
            let s = stem(&word);
            if !own_stems.contains(&s) && !context.iter().any(|c| stem(c) == s) {
                context.push(word);
            }
        }
        if context.len() >= 2 {
            break;
        }
    }
    context.truncate(MAX_CONTEXT_TERMS);
    if context.is_empty() {
        current.to_string()
    } else {
        format!("{} {current}", context.join(" "))
            .trim()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_reads_as_a_follow_up_when_it_does_not_stand_alone() {
        for follow_up in [
            "How does it work?",
            "When did it take place?",
            "Pagination options",
            "And express?",
            "What about the second one?",
        ] {
            assert!(reads_as_follow_up(follow_up), "{follow_up}");
        }
        for alone in [
            "Which lights should blink during setup?",
            "Does express delivery come with a tracking number?",
            "Could you tell me the difference between index funds and mutual funds?",
        ] {
            assert!(!reads_as_follow_up(alone), "{alone}");
        }
    }

    #[test]
    fn a_message_refers_back_when_it_points_to_what_an_earlier_turn_named() {
        for back in [
            "Was he a communist?",
            "Are they poisonous?",
            "Does it arrive the next day?",
            "What about controlling the number of intents per skill?",
            "And express?",
        ] {
            assert!(refers_back(back), "{back}");
        }
        for own in [
            // Short, but it names its own subject.
            "emergency kit.",
            "the Bronx size",
            // "that" as a conjunction in a message that names its subject.
            "Do you think that Hurricane Wilma really had a devastating impact on the area?",
            "Does express delivery come with a tracking number?",
        ] {
            assert!(!refers_back(own), "{own}");
        }
    }

    #[test]
    fn with_conversation_context_always_every_later_question_carries_the_previous_one() {
        let earlier = ["How do I reset the Northwind hub?"];
        let standalone = "Which lights should blink during setup?";
        assert_eq!(retrieval_query(standalone, &earlier), standalone);
        assert_eq!(
            retrieval_query_with(standalone, &earlier, ConversationContext::Always),
            format!("reset northwind hub {standalone}")
        );
        // The first question has nothing to carry.
        assert_eq!(
            retrieval_query_with(standalone, &[], ConversationContext::Always),
            standalone
        );
        assert_eq!(
            ConversationContext::from_settings(
                r#"{"retrieval":{"conversation_context":"always"}}"#
            ),
            ConversationContext::Always
        );
        assert_eq!(
            ConversationContext::from_settings("{}"),
            ConversationContext::Always
        );
        assert_eq!(
            ConversationContext::from_settings(
                r#"{"retrieval":{"conversation_context":"follow_ups"}}"#
            ),
            ConversationContext::FollowUps
        );
        // After an unanswered question, `always` searches as `best` does.
        assert_eq!(
            ConversationContext::Always.for_turn(true),
            ConversationContext::Best
        );
        assert_eq!(
            ConversationContext::Always.for_turn(false),
            ConversationContext::Always
        );
        assert_eq!(
            ConversationContext::FollowUps.for_turn(true),
            ConversationContext::FollowUps
        );
        // `best` tries the question with its context and alone.
        assert_eq!(
            retrieval_queries(standalone, &earlier, ConversationContext::Best),
            [
                format!("reset northwind hub {standalone}"),
                standalone.to_string()
            ]
        );
        assert_eq!(
            retrieval_queries(standalone, &[], ConversationContext::Best),
            [standalone]
        );
        assert_eq!(
            retrieval_queries(standalone, &earlier, ConversationContext::FollowUps),
            [standalone]
        );
    }

    fn fact(kind: FactKind, value: &str) -> Fact {
        Fact::new(kind, value)
    }

    #[test]
    fn facts_are_found_in_messages() {
        use FactKind::*;
        let cases: Vec<(&str, Vec<Fact>)> = vec![
            (
                "Hi, my name is Anna Schmidt.",
                vec![fact(Name, "Anna Schmidt")],
            ),
            ("I'm John and my order is late", vec![fact(Name, "John")]),
            (
                "i’m Marie-Claire O'Neil, hello",
                vec![fact(Name, "Marie-Claire O'Neil")],
            ),
            ("Ich heiße Jürgen", vec![fact(Name, "Jürgen")]),
            (
                "Bonjour, je m'appelle Léa Martin",
                vec![fact(Name, "Léa Martin")],
            ),
            ("Me llamo Carlos", vec![fact(Name, "Carlos")]),
            (
                "My name is Anna Maria Luisa Fernanda",
                vec![fact(Name, "Anna Maria Luisa")],
            ),
            ("I'm Sorry to bother you", vec![]),
            ("I'm looking for my parcel", vec![]),
            ("I am FURIOUS", vec![]),
            ("my name is anna", vec![]),
            (
                "Reach me at Anna.Schmidt+shop@Example.CO.uk or a@b.",
                vec![fact(Email, "Anna.Schmidt+shop@example.co.uk")],
            ),
            ("mail: x@localhost, y@@z.com, @foo.com", vec![]),
            ("Where is order #12345?", vec![fact(OrderNumber, "12345")]),
            (
                "order 98765 has not arrived",
                vec![fact(OrderNumber, "98765")],
            ),
            (
                "My order number is ABC-12345.",
                vec![fact(OrderNumber, "ABC-12345")],
            ),
            (
                "Bestellung Nr. 4711-0815 fehlt",
                vec![fact(OrderNumber, "4711-0815")],
            ),
            (
                "ma commande n° 55501 est en retard",
                vec![fact(OrderNumber, "55501")],
            ),
            (
                "about NW-123456 and NW-123456",
                vec![fact(OrderNumber, "NW-123456")],
            ),
            ("order 123 and #12", vec![]),
            ("I placed an order yesterday", vec![]),
            (
                "call me on +49 30 1234 5678",
                vec![fact(Phone, "+493012345678")],
            ),
            ("my phone: 0171-555 1234", vec![fact(Phone, "01715551234")]),
            ("It costs 12345678 points", vec![]),
            ("tel 2024-05-01", vec![]),
            ("+1 555 12", vec![]),
            (
                "I'm Ana, ana@shop.example, order #A1B2C3, phone +34 600 123 456",
                vec![
                    fact(Name, "Ana"),
                    fact(Email, "ana@shop.example"),
                    fact(OrderNumber, "A1B2C3"),
                    fact(Phone, "+34600123456"),
                ],
            ),
        ];
        for (message, expected) in cases {
            assert_eq!(extract_facts(message), expected, "{message}");
        }
    }

    #[test]
    fn odd_input_never_panics() {
        let long = "+1 ".repeat(3000);
        for message in [
            "",
            "@",
            "@.",
            "a@",
            "@b.c",
            "ß@ü.de",
            "#",
            "order #",
            "order",
            "+",
            "(",
            "İ'm İ",
            "my name is",
            "Tel:",
            "0",
            "1-1-1-1-1-1-1-1-1",
            &long,
        ] {
            let _ = extract_facts(message);
            let _ = retrieval_query(message, &[message]);
            let _ = rolling_summary(message, &[(Author::Bot, message)], 7);
        }
    }

    #[test]
    fn memory_keeps_the_newest_value_per_kind_and_five_order_numbers() {
        let mut memory = Memory::default();
        memory.remember(extract_facts("I'm Anna, anna@old.example"));
        memory.remember(extract_facts(
            "Actually my name is Anna Berg, email anna@new.example",
        ));
        assert_eq!(memory.latest(FactKind::Name), Some("Anna Berg"));
        assert_eq!(memory.latest(FactKind::Email), Some("anna@new.example"));
        assert_eq!(memory.latest(FactKind::Phone), None);
        assert_eq!(
            memory
                .facts
                .iter()
                .filter(|f| f.kind == FactKind::Email)
                .count(),
            1
        );
        for n in 1..=6 {
            memory.remember([fact(FactKind::OrderNumber, &format!("1000{n}"))]);
        }
        assert_eq!(
            memory.order_numbers(),
            ["10002", "10003", "10004", "10005", "10006"]
        );
        // Mentioning an order again makes it the newest; nothing is dropped.
        memory.remember([fact(FactKind::OrderNumber, "10003")]);
        assert_eq!(
            memory.order_numbers(),
            ["10002", "10004", "10005", "10006", "10003"]
        );
        assert_eq!(memory.latest(FactKind::OrderNumber), Some("10003"));
        assert_eq!(memory.latest(FactKind::Name), Some("Anna Berg"));
        let json = serde_json::to_value(&memory).unwrap();
        assert_eq!(json["facts"][0]["kind"], "name");
        assert_eq!(json["facts"][2]["kind"], "order_number");
    }

    #[test]
    fn summaries_list_what_left_the_window() {
        let turns = [
            (
                Author::Visitor,
                "Hi! How do I get a refund for a damaged parcel?",
            ),
            (
                Author::Bot,
                "Refunds are issued within 5 business days [1]. Send us a photo [1].",
            ),
            (Author::System, "Session handed off"),
            (Author::Visitor, "And shipping to Canada?"),
            (
                Author::Agent,
                "Hello, I'm Tom from support; I'll check that",
            ),
        ];
        let summary = rolling_summary("", &turns, 1000);
        assert_eq!(
            summary,
            "Visitor asked about: refund damaged parcel; shipping canada.\n\
             Bot answered: Refunds are issued within 5 business days.\n\
             Agent said: Hello, I'm Tom from support, I'll check that."
        );
        // Folding more turns in extends the lines and skips repeats.
        let more = [
            (Author::Visitor, "What about shipping to Canada?"),
            (Author::Visitor, "Do you have gift cards?"),
        ];
        let next = rolling_summary(&summary, &more, 1000);
        assert!(
            next.starts_with(
                "Visitor asked about: refund damaged parcel; shipping canada; gift cards.\n"
            ),
            "{next}"
        );
        assert_eq!(rolling_summary(&next, &[] as &[(Author, &str)], 1000), next);
    }

    #[test]
    fn summaries_stay_within_their_budget_dropping_the_oldest_first() {
        let turns: Vec<(Author, String)> = (0..30)
            .flat_map(|i| {
                [
                    (
                        Author::Visitor,
                        format!("question number {i} about topic{i}"),
                    ),
                    (
                        Author::Bot,
                        format!("Answer {i} explains topic{i} at length."),
                    ),
                ]
            })
            .collect();
        for max in [0, 1, 10, 60, 200, 500] {
            let summary = rolling_summary("", &turns, max);
            assert!(summary.chars().count() <= max, "{max}: {summary}");
        }
        let summary = rolling_summary("", &turns, 200);
        assert!(summary.contains("topic29"), "{summary}");
        assert!(!summary.contains("topic0;"), "{summary}");
        assert_eq!(
            rolling_summary("Earlier notes", &turns[..0], 100),
            "Earlier notes"
        );
        let long = "x".repeat(50);
        assert_eq!(rolling_summary(&long, &turns[..0], 10).chars().count(), 10);
    }

    #[test]
    fn follow_ups_borrow_the_previous_question_for_retrieval() {
        let history = ["Hello", "What is your refund policy for damaged items?"];
        let cases = [
            (
                "and how long does it take?",
                &history[..],
                "refund policy damaged items and how long does it take?",
            ),
            (
                "What about Canada?",
                &["Do you ship to the US?"][..],
                "ship What about Canada?",
            ),
            (
                "Und nach Österreich?",
                &["Versand nach Deutschland"][..],
                "versand deutschland Und nach Österreich?",
            ),
            (
                "How do I reset my password on the mobile app?",
                &history[..],
                "How do I reset my password on the mobile app?",
            ),
            (
                "Is it free?",
                &["Shipping costs to Canada"][..],
                "shipping costs canada Is it free?",
            ),
            // The previous question alone is too thin: the one before helps.
            (
                "and the price?",
                &["Tell me about premium plans", "really?"][..],
                "really premium plans and the price?",
            ),
            ("refund?", &[][..], "refund?"),
            (
                "  refunds for Canada  ",
                &["refund"][..],
                "refunds for Canada",
            ),
        ];
        for (current, recent, expected) in cases {
            assert_eq!(retrieval_query(current, recent), expected, "{current}");
        }
    }
}
