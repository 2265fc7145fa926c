//! The real EmbeddingGemma-300m through tract (opt-in: `scripts/embedder/gemma-model.sh`, run
//! with `--ignored`; it needs a 1.2 GB model the default test run does not install). Compares
//! with onnxruntime on the same exported file and with sentence-transformers' own vectors.

mod common;

use std::path::PathBuf;

use common::as_vec;
use embedder::model::{Model, ModelOptions, cosine};

#[test]
#[ignore = "needs the real model: scripts/embedder/gemma-model.sh"]
fn embeddinggemma_matches_onnxruntime_and_sentence_transformers() {
    let dir = PathBuf::from(std::env::var("EMBEDDER_GEMMA_DIR").unwrap_or_else(|_| {
        common::repo_root()
            .join(".models/embeddinggemma-300m")
            .display()
            .to_string()
    }));
    assert!(
        dir.join("model.onnx").is_file(),
        "{} has no model.onnx: run scripts/embedder/gemma-model.sh",
        dir.display()
    );
    let model = Model::load(&dir, ModelOptions::default()).expect("load EmbeddingGemma");
    let ort = common::read_json(&dir.join("reference.json"));
    let st = common::read_json(&dir.join("sentence-transformers-reference.json"));
    let mut worst_ort = 1.0f32;
    let mut worst_st = 1.0f32;
    for (i, s) in ort["sentences"].as_array().unwrap().iter().enumerate() {
        let e = model.encode(s.as_str().unwrap()).unwrap();
        let v = model.embed(&[&e]).unwrap().remove(0);
        let c_ort = cosine(&v, &as_vec(&ort["embeddings"]["model.onnx"][i]));
        let c_st = cosine(&v, &as_vec(&st["embeddings"][i]));
        println!(
            "sentence {i}: cosine vs onnxruntime {c_ort:.7}, vs sentence-transformers {c_st:.7}"
        );
        worst_ort = worst_ort.min(c_ort);
        worst_st = worst_st.min(c_st);
    }
    println!("worst cosine: vs onnxruntime {worst_ort:.7}, vs sentence-transformers {worst_st:.7}");
    assert!(worst_ort >= 0.999 && worst_st >= 0.999);
}
