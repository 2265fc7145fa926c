//! `/api/sessions` end to end, through devhost over HTTP, with the same suite on both
//! backends: (SQLite store, SQLite counters) and (PostgreSQL, Redis).
//!
//! Covers the session lifecycle, an authorization matrix (every route × caller × own/other
//! tenant, with no cross-tenant read or write), refused tokens, bad input (always a 4xx
//! problem+json, never a 500), rate limits and idempotent retries.

use core_logic::auth::{CustomClaims, Role};
use e2e::TEST_JWT_SECRET;
use e2e::http::{AUDIENCE, ISSUER, auth, post_json, request, send, staff_token};
use e2e::platform::{Backend, PlatformApp, TenantSeed};
use jwt_simple::prelude::*;
use reqwest::Method;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};

/// Limits high enough that only the rate-limit test meets them.
const ROOMY: &str = r#"{"rate_limits":{"per_visitor":100000,"per_client":100000}}"#;

/// A new session of `tenant` through the API: (session JSON, visitor token).
fn start_session(app: &PlatformApp, tenant: &TenantSeed, name: &str) -> (Value, String) {
    app.open_session(tenant, json!({ "name": name }))
}

fn id_of(session: &Value) -> String {
    session["id"].as_str().unwrap().to_string()
}

fn list_ids(app: &PlatformApp, token: &str, query: &str) -> Vec<String> {
    let reply = send(request(
        app,
        Method::GET,
        &format!("/api/sessions{query}"),
        Some(token),
    ));
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect()
}

fn two_tenants(backend: Backend, settings: &str) -> (PlatformApp, TenantSeed, TenantSeed) {
    let a = TenantSeed::unique("acme", settings);
    let b = TenantSeed::unique("globex", settings);
    let app = PlatformApp::start(backend, &[a.clone(), b.clone()], &[]);
    (app, a, b)
}

fn session_lifecycle(backend: Backend) {
    let (app, a, _) = two_tenants(backend, ROOMY);
    let agent = staff_token(&a.id, Role::Agent, "alice");
    let admin = staff_token(&a.id, Role::Admin, "root");

    let before = now_ms();
    let created = send(post_json(
        &app,
        "/api/sessions",
        None,
        &json!({
            "widget_key": a.widget_key,
            "visitor": { "name": "Ada", "email": "ada@example.com", "locale": "pt-BR" }
        }),
    ));
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.header("content-type"), Some("application/json"));
    let body = created.json();
    let session = body["session"].clone();
    let id = id_of(&session);
    assert!(core_logic::session::is_session_id(&id), "{id}");
    assert_eq!(session["status"], "open");
    assert_eq!(session["visitor"]["name"], "Ada");
    assert_eq!(session["visitor"]["email"], "ada@example.com");
    assert_eq!(session["visitor"]["locale"], "pt-BR");
    assert!(body["expires_at"].as_i64().unwrap() > before);
    let token = body["token"].as_str().unwrap().to_string();
    let claims = auth().verify(&token).unwrap();
    assert_eq!(claims.role, Role::Visitor);
    assert_eq!(claims.tenant, a.id);
    assert_eq!(claims.session.as_deref(), Some(id.as_str()));
    assert_eq!(
        Some(claims.subject.as_str()),
        session["visitor"]["id"].as_str()
    );

    // The visitor reads their session; so do the tenant's agents and admins.
    for t in [&token, &agent, &admin] {
        let read = send(request(
            &app,
            Method::GET,
            &format!("/api/sessions/{id}"),
            Some(t),
        ));
        assert_eq!(read.status, 200, "{}", read.text);
        assert_eq!(read.json()["session"], session);
    }

    // Refresh: the same visitor, a token that works.
    let refreshed = send(request(
        &app,
        Method::POST,
        &format!("/api/sessions/{id}/token"),
        Some(&token),
    ));
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let fresh = refreshed.json()["token"].as_str().unwrap().to_string();
    assert_eq!(auth().verify(&fresh).unwrap(), claims);
    assert!(refreshed.json()["expires_at"].as_i64() >= body["expires_at"].as_i64());

    // Listing with filters and cursor paging, newest first.
    let mut all = vec![id.clone()];
    for n in 0..4 {
        all.push(id_of(&start_session(&app, &a, &format!("v{n}")).0));
    }
    // Newest first; sessions created in the same millisecond are ordered by id.
    let listed = list_ids(&app, &agent, "");
    assert_eq!(sorted(listed.clone()), sorted(all.clone()));
    assert_eq!(list_ids(&app, &agent, "?status=open").len(), 5);
    assert!(list_ids(&app, &agent, "?status=closed").is_empty());
    let mut paged = Vec::new();
    let mut query = "?limit=2".to_string();
    loop {
        let reply = send(request(
            &app,
            Method::GET,
            &format!("/api/sessions{query}"),
            Some(&agent),
        ));
        assert_eq!(reply.status, 200, "{}", reply.text);
        let page = reply.json();
        let ids: Vec<String> = page["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(id_of)
            .collect();
        assert!(ids.len() <= 2);
        paged.extend(ids);
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(paged, listed, "pages cover every session once, in order");

    // Erasure by the visitor: gone for everyone.
    let erased = send(request(
        &app,
        Method::DELETE,
        &format!("/api/sessions/{id}"),
        Some(&token),
    ));
    assert_eq!(erased.status, 204, "{}", erased.text);
    assert!(erased.text.is_empty());
    for t in [&token, &agent] {
        send(request(
            &app,
            Method::GET,
            &format!("/api/sessions/{id}"),
            Some(t),
        ))
        .assert_problem(404, "read after erasure");
    }
    send(request(
        &app,
        Method::POST,
        &format!("/api/sessions/{id}/token"),
        Some(&token),
    ))
    .assert_problem(404, "refresh after erasure");
    assert!(!list_ids(&app, &agent, "").contains(&id));

    // Erasure by an admin.
    let other = &listed[0];
    let erased = send(request(
        &app,
        Method::DELETE,
        &format!("/api/sessions/{other}"),
        Some(&admin),
    ));
    assert_eq!(erased.status, 204, "{}", erased.text);
    assert_eq!(list_ids(&app, &agent, "").len(), 3);
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Every route × caller × own/other tenant; exactly the expected status, and tenant B's data
/// neither read nor changed by anything tenant A's callers do (and the reverse).
fn authorization_matrix_never_crosses_tenants(backend: Backend) {
    let (app, a, b) = two_tenants(backend, ROOMY);
    let (sa1, va1) = start_session(&app, &a, "Ann of A");
    let (sa2, va2) = start_session(&app, &a, "Abe of A");
    let (sb1, vb1) = start_session(&app, &b, "Bea of B");
    let (sa1, sa2, sb1) = (id_of(&sa1), id_of(&sa2), id_of(&sb1));
    let admin_b = staff_token(&b.id, Role::Admin, "root-b");
    let b_before = send(request(
        &app,
        Method::GET,
        &format!("/api/sessions/{sb1}"),
        Some(&admin_b),
    ))
    .text;

    let callers: Vec<(&str, Option<String>)> = vec![
        ("none", None),
        ("visitor of this session", Some(va1.clone())),
        ("visitor of another session", Some(va2.clone())),
        ("agent", Some(staff_token(&a.id, Role::Agent, "alice"))),
        ("admin", Some(staff_token(&a.id, Role::Admin, "root"))),
        ("visitor of the other tenant", Some(vb1.clone())),
        (
            "agent of the other tenant",
            Some(staff_token(&b.id, Role::Agent, "bob")),
        ),
        ("admin of the other tenant", Some(admin_b.clone())),
    ];
    // Expected statuses per caller, in the order above. The target is always A's session sa1.
    let read = format!("/api/sessions/{sa1}");
    let token = format!("/api/sessions/{sa1}/token");
    let table: Vec<(Method, &str, [u16; 8])> = vec![
        (
            Method::GET,
            read.as_str(),
            [401, 200, 404, 200, 200, 404, 404, 404],
        ),
        (
            Method::POST,
            token.as_str(),
            [401, 200, 404, 403, 403, 404, 403, 403],
        ),
        (
            Method::GET,
            "/api/sessions",
            [401, 403, 403, 200, 200, 403, 200, 200],
        ),
        // Destructive last; nobody here may erase sa1 except its visitor and A's admin.
        (
            Method::DELETE,
            read.as_str(),
            [401, 0, 404, 403, 0, 404, 403, 404],
        ),
    ];
    for (method, path, expected) in &table {
        for ((who, caller), want) in callers.iter().zip(expected) {
            if *want == 0 {
                continue; // Checked below, once the others have had their go.
            }
            let reply = send(request(&app, method.clone(), path, caller.as_deref()));
            let context = format!("{method} {path} as {who}");
            if *want >= 400 {
                reply.assert_problem(*want, &context);
            } else {
                assert_eq!(reply.status, *want, "{context}: {}", reply.text);
            }
            let text = &reply.text;
            if who.contains("other tenant") {
                for leaked in [&sa1, &sa2, "Ann of A", "Abe of A"] {
                    assert!(!text.contains(leaked), "{context} leaked {leaked}: {text}");
                }
            } else {
                for leaked in [&sb1, "Bea of B"] {
                    assert!(!text.contains(leaked), "{context} leaked {leaked}: {text}");
                }
            }
            if *method == Method::GET && path.ends_with("sessions") && reply.status == 200 {
                let ids: Vec<String> = reply.json()["sessions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(id_of)
                    .collect();
                if who.contains("other tenant") {
                    assert_eq!(ids, vec![sb1.clone()], "{context}");
                } else {
                    assert_eq!(
                        sorted(ids),
                        sorted(vec![sa1.clone(), sa2.clone()]),
                        "{context}"
                    );
                }
            }
        }
    }
    // A's session survived every refused erasure; B's is byte-for-byte unchanged.
    let admin_a = callers[4].1.clone().unwrap();
    assert_eq!(
        sorted(list_ids(&app, &admin_a, "")),
        sorted(vec![sa1.clone(), sa2.clone()])
    );
    let b_after = send(request(
        &app,
        Method::GET,
        &format!("/api/sessions/{sb1}"),
        Some(&admin_b),
    ))
    .text;
    assert_eq!(b_before, b_after);

    // The session's visitor erases it; A's admin erases the other; B is untouched.
    let reply = send(request(&app, Method::DELETE, &read, Some(&va1)));
    assert_eq!(reply.status, 204, "{}", reply.text);
    let reply = send(request(
        &app,
        Method::DELETE,
        &format!("/api/sessions/{sa2}"),
        Some(&admin_a),
    ));
    assert_eq!(reply.status, 204, "{}", reply.text);
    assert!(list_ids(&app, &admin_a, "").is_empty());
    assert_eq!(list_ids(&app, &admin_b, ""), vec![sb1.clone()]);

    // Starting a session needs no token; the widget key alone picks the tenant.
    let reply = send(post_json(
        &app,
        "/api/sessions",
        Some(&admin_b),
        &json!({ "widget_key": a.widget_key }),
    ));
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(
        auth()
            .verify(reply.json()["token"].as_str().unwrap())
            .unwrap()
            .tenant,
        a.id
    );
    assert_eq!(list_ids(&app, &admin_b, ""), vec![sb1]);
}

fn sign_raw(claims: JWTClaims<CustomClaims>, secret: &[u8]) -> String {
    HS256Key::from_bytes(secret).authenticate(claims).unwrap()
}

fn claims(tenant: &str, role: Role, sid: Option<&str>) -> JWTClaims<CustomClaims> {
    Claims::with_custom_claims(
        CustomClaims {
            tid: tenant.into(),
            role,
            sid: sid.map(Into::into),
        },
        Duration::from_mins(10),
    )
    .with_issuer(ISSUER)
    .with_audience(AUDIENCE)
    .with_subject("mallory")
}

fn refused_tokens_are_401_or_403(backend: Backend) {
    let (app, a, _) = two_tenants(backend, ROOMY);
    let (session, visitor) = start_session(&app, &a, "Ann");
    let id = id_of(&session);
    let secret = TEST_JWT_SECRET.as_bytes();

    let mut expired = claims(&a.id, Role::Agent, None);
    let past = Clock::now_since_epoch() - Duration::from_hours(2);
    expired.issued_at = Some(past);
    expired.expires_at = Some(past + Duration::from_mins(1));
    let wrong_audience = claims(&a.id, Role::Agent, None).with_audience("someone-else");
    let wrong_issuer = claims(&a.id, Role::Agent, None).with_issuer("someone-else");
    let good = sign_raw(claims(&a.id, Role::Agent, None), secret);
    let payload = good.split('.').nth(1).unwrap();
    let none_header =
        Base64UrlSafeNoPadding::encode_to_string(br#"{"alg":"none","typ":"JWT"}"#).unwrap();
    let mut tampered = good.clone();
    tampered.pop();
    tampered.push(if good.ends_with('A') { 'B' } else { 'A' });

    let cases: Vec<(&str, String)> = vec![
        ("expired", sign_raw(expired, secret)),
        ("wrong audience", sign_raw(wrong_audience, secret)),
        ("wrong issuer", sign_raw(wrong_issuer, secret)),
        ("alg none", format!("{none_header}.{payload}.")),
        (
            "bad signature",
            sign_raw(
                claims(&a.id, Role::Agent, None),
                b"another-secret-0123456789abcdef0123456789",
            ),
        ),
        ("tampered", tampered),
        ("garbage", "not.a.jwt".into()),
        (
            "unknown tenant",
            sign_raw(claims("no-such-tenant", Role::Admin, None), secret),
        ),
        (
            "visitor without a session",
            sign_raw(claims(&a.id, Role::Visitor, None), secret),
        ),
    ];
    let routes = [
        (Method::GET, format!("/api/sessions/{id}")),
        (Method::GET, "/api/sessions".to_string()),
        (Method::POST, format!("/api/sessions/{id}/token")),
        (Method::DELETE, format!("/api/sessions/{id}")),
    ];
    for (what, token) in &cases {
        for (method, path) in &routes {
            let reply = send(request(&app, method.clone(), path, Some(token)));
            reply.assert_problem(401, &format!("{what} on {method} {path}"));
            assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        }
    }
    for header in ["Basic YWxhZGRpbjpvcGVu", "Bearer", "Bearer  ", "token"] {
        let reply = send(
            e2e::App::client()
                .get(app.url("/api/sessions"))
                .header("authorization", header),
        );
        reply.assert_problem(401, header);
    }
    // Wrong role for the route: 403.
    let agent = staff_token(&a.id, Role::Agent, "alice");
    send(request(&app, Method::GET, "/api/sessions", Some(&visitor)))
        .assert_problem(403, "visitor lists");
    send(request(
        &app,
        Method::POST,
        &format!("/api/sessions/{id}/token"),
        Some(&agent),
    ))
    .assert_problem(403, "agent refreshes a visitor token");
    send(request(
        &app,
        Method::DELETE,
        &format!("/api/sessions/{id}"),
        Some(&agent),
    ))
    .assert_problem(403, "agent erases");
    // None of that touched the session.
    let reply = send(request(
        &app,
        Method::GET,
        &format!("/api/sessions/{id}"),
        Some(&visitor),
    ));
    assert_eq!(reply.json()["session"], session);
}

fn bad_input_is_4xx_problem_json(backend: Backend) {
    let (app, a, _) = two_tenants(backend, ROOMY);
    let (session, visitor) = start_session(&app, &a, "Ann");
    let id = id_of(&session);
    let agent = staff_token(&a.id, Role::Agent, "alice");
    let create = |body: Vec<u8>, content_type: Option<&str>| {
        let mut builder = request(&app, Method::POST, "/api/sessions", None).body(body);
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        send(builder)
    };
    let json_ct = Some("application/json");
    let wk = &a.widget_key;
    let cases: Vec<(&str, Vec<u8>, Option<&str>, u16)> = vec![
        (
            "malformed JSON",
            br#"{"widget_key":"#.to_vec(),
            json_ct,
            400,
        ),
        ("not an object", b"[1,2]".to_vec(), json_ct, 400),
        ("empty body", Vec::new(), json_ct, 400),
        ("wrong type", br#"{"widget_key":5}"#.to_vec(), json_ct, 400),
        (
            "wrong nested type",
            format!(r#"{{"widget_key":"{wk}","visitor":{{"name":["x"]}}}}"#).into_bytes(),
            json_ct,
            400,
        ),
        (
            "unknown field",
            format!(r#"{{"widget_key":"{wk}","admin":true}}"#).into_bytes(),
            json_ct,
            400,
        ),
        (
            "invalid UTF-8",
            [br#"{"widget_key":""#.as_slice(), b"\xff\xfe", br#""}"#].concat(),
            json_ct,
            400,
        ),
        (
            "oversized",
            format!(
                r#"{{"widget_key":"{wk}","visitor":{{"name":"{}"}}}}"#,
                "x".repeat(70 * 1024)
            )
            .into_bytes(),
            json_ct,
            413,
        ),
        (
            "no content type",
            format!(r#"{{"widget_key":"{wk}"}}"#).into_bytes(),
            None,
            415,
        ),
        (
            "form content type",
            b"widget_key=x".to_vec(),
            Some("application/x-www-form-urlencoded"),
            415,
        ),
        (
            "blank widget key",
            br#"{"widget_key":"  "}"#.to_vec(),
            json_ct,
            422,
        ),
        (
            "bad e-mail",
            format!(r#"{{"widget_key":"{wk}","visitor":{{"email":"nope"}}}}"#).into_bytes(),
            json_ct,
            422,
        ),
        (
            "long name",
            format!(
                r#"{{"widget_key":"{wk}","visitor":{{"name":"{}"}}}}"#,
                "n".repeat(101)
            )
            .into_bytes(),
            json_ct,
            422,
        ),
        (
            "unknown widget key",
            br#"{"widget_key":"wk-nobody"}"#.to_vec(),
            json_ct,
            404,
        ),
    ];
    for (what, body, ct, status) in cases {
        create(body, ct).assert_problem(status, what);
    }

    let gets: Vec<(&str, String, u16)> = vec![
        ("limit 0", "/api/sessions?limit=0".into(), 400),
        ("limit huge", "/api/sessions?limit=99999999999".into(), 400),
        ("bad status", "/api/sessions?status=pending".into(), 400),
        ("forged cursor", "/api/sessions?cursor=zz".into(), 400),
        ("unknown parameter", "/api/sessions?sort=asc".into(), 400),
        (
            "bad percent-encoding",
            "/api/sessions?status=%FF".into(),
            400,
        ),
        ("not a session id", "/api/sessions/not-an-id".into(), 404),
        ("too deep", format!("/api/sessions/{id}/token/x"), 404),
    ];
    for (what, path, status) in gets {
        send(request(&app, Method::GET, &path, Some(&agent))).assert_problem(status, what);
    }
    send(request(&app, Method::PUT, "/api/sessions", Some(&agent)))
        .assert_problem(405, "PUT on the collection");
    send(request(
        &app,
        Method::PATCH,
        &format!("/api/sessions/{id}"),
        Some(&agent),
    ))
    .assert_problem(405, "PATCH on a session");
    send(
        request(
            &app,
            Method::POST,
            &format!("/api/sessions/{id}/token"),
            Some(&visitor),
        )
        .body("junk"),
    )
    .assert_problem(400, "a body on refresh");
    send(
        post_json(&app, "/api/sessions", None, &json!({ "widget_key": wk }))
            .header("idempotency-key", "k".repeat(300)),
    )
    .assert_problem(400, "an overlong Idempotency-Key");

    // Huge and non-UTF-8 headers.
    let huge_token = format!("{}.{}.{}", "a".repeat(20_000), "b".repeat(20_000), "c");
    send(request(
        &app,
        Method::GET,
        "/api/sessions",
        Some(&huge_token),
    ))
    .assert_problem(401, "a 40 KB bearer token");
    let reply = send(
        request(&app, Method::GET, "/api/sessions", Some(&agent))
            .header("x-padding", "p".repeat(64 * 1024)),
    );
    assert!(
        (400..500).contains(&reply.status) || reply.status == 200,
        "a 64 KB header: {} {}",
        reply.status,
        reply.text
    );
    let reply = send(e2e::App::client().get(app.url("/api/sessions")).header(
        "authorization",
        HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
    ));
    reply.assert_problem(401, "a non-UTF-8 authorization header");
    send(
        post_json(&app, "/api/sessions", None, &json!({ "widget_key": wk })).header(
            "idempotency-key",
            HeaderValue::from_bytes(b"k\xff").unwrap(),
        ),
    )
    .assert_problem(400, "a non-UTF-8 Idempotency-Key");

    // Nothing above broke the app or the session.
    assert_eq!(app.get("/health").status(), 200);
    let reply = send(request(
        &app,
        Method::GET,
        &format!("/api/sessions/{id}"),
        Some(&visitor),
    ));
    assert_eq!(reply.json()["session"], session);
    assert!(
        !app.logs().contains("panicked"),
        "no component panicked:\n{}",
        app.logs()
    );
}

fn rate_limits_answer_429_with_retry_after(backend: Backend) {
    // Hour-long windows, so the test does not straddle a window boundary in practice.
    let per_client = TenantSeed::unique(
        "limited",
        r#"{"rate_limits":{"per_client":3,"per_visitor":1000,"window_secs":3600}}"#,
    );
    let per_visitor = TenantSeed::unique(
        "chatty",
        r#"{"rate_limits":{"per_client":1000,"per_visitor":2,"window_secs":3600}}"#,
    );
    let app = PlatformApp::start(backend, &[per_client.clone(), per_visitor.clone()], &[]);

    for _ in 0..3 {
        start_session(&app, &per_client, "ok");
    }
    let reply = send(post_json(
        &app,
        "/api/sessions",
        None,
        &json!({ "widget_key": per_client.widget_key }),
    ));
    reply.assert_problem(429, "fourth session from one address");
    let retry: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    // Another tenant's limits are its own.
    let (s1, v1) = start_session(&app, &per_visitor, "one");
    let (s2, v2) = start_session(&app, &per_visitor, "two");
    let read = |id: &Value, token: &str| {
        send(request(
            &app,
            Method::GET,
            &format!("/api/sessions/{}", id_of(id)),
            Some(token),
        ))
    };
    assert_eq!(read(&s1, &v1).status, 200);
    assert_eq!(read(&s1, &v1).status, 200);
    let reply = read(&s1, &v1);
    reply.assert_problem(429, "third read by one visitor");
    assert!(reply.header("retry-after").is_some());
    // The other visitor, from the same address, is not limited.
    assert_eq!(read(&s2, &v2).status, 200);
}

fn idempotent_retries_replay_and_mismatches_are_422(backend: Backend) {
    let (app, a, _) = two_tenants(backend, ROOMY);
    let agent = staff_token(&a.id, Role::Agent, "alice");
    let key = format!("key-{}", e2e::platform::unique_suffix());
    let create = |key: &str, body: &str| {
        send(
            request(&app, Method::POST, "/api/sessions", None)
                .header("content-type", "application/json")
                .header("idempotency-key", key)
                .body(body.to_string()),
        )
    };
    let body = format!(
        r#"{{"widget_key":"{}","visitor":{{"name":"Ann"}}}}"#,
        a.widget_key
    );
    let first = create(&key, &body);
    assert_eq!(first.status, 201, "{}", first.text);
    // The same document, re-serialised differently, is the same request.
    let respaced = format!(
        "{{ \"visitor\": {{ \"name\": \"Ann\" }},\n  \"widget_key\": \"{}\" }}",
        a.widget_key
    );
    let retry = create(&key, &respaced);
    assert_eq!(retry.status, 201);
    assert_eq!(
        retry.json(),
        first.json(),
        "the first response, token included"
    );
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(list_ids(&app, &agent, "").len(), 1, "one session, not two");

    let other = format!(
        r#"{{"widget_key":"{}","visitor":{{"name":"Bob"}}}}"#,
        a.widget_key
    );
    create(&key, &other).assert_problem(422, "same key, different body");
    let fresh_key = create(&format!("{key}-2"), &body);
    assert_eq!(fresh_key.status, 201);
    assert_ne!(
        fresh_key.json()["session"]["id"],
        first.json()["session"]["id"]
    );

    // Refresh with a key replays the same token.
    let session = first.json()["session"].clone();
    let token = first.json()["token"].as_str().unwrap().to_string();
    let refresh = |key: &str| {
        send(
            request(
                &app,
                Method::POST,
                &format!("/api/sessions/{}/token", id_of(&session)),
                Some(&token),
            )
            .header("idempotency-key", key),
        )
    };
    let r1 = refresh("refresh-1");
    assert_eq!(r1.status, 200, "{}", r1.text);
    let r2 = refresh("refresh-1");
    assert_eq!(r2.status, 200);
    assert_eq!(r2.json(), r1.json());

    // Erasure removes the recorded responses too: the key now starts a new session.
    let erased = send(request(
        &app,
        Method::DELETE,
        &format!("/api/sessions/{}", id_of(&session)),
        Some(&token),
    ));
    assert_eq!(erased.status, 204);
    let after = create(&key, &body);
    assert_eq!(after.status, 201, "{}", after.text);
    assert_ne!(after.json()["session"]["id"], session["id"]);
    assert!(after.header("idempotent-replayed").is_none());
}

e2e::on_both_backends!(
    session_lifecycle,
    authorization_matrix_never_crosses_tenants,
    refused_tokens_are_401_or_403,
    bad_input_is_4xx_problem_json,
    rate_limits_answer_429_with_retry_after,
    idempotent_retries_replay_and_mismatches_are_422,
);
