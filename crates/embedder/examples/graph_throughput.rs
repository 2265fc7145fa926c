//! In-process throughput of the graph alone (no HTTP, no batcher), to choose between
//! execution strategies: fp32 vs int8 graph, one thread vs tract's multithreaded executor vs
//! parallel shards of the batch on separate threads, sorted vs unsorted batches.
//!
//! `cargo run --release -p embedder --example graph_throughput -- [MODEL_DIR] [SECONDS]`
//! Prints sentences/s per strategy; used for the figures in crates/embedder/README.md.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use embedder::config::ModelConfig;
use embedder::model::{Encoded, Model, ModelOptions};

fn texts(n: usize, words: usize) -> Vec<String> {
    let vocab = [
        "order",
        "refund",
        "account",
        "delivery",
        "password",
        "invoice",
        "broken",
        "charged",
        "twice",
        "subscription",
        "cancel",
        "address",
        "parcel",
        "support",
        "agent",
        "please",
        "help",
        "waiting",
        "week",
        "email",
        "the",
        "my",
        "was",
        "not",
        "and",
        "is",
    ];
    (0..n)
        .map(|i| {
            (0..words)
                .map(|w| vocab[(i * 7 + w * 13 + w * w) % vocab.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn measure(seconds: f64, sentences_per_round: usize, mut round: impl FnMut()) -> f64 {
    round();
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs_f64(seconds) {
        round();
        n += sentences_per_round;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| ".models/minilm".into()));
    let seconds: f64 = args.next().map_or(5.0, |s| s.parse().expect("seconds"));
    let base = ModelConfig::load(&dir).expect("config");
    let graphs = if dir.join("model-int8.onnx").is_file() {
        vec!["model.onnx", "model-int8.onnx"]
    } else {
        vec!["model.onnx"]
    };
    for graph in graphs {
        let mut config = base.clone();
        config.onnx_file = graph.to_string();
        let padded = |intra_threads| ModelOptions {
            intra_threads,
            per_text: false,
            bf16: false,
            lone_text_threads: 1,
        };
        let single = Model::load_with_config(&dir, config.clone(), padded(1)).unwrap();
        let multi = Model::load_with_config(&dir, config.clone(), padded(2)).unwrap();
        let alone = Model::load_with_config(&dir, config.clone(), ModelOptions::default()).unwrap();
        // 32 texts of 51 tokens (49 words + [CLS]/[SEP]), the measurement.
        let encoded: Vec<Encoded> = texts(32, 49)
            .iter()
            .map(|t| single.encode(t).unwrap())
            .collect();
        let tokens = encoded[0].len();
        let batch: Vec<&Encoded> = encoded.iter().collect();
        let one = measure(seconds, 32, || {
            single.embed(&batch).unwrap();
        });
        let intra = measure(seconds, 32, || {
            multi.embed(&batch).unwrap();
        });
        let shards = measure(seconds, 32, || {
            std::thread::scope(|s| {
                for half in batch.chunks(16) {
                    let single = &single;
                    s.spawn(move || single.embed(half).unwrap());
                }
            });
        });
        let per_text = measure(seconds, 32, || {
            std::thread::scope(|s| {
                for half in batch.chunks(16) {
                    let alone = &alone;
                    s.spawn(move || alone.embed(half).unwrap());
                }
            });
        });
        println!(
            "{graph}: batch 32 x {tokens} tokens: 1 thread {one:.1} sent/s | tract executor 2 threads {intra:.1} | 2 shards of 16 on 2 threads {shards:.1} | one text per run (batch-1 plan) on 2 threads {per_text:.1}"
        );
        // Mixed lengths: padding to the longest vs sorting into two length buckets.
        let mixed: Vec<Encoded> = (0..32)
            .map(|i| {
                single
                    .encode(&texts(1, if i % 2 == 0 { 8 } else { 120 })[0])
                    .unwrap()
            })
            .collect();
        let unsorted: Vec<&Encoded> = mixed.iter().collect();
        let mut sorted = unsorted.clone();
        sorted.sort_by_key(|e| e.len());
        let padded = measure(seconds, 32, || {
            std::thread::scope(|s| {
                for half in unsorted.chunks(16) {
                    let single = &single;
                    s.spawn(move || single.embed(half).unwrap());
                }
            });
        });
        let bucketed = measure(seconds, 32, || {
            std::thread::scope(|s| {
                for half in sorted.chunks(16) {
                    let single = &single;
                    s.spawn(move || single.embed(half).unwrap());
                }
            });
        });
        println!(
            "{graph}: 32 mixed texts (10 and 122 tokens) on 2 threads: unsorted {padded:.1} sent/s | sorted into length buckets {bucketed:.1}"
        );
    }
}
