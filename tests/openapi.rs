//! `openapi.yaml` stays in step with the code: it documents exactly the routes in
//! `core_logic::api::ROUTES`, every documented route is served (not the host's 404), and
//! real responses match the documented schema for their status.

use core_logic::api::ROUTES;
use e2e::platform::{Backend, PlatformApp, TenantSeed};
use e2e::{App, TEST_JWT_SECRET, repo_root};
use serde_json::Value;

fn spec() -> Value {
    let text = std::fs::read_to_string(repo_root().join("openapi.yaml")).unwrap();
    serde_yaml::from_str(&text).expect("openapi.yaml is valid YAML")
}

/// Replaces `{"$ref": "#/components/…"}` with the referenced object, recursively.
fn inline_refs(value: &Value, root: &Value) -> Value {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                let pointer = r.strip_prefix('#').expect("local $ref");
                let target = root
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("dangling $ref {r}"));
                return inline_refs(target, root);
            }
            Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), inline_refs(v, root)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| inline_refs(v, root)).collect()),
        other => other.clone(),
    }
}

fn documented_operations(spec: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                ops.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops.sort();
    ops
}

#[test]
fn document_is_openapi_3_1_with_resolvable_refs() {
    let spec = spec();
    assert_eq!(spec["openapi"], "3.1.0");
    // Inlining panics on a dangling reference.
    let _ = inline_refs(&spec["paths"], &spec);
}

#[test]
fn every_served_route_is_documented_and_nothing_else() {
    let spec = spec();
    let documented = documented_operations(&spec);
    let mut served: Vec<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    served.sort();
    assert_eq!(
        served, documented,
        "openapi.yaml and core_logic::api::ROUTES differ"
    );
}

/// The operation with this `operationId`: its path, its path item and the operation object.
fn operation_by_id<'a>(spec: &'a Value, id: &str) -> Option<(&'a str, &'a Value, &'a Value)> {
    spec["paths"].as_object()?.iter().find_map(|(path, item)| {
        ["get", "post", "put", "patch", "delete"]
            .iter()
            .filter_map(|m| item.get(*m))
            .find(|op| op["operationId"] == id)
            .map(|op| (path.as_str(), item, op))
    })
}

/// Whether the operation (or its path item) declares the parameter `name` in `location`.
fn declares_parameter(spec: &Value, item: &Value, op: &Value, location: &str, name: &str) -> bool {
    [&item["parameters"], &op["parameters"]]
        .into_iter()
        .filter_map(Value::as_array)
        .flatten()
        .map(|p| inline_refs(p, spec))
        .any(|p| p["in"] == location && p["name"] == name)
}

/// Whether a JSON pointer into a body can resolve under `schema` (properties, array items,
/// any alternative of a `oneOf`/`anyOf`/`allOf`).
fn pointer_fits_schema(spec: &Value, schema: &Value, pointer: &str) -> bool {
    let schema = inline_refs(schema, spec);
    let Some(rest) = pointer.strip_prefix('/') else {
        return pointer.is_empty();
    };
    let in_alternative = ["oneOf", "anyOf", "allOf"]
        .iter()
        .filter_map(|k| schema[*k].as_array())
        .flatten()
        .any(|alt| pointer_fits_schema(spec, alt, pointer));
    if in_alternative {
        return true;
    }
    let (token, rest) = rest.split_once('/').unwrap_or((rest, ""));
    let next = if token.parse::<usize>().is_ok() {
        &schema["items"]
    } else {
        &schema["properties"][token]
    };
    let rest = if rest.is_empty() {
        String::new()
    } else {
        format!("/{rest}")
    };
    !next.is_null() && pointer_fits_schema(spec, next, &rest)
}

/// Checks one runtime expression of a link from `source` (its path item, operation and the
/// response the link hangs on): a response field the schema has, or a request parameter the
/// operation declares.
fn check_link_expression(
    spec: &Value,
    source: (&Value, &Value, &Value),
    expression: &str,
) -> Result<(), String> {
    let (item, op, response) = source;
    if let Some(pointer) = expression.strip_prefix("$response.body#") {
        let schema = &inline_refs(response, spec)["content"]["application/json"]["schema"];
        return pointer_fits_schema(spec, schema, pointer)
            .then_some(())
            .ok_or_else(|| format!("{expression}: not in the response schema"));
    }
    if let Some(rest) = expression.strip_prefix("$request.") {
        let (location, name) = rest
            .split_once('.')
            .ok_or_else(|| format!("{expression}: no name"))?;
        return declares_parameter(spec, item, op, location, name)
            .then_some(())
            .ok_or_else(|| format!("{expression}: the source has no such parameter"));
    }
    if expression.starts_with('$') {
        return Err(format!("{expression}: unsupported expression"));
    }
    Ok(())
}

/// What is wrong with one link (`at` names it) of `source` (path item, operation, response).
fn link_problems(
    spec: &Value,
    at: &str,
    source: (&Value, &Value, &Value),
    link: &Value,
) -> Vec<String> {
    let target = link["operationId"].as_str().unwrap_or_default();
    let Some((_, t_item, t_op)) = operation_by_id(spec, target) else {
        return vec![format!("{at}: no operation {target}")];
    };
    let mut problems = Vec::new();
    let mut expressions: Vec<(String, &str)> = Vec::new();
    for (param, expression) in link["parameters"].as_object().into_iter().flatten() {
        let (location, name) = param.split_once('.').unwrap_or(("path", param));
        if !declares_parameter(spec, t_item, t_op, location, name) {
            problems.push(format!("{at}: {target} has no {param}"));
        }
        expressions.push((param.clone(), expression.as_str().unwrap_or_default()));
    }
    for (field, value) in link["requestBody"].as_object().into_iter().flatten() {
        let values = value
            .as_array()
            .map_or(std::slice::from_ref(value), Vec::as_slice);
        for v in values.iter().filter_map(Value::as_str) {
            expressions.push((format!("body {field}"), v));
        }
    }
    for (what, expression) in expressions {
        if let Err(e) = check_link_expression(spec, source, expression) {
            problems.push(format!("{at}: {what}: {e}"));
        }
    }
    problems
}

#[test]
fn links_name_real_operations_parameters_and_response_fields() {
    // schemathesis's stateful phase follows these links (scripts/contract); a link that names
    // a missing operation, parameter or field silently stops it short of the deep routes.
    let spec = spec();
    let mut links = 0;
    let mut problems = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().into_iter().flatten() {
                for (name, link) in response["links"].as_object().into_iter().flatten() {
                    links += 1;
                    let at = format!("{method} {path} {status} {name}");
                    problems.extend(link_problems(&spec, &at, (item, op, response), link));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(links >= 30, "only {links} links");
    // The chain the contract run must be able to walk: a new session, the visitor's message,
    // the escalation, the agent's claim and reply.
    let chain = [
        ("createSession", "201", "postMessage"),
        ("postMessage", "201", "escalateSession"),
        ("escalateSession", "201", "claimConversation"),
        ("claimConversation", "200", "replyAsAgent"),
    ];
    for (from, status, to) in chain {
        let (_, _, op) = operation_by_id(&spec, from).unwrap();
        let targets: Vec<&Value> = op["responses"][status]["links"]
            .as_object()
            .map(|l| l.values().map(|v| &v["operationId"]).collect())
            .unwrap_or_default();
        assert!(
            targets.contains(&&Value::from(to)),
            "{from} {status} does not link to {to}"
        );
    }
}

#[test]
fn documented_routes_are_served_by_the_app() {
    let app = App::start(&[]);
    for route in ROUTES {
        let path = route
            .path
            .replace("{id}", "00000000-0000-0000-0000-000000000000");
        let resp = App::client()
            .request(route.method.parse().unwrap(), app.url(&path))
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().unwrap_or(Value::Null);
        // A 404 from the host's router has type not-found and names no component route.
        let host_404 = status == 404
            && body["detail"]
                .as_str()
                .unwrap_or("")
                .starts_with("no route matches");
        assert!(
            !host_404,
            "{} {} is documented but not routed",
            route.method, route.path
        );
    }
}

/// Checks a live response against the schema documented for its status.
fn assert_matches_documented(
    spec: &Value,
    method: &str,
    path: &str,
    status: u16,
    content_type: &str,
    body: &Value,
) {
    let op = &spec["paths"][path][method.to_lowercase()];
    let response = op["responses"]
        .get(status.to_string())
        .unwrap_or_else(|| panic!("{method} {path}: status {status} is not documented"));
    let response = inline_refs(response, spec);
    let media = content_type.split(';').next().unwrap().trim();
    let schema = &response["content"][media]["schema"];
    assert!(
        !schema.is_null(),
        "{method} {path} {status}: no schema for {media}"
    );
    let validator = jsonschema::validator_for(schema).expect("schema compiles");
    let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {status}: {errors:?}\n{body}"
    );
}

#[test]
fn live_responses_match_their_documented_shapes() {
    let spec = spec();
    let app = App::start(&[]);
    for (method, path) in [("GET", "/health"), ("GET", "/health/ready")] {
        let resp = App::client()
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        let body: Value = resp.json().unwrap();
        assert_matches_documented(&spec, method, path, status, &ct, &body);
    }
    // An error response matches the Problem schema too.
    let resp = App::client().post(app.url("/health")).send().unwrap();
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    let body: Value = resp.json().unwrap();
    let _ = (&ct, &body);
    let problem = inline_refs(&spec["components"]["schemas"]["Problem"], &spec);
    let validator = jsonschema::validator_for(&problem).unwrap();
    assert!(validator.is_valid(&body), "{body}");
}

#[test]
fn a_wrong_shape_is_caught() {
    // The checker itself must fail on a body that breaks the documented schema.
    let spec = spec();
    let bad = serde_json::json!({ "status": "ok" });
    let result = std::panic::catch_unwind(|| {
        assert_matches_documented(&spec, "GET", "/health", 200, "application/json", &bad)
    });
    assert!(result.is_err(), "a body without `version` must be rejected");
}

/// Sends a request and checks the response against the documented schema.
fn check(
    spec: &Value,
    app: &App,
    method: &str,
    template: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Value {
    let mut req = App::client().request(method.parse().unwrap(), app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let text = resp.text().unwrap();
    let op = &spec["paths"][template][method.to_lowercase()];
    assert!(
        op["responses"].get(status.to_string()).is_some(),
        "{method} {template}: status {status} is not documented ({text})"
    );
    if text.is_empty() {
        return Value::Null;
    }
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_matches_documented(spec, method, template, status, &ct.unwrap(), &body);
    body
}

#[test]
fn session_responses_match_their_documented_shapes() {
    let spec = spec();
    let tenant = TenantSeed::unique("openapi", "{}");
    let app = PlatformApp::start(Backend::Sqlite, std::slice::from_ref(&tenant), &[]);
    let created = check(
        &spec,
        &app,
        "POST",
        "/api/sessions",
        "/api/sessions",
        None,
        Some(serde_json::json!({ "widget_key": tenant.widget_key, "visitor": { "name": "Ada" } })),
    );
    let id = created["session"]["id"].as_str().unwrap().to_string();
    let visitor = created["token"].as_str().unwrap().to_string();
    let auth = core_logic::auth::AuthConfig::new(
        "support-agent",
        "support-agent-api",
        Some(TEST_JWT_SECRET.as_bytes()),
        "",
    )
    .unwrap();
    let admin = auth
        .issue_for_secs(
            &core_logic::auth::Principal {
                tenant: tenant.id.clone(),
                subject: "ops".into(),
                role: core_logic::auth::Role::Admin,
                session: None,
            },
            300,
        )
        .unwrap();
    let one = format!("/api/sessions/{id}");
    check(
        &spec,
        &app,
        "GET",
        "/api/sessions/{id}",
        &one,
        Some(&visitor),
        None,
    );
    check(
        &spec,
        &app,
        "GET",
        "/api/sessions",
        "/api/sessions?limit=1",
        Some(&admin),
        None,
    );
    check(
        &spec,
        &app,
        "POST",
        "/api/sessions/{id}/token",
        &format!("{one}/token"),
        Some(&visitor),
        None,
    );
    // Errors are documented too: no token, wrong role, unknown session.
    check(
        &spec,
        &app,
        "GET",
        "/api/sessions",
        "/api/sessions",
        None,
        None,
    );
    check(
        &spec,
        &app,
        "GET",
        "/api/sessions",
        "/api/sessions",
        Some(&visitor),
        None,
    );
    check(
        &spec,
        &app,
        "GET",
        "/api/sessions/{id}",
        "/api/sessions/nope",
        Some(&admin),
        None,
    );
    // A turn, its history with the visitor's ratings, and the ratings themselves.
    let turn = check(
        &spec,
        &app,
        "POST",
        "/api/sessions/{id}/messages",
        &format!("{one}/messages"),
        Some(&visitor),
        Some(serde_json::json!({ "text": "Do you ship to Mars?" })),
    );
    let reply = turn["reply"]["id"].as_str().unwrap().to_string();
    let feedback = format!("{one}/feedback");
    for body in [
        serde_json::json!({ "message_id": reply, "helpful": false, "comment": "vague" }),
        serde_json::json!({ "resolved": true, "comment": null }),
        serde_json::json!({ "resolved": true, "helpful": true }),
    ] {
        check(
            &spec,
            &app,
            "PUT",
            "/api/sessions/{id}/feedback",
            &feedback,
            Some(&visitor),
            Some(body),
        );
    }
    let history = check(
        &spec,
        &app,
        "GET",
        "/api/sessions/{id}/messages",
        &format!("{one}/messages"),
        Some(&admin),
        None,
    );
    assert_eq!(
        history["feedback"].as_array().unwrap().len(),
        2,
        "{history}"
    );
    check(
        &spec,
        &app,
        "DELETE",
        "/api/sessions/{id}",
        &one,
        Some(&admin),
        None,
    );
}

#[test]
fn undocumented_methods_on_documented_paths_are_not_served() {
    // The other direction of the check: a component serving a method the document does not
    // list on one of its paths would answer something other than 404/405 here.
    let spec = spec();
    let app = App::start(&[]);
    for (path, item) in spec["paths"].as_object().unwrap() {
        let concrete = path.replace("{id}", "00000000-0000-0000-0000-000000000000");
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if item.get(method.to_lowercase()).is_some() {
                continue;
            }
            let resp = App::client()
                .request(method.parse().unwrap(), app.url(&concrete))
                .send()
                .unwrap();
            let status = resp.status().as_u16();
            assert!(
                status == 405 || status == 404,
                "{method} {path} answered {status} but is not documented"
            );
        }
    }
}

#[test]
fn knowledge_base_responses_match_their_documented_shapes() {
    let spec = spec();
    let tenant = TenantSeed::unique("openapikb", "{}");
    let chroma = e2e::services::Chroma::start();
    let embedder = e2e::services::Embedder::start();
    let app = PlatformApp::start(
        Backend::Sqlite,
        std::slice::from_ref(&tenant),
        &[
            ("SPIN_VARIABLE_CHROMA_URL", &chroma.url),
            ("SPIN_VARIABLE_CHROMA_HOST", &chroma.host()),
            ("SPIN_VARIABLE_EMBEDDER_URL", &embedder.url),
            ("SPIN_VARIABLE_EMBEDDER_HOST", &embedder.host()),
        ],
    );
    let admin = e2e::http::staff_token(&tenant.id, core_logic::auth::Role::Admin, "ops");
    let doc = serde_json::json!({
        "external_id": "faq.md",
        "content": "# FAQ\n\n## Hours\n\nWe answer every day from 8 to 20.\n",
        "source_url": "https://help.example/faq",
    });
    let created = check(
        &spec,
        &app,
        "POST",
        "/api/kb/documents",
        "/api/kb/documents",
        Some(&admin),
        Some(doc.clone()),
    );
    let id = created["document"]["id"].as_str().unwrap().to_string();
    // The improvement loop: a declined question on the list, a curated answer, the answers.
    let session = check(
        &spec,
        &app,
        "POST",
        "/api/sessions",
        "/api/sessions",
        None,
        Some(serde_json::json!({ "widget_key": tenant.widget_key })),
    );
    let sid = session["session"]["id"].as_str().unwrap();
    check(
        &spec,
        &app,
        "POST",
        "/api/sessions/{id}/messages",
        &format!("/api/sessions/{sid}/messages"),
        session["token"].as_str(),
        Some(serde_json::json!({ "text": "Can I pay with Bitcoin?" })),
    );
    let list = check(
        &spec,
        &app,
        "GET",
        "/api/kb/unanswered",
        "/api/kb/unanswered",
        Some(&admin),
        None,
    );
    assert_eq!(list["groups"].as_array().unwrap().len(), 1, "{list}");
    for _ in 0..2 {
        check(
            &spec,
            &app,
            "POST",
            "/api/kb/curated",
            "/api/kb/curated",
            Some(&admin),
            Some(serde_json::json!({
                "question": "Can I pay with Bitcoin?",
                "answer": "No: cards and PayPal only.",
                "message_ids": list["groups"][0]["message_ids"],
            })),
        );
    }
    check(
        &spec,
        &app,
        "GET",
        "/api/kb/curated",
        "/api/kb/curated",
        Some(&admin),
        None,
    );
    check(
        &spec,
        &app,
        "GET",
        "/api/kb/unanswered",
        "/api/kb/unanswered?since=0&format=json",
        Some(&admin),
        None,
    );
    check(
        &spec,
        &app,
        "PUT",
        "/api/kb/documents/{id}",
        "/api/kb/documents/faq.md",
        Some(&admin),
        Some(doc),
    );
    let one = format!("/api/kb/documents/{id}");
    let read = check(
        &spec,
        &app,
        "GET",
        "/api/kb/documents/{id}",
        &one,
        Some(&admin),
        None,
    );
    assert!(!read["chunks"].as_array().unwrap().is_empty());
    check(
        &spec,
        &app,
        "GET",
        "/api/kb/documents",
        "/api/kb/documents?limit=1",
        Some(&admin),
        None,
    );
    let found = check(
        &spec,
        &app,
        "POST",
        "/api/kb/search",
        "/api/kb/search",
        Some(&admin),
        Some(serde_json::json!({ "query": "opening hours" })),
    );
    assert_eq!(found["results"][0]["external_id"], "faq.md");
    // Errors are documented problems too.
    check(
        &spec,
        &app,
        "POST",
        "/api/kb/search",
        "/api/kb/search",
        Some(&admin),
        Some(serde_json::json!({ "query": "" })),
    );
    check(
        &spec,
        &app,
        "GET",
        "/api/kb/documents",
        "/api/kb/documents",
        None,
        None,
    );
    check(
        &spec,
        &app,
        "DELETE",
        "/api/kb/documents/{id}",
        &one,
        Some(&admin),
        None,
    );
    check(
        &spec,
        &app,
        "DELETE",
        "/api/kb/documents/{id}",
        &one,
        Some(&admin),
        None,
    );
    let ready = check(
        &spec,
        &app,
        "GET",
        "/health/ready",
        "/health/ready",
        None,
        None,
    );
    assert_eq!(ready["status"], "ready", "{ready}");
}

#[test]
fn handoff_responses_match_their_documented_shapes() {
    use core_logic::auth::Role;
    let spec = spec();
    let tenant = TenantSeed::unique(
        "openapihandoff",
        r#"{"handoff":{"inbound":{"generic":"inbound-secret"}}}"#,
    );
    let app = PlatformApp::start(
        Backend::Sqlite,
        std::slice::from_ref(&tenant),
        &[("SPIN_VARIABLE_OUTBOX_FLUSH_TOKEN", "openapi-flush-token")],
    );
    let created = App::client()
        .post(app.url("/api/sessions"))
        .json(&serde_json::json!({ "widget_key": tenant.widget_key }))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap();
    let session = created["session"]["id"].as_str().unwrap().to_string();
    let visitor = created["token"].as_str().unwrap().to_string();
    let agent = e2e::http::staff_token(&tenant.id, Role::Agent, "ann");
    let admin = e2e::http::staff_token(&tenant.id, Role::Admin, "ops");
    let path = |suffix: &str| format!("/api/agent/conversations/{session}{suffix}");
    let escalated = check(
        &spec,
        &app,
        "POST",
        "/api/sessions/{id}/escalate",
        &format!("/api/sessions/{session}/escalate"),
        Some(&visitor),
        None,
    );
    let ticket = escalated["ticket"]["id"].as_str().unwrap().to_string();
    check(
        &spec,
        &app,
        "POST",
        "/api/sessions/{id}/escalate",
        &format!("/api/sessions/{session}/escalate"),
        Some(&agent),
        Some(serde_json::json!({ "priority": "high" })),
    );
    let queue = check(
        &spec,
        &app,
        "GET",
        "/api/agent/conversations",
        "/api/agent/conversations",
        Some(&agent),
        None,
    );
    assert_eq!(queue["conversations"][0]["session_id"], session.as_str());
    let one = "/api/agent/conversations/{id}";
    check(&spec, &app, "GET", one, &path(""), Some(&agent), None);
    let claim = "/api/agent/conversations/{id}/claim";
    check(
        &spec,
        &app,
        "POST",
        claim,
        &path("/claim"),
        Some(&agent),
        None,
    );
    let messages = "/api/agent/conversations/{id}/messages";
    check(
        &spec,
        &app,
        "POST",
        messages,
        &path("/messages"),
        Some(&agent),
        Some(serde_json::json!({ "text": "Hello, Ann here." })),
    );
    check(
        &spec,
        &app,
        "POST",
        messages,
        &path("/messages"),
        Some(&agent),
        Some(serde_json::json!({ "text": "" })),
    );
    // An inbound comment, signed as the generic scheme wants.
    let body = serde_json::json!({ "id": "e1", "type": "ticket.comment", "ticket_id": ticket,
                                   "comment": { "body": "From the desk" } })
    .to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let signature = core_logic::handoff::sign(
        &core_logic::handoff::Secret::new("inbound-secret"),
        now,
        body.as_bytes(),
    );
    let webhook = format!("/api/webhooks/generic?tenant={}", tenant.id);
    for expected in [200, 401] {
        let mut req = App::client()
            .post(app.url(&webhook))
            .header("content-type", "application/json")
            .body(body.clone());
        if expected == 200 {
            req = req.header("x-support-signature", signature.clone());
        }
        let resp = req.send().unwrap();
        assert_eq!(resp.status().as_u16(), expected);
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        let json: Value = resp.json().unwrap();
        assert_matches_documented(
            &spec,
            "POST",
            "/api/webhooks/{provider}",
            expected,
            &ct,
            &json,
        );
    }
    let resolve = "/api/agent/conversations/{id}/resolve";
    check(
        &spec,
        &app,
        "POST",
        resolve,
        &path("/resolve"),
        Some(&agent),
        None,
    );
    check(
        &spec,
        &app,
        "POST",
        resolve,
        &path("/resolve"),
        Some(&agent),
        None,
    );
    let handback = "/api/agent/conversations/{id}/handback";
    check(
        &spec,
        &app,
        "POST",
        handback,
        &path("/handback"),
        Some(&visitor),
        None,
    );
    let flush = "/api/admin/outbox/flush";
    check(
        &spec,
        &app,
        "POST",
        flush,
        flush,
        Some("openapi-flush-token"),
        None,
    );
    check(&spec, &app, "POST", flush, flush, Some(&admin), None);
    check(
        &spec,
        &app,
        "GET",
        "/api/admin/outbox",
        "/api/admin/outbox?state=delivered",
        Some(&admin),
        None,
    );
    check(
        &spec,
        &app,
        "POST",
        "/api/admin/outbox/{id}/replay",
        "/api/admin/outbox/42/replay",
        Some(&admin),
        None,
    );
}
