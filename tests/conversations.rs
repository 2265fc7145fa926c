//! Conversations end to end: `/api/sessions/{id}/messages|events|attachments` through
//! devhost with a real Chroma and the real embedding sidecar, on both backends.
//!
//! A question gets an answer with correct citations; a question outside the knowledge base
//! gets no invented answer but an offer of a person; asking for a person escalates (a
//! structured action) and the bot stays silent afterwards; an attachment answers only in
//! its own session and goes with it; retries with an idempotency key never produce a second
//! reply; the SSE stream parses with a real SSE parser; the event feed's cursor and long-poll.

use core_logic::auth::Role;
use e2e::http::{Reply, post_json, request, send, staff_token};
use e2e::platform::{Backend, PlatformApp, TenantSeed};
use e2e::services::{Chroma, Embedder};
use eventsource_stream::Eventsource;
use reqwest::Method;
use reqwest::blocking::multipart::{Form, Part};
use serde_json::{Value, json};

const ROOMY: &str = r#"{"rate_limits":{"per_visitor":100000,"per_client":100000}}"#;

const REFUNDS: &str = "# Refunds\n\n## Eligibility\n\nYou can return an unused item within 30 \
days of delivery for a full refund.\n\n## How long a refund takes\n\nOnce the warehouse receives \
your return, the refund reaches your card within 5 to 7 business days.\n";

const SHIPPING: &str = "# Shipping\n\n## Delivery times\n\nStandard delivery takes 3 to 5 \
working days. Express delivery arrives the next working day when you order before 2 pm.\n\n\
## Shipping costs\n\nStandard delivery is free on orders over 50 euros; otherwise it costs \
4.90 euros.\n";

struct Chat {
    app: PlatformApp,
    tenant: TenantSeed,
    /// Further tenants with the same articles ([`Chat::start_with`]).
    others: Vec<TenantSeed>,
    _chroma: Chroma,
    _embedder: Embedder,
}

impl Chat {
    fn start(backend: Backend) -> Chat {
        Chat::start_with(backend, &[ROOMY], Embedder::start(), &[])
    }

    /// The app (with `env`) with one tenant per entry of `settings`, each with the refunds
    /// and shipping articles; the first is `tenant`, the rest `others`.
    fn start_with(
        backend: Backend,
        settings: &[&str],
        embedder: Embedder,
        env: &[(&str, &str)],
    ) -> Chat {
        let mut tenants: Vec<TenantSeed> = settings
            .iter()
            .map(|s| TenantSeed::unique("chat", s))
            .collect();
        let chroma = Chroma::start();
        let app = PlatformApp::start_with_retrieval(backend, &tenants, &chroma, &embedder, env);
        for tenant in &tenants {
            let admin = staff_token(&tenant.id, Role::Admin, "ops");
            for (id, text) in [("billing/refunds.md", REFUNDS), ("shipping.md", SHIPPING)] {
                let reply = send(post_json(
                    &app,
                    "/api/kb/documents",
                    Some(&admin),
                    &json!({ "external_id": id, "content": text,
                             "source_url": format!("https://help.example/{id}") }),
                ));
                assert_eq!(reply.status, 201, "{}", reply.text);
            }
        }
        let tenant = tenants.remove(0);
        Chat {
            app,
            tenant,
            others: tenants,
            _chroma: chroma,
            _embedder: embedder,
        }
    }

    /// A new session: (id, visitor token).
    fn session(&self) -> (String, String) {
        self.session_of(&self.tenant)
    }

    /// A new session of `tenant`: (id, visitor token).
    fn session_of(&self, tenant: &TenantSeed) -> (String, String) {
        self.app.open_session_id(tenant, json!({ "locale": "en" }))
    }

    fn say(&self, session: &str, token: &str, text: &str) -> Reply {
        send(post_json(
            &self.app,
            &format!("/api/sessions/{session}/messages"),
            Some(token),
            &json!({ "text": text }),
        ))
    }

    fn events(&self, session: &str, token: &str, query: &str) -> Value {
        let reply = send(request(
            &self.app,
            Method::GET,
            &format!("/api/sessions/{session}/events?{query}"),
            Some(token),
        ));
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.json()
    }
}

fn questions_get_cited_answers_and_unknowns_get_no_invention(backend: Backend) {
    let chat = Chat::start(backend);
    let (session, token) = chat.session();

    let reply = chat.say(
        &session,
        &token,
        "How many days does standard delivery take?",
    );
    assert_eq!(reply.status, 201, "{}", reply.text);
    let turn = reply.json();
    assert_eq!(turn["message"]["author"], "visitor");
    let bot = &turn["reply"];
    assert_eq!(bot["author"], "bot");
    assert_eq!(bot["responder"], "extractive");
    assert!(bot["action"].is_null(), "{turn}");
    let text = bot["text"].as_str().unwrap();
    assert!(text.contains("3 to 5 working days"), "{text}");
    assert!(text.contains("[1]"), "{text}");
    let citation = &bot["citations"][0];
    assert_eq!(citation["marker"], 1);
    assert_eq!(citation["title"], "Shipping");
    assert_eq!(citation["source_url"], "https://help.example/shipping.md");
    assert!(
        citation["quote"]
            .as_str()
            .unwrap()
            .contains("3 to 5 working days")
    );
    assert!(citation["heading_path"].as_array().unwrap().len() >= 2);

    // A follow-up that only makes sense with the previous turn.
    let follow = chat.say(&session, &token, "Can I return an unused item I bought?");
    let follow = follow.json();
    assert!(
        follow["reply"]["text"].as_str().unwrap().contains("30"),
        "{follow}"
    );
    assert_eq!(follow["reply"]["citations"][0]["title"], "Refunds");

    // Nothing in the knowledge base: no invented answer, an offer of a person.
    let unknown = chat.say(
        &session,
        &token,
        "Do you repair vintage pianos in Antarctica?",
    );
    assert_eq!(unknown.status, 201);
    let unknown = unknown.json();
    assert_eq!(unknown["reply"]["citations"], json!([]));
    assert!(
        unknown["reply"]["text"]
            .as_str()
            .unwrap()
            .contains("don't want to guess"),
        "{unknown}"
    );
    assert_eq!(unknown["action"]["type"], "offer_handoff");
    assert_eq!(unknown["reply"]["action"]["type"], "offer_handoff");

    // The history holds all six messages in order; the feed the same as events.
    let history = send(request(
        &chat.app,
        Method::GET,
        &format!("/api/sessions/{session}/messages"),
        Some(&token),
    ))
    .json();
    let authors: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["author"].as_str().unwrap())
        .collect();
    assert_eq!(
        authors,
        ["visitor", "bot", "visitor", "bot", "visitor", "bot"]
    );
    let feed = chat.events(&session, &token, "after=0");
    assert_eq!(feed["events"].as_array().unwrap().len(), 6);
    assert_eq!(feed["cursor"], 6);
}

fn the_bot_remembers_facts_follow_ups_and_older_turns(backend: Backend) {
    let chat = Chat::start(backend);
    let (session, token) = chat.session();
    let first = chat
        .say(
            &session,
            &token,
            "Hi, I'm Anna Berg. How much does standard delivery cost?",
        )
        .json();
    assert!(
        first["reply"]["text"].as_str().unwrap().contains("4.90"),
        "{first}"
    );
    assert_eq!(first["follow_up_query"], Value::Null, "{first}");
    // A follow-up is retrieved with the previous question's context, and the turn says so.
    let follow = chat.say(&session, &token, "And express?").json();
    let query = follow["follow_up_query"].as_str().unwrap();
    assert!(
        query.ends_with("And express?") && query.contains("delivery"),
        "{follow}"
    );
    assert!(
        follow["reply"]["text"]
            .as_str()
            .unwrap()
            .contains("next working day"),
        "{follow}"
    );
    for question in [
        "My email is anna.berg@example.test",
        "How long does standard delivery take?",
        "Can I return an unused item?",
    ] {
        assert_eq!(chat.say(&session, &token, question).status, 201);
    }
    let agent = staff_token(&chat.tenant.id, Role::Agent, "alice");
    let history = send(request(
        &chat.app,
        Method::GET,
        &format!("/api/sessions/{session}/messages"),
        Some(&agent),
    ))
    .json();
    let facts = history["memory"]["facts"].to_string();
    assert!(facts.contains("Anna Berg"), "{facts}");
    assert!(facts.contains("anna.berg@example.test"), "{facts}");
    // Five turns are ten messages: the oldest have left the recent window for the summary.
    let summary = history["memory"]["summary"].as_str().unwrap();
    assert!(summary.contains("Visitor asked about"), "{summary}");
    assert!(summary.to_lowercase().contains("delivery"), "{summary}");
    // The visitor's own view has no memory section.
    let own = send(request(
        &chat.app,
        Method::GET,
        &format!("/api/sessions/{session}/messages"),
        Some(&token),
    ))
    .json();
    assert!(own.get("memory").is_none());
}

fn asking_for_a_person_escalates_and_the_bot_stays_silent(backend: Backend) {
    let chat = Chat::start(backend);
    let (session, token) = chat.session();
    let turn = chat
        .say(&session, &token, "I want to talk to a real person please")
        .json();
    assert_eq!(turn["action"]["type"], "escalate", "{turn}");
    assert_eq!(turn["action"]["reason"], "human_requested");
    // The decision is structured, not a phrase the client has to recognise.
    assert!(turn["reply"]["text"].as_str().unwrap().contains("person"));

    let read = send(request(
        &chat.app,
        Method::GET,
        &format!("/api/sessions/{session}"),
        Some(&token),
    ))
    .json();
    assert_eq!(read["session"]["status"], "handed_off");
    let feed = chat.events(&session, &token, "after=0");
    let status = feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "status")
        .expect("a status event");
    assert_eq!(status["data"]["status"], "handed_off");
    assert_eq!(status["data"]["reason"], "human_requested");

    // Handed off: the message is stored, no bot reply, a notice instead.
    let after = chat.say(&session, &token, "How long does express delivery take?");
    assert_eq!(after.status, 201, "{}", after.text);
    let after = after.json();
    assert!(after["reply"].is_null(), "{after}");
    assert_eq!(after["action"]["type"], "handed_off");
    assert!(after["notice"].as_str().unwrap().contains("person"));
    let history = send(request(
        &chat.app,
        Method::GET,
        &format!("/api/sessions/{session}/messages"),
        Some(&token),
    ))
    .json();
    let last = history["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["author"], "visitor");
    assert_eq!(last["text"], "How long does express delivery take?");

    // A sensitive topic escalates too, with its intent.
    let (other, other_token) = chat.session();
    let legal = chat
        .say(
            &other,
            &other_token,
            "I will sue you, my lawyer is preparing legal action",
        )
        .json();
    assert_eq!(legal["action"]["type"], "escalate", "{legal}");
    assert_eq!(legal["action"]["reason"], "sensitive_topic");
    assert_eq!(legal["action"]["intent"], "legal");
}

fn attachments_answer_only_in_their_own_session(backend: Backend) {
    let chat = Chat::start(backend);
    let (mine, my_token) = chat.session();
    let (theirs, their_token) = chat.session();
    let doc = "# My order\n\nThe warranty code for your Zorblax 9000 blender is WX-4471. \
               Keep it for repairs.\n";
    let form = Form::new().part(
        "file",
        Part::bytes(doc.as_bytes().to_vec()).file_name("order.md"),
    );
    let uploaded = send(
        request(
            &chat.app,
            Method::POST,
            &format!("/api/sessions/{mine}/attachments"),
            Some(&my_token),
        )
        .multipart(form),
    );
    assert_eq!(uploaded.status, 201, "{}", uploaded.text);
    assert_eq!(uploaded.json()["vector_index"], "indexed");

    let question = "What is the warranty code for my Zorblax 9000 blender?";
    let answer = chat.say(&mine, &my_token, question).json();
    assert!(
        answer["reply"]["text"]
            .as_str()
            .unwrap()
            .contains("WX-4471"),
        "{answer}"
    );
    assert_eq!(answer["reply"]["citations"][0]["title"], "order.md");
    let other = chat.say(&theirs, &their_token, question).json();
    assert!(!other.to_string().contains("WX-4471"), "{other}");
    assert!(other["reply"]["citations"].as_array().unwrap().is_empty());
    // The knowledge base's search preview never shows an attachment.
    let admin = staff_token(&chat.tenant.id, Role::Admin, "ops");
    let preview = send(post_json(
        &chat.app,
        "/api/kb/search",
        Some(&admin),
        &json!({ "query": "Zorblax warranty code" }),
    ));
    assert!(!preview.text.contains("WX-4471"), "{}", preview.text);

    // A message may carry its file directly.
    let form = Form::new().text("text", "Which colour did I order?").part(
        "file",
        Part::bytes(b"# Order 5521\n\nYou ordered the Zorblax 9000 in teal green.\n".to_vec())
            .file_name("order-5521.md"),
    );
    let with_file = send(
        request(
            &chat.app,
            Method::POST,
            &format!("/api/sessions/{mine}/messages"),
            Some(&my_token),
        )
        .multipart(form),
    );
    assert_eq!(with_file.status, 201, "{}", with_file.text);
    assert!(with_file.text.contains("teal green"), "{}", with_file.text);

    // Erasing the session erases its attachments: the other session still cannot see them,
    // and the visitor's session is gone.
    let erased = send(request(
        &chat.app,
        Method::DELETE,
        &format!("/api/sessions/{mine}"),
        Some(&my_token),
    ));
    assert_eq!(erased.status, 204, "{}", erased.text);
    let again = chat.say(&theirs, &their_token, question).json();
    assert!(!again.to_string().contains("WX-4471"));
    send(request(
        &chat.app,
        Method::GET,
        &format!("/api/sessions/{mine}/messages"),
        Some(&admin),
    ))
    .assert_problem(404, "erased session");
}

fn retries_never_produce_a_second_reply(backend: Backend) {
    let chat = Chat::start(backend);
    let (session, token) = chat.session();
    let path = format!("/api/sessions/{session}/messages");
    let send_keyed = |text: &str| {
        send(
            post_json(&chat.app, &path, Some(&token), &json!({ "text": text }))
                .header("idempotency-key", "retry-1"),
        )
    };
    let first = send_keyed("How long does standard delivery take?");
    assert_eq!(first.status, 201, "{}", first.text);
    let second = send_keyed("How long does standard delivery take?");
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(first.json()["reply"]["id"], second.json()["reply"]["id"]);
    assert_eq!(
        first.json()["message"]["id"],
        second.json()["message"]["id"]
    );
    send_keyed("Something else entirely").assert_problem(422, "same key, other text");
    let history = send(request(&chat.app, Method::GET, &path, Some(&token))).json();
    assert_eq!(history["messages"].as_array().unwrap().len(), 2);
}

fn replies_stream_as_server_sent_events(backend: Backend) {
    let chat = Chat::start(backend);
    let (session, token) = chat.session();
    let resp = post_json(
        &chat.app,
        &format!("/api/sessions/{session}/messages"),
        Some(&token),
        &json!({ "text": "How much does standard delivery cost?" }),
    )
    .header("accept", "text/event-stream")
    .send()
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let bytes = resp.bytes().unwrap();
    let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes)]).eventsource();
    let events: Vec<_> =
        futures_executor::block_on(futures_util::StreamExt::collect::<Vec<_>>(stream))
            .into_iter()
            .map(|e| e.expect("a well-formed event"))
            .collect();
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names.first(), Some(&"message"));
    assert_eq!(&names[names.len() - 3..], ["citations", "action", "done"]);
    let tokens: String = events
        .iter()
        .filter(|e| e.event == "token")
        .map(|e| {
            serde_json::from_str::<Value>(&e.data).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let done: Value = serde_json::from_str(&events.last().unwrap().data).unwrap();
    assert_eq!(tokens, done["reply"]["text"].as_str().unwrap());
    assert!(tokens.contains("4.90"), "{tokens}");
    let citations: Value = serde_json::from_str(&events[names.len() - 3].data).unwrap();
    assert_eq!(citations["citations"][0]["title"], "Shipping");
}

fn the_event_feed_follows_its_cursor_and_long_polls(backend: Backend) {
    let chat = Chat::start(backend);
    let (session, token) = chat.session();
    assert_eq!(
        chat.events(&session, &token, "after=0")["events"],
        json!([])
    );
    chat.say(&session, &token, "How long does express delivery take?");
    let feed = chat.events(&session, &token, "after=0&limit=1");
    assert_eq!(feed["events"].as_array().unwrap().len(), 1);
    assert_eq!(feed["cursor"], 1);
    let rest = chat.events(&session, &token, "after=1");
    assert_eq!(rest["events"][0]["cursor"], 2);
    assert_eq!(rest["events"][0]["data"]["author"], "bot");
    // Nothing new: an empty list and the same cursor, after waiting.
    let started = std::time::Instant::now();
    let empty = chat.events(&session, &token, "after=2&wait=1");
    assert_eq!(empty["events"], json!([]));
    assert_eq!(empty["cursor"], 2);
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    // A long-poll returns as soon as something happens.
    std::thread::scope(|scope| {
        let poll = scope.spawn(|| chat.events(&session, &token, "after=2&wait=20"));
        std::thread::sleep(std::time::Duration::from_millis(500));
        chat.say(&session, &token, "And the shipping costs?");
        let woke = poll.join().unwrap();
        assert_eq!(woke["events"][0]["cursor"], 3);
        assert_eq!(woke["events"][0]["data"]["text"], "And the shipping costs?");
    });
    // Staff of the tenant may read the feed; another visitor may not.
    let agent = staff_token(&chat.tenant.id, Role::Agent, "alice");
    assert_eq!(chat.events(&session, &agent, "after=0")["cursor"], 4);
    let (_, stranger) = chat.session();
    send(request(
        &chat.app,
        Method::GET,
        &format!("/api/sessions/{session}/events"),
        Some(&stranger),
    ))
    .assert_problem(404, "another visitor's feed");
}

fn bad_input_and_strangers_get_4xx_problems(backend: Backend) {
    let chat = Chat::start(backend);
    let (session, token) = chat.session();
    let (_, stranger) = chat.session();
    let path = format!("/api/sessions/{session}/messages");
    send(post_json(&chat.app, &path, None, &json!({ "text": "hi" })))
        .assert_problem(401, "no token");
    send(post_json(
        &chat.app,
        &path,
        Some(&stranger),
        &json!({ "text": "hi" }),
    ))
    .assert_problem(404, "another visitor");
    let agent = staff_token(&chat.tenant.id, Role::Agent, "alice");
    send(post_json(
        &chat.app,
        &path,
        Some(&agent),
        &json!({ "text": "hi" }),
    ))
    .assert_problem(403, "agents reply elsewhere");
    for body in [
        json!({ "text": "" }),
        json!({ "text": "x".repeat(4001) }),
        json!({ "text": "hi", "colour": "red" }),
        json!({ "text": 5 }),
        json!({ "text": "hi", "attachments": ["../x"] }),
    ] {
        send(post_json(&chat.app, &path, Some(&token), &body)).assert_problem(400, "bad body");
    }
    for query in ["after=-1", "wait=26", "limit=0", "foo=1"] {
        send(request(
            &chat.app,
            Method::GET,
            &format!("/api/sessions/{session}/events?{query}"),
            Some(&token),
        ))
        .assert_problem(400, query);
    }
    send(request(
        &chat.app,
        Method::GET,
        &format!("{path}?cursor=zz"),
        Some(&token),
    ))
    .assert_problem(400, "bad cursor");
    let png = Form::new().part(
        "file",
        Part::bytes(b"\x89PNG\r\n\x1a\n\0".to_vec()).file_name("a.png"),
    );
    send(
        request(
            &chat.app,
            Method::POST,
            &format!("/api/sessions/{session}/attachments"),
            Some(&token),
        )
        .multipart(png),
    )
    .assert_problem(415, "png attachment");
    let big = Form::new().part(
        "file",
        Part::bytes(vec![b'a'; 11 * 1024 * 1024]).file_name("a.txt"),
    );
    send(
        request(
            &chat.app,
            Method::POST,
            &format!("/api/sessions/{session}/attachments"),
            Some(&token),
        )
        .multipart(big),
    )
    .assert_problem(413, "big attachment");
    send(request(&chat.app, Method::DELETE, &path, Some(&token))).assert_problem(405, "delete");
    send(post_json(
        &chat.app,
        "/api/sessions/not-a-session/messages",
        Some(&token),
        &json!({ "text": "hi" }),
    ))
    .assert_problem(404, "malformed id");
}

fn repeated_failures_offer_a_person_and_the_bot_keeps_answering(backend: Backend) {
    let chat = Chat::start(backend);
    let (session, token) = chat.session();
    let unknowns = [
        "Do you repair vintage pianos in Antarctica?",
        "Can I pay for the piano tuning with seashells?",
        "Which violin strings suit a cello in winter?",
    ];
    for (i, text) in unknowns.iter().enumerate() {
        let turn = chat.say(&session, &token, text);
        assert_eq!(turn.status, 201, "{}", turn.text);
        let turn = turn.json();
        assert_eq!(turn["action"]["type"], "offer_handoff", "{turn}");
        let reason = if i < 2 {
            "not_in_knowledge_base"
        } else {
            "repeated_failure"
        };
        assert_eq!(turn["action"]["reason"], reason, "{turn}");
    }
    // An offer, not a handoff: the session stays with the bot, which answers what it can.
    let state = send(request(
        &chat.app,
        Method::GET,
        &format!("/api/sessions/{session}"),
        Some(&token),
    ))
    .json();
    assert_eq!(state["session"]["status"], "open", "{state}");
    let answered = chat
        .say(&session, &token, "How long does standard delivery take?")
        .json();
    assert_eq!(answered["action"], Value::Null, "{answered}");
    assert_eq!(answered["reply"]["citations"][0]["title"], "Shipping");
}

fn a_vague_question_about_one_of_several_things_gets_a_clarifying_question(backend: Backend) {
    let chat = Chat::start(backend);
    let admin = staff_token(&chat.tenant.id, Role::Admin, "ops");
    for (id, text) in [
        (
            "sutro.md",
            "# Sutro Library\n\nThe Sutro Library in San Francisco holds genealogy collections \
             and rare books.\n",
        ),
        (
            "state.md",
            "# California State Library\n\nThe California State Library in Sacramento keeps \
             the state's government documents.\n",
        ),
    ] {
        let reply = send(post_json(
            &chat.app,
            "/api/kb/documents",
            Some(&admin),
            &json!({ "external_id": id, "content": text }),
        ));
        assert_eq!(reply.status, 201, "{}", reply.text);
    }
    let (session, token) = chat.session();
    let turn = chat
        .say(
            &session,
            &token,
            "What facilities does this library provide for the public?",
        )
        .json();
    assert_eq!(turn["action"]["type"], "clarify", "{turn}");
    let mut options: Vec<&str> = turn["action"]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    options.sort_unstable();
    assert_eq!(options, ["California State Library", "Sutro Library"]);
    let text = turn["reply"]["text"].as_str().unwrap();
    assert!(text.starts_with("Which one do you mean:"), "{text}");
    assert_eq!(turn["reply"]["citations"], json!([]));

    // Once the conversation has named the library, "this library" is that one: answered.
    let (session, token) = chat.session();
    chat.say(&session, &token, "Tell me about the Sutro Library.");
    let turn = chat
        .say(&session, &token, "What collections does this library hold?")
        .json();
    assert_eq!(turn["action"], Value::Null, "{turn}");
    assert_eq!(turn["reply"]["citations"][0]["title"], "Sutro Library");

    // "This animal" with nothing said about one: asked, with no titles to offer.
    let (session, token) = chat.session();
    let turn = chat
        .say(&session, &token, "Does this animal have antlers?")
        .json();
    assert_eq!(
        turn["action"],
        json!({ "type": "clarify", "reason": null, "options": [] }),
        "{turn}"
    );
    assert_eq!(
        turn["reply"]["text"],
        "Could you tell me which one you mean by \"this animal\"?"
    );
}

fn a_partly_covered_question_gets_the_covered_part_and_what_is_missing(backend: Backend) {
    let chat = Chat::start(backend);
    let (session, token) = chat.session();
    // The shipping article gives the cost of standard delivery and names no country.
    let turn = chat
        .say(
            &session,
            &token,
            "How much does standard delivery cost to Iceland?",
        )
        .json();
    // The rest is answered, with its source; a person is offered for what is missing.
    assert_eq!(
        turn["action"],
        json!({ "type": "offer_handoff", "reason": "partly_covered" }),
        "{turn}"
    );
    let text = turn["reply"]["text"].as_str().unwrap();
    assert!(
        text.starts_with(
            "I couldn't find anything about \"Iceland\" in our help center. Here is what I found: "
        ),
        "{text}"
    );
    assert!(text.contains("4.90 euros"), "{text}");
    assert_eq!(turn["reply"]["citations"][0]["title"], "Shipping", "{turn}");
    // Asked without the country, nothing is missing.
    let turn = chat
        .say(&session, &token, "How much does standard delivery cost?")
        .json();
    assert_eq!(turn["action"], Value::Null, "{turn}");
    let text = turn["reply"]["text"].as_str().unwrap();
    assert!(!text.contains("couldn't find"), "{text}");
    assert!(text.contains("4.90 euros"), "{text}");
}

fn a_reranking_tenant_answers_only_what_the_last_question_asks(backend: Backend) {
    // Three tenants rerank: the first lets the reranker decide with a threshold, the second
    // with a threshold of nothing, the third leaves the fused confidence to decide.
    let rerank =
        r#""rate_limits":{"per_visitor":100000,"per_client":100000},"retrieval":{"rerank":true}"#;
    let chat = Chat::start_with(
        backend,
        &[
            &format!(r#"{{{rerank},"answer":{{"min_rerank_score":0.16}}}}"#),
            &format!(r#"{{{rerank},"answer":{{"min_rerank_score":0}}}}"#),
            &format!("{{{rerank}}}"),
        ],
        Embedder::start_with_reranker(),
        // About 90 ms a passage on two cores: room for a busy machine, so the reranker's
        // word, not its absence, decides.
        &[("SPIN_VARIABLE_EMBEDDER_TIMEOUT_MS", "10000")],
    );
    let mut turns = Vec::new();
    for (i, tenant) in [&chat.tenant, &chat.others[0], &chat.others[1]]
        .into_iter()
        .enumerate()
    {
        let (session, token) = chat.session_of(tenant);
        let first = chat
            .say(&session, &token, "How much does standard delivery cost?")
            .json();
        assert_eq!(first["action"], Value::Null, "{first}");
        assert!(
            first["reply"]["text"]
                .as_str()
                .unwrap()
                .contains("4.90 euros"),
            "{first}"
        );
        assert_eq!(
            first["reply"]["citations"][0]["title"], "Shipping",
            "{first}"
        );
        // The follow-up is searched with the first question's words, which find the shipping
        // article again; with a threshold, the reranker reads the last question alone
        // against it.
        let second = chat.say(
            &session,
            &token,
            "Does express delivery come with a tracking number?",
        );
        assert_eq!(second.status, 201, "{}", second.text);
        let timing = second
            .header("server-timing")
            .unwrap_or_default()
            .to_string();
        assert_eq!(timing.contains("rerank_question"), i < 2, "{timing}");
        turns.push(second.json());
    }
    // The shipping article does not say, so no answer, a person.
    let strict = &turns[0];
    assert_eq!(
        strict["action"],
        json!({ "type": "offer_handoff", "reason": "not_in_knowledge_base" }),
        "{strict}"
    );
    assert_eq!(strict["reply"]["citations"], json!([]), "{strict}");
    // With a threshold of nothing, or judged by the fused confidence, sentences about
    // express delivery are quoted for it.
    for answered in &turns[1..] {
        assert_eq!(
            answered["reply"]["citations"][0]["title"], "Shipping",
            "{answered}"
        );
    }
}

fn a_follow_up_is_answered_from_the_conversations_subject_or_not_at_all(backend: Backend) {
    // No confidence threshold: what the responder quotes, not the gate, is under test.
    let chat = Chat::start_with(
        backend,
        &[
            r#"{"rate_limits":{"per_visitor":100000,"per_client":100000},"answer":{"min_confidence":0}}"#,
        ],
        Embedder::start(),
        &[],
    );
    let (session, token) = chat.session();
    let first = chat
        .say(&session, &token, "Can an unused item be returned?")
        .json();
    assert_eq!(first["action"], Value::Null, "{first}");
    assert_eq!(
        first["reply"]["citations"][0]["title"], "Refunds",
        "{first}"
    );
    // "it" is the returned item. The shipping article's "Express delivery arrives the next
    // working day" shares the message's words but is about deliveries: no answer from it,
    // and the refunds article does not say.
    let second = chat
        .say(&session, &token, "Does it arrive the next day?")
        .json();
    assert_eq!(
        second["action"],
        json!({ "type": "offer_handoff", "reason": "not_in_knowledge_base" }),
        "{second}"
    );
    assert_eq!(second["reply"]["citations"], json!([]), "{second}");
    // Asked about deliveries, the shipping article answers.
    let third = chat
        .say(
            &session,
            &token,
            "Does express delivery arrive the next day?",
        )
        .json();
    assert_eq!(third["action"], Value::Null, "{third}");
    assert_eq!(
        third["reply"]["citations"][0]["title"], "Shipping",
        "{third}"
    );
}

fn greetings_and_thanks_get_a_courteous_reply_not_an_offer(backend: Backend) {
    let chat = Chat::start(backend);
    let (session, token) = chat.session();
    let hello = chat.say(&session, &token, "Hi there!").json();
    assert_eq!(
        hello["action"],
        json!({ "type": "small_talk", "kind": "greeting" }),
        "{hello}"
    );
    assert_eq!(hello["reply"]["text"], "Hello! What can I help you with?");
    assert_eq!(hello["reply"]["responder"], "small_talk");
    assert_eq!(hello["reply"]["citations"], json!([]));
    // A greeting with a question in it is a question.
    let asked = chat
        .say(
            &session,
            &token,
            "Hi, how long does standard delivery take?",
        )
        .json();
    assert_eq!(asked["action"], Value::Null, "{asked}");
    assert_eq!(asked["reply"]["citations"][0]["title"], "Shipping");
    let thanks = chat
        .say(&session, &token, "Thanks, that helped a lot.")
        .json();
    assert_eq!(thanks["action"]["kind"], "thanks", "{thanks}");
    // Small talk is no failed turn: two unknown questions later, the second is still an
    // offer for "not in the knowledge base", not yet for repeated failure.
    for text in [
        "Do you repair vintage pianos in Antarctica?",
        "Can I pay for the piano tuning with seashells?",
    ] {
        let turn = chat.say(&session, &token, text).json();
        assert_eq!(turn["action"]["reason"], "not_in_knowledge_base", "{turn}");
    }
    let bye = chat.say(&session, &token, "ok thanks, bye").json();
    assert_eq!(bye["action"]["kind"], "goodbye", "{bye}");
}

e2e::on_both_backends!(
    a_follow_up_is_answered_from_the_conversations_subject_or_not_at_all,
    a_reranking_tenant_answers_only_what_the_last_question_asks,
    a_partly_covered_question_gets_the_covered_part_and_what_is_missing,
    greetings_and_thanks_get_a_courteous_reply_not_an_offer,
    a_vague_question_about_one_of_several_things_gets_a_clarifying_question,
    repeated_failures_offer_a_person_and_the_bot_keeps_answering,
    questions_get_cited_answers_and_unknowns_get_no_invention,
    the_bot_remembers_facts_follow_ups_and_older_turns,
    asking_for_a_person_escalates_and_the_bot_stays_silent,
    attachments_answer_only_in_their_own_session,
    retries_never_produce_a_second_reply,
    replies_stream_as_server_sent_events,
    the_event_feed_follows_its_cursor_and_long_polls,
    bad_input_and_strangers_get_4xx_problems,
);
