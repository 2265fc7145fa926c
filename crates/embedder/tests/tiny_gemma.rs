//! tract runs the Gemma 3 text-encoder graph (RMSNorm, rotary embeddings, grouped-query
//! bidirectional attention with sliding-window and full layers) as onnxruntime does: a tiny
//! randomly initialised model of EmbeddingGemma's architecture, exported by
//! scripts/embedder/make-tiny-gemma.sh, against its committed onnxruntime reference. Also
//! the query/document prefixes of `input_type`, through the real binary.

mod common;

use common::{Sidecar, as_vec};
use embedder::model::{Encoded, Model, ModelOptions, cosine};
use serde_json::json;

fn reference() -> serde_json::Value {
    common::read_json(&common::tiny_gemma_dir().join("reference.json"))
}

fn load() -> Model {
    Model::load(&common::tiny_gemma_dir(), ModelOptions::default()).expect("load tiny gemma")
}

fn assert_close(got: &[f32], want: &[f32], what: &str) -> f32 {
    let c = cosine(got, want);
    let diff = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        c >= 0.999 && diff < 1e-3,
        "{what}: cosine {c}, max abs difference {diff}"
    );
    c
}

#[test]
fn tract_matches_onnxruntime_on_gemma3_graph_one_text_at_a_time() {
    let model = load();
    // The Gemma 3 graph's batch dimension can be fixed to 1: texts run one at a time.
    assert!(model.runs_per_text());
    let r = reference();
    let sentences = r["sentences"].as_array().unwrap();
    let mut worst = 1.0f32;
    for (i, s) in sentences.iter().enumerate() {
        let e = model.encode(s.as_str().unwrap()).unwrap();
        let want_ids: Vec<i64> = serde_json::from_value(r["token_ids"][i].clone()).unwrap();
        assert_eq!(e.ids, want_ids, "tokenization of sentence {i}");
        let got = model.embed(&[&e]).unwrap().remove(0);
        let c = assert_close(
            &got,
            &as_vec(&r["embeddings"]["model.onnx"][i]),
            &format!("sentence {i}"),
        );
        worst = worst.min(c);
    }
    println!("tiny Gemma 3: worst cosine vs onnxruntime, one at a time: {worst:.7}");
}

#[test]
fn tract_matches_onnxruntime_on_gemma3_graph_in_padded_batches() {
    let options = ModelOptions {
        per_text: false,
        ..ModelOptions::default()
    };
    let model = Model::load(&common::tiny_gemma_dir(), options).expect("load tiny gemma");
    assert!(!model.runs_per_text());
    let r = reference();
    let encoded: Vec<Encoded> = r["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| model.encode(s.as_str().unwrap()).unwrap())
        .collect();
    // Unsorted on purpose: short texts padded up to the 128-token one.
    let batch: Vec<&Encoded> = encoded.iter().collect();
    let vectors = model.embed(&batch).unwrap();
    let mut worst = 1.0f32;
    for (i, v) in vectors.iter().enumerate() {
        let c = assert_close(
            v,
            &as_vec(&r["embeddings"]["model.onnx"][i]),
            &format!("batched sentence {i}"),
        );
        worst = worst.min(c);
    }
    println!("tiny Gemma 3: worst cosine vs onnxruntime, one padded batch: {worst:.7}");
}

#[test]
fn input_type_selects_the_embeddinggemma_prefix() {
    let sidecar = Sidecar::start(&common::tiny_gemma_dir(), &[]);
    let text = "where is my parcel";
    let embed = |body: serde_json::Value| {
        let resp = sidecar.post("/v1/embeddings", &body);
        assert_eq!(resp.status, 200, "{}", resp.text());
        as_vec(&resp.json()["data"][0]["embedding"])
    };
    let query = embed(json!({"input": text, "input_type": "query"}));
    let document = embed(json!({"input": text, "input_type": "document"}));
    let raw = embed(json!({"input": text}));
    let by_hand_query = embed(json!({"input": format!("task: search result | query: {text}")}));
    let by_hand_document = embed(json!({"input": format!("title: none | text: {text}")}));
    assert!(cosine(&query, &by_hand_query) > 0.9999);
    assert!(cosine(&document, &by_hand_document) > 0.9999);
    assert!(
        cosine(&query, &raw) < 0.999,
        "the query prefix changed nothing"
    );
    assert!(
        cosine(&query, &document) < 0.999,
        "query and document prefixes gave the same vector"
    );

    let resp = sidecar.post("/v1/embeddings", &json!({"input": text, "dimensions": 32}));
    assert_eq!(as_vec(&resp.json()["data"][0]["embedding"]).len(), 32);
    let resp = sidecar.post("/v1/embeddings", &json!({"input": text, "dimensions": 48}));
    assert_eq!(
        resp.status, 400,
        "48 is not one of the model's Matryoshka sizes"
    );
}
