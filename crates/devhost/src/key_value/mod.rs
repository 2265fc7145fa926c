//! `fermyon:spin/key-value@2.0.0`: key-value stores by label, on SQLite or Redis.
//!
//! This file is the public face: [`KeyValueStores`] builds one backend per configured label
//! (from `crate::runtime_config::KeyValueStoreConfig`) and [`KeyValueStore`] is an open store,
//! the host side of the WIT `store` resource. `host.rs` implements the WIT interface and the
//! access checks; `sqlite_store.rs` and `redis_store.rs` are the two backends. Defaults (the
//! `default` label in `.spin/sqlite_key_value.db`) are decided by the runtime config, not here.

mod host;
mod redis_store;
mod sqlite_store;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::bindings::fermyon::spin::key_value::Error;
use crate::runtime_config::KeyValueStoreConfig;
use redis_store::RedisKeyValue;
use sqlite_store::SqliteKeyValue;

pub use host::add_to_linker;

enum Backend {
    Sqlite(SqliteKeyValue),
    Redis(RedisKeyValue),
}

/// The app's key-value stores, by label.
pub struct KeyValueStores {
    stores: BTreeMap<String, Arc<Backend>>,
}

impl KeyValueStores {
    /// Builds every configured store. Nothing is connected yet; a bad Redis URL is an error.
    pub fn new(config: &BTreeMap<String, KeyValueStoreConfig>) -> anyhow::Result<Self> {
        let mut stores = BTreeMap::new();
        for (label, store) in config {
            let backend = match store {
                KeyValueStoreConfig::Spin { path } => {
                    Backend::Sqlite(SqliteKeyValue::new(path.clone())?)
                }
                KeyValueStoreConfig::Redis { url } => Backend::Redis(RedisKeyValue::new(url)?),
            };
            stores.insert(label.clone(), Arc::new(backend));
        }
        Ok(Self { stores })
    }

    /// Fails, as Spin does at start, if a component lists a store that is not configured.
    pub fn ensure_configured<'a>(
        &self,
        component_id: &str,
        labels: impl IntoIterator<Item = &'a String>,
    ) -> anyhow::Result<()> {
        for label in labels {
            anyhow::ensure!(
                self.stores.contains_key(label),
                "unknown key_value_stores label {label:?} for component {component_id:?}"
            );
        }
        Ok(())
    }

    /// Opens `label`; `None` if it is not configured.
    async fn open(&self, label: &str) -> Option<Result<KeyValueStore, Error>> {
        let backend = self.stores.get(label)?.clone();
        let opened = match backend.as_ref() {
            Backend::Sqlite(s) => s.ensure_open().await,
            Backend::Redis(r) => r.ensure_open().await,
        };
        Some(opened.map(|()| KeyValueStore {
            label: label.to_owned(),
            backend,
        }))
    }
}

/// An open store: the host side of the WIT `store` resource.
pub struct KeyValueStore {
    label: String,
    backend: Arc<Backend>,
}

impl KeyValueStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        match self.backend.as_ref() {
            Backend::Sqlite(s) => s.get(&self.label, key).await,
            Backend::Redis(r) => r.get(key).await,
        }
    }

    async fn set(&self, key: &str, value: Vec<u8>) -> Result<(), Error> {
        match self.backend.as_ref() {
            Backend::Sqlite(s) => s.set(&self.label, key, value).await,
            Backend::Redis(r) => r.set(key, value).await,
        }
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        match self.backend.as_ref() {
            Backend::Sqlite(s) => s.delete(&self.label, key).await,
            Backend::Redis(r) => r.delete(key).await,
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, Error> {
        match self.backend.as_ref() {
            Backend::Sqlite(s) => s.exists(&self.label, key).await,
            Backend::Redis(r) => r.exists(key).await,
        }
    }

    async fn get_keys(&self) -> Result<Vec<String>, Error> {
        match self.backend.as_ref() {
            Backend::Sqlite(s) => s.get_keys(&self.label).await,
            Backend::Redis(r) => r.get_keys().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stores(config: &[(&str, KeyValueStoreConfig)]) -> KeyValueStores {
        let config = config
            .iter()
            .map(|(l, c)| (l.to_string(), c.clone()))
            .collect();
        KeyValueStores::new(&config).unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn labels_sharing_a_file_keep_separate_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = Some(dir.path().join("kv.db"));
        let stores = stores(&[
            ("a", KeyValueStoreConfig::Spin { path: path.clone() }),
            ("b", KeyValueStoreConfig::Spin { path }),
        ]);
        let a = stores.open("a").await.unwrap().unwrap();
        let b = stores.open("b").await.unwrap().unwrap();
        a.set("k", b"from a".to_vec()).await.unwrap();
        assert_eq!(a.get("k").await.unwrap(), Some(b"from a".to_vec()));
        assert_eq!(b.get("k").await.unwrap(), None);
        assert_eq!(b.get_keys().await.unwrap(), Vec::<String>::new());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn in_memory_store_keeps_data_across_opens() {
        let stores = stores(&[("mem", KeyValueStoreConfig::Spin { path: None })]);
        let first = stores.open("mem").await.unwrap().unwrap();
        first.set("k", vec![1, 2, 3]).await.unwrap();
        drop(first);
        let second = stores.open("mem").await.unwrap().unwrap();
        assert!(second.exists("k").await.unwrap());
        second.delete("k").await.unwrap();
        assert!(!second.exists("k").await.unwrap());
    }

    #[test]
    fn an_unparsable_redis_url_fails_at_start() {
        let config = [(
            "r".to_string(),
            KeyValueStoreConfig::Redis {
                url: "not a url".into(),
            },
        )]
        .into_iter()
        .collect();
        assert!(KeyValueStores::new(&config).is_err());
    }

    #[tokio::test]
    async fn unconfigured_labels_open_to_none() {
        let stores = stores(&[]);
        assert!(stores.open("nope").await.is_none());
        let err = stores
            .ensure_configured("web", &["nope".to_string()])
            .unwrap_err();
        assert!(err.to_string().contains("\"nope\""), "{err}");
    }
}
