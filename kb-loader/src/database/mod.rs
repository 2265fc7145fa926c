//! The few database operations the CLI needs, with one implementation per backend (SQLite
//! via rusqlite, PostgreSQL via tokio-postgres). Callers (`migrations`, `tenants`) hold the
//! policy; this module only talks to the database. Not the app's store: that is
//! `crates/edge`, over Spin's host interfaces.

mod postgres;
mod sqlite;

use anyhow::Context;

use crate::db_url::DbUrl;
use crate::migrations::Migration;

/// A row of `schema_migrations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: i64,
    pub name: String,
    pub checksum: String,
}

/// What applying one migration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyOutcome {
    Applied,
    /// Another run applied this version first (its checksum as recorded).
    AlreadyApplied {
        checksum: String,
    },
}

/// A row of `tenants`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRow {
    pub id: String,
    pub name: String,
    pub widget_key: String,
    pub settings: String,
    pub created_at: i64,
}

/// What inserting a tenant did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    Inserted,
    IdExists(TenantRow),
    WidgetKeyTaken,
}

/// One open database.
pub trait Database {
    /// Creates `schema_migrations` if it is missing and returns its rows by version.
    fn applied_migrations(&mut self) -> anyhow::Result<Vec<AppliedMigration>>;

    /// Runs `migration` and records it in one transaction, holding the backend's write lock
    /// so concurrent runs apply each version once.
    fn apply_migration(
        &mut self,
        migration: &Migration,
        applied_at_ms: i64,
    ) -> anyhow::Result<ApplyOutcome>;

    /// Whether the `tenants` table exists (that is, migrations have run).
    fn has_tenants_table(&mut self) -> anyhow::Result<bool>;

    /// Inserts a tenant unless its id exists.
    fn insert_tenant(&mut self, tenant: &TenantRow) -> anyhow::Result<InsertOutcome>;

    /// All tenants by id.
    fn tenants(&mut self) -> anyhow::Result<Vec<TenantRow>>;
}

/// Whether opening may create a missing SQLite file (only `migrate` may).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    Yes,
    No,
}

pub fn open(url: &DbUrl, create: Create) -> anyhow::Result<Box<dyn Database>> {
    let opened: anyhow::Result<Box<dyn Database>> = match url {
        DbUrl::Sqlite(path) => sqlite::SqliteDatabase::open(path, create).map(|d| Box::new(d) as _),
        DbUrl::Postgres(config) => {
            postgres::PostgresDatabase::connect(config).map(|d| Box::new(d) as _)
        }
    };
    opened.with_context(|| format!("cannot open the {}", url.describe()))
}

/// Unix time in milliseconds, as every timestamp column stores it.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

const CREATE_SCHEMA_MIGRATIONS: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";
