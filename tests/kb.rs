//! The knowledge base end to end: `/api/kb` through devhost with a real Chroma server and the
//! real embedding sidecar, the same suite on both backends ((SQLite, SQLite) and
//! (PostgreSQL, Redis)).
//!
//! Covers ingest of every format → hybrid search with per-retriever ranks, upsert semantics
//! (unchanged content is not re-embedded), delete from every index, tenant isolation through
//! every route, degraded search and pending vectors with the embedder or Chroma stopped, and
//! bad input as 4xx problem+json.

use core_logic::auth::Role;
use e2e::http::{Reply, post_json, request, send, staff_token};
use e2e::platform::{Backend, PlatformApp, TenantSeed};
use e2e::repo_root;
use e2e::services::{Chroma, Embedder};
use reqwest::Method;
use reqwest::blocking::multipart::{Form, Part};
use serde_json::{Value, json};

const METRICS_TOKEN: &str = "kb-metrics-token";

/// The value of one series in the app's `/metrics` (0 when absent).
fn metric(app: &PlatformApp, series: &str) -> f64 {
    let text = send(request(app, Method::GET, "/metrics", Some(METRICS_TOKEN))).text;
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.trim().parse().ok())
        })
        .unwrap_or(0.0)
}

const ROOMY: &str = r#"{"rate_limits":{"per_visitor":100000,"per_client":100000}}"#;

/// The app on `backend` with its own Chroma and embedder.
struct KbApp {
    app: PlatformApp,
    chroma: Chroma,
    embedder: Embedder,
}

fn start(backend: Backend, tenants: &[TenantSeed]) -> KbApp {
    start_with(backend, tenants, Embedder::start())
}

fn start_with(backend: Backend, tenants: &[TenantSeed], embedder: Embedder) -> KbApp {
    let chroma = Chroma::start();
    let app = PlatformApp::start_with_retrieval(
        backend,
        tenants,
        &chroma,
        &embedder,
        &[("SPIN_VARIABLE_METRICS_TOKEN", METRICS_TOKEN)],
    );
    KbApp {
        app,
        chroma,
        embedder,
    }
}

fn admin(tenant: &TenantSeed) -> String {
    staff_token(&tenant.id, Role::Admin, "ops")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        repo_root()
            .join("crates/docparse/tests/fixtures")
            .join(name),
    )
    .unwrap()
}

fn encode_segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn put_file(
    app: &PlatformApp,
    token: &str,
    external_id: &str,
    name: &str,
    bytes: Vec<u8>,
) -> Reply {
    let form = Form::new().part("file", Part::bytes(bytes).file_name(name.to_string()));
    send(
        request(
            app,
            Method::PUT,
            &format!("/api/kb/documents/{}", encode_segment(external_id)),
            Some(token),
        )
        .multipart(form),
    )
}

fn post_markdown(app: &PlatformApp, token: &str, external_id: &str, content: &str) -> Reply {
    send(post_json(
        app,
        "/api/kb/documents",
        Some(token),
        &json!({
            "external_id": external_id,
            "content": content,
            "file_name": format!("{external_id}.md"),
            "source_url": format!("https://help.example/{external_id}"),
        }),
    ))
}

fn search(app: &PlatformApp, token: &str, query: &str, mode: &str) -> Value {
    let reply = send(post_json(
        app,
        "/api/kb/search",
        Some(token),
        &json!({ "query": query, "mode": mode, "limit": 5 }),
    ));
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()
}

fn top_external_id(results: &Value) -> Option<String> {
    results["results"][0]["external_id"]
        .as_str()
        .map(str::to_string)
}

fn external_ids(results: &Value) -> Vec<String> {
    results["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["external_id"].as_str().unwrap().to_string())
        .collect()
}

const REFUNDS: &str = "# Refunds\n\n## Eligibility\n\nYou can get your money back within 30 days \
of delivery if the item is unused and in its original packaging.\n\n## How long it takes\n\n\
Refunds reach your card within 5 to 7 business days after the warehouse receives the return.\n";

const PASSWORDS: &str = "# Account security\n\n## Resetting a forgotten password\n\nOpen the \
sign-in page, choose \"Forgot password\" and follow the link we email you. The link expires \
after 30 minutes.\n\n## Two-factor authentication\n\nTurn on two-factor authentication under \
Settings › Security to require a code from your phone at each sign-in.\n";

fn ingest_every_format_then_search_update_and_delete(backend: Backend) {
    let tenant = TenantSeed::unique("kb", ROOMY);
    let kb = start(backend, std::slice::from_ref(&tenant));
    let app = &kb.app;
    let token = admin(&tenant);
    // Counters may be shared with other runs (Redis): compare before and after.
    let created_before = metric(
        app,
        "support_knowledge_documents_ingested_total{outcome=\"created\"}",
    );
    let vector_searches_before = metric(
        app,
        "support_retrieval_duration_seconds_count{retriever=\"vector\"}",
    );

    let created = post_markdown(app, &token, "billing/refunds.md", REFUNDS);
    assert_eq!(created.status, 201, "{}", created.text);
    let body = created.json();
    assert_eq!(body["status"], "created");
    assert_eq!(body["vector_index"], "indexed");
    assert_eq!(body["document"]["title"], "Refunds");
    assert_eq!(body["document"]["content_type"], "markdown");
    assert_eq!(
        body["document"]["source_url"],
        "https://help.example/billing/refunds.md"
    );
    let refunds_id = body["document"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        post_markdown(app, &token, "account/security.md", PASSWORDS).status,
        201
    );
    for (id, name) in [
        ("shipping/shipping.pdf", "shipping.pdf"),
        ("shipping/shipping.docx", "shipping.docx"),
        ("shipping/shipping.html", "shipping.html"),
        ("data/prices.csv", "prices.csv"),
        ("data/order.json", "order.json"),
        ("notes.txt", "notes.txt"),
    ] {
        let reply = put_file(app, &token, id, name, fixture(name));
        assert_eq!(reply.status, 201, "{id}: {}", reply.text);
        assert_eq!(reply.json()["vector_index"], "indexed", "{id}");
    }

    // The list pages in external-id order.
    let page = send(request(
        app,
        Method::GET,
        "/api/kb/documents?limit=5",
        Some(&token),
    ));
    assert_eq!(page.status, 200, "{}", page.text);
    let page = page.json();
    let first: Vec<&str> = page["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["external_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        first,
        [
            "account/security.md",
            "billing/refunds.md",
            "data/order.json",
            "data/prices.csv",
            "notes.txt"
        ]
    );
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = send(request(
        app,
        Method::GET,
        &format!("/api/kb/documents?limit=5&cursor={cursor}"),
        Some(&token),
    ))
    .json();
    assert_eq!(rest["documents"].as_array().unwrap().len(), 3);
    assert!(rest["next_cursor"].is_null());

    // One document with its chunks.
    let read = send(request(
        app,
        Method::GET,
        &format!("/api/kb/documents/{refunds_id}"),
        Some(&token),
    ));
    assert_eq!(read.status, 200, "{}", read.text);
    let read = read.json();
    assert_eq!(read["document"]["external_id"], "billing/refunds.md");
    let chunks = read["chunks"].as_array().unwrap();
    assert!(!chunks.is_empty());
    assert_eq!(chunks[0]["heading_path"][0], "Refunds");

    // Every retriever finds the right article; hybrid shows both views.
    let keyword = search(app, &token, "refund business days", "keyword");
    assert_eq!(
        top_external_id(&keyword).as_deref(),
        Some("billing/refunds.md")
    );
    assert!(keyword["results"][0]["vector"].is_null());
    assert_eq!(keyword["degraded"], false);
    // A paraphrase sharing no words with the article is the vector retriever's job.
    let vector = search(app, &token, "I forgot my login credentials", "vector");
    assert_eq!(
        top_external_id(&vector).as_deref(),
        Some("account/security.md")
    );
    let hybrid = search(
        app,
        &token,
        "when will my money be returned to my card",
        "hybrid",
    );
    assert_eq!(
        top_external_id(&hybrid).as_deref(),
        Some("billing/refunds.md")
    );
    let best = &hybrid["results"][0];
    assert_eq!(best["rank"], 1);
    assert!(best["vector"]["rank"].as_u64().is_some(), "{best}");
    assert!(best["title"] == "Refunds" && best["source_url"].is_string());
    assert!(hybrid["confidence"].as_f64().unwrap() > 0.0);
    assert_eq!(hybrid["missing"], json!([]));
    // PDF passages cite their page.
    let pdf = search(app, &token, "shipping", "keyword");
    let pdf_hit = pdf["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["external_id"] == "shipping/shipping.pdf")
        .expect("the PDF is found");
    assert!(pdf_hit["page"].as_u64().is_some(), "{pdf_hit}");

    // Uploads and searches are counted.
    assert!(
        metric(
            app,
            "support_knowledge_documents_ingested_total{outcome=\"created\"}"
        ) - created_before
            >= 8.0
    );
    assert!(
        metric(
            app,
            "support_retrieval_duration_seconds_count{retriever=\"vector\"}"
        ) - vector_searches_before
            >= 2.0
    );
    assert!(
        metric(
            app,
            "support_knowledge_chunks_indexed_total{vectors=\"indexed\"}"
        ) >= 8.0
    );

    // Same content again: nothing is redone.
    let again = post_markdown(app, &token, "billing/refunds.md", REFUNDS);
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["status"], "unchanged");
    assert_eq!(again.json()["document"]["id"], refunds_id.as_str());

    // New content replaces the old passages in both indexes.
    let changed = REFUNDS
        .replace("30 days", "45 days")
        .replace("5 to 7", "10 to 12");
    let updated = post_markdown(app, &token, "billing/refunds.md", &changed);
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.json()["status"], "updated");
    assert_eq!(updated.json()["document"]["id"], refunds_id.as_str());
    let texts: String = search(app, &token, "refund business days", "hybrid")["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_string())
        .collect();
    assert!(
        texts.contains("10 to 12") && !texts.contains("5 to 7"),
        "{texts}"
    );

    // Delete removes it from every retriever.
    let deleted = send(request(
        app,
        Method::DELETE,
        &format!("/api/kb/documents/{refunds_id}"),
        Some(&token),
    ));
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    for mode in ["keyword", "vector", "hybrid"] {
        let found = search(app, &token, "refund money back business days", mode);
        assert!(
            !external_ids(&found).contains(&"billing/refunds.md".to_string()),
            "{mode}: {found}"
        );
    }
    send(request(
        app,
        Method::GET,
        &format!("/api/kb/documents/{refunds_id}"),
        Some(&token),
    ))
    .assert_problem(404, "deleted document");
    send(request(
        app,
        Method::DELETE,
        &format!("/api/kb/documents/{refunds_id}"),
        Some(&token),
    ))
    .assert_problem(404, "deleted twice");
}

fn tenants_never_see_each_others_documents(backend: Backend) {
    let a = TenantSeed::unique("kba", ROOMY);
    let b = TenantSeed::unique("kbb", ROOMY);
    let kb = start(backend, &[a.clone(), b.clone()]);
    let app = &kb.app;
    let (token_a, token_b) = (admin(&a), admin(&b));

    let secret = "# Vault\n\nThe zanzibar-quokka procedure unlocks the staff vault on Fridays.\n";
    let created = post_markdown(app, &token_a, "secret.md", secret);
    assert_eq!(created.status, 201, "{}", created.text);
    let a_doc = created.json()["document"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        post_markdown(
            app,
            &token_b,
            "b.md",
            "# Other\n\nNothing about vaults here.\n"
        )
        .status,
        201
    );

    for mode in ["keyword", "vector", "hybrid"] {
        let mine = search(app, &token_a, "zanzibar quokka vault procedure", mode);
        assert_eq!(
            top_external_id(&mine).as_deref(),
            Some("secret.md"),
            "{mode}"
        );
        let theirs = search(app, &token_b, "zanzibar quokka vault procedure", mode);
        assert!(
            !theirs.to_string().contains("zanzibar"),
            "{mode}: tenant b saw a's chunk: {theirs}"
        );
    }
    let listed = send(request(
        app,
        Method::GET,
        "/api/kb/documents",
        Some(&token_b),
    ))
    .json();
    assert_eq!(listed["documents"].as_array().unwrap().len(), 1);
    assert_eq!(listed["documents"][0]["external_id"], "b.md");
    for method in [Method::GET, Method::DELETE] {
        send(request(
            app,
            method.clone(),
            &format!("/api/kb/documents/{a_doc}"),
            Some(&token_b),
        ))
        .assert_problem(404, &format!("{method} of another tenant's document"));
    }
    // The same external id under b is b's own document; a's is untouched.
    let b_same = post_markdown(app, &token_b, "secret.md", "# Mine\n\nB's own page.\n");
    assert_eq!(b_same.status, 201, "{}", b_same.text);
    assert_ne!(b_same.json()["document"]["id"], a_doc.as_str());
    let still = send(request(
        app,
        Method::GET,
        &format!("/api/kb/documents/{a_doc}"),
        Some(&token_a),
    ));
    assert_eq!(still.status, 200);
    assert!(still.text.contains("zanzibar"));

    // Agents, visitors and other tenants' admins are refused on every route.
    let agent = staff_token(&a.id, Role::Agent, "alice");
    let routes = [
        (Method::GET, "/api/kb/documents".to_string()),
        (Method::POST, "/api/kb/documents".to_string()),
        (Method::PUT, "/api/kb/documents/x.md".to_string()),
        (Method::GET, format!("/api/kb/documents/{a_doc}")),
        (Method::DELETE, format!("/api/kb/documents/{a_doc}")),
        (Method::POST, "/api/kb/search".to_string()),
    ];
    for (method, path) in &routes {
        send(request(app, method.clone(), path, None)).assert_problem(401, path);
        send(request(app, method.clone(), path, Some(&agent))).assert_problem(403, path);
    }
}

fn degraded_without_the_embedder_or_chroma(backend: Backend) {
    let tenant = TenantSeed::unique("kbd", ROOMY);
    let mut kb = start(backend, std::slice::from_ref(&tenant));
    let token = admin(&tenant);
    assert_eq!(
        post_markdown(&kb.app, &token, "billing/refunds.md", REFUNDS).status,
        201
    );

    for stopped in ["embedder", "chroma"] {
        match stopped {
            "embedder" => kb.embedder.stop(),
            _ => kb.chroma.stop(),
        }
        let app = &kb.app;
        let ready = app.get("/health/ready");
        assert_eq!(ready.status(), 200, "{stopped}");
        let report: Value = ready.json().unwrap();
        assert_eq!(report["status"], "degraded", "{stopped}: {report}");

        // Search still answers from keywords and says it is degraded; a reranked search
        // too, in the hybrid order.
        let reranked = search(app, &token, "refund business days", "reranked");
        assert_eq!(reranked["degraded"], true, "{stopped}");
        assert_eq!(reranked["reranked"], false, "{stopped}");
        let found = search(app, &token, "refund business days", "hybrid");
        assert_eq!(found["degraded"], true, "{stopped}");
        assert_eq!(found["missing"], json!(["vector"]), "{stopped}");
        assert_eq!(
            top_external_id(&found).as_deref(),
            Some("billing/refunds.md")
        );
        assert!(found["confidence"].as_f64().unwrap() <= 0.5);

        // A new document is stored and keyword-searchable, its vectors pending.
        let id = format!("{stopped}.md");
        let text = format!("# Outage note {stopped}\n\nThe quartz-heron {stopped} notice.\n");
        let reply = post_markdown(app, &token, &id, &text);
        assert_eq!(reply.status, 201, "{}", reply.text);
        assert_eq!(reply.json()["vector_index"], "pending");
        let found = search(app, &token, &format!("quartz heron {stopped}"), "keyword");
        assert_eq!(top_external_id(&found).as_deref(), Some(id.as_str()));

        match stopped {
            "embedder" => kb.embedder.restart(),
            _ => kb.chroma.restart(),
        }
        // The same upload again writes the vectors.
        let retried = post_markdown(&kb.app, &token, &id, &text);
        assert_eq!(retried.status, 200, "{}", retried.text);
        assert_eq!(retried.json()["status"], "updated");
        assert_eq!(retried.json()["vector_index"], "indexed");
        let found = search(
            &kb.app,
            &token,
            &format!("quartz heron {stopped}"),
            "vector",
        );
        assert_eq!(found["degraded"], false);
        assert!(external_ids(&found).contains(&id), "{found}");
    }
}

/// What a reranked search returns, best first: (external id, rank, rerank score).
fn reranked_list(found: &Value) -> Vec<(String, u64, f64)> {
    found["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["external_id"].as_str().unwrap().to_string(),
                r["rank"].as_u64().unwrap(),
                r["rerank_score"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

const DELIVERY: &str = "# Delivery\n\n## Refund of delivery costs\n\nDelivery costs are refunded \
with the order when you return every item of it. Refunds of delivery costs for partial returns \
are not possible, and a refund for express delivery never is.\n";

fn reranked_search_orders_passages_by_the_sidecar_cross_encoder(backend: Backend) {
    let tenant = TenantSeed::unique("kbr", ROOMY);
    // A tenant that reranks only the best two fused passages.
    let narrow = TenantSeed::unique(
        "kbr2",
        r#"{"rate_limits":{"per_visitor":100000,"per_client":100000},"retrieval":{"rerank_candidates":2}}"#,
    );
    let kb = start_with(
        backend,
        &[tenant.clone(), narrow.clone()],
        Embedder::start_with_reranker(),
    );
    let (app, token) = (&kb.app, admin(&tenant));
    for t in [&token, &admin(&narrow)] {
        for (id, text) in [
            ("billing/refunds.md", REFUNDS),
            ("account/passwords.md", PASSWORDS),
            ("shipping/delivery.md", DELIVERY),
        ] {
            assert_eq!(post_markdown(app, t, id, text).status, 201, "{id}");
        }
    }
    let query = "How many days until a refund reaches my card?";
    let hybrid = search(app, &token, query, "hybrid");
    assert_eq!(hybrid["reranked"], false);
    assert!(
        hybrid["results"][0].get("rerank_score").is_none(),
        "{hybrid}"
    );

    let found = search(app, &token, query, "reranked");
    assert_eq!(found["reranked"], true, "{found}");
    assert_eq!(found["degraded"], false);
    let list = reranked_list(&found);
    // The same passages as the hybrid list, ranked anew by the reranker's scores.
    let mut ids: Vec<&str> = list.iter().map(|(id, ..)| id.as_str()).collect();
    let mut hybrid_ids = external_ids(&hybrid);
    ids.sort_unstable();
    hybrid_ids.sort_unstable();
    assert_eq!(ids, hybrid_ids, "{found}");
    for (i, (id, rank, score)) in list.iter().enumerate() {
        assert_eq!(*rank, i as u64 + 1, "{id}");
        assert!((0.0..=1.0).contains(score), "{id}: {score}");
    }
    assert!(list.windows(2).all(|w| w[0].2 >= w[1].2), "{list:?}");
    // The passage that says how long a refund takes comes first, with a confident score.
    assert_eq!(list[0].0, "billing/refunds.md", "{list:?}");
    let top = found["results"][0]["text"].as_str().unwrap();
    assert!(top.contains("5 to 7 business days"), "{top}");
    assert!(list[0].2 > 0.9, "{list:?}");
    assert!(
        list.iter().any(|(id, ..)| id != "billing/refunds.md"),
        "{list:?}"
    );

    // `retrieval.rerank_candidates: 2`: the best two fused passages are reranked, the rest
    // follow in their fused order without a score.
    let found = search(app, &admin(&narrow), query, "reranked");
    assert_eq!(found["reranked"], true, "{found}");
    let list = reranked_list(&found);
    assert_eq!(list.len(), hybrid_ids.len(), "{found}");
    assert!(list.len() > 2, "{found}");
    for (i, (id, rank, score)) in list.iter().enumerate() {
        assert_eq!(*rank, i as u64 + 1, "{id}");
        assert_eq!(score.is_nan(), i >= 2, "{id}: {score}");
    }
}

fn bad_input_is_4xx_problem_json(backend: Backend) {
    let tenant = TenantSeed::unique("kbx", ROOMY);
    let kb = start(backend, std::slice::from_ref(&tenant));
    let app = &kb.app;
    let token = admin(&tenant);
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    put_file(app, &token, "x.png", "x.png", png).assert_problem(415, "png");
    put_file(app, &token, "e.pdf", "e.pdf", fixture("encrypted.pdf")).assert_problem(422, "pdf");
    put_file(app, &token, "t.pdf", "t.pdf", fixture("truncated.pdf")).assert_problem(422, "pdf");
    put_file(app, &token, "b.docx", "b.docx", fixture("bomb.docx")).assert_problem(413, "bomb");
    put_file(app, &token, "e.md", "e.md", b"   \n\n".to_vec()).assert_problem(422, "empty");
    let big = vec![b'a'; 21 * 1024 * 1024];
    put_file(app, &token, "big.txt", "big.txt", big).assert_problem(413, "big");

    let no_file = Form::new().text("title", "x");
    send(request(app, Method::POST, "/api/kb/documents", Some(&token)).multipart(no_file))
        .assert_problem(400, "no file part");
    send(
        request(app, Method::POST, "/api/kb/documents", Some(&token))
            .header("content-type", "text/plain")
            .body("hello"),
    )
    .assert_problem(415, "text/plain body");
    send(post_json(
        app,
        "/api/kb/documents",
        Some(&token),
        &json!({ "content": "x", "colour": "red" }),
    ))
    .assert_problem(400, "unknown field");
    send(post_json(
        app,
        "/api/kb/documents",
        Some(&token),
        &json!({ "content": "# T\n\ntext", "source_url": "javascript:alert(1)" }),
    ))
    .assert_problem(400, "bad source url");
    let form = Form::new()
        .text("external_id", "other")
        .part("file", Part::bytes(b"# A\n\nb".to_vec()).file_name("a.md"));
    send(request(app, Method::PUT, "/api/kb/documents/a.md", Some(&token)).multipart(form))
        .assert_problem(400, "external ids differ");
    send(request(
        app,
        Method::PUT,
        "/api/kb/documents/%ZZ",
        Some(&token),
    ))
    .assert_problem(400, "bad percent-encoding");

    for body in [
        json!({ "query": "" }),
        json!({ "query": "x", "limit": 0 }),
        json!({ "query": "x", "mode": "psychic" }),
        json!({ "q": "x" }),
    ] {
        send(post_json(app, "/api/kb/search", Some(&token), &body))
            .assert_problem(400, &body.to_string());
    }
    for query in ["limit=0", "cursor=nothex", "sort=title"] {
        send(request(
            app,
            Method::GET,
            &format!("/api/kb/documents?{query}"),
            Some(&token),
        ))
        .assert_problem(400, query);
    }
    send(request(
        app,
        Method::GET,
        "/api/kb/documents/not-an-id",
        Some(&token),
    ))
    .assert_problem(404, "malformed id");
    send(request(
        app,
        Method::PATCH,
        "/api/kb/documents",
        Some(&token),
    ))
    .assert_problem(405, "patch");
    send(request(app, Method::GET, "/api/kb/search", Some(&token))).assert_problem(405, "get");
    send(request(app, Method::GET, "/api/kb/nothing", Some(&token))).assert_problem(404, "route");
}

e2e::on_both_backends!(
    ingest_every_format_then_search_update_and_delete,
    tenants_never_see_each_others_documents,
    degraded_without_the_embedder_or_chroma,
    reranked_search_orders_passages_by_the_sidecar_cross_encoder,
    bad_input_is_4xx_problem_json,
);
