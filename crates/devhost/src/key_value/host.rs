//! The `fermyon:spin/key-value@2.0.0` host functions: access checks and the store resource.
//!
//! As in Spin's factor-key-value: a label the component does not list in `key_value_stores`
//! is `access-denied` (whether or not it exists), a listed label that is not configured is
//! `no-such-store`, and backend failures are `other(message)`. Storage itself is the
//! backends' job (`sqlite_store.rs`, `redis_store.rs`).

use wasmtime::component::{HasSelf, Linker, Resource};

use super::KeyValueStore;
use crate::bindings::fermyon::spin::key_value::{self, Error};
use crate::state::HostState;

impl HostState {
    fn key_value_store(&self, store: &Resource<KeyValueStore>) -> Result<&KeyValueStore, Error> {
        self.table
            .get(store)
            .map_err(|e| Error::Other(format!("invalid store: {e}")))
    }
}

impl key_value::Host for HostState {}

impl key_value::HostStore for HostState {
    async fn open(&mut self, label: String) -> Result<Resource<KeyValueStore>, Error> {
        if !self.component.key_value_stores.contains(&label) {
            return Err(Error::AccessDenied);
        }
        let store = self
            .component
            .services
            .key_value
            .open(&label)
            .await
            .ok_or(Error::NoSuchStore)??;
        self.table.push(store).map_err(|_| Error::StoreTableFull)
    }

    async fn get(
        &mut self,
        store: Resource<KeyValueStore>,
        key: String,
    ) -> Result<Option<Vec<u8>>, Error> {
        self.key_value_store(&store)?.get(&key).await
    }

    async fn set(
        &mut self,
        store: Resource<KeyValueStore>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), Error> {
        self.key_value_store(&store)?.set(&key, value).await
    }

    async fn delete(&mut self, store: Resource<KeyValueStore>, key: String) -> Result<(), Error> {
        self.key_value_store(&store)?.delete(&key).await
    }

    async fn exists(&mut self, store: Resource<KeyValueStore>, key: String) -> Result<bool, Error> {
        self.key_value_store(&store)?.exists(&key).await
    }

    async fn get_keys(&mut self, store: Resource<KeyValueStore>) -> Result<Vec<String>, Error> {
        self.key_value_store(&store)?.get_keys().await
    }

    async fn drop(&mut self, store: Resource<KeyValueStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

/// Adds `fermyon:spin/key-value@2.0.0` to the linker.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    key_value::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}
