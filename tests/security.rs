//! Security checks end to end, through devhost:
//!
//! - **every route** of the route table (`core_logic::api::ROUTES`) called by tenant B's
//!   visitor, agent and admin on tenant A's objects: never A's data (401/403/404 on A's
//!   objects, B's own data only on collections), unauthenticated calls 401; a route added to
//!   the table fails this test until it is listed in [`case`]; on both backends;
//! - inbound webhooks for tenant A signed with tenant B's secret are refused;
//! - tokens, API keys, widget keys and webhook secrets appear in no log line and no
//!   problem+json body, after real traffic (deliveries with credentials, a failing LLM);
//! - a zip-bomb DOCX as a chat attachment is a 4xx problem, not a 5xx;
//! - SSRF: with `allowed_outbound_hosts` wide open, tenant webhooks aimed at loopback,
//!   link-local, private and numerically disguised addresses are refused at send time
//!   (dead-lettered, nothing reaches a receiver listening there); a public name is not.
//!
//! The signature and replay-window checks of inbound webhooks (stale timestamps, tampered
//! bodies, wrong secrets, per provider) are in `tests/handoff.rs`
//! (`inbound_webhooks_reject_forgeries_replays_and_junk`) and `core::handoff`'s unit tests;
//! upload size limits of the knowledge base in `tests/kb.rs`.

use core_logic::api::{ROUTES, Route};
use core_logic::auth::Role;
use core_logic::handoff::{Secret, sign};
use e2e::TEST_JWT_SECRET;
use e2e::http::{Reply, post_json, request, send, staff_token};
use e2e::platform::{Backend, PlatformApp, TenantSeed, unique_suffix};
use e2e::ticketing::{Behaviour, Ticketing};
use reqwest::Method;
use reqwest::blocking::multipart::{Form, Part};
use serde_json::{Value, json};

const FLUSH_TOKEN: &str = "flush-token-security-4477-never-shown";
const METRICS_TOKEN: &str = "metrics-token-security-9931-never-shown";
const LLM_KEY: &str = "sk-llm-key-security-2718-never-shown";
const ROOMY: &str = r#""rate_limits": { "per_visitor": 100000, "per_client": 100000 }"#;

/// Tenant A's credentials; B has its own.
struct Creds {
    hook_secret: String,
    zendesk_token: String,
    freshdesk_key: String,
    inbound_generic: String,
    inbound_zendesk: String,
    inbound_freshdesk: String,
}

impl Creds {
    fn new(label: &str) -> Creds {
        let s = unique_suffix();
        Creds {
            hook_secret: format!("whsec-{label}-out-{s}"),
            zendesk_token: format!("zd-token-{label}-{s}"),
            freshdesk_key: format!("fd-key-{label}-{s}"),
            inbound_generic: format!("whsec-{label}-in-{s}"),
            inbound_zendesk: format!("zd-signing-{label}-{s}"),
            inbound_freshdesk: format!("fd-shared-{label}-{s}"),
        }
    }

    fn all(&self) -> Vec<&str> {
        vec![
            self.hook_secret.as_str(),
            self.zendesk_token.as_str(),
            self.freshdesk_key.as_str(),
            self.inbound_generic.as_str(),
            self.inbound_zendesk.as_str(),
            self.inbound_freshdesk.as_str(),
        ]
    }

    fn settings(&self, receiver: &str) -> String {
        let handoff = json!({
            "webhooks": [
                { "name": "ops", "format": "generic", "url": format!("{receiver}/hooks/ops"),
                  "secret": self.hook_secret },
                { "name": "zd", "format": "zendesk", "url": receiver, "secret": self.hook_secret,
                  "email": "bot@acme.example", "api_token": self.zendesk_token },
                { "name": "fd", "format": "freshdesk", "url": receiver,
                  "secret": self.hook_secret, "api_key": self.freshdesk_key },
            ],
            "inbound": { "generic": self.inbound_generic, "zendesk": self.inbound_zendesk,
                         "freshdesk": self.inbound_freshdesk },
            "max_attempts": 3,
        });
        format!(r#"{{ {ROOMY}, "handoff": {handoff} }}"#)
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A visitor session of `tenant`: (session id, visitor token).
fn start_session(app: &PlatformApp, tenant: &TenantSeed, name: &str) -> (String, String) {
    app.open_session_id(tenant, json!({ "name": name }))
}

/// What a route is allowed to answer tenant B's callers.
enum Case {
    /// The path names one of tenant A's objects: 401/403/404 problems for everyone of B,
    /// 401 without a token.
    Foreign { path: String, body: Body },
    /// A collection of the caller's own tenant: B may succeed (its own data) or be refused
    /// by role; never A's data; 401 without a token.
    OwnTenant { path: String, body: Body },
    /// Not reached with tenant tokens: public or operator routes and signed webhooks; the
    /// statuses each caller gets are listed (none, B visitor, B agent, B admin).
    Fixed {
        path: String,
        body: Body,
        statuses: [&'static [u16]; 4],
    },
}

#[derive(Clone)]
enum Body {
    None,
    Json(Value),
    Attachment,
}

/// Tenant A's objects the matrix aims at.
struct Targets {
    tenant: String,
    session: String,
    document: String,
    external_id: String,
    outbox: String,
}

/// The case of each route; a route missing here fails the matrix, so a new route is checked
/// from the day it is added.
fn case(route: &Route, a: &Targets, b_widget_key: &str) -> Case {
    let s = &a.session;
    let foreign = |path: String, body: Body| Case::Foreign { path, body };
    let own = |path: &str, body: Body| Case::OwnTenant {
        path: path.to_string(),
        body,
    };
    match (route.method, route.path) {
        ("GET", "/health") => Case::Fixed {
            path: "/health".into(),
            body: Body::None,
            statuses: [&[200]; 4],
        },
        // Without the embedder and Chroma the app is not ready: 503, for anyone.
        ("GET", "/health/ready") => Case::Fixed {
            path: "/health/ready".into(),
            body: Body::None,
            statuses: [&[200, 503]; 4],
        },
        // Only the operator's metrics token opens it; tenant tokens do not.
        ("GET", "/metrics") => Case::Fixed {
            path: "/metrics".into(),
            body: Body::None,
            statuses: [&[401]; 4],
        },
        // Anyone may start a session of B with B's public widget key.
        ("POST", "/api/sessions") => Case::Fixed {
            path: "/api/sessions".into(),
            body: Body::Json(json!({ "widget_key": b_widget_key })),
            statuses: [&[201]; 4],
        },
        ("GET", "/api/sessions") => own("/api/sessions", Body::None),
        ("GET", "/api/sessions/{id}") => foreign(format!("/api/sessions/{s}"), Body::None),
        ("DELETE", "/api/sessions/{id}") => foreign(format!("/api/sessions/{s}"), Body::None),
        ("POST", "/api/sessions/{id}/token") => {
            foreign(format!("/api/sessions/{s}/token"), Body::None)
        }
        ("POST", "/api/sessions/{id}/messages") => foreign(
            format!("/api/sessions/{s}/messages"),
            Body::Json(json!({ "text": "What did the other visitor say?" })),
        ),
        ("GET", "/api/sessions/{id}/messages") => {
            foreign(format!("/api/sessions/{s}/messages"), Body::None)
        }
        ("GET", "/api/sessions/{id}/events") => {
            foreign(format!("/api/sessions/{s}/events?after=0"), Body::None)
        }
        ("POST", "/api/sessions/{id}/attachments") => {
            foreign(format!("/api/sessions/{s}/attachments"), Body::Attachment)
        }
        ("PUT", "/api/sessions/{id}/feedback") => foreign(
            format!("/api/sessions/{s}/feedback"),
            Body::Json(json!({ "resolved": true })),
        ),
        ("POST", "/api/kb/documents") => own(
            "/api/kb/documents",
            Body::Json(json!({ "external_id": "b-notes.md",
                               "content": "# B notes\n\nTenant B's own text.\n" })),
        ),
        ("GET", "/api/kb/documents") => own("/api/kb/documents", Body::None),
        ("GET", "/api/kb/documents/{id}") => {
            foreign(format!("/api/kb/documents/{}", a.document), Body::None)
        }
        ("DELETE", "/api/kb/documents/{id}") => {
            foreign(format!("/api/kb/documents/{}", a.document), Body::None)
        }
        // Keyed by the caller's external id: B writes B's own document of that name, and
        // A's stays as it was (checked after the matrix).
        ("PUT", "/api/kb/documents/{id}") => own(
            &format!("/api/kb/documents/{}", a.external_id),
            Body::Json(json!({ "content": "# Overwritten\n\nTenant B was here.\n" })),
        ),
        ("POST", "/api/kb/search") => own(
            "/api/kb/search",
            Body::Json(json!({ "query": "turquoise pelican warranty", "mode": "keyword" })),
        ),
        ("POST", "/api/kb/reindex") => own("/api/kb/reindex", Body::None),
        ("GET", "/api/kb/unanswered") => own("/api/kb/unanswered", Body::None),
        ("GET", "/api/kb/curated") => own("/api/kb/curated", Body::None),
        ("POST", "/api/kb/curated") => own(
            "/api/kb/curated",
            Body::Json(json!({ "question": "Do you ship to Mars?", "answer": "Not yet." })),
        ),
        ("POST", "/api/sessions/{id}/escalate") => {
            foreign(format!("/api/sessions/{s}/escalate"), Body::None)
        }
        ("GET", "/api/agent/conversations") => own("/api/agent/conversations", Body::None),
        ("GET", "/api/agent/conversations/{id}") => {
            foreign(format!("/api/agent/conversations/{s}"), Body::None)
        }
        ("POST", "/api/agent/conversations/{id}/claim") => {
            foreign(format!("/api/agent/conversations/{s}/claim"), Body::None)
        }
        ("POST", "/api/agent/conversations/{id}/messages") => foreign(
            format!("/api/agent/conversations/{s}/messages"),
            Body::Json(json!({ "text": "An agent of another company writes." })),
        ),
        ("POST", "/api/agent/conversations/{id}/resolve") => {
            foreign(format!("/api/agent/conversations/{s}/resolve"), Body::None)
        }
        ("POST", "/api/agent/conversations/{id}/handback") => {
            foreign(format!("/api/agent/conversations/{s}/handback"), Body::None)
        }
        // Webhooks authenticate by signature, not by token: unsigned is 401 for everyone
        // (B's secret on A's tenant is tried separately).
        ("POST", "/api/webhooks/{provider}") => Case::Fixed {
            path: format!("/api/webhooks/generic?tenant={}", a.tenant),
            body: Body::Json(json!({ "id": "evt-x", "type": "ticket.comment",
                                     "ticket_id": "0", "comment": { "body": "x" } })),
            statuses: [&[401]; 4],
        },
        // B's admin flushes B's own outbox (nothing); the visitor and agent may not.
        ("POST", "/api/admin/outbox/flush") => own("/api/admin/outbox/flush", Body::None),
        ("GET", "/api/admin/outbox") => own("/api/admin/outbox?state=pending", Body::None),
        ("POST", "/api/admin/outbox/{id}/replay") => {
            foreign(format!("/api/admin/outbox/{}/replay", a.outbox), Body::None)
        }
        _ => panic!(
            "{} {} is not in the security matrix (tests/security.rs `case`): say what tenant \
             B's callers may get from it",
            route.method, route.path
        ),
    }
}

fn call(app: &PlatformApp, method: &str, path: &str, token: Option<&str>, body: &Body) -> Reply {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let builder = request(app, method, path, token);
    let builder = match body {
        Body::None => builder,
        Body::Json(value) => builder
            .header("content-type", "application/json")
            .body(value.to_string()),
        Body::Attachment => builder.multipart(Form::new().part(
            "file",
            Part::bytes(b"# Note\n\nhello\n".to_vec()).file_name("note.md"),
        )),
    };
    send(builder)
}

fn is_problem(reply: &Reply) -> bool {
    reply.header("content-type") == Some("application/problem+json")
}

fn no_tenant_crosses_over_on_any_route(backend: Backend) {
    let receiver = Ticketing::start(Behaviour {
        fail_first: 1,
        ..Behaviour::default()
    });
    let (creds_a, creds_b) = (Creds::new("a"), Creds::new("b"));
    let tenant_a = TenantSeed::unique("sec-a", &creds_a.settings(&receiver.url()));
    let tenant_b = TenantSeed::unique("sec-b", &creds_b.settings(&receiver.url()));
    let llm_port = e2e::closed_port();
    let (llm_url, llm_origin) = (
        format!("http://127.0.0.1:{llm_port}/v1"),
        format!("http://127.0.0.1:{llm_port}"),
    );
    let app = PlatformApp::start(
        backend,
        &[tenant_a.clone(), tenant_b.clone()],
        &[
            ("SPIN_VARIABLE_WEBHOOK_HOSTS_A", "http://127.0.0.1:*"),
            ("SPIN_VARIABLE_WEBHOOK_TIMEOUT_MS", "2000"),
            ("SPIN_VARIABLE_OUTBOX_RETRY_BASE_MS", "100"),
            ("SPIN_VARIABLE_OUTBOX_FLUSH_TOKEN", FLUSH_TOKEN),
            ("SPIN_VARIABLE_METRICS_TOKEN", METRICS_TOKEN),
            ("SPIN_VARIABLE_LLM_BASE_URL", llm_url.as_str()),
            ("SPIN_VARIABLE_LLM_ORIGIN", llm_origin.as_str()),
            ("SPIN_VARIABLE_LLM_MODEL", "test-model"),
            ("SPIN_VARIABLE_LLM_API_KEY", LLM_KEY),
            ("SPIN_VARIABLE_LLM_TIMEOUT_MS", "1000"),
        ],
    );
    let admin_a = staff_token(&tenant_a.id, Role::Admin, "root-a");

    // Tenant A's data, each piece carrying a marker B must never see.
    let marker = format!("turquoise pelican warranty {}", unique_suffix());
    let (session_a, visitor_a) = start_session(&app, &tenant_a, "Ottoline Quarrendon");
    let said = send(post_json(
        &app,
        &format!("/api/sessions/{session_a}/messages"),
        Some(&visitor_a),
        &json!({ "text": format!("Is the {marker} still valid?") }),
    ));
    assert!(said.status < 300, "{}", said.text);
    let document = send(post_json(
        &app,
        "/api/kb/documents",
        Some(&admin_a),
        &json!({ "external_id": "a-private.md",
                 "content": format!("# Warranty\n\nThe {marker} lasts ten years.\n") }),
    ));
    assert_eq!(document.status, 201, "{}", document.text);
    let document_id = document.json()["document"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let curated = send(post_json(
        &app,
        "/api/kb/curated",
        Some(&admin_a),
        &json!({ "question": format!("What is the {marker}?"),
                 "answer": format!("The {marker} is ours.") }),
    ));
    assert_eq!(curated.status, 201, "{}", curated.text);
    let escalated = send(request(
        &app,
        Method::POST,
        &format!("/api/sessions/{session_a}/escalate"),
        Some(&visitor_a),
    ));
    assert!(escalated.status < 300, "{}", escalated.text);
    let ticket_a = escalated.json()["ticket"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Deliveries with every credential, the first one failing, then flushed through.
    for _ in 0..5 {
        let flushed = send(request(
            &app,
            Method::POST,
            "/api/admin/outbox/flush",
            Some(FLUSH_TOKEN),
        ));
        assert_eq!(flushed.status, 200, "{}", flushed.text);
        if receiver.accepted().len() >= 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    assert!(
        receiver.accepted().len() >= 3,
        "the deliveries with credentials did not happen: {:?}",
        receiver.received().len()
    );
    let outbox_a = app.sql_scalar(&format!(
        "SELECT id FROM outbox WHERE tenant_id = '{}' ORDER BY id LIMIT 1",
        tenant_a.id
    ));
    assert!(!outbox_a.is_empty(), "tenant A has no outbox event");

    let targets = Targets {
        tenant: tenant_a.id.clone(),
        session: session_a.clone(),
        document: document_id.clone(),
        external_id: "a-private.md".into(),
        outbox: outbox_a,
    };

    // Tenant B's callers.
    let (_, visitor_b) = start_session(&app, &tenant_b, "Bram");
    let agent_b = staff_token(&tenant_b.id, Role::Agent, "agent-b");
    let admin_b = staff_token(&tenant_b.id, Role::Admin, "root-b");
    let callers: [(&str, Option<&str>); 4] = [
        ("no token", None),
        ("B's visitor", Some(visitor_b.as_str())),
        ("B's agent", Some(agent_b.as_str())),
        ("B's admin", Some(admin_b.as_str())),
    ];
    let a_secrets: Vec<String> = vec![
        marker.clone(),
        "Quarrendon".into(),
        tenant_a.id.clone(),
        tenant_a.widget_key.clone(),
        ticket_a.clone(),
        visitor_a.clone(),
        admin_a.clone(),
    ];

    let mut replies: Vec<(String, Reply)> = Vec::new();
    for route in ROUTES {
        let case = case(route, &targets, &tenant_b.widget_key);
        let (path, body) = match &case {
            Case::Foreign { path, body }
            | Case::OwnTenant { path, body }
            | Case::Fixed { path, body, .. } => (path.clone(), body.clone()),
        };
        for (i, (who, token)) in callers.iter().enumerate() {
            let reply = call(&app, route.method, &path, *token, &body);
            let context = format!("{} {path} as {who}", route.method);
            assert!(
                reply.status < 500,
                "{context}: {} {}",
                reply.status,
                reply.text
            );
            match &case {
                Case::Foreign { .. } => {
                    let want: &[u16] = if token.is_none() {
                        &[401]
                    } else {
                        &[401, 403, 404]
                    };
                    assert!(
                        want.contains(&reply.status),
                        "{context}: {} {}",
                        reply.status,
                        reply.text
                    );
                    assert!(is_problem(&reply), "{context}: {}", reply.text);
                }
                Case::OwnTenant { .. } => {
                    if token.is_none() {
                        assert_eq!(reply.status, 401, "{context}: {}", reply.text);
                    }
                    assert!(
                        reply.status < 300 || [401, 403, 404].contains(&reply.status),
                        "{context}: {} {}",
                        reply.status,
                        reply.text
                    );
                }
                Case::Fixed { statuses, .. } => {
                    assert!(
                        statuses[i].contains(&reply.status),
                        "{context}: {} {}",
                        reply.status,
                        reply.text
                    );
                }
            }
            if reply.status >= 400 {
                assert!(
                    is_problem(&reply),
                    "{context}: not problem+json: {}",
                    reply.text
                );
            }
            for secret in &a_secrets {
                if !path.contains(secret.as_str()) {
                    assert!(
                        !reply.text.contains(secret.as_str()),
                        "{context} shows tenant A's {secret:?}: {}",
                        reply.text
                    );
                }
            }
            replies.push((context, reply));
        }
    }

    // A's objects are all still there and unchanged.
    let kept = send(request(
        &app,
        Method::GET,
        &format!("/api/kb/documents/{document_id}"),
        Some(&admin_a),
    ));
    assert_eq!(kept.status, 200, "{}", kept.text);
    assert!(
        kept.text.contains(&marker),
        "A's document changed: {}",
        kept.text
    );
    let session = send(request(
        &app,
        Method::GET,
        &format!("/api/sessions/{session_a}"),
        Some(&visitor_a),
    ));
    assert_eq!(session.status, 200, "A's session is gone: {}", session.text);
    let history = send(request(
        &app,
        Method::GET,
        &format!("/api/sessions/{session_a}/messages"),
        Some(&visitor_a),
    ));
    assert!(
        !history.text.contains("another company") && !history.text.contains("other visitor"),
        "B wrote into A's conversation: {}",
        history.text
    );
    let conversation = send(request(
        &app,
        Method::GET,
        &format!("/api/agent/conversations/{session_a}"),
        Some(&admin_a),
    ));
    assert_eq!(conversation.status, 200, "{}", conversation.text);
    assert!(
        conversation.json()["ticket"]["assignee"].is_null(),
        "B claimed A's ticket: {}",
        conversation.text
    );

    // An inbound webhook for A, correctly signed with B's secret, is refused.
    let comment = json!({ "id": "c-cross", "type": "ticket.comment", "ticket_id": ticket_a,
                          "comment": { "body": "Signed by the wrong tenant" } })
    .to_string();
    let signature = sign(
        &Secret::new(&creds_b.inbound_generic),
        now_secs(),
        comment.as_bytes(),
    );
    let forged = send(
        request(
            &app,
            Method::POST,
            &format!("/api/webhooks/generic?tenant={}", tenant_a.id),
            None,
        )
        .header("content-type", "application/json")
        .header("x-support-signature", signature)
        .body(comment),
    );
    forged.assert_problem(401, "B's signature on A's webhook");
    replies.push(("B's signature on A's webhook".into(), forged));

    // No credential in any problem body, nor in any log line.
    let mut secrets: Vec<(String, String)> = vec![
        ("the JWT secret".into(), TEST_JWT_SECRET.into()),
        ("the flush token".into(), FLUSH_TOKEN.into()),
        ("the metrics token".into(), METRICS_TOKEN.into()),
        ("the LLM API key".into(), LLM_KEY.into()),
        ("A's visitor token".into(), visitor_a.clone()),
        ("A's admin token".into(), admin_a.clone()),
        ("B's visitor token".into(), visitor_b.clone()),
        ("B's agent token".into(), agent_b.clone()),
        ("B's admin token".into(), admin_b.clone()),
        ("A's widget key".into(), tenant_a.widget_key.clone()),
        ("B's widget key".into(), tenant_b.widget_key.clone()),
    ];
    for creds in [&creds_a, &creds_b] {
        for secret in creds.all() {
            secrets.push(("a webhook credential".into(), secret.to_string()));
        }
    }
    for (context, reply) in &replies {
        if reply.status >= 400 {
            for (what, secret) in &secrets {
                assert!(
                    !reply.text.contains(secret.as_str()),
                    "{context}: {what} is in the problem: {}",
                    reply.text
                );
            }
        }
    }
    let logs = app.logs();
    assert!(!logs.is_empty());
    for (what, secret) in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "{what} is in the app's log"
        );
    }
    // The credentials did go out, to the receiver only.
    assert!(
        receiver
            .received()
            .iter()
            .any(|r| r.header("authorization").is_some()),
        "no delivery carried credentials"
    );
}

/// A zip bomb as a chat attachment: a 4xx problem (never a 5xx, never a hang of the host).
fn a_zip_bomb_attachment_is_refused(backend: Backend) {
    let tenant = TenantSeed::unique("sec-bomb", &format!("{{ {ROOMY} }}"));
    let app = PlatformApp::start(backend, std::slice::from_ref(&tenant), &[]);
    let (session, visitor) = start_session(&app, &tenant, "Zip");
    let bomb =
        std::fs::read(e2e::repo_root().join("crates/docparse/tests/fixtures/bomb.docx")).unwrap();
    let reply = send(
        request(
            &app,
            Method::POST,
            &format!("/api/sessions/{session}/attachments"),
            Some(&visitor),
        )
        .multipart(Form::new().part("file", Part::bytes(bomb).file_name("bomb.docx"))),
    );
    assert!(
        (400..500).contains(&reply.status) && is_problem(&reply),
        "{} {}",
        reply.status,
        reply.text
    );
    // The app still answers.
    assert_eq!(app.get("/health").status(), 200);
}

e2e::on_both_backends!(
    no_tenant_crosses_over_on_any_route,
    a_zip_bomb_attachment_is_refused,
);

/// Webhook URLs a tenant might set to reach the inside of the network; `{port}` is a
/// receiver listening on this machine.
const PRIVATE_URLS: &[&str] = &[
    "http://127.0.0.1:{port}/hooks",
    "http://localhost:{port}/hooks",
    "http://[::1]:{port}/hooks",
    "http://2130706433:{port}/hooks",
    "http://0x7f000001:{port}/hooks",
    "http://127.1:{port}/hooks",
    "http://[::ffff:127.0.0.1]:{port}/hooks",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/hooks",
    "http://172.16.0.1/hooks",
    "http://192.168.1.1/hooks",
    "http://[fc00::1]/hooks",
    "http://[fe80::1]/hooks",
    "http://0.0.0.0:{port}/hooks",
    "http://metadata.google.internal/computeMetadata/v1/",
];

#[test]
fn webhooks_never_reach_private_addresses_even_with_outbound_hosts_wide_open() {
    let receiver = Ticketing::start(Behaviour::default());
    let port = receiver.url().rsplit(':').next().unwrap().to_string();
    let mut hooks: Vec<Value> = PRIVATE_URLS
        .iter()
        .enumerate()
        .map(|(i, url)| {
            json!({ "name": format!("h{i}"), "format": "generic",
                    "url": url.replace("{port}", &port), "secret": "whsec-ssrf" })
        })
        .collect();
    // A public name: not refused by the check (it fails later: no network in the tests).
    hooks.push(json!({ "name": "public", "format": "generic",
                       "url": "https://hooks.example.com/support", "secret": "whsec-ssrf" }));
    let settings = json!({ "rate_limits": { "per_visitor": 100000, "per_client": 100000 },
                           "handoff": { "webhooks": hooks, "max_attempts": 5 } });
    let tenant = TenantSeed::unique("sec-ssrf", &settings.to_string());
    let app = PlatformApp::start(
        Backend::Sqlite,
        std::slice::from_ref(&tenant),
        &[
            // An operator opened outbound HTTP to everything...
            ("SPIN_VARIABLE_WEBHOOK_HOSTS_A", "*://*:*"),
            ("SPIN_VARIABLE_WEBHOOK_HOSTS_B", "*://*:*"),
            // ...but did not opt into private hosts.
            ("SPIN_VARIABLE_WEBHOOK_ALLOW_PRIVATE_HOSTS", "false"),
            ("SPIN_VARIABLE_WEBHOOK_TIMEOUT_MS", "1000"),
            ("SPIN_VARIABLE_OUTBOX_RETRY_BASE_MS", "100"),
            ("SPIN_VARIABLE_OUTBOX_FLUSH_TOKEN", FLUSH_TOKEN),
        ],
    );
    let (session, visitor) = start_session(&app, &tenant, "Sam");
    let escalated = send(request(
        &app,
        Method::POST,
        &format!("/api/sessions/{session}/escalate"),
        Some(&visitor),
    ));
    assert!(escalated.status < 300, "{}", escalated.text);
    let flushed = send(request(
        &app,
        Method::POST,
        "/api/admin/outbox/flush",
        Some(FLUSH_TOKEN),
    ));
    assert_eq!(flushed.status, 200, "{}", flushed.text);

    let admin = staff_token(&tenant.id, Role::Admin, "root");
    let dead = send(request(
        &app,
        Method::GET,
        "/api/admin/outbox?state=dead",
        Some(&admin),
    ));
    assert_eq!(dead.status, 200, "{}", dead.text);
    let dead = dead.json();
    let events = dead["events"].as_array().unwrap();
    for (i, url) in PRIVATE_URLS.iter().enumerate() {
        let target = format!("h{i}");
        let event = events
            .iter()
            .find(|e| e["target"] == target.as_str())
            .unwrap_or_else(|| panic!("the delivery to {url} was not refused: {dead:#}"));
        assert_eq!(event["attempts"], 1, "{event}");
        let error = event["last_error"].as_str().unwrap_or("");
        assert!(error.contains("refused to deliver"), "{url}: {error}");
        assert!(!error.contains("whsec-ssrf"), "{error}");
    }
    assert!(
        !events.iter().any(|e| e["target"] == "public"),
        "a public name was refused as private: {dead:#}"
    );
    assert!(
        receiver.received().is_empty(),
        "a private address was reached: {:?}",
        receiver.received()
    );
    assert!(!app.logs().contains("whsec-ssrf"));
}
