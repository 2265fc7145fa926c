//! `embedder`: the embedding sidecar binary. Parses the command line (every flag also reads
//! an environment variable), loads the model directory, starts the batcher and serves the
//! HTTP API. Prints `embedder listening on http://ADDR` on stdout once it accepts requests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Parser;
use embedder::api::{App, Limits};
use embedder::batcher::{Batcher, BatcherOptions};
use embedder::metrics::Metrics;
use embedder::model::{Model, ModelOptions};
use embedder::server;

#[derive(Debug, Parser)]
#[command(
    name = "embedder",
    about = "Embedding sidecar: OpenAI-compatible /v1/embeddings over an ONNX model, and /v1/rerank over a cross-encoder"
)]
struct Args {
    /// Model directory holding embedder.json, tokenizer.json and the ONNX file.
    #[arg(long, env = "EMBEDDING_MODEL_DIR")]
    model_dir: PathBuf,
    /// A cross-encoder's model directory (embedder.json with "dims": 1, tokenizer.json, the
    /// ONNX file): serves `POST /v1/rerank`, one request at a time, its pairs spread over
    /// every core. Without it that route answers 404.
    #[arg(long, env = "RERANK_MODEL_DIR")]
    rerank_model_dir: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "EMBEDDER_LISTEN", default_value = "127.0.0.1:8088")]
    listen: SocketAddr,
    /// Most texts per graph run.
    #[arg(long, env = "EMBEDDER_MAX_BATCH", default_value_t = 32)]
    max_batch: usize,
    /// Extra time (ms) a batch may wait for more texts once a thread is free (batches
    /// already grow while all threads are busy).
    #[arg(long, env = "EMBEDDER_MAX_WAIT_MS", default_value_t = 0)]
    max_wait_ms: u64,
    /// Most texts queued or running at once; beyond it requests get 503 + Retry-After.
    #[arg(long, env = "EMBEDDER_QUEUE_CAPACITY", default_value_t = 1024)]
    queue_capacity: usize,
    /// Inference threads (default: one per core).
    #[arg(long, env = "EMBEDDER_WORKERS")]
    workers: Option<usize>,
    /// Threads tract uses inside one graph run.
    #[arg(long, env = "EMBEDDER_INTRA_THREADS", default_value_t = 1)]
    intra_threads: usize,
    /// Threads one text may spread over when it arrives alone (every inference thread idle,
    /// nothing queued); default: one per core. 1 turns it off.
    #[arg(long, env = "EMBEDDER_LONE_TEXT_THREADS")]
    lone_text_threads: Option<usize>,
    /// Run each text alone on the graph compiled for batch 1 (`true`: faster with tract on
    /// MiniLM), or padded batches on the graph with a symbolic batch (`false`). `auto` runs
    /// per text when the ONNX file (with its external data) is at most 256 MiB: a large
    /// model's weights are read once per run, which batches share.
    #[arg(long, env = "EMBEDDER_PER_TEXT", default_value = "auto",
          value_parser = ["auto", "true", "false"])]
    per_text: String,
    /// Matrix products: `f32`, or `bf16` on Intel AMX tiles (operands rounded to bf16, sums
    /// in f32; faster on large batches, cosine >= 0.999 to exact f32 on MiniLM). `auto` takes
    /// bf16 where the CPU has AMX-BF16 and the model's embedder.json says `"amx_bf16": true`,
    /// f32 elsewhere; `bf16` on a CPU without AMX-BF16 is an error.
    #[arg(long, env = "EMBEDDER_MATMUL", default_value = "auto",
          value_parser = ["auto", "f32", "bf16"])]
    matmul: String,
    /// Most texts in one request.
    #[arg(long, env = "EMBEDDER_MAX_INPUTS", default_value_t = 256)]
    max_inputs: usize,
    /// Longest text accepted, in characters (texts over the token limit are truncated).
    #[arg(long, env = "EMBEDDER_MAX_INPUT_CHARS", default_value_t = 32_768)]
    max_input_chars: usize,
    /// Log format: `text` or `json` (one JSON object per line, e.g. per request).
    #[arg(long, env = "EMBEDDER_LOG_FORMAT", default_value = "text",
          value_parser = ["text", "json"])]
    log_format: String,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr);
    if args.log_format == "json" {
        logs.json().init();
    } else {
        logs.init();
    }
    if args.max_batch == 0 || args.intra_threads == 0 || args.max_inputs == 0 {
        bail!("--max-batch, --intra-threads and --max-inputs must be at least 1");
    }
    if args.queue_capacity < args.max_inputs {
        bail!(
            "--queue-capacity ({}) must be at least --max-inputs ({}), or a full-size request could never be admitted",
            args.queue_capacity,
            args.max_inputs
        );
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = args.workers.unwrap_or(cores).max(1);
    let amx = embedder::model::amx_bf16_available();
    if args.matmul == "bf16" && !amx {
        bail!("--matmul bf16 needs Intel AMX-BF16, which this CPU does not have (use auto or f32)");
    }
    let started = std::time::Instant::now();
    let model = Model::load(
        &args.model_dir,
        ModelOptions {
            intra_threads: args.intra_threads,
            per_text: match args.per_text.as_str() {
                "true" => true,
                "false" => false,
                _ => onnx_bytes(&args.model_dir).is_some_and(|n| n <= PER_TEXT_AUTO_BYTES),
            },
            bf16: match args.matmul.as_str() {
                "f32" => false,
                "bf16" => true,
                _ => {
                    amx && embedder::config::ModelConfig::load(&args.model_dir)
                        .is_ok_and(|c| c.amx_bf16)
                }
            },
            lone_text_threads: args.lone_text_threads.unwrap_or(cores).max(1),
        },
    )?;
    tracing::info!(
        model = %model.config().id,
        dir = %args.model_dir.display(),
        workers,
        intra_threads = args.intra_threads,
        per_text = model.runs_per_text(),
        matmul = model.matmul().name(),
        spreads_lone_texts = model.spreads_lone_texts(),
        seconds = started.elapsed().as_secs_f64(),
        "model loaded"
    );
    let reranker = match &args.rerank_model_dir {
        None => None,
        Some(dir) => {
            let started = std::time::Instant::now();
            let model = Model::load(
                dir,
                ModelOptions {
                    lone_text_threads: 1,
                    bf16: false,
                    ..ModelOptions::default()
                },
            )?;
            tracing::info!(
                model = %model.config().id,
                dir = %dir.display(),
                seconds = started.elapsed().as_secs_f64(),
                "rerank model loaded"
            );
            Some(embedder::rerank::Reranker::new(model, cores)?)
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores.min(2))
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let metrics = Arc::new(Metrics::default());
        let model = Arc::new(model);
        let batcher = Batcher::start(
            model.clone(),
            BatcherOptions {
                max_batch: args.max_batch,
                max_wait: Duration::from_millis(args.max_wait_ms),
                queue_capacity: args.queue_capacity,
                workers,
            },
            metrics.clone(),
        );
        let app = Arc::new(App {
            model,
            batcher,
            metrics,
            limits: Limits {
                max_inputs: args.max_inputs,
                max_input_chars: args.max_input_chars,
                max_body_bytes: args
                    .max_inputs
                    .saturating_mul(args.max_input_chars * 4 + 64)
                    .max(1 << 20),
            },
            reranker,
        });
        let listener = server::bind(args.listen).await?;
        println!("embedder listening on http://{}", listener.local_addr()?);
        server::serve(listener, app).await
    })
}

/// `--per-text auto` runs texts one by one for graphs up to this size (MiniLM: 90 MB), and
/// padded batches above it (EmbeddingGemma-300m: 1.2 GB, not measured per text yet).
const PER_TEXT_AUTO_BYTES: u64 = 256 * 1024 * 1024;

/// The size of the model directory's ONNX file with its external-data files
/// (`model.onnx.data`, `model.onnx_data`), if its config names a readable one.
fn onnx_bytes(dir: &std::path::Path) -> Option<u64> {
    let config = embedder::config::ModelConfig::load(dir).ok()?;
    let files = std::fs::read_dir(dir).ok()?;
    let total = files
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&config.onnx_file)
        })
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    Some(total)
}
