//! The questions the bot could not answer, for the admin's list: which replies count as
//! unanswered, masking what identifies a visitor, grouping near-duplicates, the list's query
//! and its CSV export; and the curated answers an admin writes for them.
//!
//! Pure: `edge::unanswered` reads the messages and embeds the questions; the ingest component
//! serves `/api/kb/unanswered` and `/api/kb/curated`.

use serde::{Deserialize, Serialize};

use crate::answer::question_stems;
use crate::problem::{Problem, ProblemKind};

/// The default period of the list: the last 30 days.
pub const DEFAULT_PERIOD_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// Most questions one list reads (the newest of the period).
pub const MAX_QUESTIONS: u32 = 2000;
/// Examples shown per group.
const MAX_EXAMPLES: usize = 5;
/// Two questions whose embeddings are at least this similar (cosine) are one group...
pub const SAME_QUESTION_SIMILARITY: f32 = 0.85;
/// ...and so are two at least this similar that share a specific word (a question stem of
/// [`SPECIFIC_WORD_CHARS`] or more letters: "bitcoin", not "pay" or "ship"). Measured with
/// all-MiniLM-L6-v2: paraphrases score 0.62–0.89 ("Can I pay with Bitcoin?" / "Do you accept
/// bitcoin payments?" 0.71), but so do different questions of the same frame ("… with
/// Bitcoin?" / "… with PayPal?" 0.71, "ship to Canada?" / "ship to Mexico?" 0.71).
pub const RELATED_QUESTION_SIMILARITY: f32 = 0.6;
const SPECIFIC_WORD_CHARS: usize = 5;
/// Without embeddings: two questions sharing this share of their question words are one.
const SAME_QUESTION_OVERLAP: f64 = 0.6;
/// Longest curated question and answer, in characters.
pub const MAX_CURATED_QUESTION_CHARS: usize = 500;
pub const MAX_CURATED_ANSWER_CHARS: usize = 5000;
/// Most visitor messages one curated answer may be marked as addressing.
pub const MAX_ADDRESSED: usize = 500;

fn bad_request(detail: impl Into<String>) -> Problem {
    Problem::new(ProblemKind::BadRequest, detail)
}

/// Why a question is on the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// The bot found nothing to answer with and offered a person.
    Declined,
    /// Handed to a person because the bot could not answer (low confidence, repeated failure).
    Escalated,
    /// Answered, and the visitor rated the answer "not helpful".
    NotHelpful,
}

/// Why the reply with this structured `action` (its `type` and `reason`) and this rating
/// leaves its question unanswered; `None` for an answer nobody complained about, a
/// clarifying question, or a handoff for another reason (a request for a person, a
/// sensitive topic: the knowledge base is not what failed).
pub fn why_unanswered(
    action_type: Option<&str>,
    reason: Option<&str>,
    helpful: Option<bool>,
) -> Option<Why> {
    match (action_type, reason) {
        (Some("offer_handoff"), _) => Some(Why::Declined),
        (Some("escalate"), Some("low_confidence" | "repeated_failure")) => Some(Why::Escalated),
        _ if helpful == Some(false) => Some(Why::NotHelpful),
        _ => None,
    }
}

/// `text` with e-mail addresses, phone numbers and order or account numbers replaced by
/// `[email]`, `[phone]` and `[number]`, so staff reading the list do not see them. Errs on
/// the side of masking: any word with an `@` inside a domain, any run of digits and
/// separators holding 7 or more digits, and any word of 5 or more characters holding 3 or
/// more digits.
pub fn mask_personal(text: &str) -> String {
    let words: Vec<&str> = text.split(' ').collect();
    let digits = |w: &str| w.chars().filter(char::is_ascii_digit).count();
    let numeric = |w: &str| {
        !w.is_empty()
            && digits(w) > 0
            && w.chars()
                .all(|c| c.is_ascii_digit() || "+-.()/#,:;?!".contains(c))
    };
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let word = words[i];
        // A phone number written in groups: "+1 (555) 123 4567".
        if numeric(word) {
            let mut j = i;
            let mut run_digits = 0;
            while j < words.len() && numeric(words[j]) {
                run_digits += digits(words[j]);
                j += 1;
            }
            if run_digits >= 7 && j - i > 1 {
                out.push(format!("[phone]{}", trailing_punctuation(words[j - 1])));
                i = j;
                continue;
            }
        }
        out.push(mask_word(word, digits(word)));
        i += 1;
    }
    out.join(" ")
}

fn trailing_punctuation(word: &str) -> &str {
    let kept = word.trim_end_matches(['.', ',', ';', ':', '?', '!', ')']);
    &word[kept.len()..]
}

fn mask_word(word: &str, digits: usize) -> String {
    let end = trailing_punctuation(word);
    let core = &word[..word.len() - end.len()];
    if let Some(at) = core.find('@')
        && at > 0
        && core[at + 1..].contains('.')
    {
        return format!("[email]{end}");
    }
    let alphanumeric = core.chars().filter(|c| c.is_alphanumeric()).count();
    if digits >= 7 && core.chars().all(|c| !c.is_alphabetic()) {
        return format!("[phone]{end}");
    }
    if digits >= 3 && alphanumeric >= 5 {
        return format!("[number]{end}");
    }
    word.to_string()
}

/// One unanswered question, as the list reads it (its text already masked).
#[derive(Debug, Clone, PartialEq)]
pub struct Asked {
    /// The visitor message's id.
    pub message_id: String,
    pub text: String,
    pub asked_at: i64,
    pub why: Why,
}

/// How many questions of a group are on the list for each reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Reasons {
    pub declined: u32,
    pub escalated: u32,
    pub not_helpful: u32,
}

/// Near-duplicate questions, as one row of the list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    /// The message id of the group's first member (the newest question it was built from).
    pub id: String,
    /// That question's text.
    pub question: String,
    pub count: u32,
    pub first_asked: i64,
    pub last_asked: i64,
    pub reasons: Reasons,
    /// Up to five different wordings.
    pub examples: Vec<String>,
    pub message_ids: Vec<String>,
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let denominator = norm(a) * norm(b);
    if denominator == 0.0 {
        0.0
    } else {
        dot / denominator
    }
}

fn overlap(a: &[String], b: &[String]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let shared = a.iter().filter(|s| b.contains(s)).count();
    shared as f64 / (a.len() + b.len() - shared) as f64
}

/// Groups `asked` (newest first) into near-duplicates: with `vectors` (one per question, in
/// order) a question joins the first group whose first member is at least
/// [`SAME_QUESTION_SIMILARITY`] similar, or [`RELATED_QUESTION_SIMILARITY`] with a specific
/// word in common; without them, the first whose question words overlap by
/// [`SAME_QUESTION_OVERLAP`]. Groups come largest first, then most recent.
pub fn group(asked: &[Asked], vectors: Option<&[Vec<f32>]>) -> Vec<Group> {
    let stems: Vec<Vec<String>> = asked.iter().map(|a| question_stems(&a.text)).collect();
    // Each group's members, by index into `asked`; the first is its representative.
    let mut members: Vec<Vec<usize>> = Vec::new();
    for i in 0..asked.len() {
        let same = |first: usize| match vectors {
            Some(v) => {
                let similarity = cosine(&v[first], &v[i]);
                similarity >= SAME_QUESTION_SIMILARITY
                    || (similarity >= RELATED_QUESTION_SIMILARITY
                        && stems[first].iter().any(|s| {
                            s.chars().count() >= SPECIFIC_WORD_CHARS && stems[i].contains(s)
                        }))
            }
            None => {
                overlap(&stems[first], &stems[i]) >= SAME_QUESTION_OVERLAP
                    || asked[first].text.eq_ignore_ascii_case(&asked[i].text)
            }
        };
        match members.iter_mut().find(|m| same(m[0])) {
            Some(m) => m.push(i),
            None => members.push(vec![i]),
        }
    }
    let mut groups: Vec<Group> = members
        .iter()
        .map(|m| {
            let first = &asked[m[0]];
            let mut group = Group {
                id: first.message_id.clone(),
                question: first.text.clone(),
                count: m.len() as u32,
                first_asked: first.asked_at,
                last_asked: first.asked_at,
                reasons: Reasons::default(),
                examples: Vec::new(),
                message_ids: Vec::new(),
            };
            for &i in m {
                let a = &asked[i];
                group.first_asked = group.first_asked.min(a.asked_at);
                group.last_asked = group.last_asked.max(a.asked_at);
                match a.why {
                    Why::Declined => group.reasons.declined += 1,
                    Why::Escalated => group.reasons.escalated += 1,
                    Why::NotHelpful => group.reasons.not_helpful += 1,
                }
                if group.examples.len() < MAX_EXAMPLES
                    && !group
                        .examples
                        .iter()
                        .any(|e| e.eq_ignore_ascii_case(&a.text))
                {
                    group.examples.push(a.text.clone());
                }
                group.message_ids.push(a.message_id.clone());
            }
            group
        })
        .collect();
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(b.last_asked.cmp(&a.last_asked)));
    groups
}

/// `GET /api/kb/unanswered`'s query: the period and the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListQuery {
    pub since: i64,
    pub until: i64,
    pub csv: bool,
}

/// Reads `since` and `until` (Unix milliseconds) and `format` (`json`, the default, or `csv`).
/// `until` defaults to `now_ms` (or to `since` when that is later) and `since` to the
/// [`DEFAULT_PERIOD_MS`] before `until`. A `since` after `until` is an empty period, not an
/// error: every value the document allows is a question the API can answer.
pub fn parse_list_query(query: &str, now_ms: i64) -> Result<ListQuery, Problem> {
    let mut since = None;
    let mut until = None;
    let mut csv = false;
    let millis = |name: &str, value: &str| {
        value
            .parse::<i64>()
            .ok()
            .filter(|v| (0..=4_102_444_800_000).contains(v))
            .ok_or_else(|| bad_request(format!("`{name}` must be a time in Unix milliseconds")))
    };
    for (name, value) in crate::session::parse_query_string(query)? {
        match name.as_str() {
            "since" => since = Some(millis("since", &value)?),
            "until" => until = Some(millis("until", &value)?),
            "format" => {
                csv = match value.as_str() {
                    "json" => false,
                    "csv" => true,
                    _ => return Err(bad_request("`format` must be json or csv")),
                }
            }
            _ => return Err(bad_request(format!("unknown query parameter `{name}`"))),
        }
    }
    let until = until.unwrap_or_else(|| since.map_or(now_ms, |s: i64| s.max(now_ms)));
    Ok(ListQuery {
        since: since.unwrap_or(until - DEFAULT_PERIOD_MS),
        until,
        csv,
    })
}

/// A CSV field: quoted when it holds a comma, quote or line break; a leading `=`, `+`, `-`
/// or `@` is prefixed with `'` so a spreadsheet does not run it as a formula.
pub fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// The body of `POST /api/kb/curated`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostCurated {
    pub question: String,
    pub answer: String,
    /// The visitor messages (ids) this answer addresses: their group leaves the list.
    #[serde(default)]
    pub message_ids: Vec<String>,
}

/// A curated answer, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Curated {
    pub question: String,
    pub answer: String,
    pub message_ids: Vec<String>,
}

impl Curated {
    /// The knowledge-base document's external id: one per question (case and spacing
    /// aside), so writing the same question again updates its answer.
    pub fn external_id(&self) -> String {
        use sha2::{Digest, Sha256};
        let normalized = self
            .question
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        format!(
            "curated:{}",
            hex::encode(&Sha256::digest(normalized.as_bytes())[..12])
        )
    }

    /// The document's Markdown: the question as its heading, the answer as its text, so the
    /// chunk a search finds carries both.
    pub fn markdown(&self) -> String {
        format!("# {}\n\n{}\n", self.question, self.answer)
    }
}

/// Checks a curated answer: a question of 1..=[`MAX_CURATED_QUESTION_CHARS`] characters on
/// one line, an answer of 1..=[`MAX_CURATED_ANSWER_CHARS`], no control characters but line
/// breaks and tabs in the answer, and at most [`MAX_ADDRESSED`] message ids.
pub fn validate_curated(body: PostCurated) -> Result<Curated, Problem> {
    let question = body
        .question
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let answer = body.answer.trim().to_string();
    if question.is_empty() || question.chars().count() > MAX_CURATED_QUESTION_CHARS {
        return Err(bad_request(format!(
            "`question` must be 1 to {MAX_CURATED_QUESTION_CHARS} characters"
        )));
    }
    if question.chars().any(char::is_control) {
        return Err(bad_request(
            "`question` must not contain control characters",
        ));
    }
    if answer.is_empty() || answer.chars().count() > MAX_CURATED_ANSWER_CHARS {
        return Err(bad_request(format!(
            "`answer` must be 1 to {MAX_CURATED_ANSWER_CHARS} characters"
        )));
    }
    if answer
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
    {
        return Err(bad_request("`answer` must not contain control characters"));
    }
    if body.message_ids.len() > MAX_ADDRESSED
        || body
            .message_ids
            .iter()
            .any(|id| !crate::session::is_session_id(id))
    {
        return Err(bad_request(format!(
            "`message_ids` must be at most {MAX_ADDRESSED} message ids"
        )));
    }
    Ok(Curated {
        question,
        answer,
        message_ids: body.message_ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(id: &str, text: &str, at: i64, why: Why) -> Asked {
        Asked {
            message_id: id.into(),
            text: text.into(),
            asked_at: at,
            why,
        }
    }

    #[test]
    fn declined_escalated_for_lack_of_an_answer_and_rated_down_are_unanswered() {
        assert_eq!(
            why_unanswered(Some("offer_handoff"), Some("not_in_knowledge_base"), None),
            Some(Why::Declined)
        );
        assert_eq!(
            why_unanswered(Some("escalate"), Some("low_confidence"), None),
            Some(Why::Escalated)
        );
        assert_eq!(
            why_unanswered(None, None, Some(false)),
            Some(Why::NotHelpful)
        );
        assert_eq!(why_unanswered(None, None, Some(true)), None);
        assert_eq!(why_unanswered(None, None, None), None);
        assert_eq!(why_unanswered(Some("clarify"), None, None), None);
        assert_eq!(
            why_unanswered(Some("escalate"), Some("human_requested"), None),
            None
        );
        assert_eq!(
            why_unanswered(Some("escalate"), Some("sensitive_topic"), None),
            None
        );
    }

    #[test]
    fn emails_phones_and_order_numbers_are_masked() {
        let cases = [
            (
                "My email is ada.l@example.co.uk, please reply.",
                "My email is [email], please reply.",
            ),
            ("Call me on +1 (555) 123 4567.", "Call me on [phone]."),
            ("or 0151-2345678!", "or [phone]!"),
            ("Where is order NW-123456?", "Where is order [number]?"),
            ("order #A1B2C3D4 is late", "order [number] is late"),
            // Kept: plain numbers, prices, years, versions, an @ without a domain.
            (
                "Do you ship 3 items for $20 in 2024 on v1.2 @support?",
                "Do you ship 3 items for $20 in 2024 on v1.2 @support?",
            ),
        ];
        for (text, masked) in cases {
            assert_eq!(mask_personal(text), masked, "{text}");
        }
    }

    #[test]
    fn near_duplicates_form_one_group_by_embedding_or_by_words() {
        let questions = vec![
            asked("m5", "Can I pay with PayPal?", 500, Why::Declined),
            asked("m4", "Can I pay with Bitcoin?", 400, Why::Declined),
            asked("m3", "do you take bitcoin payments", 300, Why::NotHelpful),
            asked("m2", "Do you ship to Mars?", 200, Why::Declined),
            asked("m1", "Can I pay with Bitcoin?", 100, Why::Escalated),
        ];
        // PayPal and Bitcoin: 0.71 alike, sharing only "pay"; the bitcoin paraphrase 0.71
        // alike, sharing "bitcoin"; the repeat identical.
        let vectors = vec![
            vec![0.71, 0.704],
            vec![1.0, 0.0],
            vec![0.71, -0.704],
            vec![0.0, 1.0],
            vec![1.0, 0.0],
        ];
        let groups = group(&questions, Some(&vectors));
        assert_eq!(groups.len(), 3);
        let bitcoin = &groups[0];
        assert_eq!(bitcoin.id, "m4");
        assert_eq!(bitcoin.count, 3);
        assert_eq!((bitcoin.first_asked, bitcoin.last_asked), (100, 400));
        assert_eq!(
            bitcoin.reasons,
            Reasons {
                declined: 1,
                escalated: 1,
                not_helpful: 1
            }
        );
        assert_eq!(bitcoin.examples.len(), 2, "{:?}", bitcoin.examples);
        assert_eq!(bitcoin.message_ids, ["m4", "m3", "m1"]);
        assert_eq!(groups[1].question, "Can I pay with PayPal?");
        assert_eq!(groups[2].question, "Do you ship to Mars?");

        // Without embeddings the words decide: the paraphrase stays apart, the repeat joins.
        let by_words = group(&questions, None);
        let counts: Vec<u32> = by_words.iter().map(|g| g.count).collect();
        assert_eq!(counts, [2, 1, 1, 1]);
        assert_eq!(by_words[0].message_ids, ["m4", "m1"]);
    }

    #[test]
    fn the_list_query_has_a_default_period_and_refuses_nonsense() {
        let now = 1_800_000_000_000;
        let q = parse_list_query("", now).unwrap();
        assert_eq!(
            (q.since, q.until, q.csv),
            (now - DEFAULT_PERIOD_MS, now, false)
        );
        let q = parse_list_query("since=1000&until=2000&format=csv", now).unwrap();
        assert_eq!((q.since, q.until, q.csv), (1000, 2000, true));
        for bad in ["since=yesterday", "since=-5", "format=xml", "limit=5"] {
            assert_eq!(
                parse_list_query(bad, now).unwrap_err().status(),
                400,
                "{bad}"
            );
        }
    }

    #[test]
    fn a_lone_bound_sets_the_period_around_it_and_an_inverted_one_is_empty() {
        let now = 1_800_000_000_000;
        // `until` alone: the default period before it (not "since must not be after until").
        let q = parse_list_query("until=5000000000", now).unwrap();
        assert_eq!(
            (q.since, q.until),
            (5_000_000_000 - DEFAULT_PERIOD_MS, 5_000_000_000)
        );
        let q = parse_list_query("until=0", now).unwrap();
        assert_eq!((q.since, q.until), (-DEFAULT_PERIOD_MS, 0));
        // `since` alone, in the future: from then on, not an inverted period.
        let later = now + 1000;
        let q = parse_list_query(&format!("since={later}"), now).unwrap();
        assert_eq!((q.since, q.until), (later, later));
        // Both given the wrong way round: an empty period the store answers with nothing.
        let q = parse_list_query("since=3000&until=2000", now).unwrap();
        assert_eq!((q.since, q.until), (3000, 2000));
    }

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a, b"), "\"a, b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("-1,2"), "\"'-1,2\"");
    }

    #[test]
    fn curated_answers_are_checked_and_keyed_by_their_question() {
        let ok = validate_curated(PostCurated {
            question: "  Can I pay   with Bitcoin? ".into(),
            answer: " No, we accept cards and PayPal.\n".into(),
            message_ids: vec!["0123456789abcdef0123456789abcdef".into()],
        })
        .unwrap();
        assert_eq!(ok.question, "Can I pay with Bitcoin?");
        assert_eq!(ok.answer, "No, we accept cards and PayPal.");
        let same = Curated {
            question: "can i pay with bitcoin?".into(),
            ..ok.clone()
        };
        assert_eq!(ok.external_id(), same.external_id());
        assert!(ok.external_id().starts_with("curated:"));
        assert_eq!(
            ok.markdown(),
            "# Can I pay with Bitcoin?\n\nNo, we accept cards and PayPal.\n"
        );
        for bad in [
            ("", "an answer", vec![]),
            ("a question", "   ", vec![]),
            ("a question", "an answer", vec!["not-an-id".to_string()]),
            ("a\u{7} question", "an answer", vec![]),
        ] {
            let body = PostCurated {
                question: bad.0.into(),
                answer: bad.1.into(),
                message_ids: bad.2,
            };
            assert_eq!(validate_curated(body).unwrap_err().status(), 400);
        }
    }
}
