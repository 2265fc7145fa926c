//! The escalation policy: whether a visitor's turn goes to a human instead of the bot, and
//! why. Signals are an explicit request for a human (English, German, French, Spanish,
//! Italian, Portuguese, Dutch), frustration, repeated failure to answer, low retrieval
//! confidence and sensitive intents (refund, cancellation, legal, security, account
//! deletion); each tenant tunes them in its settings.
//!
//! The outcome is a structured [`Decision`], serialized as the reply's `action`
//! (`{"action":"escalate","reason":"sensitive_topic","intent":"refund"}`), never a phrase in
//! the reply text. Pure and deterministic: no model, only word lists and small scanners.
//! Not here: creating the ticket or handing the session off (`escalate` component), finding
//! an answer (`answer`), computing the confidence (`retrieval`).

use serde::{Deserialize, Serialize};

/// Retrieval confidence below which an unanswered turn escalates, when a tenant sets none.
pub const DEFAULT_MIN_CONFIDENCE: f64 = 0.35;
/// Consecutive unanswered turns after which the next unanswered turn escalates.
pub const DEFAULT_MAX_FAILED_TURNS: u32 = 2;
/// Largest `max_failed_turns` a tenant may set.
pub const MAX_FAILED_TURNS_LIMIT: u32 = 100;
/// Frustration score at which a message counts as frustrated (see [`frustration_score`]).
pub const FRUSTRATION_THRESHOLD: u32 = 2;

/// A topic a bot should not settle on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    Refund,
    Cancellation,
    Legal,
    Security,
    AccountDeletion,
}

impl Intent {
    /// Every intent, in the order [`detect_intents`] reports them when several match: the
    /// most urgent first, and account deletion before cancellation (closing an account and
    /// erasing its data is a deletion).
    pub const ALL: [Intent; 5] = [
        Intent::Security,
        Intent::Legal,
        Intent::AccountDeletion,
        Intent::Refund,
        Intent::Cancellation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Refund => "refund",
            Intent::Cancellation => "cancellation",
            Intent::Legal => "legal",
            Intent::Security => "security",
            Intent::AccountDeletion => "account_deletion",
        }
    }

    pub fn parse(s: &str) -> Option<Intent> {
        Intent::ALL.into_iter().find(|i| i.as_str() == s)
    }

    /// Phrases that signal the intent, folded (lowercase ASCII, see [`fold`]); a word
    /// ending in `*` matches any word it begins.
    fn phrases(self) -> &'static [&'static str] {
        match self {
            Intent::Refund => &[
                "refund*",
                "money back",
                "chargeback*",
                "charge back",
                "reimburs*",
                "my money",
                "charged twice",
                "double charge*",
                "ruckerstattung*",
                "erstattung*",
                "geld zuruck",
                "rembours*",
                "reembols*",
                "devolucion del dinero",
                "rimbors*",
                "terugbetal*",
                "geld terug",
            ],
            Intent::Cancellation => &[
                "cancel*",
                "unsubscrib*",
                "terminate my",
                "end my subscription",
                "close my account",
                "stop my subscription",
                "kundig*",
                "stornier*",
                "annuler",
                "annulation",
                "resilier*",
                "cancelar",
                "cancelacion",
                "disdire",
                "disdetta",
                "annullare",
                "opzeggen",
            ],
            Intent::Legal => &[
                "lawyer*",
                "attorney*",
                "sue",
                "suing",
                "lawsuit*",
                "legal action",
                "legal proceedings",
                "court",
                "small claims",
                "anwalt*",
                "rechtsanwalt*",
                "verklagen",
                "klage",
                "vor gericht",
                "gerichtlich*",
                "avocat*",
                "tribunal*",
                "poursuite* judiciaire*",
                "abogado*",
                "demanda*",
                "avvocat*",
                "advogado*",
                "advocaat*",
            ],
            Intent::Security => &[
                "hacked",
                "hacker*",
                "hack my",
                "stolen password",
                "password was stolen",
                "password stolen",
                "stolen card",
                "card was stolen",
                "unauthori?ed",
                "unauthori?ed charge*",
                "someone logged in",
                "someone logged into",
                "someone else logged in",
                "someone else logged into",
                "someone accessed my account",
                "someone changed my password",
                "fraud*",
                "phishing",
                "scam*",
                "compromised",
                "identity theft",
                "without my permission",
                "without permission",
                "didn t authori?e",
                "did not authori?e",
                "suspicious login*",
                "suspicious activity",
                "account takeover",
                "data breach",
                "gehackt",
                "betrug*",
                "pirate",
                "fraude*",
                "hackeado",
                "hackeada",
                "hackerato",
                "truffa",
                "oplichting",
            ],
            Intent::AccountDeletion => &[
                "delete my account",
                "delete account",
                "delete the account",
                "account deletion",
                "remove my account",
                "erase my data",
                "erase my account",
                "delete my data",
                "delete all my data",
                "remove my data",
                "delete my personal data",
                "right to be forgotten",
                "forget me",
                "gdpr deletion",
                "gdpr request",
                "konto loschen",
                "daten loschen",
                "account loschen",
                "supprimer mon compte",
                "supprimer mes donnees",
                "eliminar mi cuenta",
                "borrar mi cuenta",
                "borrar mis datos",
                "cancellare il mio account",
                "eliminare il mio account",
                "excluir minha conta",
                "apagar minha conta",
                "account verwijderen",
            ],
        }
    }
}

/// Why a turn escalates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    HumanRequested,
    Frustration,
    RepeatedFailure,
    LowConfidence,
    SensitiveTopic,
}

impl Reason {
    /// Whether the conversation goes to a person. Low confidence and repeated failure only
    /// offer one: the visitor chooses, and a bot that could not answer twice still answers
    /// the next question it can.
    pub fn hands_off(self) -> bool {
        !matches!(self, Reason::LowConfidence | Reason::RepeatedFailure)
    }
}

/// What happens with a visitor's turn. Serialized as the reply's `action`:
/// `{"action":"answer"}`, or `{"action":"escalate","reason":"low_confidence"}`, with an
/// `"intent"` (`refund`, `cancellation`, `legal`, `security`, `account_deletion`) exactly
/// when the reason is `sensitive_topic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Decision {
    /// The bot replies (with an answer, or by saying it does not know).
    Answer,
    /// The conversation goes to a human.
    Escalate {
        reason: Reason,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        intent: Option<Intent>,
    },
}

/// A tenant's escalation policy.
#[derive(Debug, Clone, PartialEq)]
pub struct EscalationPolicy {
    /// Off: the bot never escalates, not even on request (a tenant without human agents).
    pub enabled: bool,
    /// See [`decide`]: an unanswered turn whose retrieval confidence is below this escalates.
    /// In [0, 1]; 0 turns the signal off.
    pub min_confidence: f64,
    /// After this many consecutive unanswered turns, the next unanswered turn escalates.
    pub max_failed_turns: u32,
    /// The intents that escalate; empty turns the signal off.
    pub sensitive_intents: Vec<Intent>,
    /// Whether frustration escalates.
    pub frustration: bool,
}

impl Default for EscalationPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            min_confidence: DEFAULT_MIN_CONFIDENCE,
            max_failed_turns: DEFAULT_MAX_FAILED_TURNS,
            sensitive_intents: Intent::ALL.to_vec(),
            frustration: true,
        }
    }
}

#[derive(Deserialize)]
struct Settings {
    #[serde(default)]
    escalation: Option<SettingsEscalation>,
}

#[derive(Deserialize)]
struct SettingsEscalation {
    enabled: Option<serde_json::Value>,
    min_confidence: Option<serde_json::Value>,
    max_failed_turns: Option<serde_json::Value>,
    sensitive_intents: Option<serde_json::Value>,
    frustration: Option<serde_json::Value>,
}

impl EscalationPolicy {
    /// Reads `{"escalation": {"enabled": bool, "min_confidence": 0..=1, "max_failed_turns":
    /// 0..=100, "sensitive_intents": ["refund", ...], "frustration": bool}}` from a tenant's
    /// settings JSON. Missing or unusable values fall back to the defaults one by one; a
    /// `sensitive_intents` list with anything but known intent names is unusable as a whole.
    pub fn from_settings(settings_json: &str) -> EscalationPolicy {
        let defaults = EscalationPolicy::default();
        let Some(s) = serde_json::from_str::<Settings>(settings_json)
            .ok()
            .and_then(|s| s.escalation)
        else {
            return defaults;
        };
        let boolean = |v: Option<&serde_json::Value>| v.and_then(serde_json::Value::as_bool);
        let sensitive_intents = s.sensitive_intents.as_ref().and_then(|v| {
            v.as_array()?
                .iter()
                .map(|i| i.as_str().and_then(Intent::parse))
                .collect::<Option<Vec<Intent>>>()
        });
        EscalationPolicy {
            enabled: boolean(s.enabled.as_ref()).unwrap_or(defaults.enabled),
            min_confidence: s
                .min_confidence
                .as_ref()
                .and_then(serde_json::Value::as_f64)
                .filter(|c| (0.0..=1.0).contains(c))
                .unwrap_or(defaults.min_confidence),
            max_failed_turns: s
                .max_failed_turns
                .as_ref()
                .and_then(serde_json::Value::as_u64)
                .filter(|n| *n <= u64::from(MAX_FAILED_TURNS_LIMIT))
                .map_or(defaults.max_failed_turns, |n| n as u32),
            sensitive_intents: sensitive_intents.unwrap_or(defaults.sensitive_intents),
            frustration: boolean(s.frustration.as_ref()).unwrap_or(defaults.frustration),
        }
    }
}

/// What the pipeline knows about a turn when it decides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TurnSignals<'a> {
    /// The visitor's message.
    pub message: &'a str,
    /// The retrieval's confidence in [0, 1] (`retrieval::Fusion::confidence`); `None` when
    /// retrieval did not run. A non-finite value counts as 0.
    pub retrieval_confidence: Option<f64>,
    /// Consecutive turns before this one that the bot could not answer.
    pub failed_turns_before: u32,
    /// Whether a grounded answer is available for this turn.
    pub answered: bool,
}

/// Decides a turn. With the policy disabled, always [`Decision::Answer`]. Otherwise the
/// first signal that holds wins, in this order:
///
/// 1. `human_requested`: the message asks for a person ([`is_human_request`]);
/// 2. `sensitive_topic`: the message touches an intent the tenant lists
///    ([`detect_intents`]), the first in [`Intent::ALL`] order;
/// 3. `frustration`: frustration is on and [`frustration_score`] reaches
///    [`FRUSTRATION_THRESHOLD`];
/// 4. `repeated_failure`: no grounded answer this turn and `failed_turns_before >=
///    max_failed_turns` (with the default 2, the third unanswered turn in a row escalates);
/// 5. `low_confidence`: no grounded answer this turn, retrieval ran, and its confidence is
///    below `min_confidence`. A turn that has a grounded answer never escalates for
///    confidence, and neither does one where retrieval did not run.
pub fn decide(policy: &EscalationPolicy, signals: &TurnSignals<'_>) -> Decision {
    if !policy.enabled {
        return Decision::Answer;
    }
    let escalate = |reason| Decision::Escalate {
        reason,
        intent: None,
    };
    if is_human_request(signals.message) {
        return escalate(Reason::HumanRequested);
    }
    if let Some(intent) = detect_intents(signals.message)
        .into_iter()
        .find(|i| policy.sensitive_intents.contains(i))
    {
        return Decision::Escalate {
            reason: Reason::SensitiveTopic,
            intent: Some(intent),
        };
    }
    if policy.frustration && frustration_score(signals.message) >= FRUSTRATION_THRESHOLD {
        return escalate(Reason::Frustration);
    }
    if !signals.answered {
        if signals.failed_turns_before >= policy.max_failed_turns {
            return escalate(Reason::RepeatedFailure);
        }
        if let Some(confidence) = signals.retrieval_confidence {
            let confidence = if confidence.is_finite() {
                confidence
            } else {
                0.0
            };
            if confidence < policy.min_confidence {
                return escalate(Reason::LowConfidence);
            }
        }
    }
    Decision::Answer
}

/// Lowercase with the diacritics of Latin scripts removed (`Heiße` → `heisse`, `à` → `a`)
/// and typographic apostrophes made plain, so word lists need one spelling.
pub(crate) fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ą' => out.push('a'),
            'ç' | 'ć' | 'č' => out.push('c'),
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => out.push('e'),
            'ì' | 'í' | 'î' | 'ï' => out.push('i'),
            'ñ' | 'ń' => out.push('n'),
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ő' => out.push('o'),
            'ù' | 'ú' | 'û' | 'ü' | 'ű' | 'ů' => out.push('u'),
            'ý' | 'ÿ' => out.push('y'),
            'ł' => out.push('l'),
            'ś' | 'š' => out.push('s'),
            'ź' | 'ż' | 'ž' => out.push('z'),
            'ß' => out.push_str("ss"),
            'æ' => out.push_str("ae"),
            'œ' => out.push_str("oe"),
            '\u{2018}' | '\u{2019}' | '`' | '´' => out.push('\''),
            other => out.push(other),
        }
    }
    out
}

/// Words that end a clause as punctuation does, so "I don't need the FAQ but I want a
/// human" is read as two clauses.
const CLAUSE_WORDS: &[&str] = &["but", "aber", "mais", "pero", "maar", "however"];

/// The clauses of a folded text, each as its words (runs of letters and digits; an
/// apostrophe splits, `don't` → `don`, `t`).
fn clauses(folded: &str) -> Vec<Vec<&str>> {
    let mut out = Vec::new();
    for part in folded.split(['.', ',', ';', ':', '!', '?', '\n', '(', ')']) {
        let mut clause = Vec::new();
        for word in part.split(|c: char| !c.is_alphanumeric()) {
            if word.is_empty() {
                continue;
            }
            if CLAUSE_WORDS.contains(&word) {
                out.push(std::mem::take(&mut clause));
            } else {
                clause.push(word);
            }
        }
        out.push(clause);
    }
    out.retain(|c| !c.is_empty());
    out
}

/// Whether a pattern word matches a word: `*` at the end matches any continuation, `?`
/// matches one character.
fn word_matches(pattern: &str, word: &str) -> bool {
    let (pattern, prefix) = match pattern.strip_suffix('*') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let mut w = word.chars();
    for p in pattern.chars() {
        match w.next() {
            Some(c) if p == '?' || c == p => {}
            _ => return false,
        }
    }
    prefix || w.next().is_none()
}

/// Where `phrase` (pattern words separated by spaces) first occurs as consecutive words.
fn find_phrase(words: &[&str], phrase: &str) -> Option<usize> {
    let pattern: Vec<&str> = phrase.split(' ').collect();
    if pattern.len() > words.len() {
        return None;
    }
    (0..=words.len() - pattern.len()).find(|&i| {
        pattern
            .iter()
            .zip(&words[i..])
            .all(|(p, w)| word_matches(p, w))
    })
}

fn any_word(words: &[&str], patterns: &[&str]) -> bool {
    words
        .iter()
        .any(|w| patterns.iter().any(|p| word_matches(p, w)))
}

/// Who a visitor asks for.
/// Words that make a human noun someone of another trade ("estate agent", "user agent").
const OTHER_TRADES: &[&str] = &[
    "estate",
    "travel",
    "insurance",
    "secret",
    "user",
    "booking",
    "customs",
    "leasing",
    "rental",
    "listing",
    "buyer",
    "buyers",
    "seller",
    "sellers",
    "fbi",
    "border",
    "tax",
    "registered",
    "patrol",
    "federal",
    "special",
    "free",
    "literary",
    "talent",
    "shipping",
    "transfer",
];

const HUMAN_NOUNS: &[&str] = &[
    "human",
    "humans",
    "person",
    "agent",
    "agents",
    "representative*",
    "rep",
    "operator*",
    "someone",
    "somebody",
    "anyone",
    "anybody",
    "staff",
    "employee*",
    "supervisor",
    "manager",
    "mensch*",
    "mitarbeiter*",
    "berater*",
    "kundenberater*",
    "kundendienst*",
    "jemand*",
    "ansprechpartner*",
    "humain",
    "humains",
    "conseiller*",
    "conseillere*",
    "quelqu",
    "personne",
    "persona",
    "personas",
    "agente",
    "agentes",
    "humano*",
    "alguien",
    "operatore",
    "operatrice",
    "umano",
    "qualcuno",
    "atendente",
    "pessoa",
    "alguem",
    "medewerker*",
    "mens",
    "iemand",
];

/// How a visitor asks for one.
const REQUEST_VERBS: &[&str] = &[
    "talk*",
    "speak*",
    "chat",
    "connect*",
    "transfer*",
    "escalat*",
    "want",
    "need",
    "get",
    "give",
    "call",
    "contact",
    "reach",
    "sprechen",
    "spreche",
    "reden",
    "verbind*",
    "mochte",
    "will",
    "brauche",
    "parler",
    "parle",
    "veux",
    "voudrais",
    "besoin",
    "contacter",
    "joindre",
    "hablar",
    "hable",
    "quiero",
    "necesito",
    "comunicar*",
    "contactar",
    "parlare",
    "voglio",
    "vorrei",
    "bisogno",
    "falar",
    "fale",
    "quero",
    "preciso",
    "gostaria",
    "spreken",
    "praten",
    "wil",
    "graag",
    "bellen",
];

/// Phrases that ask for a person on their own, without a verb.
const HUMAN_PHRASES: &[&str] = &[
    "real person",
    "real human",
    "actual person",
    "actual human",
    "live agent",
    "live person",
    "human agent",
    "customer service agent",
    "echte* mensch*",
    "echte* person",
    "vrai humain",
    "vraie personne",
    "persona real",
    "humano real",
    "persona reale",
    "pessoa real",
    "echte medewerker",
    "echt persoon",
    "mit einem mitarbeiter",
    "mit einer mitarbeiterin",
    "mit einem menschen",
    "mit einer person",
    "a un humain",
    "a un conseiller",
    "a une personne",
    "con una persona",
    "con un agente",
    "con un humano",
    "con un operatore",
    "con una persona reale",
    "com um atendente",
    "com um humano",
    "com uma pessoa",
    "met een medewerker",
    "met een mens",
    "met iemand",
];

/// Words that negate what follows.
const NEGATIONS: &[&str] = &[
    "not", "no", "never", "don", "dont", "doesn", "nicht", "kein*", "nie", "pas", "jamais", "ne",
    "nunca", "non", "nao", "niet", "geen", "nee", "nein",
];

/// Words after which a clause-initial "no" is an interjection ("No, I want a human").
const PRONOUNS: &[&str] = &[
    "i", "ich", "je", "yo", "io", "eu", "ik", "please", "bitte", "just",
];

/// Whether a negation sits in `words[from..to]`, not counting a clause-initial interjection.
fn negated(words: &[&str], from: usize, to: usize) -> bool {
    (from..to.min(words.len())).any(|i| {
        let interjection = i == 0
            && matches!(words[0], "no" | "nein" | "non" | "nee" | "nao")
            && words.get(1).is_some_and(|w| PRONOUNS.contains(w));
        !interjection && NEGATIONS.iter().any(|n| word_matches(n, words[i]))
    })
}

/// Whether a message asks to talk to a person: a request verb within six words of a word
/// for a person ("can I speak to someone", "ich möchte einen Mitarbeiter sprechen"), a
/// phrase that needs no verb ("real person", "met een medewerker"), or a message of at
/// most three words naming a person ("agent please"). Case and diacritics do not matter.
/// A negation shortly before (or between verb and person) cancels it: "I don't need a
/// human" is not a request.
pub fn is_human_request(message: &str) -> bool {
    let folded = fold(message);
    let clauses = clauses(&folded);
    let total_words: usize = clauses.iter().map(Vec::len).sum();
    clauses.iter().any(|words| {
        for phrase in HUMAN_PHRASES {
            if let Some(start) = find_phrase(words, phrase)
                && !negated(words, start.saturating_sub(4), start)
            {
                return true;
            }
        }
        for (n, word) in words.iter().enumerate() {
            if !HUMAN_NOUNS.iter().any(|p| word_matches(p, word)) {
                continue;
            }
            // "a real estate agent", "a travel agent": someone else's staff, not ours.
            if n > 0 && OTHER_TRADES.contains(&words[n - 1]) {
                continue;
            }
            if total_words <= 3 && !negated(words, 0, n) {
                return true;
            }
            let verb = (n.saturating_sub(6)..(n + 7).min(words.len()))
                .find(|&i| i != n && REQUEST_VERBS.iter().any(|p| word_matches(p, words[i])));
            if let Some(v) = verb {
                let start = v.min(n);
                let end = v.max(n);
                if !negated(words, start.saturating_sub(4), end) {
                    return true;
                }
            }
        }
        false
    })
}

/// Phrases of a visitor who has had enough.
const FRUSTRATION_PHRASES: &[&str] = &[
    "useless",
    "not helping",
    "not helpful",
    "unhelpful",
    "no help",
    "ridiculous",
    "worst service",
    "worst support",
    "worst company",
    "waste of time",
    "wasting my time",
    "fed up",
    "sick of",
    "sick and tired",
    "unacceptable",
    "pathetic",
    "terrible",
    "horrible",
    "awful",
    "stupid",
    "incompetent",
    "absurd",
    "nutzlos",
    "unverschamt",
    "lacherlich",
    "inutile",
    "ridicule",
    "inaceptable",
    "inutil",
    "ridiculo",
    "vergonzoso",
    "ridicolo",
    "inaccettabile",
    "nutteloos",
    "belachelijk",
];

/// Mild profanity, folded.
const PROFANITY: &[&str] = &[
    "damn*",
    "crap*",
    "wtf",
    "shit*",
    "fuck*",
    "bullshit",
    "bloody",
    "scheisse",
    "verdammt",
    "merde",
    "putain",
    "mierda",
    "joder",
    "cazzo",
    "porra",
    "godverdomme",
];

/// How frustrated a message sounds: 2 for each frustration phrase or profanity, 2 for a
/// message of at least three words written mostly (≥ 70 % of its letters) in capitals, 1 for
/// each run of three or more `!`/`?` (at most 2). [`decide`] escalates at
/// [`FRUSTRATION_THRESHOLD`].
pub fn frustration_score(message: &str) -> u32 {
    let folded = fold(message);
    let mut score = 0;
    for words in clauses(&folded) {
        score += 2 * FRUSTRATION_PHRASES
            .iter()
            .filter(|p| find_phrase(&words, p).is_some())
            .count() as u32;
        score += 2 * words
            .iter()
            .filter(|w| PROFANITY.iter().any(|p| word_matches(p, w)))
            .count() as u32;
    }
    let words_with_letters = message
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphabetic))
        .count();
    let letters = message.chars().filter(|c| c.is_alphabetic());
    let (upper, total) = letters.fold((0usize, 0usize), |(u, t), c| {
        (u + usize::from(c.is_uppercase()), t + 1)
    });
    if words_with_letters >= 3 && upper * 10 >= total * 7 {
        score += 2;
    }
    let mut runs = 0;
    let mut run = 0;
    for c in message.chars().chain(std::iter::once(' ')) {
        if matches!(c, '!' | '?') {
            run += 1;
        } else {
            if run >= 3 {
                runs += 1;
            }
            run = 0;
        }
    }
    score + runs.min(2)
}

/// Words that mark a question about a policy rather than a case of the visitor's own.
const POLICY_WORDS: &[&str] = &[
    "policy",
    "policies",
    "terms",
    "conditions",
    "richtlinie*",
    "bedingungen",
    "politique*",
    "politica*",
    "condiciones",
    "condizioni",
    "beleid",
    "voorwaarden",
];

/// Words of a visitor speaking about their own case.
const FIRST_PERSON: &[&str] = &[
    "i", "me", "my", "mine", "ich", "mein*", "mir", "mich", "je", "j", "moi", "mon", "ma", "mes",
    "yo", "mi", "mis", "io", "mio", "mia", "eu", "meu", "minha", "ik", "mijn",
];

/// Words that open a question asking for information, folded.
const QUESTION_WORDS: &[&str] = &[
    "how", "what", "when", "where", "which", "why", "who", "wie", "was", "wann", "wo", "welche*",
    "warum", "comment", "quand", "ou", "pourquoi", "quel*", "como", "cuando", "donde", "cual*",
    "por", "qual*", "quando", "dove", "perche", "hoe", "wat", "waar", "wanneer",
];

/// The sensitive intents a message touches, in [`Intent::ALL`] order. A general question
/// about a policy ("What is your refund policy?": a policy word and no first person) or any
/// question for information without a first person ("How much does the court charge for a
/// copy?", "Is there a small claims court?") touches none: the knowledge base answers that.
pub fn detect_intents(message: &str) -> Vec<Intent> {
    let folded = fold(message);
    let clauses = clauses(&folded);
    let all_words: Vec<&str> = clauses.iter().flatten().copied().collect();
    let general_question = message.trim_end().ends_with('?')
        && (all_words
            .get(..1)
            .is_some_and(|first| any_word(first, QUESTION_WORDS))
            || matches!(all_words.get(..2), Some(["is" | "are", "there"])));
    if (any_word(&all_words, POLICY_WORDS) || general_question)
        && !any_word(&all_words, FIRST_PERSON)
    {
        return Vec::new();
    }
    Intent::ALL
        .into_iter()
        .filter(|intent| {
            clauses.iter().any(|words| {
                intent
                    .phrases()
                    .iter()
                    .any(|p| find_phrase(words, p).is_some())
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(message: &str) -> TurnSignals<'_> {
        TurnSignals {
            message,
            retrieval_confidence: Some(0.8),
            failed_turns_before: 0,
            answered: true,
        }
    }

    fn escalate(reason: Reason) -> Decision {
        Decision::Escalate {
            reason,
            intent: None,
        }
    }

    fn sensitive(intent: Intent) -> Decision {
        Decision::Escalate {
            reason: Reason::SensitiveTopic,
            intent: Some(intent),
        }
    }

    #[test]
    fn decisions_follow_the_signals_in_order_of_precedence() {
        use Decision::Answer;
        use Reason::*;
        let default = "{}";
        let no_refund = r#"{"escalation":{"sensitive_intents":["legal","security","cancellation","account_deletion"]}}"#;
        let strict = r#"{"escalation":{"min_confidence":0.6,"max_failed_turns":0}}"#;
        let disabled = r#"{"escalation":{"enabled":false}}"#;
        let calm = r#"{"escalation":{"frustration":false}}"#;
        let unanswered = |message, confidence, failed| TurnSignals {
            message,
            retrieval_confidence: confidence,
            failed_turns_before: failed,
            answered: false,
        };
        let cases: Vec<(&str, TurnSignals<'_>, Decision)> = vec![
            // Requests, intents and non-requests found while trying realistic messages.
            (
                default,
                turn("Kann ich mit jemandem sprechen?"),
                escalate(HumanRequested),
            ),
            (
                default,
                turn("Is there anyone I can talk to?"),
                escalate(HumanRequested),
            ),
            (
                default,
                turn("Someone used my card without permission"),
                sensitive(Intent::Security),
            ),
            (
                default,
                turn("I got charged twice"),
                sensitive(Intent::Refund),
            ),
            (
                default,
                turn("Can someone tell me the opening hours?"),
                Answer,
            ),
            (default, turn("The agent was rude"), Answer),
            // Explicit requests for a human, seven languages.
            (
                default,
                turn("Can I talk to a person?"),
                escalate(HumanRequested),
            ),
            (
                default,
                turn("I want to speak to a human"),
                escalate(HumanRequested),
            ),
            (
                default,
                turn("Is there a real person I can chat with?"),
                escalate(HumanRequested),
            ),
            (
                default,
                turn("please connect me with an agent"),
                escalate(HumanRequested),
            ),
            (
                default,
                turn("Can I speak to someone about this?"),
                escalate(HumanRequested),
            ),
            (default, turn("AGENT"), escalate(HumanRequested)),
            (default, turn("human please"), escalate(HumanRequested)),
            (
                default,
                turn("No, I want a representative."),
                escalate(HumanRequested),
            ),
            (
                default,
                turn("Ich möchte mit einem Mitarbeiter sprechen"),
                escalate(HumanRequested),
            ),
            (
                default,
                turn("Kann ich bitte mit einem Menschen reden?"),
                escalate(HumanRequested),
            ),
            (
                default,
                turn("Je voudrais parler à un humain"),
                escalate(HumanRequested),
            ),
            (
                default,
                turn("Puis-je parler à un conseiller ?"),
                escalate(HumanRequested),
            ),
            (
                default,
                turn("Quiero hablar con una persona"),
                escalate(HumanRequested),
            ),
            (
                default,
                turn("¿Puedo hablar con un agente?"),
                escalate(HumanRequested),
            ),
            (
                default,
                turn("Vorrei parlare con un operatore"),
                escalate(HumanRequested),
            ),
            (
                default,
                turn("Quero falar com um atendente"),
                escalate(HumanRequested),
            ),
            (
                default,
                turn("Posso falar com um humano?"),
                escalate(HumanRequested),
            ),
            (
                default,
                turn("Kan ik met een medewerker praten?"),
                escalate(HumanRequested),
            ),
            (
                default,
                turn("I don't need a bot but I need a human"),
                escalate(HumanRequested),
            ),
            // Negated or incidental mentions are not requests.
            (
                default,
                turn("I don't need a human, just tell me the opening hours"),
                Answer,
            ),
            (
                default,
                turn("I do not want to speak with an agent"),
                Answer,
            ),
            (
                default,
                turn("Ich möchte nicht mit einem Mitarbeiter sprechen"),
                Answer,
            ),
            (default, turn("Je ne veux pas parler à un humain"), Answer),
            (default, turn("No quiero hablar con una persona"), Answer),
            (
                default,
                turn("The person who delivered my parcel left it at the door"),
                Answer,
            ),
            (default, turn("Does the agenda include humanities?"), Answer),
            // Sensitive intents.
            (
                default,
                turn("I want a refund for my order"),
                sensitive(Intent::Refund),
            ),
            (
                default,
                turn("How do I get my money back?"),
                sensitive(Intent::Refund),
            ),
            (
                default,
                turn("I will file a chargeback"),
                sensitive(Intent::Refund),
            ),
            (
                default,
                turn("Ich möchte eine Rückerstattung"),
                sensitive(Intent::Refund),
            ),
            (
                default,
                turn("Please cancel my subscription"),
                sensitive(Intent::Cancellation),
            ),
            (
                default,
                turn("I want to close my account"),
                sensitive(Intent::Cancellation),
            ),
            (
                default,
                turn("Je veux annuler ma commande"),
                sensitive(Intent::Cancellation),
            ),
            (
                default,
                turn("Please delete my account"),
                sensitive(Intent::AccountDeletion),
            ),
            (
                default,
                turn("Close my account and erase my data (GDPR)"),
                sensitive(Intent::AccountDeletion),
            ),
            (
                default,
                turn("I'd like to exercise my right to be forgotten"),
                sensitive(Intent::AccountDeletion),
            ),
            (
                default,
                turn("Bitte mein Konto löschen"),
                sensitive(Intent::AccountDeletion),
            ),
            (
                default,
                turn("My lawyer will contact you"),
                sensitive(Intent::Legal),
            ),
            (
                default,
                turn("I am going to sue you"),
                sensitive(Intent::Legal),
            ),
            (default, turn("See you in court"), sensitive(Intent::Legal)),
            (
                default,
                turn("My account was hacked"),
                sensitive(Intent::Security),
            ),
            (
                default,
                turn("There is an unauthorized charge on my card"),
                sensitive(Intent::Security),
            ),
            (
                default,
                turn("I got a phishing email from you"),
                sensitive(Intent::Security),
            ),
            (
                default,
                turn("Mi cuenta fue hackeada"),
                sensitive(Intent::Security),
            ),
            (
                default,
                turn("Hacked account, I want a refund"),
                sensitive(Intent::Security),
            ),
            (default, turn("What is your refund policy?"), Answer),
            (
                default,
                turn("What's your cancellation policy for my order?"),
                sensitive(Intent::Cancellation),
            ),
            // Precedence: a request for a human beats everything.
            (
                default,
                turn("I want a refund, let me talk to a human!!!"),
                escalate(HumanRequested),
            ),
            // Frustration.
            (default, turn("This is useless"), escalate(Frustration)),
            (
                default,
                turn("you're not helping at all"),
                escalate(Frustration),
            ),
            (default, turn("WHERE IS MY PARCEL"), escalate(Frustration)),
            (
                default,
                turn("Where is my parcel??? Hello???"),
                escalate(Frustration),
            ),
            (
                default,
                turn("What the hell, damn it"),
                escalate(Frustration),
            ),
            (default, turn("Where is my parcel???"), Answer),
            (default, turn("Is DHL or UPS used?"), Answer),
            (calm, turn("This is ridiculous"), Answer),
            // Repeated failure and low confidence.
            (
                default,
                unanswered("And what about gift cards?", Some(0.9), 2),
                escalate(RepeatedFailure),
            ),
            (
                default,
                unanswered("And what about gift cards?", Some(0.9), 1),
                Answer,
            ),
            (
                default,
                unanswered("And what about gift cards?", Some(0.2), 1),
                escalate(LowConfidence),
            ),
            (
                default,
                unanswered("And what about gift cards?", Some(f64::NAN), 0),
                escalate(LowConfidence),
            ),
            (
                default,
                unanswered("And what about gift cards?", None, 0),
                Answer,
            ),
            (
                default,
                TurnSignals {
                    answered: true,
                    ..unanswered("Gift cards?", Some(0.1), 5)
                },
                Answer,
            ),
            (
                strict,
                unanswered("And what about gift cards?", Some(0.5), 0),
                escalate(RepeatedFailure),
            ),
            (
                r#"{"escalation":{"min_confidence":0.6}}"#,
                unanswered("Gift cards?", Some(0.5), 0),
                escalate(LowConfidence),
            ),
            (
                r#"{"escalation":{"min_confidence":0}}"#,
                unanswered("Gift cards?", Some(0.0), 0),
                Answer,
            ),
            // Per-tenant lists and switches.
            (no_refund, turn("I want a refund for my order"), Answer),
            (
                no_refund,
                turn("Refund or cancel my subscription"),
                sensitive(Intent::Cancellation),
            ),
            (
                no_refund,
                turn("My account was hacked, refund me"),
                sensitive(Intent::Security),
            ),
            (
                r#"{"escalation":{"sensitive_intents":[]}}"#,
                turn("I am going to sue you"),
                Answer,
            ),
            (disabled, turn("Let me talk to a human"), Answer),
            (disabled, unanswered("??", Some(0.0), 9), Answer),
        ];
        assert!(cases.len() >= 40);
        for (settings, signals, expected) in cases {
            let policy = EscalationPolicy::from_settings(settings);
            assert_eq!(
                decide(&policy, &signals),
                expected,
                "{:?} under {settings}",
                signals.message
            );
        }
    }

    #[test]
    fn settings_override_defaults_one_by_one() {
        let d = EscalationPolicy::default();
        let cases = [
            ("{}", d.clone()),
            ("not json", d.clone()),
            (r#"{"escalation":null}"#, d.clone()),
            (
                r#"{"escalation":{"enabled":false,"frustration":false}}"#,
                EscalationPolicy {
                    enabled: false,
                    frustration: false,
                    ..d.clone()
                },
            ),
            (
                r#"{"escalation":{"min_confidence":0.5,"max_failed_turns":4}}"#,
                EscalationPolicy {
                    min_confidence: 0.5,
                    max_failed_turns: 4,
                    ..d.clone()
                },
            ),
            (
                r#"{"escalation":{"sensitive_intents":["legal","account_deletion"]}}"#,
                EscalationPolicy {
                    sensitive_intents: vec![Intent::Legal, Intent::AccountDeletion],
                    ..d.clone()
                },
            ),
            (r#"{"escalation":{"enabled":"no"}}"#, d.clone()),
            (r#"{"escalation":{"min_confidence":1.5}}"#, d.clone()),
            (r#"{"escalation":{"min_confidence":-0.1}}"#, d.clone()),
            (r#"{"escalation":{"max_failed_turns":-1}}"#, d.clone()),
            (r#"{"escalation":{"max_failed_turns":1000}}"#, d.clone()),
            (
                r#"{"escalation":{"sensitive_intents":["refund","refunds"]}}"#,
                d.clone(),
            ),
            (
                r#"{"escalation":{"sensitive_intents":"refund"}}"#,
                d.clone(),
            ),
            (r#"{"escalation":{"sensitive_intents":[1]}}"#, d.clone()),
        ];
        for (settings, expected) in cases {
            assert_eq!(
                EscalationPolicy::from_settings(settings),
                expected,
                "{settings}"
            );
        }
    }

    #[test]
    fn decisions_serialize_as_the_documented_action() {
        let cases = [
            (Decision::Answer, r#"{"action":"answer"}"#),
            (
                escalate(Reason::HumanRequested),
                r#"{"action":"escalate","reason":"human_requested"}"#,
            ),
            (
                escalate(Reason::Frustration),
                r#"{"action":"escalate","reason":"frustration"}"#,
            ),
            (
                escalate(Reason::RepeatedFailure),
                r#"{"action":"escalate","reason":"repeated_failure"}"#,
            ),
            (
                escalate(Reason::LowConfidence),
                r#"{"action":"escalate","reason":"low_confidence"}"#,
            ),
            (
                sensitive(Intent::AccountDeletion),
                r#"{"action":"escalate","reason":"sensitive_topic","intent":"account_deletion"}"#,
            ),
        ];
        for (decision, json) in cases {
            assert_eq!(serde_json::to_string(&decision).unwrap(), json);
            assert_eq!(serde_json::from_str::<Decision>(json).unwrap(), decision);
        }
        for intent in Intent::ALL {
            assert_eq!(
                serde_json::to_value(intent).unwrap(),
                serde_json::Value::from(intent.as_str())
            );
            assert_eq!(Intent::parse(intent.as_str()), Some(intent));
        }
        assert_eq!(Intent::parse("refunds"), None);
    }

    #[test]
    fn frustration_scores_add_up_from_separate_signals() {
        let cases = [
            ("Where is my order?", 0),
            ("Where is my order???", 1),
            ("Where is my order??? Hello?!?", 2),
            ("WHERE IS MY ORDER", 2),
            ("WHERE IS MY ORDER???", 3),
            ("UPS", 0),
            ("I use DHL and UPS", 0),
            ("this is useless and ridiculous", 4),
            ("C'est inutile", 2),
            ("Das ist lächerlich", 2),
        ];
        for (message, score) in cases {
            assert_eq!(frustration_score(message), score, "{message}");
        }
    }

    #[test]
    fn odd_input_never_panics() {
        let long = "Ä!".repeat(3000);
        for message in [
            "",
            " ",
            "!!!",
            "İSTANBUL İS",
            "\u{301}\u{301}",
            "' ' '",
            &long,
        ] {
            let policy = EscalationPolicy::default();
            let _ = decide(&policy, &turn(message));
            let _ = frustration_score(message);
        }
    }

    #[test]
    fn folding_removes_case_and_diacritics() {
        assert_eq!(fold("Heiße Grüße, À BIENTÔT’"), "heisse grusse, a bientot'");
        assert!(word_matches("unauthori?ed", "unauthorised"));
        assert!(word_matches("refund*", "refunds"));
        assert!(!word_matches("sue", "suede"));
    }

    #[test]
    fn strangers_in_the_account_are_a_security_matter() {
        for message in [
            "Someone logged into my account from another country and changed my password",
            "I think someone accessed my account last night",
        ] {
            assert_eq!(detect_intents(message), [Intent::Security], "{message}");
        }
        assert!(detect_intents("I logged into my account and changed my password").is_empty());
    }

    #[test]
    fn questions_for_information_and_other_trades_do_not_escalate() {
        let policy = EscalationPolicy::default();
        for message in [
            "Do I need a real estate agent?",
            "Should I hire a travel agent for the trip?",
            "Is there a Small Claims Court?",
            "How much is the fee to get a copy of the oral argument recording from the court?",
            "How do refunds for cancelled flights work?",
        ] {
            assert_eq!(
                decide(&policy, &turn(message)),
                Decision::Answer,
                "{message}"
            );
        }
        // The visitor's own case still goes to a person.
        for (message, intent) in [
            (
                "Can the landlord sue me if I do not pay rent?",
                Intent::Legal,
            ),
            ("How do I get my money back?", Intent::Refund),
            (
                "Cancel my Pro subscription right now.",
                Intent::Cancellation,
            ),
        ] {
            assert_eq!(
                decide(&policy, &turn(message)),
                sensitive(intent),
                "{message}"
            );
        }
        assert_eq!(
            decide(&policy, &turn("Can I talk to an agent?")),
            escalate(Reason::HumanRequested)
        );
    }
}
