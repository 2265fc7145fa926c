//! `kb-loader`: the operator CLI of support-agent. It applies the SQL migrations, adds and
//! lists tenants, and mints signed tokens for operators. Native only: the components never
//! link it, and it never runs on a request path.

mod database;
mod db_url;
mod migrations;
mod tenants;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use core_logic::auth::Role;

use crate::db_url::DbUrl;

/// The repository's `migrations/` folder, as seen from this crate at build time.
const DEFAULT_MIGRATIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");

#[derive(Parser)]
#[command(
    name = "kb-loader",
    version,
    about = "Operator CLI of support-agent: migrations, tenants, signed tokens.",
    after_help = "Examples:\n  \
        kb-loader migrate --db-url sqlite://.spin/sqlite_db.db\n  \
        kb-loader migrate --db-url postgres://postgres@127.0.0.1:5432/support\n  \
        kb-loader tenant add --db-url sqlite://.spin/sqlite_db.db --id acme --name \"Acme Inc\"\n  \
        kb-loader tenant list --db-url sqlite://.spin/sqlite_db.db\n  \
        SPIN_VARIABLE_JWT_SECRET=... kb-loader token --tenant acme --role agent --sub alice"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply the numbered SQL migrations the database does not have yet.
    ///
    /// Each file `NNNN_description.sql` runs in its own transaction together with its row in
    /// `schema_migrations`, so a failing migration leaves the previous version intact.
    /// Re-running is a no-op; an applied file whose contents changed is an error.
    Migrate(MigrateArgs),
    /// Print a signed HS256 token (JWT) for a tenant's visitor, agent or admin.
    ///
    /// The secret comes from SPIN_VARIABLE_JWT_SECRET (at least 32 bytes), the issuer and
    /// audience from SPIN_VARIABLE_JWT_ISSUER (default `support-agent`) and
    /// SPIN_VARIABLE_JWT_AUDIENCE (default `support-agent-api`), as for the app.
    /// Only the token goes to stdout.
    Token(TokenArgs),
    /// Add or list tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
}

#[derive(Args)]
struct DbArgs {
    /// The database: `sqlite://PATH` (a file path, e.g. sqlite://.spin/sqlite_db.db) or
    /// `postgres://user[:password]@host:5432/db`.
    #[arg(
        long,
        value_name = "URL",
        env = "KB_LOADER_DB_URL",
        hide_env_values = true
    )]
    db_url: String,
}

#[derive(Args)]
struct MigrateArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The folder holding `sqlite/` and `postgres/` with the numbered SQL files.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_MIGRATIONS)]
    migrations: PathBuf,
}

#[derive(Args)]
struct TokenArgs {
    /// Tenant id the token belongs to.
    #[arg(long)]
    tenant: String,
    /// Role of the caller.
    #[arg(long, value_enum)]
    role: RoleArg,
    /// Subject: the agent's or admin's user name, or the visitor's id.
    #[arg(long)]
    sub: String,
    /// The visitor's session id (required for, and only for, visitor tokens).
    #[arg(long, value_name = "ID")]
    session: Option<String>,
    /// Lifetime: a number with s, m, h or d (e.g. 90s, 15m, 1h, 7d); at most 365d.
    #[arg(long, default_value = "1h", value_parser = token::parse_ttl)]
    ttl: std::time::Duration,
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Visitor,
    Agent,
    Admin,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Visitor => Role::Visitor,
            RoleArg::Agent => Role::Agent,
            RoleArg::Admin => Role::Admin,
        }
    }
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Add a tenant and print its widget key (generated when not given) to stdout.
    Add(TenantAddArgs),
    /// List the tenants.
    List(TenantListArgs),
}

#[derive(Args)]
struct TenantAddArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Tenant id: letters, digits, `-`, `_` or `.`, at most 64 characters.
    #[arg(long)]
    id: String,
    /// Display name.
    #[arg(long)]
    name: String,
    /// Public widget key used by the chat widget to start sessions (default: a random `wk_…`).
    #[arg(long, value_name = "KEY")]
    widget_key: Option<String>,
    /// When the id exists already, change nothing and print its widget key instead of failing.
    #[arg(long)]
    if_missing: bool,
}

#[derive(Args)]
struct TenantListArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kb-loader: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Migrate(args) => {
            let url = DbUrl::parse(&args.db.db_url)?;
            let dir = args.migrations.join(url.backend_folder());
            let files = migrations::load(&dir)?;
            let mut db = database::open(&url, database::Create::Yes)?;
            migrations::migrate(db.as_mut(), &files, |line| println!("{line}"))
        }
        Command::Token(args) => {
            let request = token::TokenRequest {
                tenant: args.tenant,
                role: args.role.into(),
                subject: args.sub,
                session: args.session,
                ttl: args.ttl,
            };
            let token = token::mint(&request, |name| std::env::var(name).ok())?;
            println!("{token}");
            Ok(())
        }
        Command::Tenant(TenantCommand::Add(args)) => {
            let url = DbUrl::parse(&args.db.db_url)?;
            let mut db = database::open(&url, database::Create::No)?;
            let added = tenants::add(
                db.as_mut(),
                tenants::NewTenant {
                    id: args.id,
                    name: args.name,
                    widget_key: args.widget_key,
                },
                args.if_missing,
            )?;
            eprintln!("{}", added.message);
            println!("{}", added.widget_key);
            Ok(())
        }
        Command::Tenant(TenantCommand::List(args)) => {
            let url = DbUrl::parse(&args.db.db_url)?;
            let mut db = database::open(&url, database::Create::No)?;
            print!("{}", tenants::list(db.as_mut(), args.json)?);
            Ok(())
        }
    }
}
