//! The real `embedder` binary over HTTP: OpenAI wire format, options, errors in OpenAI's
//! shape, start-up failures that name the file, batching across concurrent requests, and
//! 503 + Retry-After when the queue is full.

mod common;

use base64::Engine;
use common::{Sidecar, as_vec};
use embedder::model::cosine;
use serde_json::{Value, json};

fn embedding(body: &Value, i: usize) -> Vec<f32> {
    as_vec(&body["data"][i]["embedding"])
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

fn assert_openai_error(resp: &common::HttpResponse, status: u16) -> Value {
    assert_eq!(resp.status, status, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let body = resp.json();
    let error = &body["error"];
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(error["type"].is_string(), "{body}");
    assert!(
        error.get("param").is_some() && error.get("code").is_some(),
        "{body}"
    );
    body
}

#[test]
fn embeddings_match_reference_and_follow_openai_wire_format() {
    let sidecar = Sidecar::start(&common::minilm_dir(), &[]);
    let reference = common::read_json(&common::fixtures().join("minilm-reference.json"));
    let sentences = &reference["sentences"];
    let resp = sidecar.post(
        "/v1/embeddings",
        &json!({"model": "all-MiniLM-L6-v2", "input": [sentences[0], sentences[2], sentences[23]]}),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "all-MiniLM-L6-v2");
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    for (i, (item, fixture_index)) in data.iter().zip([0, 2, 23]).enumerate() {
        assert_eq!(item["object"], "embedding");
        assert_eq!(item["index"], i);
        let v = as_vec(&item["embedding"]);
        assert_eq!(v.len(), 384);
        assert!((norm(&v) - 1.0).abs() < 1e-4);
        let expected = as_vec(&reference["embeddings"]["model.onnx"][fixture_index]);
        assert!(cosine(&v, &expected) >= 0.999);
    }
    let usage = &body["usage"];
    let tokens: u64 = reference["token_ids"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(i, _)| [0, 2, 23].contains(i))
        .map(|(_, t)| t.as_array().unwrap().len() as u64)
        .sum();
    assert_eq!(usage["prompt_tokens"], tokens);
    assert_eq!(usage["total_tokens"], tokens);
    // The third text is over 256 tokens: truncated, and reported.
    assert_eq!(usage["truncated_inputs"], json!([2]));

    // A plain string input and no model field.
    let single = sidecar
        .post("/v1/embeddings", &json!({"input": sentences[0]}))
        .json();
    assert_eq!(single["data"].as_array().unwrap().len(), 1);
    assert!(cosine(&embedding(&single, 0), &embedding(&body, 0)) > 0.9999);
}

#[test]
fn dimensions_truncate_and_renormalize_and_base64_carries_the_same_floats() {
    let sidecar = Sidecar::start(&common::minilm_dir(), &[]);
    let text = "Where is my order?";
    let full = embedding(
        &sidecar
            .post("/v1/embeddings", &json!({"input": text}))
            .json(),
        0,
    );
    let short = sidecar
        .post("/v1/embeddings", &json!({"input": text, "dimensions": 128}))
        .json();
    let short = embedding(&short, 0);
    assert_eq!(short.len(), 128);
    assert!((norm(&short) - 1.0).abs() < 1e-4);
    assert!(cosine(&short, &full[..128]) > 0.9999);

    let b64 = sidecar
        .post(
            "/v1/embeddings",
            &json!({"input": text, "encoding_format": "base64"}),
        )
        .json();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64["data"][0]["embedding"].as_str().expect("base64 string"))
        .unwrap();
    let decoded: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(decoded, full);
}

#[test]
fn bad_requests_get_openai_shaped_4xx_errors() {
    let sidecar = Sidecar::start(
        &common::minilm_dir(),
        &["--max-inputs", "4", "--max-input-chars", "100"],
    );
    for (body, param) in [
        (json!({}), "input"),
        (json!({"input": []}), "input"),
        (json!({"input": ""}), "input"),
        (json!({"input": 42}), "input"),
        (json!({"input": [1, 2, 3]}), "input"),
        (json!({"input": ["ok", null]}), "input"),
        (json!({"input": ["a", "b", "c", "d", "e"]}), "input"),
        (json!({"input": "x".repeat(101)}), "input"),
        (json!({"input": "a", "dimensions": 1000}), "dimensions"),
        (json!({"input": "a", "dimensions": -1}), "dimensions"),
        (
            json!({"input": "a", "encoding_format": "binary"}),
            "encoding_format",
        ),
        (json!({"input": "a", "input_type": "code"}), "input_type"),
    ] {
        let resp = sidecar.post("/v1/embeddings", &body);
        let err = assert_openai_error(&resp, 400);
        assert_eq!(err["error"]["type"], "invalid_request_error", "{body}");
        assert_eq!(err["error"]["param"], param, "{body}");
    }
    assert_openai_error(&sidecar.post_raw("/v1/embeddings", b"{not json"), 400);
    let err = assert_openai_error(
        &sidecar.post(
            "/v1/embeddings",
            &json!({"input": "a", "model": "text-embedding-3-small"}),
        ),
        404,
    );
    assert_eq!(err["error"]["code"], "model_not_found");
    assert_openai_error(&sidecar.get("/v1/embeddings"), 405);
    assert_openai_error(&sidecar.get("/v2/nothing"), 404);
    // Nothing above broke the server.
    assert_eq!(
        sidecar
            .post("/v1/embeddings", &json!({"input": "still fine"}))
            .status,
        200
    );
}

#[test]
fn matmul_flag_is_honoured_or_refused_with_a_reason() {
    let body = json!({"input": ["where is my parcel?"]});
    let exact = Sidecar::start(&common::minilm_dir(), &["--matmul", "f32"]);
    assert_eq!(exact.get("/health").json()["matmul"], "f32");
    let reference =
        common::as_vec(&exact.post("/v1/embeddings", &body).json()["data"][0]["embedding"]);
    drop(exact);
    if embedder::model::amx_bf16_available() {
        let fast = Sidecar::start(&common::minilm_dir(), &["--matmul", "bf16"]);
        assert_eq!(fast.get("/health").json()["matmul"], "amx-bf16");
        let got =
            common::as_vec(&fast.post("/v1/embeddings", &body).json()["data"][0]["embedding"]);
        let c = embedder::model::cosine(&got, &reference);
        assert!(c >= 0.999, "bf16 vs f32 cosine {c}");
    } else {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_embedder"))
            .arg("--model-dir")
            .arg(common::minilm_dir())
            .args(["--listen", "127.0.0.1:0", "--matmul", "bf16"])
            .output()
            .expect("run embedder");
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("AMX-BF16"), "{stderr}");
    }
}

#[test]
fn health_models_and_metrics_endpoints_answer() {
    let sidecar = Sidecar::start(&common::minilm_dir(), &[]);
    let health = sidecar.get("/health");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    // `--per-text auto` (the default): MiniLM's 90 MB graph runs one text at a time.
    assert_eq!(health.json()["per_text"], true);
    // `--matmul auto`: AMX bf16 tiles where the CPU has them.
    let auto = if embedder::model::amx_bf16_available() {
        "amx-bf16"
    } else {
        "f32"
    };
    assert_eq!(health.json()["matmul"], auto);
    assert_eq!(health.json()["dims"], 384);
    let models = sidecar.get("/v1/models").json();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "all-MiniLM-L6-v2");
    assert_eq!(models["data"][0]["object"], "model");
    sidecar.post("/v1/embeddings", &json!({"input": ["one", "two"]}));
    sidecar.post("/v1/embeddings", &json!({"input": []}));
    let metrics = sidecar.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text();
    for needle in [
        "embedder_requests_total{route=\"embeddings\",status=\"200\"} 1",
        "embedder_requests_total{route=\"embeddings\",status=\"400\"} 1",
        "embedder_texts_total 2",
        "embedder_queue_depth 0",
        "# TYPE embedder_batch_size histogram",
        "# TYPE embedder_request_duration_seconds histogram",
        "embedder_inference_seconds_count",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
}

#[test]
fn concurrent_requests_share_graph_runs_and_get_their_own_vectors() {
    let sidecar = Sidecar::start(&common::minilm_dir(), &["--max-wait-ms", "50"]);
    let texts: Vec<String> = (0..16)
        .map(|i| {
            format!(
                "customer question number {i}: {}",
                "why was I charged twice? ".repeat(i % 5 + 1)
            )
        })
        .collect();
    let alone: Vec<Vec<f32>> = texts
        .iter()
        .map(|t| {
            embedding(
                &sidecar.post("/v1/embeddings", &json!({"input": t})).json(),
                0,
            )
        })
        .collect();
    let runs_before = metric(&sidecar.get("/metrics").text(), "embedder_batch_size_count");
    let addr = sidecar.addr;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(texts.len()));
    let handles: Vec<_> = texts
        .iter()
        .cloned()
        .map(|t| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let body = json!({"input": t}).to_string();
                common::http(addr, "POST", "/v1/embeddings", Some(body.as_bytes()))
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let resp = h.join().unwrap();
        assert_eq!(resp.status, 200, "{}", resp.text());
        let c = cosine(&embedding(&resp.json(), 0), &alone[i]);
        assert!(
            c > 0.9999,
            "request {i} got another text's vector? cosine {c}"
        );
    }
    let runs = metric(&sidecar.get("/metrics").text(), "embedder_batch_size_count") - runs_before;
    assert!(
        runs < texts.len() as f64,
        "16 concurrent texts took {runs} graph runs"
    );
}

#[test]
fn per_text_and_padded_runs_give_the_same_vectors() {
    let body =
        json!({"input": ["where is my parcel?", "I was charged twice for my order last week"]});
    let mut answers = Vec::new();
    for flag in ["true", "false"] {
        let sidecar = Sidecar::start(&common::minilm_dir(), &["--per-text", flag]);
        assert_eq!(sidecar.get("/health").json()["per_text"], flag == "true");
        answers.push(sidecar.post("/v1/embeddings", &body).json());
    }
    for i in 0..2 {
        let c = cosine(&embedding(&answers[0], i), &embedding(&answers[1], i));
        assert!(
            c > 0.99999,
            "text {i}: per-text and padded runs differ: cosine {c}"
        );
    }
}

#[test]
fn full_queue_answers_503_with_retry_after_and_recovers() {
    let sidecar = Sidecar::start(
        &common::minilm_dir(),
        &[
            "--queue-capacity",
            "8",
            "--max-inputs",
            "8",
            "--workers",
            "1",
            "--max-batch",
            "8",
        ],
    );
    let long = "The customer says the parcel never arrived and wants a refund now. ".repeat(30);
    let body = json!({"input": vec![long; 8]}).to_string();
    let addr = sidecar.addr;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(12));
    let handles: Vec<_> = (0..12)
        .map(|_| {
            let body = body.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                common::http(addr, "POST", "/v1/embeddings", Some(body.as_bytes()))
            })
        })
        .collect();
    let responses: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let ok = responses.iter().filter(|r| r.status == 200).count();
    let full: Vec<_> = responses.iter().filter(|r| r.status == 503).collect();
    assert_eq!(ok + full.len(), responses.len(), "only 200 or 503 expected");
    assert!(ok >= 1, "the first request must be served");
    assert!(
        !full.is_empty(),
        "12 requests of 8 texts into a queue of 8 must overflow"
    );
    for r in &full {
        assert_eq!(r.header("retry-after"), Some("1"));
        let err = assert_openai_error(r, 503);
        assert_eq!(err["error"]["code"], "queue_full");
    }
    let metrics = sidecar.get("/metrics").text();
    assert_eq!(
        metric(&metrics, "embedder_rejected_total"),
        full.len() as f64
    );
    assert_eq!(metric(&metrics, "embedder_queue_depth"), 0.0);
    assert_eq!(
        sidecar.post_raw("/v1/embeddings", body.as_bytes()).status,
        200
    );
}

fn scratch_copy(name: &str, skip: &str) -> std::path::PathBuf {
    let src = common::minilm_dir();
    let dir = std::env::temp_dir().join(format!("embedder-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["embedder.json", "tokenizer.json", "model.onnx"] {
        if file != skip {
            std::os::unix::fs::symlink(src.join(file), dir.join(file)).unwrap();
        }
    }
    dir
}

#[test]
fn broken_model_directory_fails_at_start_naming_the_file() {
    let (ok, err) = common::run_to_exit(std::path::Path::new("/nonexistent/models/x"));
    assert!(!ok && err.contains("/nonexistent/models/x"), "{err}");

    for missing in ["embedder.json", "tokenizer.json", "model.onnx"] {
        let dir = scratch_copy(&format!("missing-{missing}"), missing);
        let (ok, err) = common::run_to_exit(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(!ok, "started without {missing}");
        assert!(
            err.contains(missing),
            "error for missing {missing} does not name it: {err}"
        );
    }

    let dir = scratch_copy("bad-config", "embedder.json");
    std::fs::write(
        dir.join("embedder.json"),
        r#"{"id": "x", "pooling": "max"}"#,
    )
    .unwrap();
    let (ok, err) = common::run_to_exit(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        !ok && err.contains("embedder.json") && err.contains("`max`"),
        "{err}"
    );

    let dir = scratch_copy("bad-onnx", "model.onnx");
    std::fs::write(dir.join("model.onnx"), b"this is not a protobuf").unwrap();
    let (ok, err) = common::run_to_exit(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(!ok && err.contains("model.onnx"), "{err}");
}
