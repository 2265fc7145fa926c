//! Human handoff, the pure part: tickets (status, priority, summary), a tenant's ticketing
//! webhooks, the requests each webhook format sends (our generic JSON, Zendesk's and
//! Freshdesk's Tickets APIs), signatures on outbound deliveries and their checks on
//! inbound webhooks, the retry schedule, and inbound events parsed per provider.
//!
//! `crates/edge::handoff` stores tickets and the outbox and sends what [`plan`] describes.

use std::fmt;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use crate::auth::constant_time_eq;
use crate::conversation::Author;
use crate::escalation::{Intent, Reason};
use crate::problem::{Problem, ProblemKind};

/// Version of the generic webhook format, in every generic body as `version`.
pub const GENERIC_VERSION: &str = "2026-12-01";
/// Header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` on every delivery
/// and on generic inbound webhooks.
pub const SIGNATURE_HEADER: &str = "x-support-signature";
/// Header carrying the event id on every delivery (receivers deduplicate by it).
pub const EVENT_ID_HEADER: &str = "x-support-event-id";
/// How old a signed inbound webhook may be, either way, in seconds.
pub const REPLAY_WINDOW_SECS: i64 = 300;
/// Deliveries of one event before it is dead-lettered, unless the tenant sets another.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;
/// Longest wait between two deliveries of one event.
pub const MAX_RETRY_DELAY_MS: i64 = 3_600_000;
/// Longest transcript kept on a ticket, in messages (the latest ones).
pub const TRANSCRIPT_MESSAGES: usize = 50;
/// Longest summary, in characters.
pub const SUMMARY_CHARS: usize = 400;
/// Longest ticketing-system comment accepted, in bytes.
pub const MAX_REPLY_BYTES: usize = 8 * 1024;
/// Longest agent reply accepted, in characters (openapi.yaml's `maxLength`, which counts
/// characters: a reply of that many accented letters is more than as many bytes).
pub const MAX_REPLY_CHARS: usize = 8 * 1024;

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// Waiting in the queue for an agent.
    Open,
    /// An agent has claimed it.
    Pending,
    Solved,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Open => "open",
            TicketStatus::Pending => "pending",
            TicketStatus::Solved => "solved",
        }
    }

    pub fn parse(s: &str) -> Option<TicketStatus> {
        [
            TicketStatus::Open,
            TicketStatus::Pending,
            TicketStatus::Solved,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// How urgent a ticket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    pub fn parse(s: &str) -> Option<Priority> {
        [
            Priority::Low,
            Priority::Normal,
            Priority::High,
            Priority::Urgent,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }

    /// Freshdesk's numbers: 1 low … 4 urgent.
    fn freshdesk(self) -> u8 {
        match self {
            Priority::Low => 1,
            Priority::Normal => 2,
            Priority::High => 3,
            Priority::Urgent => 4,
        }
    }
}

/// Why a conversation went to a person: the policy's reasons, or an agent's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketReason {
    HumanRequested,
    Frustration,
    RepeatedFailure,
    LowConfidence,
    SensitiveTopic,
    /// An agent took the conversation over.
    AgentInitiated,
}

impl TicketReason {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketReason::HumanRequested => "human_requested",
            TicketReason::Frustration => "frustration",
            TicketReason::RepeatedFailure => "repeated_failure",
            TicketReason::LowConfidence => "low_confidence",
            TicketReason::SensitiveTopic => "sensitive_topic",
            TicketReason::AgentInitiated => "agent_initiated",
        }
    }

    pub fn parse(s: &str) -> Option<TicketReason> {
        [
            TicketReason::HumanRequested,
            TicketReason::Frustration,
            TicketReason::RepeatedFailure,
            TicketReason::LowConfidence,
            TicketReason::SensitiveTopic,
            TicketReason::AgentInitiated,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

impl From<Reason> for TicketReason {
    fn from(reason: Reason) -> Self {
        match reason {
            Reason::HumanRequested => TicketReason::HumanRequested,
            Reason::Frustration => TicketReason::Frustration,
            Reason::RepeatedFailure => TicketReason::RepeatedFailure,
            Reason::LowConfidence => TicketReason::LowConfidence,
            Reason::SensitiveTopic => TicketReason::SensitiveTopic,
        }
    }
}

/// The priority a new ticket gets: security and legal topics are urgent; money, account
/// deletion and an upset visitor are high; everything else is normal.
pub fn priority_for(reason: TicketReason, intent: Option<Intent>) -> Priority {
    match (reason, intent) {
        (_, Some(Intent::Security | Intent::Legal)) => Priority::Urgent,
        (_, Some(Intent::Refund | Intent::Cancellation | Intent::AccountDeletion)) => {
            Priority::High
        }
        (TicketReason::Frustration | TicketReason::RepeatedFailure, None) => Priority::High,
        _ => Priority::Normal,
    }
}

/// One message of a ticket's transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptLine {
    pub author: Author,
    pub text: String,
    pub created_at: i64,
}

fn author_label(author: Author) -> &'static str {
    match author {
        Author::Visitor => "Visitor",
        Author::Bot => "Bot",
        Author::Agent => "Agent",
        Author::System => "System",
    }
}

/// A short summary for the agent: why, and what the visitor last said.
pub fn summary(reason: TicketReason, intent: Option<Intent>, lines: &[TranscriptLine]) -> String {
    let why = match (reason, intent) {
        (TicketReason::HumanRequested, _) => "The visitor asked for a person.".to_string(),
        (TicketReason::Frustration, _) => "The visitor seems frustrated.".to_string(),
        (TicketReason::RepeatedFailure, _) => {
            "The bot could not answer several times in a row.".to_string()
        }
        (TicketReason::LowConfidence, _) => {
            "The knowledge base does not cover the question.".to_string()
        }
        (TicketReason::SensitiveTopic, Some(intent)) => {
            format!("Sensitive topic: {}.", intent.as_str().replace('_', " "))
        }
        (TicketReason::SensitiveTopic, None) => "Sensitive topic.".to_string(),
        (TicketReason::AgentInitiated, _) => "An agent took the conversation over.".to_string(),
    };
    let asked: Vec<&str> = lines
        .iter()
        .rev()
        .filter(|l| l.author == Author::Visitor)
        .take(2)
        .map(|l| l.text.as_str())
        .collect();
    let mut text = why;
    if !asked.is_empty() {
        let quoted: Vec<String> = asked
            .iter()
            .rev()
            .map(|t| format!("“{}”", one_line(t)))
            .collect();
        text.push_str(" Last from the visitor: ");
        text.push_str(&quoted.join(" "));
    }
    truncate_chars(&text, SUMMARY_CHARS)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The transcript as plain text, one message a paragraph.
pub fn transcript_text(lines: &[TranscriptLine]) -> String {
    lines
        .iter()
        .map(|l| format!("{}: {}", author_label(l.author), l.text))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// A ticket's subject line.
pub fn subject(reason: TicketReason, lines: &[TranscriptLine]) -> String {
    let first = lines
        .iter()
        .rev()
        .find(|l| l.author == Author::Visitor)
        .map(|l| one_line(&l.text))
        .unwrap_or_default();
    let prefix = match reason {
        TicketReason::HumanRequested => "Chat: visitor asked for a person",
        TicketReason::SensitiveTopic => "Chat: sensitive topic",
        TicketReason::AgentInitiated => "Chat: taken over by an agent",
        _ => "Chat: needs a person",
    };
    if first.is_empty() {
        prefix.to_string()
    } else {
        truncate_chars(&format!("{prefix} — {first}"), 150)
    }
}

// ---------------------------------------------------------------------------------------
// Webhook configuration
// ---------------------------------------------------------------------------------------

/// Which request shapes a webhook speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Generic,
    Zendesk,
    Freshdesk,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Generic => "generic",
            Provider::Zendesk => "zendesk",
            Provider::Freshdesk => "freshdesk",
        }
    }

    pub fn parse(s: &str) -> Option<Provider> {
        [Provider::Generic, Provider::Zendesk, Provider::Freshdesk]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// A credential from the tenant's settings: its `Debug` never shows it.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: &str) -> Secret {
        Secret(s.to_string())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "Secret(unset)"
        } else {
            "Secret(..)"
        })
    }
}

/// One outbound webhook of a tenant (`settings.handoff.webhooks[]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Unique among the tenant's webhooks; names the outbox target.
    pub name: String,
    pub format: Provider,
    /// generic: the URL events are POSTed to; zendesk/freshdesk: the account's base URL
    /// (`https://acme.zendesk.com`, `https://acme.freshdesk.com`).
    pub url: String,
    /// Signs every delivery (`x-support-signature`).
    pub secret: Secret,
    /// Zendesk: the agent's email for API-token authentication (`{email}/token:{api_token}`).
    #[serde(default)]
    pub email: Option<String>,
    /// Zendesk: the API token.
    #[serde(default)]
    pub api_token: Option<Secret>,
    /// Freshdesk: the API key (basic auth `{api_key}:X`).
    #[serde(default)]
    pub api_key: Option<Secret>,
}

/// Secrets that authenticate inbound webhooks per provider (`settings.handoff.inbound`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundSecrets {
    /// Signs generic inbound webhooks (our `x-support-signature` scheme).
    #[serde(default)]
    pub generic: Option<Secret>,
    /// Zendesk's webhook signing secret (`X-Zendesk-Webhook-Signature`).
    #[serde(default)]
    pub zendesk: Option<Secret>,
    /// The value Freshdesk's automation rule sends in `X-Freshdesk-Webhook-Secret`.
    #[serde(default)]
    pub freshdesk: Option<Secret>,
    /// Zendesk: comments by this user (the API user the outbound webhook posts as) are not
    /// agent replies and are ignored, so visitor messages do not echo back into the chat.
    #[serde(default)]
    pub zendesk_api_user_id: Option<i64>,
}

impl InboundSecrets {
    pub fn for_provider(&self, provider: Provider) -> Option<&Secret> {
        match provider {
            Provider::Generic => self.generic.as_ref(),
            Provider::Zendesk => self.zendesk.as_ref(),
            Provider::Freshdesk => self.freshdesk.as_ref(),
        }
        .filter(|s| !s.is_empty())
    }
}

/// A tenant's handoff settings (`settings.handoff`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffSettings {
    #[serde(default)]
    pub webhooks: Vec<Webhook>,
    #[serde(default)]
    pub inbound: InboundSecrets,
    /// Deliveries of one event before it is dead-lettered.
    #[serde(default)]
    pub max_attempts: Option<u32>,
}

impl HandoffSettings {
    /// The `handoff` object of a tenant's settings JSON; none configured is the default.
    pub fn from_settings(settings_json: &str) -> Result<HandoffSettings, String> {
        let settings: Json = serde_json::from_str(settings_json)
            .map_err(|e| format!("settings are not JSON: {e}"))?;
        let Some(handoff) = settings.get("handoff") else {
            return Ok(HandoffSettings::default());
        };
        let parsed: HandoffSettings = serde_json::from_value(handoff.clone())
            .map_err(|e| format!("settings.handoff: {e}"))?;
        parsed.validate()?;
        Ok(parsed)
    }

    fn validate(&self) -> Result<(), String> {
        let mut names = std::collections::HashSet::new();
        for hook in &self.webhooks {
            if hook.name.is_empty() || hook.name.len() > 64 {
                return Err("settings.handoff.webhooks: a name is empty or too long".into());
            }
            if !names.insert(hook.name.as_str()) {
                return Err(format!(
                    "settings.handoff.webhooks: the name {:?} is used twice",
                    hook.name
                ));
            }
            if !(hook.url.starts_with("http://") || hook.url.starts_with("https://")) {
                return Err(format!(
                    "settings.handoff.webhooks[{}]: url must be http(s)",
                    hook.name
                ));
            }
            if hook.secret.is_empty() {
                return Err(format!(
                    "settings.handoff.webhooks[{}]: secret is empty",
                    hook.name
                ));
            }
            let missing = match hook.format {
                Provider::Generic => None,
                Provider::Zendesk if hook.email.is_none() => Some("email"),
                Provider::Zendesk if hook.api_token.is_none() => Some("api_token"),
                Provider::Freshdesk if hook.api_key.is_none() => Some("api_key"),
                _ => None,
            };
            if let Some(field) = missing {
                return Err(format!(
                    "settings.handoff.webhooks[{}]: {} needs {field}",
                    hook.name,
                    hook.format.as_str()
                ));
            }
        }
        if self.max_attempts == Some(0) {
            return Err("settings.handoff.max_attempts must be at least 1".into());
        }
        Ok(())
    }

    /// Refuses a webhook whose URL is not public (loopback, link-local, private, local
    /// names; see [`crate::destination`]). Checked when settings are saved and again before
    /// each delivery, unless the operator opted into private hosts.
    pub fn check_destinations(&self) -> Result<(), String> {
        for hook in &self.webhooks {
            crate::destination::check_public_url(&hook.url)
                .map_err(|e| format!("settings.handoff.webhooks[{}]: {e}", hook.name))?;
        }
        Ok(())
    }

    pub fn webhook(&self, name: &str) -> Option<&Webhook> {
        self.webhooks.iter().find(|w| w.name == name)
    }

    pub fn max_attempts(&self) -> u32 {
        self.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS)
    }
}

// ---------------------------------------------------------------------------------------
// Events and what each format sends
// ---------------------------------------------------------------------------------------

/// What happened to a ticket, as the outbox records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "ticket.opened")]
    TicketOpened,
    /// The visitor wrote while a person has the conversation.
    #[serde(rename = "ticket.visitor_message")]
    VisitorMessage,
    #[serde(rename = "ticket.resolved")]
    TicketResolved,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::TicketOpened => "ticket.opened",
            EventKind::VisitorMessage => "ticket.visitor_message",
            EventKind::TicketResolved => "ticket.resolved",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        [
            EventKind::TicketOpened,
            EventKind::VisitorMessage,
            EventKind::TicketResolved,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// The ticket as an event carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketSnapshot {
    pub id: String,
    pub session_id: String,
    pub status: TicketStatus,
    pub reason: TicketReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<Intent>,
    pub priority: Priority,
    pub subject: String,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
}

/// The visitor, as far as the ticketing system needs to know them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Requester {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// One event of the outbox, in our generic JSON format (what generic webhooks receive, and
/// what the Zendesk and Freshdesk requests are made from).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketEvent {
    pub version: String,
    /// Unique per event and webhook; receivers deduplicate by it.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub tenant: String,
    pub created_at: i64,
    pub ticket: TicketSnapshot,
    pub requester: Requester,
    /// `ticket.opened`: the conversation so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<Vec<TranscriptLine>>,
    /// `ticket.visitor_message`: what the visitor wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<TranscriptLine>,
}

/// The id of the event `kind` of `ticket` for webhook `target`, stable across retries.
pub fn event_id(ticket_id: &str, kind: EventKind, discriminator: &str, target: &str) -> String {
    let digest = Sha256::digest(format!(
        "{ticket_id}\n{}\n{discriminator}\n{target}",
        kind.as_str()
    ));
    format!("evt_{}", hex::encode(&digest[..12]))
}

/// The HTTP request of one delivery, before signing.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub method: &'static str,
    /// The full URL.
    pub url: String,
    pub body: Vec<u8>,
    /// `user:password` for basic authentication.
    pub basic_auth: Option<(String, Secret)>,
}

/// What to do with an event for a webhook.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Send(Delivery),
    /// The ticketing system's id of this ticket is not known yet (its creation has not been
    /// delivered): try again after it.
    AwaitTicket,
}

fn join_url(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

fn html_paragraphs(text: &str) -> String {
    text.split("\n\n")
        .map(|p| format!("<p>{}</p>", escape_html(p).replace('\n', "<br>")))
        .collect()
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn zendesk_priority(p: Priority) -> &'static str {
    p.as_str()
}

/// The request `event` makes for `webhook`; `external_id` is the ticketing system's id of
/// the ticket once its creation was delivered.
pub fn plan(webhook: &Webhook, event: &TicketEvent, external_id: Option<&str>) -> Plan {
    let json_body = |v: Json| serde_json::to_vec(&v).unwrap_or_default();
    let ticket = &event.ticket;
    let description = || {
        let transcript = event.transcript.as_deref().unwrap_or_default();
        format!(
            "{}\n\nTranscript:\n\n{}\n\n(Session {}, ticket {})",
            ticket.summary,
            transcript_text(transcript),
            ticket.session_id,
            ticket.id
        )
    };
    let message_text = || {
        event
            .message
            .as_ref()
            .map(|m| m.text.clone())
            .unwrap_or_default()
    };
    match webhook.format {
        Provider::Generic => Plan::Send(Delivery {
            method: "POST",
            url: webhook.url.clone(),
            body: serde_json::to_vec(event).unwrap_or_default(),
            basic_auth: None,
        }),
        Provider::Zendesk => {
            let auth = Some((
                format!("{}/token", webhook.email.clone().unwrap_or_default()),
                webhook.api_token.clone().unwrap_or_default(),
            ));
            if event.kind == EventKind::TicketOpened {
                let mut requester = json!({ "name": event.requester.name.clone()
                    .unwrap_or_else(|| "Chat visitor".into()) });
                if let Some(email) = &event.requester.email {
                    requester["email"] = json!(email);
                }
                return Plan::Send(Delivery {
                    method: "POST",
                    url: join_url(&webhook.url, "/api/v2/tickets.json"),
                    body: json_body(json!({ "ticket": {
                        "subject": ticket.subject,
                        "comment": { "body": description(), "public": false },
                        "priority": zendesk_priority(ticket.priority),
                        "status": "new",
                        "external_id": ticket.id,
                        "tags": ["support-agent", ticket.reason.as_str()],
                        "requester": requester,
                    }})),
                    basic_auth: auth,
                });
            }
            let Some(external) = external_id else {
                return Plan::AwaitTicket;
            };
            let url = join_url(&webhook.url, &format!("/api/v2/tickets/{external}.json"));
            let body = if event.kind == EventKind::VisitorMessage {
                json!({ "ticket": { "comment": { "body": message_text(), "public": true } } })
            } else {
                json!({ "ticket": { "status": "solved", "comment": {
                    "body": format!("Resolved in the chat ({}).",
                        ticket.resolution.as_deref().unwrap_or("resolved")),
                    "public": false } } })
            };
            Plan::Send(Delivery {
                method: "PUT",
                url,
                body: json_body(body),
                basic_auth: auth,
            })
        }
        Provider::Freshdesk => {
            let auth = Some((
                webhook
                    .api_key
                    .clone()
                    .unwrap_or_default()
                    .expose()
                    .to_string(),
                Secret::new("X"),
            ));
            if event.kind == EventKind::TicketOpened {
                let mut body = json!({
                    "subject": ticket.subject,
                    "description": html_paragraphs(&description()),
                    "priority": ticket.priority.freshdesk(),
                    "status": 2,
                    "source": 7,
                    "tags": ["support-agent", ticket.reason.as_str()],
                    "name": event.requester.name.clone().unwrap_or_else(|| "Chat visitor".into()),
                });
                match &event.requester.email {
                    Some(email) => body["email"] = json!(email),
                    None => body["unique_external_id"] = json!(event.requester.id),
                }
                return Plan::Send(Delivery {
                    method: "POST",
                    url: join_url(&webhook.url, "/api/v2/tickets"),
                    body: json_body(body),
                    basic_auth: auth,
                });
            }
            let Some(external) = external_id else {
                return Plan::AwaitTicket;
            };
            if event.kind == EventKind::VisitorMessage {
                Plan::Send(Delivery {
                    method: "POST",
                    url: join_url(&webhook.url, &format!("/api/v2/tickets/{external}/notes")),
                    body: json_body(json!({
                        "body": html_paragraphs(&message_text()),
                        "private": false,
                        "incoming": true,
                    })),
                    basic_auth: auth,
                })
            } else {
                Plan::Send(Delivery {
                    method: "PUT",
                    url: join_url(&webhook.url, &format!("/api/v2/tickets/{external}")),
                    // 4: resolved.
                    body: json_body(json!({ "status": 4 })),
                    basic_auth: auth,
                })
            }
        }
    }
}

/// The ticketing system's id of a ticket, from its answer to the creating request.
pub fn created_ticket_id(provider: Provider, response: &[u8]) -> Option<String> {
    let body: Json = serde_json::from_slice(response).ok()?;
    let id = match provider {
        Provider::Generic => return None,
        Provider::Zendesk => body.get("ticket")?.get("id")?,
        Provider::Freshdesk => body.get("id")?,
    };
    match id {
        Json::Number(n) => Some(n.to_string()),
        Json::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// Signatures
// ---------------------------------------------------------------------------------------

fn hmac_sha256(secret: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// The `x-support-signature` value for `body` sent at `timestamp` (Unix seconds):
/// `t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
pub fn sign(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let mac = hmac_sha256(secret.expose().as_bytes(), &[t.as_bytes(), b".", body]);
    format!("t={t},v1={}", hex::encode(mac))
}

/// Why an inbound webhook's authentication failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    Missing,
    Malformed,
    Mismatch,
    /// Outside the replay window.
    Stale,
}

impl SignatureError {
    pub fn detail(self) -> &'static str {
        match self {
            SignatureError::Missing => "the webhook signature is missing",
            SignatureError::Malformed => "the webhook signature is malformed",
            SignatureError::Mismatch => "the webhook signature does not match",
            SignatureError::Stale => "the webhook is too old or from the future; not replayed",
        }
    }

    pub fn problem(self) -> Problem {
        Problem::new(ProblemKind::Unauthorized, self.detail())
    }
}

fn within_window(timestamp: i64, now_secs: i64) -> Result<(), SignatureError> {
    // abs_diff: a timestamp near i64::MIN must not overflow the subtraction.
    if now_secs.abs_diff(timestamp) > REPLAY_WINDOW_SECS.unsigned_abs() {
        Err(SignatureError::Stale)
    } else {
        Ok(())
    }
}

/// Checks an `x-support-signature` header (several `v1=` values are allowed, for secret
/// rotation) and the replay window.
pub fn verify(
    secret: &Secret,
    header: Option<&str>,
    body: &[u8],
    now_secs: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => {
                signatures.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?)
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let t = timestamp.to_string();
    let expected = hmac_sha256(secret.expose().as_bytes(), &[t.as_bytes(), b".", body]);
    if !signatures.iter().any(|s| constant_time_eq(s, &expected)) {
        return Err(SignatureError::Mismatch);
    }
    within_window(timestamp, now_secs)
}

/// Checks Zendesk's webhook signature: `X-Zendesk-Webhook-Signature` is the base64
/// HMAC-SHA256 of `X-Zendesk-Webhook-Signature-Timestamp` (ISO 8601, UTC) followed by the
/// body.
pub fn verify_zendesk(
    secret: &Secret,
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    now_secs: i64,
) -> Result<(), SignatureError> {
    use base64::Engine as _;
    let (signature, timestamp) = match (signature, timestamp) {
        (Some(s), Some(t)) => (s, t),
        _ => return Err(SignatureError::Missing),
    };
    let given = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| SignatureError::Malformed)?;
    let when = parse_rfc3339_utc(timestamp.trim()).ok_or(SignatureError::Malformed)?;
    let expected = hmac_sha256(
        secret.expose().as_bytes(),
        &[timestamp.trim().as_bytes(), body],
    );
    if !constant_time_eq(&given, &expected) {
        return Err(SignatureError::Mismatch);
    }
    within_window(when, now_secs)
}

/// Checks a shared secret sent as a header (Freshdesk's automation rules can send custom
/// headers but cannot sign).
pub fn verify_shared_secret(secret: &Secret, given: Option<&str>) -> Result<(), SignatureError> {
    let given = given.ok_or(SignatureError::Missing)?;
    if constant_time_eq(given.trim().as_bytes(), secret.expose().as_bytes()) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fff](Z|+00:00)` as Unix seconds; other offsets, years outside
/// 0000-9999 (RFC 3339's four digits, which also keeps the arithmetic below from
/// overflowing) and negative fields are refused.
pub fn parse_rfc3339_utc(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z').or_else(|| s.strip_suffix("+00:00"))?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.split('.').next()?;
    let mut t = time.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, min, sec) = (t.next()??, t.next()??, t.next()??);
    if !(0..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
        || !(0..=23).contains(&h)
        || !(0..=59).contains(&min)
        || !(0..=60).contains(&sec)
    {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + min * 60 + sec)
}

/// The wait before the next delivery after `attempts` failed ones: `base_ms` doubled per
/// failure, at most [`MAX_RETRY_DELAY_MS`].
pub fn retry_delay_ms(attempts: u32, base_ms: i64) -> i64 {
    let doublings = attempts.saturating_sub(1).min(30);
    base_ms
        .max(0)
        .saturating_mul(1i64 << doublings)
        .min(MAX_RETRY_DELAY_MS)
}

// ---------------------------------------------------------------------------------------
// Inbound webhooks
// ---------------------------------------------------------------------------------------

/// Which ticket an inbound event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketRef {
    /// Our ticket id (generic webhooks).
    Ours(String),
    /// The provider's ticket id.
    External(String),
}

/// What an inbound event does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundAction {
    /// An agent's comment: a human message in the chat.
    Comment {
        body: String,
        author: Option<String>,
    },
    /// The ticket was solved: the session is resolved.
    Solved,
    /// Nothing for us (another event type, a private note, our own echo).
    Ignore,
}

/// An inbound webhook event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub event_id: String,
    pub ticket: TicketRef,
    pub action: InboundAction,
}

fn bad(detail: impl Into<String>) -> Problem {
    Problem::new(ProblemKind::BadRequest, detail)
}

fn id_string(v: Option<&Json>) -> Option<String> {
    match v? {
        Json::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn comment(body: Option<&str>, author: Option<String>) -> Result<InboundAction, Problem> {
    let body = body.map(str::trim).unwrap_or_default();
    if body.is_empty() {
        return Ok(InboundAction::Ignore);
    }
    if body.len() > MAX_REPLY_BYTES {
        return Err(Problem::new(
            ProblemKind::PayloadTooLarge,
            format!("the comment is longer than {MAX_REPLY_BYTES} bytes"),
        ));
    }
    Ok(InboundAction::Comment {
        body: body.to_string(),
        author,
    })
}

/// Parses an inbound webhook body of `provider` (already authenticated).
///
/// - generic: `{"id", "type": "ticket.comment"|"ticket.solved", "ticket_id", "comment":
///   {"body", "author"}}`
/// - zendesk (event-subscription webhooks): `{"id", "type":
///   "zen:event-type:ticket.comment_added"|"zen:event-type:ticket.status_changed",
///   "detail": {"id": ticket id}, "event": {"comment": {"body", "is_public", "author":
///   {"id", "name"}}} | {"current": "SOLVED"}}`
/// - freshdesk (an automation rule's JSON): `{"freshdesk_webhook": {"ticket_id",
///   "ticket_status", "ticket_latest_public_comment", "ticket_agent_name", "event_id"?}}`;
///   without an `event_id` the body's hash is the id.
pub fn parse_inbound(
    provider: Provider,
    body: &[u8],
    ignore_author: Option<i64>,
) -> Result<Inbound, Problem> {
    let json: Json =
        serde_json::from_slice(body).map_err(|_| bad("the webhook body is not JSON"))?;
    match provider {
        Provider::Generic => {
            let event_id = id_string(json.get("id")).ok_or_else(|| bad("id is missing"))?;
            let ticket =
                id_string(json.get("ticket_id")).ok_or_else(|| bad("ticket_id is missing"))?;
            let action = match json.get("type").and_then(Json::as_str) {
                Some("ticket.comment") => {
                    let c = json.get("comment");
                    comment(
                        c.and_then(|c| c.get("body")).and_then(Json::as_str),
                        c.and_then(|c| c.get("author"))
                            .and_then(Json::as_str)
                            .map(str::to_string),
                    )?
                }
                Some("ticket.solved") => InboundAction::Solved,
                Some(_) => InboundAction::Ignore,
                None => return Err(bad("type is missing")),
            };
            Ok(Inbound {
                event_id,
                ticket: TicketRef::Ours(ticket),
                action,
            })
        }
        Provider::Zendesk => {
            let event_id = id_string(json.get("id")).ok_or_else(|| bad("id is missing"))?;
            let ticket = id_string(json.get("detail").and_then(|d| d.get("id")))
                .ok_or_else(|| bad("detail.id is missing"))?;
            let event = json.get("event");
            let action = match json.get("type").and_then(Json::as_str) {
                Some("zen:event-type:ticket.comment_added") => {
                    let c = event.and_then(|e| e.get("comment"));
                    let public = c
                        .and_then(|c| c.get("is_public"))
                        .and_then(Json::as_bool)
                        .unwrap_or(true);
                    let author = c.and_then(|c| c.get("author"));
                    let author_id = author
                        .and_then(|a| a.get("id"))
                        .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()));
                    if !public || (ignore_author.is_some() && author_id == ignore_author) {
                        InboundAction::Ignore
                    } else {
                        comment(
                            c.and_then(|c| c.get("body")).and_then(Json::as_str),
                            author
                                .and_then(|a| a.get("name"))
                                .and_then(Json::as_str)
                                .map(str::to_string),
                        )?
                    }
                }
                Some("zen:event-type:ticket.status_changed") => {
                    let current = event
                        .and_then(|e| e.get("current"))
                        .and_then(Json::as_str)
                        .unwrap_or_default();
                    if current.eq_ignore_ascii_case("solved")
                        || current.eq_ignore_ascii_case("closed")
                    {
                        InboundAction::Solved
                    } else {
                        InboundAction::Ignore
                    }
                }
                Some(_) => InboundAction::Ignore,
                None => return Err(bad("type is missing")),
            };
            Ok(Inbound {
                event_id,
                ticket: TicketRef::External(ticket),
                action,
            })
        }
        Provider::Freshdesk => {
            let hook = json
                .get("freshdesk_webhook")
                .ok_or_else(|| bad("freshdesk_webhook is missing"))?;
            let ticket =
                id_string(hook.get("ticket_id")).ok_or_else(|| bad("ticket_id is missing"))?;
            let event_id = id_string(hook.get("event_id"))
                .unwrap_or_else(|| format!("sha256:{}", hex::encode(Sha256::digest(body))));
            let status = hook
                .get("ticket_status")
                .and_then(Json::as_str)
                .unwrap_or_default();
            let action = if status.eq_ignore_ascii_case("resolved")
                || status.eq_ignore_ascii_case("closed")
            {
                InboundAction::Solved
            } else {
                comment(
                    hook.get("ticket_latest_public_comment")
                        .and_then(Json::as_str),
                    hook.get("ticket_agent_name")
                        .and_then(Json::as_str)
                        .map(str::to_string),
                )?
            };
            Ok(Inbound {
                event_id,
                ticket: TicketRef::External(ticket),
                action,
            })
        }
    }
}

/// The body of `POST /api/sessions/{id}/escalate` (optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalateRequest {
    /// Agents may set it; visitors' escalations are normal unless the policy says more.
    #[serde(default)]
    pub priority: Option<String>,
    /// A note for the agent (visitors: what they need help with).
    #[serde(default)]
    pub note: Option<String>,
}

/// The body of an agent's reply.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentReply {
    pub text: String,
}

/// A valid agent reply's text.
pub fn validate_reply(reply: AgentReply) -> Result<String, Problem> {
    let text = reply.text.trim();
    if text.is_empty() {
        return Err(Problem::new(ProblemKind::Unprocessable, "text is empty"));
    }
    if text.chars().count() > MAX_REPLY_CHARS {
        return Err(Problem::new(
            ProblemKind::PayloadTooLarge,
            format!("text is longer than {MAX_REPLY_CHARS} characters"),
        ));
    }
    Ok(text.to_string())
}

/// The query's only parameter `name`, read by `parse` (`default` when absent); any other
/// parameter or an unreadable value is a 400 saying `expected`.
fn one_param<T>(
    query: &str,
    name: &str,
    parse: fn(&str) -> Option<T>,
    default: T,
    expected: &str,
) -> Result<T, Problem> {
    let mut value = default;
    for (key, raw) in query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
    {
        if key != name {
            return Err(bad(format!("unknown query parameter {key:?}")));
        }
        value = parse(raw).ok_or_else(|| bad(expected))?;
    }
    Ok(value)
}

/// The `status` filter of the agent queue (`open` when absent).
pub fn parse_queue_query(query: &str) -> Result<TicketStatus, Problem> {
    one_param(
        query,
        "status",
        TicketStatus::parse,
        TicketStatus::Open,
        "status must be one of open, pending, solved",
    )
}

/// Outbox states an admin may list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    Pending,
    Delivered,
    Dead,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Delivered => "delivered",
            OutboxState::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<OutboxState> {
        [
            OutboxState::Pending,
            OutboxState::Delivered,
            OutboxState::Dead,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// The `state` filter of the outbox listing (`dead` when absent).
pub fn parse_outbox_query(query: &str) -> Result<OutboxState, Problem> {
    one_param(
        query,
        "state",
        OutboxState::parse,
        OutboxState::Dead,
        "state must be one of pending, delivered, dead",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(author: Author, text: &str) -> TranscriptLine {
        TranscriptLine {
            author,
            text: text.into(),
            created_at: 1,
        }
    }

    fn event(kind: EventKind) -> TicketEvent {
        TicketEvent {
            version: GENERIC_VERSION.into(),
            id: "evt_1".into(),
            kind,
            tenant: "acme".into(),
            created_at: 1_700_000_000_000,
            ticket: TicketSnapshot {
                id: "t1".into(),
                session_id: "s1".into(),
                status: TicketStatus::Open,
                reason: TicketReason::HumanRequested,
                intent: None,
                priority: Priority::Normal,
                subject: "Chat: visitor asked for a person".into(),
                summary: "The visitor asked for a person.".into(),
                resolution: None,
            },
            requester: Requester {
                id: "v1".into(),
                name: None,
                email: None,
            },
            transcript: Some(vec![line(Author::Visitor, "I want a <person>")]),
            message: (kind == EventKind::VisitorMessage)
                .then(|| line(Author::Visitor, "still there?")),
        }
    }

    fn hook(format: Provider) -> Webhook {
        Webhook {
            name: "desk".into(),
            format,
            url: "https://acme.example/".into(),
            secret: Secret::new("s3cret"),
            email: Some("bot@acme.example".into()),
            api_token: Some(Secret::new("tok")),
            api_key: Some(Secret::new("key")),
        }
    }

    #[test]
    fn priorities_follow_the_topic_and_the_mood() {
        assert_eq!(
            priority_for(TicketReason::SensitiveTopic, Some(Intent::Security)),
            Priority::Urgent
        );
        assert_eq!(
            priority_for(TicketReason::SensitiveTopic, Some(Intent::Refund)),
            Priority::High
        );
        assert_eq!(
            priority_for(TicketReason::Frustration, None),
            Priority::High
        );
        assert_eq!(
            priority_for(TicketReason::HumanRequested, None),
            Priority::Normal
        );
    }

    #[test]
    fn summary_says_why_and_quotes_the_last_visitor_messages() {
        let lines = [
            line(Author::Visitor, "where is my parcel"),
            line(Author::Bot, "Standard delivery takes 3 to 5 days."),
            line(Author::Visitor, "I want to talk\n to a person"),
        ];
        let s = summary(TicketReason::HumanRequested, None, &lines);
        assert_eq!(
            s,
            "The visitor asked for a person. Last from the visitor: “where is my parcel” “I want to talk to a person”"
        );
        let long = [line(Author::Visitor, &"x".repeat(2000))];
        assert_eq!(
            summary(TicketReason::LowConfidence, None, &long)
                .chars()
                .count(),
            SUMMARY_CHARS
        );
        assert!(
            summary(
                TicketReason::SensitiveTopic,
                Some(Intent::AccountDeletion),
                &[]
            )
            .contains("account deletion")
        );
        assert_eq!(
            transcript_text(&lines[..2]),
            "Visitor: where is my parcel\n\nBot: Standard delivery takes 3 to 5 days."
        );
    }

    #[test]
    fn settings_parse_validate_and_hide_secrets() {
        let s = HandoffSettings::from_settings(
            r#"{"handoff":{"webhooks":[{"name":"zd","format":"zendesk","url":"https://a.zendesk.com",
            "secret":"sig-1","email":"a@b.c","api_token":"tok-2"}],"inbound":{"zendesk":"zs-3"},"max_attempts":3}}"#,
        )
        .unwrap();
        assert_eq!(s.webhooks[0].format, Provider::Zendesk);
        assert_eq!(s.max_attempts(), 3);
        assert_eq!(
            s.inbound.for_provider(Provider::Zendesk).unwrap().expose(),
            "zs-3"
        );
        assert!(s.inbound.for_provider(Provider::Generic).is_none());
        let shown = format!("{s:?}");
        for secret in ["sig-1", "tok-2", "zs-3"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert_eq!(
            HandoffSettings::from_settings("{}").unwrap(),
            HandoffSettings::default()
        );
        for bad in [
            r#"{"handoff":{"webhooks":[{"name":"a","format":"zendesk","url":"https://x","secret":"s"}]}}"#,
            r#"{"handoff":{"webhooks":[{"name":"a","format":"freshdesk","url":"https://x","secret":"s"}]}}"#,
            r#"{"handoff":{"webhooks":[{"name":"a","format":"generic","url":"ftp://x","secret":"s"}]}}"#,
            r#"{"handoff":{"webhooks":[{"name":"a","format":"generic","url":"https://x","secret":""}]}}"#,
            r#"{"handoff":{"webhooks":[{"name":"a","format":"generic","url":"https://x","secret":"s"},
                {"name":"a","format":"generic","url":"https://y","secret":"s"}]}}"#,
            r#"{"handoff":{"webhooks":[{"name":"a","format":"jira","url":"https://x","secret":"s"}]}}"#,
            r#"{"handoff":{"max_attempts":0}}"#,
            r#"{"handoff":{"typo":1}}"#,
        ] {
            assert!(HandoffSettings::from_settings(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn webhooks_to_private_or_local_hosts_fail_the_destination_check() {
        let with_url = |url: &str| {
            HandoffSettings::from_settings(
                &json!({"handoff":{"webhooks":[
                    {"name":"ok","format":"generic","url":"https://hooks.example.com/x","secret":"s"},
                    {"name":"bad","format":"generic","url":url,"secret":"s"}]}})
                .to_string(),
            )
            .unwrap()
        };
        assert_eq!(
            with_url("https://acme.example.org/").check_destinations(),
            Ok(())
        );
        for url in [
            "http://127.0.0.1:9/",
            "http://[::1]/",
            "http://169.254.169.254/",
            "http://localhost/",
        ] {
            let err = with_url(url).check_destinations().unwrap_err();
            assert!(err.contains("webhooks[bad]"), "{url}: {err}");
        }
    }

    #[test]
    fn generic_sends_the_event_itself() {
        let Plan::Send(d) = plan(
            &hook(Provider::Generic),
            &event(EventKind::TicketOpened),
            None,
        ) else {
            panic!()
        };
        assert_eq!(
            (d.method, d.url.as_str()),
            ("POST", "https://acme.example/")
        );
        let body: Json = serde_json::from_slice(&d.body).unwrap();
        assert_eq!(body["type"], "ticket.opened");
        assert_eq!(body["version"], GENERIC_VERSION);
        assert_eq!(body["ticket"]["reason"], "human_requested");
        assert!(d.basic_auth.is_none());
    }

    #[test]
    fn zendesk_creates_then_comments_then_solves() {
        let zd = hook(Provider::Zendesk);
        let Plan::Send(create) = plan(&zd, &event(EventKind::TicketOpened), None) else {
            panic!()
        };
        assert_eq!(create.url, "https://acme.example/api/v2/tickets.json");
        let body: Json = serde_json::from_slice(&create.body).unwrap();
        assert_eq!(body["ticket"]["priority"], "normal");
        assert_eq!(body["ticket"]["external_id"], "t1");
        assert!(
            body["ticket"]["comment"]["body"]
                .as_str()
                .unwrap()
                .contains("Visitor: I want a <person>")
        );
        let (user, pass) = create.basic_auth.unwrap();
        assert_eq!(
            (user.as_str(), pass.expose()),
            ("bot@acme.example/token", "tok")
        );
        assert_eq!(
            plan(&zd, &event(EventKind::VisitorMessage), None),
            Plan::AwaitTicket
        );
        let Plan::Send(comment) = plan(&zd, &event(EventKind::VisitorMessage), Some("42")) else {
            panic!()
        };
        assert_eq!(
            (comment.method, comment.url.as_str()),
            ("PUT", "https://acme.example/api/v2/tickets/42.json")
        );
        let body: Json = serde_json::from_slice(&comment.body).unwrap();
        assert_eq!(body["ticket"]["comment"]["body"], "still there?");
        let Plan::Send(solve) = plan(&zd, &event(EventKind::TicketResolved), Some("42")) else {
            panic!()
        };
        let body: Json = serde_json::from_slice(&solve.body).unwrap();
        assert_eq!(body["ticket"]["status"], "solved");
        assert_eq!(
            created_ticket_id(Provider::Zendesk, br#"{"ticket":{"id":42}}"#).as_deref(),
            Some("42")
        );
    }

    #[test]
    fn freshdesk_creates_then_adds_notes_then_resolves() {
        let fd = hook(Provider::Freshdesk);
        let Plan::Send(create) = plan(&fd, &event(EventKind::TicketOpened), None) else {
            panic!()
        };
        assert_eq!(create.url, "https://acme.example/api/v2/tickets");
        let body: Json = serde_json::from_slice(&create.body).unwrap();
        assert_eq!(body["priority"], 2);
        assert_eq!(body["status"], 2);
        assert_eq!(body["unique_external_id"], "v1");
        assert!(
            body["description"]
                .as_str()
                .unwrap()
                .contains("&lt;person&gt;")
        );
        let (user, pass) = create.basic_auth.unwrap();
        assert_eq!((user.as_str(), pass.expose()), ("key", "X"));
        let Plan::Send(note) = plan(&fd, &event(EventKind::VisitorMessage), Some("7")) else {
            panic!()
        };
        assert_eq!(note.url, "https://acme.example/api/v2/tickets/7/notes");
        let Plan::Send(done) = plan(&fd, &event(EventKind::TicketResolved), Some("7")) else {
            panic!()
        };
        assert_eq!(
            (done.method, done.url.as_str()),
            ("PUT", "https://acme.example/api/v2/tickets/7")
        );
        assert_eq!(
            created_ticket_id(Provider::Freshdesk, br#"{"id":7,"subject":"x"}"#).as_deref(),
            Some("7")
        );
        assert_eq!(created_ticket_id(Provider::Freshdesk, b"nope"), None);
    }

    #[test]
    fn signatures_verify_and_reject_tampering_and_replays() {
        let secret = Secret::new("whsec");
        let body = br#"{"id":"e1"}"#;
        let header = sign(&secret, 1_700_000_000, body);
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(verify(&secret, Some(&header), body, 1_700_000_100), Ok(()));
        assert_eq!(
            verify(&secret, Some(&header), br#"{"id":"e2"}"#, 1_700_000_100),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&Secret::new("other"), Some(&header), body, 1_700_000_100),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&secret, Some(&header), body, 1_700_000_000 + 301),
            Err(SignatureError::Stale)
        );
        let forged_time = header.replace("t=1700000000", "t=1700000200");
        assert_eq!(
            verify(&secret, Some(&forged_time), body, 1_700_000_200),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(&secret, None, body, 0), Err(SignatureError::Missing));
        for bad in ["v1=00", "t=1", "t=x,v1=zz", ""] {
            assert_eq!(
                verify(&secret, Some(bad), body, 1),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        // Timestamps at the ends of the range are stale, not an arithmetic overflow.
        for t in [i64::MIN, i64::MAX] {
            let header = sign(&secret, t, body);
            assert_eq!(verify(&secret, Some(&header), body, t), Ok(()));
            assert_eq!(
                verify(&secret, Some(&header), body, 1_700_000_000),
                Err(SignatureError::Stale)
            );
        }
        // A second signature (secret rotation) is accepted.
        let rotated = format!("{header},v1={}", "00".repeat(32));
        assert_eq!(verify(&secret, Some(&rotated), body, 1_700_000_000), Ok(()));
    }

    #[test]
    fn zendesk_signature_is_base64_hmac_of_timestamp_and_body() {
        use base64::Engine as _;
        let secret = Secret::new("dGhpc19zZWNyZXQ");
        let ts = "2026-12-05T10:00:00Z";
        let body = br#"{"type":"x"}"#;
        let mac = hmac_sha256(secret.expose().as_bytes(), &[ts.as_bytes(), body]);
        let sig = base64::engine::general_purpose::STANDARD.encode(mac);
        let now = parse_rfc3339_utc(ts).unwrap();
        assert_eq!(
            verify_zendesk(&secret, Some(&sig), Some(ts), body, now + 10),
            Ok(())
        );
        assert_eq!(
            verify_zendesk(&secret, Some(&sig), Some(ts), b"{}", now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_zendesk(&secret, Some(&sig), Some(ts), body, now + 3600),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_zendesk(&secret, Some("%%%"), Some(ts), body, now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_zendesk(&secret, None, Some(ts), body, now),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_shared_secret(&Secret::new("abc"), Some("abc")),
            Ok(())
        );
        assert_eq!(
            verify_shared_secret(&Secret::new("abc"), Some("abd")),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn timestamps_parse_as_utc() {
        assert_eq!(parse_rfc3339_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_utc("2026-12-05T10:00:00Z"),
            Some(1_796_464_800)
        );
        assert_eq!(
            parse_rfc3339_utc("2000-02-29T12:30:15.250+00:00"),
            Some(951_827_415)
        );
        for bad in [
            "2026-12-05T10:00:00+01:00",
            "2026-13-01T00:00:00Z",
            "yesterday",
            "",
            // Found writing the webhook fuzz target: such a year overflowed the day arithmetic.
            "99999999999999999-01-01T00:00:00Z",
            "2026-01-01T-1:-1:-1Z",
        ] {
            assert_eq!(parse_rfc3339_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour() {
        assert_eq!(retry_delay_ms(1, 1000), 1000);
        assert_eq!(retry_delay_ms(2, 1000), 2000);
        assert_eq!(retry_delay_ms(4, 1000), 8000);
        assert_eq!(retry_delay_ms(40, 1000), MAX_RETRY_DELAY_MS);
        assert_eq!(retry_delay_ms(3, 0), 0);
    }

    #[test]
    fn inbound_events_parse_per_provider() {
        let generic = parse_inbound(
            Provider::Generic,
            br#"{"id":"e1","type":"ticket.comment","ticket_id":"t1","comment":{"body":" Hi! ","author":"Ann"}}"#,
            None,
        )
        .unwrap();
        assert_eq!(generic.ticket, TicketRef::Ours("t1".into()));
        assert_eq!(
            generic.action,
            InboundAction::Comment {
                body: "Hi!".into(),
                author: Some("Ann".into())
            }
        );
        let solved = parse_inbound(
            Provider::Generic,
            br#"{"id":"e2","type":"ticket.solved","ticket_id":"t1"}"#,
            None,
        )
        .unwrap();
        assert_eq!(solved.action, InboundAction::Solved);

        let zd = br#"{"id":"01H","type":"zen:event-type:ticket.comment_added","detail":{"id":"42"},
            "event":{"comment":{"body":"We are on it","is_public":true,"author":{"id":9,"name":"Ann"}}}}"#;
        let parsed = parse_inbound(Provider::Zendesk, zd, None).unwrap();
        assert_eq!(parsed.ticket, TicketRef::External("42".into()));
        assert!(matches!(parsed.action, InboundAction::Comment { .. }));
        // Our own API user's comments (visitor messages we posted) are not agent replies.
        assert_eq!(
            parse_inbound(Provider::Zendesk, zd, Some(9))
                .unwrap()
                .action,
            InboundAction::Ignore
        );
        let private =
            br#"{"id":"01J","type":"zen:event-type:ticket.comment_added","detail":{"id":42},
            "event":{"comment":{"body":"internal","is_public":false}}}"#;
        assert_eq!(
            parse_inbound(Provider::Zendesk, private, None)
                .unwrap()
                .action,
            InboundAction::Ignore
        );
        let solved =
            br#"{"id":"01K","type":"zen:event-type:ticket.status_changed","detail":{"id":42},
            "event":{"previous":"OPEN","current":"SOLVED"}}"#;
        assert_eq!(
            parse_inbound(Provider::Zendesk, solved, None)
                .unwrap()
                .action,
            InboundAction::Solved
        );

        let fd = br#"{"freshdesk_webhook":{"ticket_id":7,"ticket_status":"Open",
            "ticket_latest_public_comment":"Checking now","ticket_agent_name":"Bo"}}"#;
        let parsed = parse_inbound(Provider::Freshdesk, fd, None).unwrap();
        assert!(parsed.event_id.starts_with("sha256:"));
        assert_eq!(parsed.ticket, TicketRef::External("7".into()));
        let fd_solved = br#"{"freshdesk_webhook":{"ticket_id":"7","ticket_status":"Resolved","event_id":"x1"}}"#;
        let parsed = parse_inbound(Provider::Freshdesk, fd_solved, None).unwrap();
        assert_eq!(
            (parsed.event_id.as_str(), parsed.action),
            ("x1", InboundAction::Solved)
        );

        for (provider, bad) in [
            (Provider::Generic, &b"not json"[..]),
            (
                Provider::Generic,
                br#"{"type":"ticket.comment","ticket_id":"t"}"#,
            ),
            (Provider::Generic, br#"{"id":"e","ticket_id":"t"}"#),
            (
                Provider::Zendesk,
                br#"{"id":"e","type":"zen:event-type:ticket.comment_added"}"#,
            ),
            (Provider::Freshdesk, br#"{"ticket_id":1}"#),
            (Provider::Generic, br#"[1,2]"#),
        ] {
            let err = parse_inbound(provider, bad, None).unwrap_err();
            assert_eq!(err.status(), 400, "{}", String::from_utf8_lossy(bad));
        }
        let huge = format!(
            r#"{{"id":"e","type":"ticket.comment","ticket_id":"t","comment":{{"body":"{}"}}}}"#,
            "x".repeat(MAX_REPLY_BYTES + 1)
        );
        assert_eq!(
            parse_inbound(Provider::Generic, huge.as_bytes(), None)
                .unwrap_err()
                .status(),
            413
        );
    }

    #[test]
    fn event_ids_are_stable_and_distinct() {
        let a = event_id("t1", EventKind::TicketOpened, "", "zd");
        assert_eq!(a, event_id("t1", EventKind::TicketOpened, "", "zd"));
        assert_ne!(a, event_id("t1", EventKind::TicketOpened, "", "fd"));
        assert_ne!(a, event_id("t1", EventKind::VisitorMessage, "m1", "zd"));
        assert!(a.starts_with("evt_") && a.len() == 28);
    }

    #[test]
    fn queries_and_replies_are_validated() {
        assert_eq!(parse_queue_query("").unwrap(), TicketStatus::Open);
        assert_eq!(
            parse_queue_query("status=pending").unwrap(),
            TicketStatus::Pending
        );
        assert_eq!(parse_queue_query("status=nope").unwrap_err().status(), 400);
        assert_eq!(parse_queue_query("x=1").unwrap_err().status(), 400);
        assert_eq!(parse_outbox_query("").unwrap(), OutboxState::Dead);
        assert_eq!(
            parse_outbox_query("state=pending").unwrap(),
            OutboxState::Pending
        );
        assert_eq!(parse_outbox_query("state=lost").unwrap_err().status(), 400);
        assert_eq!(
            validate_reply(AgentReply { text: "  ".into() })
                .unwrap_err()
                .status(),
            422
        );
        assert_eq!(
            validate_reply(AgentReply {
                text: "x".repeat(MAX_REPLY_CHARS + 1)
            })
            .unwrap_err()
            .status(),
            413
        );
        assert_eq!(
            validate_reply(AgentReply {
                text: " ok ".into()
            })
            .unwrap(),
            "ok"
        );
    }

    #[test]
    fn an_agent_reply_is_bounded_in_characters_not_bytes() {
        // The document's maxLength counts characters; 8192 accented letters are 16 KiB.
        let longest = "é".repeat(MAX_REPLY_CHARS);
        assert_eq!(
            validate_reply(AgentReply {
                text: longest.clone()
            })
            .unwrap(),
            longest
        );
        let over = AgentReply {
            text: "é".repeat(MAX_REPLY_CHARS + 1),
        };
        assert_eq!(validate_reply(over).unwrap_err().status(), 413);
    }
}
