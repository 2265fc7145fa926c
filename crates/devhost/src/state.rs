//! Per-request store data ([`HostState`]) and the per-component and app-wide context it points to.
//!
//! One `HostState` lives in each request's wasmtime `Store`; it is dropped with the instance.
//! Long-lived things (database files, connection pools) live in [`Services`], shared by all
//! requests; per-component permissions live in [`ComponentContext`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::outbound_http::OutboundHttp;
use crate::outbound_http::allowed_hosts::AllowedHosts;

/// Connections and databases shared by every component and request of the app.
pub struct Services {
    pub sqlite: crate::sqlite::SqliteDatabases,
    pub key_value: crate::key_value::KeyValueStores,
    pub postgres: crate::postgres::PostgresClients,
    pub redis: crate::redis::RedisClients,
}

/// What one component may use, resolved once at start.
pub struct ComponentContext {
    pub id: String,
    /// Component variables, resolved from their templates.
    pub variables: BTreeMap<String, String>,
    pub allowed_hosts: AllowedHosts,
    pub sqlite_databases: BTreeSet<String>,
    pub key_value_stores: BTreeSet<String>,
    pub services: Arc<Services>,
}

/// The data of one request's store.
pub struct HostState {
    pub table: ResourceTable,
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub outbound: OutboundHttp,
    pub limits: StoreLimits,
    pub component: Arc<ComponentContext>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}
