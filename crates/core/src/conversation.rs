//! Conversation rules: what a visitor may send, the shape of messages, actions and events,
//! the event-feed and history query parameters, the bot's fixed phrases per language, and
//! Server-Sent Events framing.
//!
//! Pure: the message component reads requests and calls these; `edge::conversation` stores
//! messages and events. Not here: deciding to escalate (`escalation`), composing answers
//! (`answer`), remembering facts (`memory`).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::problem::{Problem, ProblemKind};
use crate::session::parse_query_string;

/// Longest visitor message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4000;
/// Most attachments one message may refer to.
pub const MAX_ATTACHMENT_REFS: usize = 5;
/// Messages per history page when the caller sets no limit, and at most.
pub const DEFAULT_HISTORY_PAGE: u32 = 50;
pub const MAX_HISTORY_PAGE: u32 = 200;
/// Events per feed read, and the longest a long-poll may wait.
pub const MAX_EVENTS: u32 = 100;
pub const MAX_WAIT_SECS: u32 = 25;
/// Recent turns the pipeline keeps verbatim; older ones go into the rolling summary.
pub const RECENT_TURNS: usize = 6;

fn bad_request(detail: impl Into<String>) -> Problem {
    Problem::new(ProblemKind::BadRequest, detail)
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Author {
    Visitor,
    Bot,
    /// A human support agent.
    Agent,
    System,
}

impl Author {
    pub fn as_str(self) -> &'static str {
        match self {
            Author::Visitor => "visitor",
            Author::Bot => "bot",
            Author::Agent => "agent",
            Author::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Author> {
        match s {
            "visitor" => Some(Author::Visitor),
            "bot" => Some(Author::Bot),
            "agent" => Some(Author::Agent),
            "system" => Some(Author::System),
            _ => None,
        }
    }
}

/// The body of `POST /api/sessions/{id}/messages` (JSON, or the `text` part of a form).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    pub text: String,
    /// Ids of attachments uploaded to this session earlier, to point the question at them.
    #[serde(default)]
    pub attachments: Vec<String>,
}

/// A visitor message, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitorMessage {
    pub text: String,
    pub attachments: Vec<String>,
}

/// Trims and bounds a visitor message: 1..=[`MAX_MESSAGE_CHARS`] characters without NUL or
/// other control characters except newlines and tabs.
pub fn validate_message(message: PostMessage) -> Result<VisitorMessage, Problem> {
    let text = message.text.trim();
    if text.is_empty() {
        return Err(bad_request("`text` must not be empty"));
    }
    if text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(bad_request(format!(
            "`text` must be at most {MAX_MESSAGE_CHARS} characters"
        )));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
    {
        return Err(bad_request("`text` must not contain control characters"));
    }
    if message.attachments.len() > MAX_ATTACHMENT_REFS
        || message
            .attachments
            .iter()
            .any(|id| !crate::session::is_session_id(id))
    {
        return Err(bad_request(format!(
            "`attachments` must be at most {MAX_ATTACHMENT_REFS} attachment ids"
        )));
    }
    Ok(VisitorMessage {
        text: text.to_string(),
        attachments: message.attachments,
    })
}

/// The id of the visitor message sent with an idempotency key: the same key in the same
/// session always names the same message, so a retry can never store it twice.
pub fn message_id_for_key(session_id: &str, key: &str) -> String {
    let digest = Sha256::digest(format!("message:{session_id}:{key}"));
    hex::encode(&digest[..16])
}

/// The parameters of `GET /api/sessions/{id}/events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventsQuery {
    /// Only events with a greater sequence number (0: from the start).
    pub after: i64,
    /// How long to wait for an event when none is there yet (long-poll), in seconds.
    pub wait_secs: u32,
    pub limit: u32,
}

/// Parses `after=&wait=&limit=`; unknown or repeated parameters are a 400.
pub fn parse_events_query(query: &str) -> Result<EventsQuery, Problem> {
    let mut out = EventsQuery {
        after: 0,
        wait_secs: 0,
        limit: MAX_EVENTS,
    };
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in parse_query_string(query)? {
        if seen.contains(&name) {
            return Err(bad_request(format!("`{name}` is given more than once")));
        }
        match name.as_str() {
            "after" => {
                out.after = value
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| bad_request("`after` must be an event cursor (>= 0)"))?;
            }
            "wait" => {
                out.wait_secs = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n <= MAX_WAIT_SECS)
                    .ok_or_else(|| {
                        bad_request(format!("`wait` must be 0 to {MAX_WAIT_SECS} seconds"))
                    })?;
            }
            "limit" => {
                out.limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_EVENTS).contains(n))
                    .ok_or_else(|| bad_request(format!("`limit` must be 1 to {MAX_EVENTS}")))?;
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

/// The parameters of `GET /api/sessions/{id}/messages`: newest page first by default,
/// `before` pages back in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    pub limit: u32,
    /// The sequence number of the oldest message of the previous page.
    pub before: Option<i64>,
}

/// The cursor of the page before a message (its sequence number in the session).
pub fn encode_history_cursor(seq: i64) -> String {
    seq.to_string()
}

/// Parses `limit=&cursor=`.
pub fn parse_history_query(query: &str) -> Result<HistoryQuery, Problem> {
    let mut out = HistoryQuery {
        limit: DEFAULT_HISTORY_PAGE,
        before: None,
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
                    .filter(|n| (1..=MAX_HISTORY_PAGE).contains(n))
                    .ok_or_else(|| {
                        bad_request(format!("`limit` must be between 1 and {MAX_HISTORY_PAGE}"))
                    })?;
            }
            "cursor" => {
                out.before = Some(
                    value
                        .parse::<i64>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| bad_request("`cursor` is not a cursor this API returned"))?,
                );
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

/// The bot's fixed phrases, in the visitor's language where we have it (else English).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phrase {
    /// Nothing in the knowledge base answers the question.
    DontKnow,
    /// The conversation is being handed to a person.
    HandingOff,
    /// Handed off: the visitor's message was passed on.
    PersonWillAnswer,
}

/// The language of a locale (`de-AT` → `de`), lowercase.
pub fn language(locale: Option<&str>) -> Option<String> {
    locale
        .and_then(|l| l.split(['-', '_']).next())
        .map(str::to_ascii_lowercase)
}

/// The phrase in the language of `locale` (`de`, `de-AT`, `fr-CA`, … ; unknown → English).
pub fn phrase(phrase: Phrase, locale: Option<&str>) -> &'static str {
    let language = language(locale);
    match (phrase, language.as_deref()) {
        (Phrase::DontKnow, Some("de")) => {
            "Dazu habe ich in unserer Wissensdatenbank nichts gefunden. Soll ich Sie mit einem Mitarbeiter verbinden?"
        }
        (Phrase::DontKnow, Some("fr")) => {
            "Je n'ai rien trouvé à ce sujet dans notre base de connaissances. Voulez-vous que je vous mette en relation avec un conseiller ?"
        }
        (Phrase::DontKnow, Some("es")) => {
            "No he encontrado nada sobre esto en nuestra base de conocimiento. ¿Quiere que le pase con una persona?"
        }
        (Phrase::DontKnow, _) => {
            "I couldn't find anything about that in our help center, so I don't want to guess. Would you like me to connect you with a person?"
        }
        (Phrase::HandingOff, Some("de")) => {
            "Ich verbinde Sie mit einem Mitarbeiter. Er meldet sich hier im Chat."
        }
        (Phrase::HandingOff, Some("fr")) => {
            "Je vous mets en relation avec un conseiller, qui vous répondra ici."
        }
        (Phrase::HandingOff, Some("es")) => {
            "Le paso con una persona de nuestro equipo, que le responderá aquí."
        }
        (Phrase::HandingOff, _) => {
            "I'm handing this conversation to a person on our team. They will reply here."
        }
        (Phrase::PersonWillAnswer, Some("de")) => {
            "Danke, Ihre Nachricht ist weitergeleitet. Ein Mitarbeiter antwortet hier."
        }
        (Phrase::PersonWillAnswer, Some("fr")) => {
            "Merci, votre message a été transmis. Un conseiller vous répondra ici."
        }
        (Phrase::PersonWillAnswer, Some("es")) => {
            "Gracias, hemos pasado su mensaje. Una persona le responderá aquí."
        }
        (Phrase::PersonWillAnswer, _) => {
            "Thanks, your message has been passed on. A person will answer here."
        }
    }
}

/// The answer to a partly covered question, in the language of `locale`: first what the
/// knowledge base does not mention (`missing`, the visitor's words, from
/// [`crate::answer::partly_covered`]), then what it does. No statement when nothing is
/// missing.
pub fn partly_covered_answer(answer: &str, missing: &[String], locale: Option<&str>) -> String {
    if missing.is_empty() {
        return answer.to_string();
    }
    let language = language(locale);
    let quoted = |open: &str, close: &str, or: &str| {
        missing
            .iter()
            .map(|m| format!("{open}{m}{close}"))
            .collect::<Vec<_>>()
            .join(or)
    };
    let statement = match language.as_deref() {
        Some("de") => format!(
            "Zu {} habe ich in unserer Wissensdatenbank nichts gefunden. Das habe ich gefunden:",
            quoted("„", "“", " oder ")
        ),
        Some("fr") => format!(
            "Je n'ai rien trouvé sur {} dans notre base de connaissances. Voici ce que j'ai trouvé :",
            quoted("« ", " »", " ou ")
        ),
        Some("es") => format!(
            "No he encontrado nada sobre {} en nuestra base de conocimiento. Esto es lo que he encontrado:",
            quoted("«", "»", " ni ")
        ),
        _ => format!(
            "I couldn't find anything about {} in our help center. Here is what I found:",
            quoted("\"", "\"", " or ")
        ),
    };
    format!("{statement} {answer}")
}

/// One Server-Sent Event: `event: <name>` and the JSON on one `data:` line.
pub fn sse_event(name: &str, data: &serde_json::Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// The reply text as `token` pieces for streaming: words with their following whitespace,
/// so the pieces concatenate to the text exactly.
pub fn stream_pieces(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut in_space = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            in_space = true;
        } else if in_space {
            pieces.push(&text[start..i]);
            start = i;
            in_space = false;
        }
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(text: &str) -> PostMessage {
        PostMessage {
            text: text.into(),
            attachments: Vec::new(),
        }
    }

    #[test]
    fn messages_are_trimmed_and_bounded() {
        assert_eq!(validate_message(msg("  hi \n")).unwrap().text, "hi");
        assert!(validate_message(msg(" \n ")).is_err());
        assert!(validate_message(msg(&"x".repeat(MAX_MESSAGE_CHARS + 1))).is_err());
        assert!(validate_message(msg(&"é".repeat(MAX_MESSAGE_CHARS))).is_ok());
        assert!(validate_message(msg("a\u{0}b")).is_err());
        assert!(validate_message(msg("line\nbreak\tand tab")).is_ok());
        let bad_ref = PostMessage {
            text: "x".into(),
            attachments: vec!["../etc".into()],
        };
        assert!(validate_message(bad_ref).is_err());
    }

    #[test]
    fn a_key_names_one_message_per_session() {
        let a = message_id_for_key("s1", "k");
        assert_eq!(a, message_id_for_key("s1", "k"));
        assert_ne!(a, message_id_for_key("s2", "k"));
        assert_ne!(a, message_id_for_key("s1", "k2"));
        assert!(crate::session::is_session_id(&a));
    }

    #[test]
    fn event_queries_are_bounded() {
        let q = parse_events_query("after=7&wait=10&limit=5").unwrap();
        assert_eq!((q.after, q.wait_secs, q.limit), (7, 10, 5));
        assert_eq!(parse_events_query("").unwrap().after, 0);
        for bad in [
            "after=-1",
            "wait=26",
            "limit=0",
            "after=x",
            "after=1&after=2",
            "x=1",
        ] {
            assert!(parse_events_query(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn history_cursor_round_trips() {
        let q =
            parse_history_query(&format!("limit=2&cursor={}", encode_history_cursor(5))).unwrap();
        assert_eq!(q.before, Some(5));
        assert!(parse_history_query("cursor=0").is_err());
        assert!(parse_history_query("cursor=zz").is_err());
        assert!(parse_history_query("limit=201").is_err());
    }

    #[test]
    fn a_partly_covered_answer_names_what_is_missing_first() {
        let answer = "We accept Visa and PayPal [1].";
        assert_eq!(partly_covered_answer(answer, &[], None), answer);
        assert_eq!(
            partly_covered_answer(answer, &["Bitcoin".into()], None),
            "I couldn't find anything about \"Bitcoin\" in our help center. Here is what I found: We accept Visa and PayPal [1]."
        );
        let two = ["Bitcoin".to_string(), "Litecoin".to_string()];
        assert!(
            partly_covered_answer(answer, &two, Some("de-CH"))
                .starts_with("Zu „Bitcoin“ oder „Litecoin“ habe ich")
        );
        assert!(partly_covered_answer(answer, &two, Some("fr")).contains("« Bitcoin » ou"));
    }

    #[test]
    fn phrases_follow_the_locale() {
        assert!(phrase(Phrase::DontKnow, Some("de-AT")).starts_with("Dazu"));
        assert!(phrase(Phrase::DontKnow, Some("pt")).starts_with("I couldn't"));
        assert!(phrase(Phrase::HandingOff, None).contains("person"));
    }

    #[test]
    fn sse_events_are_framed_and_pieces_rebuild_the_text() {
        let e = sse_event("token", &serde_json::json!({"text": "a\nb"}));
        assert_eq!(e, "event: token\ndata: {\"text\":\"a\\nb\"}\n\n");
        let text = "Refunds take  5 to 7 days.\nSee [1].";
        let pieces = stream_pieces(text);
        assert_eq!(pieces.concat(), text);
        assert_eq!(pieces[0], "Refunds ");
        assert!(stream_pieces("").is_empty());
    }
}
