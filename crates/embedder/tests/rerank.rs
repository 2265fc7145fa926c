//! `POST /v1/rerank` of the real `embedder` binary with the installed rerank model
//! (cross-encoder/ms-marco-MiniLM-L-12-v2, its f32 graph): tokenization and scores against
//! onnxruntime on the same file (scripts/embedder/rerank-reference.py), the Jina/Cohere/vLLM wire format, errors
//! in the sidecar's OpenAI shape, and a sidecar without a rerank model.

mod common;

use common::Sidecar;
use embedder::model::{Model, ModelOptions};
use serde_json::{Value, json};

fn reference() -> Value {
    common::read_json(&common::fixtures().join("reranker-reference.json"))
}

fn strings(v: &Value) -> Vec<String> {
    serde_json::from_value(v.clone()).unwrap()
}

#[test]
fn pair_tokens_and_scores_match_onnxruntime() {
    let model = Model::load(&common::reranker_dir(), ModelOptions::default()).expect("load");
    let r = reference();
    let query = r["query"].as_str().unwrap();
    let documents = strings(&r["documents"]);
    let expected_ids: Vec<Vec<i64>> = serde_json::from_value(r["token_ids"].clone()).unwrap();
    let expected: Vec<f64> = serde_json::from_value(r["logits"].clone()).unwrap();
    let encoded: Vec<_> = documents
        .iter()
        .map(|d| model.encode_pair(query, d).unwrap())
        .collect();
    for (e, want) in encoded.iter().zip(&expected_ids) {
        assert_eq!(&e.ids, want);
        // The document's tokens are the second segment.
        assert_eq!(e.type_ids.first(), Some(&0));
        assert_eq!(e.type_ids.last(), Some(&1));
    }
    let refs: Vec<_> = encoded.iter().collect();
    let logits = model.score(&refs).unwrap();
    for (got, want) in logits.iter().zip(&expected) {
        assert!(
            (f64::from(*got) - want).abs() < 0.01,
            "tract {got} vs onnxruntime {want}"
        );
    }
}

#[test]
fn rerank_follows_the_jina_cohere_wire_format() {
    let sidecar = Sidecar::start(
        &common::minilm_dir(),
        &[
            "--rerank-model-dir",
            common::reranker_dir().to_str().unwrap(),
        ],
    );
    let r = reference();
    let documents = strings(&r["documents"]);
    let resp = sidecar.post(
        "/v1/rerank",
        &json!({
            "model": "cross-encoder/ms-marco-MiniLM-L-12-v2",
            "query": r["query"],
            "documents": [documents[0], {"text": documents[1]}, documents[2], documents[3]],
        }),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["model"], "cross-encoder/ms-marco-MiniLM-L-12-v2");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    // The passage that answers (refund time) first, the other refund passage next.
    let order: Vec<u64> = results
        .iter()
        .map(|x| x["index"].as_u64().unwrap())
        .collect();
    assert_eq!(order[..2], [0, 3], "{body}");
    let scores: Vec<f64> = results
        .iter()
        .map(|x| x["relevance_score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(scores.iter().all(|s| *s > 0.0 && *s < 1.0), "{scores:?}");
    assert!(scores[0] > 0.9 && scores[3] < 0.1, "{scores:?}");
    assert!(results.iter().all(|x| x.get("document").is_none()));
    assert!(body["usage"]["total_tokens"].as_u64().unwrap() > 40);

    let top = sidecar
        .post(
            "/v1/rerank",
            &json!({"query": r["query"], "documents": documents, "top_n": 1, "return_documents": true}),
        )
        .json();
    assert_eq!(top["results"].as_array().unwrap().len(), 1);
    assert_eq!(top["results"][0]["index"], 0);
    assert_eq!(top["results"][0]["document"]["text"], documents[0].as_str());

    // Errors in the sidecar's OpenAI shape.
    let bad = sidecar.post("/v1/rerank", &json!({"query": "q", "documents": []}));
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["param"], "documents");
    let unknown = sidecar.post(
        "/v1/rerank",
        &json!({"query": "q", "documents": ["a"], "model": "rerank-english-v3.0"}),
    );
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"]["code"], "model_not_found");
    assert_eq!(sidecar.get("/v1/rerank").status, 405);

    // The rerank model is listed and reported.
    let models = sidecar.get("/v1/models").json();
    assert_eq!(
        models["data"][1]["id"],
        "cross-encoder/ms-marco-MiniLM-L-12-v2"
    );
    assert_eq!(models["data"][1]["task"], "rerank");
    assert_eq!(
        sidecar.get("/health").json()["rerank_model"],
        "cross-encoder/ms-marco-MiniLM-L-12-v2"
    );
}

#[test]
fn a_sidecar_without_a_rerank_model_says_so() {
    let sidecar = Sidecar::start(&common::minilm_dir(), &[]);
    let resp = sidecar.post("/v1/rerank", &json!({"query": "q", "documents": ["a"]}));
    assert_eq!(resp.status, 404, "{}", resp.text());
    let error = &resp.json()["error"];
    assert_eq!(error["code"], "model_not_found");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("--rerank-model-dir"),
        "{error}"
    );
    assert_eq!(sidecar.get("/health").json()["rerank_model"], Value::Null);
}

#[test]
fn an_embedding_model_is_refused_as_the_rerank_model() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_embedder"))
        .arg("--model-dir")
        .arg(common::minilm_dir())
        .arg("--rerank-model-dir")
        .arg(common::minilm_dir())
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("EMBEDDING_MODEL_DIR")
        .env_remove("RERANK_MODEL_DIR")
        .stdout(std::process::Stdio::null())
        .output()
        .expect("run embedder");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cross-encoder"), "{stderr}");
}
