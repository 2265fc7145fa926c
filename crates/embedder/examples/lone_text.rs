//! Latency of one text alone on the batch-1 plan (what a chat message costs when nothing
//! else is queued): on the calling thread only, and spread over tract's multithreaded
//! executor with a few panel thresholds. `MATMUL=bf16` runs the matrix products on AMX bf16
//! tiles where the CPU has them.
//!
//! `cargo run --release -p embedder --example lone_text -- [MODEL_DIR] [SECONDS]`

use std::path::PathBuf;
use std::time::{Duration, Instant};

use embedder::model::{Model, ModelOptions};
use tract_linalg::multithread::{
    Executor, multithread_tract_scope, set_threading_element_threshold,
    set_threading_panel_threshold,
};

fn median_ms(seconds: f64, mut run: impl FnMut()) -> (f64, f64) {
    run();
    let mut times = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs_f64(seconds) {
        let t = Instant::now();
        run();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let per_s = times.len() as f64 / started.elapsed().as_secs_f64();
    (times[times.len() / 2], per_s)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| ".models/minilm".into()));
    let seconds: f64 = args.next().map_or(3.0, |s| s.parse().expect("seconds"));
    let bf16 = std::env::var("MATMUL").is_ok_and(|m| m == "bf16");
    let model = Model::load(
        &dir,
        ModelOptions {
            bf16,
            ..ModelOptions::default()
        },
    )
    .expect("model");
    let short = model
        .encode("Hello, my parcel was charged twice. Please tell me what I should do next.")
        .unwrap();
    let passage = model
        .encode(&"Standard delivery takes three to five working days and express arrives the next day. ".repeat(7))
        .unwrap();
    let two = Executor::multithread(2);
    println!("matmul {}", model.matmul().name());
    for text in [&short, &passage] {
        let v = model.embed(&[text]).unwrap().remove(0);
        println!(
            "{} tokens: NaN in the vector: {}",
            text.len(),
            v.iter().any(|x| x.is_nan())
        );
        let (ms, per_s) = median_ms(seconds, || {
            model.embed(&[text]).unwrap();
        });
        println!(
            "{} tokens: 1 thread p50 {ms:.2} ms ({per_s:.0}/s)",
            text.len()
        );
        for (panels, elements) in [(64, 32768), (8, 4096), (0, 0)] {
            set_threading_panel_threshold(panels);
            set_threading_element_threshold(elements);
            let (ms, per_s) = median_ms(seconds, || {
                multithread_tract_scope(two.clone(), || model.embed(&[text]).unwrap());
            });
            println!(
                "{} tokens: 2 threads (panel threshold {panels}, element threshold {elements}) p50 {ms:.2} ms ({per_s:.0}/s)",
                text.len()
            );
        }
        set_threading_panel_threshold(64);
        set_threading_element_threshold(32768);
    }
}
