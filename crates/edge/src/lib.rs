//! Adapters over spin-sdk shared by the components: the one HTTP error type, configuration
//! from Spin variables, and probes of the app's dependencies. Business logic lives in
//! `crates/core`; components stay thin glue between the two.

pub mod config;
pub mod counters;
pub mod db;
pub mod error;
pub mod probe;
pub mod store;

pub use error::ApiError;
