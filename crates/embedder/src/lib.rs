//! The embedding sidecar as a library: the binary (`main.rs`) wires these modules to a
//! socket, and the integration tests load the model through them directly.
//!
//! - `config`: the model directory's `embedder.json`
//! - `model`: tokenizer + tract graph + pooling
//! - `batcher`: dynamic batching onto the inference threads
//! - `api`: the OpenAI-compatible HTTP API
//! - `rerank`: `/v1/rerank` over a cross-encoder (Jina, Cohere and vLLM wire shape)
//! - `metrics`: Prometheus counters and histograms
//! - `server`: the listening socket and its connections

pub mod api;
pub mod batcher;
pub mod config;
pub mod metrics;
pub mod model;
pub mod rerank;
pub mod server;
