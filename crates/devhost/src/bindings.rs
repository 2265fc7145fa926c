//! Host bindings generated from the WIT files spin-sdk 5.2.0 ships (copied under `wit/deps`).
//!
//! Resources map to the host types of the interface modules, so each module's `host.rs`
//! implements its generated `Host` / `HostConnection` traits on [`crate::state::HostState`].

wasmtime::component::bindgen!({
    path: "wit",
    world: "devhost:host/spin-host",
    imports: { default: async },
    with: {
        "fermyon:spin/redis.connection": crate::redis::RedisConnection,
        "fermyon:spin/key-value.store": crate::key_value::KeyValueStore,
        "spin:sqlite/sqlite.connection": crate::sqlite::SqliteConnection,
        "spin:postgres/postgres.connection": crate::postgres::PgConnection,
    },
});
