//! devhost: runs this Spin app locally on wasmtime with the semantics of `spin up`.
//!
//! Reads `spin.toml` (manifest version 2) and Spin's runtime config, and serves the app's
//! HTTP components, each request on a fresh instance. Provides the host interfaces our
//! components use, each generated from the WIT that spin-sdk 5.2.0 ships. Production runs
//! the same components on Spin, SpinKube or Fermyon Cloud; devhost is for `make run`, the
//! end-to-end tests and the benchmarks.

pub mod app;
pub mod bindings;
pub mod engine;
pub mod key_value;
pub mod manifest;
pub mod outbound_http;
pub mod postgres;
pub mod redis;
pub mod routes;
pub mod runtime_config;
pub mod server;
pub mod sqlite;
pub mod state;
pub mod variables;
