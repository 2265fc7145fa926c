//! `load` and `sync`: bring a folder of documents into the tenant's knowledge base.
//!
//! Both compare the folder with what the app holds and upload only files that are new,
//! changed (their SHA-256 differs from the stored `content_hash`) or not yet in the vector
//! index, so an interrupted load resumes where it stopped. Uploads run on a few threads
//! sharing one HTTP client. `sync` also deletes the documents under its prefix whose files
//! are gone. One file's failure is reported and the rest still load; a refused token or an
//! unreachable app stops the run.
//!
//! Not here: which files count as documents (`walk`), HTTP (`api`).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use core_logic::kb::{VectorStatus, content_hash};
use indicatif::ProgressBar;

use crate::api::{Api, ApiError, Document, UpsertStatus, Upserted};
use crate::walk::{LocalDocument, Walk, walk};

/// Why a file is uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    New,
    Changed,
    /// Same content, but the app has not put it in the vector index yet.
    NotIndexed,
}

impl Reason {
    fn label(self) -> &'static str {
        match self {
            Reason::New => "new",
            Reason::Changed => "changed",
            Reason::NotIndexed => "not indexed",
        }
    }
}

/// Whether a file whose contents hash to `local_hash` must be uploaded, given the stored
/// document with its external id.
pub fn upload_reason(local_hash: &str, stored: Option<&Document>) -> Option<Reason> {
    match stored {
        None => Some(Reason::New),
        Some(d) if !d.content_hash.eq_ignore_ascii_case(local_hash) => Some(Reason::Changed),
        Some(d) if d.vector_status != VectorStatus::Indexed => Some(Reason::NotIndexed),
        Some(_) => None,
    }
}

/// A file that could not be loaded (or a document that could not be deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub name: String,
    pub reason: String,
}

/// What to upload, decided from the folder and the stored documents.
#[derive(Debug, Default)]
pub struct Plan {
    pub uploads: Vec<(LocalDocument, Reason)>,
    pub up_to_date: usize,
    /// Files that could not be read.
    pub unreadable: Vec<Failure>,
}

/// Hashes every document file and compares it with its stored document.
pub fn plan(documents: &[LocalDocument], stored: &HashMap<&str, &Document>) -> Plan {
    let mut plan = Plan::default();
    for doc in documents {
        match std::fs::read(&doc.path) {
            Ok(bytes) => {
                let hash = content_hash(&bytes);
                match upload_reason(&hash, stored.get(doc.external_id.as_str()).copied()) {
                    Some(reason) => plan.uploads.push((doc.clone(), reason)),
                    None => plan.up_to_date += 1,
                }
            }
            Err(e) => plan.unreadable.push(Failure {
                name: doc.relative.clone(),
                reason: format!("cannot read the file: {e}"),
            }),
        }
    }
    plan
}

/// The stored documents under `prefix` whose files are no longer in the folder.
pub fn deletions<'a>(
    stored: &'a [Document],
    local_ids: &HashSet<&str>,
    prefix: &str,
) -> Vec<&'a Document> {
    stored
        .iter()
        .filter(|d| {
            d.external_id.starts_with(prefix) && !local_ids.contains(d.external_id.as_str())
        })
        .collect()
}

/// What a run did, for the summary.
#[derive(Debug, Default)]
pub struct Report {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub up_to_date: usize,
    /// Uploads stored but not yet in the vector index (embedder or index down).
    pub vector_pending: usize,
    pub deleted: Vec<String>,
    pub not_documents: Vec<String>,
    pub failures: Vec<Failure>,
    /// Uploads not tried because a fatal error stopped the run.
    pub not_attempted: usize,
    /// Why deletions were not made, when `sync` refused to make them.
    pub deletions_withheld: Option<String>,
    /// The error that stopped the run.
    pub stopped: Option<ApiError>,
}

impl Report {
    pub fn render(&self) -> String {
        let skipped = self.up_to_date + self.not_documents.len();
        let mut out = String::new();
        let _ = writeln!(out, "created    {}", self.created);
        let _ = writeln!(out, "updated    {}", self.updated);
        let _ = writeln!(out, "unchanged  {}", self.unchanged);
        let _ = writeln!(
            out,
            "skipped    {skipped} ({} already loaded and indexed, {} not a supported \
             document type)",
            self.up_to_date,
            self.not_documents.len()
        );
        if !self.deleted.is_empty() {
            let _ = writeln!(out, "deleted    {}", self.deleted.len());
        }
        let _ = writeln!(out, "failed     {}", self.failures.len());
        if self.not_attempted > 0 {
            let _ = writeln!(out, "not tried  {}", self.not_attempted);
        }
        if !self.deleted.is_empty() {
            let _ = writeln!(out, "\nDeleted (no longer in the folder):");
            for name in &self.deleted {
                let _ = writeln!(out, "  {name}");
            }
        }
        if !self.not_documents.is_empty() {
            let _ = writeln!(out, "\nSkipped (not a supported document type):");
            for name in &self.not_documents {
                let _ = writeln!(out, "  {name}");
            }
        }
        if !self.failures.is_empty() {
            let _ = writeln!(out, "\nFailed:");
            for f in &self.failures {
                let _ = writeln!(out, "  {}: {}", f.name, f.reason);
            }
        }
        if self.vector_pending > 0 {
            let _ = writeln!(
                out,
                "\nNote: {} document(s) are stored and keyword-searchable but not yet in the \
                 vector index (embedder or vector index down); run this again later to index them.",
                self.vector_pending
            );
        }
        if let Some(why) = &self.deletions_withheld {
            let _ = writeln!(out, "\nNothing was deleted: {why}");
        }
        if let Some(e) = &self.stopped {
            let _ = writeln!(out, "\nStopped early: {e}");
        }
        out
    }
}

/// How to run `load` or `sync`.
pub struct Options<'a> {
    pub prefix: &'a str,
    pub concurrency: usize,
    /// Delete stored documents under the prefix whose files are gone (`sync`).
    pub delete_missing: bool,
    /// Print the plan and change nothing.
    pub dry_run: bool,
}

/// What `run` did.
#[derive(Debug)]
pub enum Outcome {
    Ran(Report),
    /// The plan of a dry run, ready to print.
    DryRun(String),
}

/// Loads (or syncs) `dir`; what happened is in the report, also when a fatal error stopped
/// the run. Errors only when the folder or the document list cannot be read at all.
pub fn run(api: &Api, dir: &Path, options: &Options, bar: &ProgressBar) -> anyhow::Result<Outcome> {
    let found: Walk = walk(dir, options.prefix)?;
    let stored = api.list_documents()?;
    let by_external_id: HashMap<&str, &Document> =
        stored.iter().map(|d| (d.external_id.as_str(), d)).collect();
    let plan = plan(&found.documents, &by_external_id);
    let local_ids: HashSet<&str> = found
        .documents
        .iter()
        .map(|d| d.external_id.as_str())
        .collect();
    let mut to_delete = if options.delete_missing {
        deletions(&stored, &local_ids, options.prefix)
    } else {
        Vec::new()
    };

    let mut report = Report {
        up_to_date: plan.up_to_date,
        not_documents: found.not_documents.clone(),
        failures: plan.unreadable.clone(),
        ..Report::default()
    };
    report
        .failures
        .extend(found.errors.iter().map(|(name, reason)| Failure {
            name: name.clone(),
            reason: reason.clone(),
        }));
    if !to_delete.is_empty() {
        if !found.errors.is_empty() {
            report.deletions_withheld =
                Some("the folder could not be read completely (see the failures)".into());
        } else if found.documents.is_empty() {
            report.deletions_withheld = Some(format!(
                "{} holds no documents; refusing to delete all {} stored documents{} \
                 (use `kb-loader delete` to empty the knowledge base)",
                dir.display(),
                to_delete.len(),
                if options.prefix.is_empty() {
                    String::new()
                } else {
                    format!(" under {:?}", options.prefix)
                }
            ));
        }
        if report.deletions_withheld.is_some() {
            to_delete.clear();
        }
    }

    if options.dry_run {
        return Ok(Outcome::DryRun(render_dry_run(&plan, &to_delete, &report)));
    }

    bar.set_length(plan.uploads.len() as u64);
    let (outcomes, stopped) = upload_all(api, &plan.uploads, options.concurrency, bar);
    for (i, outcome) in &outcomes {
        let (doc, _) = &plan.uploads[*i];
        match outcome {
            Ok(done) => {
                match done.status {
                    UpsertStatus::Created => report.created += 1,
                    UpsertStatus::Updated => report.updated += 1,
                    UpsertStatus::Unchanged => report.unchanged += 1,
                }
                if done.vector_index != VectorStatus::Indexed {
                    report.vector_pending += 1;
                }
            }
            Err(reason) => report.failures.push(Failure {
                name: doc.relative.clone(),
                reason: reason.clone(),
            }),
        }
    }
    report.not_attempted = plan.uploads.len() - outcomes.len();
    report.stopped = stopped;

    if report.stopped.is_none() {
        for doc in to_delete {
            match api.delete_document(&doc.id) {
                Ok(()) => report.deleted.push(doc.external_id.clone()),
                Err(e) => {
                    report.failures.push(Failure {
                        name: doc.external_id.clone(),
                        reason: format!("cannot delete: {e}"),
                    });
                    if e.is_fatal() {
                        report.stopped = Some(e);
                        break;
                    }
                }
            }
        }
    }
    Ok(Outcome::Ran(report))
}

fn render_dry_run(plan: &Plan, to_delete: &[&Document], report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Would upload {} file(s):", plan.uploads.len());
    for (doc, reason) in &plan.uploads {
        let _ = writeln!(out, "  {:<12} {}", reason.label(), doc.external_id);
    }
    let _ = writeln!(out, "Would delete {} document(s):", to_delete.len());
    for doc in to_delete {
        let _ = writeln!(out, "  {}", doc.external_id);
    }
    let _ = writeln!(out, "Already loaded and indexed: {}", report.up_to_date);
    for name in &report.not_documents {
        let _ = writeln!(out, "Skipped {name}: not a supported document type");
    }
    for f in &report.failures {
        let _ = writeln!(out, "Cannot load {}: {}", f.name, f.reason);
    }
    if let Some(why) = &report.deletions_withheld {
        let _ = writeln!(out, "Would delete nothing: {why}");
    }
    out
}

/// The outcome of each upload tried, by index into `uploads`, and the fatal error that
/// stopped the workers, if one did.
type Outcomes = Vec<(usize, Result<Upserted, String>)>;

/// Uploads on `concurrency` threads; the workers stop taking files after a fatal error.
fn upload_all(
    api: &Api,
    uploads: &[(LocalDocument, Reason)],
    concurrency: usize,
    bar: &ProgressBar,
) -> (Outcomes, Option<ApiError>) {
    let next = AtomicUsize::new(0);
    let outcomes = Mutex::new(Vec::with_capacity(uploads.len()));
    let stopped: Mutex<Option<ApiError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..concurrency.clamp(1, uploads.len().max(1)) {
            scope.spawn(|| {
                loop {
                    if stopped.lock().unwrap().is_some() {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((doc, _)) = uploads.get(i) else {
                        return;
                    };
                    bar.set_message(doc.relative.clone());
                    let outcome = match std::fs::read(&doc.path) {
                        Err(e) => Err(format!("cannot read the file: {e}")),
                        Ok(bytes) => api
                            .upsert_document(&doc.external_id, doc.file_name(), &bytes)
                            .map_err(|e| {
                                let reason = e.to_string();
                                if e.is_fatal() {
                                    let mut stopped = stopped.lock().unwrap();
                                    if stopped.is_none() {
                                        *stopped = Some(e);
                                    }
                                }
                                reason
                            }),
                    };
                    outcomes.lock().unwrap().push((i, outcome));
                    bar.inc(1);
                }
            });
        }
    });
    let mut outcomes = outcomes.into_inner().unwrap();
    outcomes.sort_by_key(|(i, _)| *i);
    (outcomes, stopped.into_inner().unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::{Reply, TestServer, document_json};

    fn stored(external_id: &str, hash: &str, status: VectorStatus) -> Document {
        Document {
            id: format!("id-{external_id}"),
            external_id: external_id.into(),
            title: String::new(),
            source_url: None,
            content_type: "markdown".into(),
            content_hash: hash.into(),
            chunk_count: 1,
            vector_status: status,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_file_is_skipped_only_when_stored_with_the_same_hash_and_indexed() {
        let indexed = stored("a.md", "abc", VectorStatus::Indexed);
        let pending = stored("a.md", "abc", VectorStatus::Pending);
        assert_eq!(upload_reason("abc", None), Some(Reason::New));
        assert_eq!(upload_reason("abd", Some(&indexed)), Some(Reason::Changed));
        assert_eq!(
            upload_reason("abc", Some(&pending)),
            Some(Reason::NotIndexed)
        );
        assert_eq!(upload_reason("abc", Some(&indexed)), None);
        assert_eq!(upload_reason("ABC", Some(&indexed)), None);
    }

    #[test]
    fn sync_deletes_only_missing_documents_under_its_prefix() {
        let all = [
            stored("kb/kept.md", "", VectorStatus::Indexed),
            stored("kb/gone.md", "", VectorStatus::Indexed),
            stored("other/gone.md", "", VectorStatus::Indexed),
        ];
        let local = HashSet::from(["kb/kept.md"]);
        let names = |docs: Vec<&Document>| -> Vec<String> {
            docs.iter().map(|d| d.external_id.clone()).collect()
        };
        assert_eq!(names(deletions(&all, &local, "kb/")), ["kb/gone.md"]);
        assert_eq!(
            names(deletions(&all, &local, "")),
            ["kb/gone.md", "other/gone.md"]
        );
    }

    #[test]
    fn the_summary_counts_each_outcome_and_lists_failures_with_their_reason() {
        let report = Report {
            created: 2,
            updated: 1,
            up_to_date: 4,
            not_documents: vec!["scans/photo.png".into()],
            failures: vec![Failure {
                name: "scans/secret.pdf".into(),
                reason: "the PDF is encrypted (422)".into(),
            }],
            ..Report::default()
        };
        let text = report.render();
        assert!(text.contains("created    2\n"), "{text}");
        assert!(text.contains("unchanged  0\n"), "{text}");
        assert!(
            text.contains("skipped    5 (4 already loaded and indexed, 1 not a"),
            "{text}"
        );
        assert!(text.contains("failed     1\n"), "{text}");
        assert!(text.contains("Skipped (not a supported document type):\n  scans/photo.png\n"));
        assert!(text.contains("  scans/secret.pdf: the PDF is encrypted (422)\n"));
    }

    /// A folder holding `files` (path, contents).
    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    fn hash(text: &str) -> String {
        content_hash(text.as_bytes())
    }

    /// A scripted app holding `documents`: uploads answer by external id (`bad` → 422,
    /// stored → updated, else created), deletes answer 204.
    fn app(documents: Vec<serde_json::Value>) -> TestServer {
        TestServer::start(move |r| match r.method.as_str() {
            "GET" => Reply::json(
                200,
                serde_json::json!({"documents": documents, "next_cursor": null}),
            ),
            "PUT" if r.target.contains("bad") => {
                Reply::problem(422, "the file could not be parsed")
            }
            "PUT" => {
                let known = documents
                    .iter()
                    .any(|d| r.target.ends_with(d["external_id"].as_str().unwrap()));
                let status = if known { "updated" } else { "created" };
                let vector_index = if r.target.contains("fresh") {
                    "pending"
                } else {
                    "indexed"
                };
                Reply::json(
                    if known { 200 } else { 201 },
                    serde_json::json!({
                        "document": document_json("x", "x", "h", "indexed"),
                        "status": status,
                        "vector_index": vector_index,
                    }),
                )
            }
            "DELETE" => Reply::empty(204),
            _ => Reply::empty(405),
        })
    }

    fn ran(api: &Api, dir: &Path, options: &Options) -> Report {
        match run(api, dir, options, &ProgressBar::hidden()).unwrap() {
            Outcome::Ran(report) => report,
            Outcome::DryRun(_) => panic!("not a dry run"),
        }
    }

    fn options(delete_missing: bool, dry_run: bool) -> Options<'static> {
        Options {
            prefix: "",
            concurrency: 3,
            delete_missing,
            dry_run,
        }
    }

    #[test]
    fn load_uploads_new_changed_and_unindexed_files_and_reports_failures() {
        let dir = folder(&[
            ("same.md", "same"),
            ("changed.md", "new text"),
            ("pending.md", "pending"),
            ("fresh.md", "fresh"),
            ("bad.pdf", "not a pdf"),
            ("photo.png", "png"),
        ]);
        let server = app(vec![
            document_json("1", "same.md", &hash("same"), "indexed"),
            document_json("2", "changed.md", &hash("old text"), "indexed"),
            document_json("3", "pending.md", &hash("pending"), "pending"),
            document_json("4", "removed.md", &hash("removed"), "indexed"),
        ]);
        let api = Api::new(&server.url, "tok").unwrap();
        let report = ran(&api, dir.path(), &options(false, false));
        assert_eq!(
            (report.created, report.updated, report.up_to_date),
            (1, 2, 1)
        );
        assert_eq!(report.not_documents, ["photo.png"]);
        assert_eq!(
            report.failures,
            [Failure {
                name: "bad.pdf".into(),
                reason: "the file could not be parsed (422)".into()
            }]
        );
        let mut puts: Vec<String> = server
            .requests()
            .into_iter()
            .filter(|r| r.method == "PUT")
            .map(|r| r.target)
            .collect();
        puts.sort();
        assert_eq!(
            puts,
            [
                "/api/kb/documents/bad.pdf",
                "/api/kb/documents/changed.md",
                "/api/kb/documents/fresh.md",
                "/api/kb/documents/pending.md",
            ]
        );
        assert!(
            server.requests().iter().all(|r| r.method != "DELETE"),
            "load never deletes"
        );
    }

    #[test]
    fn sync_deletes_documents_whose_files_are_gone() {
        let dir = folder(&[("kept.md", "kept")]);
        let server = app(vec![
            document_json("1", "kept.md", &hash("kept"), "indexed"),
            document_json("9", "gone.md", &hash("gone"), "indexed"),
        ]);
        let api = Api::new(&server.url, "tok").unwrap();
        let report = ran(&api, dir.path(), &options(true, false));
        assert_eq!(report.deleted, ["gone.md"]);
        let methods: Vec<(String, String)> = server
            .requests()
            .into_iter()
            .map(|r| (r.method, r.target))
            .collect();
        assert_eq!(
            methods,
            [
                ("GET".to_string(), "/api/kb/documents?limit=200".to_string()),
                ("DELETE".to_string(), "/api/kb/documents/9".to_string()),
            ]
        );
    }

    #[test]
    fn a_dry_run_lists_the_plan_and_changes_nothing() {
        let dir = folder(&[("kept.md", "kept v2")]);
        let server = app(vec![
            document_json("1", "kept.md", &hash("kept"), "indexed"),
            document_json("9", "gone.md", &hash("gone"), "indexed"),
        ]);
        let api = Api::new(&server.url, "tok").unwrap();
        let Outcome::DryRun(dry) = run(
            &api,
            dir.path(),
            &options(true, true),
            &ProgressBar::hidden(),
        )
        .unwrap() else {
            panic!("a dry run returns its plan");
        };
        assert!(
            dry.contains("Would upload 1 file(s):\n  changed      kept.md\n"),
            "{dry}"
        );
        assert!(
            dry.contains("Would delete 1 document(s):\n  gone.md\n"),
            "{dry}"
        );
        assert!(server.requests().iter().all(|r| r.method == "GET"));
    }

    #[test]
    fn sync_of_an_empty_folder_refuses_to_delete_everything() {
        let dir = folder(&[]);
        let server = app(vec![document_json("9", "gone.md", "h", "indexed")]);
        let api = Api::new(&server.url, "tok").unwrap();
        let report = ran(&api, dir.path(), &options(true, false));
        assert!(report.deleted.is_empty());
        assert!(report.deletions_withheld.is_some());
        assert!(server.requests().iter().all(|r| r.method == "GET"));
    }

    #[test]
    fn a_refused_token_during_uploads_stops_the_run() {
        let dir = folder(&[("a.md", "a"), ("b.md", "b"), ("c.md", "c")]);
        let server = TestServer::start(|r| match r.method.as_str() {
            "GET" => Reply::json(
                200,
                serde_json::json!({"documents": [], "next_cursor": null}),
            ),
            _ => Reply::problem(401, "the token has expired"),
        });
        let api = Api::new(&server.url, "tok").unwrap();
        let one_worker = Options {
            concurrency: 1,
            ..options(false, false)
        };
        let report = ran(&api, dir.path(), &one_worker);
        assert_eq!(report.failures.len(), 1);
        assert_eq!(report.not_attempted, 2);
        assert!(report.stopped.as_ref().is_some_and(ApiError::is_fatal));
    }
}
