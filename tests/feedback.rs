//! Visitor feedback and conversation outcomes end to end, through devhost on both backends:
//! `PUT /api/sessions/{id}/feedback` (who may rate what, changeable, idempotent, in the
//! event feed and the history), erasure with the session, and `/metrics` settling each idle
//! conversation's outcome exactly once into `support_conversations_total{outcome}`.
//!
//! Retrieval is keyword-only here (no Chroma or sidecar): the outcome rules do not care how
//! an answer was found.

use core_logic::auth::Role;
use e2e::App;
use e2e::http::{Reply, metric_value, post_json, request, send, staff_token};
use e2e::platform::{Backend, PlatformApp, TenantSeed};
use reqwest::Method;
use serde_json::{Value, json};

const ROOMY: &str = r#"{"rate_limits":{"per_visitor":100000,"per_client":100000}}"#;
const METRICS_TOKEN: &str = "feedback-metrics-token";

const SHIPPING: &str = "# Shipping\n\n## Delivery times\n\nStandard delivery takes 3 to 5 \
working days. Express delivery arrives the next working day when you order before 2 pm.\n";

struct Site {
    app: PlatformApp,
    tenant: TenantSeed,
}

impl Site {
    /// The app with one tenant whose knowledge base holds the shipping article; conversations
    /// count as finished as soon as `/metrics` is scraped (`outcome_idle_secs` 0).
    fn start(backend: Backend, others: &[TenantSeed]) -> Site {
        let tenant = TenantSeed::unique("rated", ROOMY);
        let mut tenants = vec![tenant.clone()];
        tenants.extend_from_slice(others);
        let app = PlatformApp::start(
            backend,
            &tenants,
            &[
                ("SPIN_VARIABLE_METRICS_TOKEN", METRICS_TOKEN),
                ("SPIN_VARIABLE_OUTCOME_IDLE_SECS", "0"),
            ],
        );
        let admin = staff_token(&tenant.id, Role::Admin, "ops");
        let stored = send(post_json(
            &app,
            "/api/kb/documents",
            Some(&admin),
            &json!({ "external_id": "shipping.md", "content": SHIPPING }),
        ));
        assert_eq!(stored.status, 201, "{}", stored.text);
        Site { app, tenant }
    }

    /// A new session: (id, visitor token).
    fn session(&self) -> (String, String) {
        self.app
            .open_session_id(&self.tenant, json!({ "locale": "en" }))
    }

    /// Sends `text`; the turn's JSON.
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

    fn rate(&self, session: &str, token: &str, body: &Value) -> Reply {
        let mut req = request(
            &self.app,
            Method::PUT,
            &format!("/api/sessions/{session}/feedback"),
            Some(token),
        );
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
        send(req)
    }

    fn get(&self, path: &str, token: &str) -> Value {
        let reply = send(request(&self.app, Method::GET, path, Some(token)));
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.json()
    }

    fn scrape(&self) -> String {
        let resp = App::client()
            .get(self.app.url("/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.text().unwrap()
    }
}

/// An answered question: the turn's reply id, checked to be a cited answer without an action.
fn answered(site: &Site, session: &str, token: &str) -> String {
    let turn = site.say(session, token, "How long does standard delivery take?");
    assert_eq!(turn["action"], Value::Null, "{turn}");
    assert!(
        turn["reply"]["text"]
            .as_str()
            .unwrap()
            .contains("3 to 5 working days"),
        "{turn}"
    );
    turn["reply"]["id"].as_str().unwrap().to_string()
}

fn conversations(metrics: &str, outcome: &str) -> f64 {
    metric_value(
        metrics,
        &format!("support_conversations_total{{outcome=\"{outcome}\"}}"),
    )
}

fn visitors_rate_replies_and_the_conversation_and_staff_see_it(backend: Backend) {
    let other = TenantSeed::unique("other", ROOMY);
    let site = Site::start(backend, std::slice::from_ref(&other));
    let (session, token) = site.session();
    let reply_id = answered(&site, &session, &token);

    // A reply rated "not helpful" with a comment; the same again changes nothing.
    let not_helpful = json!({ "message_id": reply_id, "helpful": false, "comment": " too slow " });
    let first = site.rate(&session, &token, &not_helpful);
    assert_eq!(first.status, 200, "{}", first.text);
    let body = first.json();
    assert_eq!(body["changed"], true);
    assert_eq!(body["feedback"]["message_id"], reply_id.as_str());
    assert_eq!(body["feedback"]["helpful"], false);
    assert_eq!(body["feedback"]["comment"], "too slow");
    assert!(body["feedback"].get("resolved").is_none(), "{body}");
    let again = site.rate(&session, &token, &not_helpful);
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["changed"], false);

    // Changed to helpful; then the conversation as a whole.
    let changed = site.rate(
        &session,
        &token,
        &json!({ "message_id": reply_id, "helpful": true }),
    );
    assert_eq!(changed.json()["feedback"]["helpful"], true);
    assert_eq!(changed.json()["feedback"]["comment"], Value::Null);
    let solved = site.rate(&session, &token, &json!({ "resolved": true }));
    assert_eq!(solved.status, 200, "{}", solved.text);
    assert_eq!(solved.json()["feedback"]["resolved"], true);

    // Each change is an event in the feed: not helpful, helpful, resolved.
    let feed = site.get(&format!("/api/sessions/{session}/events"), &token);
    let ratings: Vec<&Value> = feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "feedback")
        .map(|e| &e["data"])
        .collect();
    assert_eq!(ratings.len(), 3, "{feed}");
    assert_eq!(ratings[0]["helpful"], false);
    assert_eq!(ratings[1]["helpful"], true);
    assert_eq!(ratings[2]["resolved"], true);

    // An agent reading the transcript sees the current ratings.
    let agent = staff_token(&site.tenant.id, Role::Agent, "alice");
    let history = site.get(&format!("/api/sessions/{session}/messages"), &agent);
    let stored = history["feedback"].as_array().unwrap();
    assert_eq!(stored.len(), 2, "{history}");
    assert_eq!(stored[0]["message_id"], reply_id.as_str());
    assert_eq!(stored[0]["helpful"], true);
    assert_eq!(stored[1]["resolved"], true);

    // Who may rate what: only the session's own visitor, only bot replies.
    let visitor_message = history["messages"][0]["id"].as_str().unwrap().to_string();
    let own = site.rate(
        &session,
        &token,
        &json!({ "message_id": visitor_message, "helpful": true }),
    );
    assert_eq!(own.status, 422, "{}", own.text);
    let unknown = site.rate(
        &session,
        &token,
        &json!({ "message_id": "0".repeat(32), "helpful": true }),
    );
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    for bad in [
        json!({ "helpful": true }),
        json!({ "message_id": reply_id, "helpful": true, "resolved": true }),
        json!({ "resolved": "yes" }),
        json!({ "resolved": true, "comment": "x".repeat(1001) }),
        json!({ "resolved": true, "stars": 5 }),
    ] {
        let refused = site.rate(&session, &token, &bad);
        assert_eq!(refused.status, 400, "{bad}: {}", refused.text);
        assert_eq!(
            refused.header("content-type"),
            Some("application/problem+json")
        );
    }
    let (_, stranger) = site.session();
    let other_admin = staff_token(&other.id, Role::Admin, "root");
    let resolved = json!({ "resolved": false });
    assert_eq!(site.rate(&session, &stranger, &resolved).status, 404);
    assert_eq!(site.rate(&session, &agent, &resolved).status, 403);
    assert_eq!(site.rate(&session, &other_admin, &resolved).status, 403);
    assert_eq!(site.rate(&session, "not-a-token", &resolved).status, 401);
    let get = send(request(
        &site.app,
        Method::GET,
        &format!("/api/sessions/{session}/feedback"),
        Some(&token),
    ));
    assert_eq!(get.status, 405);
    assert_eq!(get.header("allow"), Some("PUT"));
    // Nothing the refused requests sent was stored.
    let history = site.get(&format!("/api/sessions/{session}/messages"), &token);
    assert_eq!(history["feedback"], json!(stored));

    // Erasing the session erases its ratings.
    let count = format!(
        "SELECT COUNT(*) FROM feedback WHERE tenant_id = '{}' AND session_id = '{session}'",
        site.tenant.id
    );
    assert_eq!(site.app.sql_scalar(&count), "2");
    let admin = staff_token(&site.tenant.id, Role::Admin, "root");
    let deleted = send(request(
        &site.app,
        Method::DELETE,
        &format!("/api/sessions/{session}"),
        Some(&admin),
    ));
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    assert_eq!(site.app.sql_scalar(&count), "0");
}

fn idle_conversations_are_counted_once_by_outcome(backend: Backend) {
    let site = Site::start(backend, &[]);
    let before = site.scrape();
    let base = |outcome| conversations(&before, outcome);

    // Resolved twice: an answer and then silence; an answer the visitor said solved it.
    let (s, t) = site.session();
    answered(&site, &s, &t);
    let (s, t) = site.session();
    answered(&site, &s, &t);
    assert_eq!(site.rate(&s, &t, &json!({ "resolved": true })).status, 200);
    // Unresolved: an answer rated not helpful.
    let (s, t) = site.session();
    let reply = answered(&site, &s, &t);
    let rated = site.rate(&s, &t, &json!({ "message_id": reply, "helpful": false }));
    assert_eq!(rated.status, 200);
    // Abandoned: the bot offered a person and the visitor left.
    let (s, t) = site.session();
    let offer = site.say(&s, &t, "Can I pay for my groceries with Bitcoin?");
    assert_eq!(offer["action"]["type"], "offer_handoff", "{offer}");
    // Handed off: the visitor asked for a person.
    let (s, t) = site.session();
    let handoff = site.say(&s, &t, "I want to talk to a human agent please");
    assert_eq!(handoff["action"]["type"], "escalate", "{handoff}");
    // Not a conversation: a session where the visitor never wrote.
    let (silent, _) = site.session();

    let after = site.scrape();
    for (outcome, moved) in [
        ("resolved", 2.0),
        ("unresolved", 1.0),
        ("abandoned", 1.0),
        ("handed_off", 1.0),
    ] {
        assert_eq!(
            conversations(&after, outcome) - base(outcome),
            moved,
            "{outcome}"
        );
    }
    let settled = format!(
        "SELECT outcome FROM sessions WHERE tenant_id = '{}' AND id = '{silent}'",
        site.tenant.id
    );
    assert_eq!(site.app.sql_scalar(&settled), "none");

    // Settled once: a later scrape, or a later rating, counts nothing again.
    assert_eq!(site.rate(&s, &t, &json!({ "resolved": true })).status, 200);
    let again = site.scrape();
    for outcome in ["resolved", "unresolved", "abandoned", "handed_off"] {
        assert_eq!(
            conversations(&again, outcome),
            conversations(&after, outcome),
            "{outcome}"
        );
    }
}

/// The routes of the improvement loop × every kind of caller, own tenant and the other: each
/// answers as the table says and nothing of one tenant reaches the other.
fn the_loop_routes_check_role_and_tenant(backend: Backend) {
    let other = TenantSeed::unique("other", ROOMY);
    let site = Site::start(backend, std::slice::from_ref(&other));
    let (session, visitor) = site.session();
    let secret = "Is there a Zanzibar branch office?";
    let turn = site.say(&session, &visitor, secret);
    let asked = turn["message"]["id"].as_str().unwrap().to_string();
    let (_, neighbour) = site.session();
    let other_visitor = {
        let created = send(post_json(
            &site.app,
            "/api/sessions",
            None,
            &json!({ "widget_key": other.widget_key }),
        ));
        created.json()["token"].as_str().unwrap().to_string()
    };
    let callers: Vec<(&str, Option<String>)> = vec![
        ("none", None),
        ("visitor of this session", Some(visitor.clone())),
        ("visitor of another session", Some(neighbour)),
        (
            "agent",
            Some(staff_token(&site.tenant.id, Role::Agent, "alice")),
        ),
        (
            "admin",
            Some(staff_token(&site.tenant.id, Role::Admin, "root")),
        ),
        ("visitor of the other tenant", Some(other_visitor)),
        (
            "agent of the other tenant",
            Some(staff_token(&other.id, Role::Agent, "bob")),
        ),
        (
            "admin of the other tenant",
            Some(staff_token(&other.id, Role::Admin, "boss")),
        ),
    ];
    let feedback = format!("/api/sessions/{session}/feedback");
    let history = format!("/api/sessions/{session}/messages");
    let curated = json!({ "question": "Zanzibar office?", "answer": "We have none.",
                          "message_ids": [asked] });
    let table: Vec<(Method, &str, Option<Value>, [u16; 8])> = vec![
        (
            Method::PUT,
            feedback.as_str(),
            Some(json!({ "resolved": false })),
            [401, 200, 404, 403, 403, 404, 403, 403],
        ),
        (
            Method::GET,
            history.as_str(),
            None,
            [401, 200, 404, 200, 200, 404, 404, 404],
        ),
        (
            Method::GET,
            "/api/kb/unanswered",
            None,
            [401, 403, 403, 403, 200, 403, 403, 200],
        ),
        (
            Method::GET,
            "/api/kb/curated",
            None,
            [401, 403, 403, 403, 200, 403, 403, 200],
        ),
        (
            Method::POST,
            "/api/kb/curated",
            Some(curated),
            [401, 403, 403, 403, 201, 403, 403, 201],
        ),
    ];
    for (method, path, body, expected) in &table {
        for ((who, caller), want) in callers.iter().zip(expected) {
            let mut req = request(&site.app, method.clone(), path, caller.as_deref());
            if let Some(body) = body {
                req = req
                    .header("content-type", "application/json")
                    .body(body.to_string());
            }
            let reply = send(req);
            let context = format!("{method} {path} as {who}");
            assert_eq!(reply.status, *want, "{context}: {}", reply.text);
            if who.contains("other tenant") {
                assert!(
                    !reply.text.contains(&session) && !reply.text.contains("Zanzibar branch"),
                    "{context} leaked: {}",
                    reply.text
                );
            }
            if *want == 201 {
                // Only the tenant's own questions are marked addressed.
                let marked = if who.contains("other tenant") { 0 } else { 1 };
                assert_eq!(reply.json()["addressed"], marked, "{context}");
            }
        }
    }
}

e2e::on_both_backends!(
    visitors_rate_replies_and_the_conversation_and_staff_see_it,
    idle_conversations_are_counted_once_by_outcome,
    the_loop_routes_check_role_and_tenant,
);
