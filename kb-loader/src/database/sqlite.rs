//! [`Database`] over a SQLite file (rusqlite, bundled SQLite). Transactions that write start
//! `IMMEDIATE`, so a concurrent writer (another run, or devhost serving the app) is waited
//! for, up to a timeout, instead of failing half-way.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::{
    AppliedMigration, ApplyOutcome, CREATE_SCHEMA_MIGRATIONS, Create, Database, InsertOutcome,
    TenantRow,
};
use crate::migrations::Migration;

pub struct SqliteDatabase {
    conn: Connection,
}

impl SqliteDatabase {
    pub fn open(path: &Path, create: Create) -> anyhow::Result<Self> {
        if create == Create::No && !path.exists() {
            bail!("the file does not exist; run `kb-loader migrate` first");
        }
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
            && !parent.is_dir()
        {
            bail!("the folder {} does not exist", parent.display());
        }
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create == Create::Yes {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        Ok(Self { conn })
    }
}

impl Database for SqliteDatabase {
    fn applied_migrations(&mut self) -> anyhow::Result<Vec<AppliedMigration>> {
        self.conn.execute_batch(CREATE_SCHEMA_MIGRATIONS)?;
        let mut stmt = self
            .conn
            .prepare("SELECT version, name, checksum FROM schema_migrations ORDER BY version")?;
        let rows = stmt.query_map([], |r| {
            Ok(AppliedMigration {
                version: r.get(0)?,
                name: r.get(1)?,
                checksum: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn apply_migration(
        &mut self,
        migration: &Migration,
        applied_at_ms: i64,
    ) -> anyhow::Result<ApplyOutcome> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let recorded: Option<String> = tx
            .query_row(
                "SELECT checksum FROM schema_migrations WHERE version = ?1",
                [migration.version],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(checksum) = recorded {
            return Ok(ApplyOutcome::AlreadyApplied { checksum });
        }
        tx.execute_batch(&migration.sql)
            .with_context(|| format!("{} failed", migration.file_name))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) \
             VALUES (?1, ?2, ?3, ?4)",
            params![
                migration.version,
                migration.name,
                migration.checksum,
                applied_at_ms
            ],
        )?;
        tx.commit()?;
        Ok(ApplyOutcome::Applied)
    }

    fn has_tenants_table(&mut self) -> anyhow::Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tenants'",
                [],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    fn insert_tenant(&mut self, t: &TenantRow) -> anyhow::Result<InsertOutcome> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let inserted = tx.execute(
            "INSERT INTO tenants (id, name, widget_key, settings, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO NOTHING",
            params![t.id, t.name, t.widget_key, t.settings, t.created_at],
        );
        let outcome = match inserted {
            Ok(1) => InsertOutcome::Inserted,
            Ok(_) => {
                let existing = tx.query_row(
                    "SELECT id, name, widget_key, settings, created_at FROM tenants WHERE id = ?1",
                    [&t.id],
                    tenant_row,
                )?;
                InsertOutcome::IdExists(existing)
            }
            // The id conflict is absorbed above; the only other unique column is widget_key.
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
            {
                InsertOutcome::WidgetKeyTaken
            }
            Err(e) => return Err(e.into()),
        };
        tx.commit()?;
        Ok(outcome)
    }

    fn tenants(&mut self) -> anyhow::Result<Vec<TenantRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, name, widget_key, settings, created_at FROM tenants ORDER BY id",
        )?;
        let rows = stmt.query_map([], tenant_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn tenant_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TenantRow> {
    Ok(TenantRow {
        id: r.get(0)?,
        name: r.get(1)?,
        widget_key: r.get(2)?,
        settings: r.get(3)?,
        created_at: r.get(4)?,
    })
}
