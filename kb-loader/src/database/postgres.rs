//! [`Database`] over PostgreSQL (tokio-postgres on a single-threaded runtime, no TLS, as for
//! the local and in-cluster databases the app uses). Writes that must not interleave with
//! another run hold a transaction-scoped advisory lock.

use anyhow::Context;
use tokio::runtime::Runtime;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls};

use super::{
    AppliedMigration, ApplyOutcome, CREATE_SCHEMA_MIGRATIONS, Database, InsertOutcome, TenantRow,
};
use crate::migrations::Migration;

/// Key of the advisory lock every `kb-loader` write takes ("kbloader" in ASCII).
const LOCK_KEY: i64 = 0x6b62_6c6f_6164_6572;

pub struct PostgresDatabase {
    runtime: Runtime,
    client: Client,
}

impl PostgresDatabase {
    pub fn connect(config: &Config) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let client = runtime.block_on(async {
            let (client, connection) = config.connect(NoTls).await?;
            // The connection makes progress whenever the runtime runs, that is during every
            // `block_on` below; its error, if any, surfaces on the next query.
            tokio::spawn(connection);
            anyhow::Ok(client)
        })?;
        Ok(Self { runtime, client })
    }
}

impl Database for PostgresDatabase {
    fn applied_migrations(&mut self) -> anyhow::Result<Vec<AppliedMigration>> {
        let Self { runtime, client } = self;
        runtime.block_on(async {
            // Locked: concurrent `CREATE TABLE IF NOT EXISTS` can still collide in the catalog.
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
                .await?;
            tx.batch_execute(CREATE_SCHEMA_MIGRATIONS).await?;
            let rows = tx
                .query(
                    "SELECT version, name, checksum FROM schema_migrations ORDER BY version",
                    &[],
                )
                .await?;
            tx.commit().await?;
            rows.iter()
                .map(|r| {
                    Ok(AppliedMigration {
                        version: i64::from(r.try_get::<_, i32>(0)?),
                        name: r.try_get(1)?,
                        checksum: r.try_get(2)?,
                    })
                })
                .collect()
        })
    }

    fn apply_migration(
        &mut self,
        migration: &Migration,
        applied_at_ms: i64,
    ) -> anyhow::Result<ApplyOutcome> {
        let version =
            i32::try_from(migration.version).context("migration version exceeds INTEGER")?;
        let Self { runtime, client } = self;
        runtime.block_on(async {
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
                .await?;
            let recorded = tx
                .query_opt(
                    "SELECT checksum FROM schema_migrations WHERE version = $1",
                    &[&version],
                )
                .await?;
            if let Some(row) = recorded {
                return Ok(ApplyOutcome::AlreadyApplied {
                    checksum: row.try_get(0)?,
                });
            }
            tx.batch_execute(&migration.sql)
                .await
                .with_context(|| format!("{} failed", migration.file_name))?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at) \
                 VALUES ($1, $2, $3, $4)",
                &[
                    &version,
                    &migration.name,
                    &migration.checksum,
                    &applied_at_ms,
                ],
            )
            .await?;
            tx.commit().await?;
            Ok(ApplyOutcome::Applied)
        })
    }

    fn has_tenants_table(&mut self) -> anyhow::Result<bool> {
        let Self { runtime, client } = self;
        runtime.block_on(async {
            let row = client
                .query_one("SELECT to_regclass('tenants') IS NOT NULL", &[])
                .await?;
            Ok(row.try_get(0)?)
        })
    }

    fn insert_tenant(&mut self, t: &TenantRow) -> anyhow::Result<InsertOutcome> {
        let Self { runtime, client } = self;
        runtime.block_on(async {
            let inserted = client
                .execute(
                    "INSERT INTO tenants (id, name, widget_key, settings, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                    &[&t.id, &t.name, &t.widget_key, &t.settings, &t.created_at],
                )
                .await;
            match inserted {
                Ok(1) => Ok(InsertOutcome::Inserted),
                Ok(_) => {
                    let row = client
                        .query_one(
                            "SELECT id, name, widget_key, settings, created_at \
                             FROM tenants WHERE id = $1",
                            &[&t.id],
                        )
                        .await?;
                    Ok(InsertOutcome::IdExists(tenant_row(&row)?))
                }
                // The id conflict is absorbed above; the only other unique column is widget_key.
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    Ok(InsertOutcome::WidgetKeyTaken)
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    fn tenants(&mut self) -> anyhow::Result<Vec<TenantRow>> {
        let Self { runtime, client } = self;
        runtime.block_on(async {
            let rows = client
                .query(
                    "SELECT id, name, widget_key, settings, created_at FROM tenants ORDER BY id",
                    &[],
                )
                .await?;
            rows.iter().map(tenant_row).collect()
        })
    }
}

fn tenant_row(r: &tokio_postgres::Row) -> anyhow::Result<TenantRow> {
    Ok(TenantRow {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        widget_key: r.try_get(2)?,
        settings: r.try_get(3)?,
        created_at: r.try_get(4)?,
    })
}
