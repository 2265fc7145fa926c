//! Small talk: a message that only greets, thanks or says goodbye gets a courteous reply of
//! its own instead of a search of the knowledge base (which finds nothing and would offer a
//! person for "Hi there!"). A message with anything more in it ("Hi, how do I reset my
//! password?", "thanks, but it still fails") is a question and goes through the pipeline.

use serde::Serialize;

/// What a small-talk message does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmallTalk {
    Greeting,
    Thanks,
    Goodbye,
}

impl SmallTalk {
    pub fn as_str(self) -> &'static str {
        match self {
            SmallTalk::Greeting => "greeting",
            SmallTalk::Thanks => "thanks",
            SmallTalk::Goodbye => "goodbye",
        }
    }
}

/// Words that make a message a greeting, a thank-you or a goodbye; one of them must be there.
const MARKERS: &[(&str, SmallTalk)] = &[
    ("hi", SmallTalk::Greeting),
    ("hello", SmallTalk::Greeting),
    ("hey", SmallTalk::Greeting),
    ("heya", SmallTalk::Greeting),
    ("hiya", SmallTalk::Greeting),
    ("howdy", SmallTalk::Greeting),
    ("greetings", SmallTalk::Greeting),
    ("morning", SmallTalk::Greeting),
    ("afternoon", SmallTalk::Greeting),
    ("evening", SmallTalk::Greeting),
    ("hallo", SmallTalk::Greeting),
    ("bonjour", SmallTalk::Greeting),
    ("salut", SmallTalk::Greeting),
    ("hola", SmallTalk::Greeting),
    ("thanks", SmallTalk::Thanks),
    ("thank", SmallTalk::Thanks),
    ("thx", SmallTalk::Thanks),
    ("ty", SmallTalk::Thanks),
    ("cheers", SmallTalk::Thanks),
    ("appreciate", SmallTalk::Thanks),
    ("appreciated", SmallTalk::Thanks),
    ("danke", SmallTalk::Thanks),
    ("dank", SmallTalk::Thanks),
    ("merci", SmallTalk::Thanks),
    ("gracias", SmallTalk::Thanks),
    ("bye", SmallTalk::Goodbye),
    ("goodbye", SmallTalk::Goodbye),
    ("cya", SmallTalk::Goodbye),
    ("tschüss", SmallTalk::Goodbye),
    ("adieu", SmallTalk::Goodbye),
    ("adiós", SmallTalk::Goodbye),
    ("adios", SmallTalk::Goodbye),
];

/// Words that may stand beside a marker without making the message a question.
const COURTESY: &[&str] = &[
    "a", "again", "all", "and", "are", "awesome", "beaucoup", "care", "cool", "day", "everyone",
    "folks", "for", "good", "great", "guys", "have", "help", "helped", "helpful", "how", "it",
    "later", "lot", "many", "much", "muchas", "nice", "now", "ok", "okay", "perfect", "really",
    "see", "so", "take", "team", "that", "thats", "that's", "the", "there", "this", "today",
    "very", "vielen", "was", "well", "you", "your", "ya",
];

/// The kind of small talk `text` is, or `None` when it says or asks anything more. The
/// last marker decides ("Thanks, bye!" is a goodbye).
pub fn classify(text: &str) -> Option<SmallTalk> {
    let lowered = text.to_lowercase();
    let words: Vec<&str> = lowered
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() || words.len() > 8 {
        return None;
    }
    let mut kind = None;
    for word in &words {
        if let Some((_, k)) = MARKERS.iter().find(|(m, _)| m == word) {
            kind = Some(*k);
        } else if !COURTESY.contains(word) {
            return None;
        }
    }
    kind
}

/// The reply to small talk, in the language of `locale` (unknown → English).
pub fn reply(kind: SmallTalk, locale: Option<&str>) -> &'static str {
    let language = crate::conversation::language(locale);
    match (kind, language.as_deref()) {
        (SmallTalk::Greeting, Some("de")) => "Hallo! Wobei kann ich Ihnen helfen?",
        (SmallTalk::Greeting, Some("fr")) => "Bonjour ! Comment puis-je vous aider ?",
        (SmallTalk::Greeting, Some("es")) => "¡Hola! ¿En qué puedo ayudarle?",
        (SmallTalk::Greeting, _) => "Hello! What can I help you with?",
        (SmallTalk::Thanks, Some("de")) => "Gern geschehen! Kann ich sonst noch helfen?",
        (SmallTalk::Thanks, Some("fr")) => "Avec plaisir ! Puis-je vous aider pour autre chose ?",
        (SmallTalk::Thanks, Some("es")) => "¡De nada! ¿Puedo ayudarle en algo más?",
        (SmallTalk::Thanks, _) => "You're welcome! Is there anything else I can help with?",
        (SmallTalk::Goodbye, Some("de")) => "Danke für Ihre Nachricht. Auf Wiedersehen!",
        (SmallTalk::Goodbye, Some("fr")) => "Merci de nous avoir écrit. Au revoir !",
        (SmallTalk::Goodbye, Some("es")) => "Gracias por escribirnos. ¡Hasta luego!",
        (SmallTalk::Goodbye, _) => "Thanks for chatting with us. Goodbye!",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings_thanks_and_goodbyes_are_small_talk() {
        for (text, kind) in [
            ("Hi there!", SmallTalk::Greeting),
            ("hello", SmallTalk::Greeting),
            ("Good morning, team", SmallTalk::Greeting),
            ("Hey, how are you?", SmallTalk::Greeting),
            ("Thanks, that helped a lot.", SmallTalk::Thanks),
            ("thank you so much!!", SmallTalk::Thanks),
            ("Great, thx 🙏", SmallTalk::Thanks),
            ("Vielen Dank!", SmallTalk::Thanks),
            ("ok thanks, bye", SmallTalk::Goodbye),
            ("Have a nice day, goodbye", SmallTalk::Goodbye),
        ] {
            assert_eq!(classify(text), Some(kind), "{text}");
        }
    }

    #[test]
    fn a_message_with_anything_more_is_a_question() {
        for text in [
            "Hi, how do I reset my password?",
            "Thanks, but it still does not work",
            "thank you, and what about refunds?",
            "Can I talk to a person? Thanks",
            "ok",
            "yes",
            "help",
            "",
            "hello hello hello hello hello hello hello hello hello",
        ] {
            assert_eq!(classify(text), None, "{text}");
        }
    }

    #[test]
    fn replies_follow_the_locale() {
        assert_eq!(
            reply(SmallTalk::Greeting, None),
            "Hello! What can I help you with?"
        );
        assert!(reply(SmallTalk::Thanks, Some("de-AT")).starts_with("Gern geschehen"));
        assert!(reply(SmallTalk::Goodbye, Some("fr")).contains("Au revoir"));
    }
}
