//! Clarifying questions: when a visitor asks about "this library" or "the actor" and the
//! knowledge base holds several articles about different ones, the bot asks which one is
//! meant instead of guessing or giving up.
//!
//! Pure: reads the question and the retrieved passages. Not here: deciding whether an answer
//! was found (`answer`), the wording of the reply (`conversation::phrase`).

use crate::answer::{Passage, question_stems, stems};

/// Most options offered.
pub const MAX_OPTIONS: usize = 3;
/// Passages read for options, from the top of the list.
const PASSAGES_READ: usize = 6;

/// Words that point at something the visitor has in mind without naming it.
const DEMONSTRATIVES: &[&str] = &["this", "that", "these", "those"];

/// How vague a reference must be to ask about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// "this library", "those parks": asked about even when an answer was found, since the
    /// answer would be about whichever article ranked first.
    Demonstrative,
    /// "the library" too: asked about only when no answer was found.
    Definite,
}

/// The titles to offer when `question` refers vaguely ("this library", "the actor's") to a
/// thing that several retrieved articles name in their titles, each a different one: at
/// least two distinct titles, best ranked first, at most [`MAX_OPTIONS`]. Empty otherwise.
pub fn options(question: &str, passages: &[Passage], reference: Reference) -> Vec<String> {
    let words: Vec<String> = question
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let asked = question_stems(question);
    // The question terms that follow a vague reference ("this library" → `library`).
    let referred: Vec<&String> = asked
        .iter()
        .filter(|stem| {
            words.windows(2).any(|pair| {
                (DEMONSTRATIVES.contains(&pair[0].as_str())
                    || (reference == Reference::Definite && pair[0] == "the"))
                    && crate::answer::stem(&pair[1]) == **stem
            })
        })
        .collect();
    if referred.is_empty() {
        return Vec::new();
    }
    let mut titles: Vec<(String, Vec<String>)> = Vec::new();
    for p in passages.iter().take(PASSAGES_READ) {
        let title = p.title.trim();
        if title.is_empty() || titles.iter().any(|(t, _)| t.eq_ignore_ascii_case(title)) {
            continue;
        }
        titles.push((title.to_string(), stems(title)));
    }
    for term in referred {
        let naming: Vec<String> = titles
            .iter()
            .filter(|(_, s)| s.contains(term))
            .map(|(t, _)| t.clone())
            .take(MAX_OPTIONS)
            .collect();
        if naming.len() >= 2 {
            return naming;
        }
    }
    Vec::new()
}

/// The clarifying question offering `options`, in the visitor's language where we have it.
pub fn question(options: &[String], locale: Option<&str>) -> String {
    let (lead, or) = match locale.and_then(|l| l.split(['-', '_']).next()) {
        Some("de") => ("Welches meinen Sie:", "oder"),
        Some("fr") => ("Duquel parlez-vous :", "ou"),
        Some("es") => ("¿A cuál se refiere:", "o"),
        _ => ("Which one do you mean:", "or"),
    };
    let list = match options {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {or} {last}", init.join(", ")),
    };
    format!("{lead} {list}?")
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            options(
                "What facilities does this library provide?",
                &passages,
                Reference::Demonstrative
            ),
            [
                "California State Library",
                "Monterey Park Bruggemeyer Library",
                "Sutro Library"
            ]
        );
    }

    #[test]
    fn named_things_and_single_matches_get_no_options() {
        let passages = [
            passage("California State Library"),
            passage("Sutro Library"),
        ];
        // Named: nothing vague to resolve.
        assert!(
            options(
                "What does the Sutro Library offer?",
                &passages,
                Reference::Definite
            )
            .is_empty()
        );
        assert!(
            options(
                "What facilities does Sutro Library provide?",
                &passages,
                Reference::Definite
            )
            .is_empty()
        );
        // Vague, but only one article is about a park.
        let parks = [passage("Central Park"), passage("Sutro Library")];
        assert!(options("When does the park open?", &parks, Reference::Definite).is_empty());
        // "the library" is vague only when nothing answered it.
        assert!(
            options(
                "When does the library open?",
                &passages,
                Reference::Demonstrative
            )
            .is_empty()
        );
        assert_eq!(
            options(
                "When does the library open?",
                &passages,
                Reference::Definite
            )
            .len(),
            2
        );
    }

    #[test]
    fn the_question_lists_the_options() {
        let options = ["A".to_string(), "B".to_string(), "C".to_string()];
        assert_eq!(
            question(&options, None),
            "Which one do you mean: A, B or C?"
        );
        assert_eq!(
            question(&options[..2], Some("de-AT")),
            "Welches meinen Sie: A oder B?"
        );
    }
}
