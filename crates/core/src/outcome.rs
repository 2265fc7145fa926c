//! Visitor feedback and conversation outcomes: what a rating may say, and how a finished
//! conversation is classified — resolved by the bot, handed off, abandoned or unresolved.
//!
//! Pure: `edge::feedback` stores ratings and settles outcomes, the metrics component counts
//! them (`support_conversations_total{outcome}`). Not here: when a conversation is finished
//! (the caller decides: no event for the idle window), storing or counting anything.

use serde::{Deserialize, Serialize};

use crate::answer::question_stems;
use crate::conversation::Author;
use crate::problem::{Problem, ProblemKind};
use crate::small_talk;

/// Longest feedback comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 1000;

/// Two visitor messages whose question words overlap this much (Jaccard) ask the same thing.
const REPEAT_OVERLAP: f64 = 0.75;

fn bad_request(detail: impl Into<String>) -> Problem {
    Problem::new(ProblemKind::BadRequest, detail)
}

/// The body of `PUT /api/sessions/{id}/feedback`: a rating of one bot reply
/// (`message_id` + `helpful`), or of the whole conversation (`resolved`: "did this solve
/// your problem?"). Either may carry a comment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutFeedback {
    #[serde(default)]
    pub message_id: Option<String>,
    #[serde(default)]
    pub helpful: Option<bool>,
    #[serde(default)]
    pub resolved: Option<bool>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// What a rating is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "target", rename_all = "snake_case")]
pub enum Target {
    /// One bot reply, by id.
    Reply { message_id: String },
    /// The conversation as a whole.
    Conversation,
}

/// A visitor's rating, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rating {
    pub target: Target,
    /// Helpful (a reply) or solved (the conversation).
    pub positive: bool,
    pub comment: Option<String>,
}

impl Rating {
    /// The stored key of the target: the reply's id, or empty for the conversation (one
    /// rating per target, so a second rating replaces the first).
    pub fn target_key(&self) -> &str {
        match &self.target {
            Target::Reply { message_id } => message_id,
            Target::Conversation => "",
        }
    }
}

/// Checks a rating: either `message_id` with `helpful`, or `resolved` alone; the comment
/// trimmed (empty is none), at most [`MAX_COMMENT_CHARS`] characters, without control
/// characters but newlines and tabs.
pub fn validate_feedback(body: PutFeedback) -> Result<Rating, Problem> {
    let (target, positive) = match (body.message_id, body.helpful, body.resolved) {
        (Some(id), Some(helpful), None) => {
            if !crate::session::is_session_id(&id) {
                return Err(bad_request("`message_id` must be a message id"));
            }
            (Target::Reply { message_id: id }, helpful)
        }
        (None, None, Some(resolved)) => (Target::Conversation, resolved),
        _ => {
            return Err(bad_request(
                "rate a reply with `message_id` and `helpful`, or the conversation with \
                 `resolved`",
            ));
        }
    };
    let comment = body
        .comment
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    if let Some(c) = &comment {
        if c.chars().count() > MAX_COMMENT_CHARS {
            return Err(bad_request(format!(
                "`comment` must be at most {MAX_COMMENT_CHARS} characters"
            )));
        }
        if c.chars()
            .any(|ch| ch.is_control() && !matches!(ch, '\n' | '\t' | '\r'))
        {
            return Err(bad_request("`comment` must not contain control characters"));
        }
    }
    Ok(Rating {
        target,
        positive,
        comment,
    })
}

/// How a conversation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The bot resolved it: positive feedback, or an answer and then nothing more.
    Resolved,
    /// A person took it over.
    HandedOff,
    /// The visitor left without an answer (after an offer of a person, a clarifying
    /// question, or no reply at all).
    Abandoned,
    /// The bot did not help: negative feedback, or the same question asked again.
    Unresolved,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Resolved,
        Outcome::HandedOff,
        Outcome::Abandoned,
        Outcome::Unresolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Resolved => "resolved",
            Outcome::HandedOff => "handed_off",
            Outcome::Abandoned => "abandoned",
            Outcome::Unresolved => "unresolved",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// One message of a conversation, as the outcome rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn<'a> {
    pub author: Author,
    pub text: &'a str,
    /// The `type` of the reply's structured action (`offer_handoff`, `clarify`, …).
    pub action: Option<&'a str>,
}

/// What is known of a finished conversation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Conversation<'a> {
    /// Its messages, oldest first.
    pub turns: Vec<Turn<'a>>,
    /// A person has (or had) it: the session was handed off.
    pub handed_off: bool,
    /// The answer to "did this solve your problem?".
    pub resolved: Option<bool>,
    /// The ratings of bot replies, in the order they were last given (helpful or not).
    pub reply_ratings: Vec<bool>,
}

/// The outcome of a finished conversation; `None` when the visitor never wrote (an opened
/// and closed widget is not a conversation). The rules, first match wins:
///
/// 1. handed off to a person → `handed_off` (whatever was rated, the bot did not finish it);
/// 2. the visitor said whether it solved the problem → `resolved` / `unresolved`;
/// 3. the last reply rating was "not helpful", or a question was asked again →
///    `unresolved`;
/// 4. the last reply rating was "helpful" → `resolved`;
/// 5. the bot's last reply answered (no offer, no question back) → `resolved`;
/// 6. otherwise (an offer of a person or a clarifying question left unanswered, or no
///    reply) → `abandoned`.
pub fn outcome(conversation: &Conversation) -> Option<Outcome> {
    if !conversation
        .turns
        .iter()
        .any(|t| t.author == Author::Visitor)
    {
        return None;
    }
    // Greetings, thanks and goodbyes, and the bot's replies to them, say nothing of whether
    // the question was answered.
    let turns: Vec<&Turn> = conversation
        .turns
        .iter()
        .filter(|t| t.action != Some("small_talk"))
        .filter(|t| t.author != Author::Visitor || small_talk::classify(t.text).is_none())
        .collect();
    let asked: Vec<&str> = turns
        .iter()
        .filter(|t| t.author == Author::Visitor)
        .map(|t| t.text)
        .collect();
    if conversation.handed_off
        || conversation
            .turns
            .iter()
            .any(|t| matches!(t.action, Some("escalate" | "handed_off")))
    {
        return Some(Outcome::HandedOff);
    }
    if let Some(resolved) = conversation.resolved {
        return Some(if resolved {
            Outcome::Resolved
        } else {
            Outcome::Unresolved
        });
    }
    let last_rating = conversation.reply_ratings.last().copied();
    if last_rating == Some(false) || asked_again(&asked) {
        return Some(Outcome::Unresolved);
    }
    if last_rating == Some(true) {
        return Some(Outcome::Resolved);
    }
    let last_reply = turns
        .iter()
        .rev()
        .take_while(|t| t.author != Author::Visitor)
        .find(|t| t.author == Author::Bot);
    Some(match last_reply {
        Some(reply) if reply.action.is_none() => Outcome::Resolved,
        _ => Outcome::Abandoned,
    })
}

/// Whether two of the visitor's messages ask the same question: their question words
/// (stemmed, at least two) overlap by [`REPEAT_OVERLAP`] or more.
fn asked_again(asked: &[&str]) -> bool {
    let questions: Vec<Vec<String>> = asked
        .iter()
        .map(|text| question_stems(text))
        .filter(|stems| stems.len() >= 2)
        .collect();
    questions.iter().enumerate().any(|(i, a)| {
        questions[i + 1..].iter().any(|b| {
            let shared = a.iter().filter(|s| b.contains(s)).count();
            let union = a.len() + b.len() - shared;
            shared as f64 / union as f64 >= REPEAT_OVERLAP
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visitor(text: &str) -> Turn<'_> {
        Turn {
            author: Author::Visitor,
            text,
            action: None,
        }
    }

    fn bot<'a>(text: &'a str, action: Option<&'a str>) -> Turn<'a> {
        Turn {
            author: Author::Bot,
            text,
            action,
        }
    }

    fn conversation(turns: Vec<Turn<'_>>) -> Conversation<'_> {
        Conversation {
            turns,
            ..Conversation::default()
        }
    }

    #[test]
    fn outcome_rules_table() {
        let answered = || {
            vec![
                visitor("How do I reset my password?"),
                bot("Open Settings and choose Reset password. [1]", None),
            ]
        };
        let offered = || {
            vec![
                visitor("Do you ship to Mars?"),
                bot("I couldn't find that.", Some("offer_handoff")),
            ]
        };
        let cases: Vec<(&str, Conversation, Option<Outcome>)> = vec![
            ("no visitor message", conversation(vec![]), None),
            (
                "answered, then silence",
                conversation(answered()),
                Some(Outcome::Resolved),
            ),
            (
                "offer of a person left unanswered",
                conversation(offered()),
                Some(Outcome::Abandoned),
            ),
            (
                "clarifying question left unanswered",
                conversation(vec![
                    visitor("How much does this plan cost?"),
                    bot("Which one do you mean: Basic or Pro?", Some("clarify")),
                ]),
                Some(Outcome::Abandoned),
            ),
            (
                "answered, then thanks and a courteous reply",
                conversation(
                    [
                        answered(),
                        vec![
                            visitor("Thanks, that helped!"),
                            bot("You're welcome!", Some("small_talk")),
                        ],
                    ]
                    .concat(),
                ),
                Some(Outcome::Resolved),
            ),
            (
                "a greeting, then an offer of a person",
                conversation(
                    [
                        vec![visitor("Hi there"), bot("Hello!", Some("small_talk"))],
                        offered(),
                    ]
                    .concat(),
                ),
                Some(Outcome::Abandoned),
            ),
            (
                "only a greeting",
                conversation(vec![visitor("Hello"), bot("Hello!", Some("small_talk"))]),
                Some(Outcome::Abandoned),
            ),
            (
                "visitor wrote, no reply stored",
                conversation(vec![visitor("hello?")]),
                Some(Outcome::Abandoned),
            ),
            (
                "escalated by the bot",
                conversation(vec![
                    visitor("I want a person"),
                    bot("Handing you over.", Some("escalate")),
                ]),
                Some(Outcome::HandedOff),
            ),
            (
                "session handed off by an agent, even when rated solved",
                Conversation {
                    handed_off: true,
                    resolved: Some(true),
                    ..conversation(answered())
                },
                Some(Outcome::HandedOff),
            ),
            (
                "said it solved the problem after an offer",
                Conversation {
                    resolved: Some(true),
                    ..conversation(offered())
                },
                Some(Outcome::Resolved),
            ),
            (
                "said it did not solve the problem after an answer",
                Conversation {
                    resolved: Some(false),
                    ..conversation(answered())
                },
                Some(Outcome::Unresolved),
            ),
            (
                "answer rated not helpful",
                Conversation {
                    reply_ratings: vec![false],
                    ..conversation(answered())
                },
                Some(Outcome::Unresolved),
            ),
            (
                "last rating counts: not helpful, then helpful",
                Conversation {
                    reply_ratings: vec![false, true],
                    ..conversation(answered())
                },
                Some(Outcome::Resolved),
            ),
            (
                "offer rated helpful",
                Conversation {
                    reply_ratings: vec![true],
                    ..conversation(offered())
                },
                Some(Outcome::Resolved),
            ),
            (
                "same question asked again",
                conversation(vec![
                    visitor("How do I reset my password?"),
                    bot("Open Settings. [1]", None),
                    visitor("how to reset password??"),
                    bot("Open Settings. [1]", None),
                ]),
                Some(Outcome::Unresolved),
            ),
            (
                "a different second question is not a repeat",
                conversation(vec![
                    visitor("How do I reset my password?"),
                    bot("Open Settings. [1]", None),
                    visitor("And how do I change my email address?"),
                    bot("Open Profile. [2]", None),
                ]),
                Some(Outcome::Resolved),
            ),
            (
                "short replies are not repeats",
                conversation(vec![
                    visitor("thanks"),
                    bot("You're welcome.", None),
                    visitor("thanks!"),
                    bot("You're welcome.", None),
                ]),
                Some(Outcome::Resolved),
            ),
        ];
        for (name, case, expected) in cases {
            assert_eq!(outcome(&case), expected, "{name}");
        }
    }

    #[test]
    fn a_reply_rating_needs_its_message_id_and_a_conversation_rating_stands_alone() {
        let id = "0123456789abcdef0123456789abcdef".to_string();
        let reply = validate_feedback(PutFeedback {
            message_id: Some(id.clone()),
            helpful: Some(false),
            resolved: None,
            comment: Some("  too vague \n".into()),
        })
        .unwrap();
        assert_eq!(reply.target, Target::Reply { message_id: id });
        assert_eq!(reply.target_key().len(), 32);
        assert!(!reply.positive);
        assert_eq!(reply.comment.as_deref(), Some("too vague"));

        let whole = validate_feedback(PutFeedback {
            message_id: None,
            helpful: None,
            resolved: Some(true),
            comment: Some("   ".into()),
        })
        .unwrap();
        assert_eq!(whole.target, Target::Conversation);
        assert_eq!(whole.target_key(), "");
        assert_eq!(whole.comment, None);

        for bad in [
            PutFeedback {
                message_id: None,
                helpful: Some(true),
                resolved: None,
                comment: None,
            },
            PutFeedback {
                message_id: Some("0123456789abcdef0123456789abcdef".into()),
                helpful: Some(true),
                resolved: Some(true),
                comment: None,
            },
            PutFeedback {
                message_id: Some("../etc".into()),
                helpful: Some(true),
                resolved: None,
                comment: None,
            },
            PutFeedback {
                message_id: None,
                helpful: None,
                resolved: Some(false),
                comment: Some("x".repeat(MAX_COMMENT_CHARS + 1)),
            },
            PutFeedback {
                message_id: None,
                helpful: None,
                resolved: Some(false),
                comment: Some("bell\u{7}".into()),
            },
        ] {
            assert_eq!(validate_feedback(bad).unwrap_err().status(), 400);
        }
    }

    #[test]
    fn outcome_names_round_trip() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(Outcome::parse("open"), None);
    }
}
