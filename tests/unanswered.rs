//! The improvement loop end to end, with a real Chroma and the real embedding sidecar, on
//! both backends: questions the bot declined or that visitors rated "not helpful" appear in
//! `GET /api/kb/unanswered`, paraphrases grouped by embeddings, personal data masked, as JSON
//! and CSV; an admin writes a curated answer (`POST /api/kb/curated`), the group shows as
//! addressed, and the next visitor asking a paraphrase gets that answer, cited. Erasing a
//! session takes its questions off the list; only admins of the tenant see any of it.

use core_logic::auth::Role;
use e2e::http::{post_json, request, send, staff_token};
use e2e::platform::{Backend, PlatformApp, TenantSeed};
use e2e::services::{Chroma, Embedder};
use reqwest::Method;
use serde_json::{Value, json};

const ROOMY: &str = r#"{"rate_limits":{"per_visitor":100000,"per_client":100000}}"#;

const SHIPPING: &str = "# Shipping\n\n## Delivery times\n\nStandard delivery takes 3 to 5 \
working days. Express delivery arrives the next working day when you order before 2 pm.\n";

struct Site {
    app: PlatformApp,
    tenant: TenantSeed,
    admin: String,
    _chroma: Chroma,
    _embedder: Embedder,
}

impl Site {
    fn start(backend: Backend, others: &[TenantSeed]) -> Site {
        let tenant = TenantSeed::unique("loop", ROOMY);
        let mut tenants = vec![tenant.clone()];
        tenants.extend_from_slice(others);
        let chroma = Chroma::start();
        let embedder = Embedder::start();
        let app = PlatformApp::start_with_retrieval(backend, &tenants, &chroma, &embedder, &[]);
        let admin = staff_token(&tenant.id, Role::Admin, "ops");
        let stored = send(post_json(
            &app,
            "/api/kb/documents",
            Some(&admin),
            &json!({ "external_id": "shipping.md", "content": SHIPPING }),
        ));
        assert_eq!(stored.status, 201, "{}", stored.text);
        Site {
            app,
            tenant,
            admin,
            _chroma: chroma,
            _embedder: embedder,
        }
    }

    /// A new session that asks `text`: (session id, visitor token, the turn).
    fn ask(&self, text: &str) -> (String, String, Value) {
        let created = send(post_json(
            &self.app,
            "/api/sessions",
            None,
            &json!({ "widget_key": self.tenant.widget_key, "visitor": { "locale": "en" } }),
        ));
        assert_eq!(created.status, 201, "{}", created.text);
        let body = created.json();
        let session = body["session"]["id"].as_str().unwrap().to_string();
        let token = body["token"].as_str().unwrap().to_string();
        let turn = send(post_json(
            &self.app,
            &format!("/api/sessions/{session}/messages"),
            Some(&token),
            &json!({ "text": text }),
        ));
        assert_eq!(turn.status, 201, "{}", turn.text);
        (session, token, turn.json())
    }

    fn unanswered(&self, token: &str) -> Value {
        let reply = send(request(
            &self.app,
            Method::GET,
            "/api/kb/unanswered",
            Some(token),
        ));
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.json()
    }
}

/// Runs kb-loader against the app with `token`; its stdout (it must succeed).
fn kb_loader(site: &Site, token: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(e2e::devhost_bin().with_file_name("kb-loader"))
        .args(args)
        .args(["--url", &site.app.base])
        .env("SUPPORT_AGENT_TOKEN", token)
        .output()
        .unwrap();
    assert!(out.status.success(), "kb-loader {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The group holding the visitor message `id`.
fn group_of<'a>(list: &'a Value, id: &str) -> &'a Value {
    list["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["message_ids"].as_array().unwrap().iter().any(|m| m == id))
        .unwrap_or_else(|| panic!("message {id} is not on the list: {list}"))
}

fn message_id(turn: &Value) -> String {
    turn["message"]["id"].as_str().unwrap().to_string()
}

fn declined_questions_become_curated_answers_the_bot_then_cites(backend: Backend) {
    let other = TenantSeed::unique("elsewhere", ROOMY);
    let site = Site::start(backend, std::slice::from_ref(&other));

    // Two visitors ask the same thing in other words; the bot cannot answer either.
    let (first_session, _, first) = site.ask("Can I pay with Bitcoin?");
    assert_eq!(first["action"]["type"], "offer_handoff", "{first}");
    let (_, _, second) = site.ask("Do you accept bitcoin payments?");
    assert_eq!(second["action"]["type"], "offer_handoff", "{second}");
    // A third leaves an address and a phone number in a question the bot cannot answer.
    let (_, _, private) = site
        .ask("My email is ada@example.com and my phone is +44 20 7946 0958, can you gift wrap it?");
    assert_eq!(private["action"]["type"], "offer_handoff", "{private}");
    // An answer rated "not helpful" is on the list too.
    let (session, token, answered) = site.ask("How long does standard delivery take?");
    assert_eq!(answered["action"], Value::Null, "{answered}");
    let rated = send(
        request(
            &site.app,
            Method::PUT,
            &format!("/api/sessions/{session}/feedback"),
            Some(&token),
        )
        .header("content-type", "application/json")
        .body(json!({ "message_id": answered["reply"]["id"], "helpful": false }).to_string()),
    );
    assert_eq!(rated.status, 200, "{}", rated.text);
    // Asking for a person is not a knowledge-base gap: not on the list.
    let (_, _, handoff) = site.ask("I want to talk to a human agent please");
    assert_eq!(handoff["action"]["type"], "escalate", "{handoff}");

    let list = site.unanswered(&site.admin);
    assert_eq!(list["grouping"], "embeddings", "{list}");
    assert_eq!(list["questions"], 4, "{list}");
    let bitcoin = group_of(&list, &message_id(&first));
    assert_eq!(
        bitcoin["id"],
        group_of(&list, &message_id(&second))["id"],
        "paraphrases are one group: {list}"
    );
    assert_eq!(bitcoin["count"], 2);
    assert_eq!(bitcoin["reasons"]["declined"], 2);
    assert_eq!(bitcoin["addressed_by"], Value::Null);
    let delivery = group_of(&list, &message_id(&answered));
    assert_eq!(delivery["reasons"]["not_helpful"], 1);
    assert_eq!(delivery["passages"][0]["title"], "Shipping", "{delivery}");
    let masked = group_of(&list, &message_id(&private));
    let text = masked["question"].as_str().unwrap();
    assert!(
        text.contains("[email]") && text.contains("[phone]"),
        "{text}"
    );
    assert!(!list.to_string().contains("ada@example.com"), "{list}");
    assert!(!list.to_string().contains("7946"), "{list}");

    // The same rows as CSV.
    let csv = send(request(
        &site.app,
        Method::GET,
        "/api/kb/unanswered?format=csv",
        Some(&site.admin),
    ));
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let lines: Vec<&str> = csv.text.lines().collect();
    assert!(lines[0].starts_with("question,count,"), "{}", csv.text);
    assert_eq!(lines.len(), list["groups"].as_array().unwrap().len() + 1);

    // Only the tenant's admins see it.
    let agent = staff_token(&site.tenant.id, Role::Agent, "alice");
    for (token, status) in [(agent.as_str(), 403), ("nope", 401)] {
        let refused = send(request(
            &site.app,
            Method::GET,
            "/api/kb/unanswered",
            Some(token),
        ));
        assert_eq!(refused.status, status, "{}", refused.text);
    }
    let stranger = staff_token(&other.id, Role::Admin, "root");
    assert_eq!(site.unanswered(&stranger)["groups"], json!([]));

    // The admin writes the answer for the group; the group shows as addressed.
    let written = send(post_json(
        &site.app,
        "/api/kb/curated",
        Some(&site.admin),
        &json!({
            "question": "Can I pay with Bitcoin?",
            "answer": "No, we do not accept Bitcoin or other cryptocurrencies. You can pay \
                       with Visa, Mastercard or PayPal.",
            "message_ids": bitcoin["message_ids"],
        }),
    ));
    assert_eq!(written.status, 201, "{}", written.text);
    let written = written.json();
    assert_eq!(written["addressed"], 2);
    assert_eq!(written["document"]["content_type"], "curated");
    assert_eq!(written["vector_index"], "indexed");
    let document = written["document"]["id"].as_str().unwrap().to_string();
    let list = site.unanswered(&site.admin);
    assert_eq!(
        group_of(&list, &message_id(&first))["addressed_by"],
        document.as_str()
    );

    // The next visitor asking in other words gets the curated answer, cited.
    let (_, _, later) = site.ask("Is bitcoin accepted as a payment method?");
    assert_eq!(later["action"], Value::Null, "{later}");
    let reply = later["reply"]["text"].as_str().unwrap();
    assert!(reply.contains("do not accept Bitcoin"), "{reply}");
    assert_eq!(
        later["reply"]["citations"][0]["document_id"],
        document.as_str(),
        "{later}"
    );

    // Writing the same question again replaces its answer.
    let rewritten = send(post_json(
        &site.app,
        "/api/kb/curated",
        Some(&site.admin),
        &json!({ "question": "can I pay with  bitcoin?", "answer": "No: cards and PayPal only." }),
    ));
    assert_eq!(rewritten.status, 200, "{}", rewritten.text);
    let answers = send(request(
        &site.app,
        Method::GET,
        "/api/kb/curated",
        Some(&site.admin),
    ));
    assert_eq!(answers.status, 200);
    let answers = answers.json();
    assert_eq!(answers["answers"].as_array().unwrap().len(), 1, "{answers}");
    assert_eq!(
        answers["answers"][0]["answer"],
        "No: cards and PayPal only."
    );
    assert_eq!(answers["answers"][0]["document_id"], document.as_str());
    // kb-loader exports them as JSON Lines and imports them into another tenant.
    let exported = tempfile::NamedTempFile::new().unwrap();
    let path = exported.path().to_str().unwrap();
    kb_loader(&site, &site.admin, &["curated", "export", "--out", path]);
    let lines = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        lines.trim(),
        r#"{"question":"can I pay with bitcoin?","answer":"No: cards and PayPal only."}"#
    );
    let imported = kb_loader(&site, &stranger, &["curated", "import", path]);
    assert!(imported.contains("created"), "{imported}");
    let theirs = send(request(
        &site.app,
        Method::GET,
        "/api/kb/curated",
        Some(&stranger),
    ));
    assert_eq!(theirs.json()["answers"].as_array().unwrap().len(), 1);
    for bad in [
        json!({ "question": "", "answer": "x" }),
        json!({ "question": "q", "answer": "x", "message_ids": ["nope"] }),
        json!({ "question": "q" }),
    ] {
        let refused = send(post_json(
            &site.app,
            "/api/kb/curated",
            Some(&site.admin),
            &bad,
        ));
        assert_eq!(refused.status, 400, "{bad}: {}", refused.text);
    }

    // Erasing a session takes its question off the list.
    let deleted = send(request(
        &site.app,
        Method::DELETE,
        &format!("/api/sessions/{first_session}"),
        Some(&site.admin),
    ));
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    let list = site.unanswered(&site.admin);
    assert!(!list.to_string().contains(&message_id(&first)), "{list}");
    assert_eq!(group_of(&list, &message_id(&second))["count"], 1);
}

e2e::on_both_backends!(declined_questions_become_curated_answers_the_bot_then_cites);
