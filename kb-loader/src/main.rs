//! `kb-loader`: the operator CLI of support-agent. It applies the SQL migrations, adds and
//! lists tenants, and mints signed tokens for operators; through the app's HTTP API it
//! loads folders of documents into a tenant's knowledge base, lists and deletes them, and
//! measures retrieval quality. Native only: the components never link it, and it never
//! runs on a request path.

mod answers;
mod api;
mod curated;
mod database;
mod db_url;
mod documents;
mod eval;
mod load;
mod migrations;
mod output;
mod tenants;
#[cfg(test)]
mod test_server;
mod token;
mod walk;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use core_logic::auth::Role;

use crate::api::Api;
use crate::db_url::DbUrl;

#[derive(Parser)]
#[command(
    name = "kb-loader",
    version,
    about = "Operator CLI of support-agent: migrations, tenants, signed tokens, knowledge base.",
    after_help = "Examples:\n  \
        kb-loader migrate --db-url sqlite://.spin/sqlite_db.db\n  \
        kb-loader migrate --db-url postgres://postgres@127.0.0.1:5432/support\n  \
        kb-loader tenant add --db-url sqlite://.spin/sqlite_db.db --id acme --name \"Acme Inc\"\n  \
        kb-loader tenant list --db-url sqlite://.spin/sqlite_db.db\n  \
        SPIN_VARIABLE_JWT_SECRET=... kb-loader token --tenant acme --role agent --sub alice\n  \
        export SUPPORT_AGENT_TOKEN=$(kb-loader token --tenant demo --role admin --sub ops)\n  \
        kb-loader load ./kb --concurrency 4\n  \
        kb-loader sync ./kb --dry-run\n  \
        kb-loader list\n  \
        kb-loader reindex\n  \
        kb-loader delete billing/old-prices.md\n  \
        kb-loader eval ./kb/questions.jsonl"
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
    /// Export or import the tenant's curated answers (JSON Lines of question and answer).
    #[command(subcommand)]
    Curated(CuratedCommand),
    /// Upload a folder's documents to the tenant's knowledge base.
    ///
    /// Takes .md, .markdown, .html, .htm, .pdf, .docx, .csv, .tsv, .json and .txt files,
    /// recursively, leaving out hidden files and folders and the folder's own README.md and
    /// questions.jsonl. Each file's external id is --prefix plus its path in the folder. Files
    /// the app already holds with the same SHA-256 and in the vector index are skipped, so
    /// an interrupted load can simply be run again. A file that fails is reported and the
    /// others still load; the exit status is then 1.
    Load(LoadArgs),
    /// Make the knowledge base match a folder: load it, then delete the documents under
    /// --prefix whose files are gone.
    ///
    /// Nothing is deleted when the folder could not be read completely or holds no
    /// documents at all.
    Sync(SyncArgs),
    /// List the tenant's documents.
    List(ListArgs),
    /// Write the vectors of documents stored while the embedder or the vector index was
    /// down (listed as `pending`), batch by batch, until none is left or a batch fails.
    Reindex(ReindexArgs),
    /// Delete documents by external id (or by the server's id with --id).
    ///
    /// A name that matches no document is reported; the others are still deleted.
    Delete(DeleteArgs),
    /// Measure how well search finds the documents that answer a question file.
    ///
    /// Each line of the file is {"id", "question", "answers": [paths in the folder],
    /// "kind": "direct" | "paraphrase" | "unanswerable"}. Answerable questions are searched in
    /// keyword, vector and hybrid mode; the table shows hit@1, hit@5, recall@5, recall@k
    /// and MRR@k per mode, overall and per kind. Unanswerable questions are searched in
    /// hybrid mode, to compare their top score and confidence with the answerable ones.
    Eval(EvalArgs),
    /// Measure answer quality: every question (and every line of an escalation file) goes
    /// through the whole answer pipeline as a visitor's message in a new chat session.
    ///
    /// Prints citation precision (cited documents that answer the question), the answer rate
    /// in scope and out of scope, and escalation precision and recall. The escalation file is
    /// JSON lines {"id", "message", "escalate": true|false}; every question of the question
    /// file should not escalate. Sessions are started with the tenant's widget key.
    EvalAnswers(EvalAnswersArgs),
}

/// Where the app is and who speaks to it.
#[derive(Args)]
struct AppArgs {
    /// The app's base URL.
    #[arg(
        long,
        value_name = "URL",
        env = "SUPPORT_AGENT_URL",
        default_value = "http://127.0.0.1:3000"
    )]
    url: String,
    /// An admin token of the tenant (`kb-loader token --role admin ...` makes one).
    #[arg(long, env = "SUPPORT_AGENT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Instead of --token: sign a one-hour admin token for this tenant with
    /// SPIN_VARIABLE_JWT_SECRET (as `kb-loader token` does).
    #[arg(long, value_name = "TENANT")]
    tenant: Option<String>,
}

impl AppArgs {
    fn connect(&self) -> anyhow::Result<Api> {
        let token = match (&self.tenant, &self.token) {
            (Some(tenant), _) => token::mint(
                &token::TokenRequest {
                    tenant: tenant.clone(),
                    role: Role::Admin,
                    subject: "kb-loader".into(),
                    session: None,
                    ttl: std::time::Duration::from_secs(3600),
                },
                |name| std::env::var(name).ok(),
            )?,
            (None, Some(token)) => token.clone(),
            (None, None) => bail!(
                "no token: give --token (or set SUPPORT_AGENT_TOKEN), or --tenant with \
                 {} set",
                token::SECRET_VAR
            ),
        };
        Api::new(&self.url, &token)
    }
}

#[derive(Args)]
struct FolderArgs {
    #[command(flatten)]
    app: AppArgs,
    /// The folder of documents.
    dir: PathBuf,
    /// Put before every external id, e.g. `help-center/`.
    #[arg(long, value_name = "P", default_value = "")]
    prefix: String,
    /// Uploads in flight at once.
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..=32))]
    concurrency: u16,
}

#[derive(Args)]
struct LoadArgs {
    #[command(flatten)]
    folder: FolderArgs,
}

#[derive(Args)]
struct SyncArgs {
    #[command(flatten)]
    folder: FolderArgs,
    /// Print what would be uploaded and deleted, and change nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args)]
struct ListArgs {
    #[command(flatten)]
    app: AppArgs,
    /// Print one JSON object per document and line instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ReindexArgs {
    #[command(flatten)]
    app: AppArgs,
}

#[derive(Args)]
struct DeleteArgs {
    #[command(flatten)]
    app: AppArgs,
    /// External ids of the documents (server ids with --id).
    #[arg(required = true, value_name = "EXTERNAL_ID")]
    names: Vec<String>,
    /// The names are the server's document ids (`list --json` shows them).
    #[arg(long)]
    id: bool,
}

#[derive(Args)]
struct EvalArgs {
    #[command(flatten)]
    app: AppArgs,
    /// The question file (JSON lines).
    questions: PathBuf,
    /// Cut-off of recall@k and MRR@k, in distinct documents.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// The --prefix the documents were loaded with; put before every answer.
    #[arg(long, value_name = "P", default_value = "")]
    prefix: String,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct EvalAnswersArgs {
    #[command(flatten)]
    app: AppArgs,
    /// The question file (JSON lines, as for `eval`).
    questions: PathBuf,
    /// The escalation file (JSON lines); default: escalations.jsonl beside the questions,
    /// if there is one.
    #[arg(long, value_name = "FILE")]
    escalations: Option<PathBuf>,
    /// The tenant's widget key (sessions are started as a visitor would).
    #[arg(long, value_name = "KEY", env = "SUPPORT_AGENT_WIDGET_KEY")]
    widget_key: String,
    /// The --prefix the documents were loaded with; put before every answer.
    #[arg(long, value_name = "P", default_value = "")]
    prefix: String,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
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
    /// A folder holding `sqlite/` and `postgres/` with the numbered SQL files, read instead
    /// of the migrations built into this binary.
    #[arg(long, value_name = "DIR")]
    migrations: Option<PathBuf>,
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
enum CuratedCommand {
    /// Write every curated answer to stdout (or --out), one JSON object a line.
    Export(CuratedExportArgs),
    /// Write each curated answer of a JSON Lines file through the app (a known question gets
    /// the new answer); reports each, exits 1 when any failed.
    Import(CuratedImportArgs),
}

#[derive(Args)]
struct CuratedExportArgs {
    #[command(flatten)]
    app: AppArgs,
    /// The file to write (default: stdout).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct CuratedImportArgs {
    #[command(flatten)]
    app: AppArgs,
    /// A JSON Lines file as `curated export` writes it.
    file: PathBuf,
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
    /// Settings JSON object, e.g. '{"rate_limits":{"per_visitor":120},
    /// "escalation":{"min_confidence":0.3},"retrieval":{"keyword_weight":0.5}}'.
    #[arg(long, value_name = "JSON")]
    settings: Option<String>,
    /// Accept ticketing webhook URLs on loopback, link-local or private addresses and local
    /// names (local development only; the app also needs `webhook_allow_private_hosts`).
    #[arg(long)]
    allow_private_webhooks: bool,
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
            let files = match &args.migrations {
                Some(dir) => migrations::load(&dir.join(url.backend_folder()))?,
                None => migrations::embedded(url.backend_folder())?,
            };
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
        Command::Curated(CuratedCommand::Export(args)) => {
            let api = args.app.connect()?;
            let count = match &args.out {
                Some(path) => {
                    let mut file = std::io::BufWriter::new(
                        std::fs::File::create(path)
                            .with_context(|| format!("cannot write {}", path.display()))?,
                    );
                    curated::export(&api, &mut file)?
                }
                None => curated::export(&api, &mut std::io::stdout().lock())?,
            };
            eprintln!("{count} curated answers exported");
            Ok(())
        }
        Command::Curated(CuratedCommand::Import(args)) => {
            let file = std::fs::File::open(&args.file)
                .with_context(|| format!("cannot read {}", args.file.display()))?;
            let answers = curated::parse(std::io::BufReader::new(file))?;
            let api = args.app.connect()?;
            let count = curated::import(&api, &answers, &mut std::io::stdout().lock())?;
            eprintln!("{count} curated answers imported");
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
                    settings: args.settings,
                    allow_private_webhooks: args.allow_private_webhooks,
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
        Command::Load(args) => load_folder(&args.folder, false, false),
        Command::Sync(args) => load_folder(&args.folder, true, args.dry_run),
        Command::List(args) => {
            let documents = args.app.connect()?.list_documents()?;
            print!("{}", documents::render_list(&documents, args.json)?);
            Ok(())
        }
        Command::Reindex(args) => {
            let api = args.app.connect()?;
            let mut total = 0;
            loop {
                let done = api.reindex()?;
                for id in &done.indexed {
                    println!("indexed {id}");
                }
                total += done.indexed.len();
                if let Some(why) = &done.stopped {
                    bail!("{why}: {total} indexed, {} still pending", done.pending);
                }
                if done.pending == 0 || done.indexed.is_empty() {
                    println!("{total} indexed, {} pending", done.pending);
                    return Ok(());
                }
            }
        }
        Command::Delete(args) => {
            let by = if args.id {
                documents::DeleteBy::ServerId
            } else {
                documents::DeleteBy::ExternalId
            };
            let lines = documents::delete(&args.app.connect()?, &args.names, by)?;
            let mut failed = 0;
            for line in lines {
                match line {
                    Ok(done) => println!("{done}"),
                    Err(why) => {
                        failed += 1;
                        eprintln!("kb-loader: {why}");
                    }
                }
            }
            if failed > 0 {
                bail!("{failed} of {} could not be deleted", args.names.len());
            }
            Ok(())
        }
        Command::EvalAnswers(args) => eval_answers(&args),
        Command::Eval(args) => {
            let questions = read_questions(&args.questions)?;
            let api = args.app.connect()?;
            let bar = output::progress_bar(0);
            let evaluation = eval::run(&api, &questions, args.k, &args.prefix, &bar);
            bar.finish_and_clear();
            let evaluation = evaluation?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&evaluation.to_json())?);
            } else {
                print!("{}", evaluation.render());
            }
            Ok(())
        }
    }
}

/// A question file, parsed; errors name the file.
fn read_questions(path: &std::path::Path) -> anyhow::Result<Vec<eval::Question>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    eval::parse_questions(&text).with_context(|| path.display().to_string())
}

/// `eval-answers`: the questions and escalation cases through the whole pipeline.
fn eval_answers(args: &EvalAnswersArgs) -> anyhow::Result<()> {
    let questions = read_questions(&args.questions)?;
    let escalation_file = args.escalations.clone().or_else(|| {
        let beside = args.questions.with_file_name("escalations.jsonl");
        beside.exists().then_some(beside)
    });
    let escalations = match &escalation_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            answers::parse_escalations(&text).with_context(|| path.display().to_string())?
        }
        None => Vec::new(),
    };
    let api = args.app.connect()?;
    let bar = output::progress_bar(0);
    let evaluation = answers::run(
        &api,
        &args.widget_key,
        &questions,
        &escalations,
        &args.prefix,
        &bar,
    );
    bar.finish_and_clear();
    let evaluation = evaluation?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&evaluation.to_json())?);
    } else {
        print!("{}", evaluation.render());
    }
    Ok(())
}

/// `load` and `sync`: the summary goes to stdout; the exit status says whether all went well.
fn load_folder(args: &FolderArgs, delete_missing: bool, dry_run: bool) -> anyhow::Result<()> {
    let api = args.app.connect()?;
    let options = load::Options {
        prefix: &args.prefix,
        concurrency: usize::from(args.concurrency),
        delete_missing,
        dry_run,
    };
    let bar = output::progress_bar(0);
    let ran = load::run(&api, &args.dir, &options, &bar);
    bar.finish_and_clear();
    let report = match ran? {
        load::Outcome::DryRun(plan) => {
            print!("{plan}");
            return Ok(());
        }
        load::Outcome::Ran(report) => report,
    };
    let verb = if delete_missing { "Synced" } else { "Loaded" };
    println!("{verb} {} at {}:", args.dir.display(), api.base_url());
    print!("{}", report.render());
    if let Some(stopped) = report.stopped {
        return Err(stopped.into());
    }
    if !report.failures.is_empty() {
        bail!("{} failed (listed above)", report.failures.len());
    }
    if let Some(why) = report.deletions_withheld {
        bail!("nothing was deleted: {why}");
    }
    Ok(())
}
