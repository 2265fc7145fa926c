//! Accuracy of the tract route against onnxruntime on the same files: the committed
//! reference embeddings (scripts/embedder/reference.sh) for the default MiniLM model, fp32
//! and int8 graphs, one text at a time and in padded, sharded batches; tokenization parity
//! with the Python `tokenizers`; and a retrieval sanity check.

mod common;

use embedder::batcher::plan_batches;
use embedder::config::ModelConfig;
use embedder::model::{Encoded, Matmul, Model, ModelOptions, cosine};

fn load(onnx_file: &str) -> Model {
    load_with(onnx_file, ModelOptions::default())
}

fn load_with(onnx_file: &str, options: ModelOptions) -> Model {
    let dir = common::minilm_dir();
    let mut config = ModelConfig::load(&dir).expect("embedder.json");
    config.onnx_file = onnx_file.to_string();
    Model::load_with_config(&dir, config, options).expect("load model")
}

const PADDED: ModelOptions = ModelOptions {
    intra_threads: 1,
    per_text: false,
    bf16: false,
    lone_text_threads: 1,
};

const BF16: ModelOptions = ModelOptions {
    intra_threads: 1,
    per_text: true,
    bf16: true,
    lone_text_threads: 1,
};

struct Reference {
    sentences: Vec<String>,
    token_ids: Vec<Vec<i64>>,
    truncated: Vec<bool>,
    embeddings: serde_json::Value,
}

fn reference() -> Reference {
    let r = common::read_json(&common::fixtures().join("minilm-reference.json"));
    Reference {
        sentences: serde_json::from_value(r["sentences"].clone()).unwrap(),
        token_ids: serde_json::from_value(r["token_ids"].clone()).unwrap(),
        truncated: serde_json::from_value(r["truncated"].clone()).unwrap(),
        embeddings: r["embeddings"].clone(),
    }
}

fn assert_matches_reference(onnx_file: &str, options: ModelOptions) {
    let model = load_with(onnx_file, options);
    assert_eq!(model.runs_per_text(), options.per_text);
    let r = reference();
    let expected: Vec<Vec<f32>> = r.embeddings[onnx_file]
        .as_array()
        .unwrap_or_else(|| panic!("no reference for {onnx_file}"))
        .iter()
        .map(common::as_vec)
        .collect();
    let encoded: Vec<Encoded> = r
        .sentences
        .iter()
        .map(|s| model.encode(s).unwrap())
        .collect();

    // One at a time, as the reference was made (spread over threads if the options say so).
    let mut worst_single = 1.0f32;
    for (i, e) in encoded.iter().enumerate() {
        let got = &model.embed_alone(&[e]).unwrap()[0];
        let c = cosine(got, &expected[i]);
        worst_single = worst_single.min(c);
        assert!(c >= 0.999, "{onnx_file}: sentence {i} cosine {c}");
    }

    // All together, padded: sorted and cut the way the batcher does.
    let mut order: Vec<usize> = (0..encoded.len()).collect();
    order.sort_by_key(|&i| encoded[i].len());
    let lengths: Vec<usize> = order.iter().map(|&i| encoded[i].len()).collect();
    let mut start = 0;
    let mut worst = 1.0f32;
    for size in plan_batches(&lengths, 32, 2) {
        let batch: Vec<&Encoded> = order[start..start + size]
            .iter()
            .map(|&i| &encoded[i])
            .collect();
        let vectors = model.embed(&batch).unwrap();
        for (k, v) in vectors.iter().enumerate() {
            let i = order[start + k];
            worst = worst.min(cosine(v, &expected[i]));
        }
        start += size;
    }
    assert!(worst >= 0.999, "{onnx_file}: batched worst cosine {worst}");
    println!(
        "{onnx_file} ({} matmul, per text: {}): worst cosine vs onnxruntime: {worst_single:.7} one at a time, {worst:.7} in sorted batches",
        model.matmul().name(),
        model.runs_per_text()
    );

    // A batch with much padding (longest text first) must not change short texts.
    let padded: Vec<&Encoded> = encoded.iter().rev().collect();
    let vectors = model.embed(&padded).unwrap();
    for (k, v) in vectors.iter().enumerate() {
        let i = encoded.len() - 1 - k;
        let c = cosine(v, &expected[i]);
        assert!(
            c >= 0.999,
            "{onnx_file}: padded batch, sentence {i} cosine {c}"
        );
    }
}

#[test]
fn fp32_graph_matches_onnxruntime_reference_per_sentence() {
    assert_matches_reference("model.onnx", ModelOptions::default());
}

#[test]
fn fp32_graph_in_padded_batches_matches_onnxruntime_reference() {
    assert_matches_reference("model.onnx", PADDED);
}

/// With AMX bf16 matrix products (what `--matmul auto` picks on CPUs that have AMX); on a
/// CPU without it the option falls back to f32, which this also checks.
#[test]
fn bf16_matmul_matches_onnxruntime_reference_per_sentence_and_padded() {
    for options in [
        BF16,
        ModelOptions {
            per_text: false,
            ..BF16
        },
    ] {
        assert_matches_reference("model.onnx", options);
    }
    let model = load_with("model.onnx", BF16);
    let expected = if embedder::model::amx_bf16_available() {
        Matmul::AmxBf16
    } else {
        Matmul::F32
    };
    assert_eq!(model.matmul(), expected);
    assert_eq!(load("model.onnx").matmul(), Matmul::F32);
}

/// A text that has the machine to itself is spread over two threads (tract's executor).
#[test]
fn lone_texts_spread_over_two_threads_match_onnxruntime_reference() {
    let options = ModelOptions {
        lone_text_threads: 2,
        ..ModelOptions::default()
    };
    assert!(load_with("model.onnx", options).spreads_lone_texts());
    assert!(!load("model.onnx").spreads_lone_texts());
    assert_matches_reference("model.onnx", options);
    assert_matches_reference(
        "model.onnx",
        ModelOptions {
            lone_text_threads: 2,
            ..BF16
        },
    );
}

#[test]
fn int8_graph_matches_onnxruntime_reference_per_sentence() {
    assert_matches_reference("model-int8.onnx", ModelOptions::default());
}

#[test]
fn tokenization_matches_python_tokenizers_including_truncation() {
    let model = load("model.onnx");
    let r = reference();
    for (i, s) in r.sentences.iter().enumerate() {
        let e = model.encode(s).unwrap();
        assert_eq!(e.ids, r.token_ids[i], "sentence {i}: {s:?}");
        assert_eq!(e.truncated, r.truncated[i], "sentence {i}");
    }
    assert!(
        r.truncated.iter().any(|&t| t),
        "fixture must exercise truncation"
    );
}

#[test]
fn query_ranks_its_paraphrase_above_unrelated_sentences() {
    let model = load("model.onnx");
    let corpus = [
        "To reset your password, click 'Forgot password' on the sign-in page.",
        "Refunds for damaged goods are issued within five business days.",
        "You can change the delivery address until the order ships.",
        "Annual plans are billed once a year at a 20% discount.",
        "The museum is closed on Mondays.",
        "Tomatoes grow best in full sun.",
    ];
    let queries = [
        ("I can't log in, how do I get a new password?", 0),
        ("my parcel came broken, can I get my money back", 1),
        ("ship my order to a different address", 2),
        ("is a yearly subscription cheaper?", 3),
    ];
    let docs: Vec<Vec<f32>> = corpus
        .iter()
        .map(|d| model.embed(&[&model.encode(d).unwrap()]).unwrap().remove(0))
        .collect();
    for (query, want) in queries {
        let q = model
            .embed(&[&model.encode(query).unwrap()])
            .unwrap()
            .remove(0);
        let scores: Vec<f32> = docs.iter().map(|d| cosine(&q, d)).collect();
        let best = scores
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0;
        assert_eq!(best, want, "{query:?} scored {scores:?}");
        let margin = scores[want]
            - scores
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != want)
                .map(|(_, s)| *s)
                .fold(f32::MIN, f32::max);
        assert!(margin > 0.05, "{query:?}: margin {margin}");
    }
}
