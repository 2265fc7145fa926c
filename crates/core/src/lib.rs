//! support-agent's domain logic: plain data in, plain data out, no I/O.
//!
//! Compiles natively and to wasm32-wasip2; components call it, `crates/edge` feeds it.
//! Most of the project's unit tests live here.

pub mod answer;
pub mod api;
pub mod auth;
pub mod breaker;
pub mod chunking;
pub mod clarify;
pub mod conversation;
pub mod destination;
pub mod escalation;
pub mod eval;
pub mod handoff;
pub mod health;
pub mod idempotency;
pub mod kb;
pub mod llm;
pub mod memory;
pub mod metrics;
pub mod outcome;
pub mod problem;
pub mod rate_limit;
pub mod retrieval;
pub mod session;
pub mod small_talk;
pub mod static_site;
pub mod unanswered;
