//! Migration files and the policy for applying them: `NNNN_description.sql` files in one
//! backend's folder, applied in version order, each once, each checked against the checksum
//! recorded when it was applied. The files are embedded in the binary at build time
//! ([`embedded`]); a folder given with `--migrations` is read instead ([`load`]). Not the SQL itself (that lives in `migrations/`) and not the
//! transaction mechanics (that is `crate::database`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use crate::database::{AppliedMigration, ApplyOutcome, Database, now_ms};

/// One SQL file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: i64,
    /// The file name without `.sql`, e.g. `0001_platform`.
    pub name: String,
    pub file_name: String,
    pub sql: String,
    /// SHA-256 (hex) of the file with CRLF line ends read as LF, so a checkout on Windows
    /// does not count as a change.
    pub checksum: String,
}

impl Migration {
    pub fn new(file_name: &str, sql: String) -> anyhow::Result<Migration> {
        let name = file_name
            .strip_suffix(".sql")
            .with_context(|| format!("{file_name} is not a .sql file"))?;
        let digits = name.split('_').next().unwrap_or_default();
        let description = &name[digits.len()..];
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || description.len() < 2
        {
            bail!("{file_name}: migration files are named NNNN_description.sql");
        }
        let version: i64 = digits
            .parse()
            .ok()
            .filter(|v| (1..=i64::from(i32::MAX)).contains(v))
            .with_context(|| {
                format!(
                    "{file_name}: the version must be between 1 and {}",
                    i32::MAX
                )
            })?;
        let checksum = hex::encode(Sha256::digest(sql.replace("\r\n", "\n").as_bytes()));
        Ok(Migration {
            version,
            name: name.to_string(),
            file_name: file_name.to_string(),
            sql,
            checksum,
        })
    }
}

/// The migrations of `migrations/` as they were when this binary was built (see
/// `build.rs`), for `backend` (`sqlite` or `postgres`), sorted by version.
pub fn embedded(backend: &str) -> anyhow::Result<Vec<Migration>> {
    mod files {
        include!(concat!(env!("OUT_DIR"), "/embedded_migrations.rs"));
    }
    let list = match backend {
        "sqlite" => files::SQLITE,
        "postgres" => files::POSTGRES,
        other => bail!("no embedded migrations for the {other} backend"),
    };
    let mut by_version: BTreeMap<i64, Migration> = BTreeMap::new();
    for (file_name, sql) in list {
        insert(&mut by_version, Migration::new(file_name, sql.to_string())?)?;
    }
    Ok(by_version.into_values().collect())
}

/// Adds `migration`, refusing a second file with the same version.
fn insert(by_version: &mut BTreeMap<i64, Migration>, migration: Migration) -> anyhow::Result<()> {
    if let Some(other) = by_version.get(&migration.version) {
        bail!(
            "{} and {} have the same version {}",
            other.file_name,
            migration.file_name,
            migration.version
        );
    }
    by_version.insert(migration.version, migration);
    Ok(())
}

/// Reads the `.sql` files of `dir`, sorted by version; other files are ignored.
pub fn load(dir: &Path) -> anyhow::Result<Vec<Migration>> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "cannot read the migrations folder {} (see --migrations)",
            dir.display()
        )
    })?;
    let mut by_version: BTreeMap<i64, Migration> = BTreeMap::new();
    for entry in entries {
        let path = entry?.path();
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !file_name.ends_with(".sql") || !path.is_file() {
            continue;
        }
        let sql = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        insert(&mut by_version, Migration::new(file_name, sql)?)?;
    }
    if by_version.is_empty() {
        bail!(
            "no migration files (NNNN_description.sql) in {}",
            dir.display()
        );
    }
    Ok(by_version.into_values().collect())
}

/// The files still to apply, after checking the database's history against the files:
/// every applied version has its file, unchanged, and nothing is missing below the latest
/// applied version (applying it now would run it out of order).
pub fn pending<'a>(
    files: &'a [Migration],
    applied: &[AppliedMigration],
) -> anyhow::Result<Vec<&'a Migration>> {
    let latest = applied.iter().map(|a| a.version).max().unwrap_or(0);
    for a in applied {
        let file = files
            .iter()
            .find(|f| f.version == a.version)
            .with_context(|| {
                format!(
                    "version {} ({}) is applied in the database but its file is missing",
                    a.version, a.name
                )
            })?;
        check_unchanged(file, &a.checksum)?;
    }
    let mut pending = Vec::new();
    for f in files {
        if applied.iter().any(|a| a.version == f.version) {
            continue;
        }
        if f.version < latest {
            bail!(
                "{} was never applied but the database is at version {latest}; \
                 give it a number above {latest}",
                f.file_name
            );
        }
        pending.push(f);
    }
    Ok(pending)
}

fn check_unchanged(file: &Migration, recorded: &str) -> anyhow::Result<()> {
    if file.checksum != recorded {
        bail!(
            "{} was changed after it was applied (checksum {recorded} recorded, {} on disk); \
             restore it and put the change in a new numbered migration",
            file.file_name,
            file.checksum
        );
    }
    Ok(())
}

/// Applies what is pending, one transaction per file, calling `report` with a line for each
/// applied file, or once with `up to date at version N` when there was nothing to do.
pub fn migrate(
    db: &mut dyn Database,
    files: &[Migration],
    mut report: impl FnMut(&str),
) -> anyhow::Result<()> {
    let applied = db.applied_migrations()?;
    let mut version = applied.iter().map(|a| a.version).max().unwrap_or(0);
    let mut count = 0;
    for migration in pending(files, &applied)? {
        match db.apply_migration(migration, now_ms())? {
            ApplyOutcome::Applied => {
                count += 1;
                report(&format!("applied {}", migration.name));
            }
            // A concurrent run got there first; it must have applied the same file.
            ApplyOutcome::AlreadyApplied { checksum } => check_unchanged(migration, &checksum)?,
        }
        version = migration.version;
    }
    if count == 0 {
        report(&format!("up to date at version {version}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, sql: &str) -> Migration {
        Migration::new(name, sql.to_string()).unwrap()
    }

    fn applied(m: &Migration) -> AppliedMigration {
        AppliedMigration {
            version: m.version,
            name: m.name.clone(),
            checksum: m.checksum.clone(),
        }
    }

    #[test]
    fn file_names_give_version_and_name() {
        let m = file("0001_platform.sql", "SELECT 1;");
        assert_eq!((m.version, m.name.as_str()), (1, "0001_platform"));
        for bad in [
            "platform.sql",
            "0001.sql",
            "0001_.sql",
            "x001_a.sql",
            "0000_zero.sql",
        ] {
            assert!(Migration::new(bad, String::new()).is_err(), "{bad}");
        }
    }

    #[test]
    fn line_ends_do_not_change_the_checksum_but_content_does() {
        let lf = file("0001_a.sql", "CREATE TABLE t (x INT);\n");
        let crlf = file("0001_a.sql", "CREATE TABLE t (x INT);\r\n");
        let other = file("0001_a.sql", "CREATE TABLE t (y INT);\n");
        assert_eq!(lf.checksum, crlf.checksum);
        assert_ne!(lf.checksum, other.checksum);
    }

    #[test]
    fn only_unapplied_files_are_pending() {
        let files = [file("0001_a.sql", "a"), file("0002_b.sql", "b")];
        let pending = pending(&files, &[applied(&files[0])]).unwrap();
        assert_eq!(pending, vec![&files[1]]);
    }

    #[test]
    fn a_changed_applied_file_is_an_error_naming_it() {
        let files = [file("0001_a.sql", "changed")];
        let recorded = applied(&file("0001_a.sql", "original"));
        let err = pending(&files, &[recorded]).unwrap_err().to_string();
        assert!(err.contains("0001_a.sql"), "{err}");
    }

    #[test]
    fn a_missing_or_out_of_order_file_is_an_error() {
        let one = file("0001_a.sql", "a");
        let two = file("0002_b.sql", "b");
        let three = file("0003_c.sql", "c");
        assert!(pending(std::slice::from_ref(&one), &[applied(&one), applied(&two)]).is_err());
        let err = pending(
            &[one.clone(), two, three.clone()],
            &[applied(&one), applied(&three)],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("0002_b.sql"), "{err}");
    }

    #[test]
    fn loading_sorts_by_version_and_refuses_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("0010_late.sql"), "x").unwrap();
        std::fs::write(dir.path().join("0002_early.sql"), "y").unwrap();
        std::fs::write(dir.path().join("README.md"), "ignored").unwrap();
        let loaded = load(dir.path()).unwrap();
        let names: Vec<_> = loaded.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["0002_early", "0010_late"]);
        std::fs::write(dir.path().join("2_again.sql"), "z").unwrap();
        assert!(load(dir.path()).is_err());
    }

    #[test]
    fn the_embedded_migrations_are_the_files_of_the_repository() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
        for backend in ["sqlite", "postgres"] {
            let on_disk = load(&root.join(backend)).unwrap();
            assert_eq!(embedded(backend).unwrap(), on_disk, "{backend}");
        }
        assert!(embedded("mysql").is_err());
    }
}
