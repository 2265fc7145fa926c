//! Running the binary and the databases it runs against: a temporary SQLite file, or a
//! PostgreSQL database created for one test and dropped after it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The repository's migrations, as the binary finds them by default.
pub const MIGRATIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");

const PG_ADMIN: &str = "host=127.0.0.1 port=5432 user=postgres dbname=postgres";

/// Variables the binary reads that the test runner's environment must not leak into.
const READ_VARS: [&str; 4] = [
    "KB_LOADER_DB_URL",
    "SPIN_VARIABLE_JWT_SECRET",
    "SPIN_VARIABLE_JWT_ISSUER",
    "SPIN_VARIABLE_JWT_AUDIENCE",
];

/// A finished run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Stdout of a run that must have succeeded.
    pub fn success(self) -> String {
        assert_eq!(self.code, Some(0), "{self:#?}");
        self.stdout
    }

    /// Stderr of a run that must have failed with exit code 1 (an error, not a crash).
    pub fn failure(self) -> String {
        assert_eq!(self.code, Some(1), "{self:#?}");
        self.stderr
    }
}

pub fn kb_loader(args: &[&str]) -> Run {
    kb_loader_with_env(args, &[])
}

pub fn kb_loader_with_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kb-loader"));
    for var in READ_VARS {
        command.env_remove(var);
    }
    let output = command
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// A database of its own for one test.
pub enum TestDb {
    Sqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
    Postgres {
        name: String,
    },
}

impl TestDb {
    /// A path in a fresh temporary folder; the file does not exist yet.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        TestDb::Sqlite { _dir: dir, path }
    }

    /// A freshly created, empty database.
    pub fn postgres() -> TestDb {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "kb_loader_test_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        pg_batch(PG_ADMIN, &format!("CREATE DATABASE {name}"));
        TestDb::Postgres { name }
    }

    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite { path, .. } => format!("sqlite://{}", path.display()),
            TestDb::Postgres { name } => format!("postgres://postgres@127.0.0.1:5432/{name}"),
        }
    }

    /// `sqlite` or `postgres`: the backend's folder under `migrations/`.
    pub fn backend(&self) -> &'static str {
        match self {
            TestDb::Sqlite { .. } => "sqlite",
            TestDb::Postgres { .. } => "postgres",
        }
    }

    /// The first column of the first row, as text (integers are printed); None without rows
    /// or for NULL. Cast integers to BIGINT so both backends agree.
    pub fn scalar(&self, sql: &str) -> Option<String> {
        match self {
            TestDb::Sqlite { path, .. } => {
                let conn = rusqlite::Connection::open(path).unwrap();
                let mut stmt = conn.prepare(sql).unwrap();
                let mut rows = stmt.query([]).unwrap();
                let row = rows.next().unwrap()?;
                match row.get_ref(0).unwrap() {
                    rusqlite::types::ValueRef::Null => None,
                    rusqlite::types::ValueRef::Integer(i) => Some(i.to_string()),
                    rusqlite::types::ValueRef::Text(t) => {
                        Some(String::from_utf8(t.to_vec()).unwrap())
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            TestDb::Postgres { name } => {
                let rows = pg_query(&pg_conninfo(name), sql);
                let row = rows.first()?;
                let column = &row.columns()[0];
                if column.type_() == &tokio_postgres::types::Type::INT8 {
                    row.get::<_, Option<i64>>(0).map(|i| i.to_string())
                } else {
                    row.get::<_, Option<String>>(0)
                }
            }
        }
    }

    pub fn table_exists(&self, table: &str) -> bool {
        let sql = match self {
            TestDb::Sqlite { .. } => format!(
                "SELECT CAST(count(*) AS BIGINT) FROM sqlite_master \
                 WHERE type = 'table' AND name = '{table}'"
            ),
            TestDb::Postgres { .. } => {
                format!(
                    "SELECT CAST(count(*) AS BIGINT) FROM pg_tables WHERE tablename = '{table}'"
                )
            }
        };
        self.scalar(&sql).as_deref() == Some("1")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { name } = self {
            pg_batch(
                PG_ADMIN,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

/// A copy of the repository's migrations for `backend` in a temporary folder laid out like
/// `migrations/` (`<dir>/<backend>/0001_platform.sql`), for tests that edit or add files.
pub fn migrations_copy(backend: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join(backend);
    std::fs::create_dir(&target).unwrap();
    let source = Path::new(MIGRATIONS)
        .join(backend)
        .join("0001_platform.sql");
    std::fs::copy(source, target.join("0001_platform.sql")).unwrap();
    dir
}

fn pg_conninfo(dbname: &str) -> String {
    format!("host=127.0.0.1 port=5432 user=postgres dbname={dbname}")
}

fn pg_client<T>(
    conninfo: &str,
    work: impl AsyncFnOnce(&tokio_postgres::Client) -> Result<T, tokio_postgres::Error>,
) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls)
            .await
            .expect("PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth)");
        tokio::spawn(connection);
        work(&client).await.unwrap()
    })
}

fn pg_batch(conninfo: &str, sql: &str) {
    pg_client(conninfo, async |c| c.batch_execute(sql).await);
}

fn pg_query(conninfo: &str, sql: &str) -> Vec<tokio_postgres::Row> {
    pg_client(conninfo, async |c| c.query(sql, &[]).await)
}
