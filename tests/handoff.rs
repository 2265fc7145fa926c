//! Human handoff end to end, through devhost on both backends, with an in-process ticketing
//! system receiving the app's webhooks (`e2e::ticketing`):
//!
//! - the whole loop: the visitor asks for a person → a ticket, and signed webhooks in the
//!   generic, Zendesk and Freshdesk request shapes → the visitor writes while handed off →
//!   comments on the ticket → an agent claims (a second claim is refused) and replies through
//!   the inbox, and agents reply through inbound webhooks of each provider → the visitor sees
//!   every human reply in the event feed → resolve → the bot answers again;
//! - escalation by the visitor's button and by an agent, hand-back, and a ticket solved in
//!   the ticketing system;
//! - two agents claiming at once: exactly one wins;
//! - a receiver failing the first 3 deliveries gets exactly one effective event; dead
//!   letters are listed and replayed;
//! - devhost killed mid-delivery: the event is delivered after the restart;
//! - inbound signature tampering, replays, duplicates, unknown tickets, malformed bodies.

use std::time::Duration;

use base64::Engine as _;
use core_logic::auth::Role;
use core_logic::handoff::{Secret, sign};
use e2e::http::{Reply, post_json, request, send, staff_token};
use e2e::platform::{Backend, PlatformApp, TenantSeed};
use e2e::ticketing::{Behaviour, Received, Ticketing, assert_shape, verify_signature};
use reqwest::Method;
use serde_json::{Value, json};

const HOOK_SECRET: &str = "whsec-outbound-test";
const GENERIC_IN: &str = "whsec-inbound-generic";
const ZENDESK_IN: &str = "zendesk-signing-secret";
const FRESHDESK_IN: &str = "freshdesk-shared-secret";
const FLUSH_TOKEN: &str = "flush-token-for-tests-0123456789";
const METRICS_TOKEN: &str = "metrics-token-for-handoff-tests";

const SHIPPING: &str = "# Shipping\n\n## Delivery times\n\nStandard delivery takes 3 to 5 \
working days. Express delivery arrives the next working day when you order before 2 pm.\n";

fn settings(hooks: &[Value], max_attempts: u32) -> String {
    json!({
        "rate_limits": { "per_visitor": 100000, "per_client": 100000 },
        "handoff": {
            "webhooks": hooks,
            "inbound": { "generic": GENERIC_IN, "zendesk": ZENDESK_IN, "freshdesk": FRESHDESK_IN },
            "max_attempts": max_attempts,
        }
    })
    .to_string()
}

fn generic_hook(url: &str) -> Value {
    json!({ "name": "ops", "format": "generic", "url": format!("{url}/hooks/support"),
            "secret": HOOK_SECRET })
}

struct Desk {
    app: PlatformApp,
    tenant: TenantSeed,
}

fn env(extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut env = vec![
        (
            "SPIN_VARIABLE_WEBHOOK_HOSTS_A",
            "http://127.0.0.1:*".to_string(),
        ),
        ("SPIN_VARIABLE_WEBHOOK_TIMEOUT_MS", "2000".to_string()),
        ("SPIN_VARIABLE_OUTBOX_RETRY_BASE_MS", "100".to_string()),
        ("SPIN_VARIABLE_OUTBOX_FLUSH_TOKEN", FLUSH_TOKEN.to_string()),
        ("SPIN_VARIABLE_METRICS_TOKEN", METRICS_TOKEN.to_string()),
    ];
    env.extend(extra.iter().cloned());
    env
}

impl Desk {
    fn start(backend: Backend, settings: &str) -> Desk {
        Self::start_with(backend, settings, &[])
    }

    fn start_with(backend: Backend, settings: &str, extra: &[(&'static str, String)]) -> Desk {
        let tenant = TenantSeed::unique("desk", settings);
        let env = env(extra);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let app = PlatformApp::start(backend, std::slice::from_ref(&tenant), &env);
        Desk { app, tenant }
    }

    fn admin(&self) -> String {
        staff_token(&self.tenant.id, Role::Admin, "ops-admin")
    }

    fn agent(&self, name: &str) -> String {
        staff_token(&self.tenant.id, Role::Agent, name)
    }

    fn session(&self) -> (String, String) {
        self.app
            .open_session_id(&self.tenant, json!({ "name": "Dana", "locale": "en" }))
    }

    fn say(&self, session: &str, token: &str, text: &str) -> Value {
        let reply = send(post_json(
            &self.app,
            &format!("/api/sessions/{session}/messages"),
            Some(token),
            &json!({ "text": text }),
        ));
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply.json()
    }

    fn post(&self, path: &str, token: &str, body: &Value) -> Reply {
        send(post_json(&self.app, path, Some(token), body))
    }

    fn post_empty(&self, path: &str, token: &str) -> Reply {
        send(request(&self.app, Method::POST, path, Some(token)))
    }

    fn get(&self, path: &str, token: &str) -> Reply {
        send(request(&self.app, Method::GET, path, Some(token)))
    }

    /// Every event of the session so far.
    fn events(&self, session: &str, token: &str) -> Vec<Value> {
        let reply = self.get(&format!("/api/sessions/{session}/events?after=0"), token);
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.json()["events"].as_array().unwrap().clone()
    }

    fn agent_messages(&self, session: &str, token: &str) -> Vec<String> {
        self.events(session, token)
            .iter()
            .filter(|e| e["type"] == "message" && e["data"]["author"] == "agent")
            .map(|e| e["data"]["text"].as_str().unwrap().to_string())
            .collect()
    }

    fn inbound(&self, provider: &str, headers: &[(&str, String)], body: &str) -> Reply {
        let mut builder = request(
            &self.app,
            Method::POST,
            &format!("/api/webhooks/{provider}?tenant={}", self.tenant.id),
            None,
        )
        .header("content-type", "application/json")
        .body(body.to_string());
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        send(builder)
    }

    fn generic_inbound(&self, body: &Value) -> Reply {
        let text = body.to_string();
        let signature = sign(&Secret::new(GENERIC_IN), now_secs(), text.as_bytes());
        self.inbound("generic", &[("x-support-signature", signature)], &text)
    }

    fn flush(&self) -> Value {
        let reply = self.post_empty("/api/admin/outbox/flush", FLUSH_TOKEN);
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.json()
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn zendesk_headers(body: &str, timestamp: &str) -> Vec<(&'static str, String)> {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(ZENDESK_IN.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(body.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    vec![
        ("x-zendesk-webhook-signature", signature),
        (
            "x-zendesk-webhook-signature-timestamp",
            timestamp.to_string(),
        ),
    ]
}

fn iso_now() -> String {
    // Good enough for a test: seconds since the epoch rendered as a UTC timestamp.
    let secs = now_secs();
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn by_path<'a>(requests: &'a [Received], method: &str, prefix: &str) -> Vec<&'a Received> {
    requests
        .iter()
        .filter(|r| r.method == method && r.path.starts_with(prefix))
        .collect()
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

e2e::on_both_backends!(
    the_whole_handoff_loop,
    escalation_by_button_by_agent_handback_and_solved_upstream,
    two_agents_claiming_at_once_one_wins,
    a_failing_receiver_gets_exactly_one_effective_event_and_dead_letters_replay,
    a_delivery_cut_by_a_crash_is_sent_after_restart,
    inbound_webhooks_reject_forgeries_replays_and_junk,
);

fn the_whole_handoff_loop(backend: Backend) {
    let desk_system = Ticketing::start(Behaviour::default());
    let url = desk_system.url();
    let hooks = [
        generic_hook(&url),
        json!({ "name": "zendesk", "format": "zendesk", "url": url, "secret": HOOK_SECRET,
                "email": "bot@acme.example", "api_token": "zd-api-token" }),
        json!({ "name": "freshdesk", "format": "freshdesk", "url": url, "secret": HOOK_SECRET,
                "api_key": "fd-api-key" }),
    ];
    let desk = Desk::start(backend, &settings(&hooks, 5));
    let admin = desk.admin();
    let uploaded = desk.post(
        "/api/kb/documents",
        &admin,
        &json!({ "external_id": "shipping.md", "content": SHIPPING }),
    );
    assert_eq!(uploaded.status, 201, "{}", uploaded.text);
    let (session, visitor) = desk.session();

    // 1. The visitor asks for a person: a ticket, and the bot says so.
    desk.say(&session, &visitor, "How long does standard delivery take?");
    let turn = desk.say(&session, &visitor, "I want to talk to a real person please");
    assert_eq!(turn["action"]["type"], "escalate", "{turn}");
    assert_eq!(turn["action"]["reason"], "human_requested");
    let ticket_id = turn["ticket"]["id"].as_str().unwrap().to_string();
    assert_eq!(turn["ticket"]["status"], "open");

    // Each system got the ticket, signed, in its own request shape.
    let opened = desk_system.wait_accepted(3, Duration::from_secs(10));
    assert_eq!(opened.len(), 3, "{opened:?}");
    for r in &opened {
        assert!(
            verify_signature(r, HOOK_SECRET),
            "unsigned: {} {}",
            r.method,
            r.path
        );
        assert!(r.header("x-support-event-id").unwrap().starts_with("evt_"));
        // Sent right after the visitor's request: its request id goes along.
        assert!(r.header("x-request-id").is_some_and(|id| !id.is_empty()));
    }
    let generic = by_path(&opened, "POST", "/hooks/support")[0].json();
    assert_shape("generic-event", &generic);
    assert_eq!(generic["type"], "ticket.opened");
    assert_eq!(generic["ticket"]["id"], ticket_id);
    assert_eq!(generic["ticket"]["reason"], "human_requested");
    assert_eq!(generic["ticket"]["priority"], "normal");
    let transcript = generic["transcript"].as_array().unwrap();
    assert!(transcript.len() >= 3, "{generic}");
    assert!(
        generic["ticket"]["summary"]
            .as_str()
            .unwrap()
            .contains("asked for a person")
    );

    let zd_create = by_path(&opened, "POST", "/api/v2/tickets.json")[0];
    assert_shape("zendesk-create", &zd_create.json());
    assert_eq!(
        zd_create.header("authorization"),
        Some(basic("bot@acme.example/token", "zd-api-token").as_str())
    );
    assert!(zd_create.header("idempotency-key").is_some());
    let fd_create = by_path(&opened, "POST", "/api/v2/tickets")
        .into_iter()
        .find(|r| r.path == "/api/v2/tickets")
        .unwrap();
    assert_shape("freshdesk-create", &fd_create.json());
    assert_eq!(
        fd_create.header("authorization"),
        Some(basic("fd-api-key", "X").as_str())
    );

    // 2. While handed off the bot is silent, and the ticket hears what the visitor says.
    let silent = desk.say(&session, &visitor, "Are you still there?");
    assert!(silent["reply"].is_null(), "{silent}");
    assert_eq!(silent["action"]["type"], "handed_off");
    let all = desk_system.wait_accepted(6, Duration::from_secs(10));
    assert_eq!(all.len(), 6, "{all:?}");
    let later = &all[3..];
    let zd_comment = by_path(later, "PUT", "/api/v2/tickets/")[0];
    assert!(zd_comment.path.ends_with(".json"));
    assert_shape("zendesk-update", &zd_comment.json());
    assert_eq!(
        zd_comment.json()["ticket"]["comment"]["body"],
        "Are you still there?"
    );
    let fd_note = by_path(later, "POST", "/api/v2/tickets/")[0];
    assert!(fd_note.path.ends_with("/notes"));
    assert_shape("freshdesk-note", &fd_note.json());
    let visitor_event = by_path(later, "POST", "/hooks/support")[0].json();
    assert_shape("generic-event", &visitor_event);
    assert_eq!(visitor_event["message"]["text"], "Are you still there?");

    // 3. The queue shows it; one agent claims, a second cannot.
    let ann = desk.agent("ann");
    let queue = desk.get("/api/agent/conversations?status=open", &ann);
    assert_eq!(queue.status, 200, "{}", queue.text);
    let listed = &queue.json()["conversations"][0];
    assert_eq!(listed["session_id"], session);
    assert_eq!(listed["ticket"]["reason"], "human_requested");
    assert!(listed["ticket"]["wait_seconds"].as_i64().unwrap() >= 0);
    let claimed = desk.post_empty(&format!("/api/agent/conversations/{session}/claim"), &ann);
    assert_eq!(claimed.status, 200, "{}", claimed.text);
    assert_eq!(claimed.json()["ticket"]["status"], "pending");
    let bob = desk.agent("bob");
    desk.post_empty(&format!("/api/agent/conversations/{session}/claim"), &bob)
        .assert_problem(409, "second claim");
    desk.post(
        &format!("/api/agent/conversations/{session}/messages"),
        &bob,
        &json!({ "text": "I am not yours" }),
    )
    .assert_problem(409, "reply without the claim");
    let detail = desk.get(&format!("/api/agent/conversations/{session}"), &ann);
    assert_eq!(detail.status, 200, "{}", detail.text);
    assert!(
        detail.json()["ticket"]["transcript"]
            .as_array()
            .unwrap()
            .len()
            >= 3
    );

    // 4. Human replies: from the inbox, and from each ticketing system's webhook.
    let reply = desk.post(
        &format!("/api/agent/conversations/{session}/messages"),
        &ann,
        &json!({ "text": "Hi Dana, Ann here. Let me check your order." }),
    );
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.json()["message"]["author"], "agent");
    let applied = desk.generic_inbound(&json!({
        "id": "gen-1", "type": "ticket.comment", "ticket_id": ticket_id,
        "comment": { "body": "Your parcel left the warehouse today.", "author": "Ann" }
    }));
    assert_eq!(applied.status, 200, "{}", applied.text);
    assert_eq!(applied.json()["status"], "applied");
    let zendesk_ticket = desk_system
        .created_id("/api/v2/tickets.json")
        .unwrap()
        .to_string();
    let zd_body = json!({
        "id": "01HZENDESK1", "type": "zen:event-type:ticket.comment_added",
        "detail": { "id": zendesk_ticket },
        "event": { "comment": { "body": "Tracking number: ZD-123.", "is_public": true,
                                "author": { "id": 77, "name": "Ann" } } }
    })
    .to_string();
    let zd = desk.inbound("zendesk", &zendesk_headers(&zd_body, &iso_now()), &zd_body);
    assert_eq!(zd.status, 200, "{}", zd.text);
    assert_eq!(zd.json()["status"], "applied");
    let freshdesk_ticket = desk_system.created_id("/api/v2/tickets").unwrap();
    let fd_body = json!({ "freshdesk_webhook": {
        "ticket_id": freshdesk_ticket, "ticket_status": "Pending",
        "ticket_latest_public_comment": "It arrives tomorrow.", "ticket_agent_name": "Ann" } })
    .to_string();
    let fd = desk.inbound(
        "freshdesk",
        &[("x-freshdesk-webhook-secret", FRESHDESK_IN.to_string())],
        &fd_body,
    );
    assert_eq!(fd.status, 200, "{}", fd.text);
    assert_eq!(
        desk.agent_messages(&session, &visitor),
        [
            "Hi Dana, Ann here. Let me check your order.",
            "Your parcel left the warehouse today.",
            "Tracking number: ZD-123.",
            "It arrives tomorrow.",
        ]
    );

    // 5. Resolve: the ticketing systems hear it and the bot answers again.
    let resolved = desk.post_empty(&format!("/api/agent/conversations/{session}/resolve"), &ann);
    assert_eq!(resolved.status, 200, "{}", resolved.text);
    assert_eq!(resolved.json()["ticket"]["status"], "solved");
    let all = desk_system.wait_accepted(9, Duration::from_secs(10));
    assert_eq!(all.len(), 9, "{all:?}");
    let closing = &all[6..];
    let zd_solve = by_path(closing, "PUT", "/api/v2/tickets/")
        .into_iter()
        .find(|r| r.path.ends_with(".json"))
        .unwrap()
        .json();
    assert_shape("zendesk-update", &zd_solve);
    assert_eq!(zd_solve["ticket"]["status"], "solved");
    let fd_solve = by_path(closing, "PUT", "/api/v2/tickets/")
        .into_iter()
        .find(|r| !r.path.ends_with(".json"))
        .unwrap()
        .json();
    assert_shape("freshdesk-update", &fd_solve);
    assert_eq!(fd_solve["status"], 4);
    let generic_solved = by_path(closing, "POST", "/hooks/support")[0].json();
    assert_eq!(generic_solved["type"], "ticket.resolved");
    assert_eq!(generic_solved["ticket"]["resolution"], "resolved");
    let statuses: Vec<Value> = desk
        .events(&session, &visitor)
        .into_iter()
        .filter(|e| e["type"] == "status")
        .map(|e| e["data"]["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("handed_off"), json!("open")]);
    let back = desk.say(&session, &visitor, "How long does standard delivery take?");
    assert_eq!(back["reply"]["author"], "bot", "{back}");
    assert!(
        back["reply"]["text"].as_str().unwrap().contains("3 to 5"),
        "{back}"
    );
    assert!(
        desk.get("/api/agent/conversations?status=open", &ann)
            .json()["conversations"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

fn escalation_by_button_by_agent_handback_and_solved_upstream(backend: Backend) {
    let system = Ticketing::start(Behaviour::default());
    let desk = Desk::start(backend, &settings(&[generic_hook(&system.url())], 5));
    let (session, visitor) = desk.session();
    desk.say(&session, &visitor, "Hello there");

    // The visitor's button: 201 with the ticket, again 200 with the same ticket.
    let path = format!("/api/sessions/{session}/escalate");
    let first = desk.post(&path, &visitor, &json!({ "note": "order 1234" }));
    assert_eq!(first.status, 201, "{}", first.text);
    let ticket = first.json()["ticket"]["id"].as_str().unwrap().to_string();
    let again = desk.post_empty(&path, &visitor);
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json()["ticket"]["id"], ticket.as_str());
    desk.post(&path, &visitor, &json!({ "priority": "urgent" }))
        .assert_problem(403, "visitor sets a priority");
    let opened = system.wait_accepted(1, Duration::from_secs(10));
    let event = opened[0].json();
    assert_eq!(event["ticket"]["reason"], "human_requested");
    assert!(
        event["ticket"]["summary"]
            .as_str()
            .unwrap()
            .contains("order 1234")
    );

    // Hand back: the ticket is solved as handed back and the bot answers again.
    let ann = desk.agent("ann");
    assert_eq!(
        desk.post_empty(&format!("/api/agent/conversations/{session}/claim"), &ann)
            .status,
        200
    );
    let back = desk.post_empty(
        &format!("/api/agent/conversations/{session}/handback"),
        &ann,
    );
    assert_eq!(back.status, 200, "{}", back.text);
    assert_eq!(back.json()["ticket"]["resolution"], "handed_back");
    let turn = desk.say(&session, &visitor, "What are your opening hours?");
    assert_eq!(turn["reply"]["author"], "bot", "{turn}");
    desk.post_empty(&format!("/api/agent/conversations/{session}/resolve"), &ann)
        .assert_problem(409, "resolving a solved conversation");

    // An agent takes the conversation over, with a priority.
    let taken = desk.post(&path, &ann, &json!({ "priority": "high", "note": "VIP" }));
    assert_eq!(taken.status, 201, "{}", taken.text);
    let ticket = taken.json()["ticket"].clone();
    assert_eq!(ticket["reason"], "agent_initiated");
    assert_eq!(ticket["priority"], "high");
    assert_eq!(ticket["opened_by"], "agent:ann");
    desk.post(&path, &ann, &json!({ "priority": "whenever" }))
        .assert_problem(422, "unknown priority");

    // Solved in the ticketing system: the session goes back to the bot.
    let solved = desk.generic_inbound(&json!({
        "id": "solve-1", "type": "ticket.solved", "ticket_id": ticket["id"] }));
    assert_eq!(solved.status, 200, "{}", solved.text);
    let session_now = desk.get(&format!("/api/sessions/{session}"), &visitor);
    assert_eq!(
        session_now.json()["session"]["status"],
        "open",
        "{}",
        session_now.text
    );

    // Another visitor's session, or another tenant's agent, sees nothing.
    let (_, other_visitor) = desk.session();
    desk.post_empty(&path, &other_visitor)
        .assert_problem(404, "another visitor");
    let stranger = staff_token("some-other-tenant", Role::Agent, "eve");
    assert_eq!(desk.get("/api/agent/conversations", &stranger).status, 401);
    desk.get("/api/agent/conversations", &visitor)
        .assert_problem(403, "visitor in the inbox");
    desk.get("/api/agent/conversations?status=lost", &ann)
        .assert_problem(400, "bad status");
    desk.post_empty("/api/agent/conversations/nope/claim", &ann)
        .assert_problem(404, "bad id");
}

fn two_agents_claiming_at_once_one_wins(backend: Backend) {
    let desk = Desk::start(backend, &settings(&[], 5));
    for round in 0..3 {
        let (session, visitor) = desk.session();
        let path = format!("/api/sessions/{session}/escalate");
        assert_eq!(desk.post_empty(&path, &visitor).status, 201);
        let claim = format!("/api/agent/conversations/{session}/claim");
        let statuses: Vec<u16> = std::thread::scope(|s| {
            let handles: Vec<_> = ["ann", "bob", "cy", "di"]
                .iter()
                .map(|name| {
                    let token = desk.agent(name);
                    let claim = claim.clone();
                    let desk = &desk;
                    s.spawn(move || desk.post_empty(&claim, &token).status)
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let wins = statuses.iter().filter(|s| **s == 200).count();
        let refused = statuses.iter().filter(|s| **s == 409).count();
        assert_eq!((wins, refused), (1, 3), "round {round}: {statuses:?}");
    }
}

fn a_failing_receiver_gets_exactly_one_effective_event_and_dead_letters_replay(backend: Backend) {
    let flaky = Ticketing::start(Behaviour {
        fail_first: 3,
        hang_first: None,
    });
    let desk = Desk::start(backend, &settings(&[generic_hook(&flaky.url())], 5));
    let (session, visitor) = desk.session();
    desk.say(&session, &visitor, "Let me speak to a human agent");
    // The first try ran right after the request; the flush route retries the rest.
    for _ in 0..100 {
        if !flaky.accepted().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        desk.flush();
    }
    let received = flaky.received();
    assert_eq!(received.len(), 4, "three failures and one success");
    assert_eq!(flaky.accepted().len(), 1);
    let ids: Vec<&str> = received
        .iter()
        .map(|r| r.header("x-support-event-id").unwrap())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    desk.flush();
    assert_eq!(
        flaky.received().len(),
        4,
        "nothing sent twice after success"
    );
    let admin = desk.admin();
    let delivered = desk.get("/api/admin/outbox?state=delivered", &admin).json();
    assert_eq!(delivered["events"][0]["attempts"], 4, "{delivered}");

    // A receiver that stays down long enough: dead-lettered after max_attempts, listed,
    // replayed once it is back.
    let down = Ticketing::start(Behaviour {
        fail_first: 2,
        hang_first: None,
    });
    let desk = Desk::start(backend, &settings(&[generic_hook(&down.url())], 2));
    let admin = desk.admin();
    let (session, visitor) = desk.session();
    desk.say(&session, &visitor, "I need a person");
    let mut dead = Value::Null;
    for _ in 0..50 {
        dead = desk.get("/api/admin/outbox?state=dead", &admin).json();
        if !dead["events"].as_array().unwrap().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        let _ = desk.post_empty("/api/admin/outbox/flush", &admin);
    }
    let entry = &dead["events"][0];
    assert_eq!(entry["attempts"], 2, "{dead}");
    assert_eq!(entry["type"], "ticket.opened");
    assert_eq!(entry["last_error"], "the receiver answered 500");
    assert!(!dead.to_string().contains(HOOK_SECRET));
    assert!(down.accepted().is_empty());
    let id = entry["id"].as_i64().unwrap();
    let replayed = desk.post_empty(&format!("/api/admin/outbox/{id}/replay"), &admin);
    assert_eq!(replayed.status, 200, "{}", replayed.text);
    assert_eq!(replayed.json()["flush"]["delivered"], 1);
    assert_eq!(down.accepted().len(), 1);
    desk.post_empty(&format!("/api/admin/outbox/{id}/replay"), &admin)
        .assert_problem(404, "replaying a delivered event");
    desk.get("/api/admin/outbox?state=lost", &admin)
        .assert_problem(400, "bad state");
    let agent = desk.agent("ann");
    desk.post_empty("/api/admin/outbox/flush", &agent)
        .assert_problem(403, "an agent flushing");
    assert_eq!(
        desk.post_empty("/api/admin/outbox/flush", "wrong-token")
            .status,
        401
    );
}

fn a_delivery_cut_by_a_crash_is_sent_after_restart(backend: Backend) {
    // The receiver holds the first delivery open; devhost is killed meanwhile.
    let receiver = Ticketing::start(Behaviour {
        fail_first: 0,
        hang_first: Some(Duration::from_secs(20)),
    });
    let mut desk = Desk::start_with(
        backend,
        &settings(&[generic_hook(&receiver.url())], 5),
        &[("SPIN_VARIABLE_WEBHOOK_TIMEOUT_MS", "1500".to_string())],
    );
    let (session, visitor) = desk.session();
    let url = desk.app.url(&format!("/api/sessions/{session}/messages"));
    let token = visitor.clone();
    let sender = std::thread::spawn(move || {
        e2e::App::client()
            .post(url)
            .bearer_auth(token)
            .json(&json!({ "text": "Can I talk to a person?" }))
            .send()
            .map(|r| r.status().as_u16())
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while receiver.received().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(receiver.received().len(), 1, "the delivery started");
    desk.app.app.kill();
    let _ = sender.join();
    assert!(receiver.accepted().is_empty());

    // Restarted with its outbox flusher on: the event goes out once the lease is over.
    desk.app.app.restart(&["--outbox-flush-secs", "1"]);
    let delivered = receiver.wait_accepted(1, Duration::from_secs(30));
    assert_eq!(delivered.len(), 1, "{}", desk.app.logs());
    let first = &receiver.received()[0];
    assert_eq!(
        delivered[0].header("x-support-event-id"),
        first.header("x-support-event-id")
    );
    assert_eq!(delivered[0].json()["type"], "ticket.opened");
    // The conversation survived the crash: the visitor message and the hand-off reply.
    let events = desk.events(&session, &visitor);
    assert!(events.iter().any(|e| e["type"] == "status"), "{events:?}");
}

fn inbound_webhooks_reject_forgeries_replays_and_junk(backend: Backend) {
    let desk = Desk::start(backend, &settings(&[], 5));
    let (session, visitor) = desk.session();
    let ticket = desk
        .post_empty(&format!("/api/sessions/{session}/escalate"), &visitor)
        .json()["ticket"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let comment = json!({ "id": "c-1", "type": "ticket.comment", "ticket_id": ticket,
                          "comment": { "body": "Hello from the desk" } });
    let text = comment.to_string();

    // Tampered body, wrong secret, no signature: 401, nothing posted.
    let signature = sign(&Secret::new(GENERIC_IN), now_secs(), text.as_bytes());
    let tampered = text.replace("Hello", "Pay me");
    desk.inbound(
        "generic",
        &[("x-support-signature", signature.clone())],
        &tampered,
    )
    .assert_problem(401, "tampered body");
    let forged = sign(&Secret::new("guess"), now_secs(), text.as_bytes());
    desk.inbound("generic", &[("x-support-signature", forged)], &text)
        .assert_problem(401, "wrong secret");
    desk.inbound("generic", &[], &text)
        .assert_problem(401, "unsigned");
    // A replay of an old, correctly signed delivery.
    let old = sign(&Secret::new(GENERIC_IN), now_secs() - 600, text.as_bytes());
    desk.inbound("generic", &[("x-support-signature", old)], &text)
        .assert_problem(401, "replayed after the window");
    assert!(desk.agent_messages(&session, &visitor).is_empty());

    // Applied once; the duplicate is a 200 that changes nothing.
    let first = desk.inbound(
        "generic",
        &[("x-support-signature", signature.clone())],
        &text,
    );
    assert_eq!(first.json()["status"], "applied", "{}", first.text);
    let dup = desk.inbound("generic", &[("x-support-signature", signature)], &text);
    assert_eq!(dup.status, 200);
    assert_eq!(dup.json()["status"], "duplicate");
    assert_eq!(
        desk.agent_messages(&session, &visitor),
        ["Hello from the desk"]
    );

    // Unknown ticket 404; malformed 400; unknown provider or tenant 404; no tenant 400.
    desk.generic_inbound(&json!({ "id": "c-2", "type": "ticket.comment",
        "ticket_id": "0123456789abcdef0123456789abcdef", "comment": { "body": "x" } }))
        .assert_problem(404, "unknown ticket");
    let junk = "{not json";
    let junk_sig = sign(&Secret::new(GENERIC_IN), now_secs(), junk.as_bytes());
    desk.inbound("generic", &[("x-support-signature", junk_sig)], junk)
        .assert_problem(400, "malformed body");
    desk.generic_inbound(&json!({ "type": "ticket.comment", "ticket_id": ticket }))
        .assert_problem(400, "no event id");
    desk.inbound("jira", &[], "{}")
        .assert_problem(404, "unknown provider");
    send(
        request(
            &desk.app,
            Method::POST,
            "/api/webhooks/generic?tenant=nobody",
            None,
        )
        .header("content-type", "application/json")
        .body("{}"),
    )
    .assert_problem(404, "unknown tenant");
    send(request(&desk.app, Method::POST, "/api/webhooks/generic", None).body("{}"))
        .assert_problem(400, "no tenant");

    // Zendesk: a stale timestamp and a bad signature are refused; Freshdesk: the secret.
    let zd = json!({ "id": "z-1", "type": "zen:event-type:ticket.comment_added",
        "detail": { "id": "999" }, "event": { "comment": { "body": "x", "is_public": true } } })
    .to_string();
    desk.inbound(
        "zendesk",
        &zendesk_headers(&zd, "2020-01-01T00:00:00Z"),
        &zd,
    )
    .assert_problem(401, "stale zendesk");
    let mut bad = zendesk_headers(&zd, &iso_now());
    bad[0].1 = base64::engine::general_purpose::STANDARD.encode([0u8; 32]);
    desk.inbound("zendesk", &bad, &zd)
        .assert_problem(401, "bad zendesk signature");
    desk.inbound("zendesk", &zendesk_headers(&zd, &iso_now()), &zd)
        .assert_problem(404, "zendesk ticket we never created");
    desk.inbound(
        "freshdesk",
        &[("x-freshdesk-webhook-secret", "wrong".to_string())],
        r#"{"freshdesk_webhook":{"ticket_id":1}}"#,
    )
    .assert_problem(401, "wrong freshdesk secret");
    let logs = desk.app.logs();
    for secret in [GENERIC_IN, ZENDESK_IN, FRESHDESK_IN, FLUSH_TOKEN] {
        assert!(!logs.contains(secret), "a secret is in the logs");
    }
}
