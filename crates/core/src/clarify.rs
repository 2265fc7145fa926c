//! Clarifying questions: when a visitor asks about "this library" or "the actor" and the
//! knowledge base holds several articles about different ones, or the conversation never
//! said which one, the bot asks which one is meant instead of guessing or giving up.
//!
//! Pure: reads the question, the earlier turns and the retrieved passages. Not here:
//! deciding whether an answer was found (`answer`), the wording of the other replies
//! (`conversation::phrase`).

use crate::answer::{Passage, stems};

/// Most options offered.
pub const MAX_OPTIONS: usize = 3;
/// Passages read for options, from the top of the list.
const PASSAGES_READ: usize = 6;

/// The word that makes a reference vague.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// "this library", "those parks".
    Demonstrative,
    /// "the library".
    Definite,
}

/// A clarifying question to ask instead of answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clarification {
    /// The visitor's vague words ("this library").
    pub phrase: String,
    /// The titles of the articles the visitor may mean, best ranked first (may be empty).
    pub options: Vec<String>,
}

/// Whether to ask which thing `question` means: the first vague reference the conversation
/// (`earlier`, see [`unresolved_references`]) leaves open, when it is "this …" (asked even
/// with no candidate titles) or "the …" with at least two retrieved articles whose titles
/// name it ([`titles_naming`]). An answer would be about whichever article ranked first.
pub fn clarification(
    question: &str,
    earlier: &[&str],
    passages: &[Passage],
) -> Option<Clarification> {
    unresolved_references(question, earlier)
        .into_iter()
        .find_map(|vague| {
            let options = titles_naming(&vague, passages);
            (vague.reference == Reference::Demonstrative || !options.is_empty()).then_some(
                Clarification {
                    phrase: vague.phrase,
                    options,
                },
            )
        })
}

/// Words after "this" or "that" that point at a moment or at the question itself, not at a
/// thing the visitor has in mind ("this year", "that kind of account", "this one").
const NOT_THINGS: &[&str] = &[
    "one",
    "ones",
    "kind",
    "kinds",
    "type",
    "types",
    "sort",
    "sorts",
    "way",
    "ways",
    "time",
    "times",
    "year",
    "years",
    "month",
    "months",
    "week",
    "weeks",
    "day",
    "days",
    "morning",
    "evening",
    "weekend",
    "moment",
    "point",
    "case",
    "cases",
    "question",
    "questions",
    "answer",
    "information",
    "info",
    "topic",
    "matter",
    "amount",
    "number",
    "lot",
    "part",
    "much",
    "many",
    "far",
    "long",
    "true",
    "right",
    "correct",
    "possible",
    "okay",
    "ok",
    "fine",
    "good",
    "bad",
    "enough",
    "all",
    "is",
    "was",
    "are",
    "were",
    "means",
    "mean",
    "said",
    "says",
    "happen",
    "happens",
    "makes",
    "sounds",
    "helps",
    "works",
];

/// Words before "that" that make it point at a thing ("of that mission", "is that library"),
/// not join two clauses ("I know that many people …").
const BEFORE_POINTING_THAT: &[&str] = &[
    "of", "on", "in", "at", "for", "about", "from", "with", "to", "by", "into", "is", "are", "was",
    "were", "does", "do", "did", "can", "will", "has", "have", "visit", "use", "join",
];

/// Words that describe rather than name ("this particular fund", "those suggested items"):
/// the phrase is read from the word after them.
const DESCRIBING: &[&str] = &[
    "different",
    "same",
    "other",
    "particular",
    "specific",
    "whole",
    "entire",
    "new",
    "old",
    "huge",
    "big",
    "small",
    "large",
    "great",
    "certain",
    "main",
    "exact",
    "famous",
    "current",
    "previous",
    "above",
    "given",
    "following",
    "mentioned",
    "said",
    "first",
    "last",
    "best",
    "most",
    "only",
    "two",
    "three",
    "four",
    "five",
    "several",
    "various",
];

/// Words of a noun phrase read after a demonstrative, at most.
const PHRASE_WORDS: usize = 3;

/// A reference to something the visitor has in mind ("this library", "the actor") that the
/// conversation before it does not name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VagueReference {
    /// The words as the visitor wrote them, the pointing word first.
    pub phrase: String,
    /// [`Reference::Demonstrative`] for this/that/these/those, [`Reference::Definite`] for the.
    pub reference: Reference,
}

/// The vague references in `question` the conversation does not resolve, in order: the
/// question says "this library", "that NASA mission" or "the actor", and neither the
/// earlier turns (`earlier`: the visitor's, the bot's and agents' messages, the memory's
/// summary) nor the question before it name any word of that phrase.
///
/// Without an antecedent the bot cannot know which one is meant; an answer would be about
/// whichever article ranked first. English only.
pub fn unresolved_references(question: &str, earlier: &[&str]) -> Vec<VagueReference> {
    // Words with the punctuation that follows them, so a phrase stops at a comma.
    let tokens: Vec<(String, bool)> = question
        .split_whitespace()
        .map(|raw| {
            let word = raw.trim_matches(|c: char| !c.is_alphanumeric());
            let ends_clause = raw.ends_with(|c: char| ",;:.?!)".contains(c));
            (word.to_string(), ends_clause)
        })
        .collect();
    let known: Vec<String> = earlier.iter().flat_map(|text| stems(text)).collect();
    let mut found = Vec::new();
    for (i, (word, ends)) in tokens.iter().enumerate() {
        let folded = word.to_lowercase();
        let reference = match folded.as_str() {
            "this" | "these" | "those" => Reference::Demonstrative,
            "that"
                if i == 0
                    || tokens[i - 1].1
                    || BEFORE_POINTING_THAT.contains(&tokens[i - 1].0.to_lowercase().as_str()) =>
            {
                Reference::Demonstrative
            }
            "the" => Reference::Definite,
            _ => continue,
        };
        if *ends {
            continue;
        }
        let mut rest = &tokens[i + 1..];
        if let Some((first, first_ends)) = rest.first() {
            let first = first.to_lowercase();
            if !first_ends && (DESCRIBING.contains(&first.as_str()) || first.ends_with("ed")) {
                rest = &rest[1..];
            }
        }
        let mut phrase: Vec<&str> = Vec::new();
        for (next, next_ends) in rest.iter().take(PHRASE_WORDS) {
            if next.chars().count() < 3 || stems(next).is_empty() {
                break;
            }
            phrase.push(next);
            if *next_ends {
                break;
            }
        }
        let Some(first) = phrase.first() else {
            continue;
        };
        if NOT_THINGS.contains(&first.to_lowercase().as_str()) {
            continue;
        }
        // "The SAP HANA system": an acronym names a product, not something vague.
        let acronym =
            |w: &&str| w.chars().count() >= 2 && w.chars().all(|c| c.is_ascii_uppercase());
        if reference == Reference::Definite && phrase.iter().any(acronym) {
            continue;
        }
        let before: Vec<&str> = tokens[..i].iter().map(|(w, _)| w.as_str()).collect();
        let before = stems(&before.join(" "));
        let named = phrase
            .iter()
            .flat_map(|w| stems(w))
            .any(|s| known.contains(&s) || before.contains(&s));
        if !named {
            found.push(VagueReference {
                phrase: format!("{word} {}", phrase.join(" ")),
                reference,
            });
        }
    }
    found
}

/// The titles, best ranked first and at most [`MAX_OPTIONS`], of the retrieved articles
/// that `vague` may mean. For "this library", titles that name a word of the phrase. For
/// "the Prime Minister evolved", titles that name every word of the whole phrase or of its
/// first two words or more ("Prime Minister of Canada", "Prime Minister of Australia"): in
/// a help center "the return label" is the visitor's own, and titles that merely share one
/// of its words ("How to start a return", "Return policy") are no choice to offer.
pub fn titles_naming(vague: &VagueReference, passages: &[Passage]) -> Vec<String> {
    let mut titles: Vec<(String, Vec<String>)> = Vec::new();
    for p in passages.iter().take(PASSAGES_READ) {
        let title = p.title.trim();
        if !title.is_empty() && !titles.iter().any(|(t, _)| t.eq_ignore_ascii_case(title)) {
            titles.push((title.to_string(), stems(title)));
        }
    }
    let naming = |wanted: &[String], every: bool| -> Vec<String> {
        titles
            .iter()
            .filter(|(_, own)| {
                if every {
                    wanted.iter().all(|s| own.contains(s))
                } else {
                    wanted.iter().any(|s| own.contains(s))
                }
            })
            .map(|(t, _)| t.clone())
            .take(MAX_OPTIONS)
            .collect()
    };
    let words: Vec<Vec<String>> = vague
        .phrase
        .split_whitespace()
        .skip(1)
        .map(stems)
        .filter(|s| !s.is_empty())
        .collect();
    match vague.reference {
        Reference::Demonstrative => naming(&words.concat(), false),
        Reference::Definite => (1..=words.len())
            .rev()
            .filter(|&n| n == words.len() || n >= 2)
            .map(|n| naming(&words[..n].concat(), true))
            .find(|titles| titles.len() >= 2)
            .unwrap_or_default(),
    }
}

/// The clarifying question offering `options`, in the visitor's language where we have it;
/// with no options, it asks what the visitor's `phrase` ("this library") means.
pub fn question(options: &[String], phrase: Option<&str>, locale: Option<&str>) -> String {
    let language = locale.and_then(|l| l.split(['-', '_']).next());
    let (lead, or) = match language {
        Some("de") => ("Welches meinen Sie:", "oder"),
        Some("fr") => ("Duquel parlez-vous :", "ou"),
        Some("es") => ("¿A cuál se refiere:", "o"),
        _ => ("Which one do you mean:", "or"),
    };
    let list = match options {
        [] => {
            let phrase = phrase.unwrap_or_default();
            return match language {
                Some("de") => format!("Was genau meinen Sie mit „{phrase}“?"),
                Some("fr") => format!("Que voulez-vous dire exactement par « {phrase} » ?"),
                Some("es") => format!("¿A qué se refiere exactamente con «{phrase}»?"),
                _ => format!("Could you tell me which one you mean by \"{phrase}\"?"),
            };
        }
        [one] => {
            return match language {
                Some("de") => format!("Meinen Sie {one}?"),
                Some("fr") => format!("Parlez-vous de {one} ?"),
                Some("es") => format!("¿Se refiere a {one}?"),
                _ => format!("Do you mean {one}?"),
            };
        }
        [init @ .., last] => format!("{} {or} {last}", init.join(", ")),
    };
    format!("{lead} {list}?")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first vague demonstrative reference left unresolved.
    fn unresolved(question: &str, earlier: &[&str]) -> Option<String> {
        unresolved_references(question, earlier)
            .into_iter()
            .find(|r| r.reference == Reference::Demonstrative)
            .map(|r| r.phrase)
    }

    fn passage(title: &str) -> Passage {
        Passage {
            chunk_id: format!("c-{title}"),
            document_id: format!("d-{title}"),
            title: title.into(),
            heading_path: Vec::new(),
            source_url: None,
            text: format!("{title} opens at nine."),
            score: 0.0,
        }
    }

    #[test]
    fn a_vague_reference_to_one_of_several_titled_things_gets_options() {
        let passages = [
            passage("California State Library"),
            passage("Opening hours"),
            passage("Monterey Park Bruggemeyer Library"),
            passage("California State Library"),
            passage("Sutro Library"),
            passage("Oakland Public Library"),
        ];
        let asked = clarification("What facilities does this library provide?", &[], &passages)
            .expect("a clarifying question");
        assert_eq!(
            asked.options,
            [
                "California State Library",
                "Monterey Park Bruggemeyer Library",
                "Sutro Library"
            ]
        );
        assert_eq!(asked.phrase, "this library provide");
        // "The library" too: several articles are about a library.
        assert_eq!(
            clarification("Where is the library?", &[], &passages)
                .expect("a clarifying question")
                .options
                .len(),
            3
        );
        // "This animal" with no article about one: still asked, with no options.
        let animal = clarification("Does this animal have antlers?", &[], &passages)
            .expect("a clarifying question");
        assert!(animal.options.is_empty());
    }

    #[test]
    fn named_things_single_matches_and_earlier_turns_get_no_clarification() {
        let passages = [
            passage("California State Library"),
            passage("Sutro Library"),
        ];
        // Named: nothing vague to resolve.
        for question in [
            "What does the Sutro Library offer?",
            "What facilities does Sutro Library provide?",
        ] {
            assert_eq!(clarification(question, &[], &passages), None, "{question}");
        }
        // Vague, but only one article is about a park.
        let parks = [passage("Central Park"), passage("Sutro Library")];
        assert_eq!(clarification("When does the park open?", &[], &parks), None);
        // The conversation already said which library.
        assert_eq!(
            clarification(
                "What facilities does this library provide?",
                &["Tell me about the Sutro Library in San Francisco."],
                &passages
            ),
            None
        );
    }

    #[test]
    fn a_demonstrative_the_conversation_never_named_is_unresolved() {
        assert_eq!(
            unresolved("What all facilities does this library provide?", &[]),
            Some("this library provide".into())
        );
        assert_eq!(
            unresolved("What is the main purpose of that NASA mission?", &[]),
            Some("that NASA mission".into())
        );
        assert_eq!(
            unresolved(
                "Tell me about the importance of this tricolor national flag.",
                &["Which countries have a green, white and red flag?"]
            ),
            None
        );
        // Named earlier, by the visitor or by the bot's reply.
        let earlier = [
            "Where can I borrow books in Sacramento?",
            "The California State Library lends books to residents [1].",
        ];
        assert_eq!(
            unresolved("What facilities does this library provide?", &earlier),
            None
        );
        // Named earlier in the same question.
        assert_eq!(
            unresolved(
                "How do I find the actions that need improvement, and how do I improve those actions?",
                &[]
            ),
            None
        );
    }

    #[test]
    fn time_words_kinds_and_joining_thats_are_no_vague_reference() {
        for question in [
            "Are there any holidays this year?",
            "Can I open that kind of account online?",
            "Is this one free?",
            "I know that many people pay late; can I file my return late?",
            "How much is this?",
            "Is that true?",
            "What does this mean for my refund?",
            "Is this different from the other one?",
            "That ws when jumbo jets were produced.",
            "Can I analyse this huge amount of data?",
        ] {
            assert_eq!(unresolved(question, &[]), None, "{question}");
        }
    }

    #[test]
    fn describing_words_are_read_past_and_definite_references_are_kept_apart() {
        assert_eq!(
            unresolved("How liquid is this particular index fund?", &[]),
            Some("this index fund".into())
        );
        assert_eq!(
            unresolved_references("What awards has the actor received?", &[]),
            [VagueReference {
                phrase: "the actor received".into(),
                reference: Reference::Definite
            }]
        );
        assert!(unresolved_references("What are the two SAP HANA system types?", &[]).is_empty());
        assert!(
            unresolved_references(
                "What awards has the actor received?",
                &["Who played the lead actor in East of Eden?"]
            )
            .is_empty()
        );
    }

    #[test]
    fn titles_naming_the_phrase_are_the_options_of_an_unresolved() {
        let passages = [
            passage("Sutro Library"),
            passage("Opening hours"),
            passage("California State Library"),
        ];
        let vague = |phrase: &str, reference| VagueReference {
            phrase: phrase.into(),
            reference,
        };
        assert_eq!(
            titles_naming(&vague("this library", Reference::Demonstrative), &passages),
            ["Sutro Library", "California State Library"]
        );
        assert!(
            titles_naming(&vague("that mission", Reference::Demonstrative), &passages).is_empty()
        );
        // "The state library": one article names both words, so there is no choice.
        assert!(
            titles_naming(&vague("the state library", Reference::Definite), &passages).is_empty()
        );
        let ministers = [
            passage("Prime Minister of Canada"),
            passage("Prime Minister of Australia"),
            passage("How to start a return"),
            passage("Return policy"),
        ];
        assert_eq!(
            titles_naming(
                &vague("the Prime Minister evolved", Reference::Definite),
                &ministers
            ),
            ["Prime Minister of Canada", "Prime Minister of Australia"]
        );
        assert!(
            titles_naming(
                &vague("the return label valid", Reference::Definite),
                &ministers
            )
            .is_empty()
        );
    }

    #[test]
    fn with_one_option_or_none_the_question_still_reads() {
        assert_eq!(
            question(&["Sutro Library".to_string()], Some("this library"), None),
            "Do you mean Sutro Library?"
        );
        assert_eq!(
            question(&[], Some("this library"), None),
            "Could you tell me which one you mean by \"this library\"?"
        );
        assert_eq!(
            question(&[], Some("diese Bibliothek"), Some("de")),
            "Was genau meinen Sie mit „diese Bibliothek“?"
        );
    }

    #[test]
    fn the_question_lists_the_options() {
        let options = ["A".to_string(), "B".to_string(), "C".to_string()];
        assert_eq!(
            question(&options, None, None),
            "Which one do you mean: A, B or C?"
        );
        assert_eq!(
            question(&options[..2], None, Some("de-AT")),
            "Welches meinen Sie: A oder B?"
        );
    }
}
