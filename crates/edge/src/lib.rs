//! Adapters over spin-sdk shared by the components: the one HTTP error type, configuration
//! from Spin variables, the tenant-scoped store and counters, request reading, callers'
//! tokens, rate limits, idempotency, and probes of the app's dependencies. Business logic lives in
//! `crates/core`; components stay thin glue between the two.

pub mod auth;
pub mod breaker;
pub mod config;
pub mod conversation;
pub mod counters;
pub mod db;
pub mod embedder;
pub mod error;
pub mod feedback;
pub mod handoff;
pub mod idempotency;
pub mod kb;
pub mod knowledge;
pub mod llm;
pub mod log;
pub mod metrics;
pub mod outbound;
pub mod pipeline;
pub mod probe;
pub mod rate_limit;
pub mod request;
pub mod responder;
pub mod services;
pub mod store;
pub mod unanswered;
pub mod upload;
pub mod vector_index;

pub use error::ApiError;
