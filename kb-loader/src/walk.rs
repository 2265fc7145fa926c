//! `walk`: which files of a folder are knowledge-base documents, and the external id each
//! gets (`--prefix` + its path relative to the folder, `/`-separated), so the same file
//! always updates the same document.
//!
//! Hidden files and folders are left out, and so are the folder's own `README.md` and
//! `questions.jsonl` (they describe the folder and hold its evaluation questions). Files of
//! other types are reported, not uploaded. Not here: comparing with what the app holds
//! (`load`).

use std::path::{Path, PathBuf};

use anyhow::ensure;
use walkdir::{DirEntry, WalkDir};

/// Extensions (lowercase) of the types the app parses.
pub const DOCUMENT_EXTENSIONS: &[&str] = &[
    "md", "markdown", "html", "htm", "pdf", "docx", "csv", "tsv", "json", "txt",
];

/// Top-level files that belong to the folder, not to the knowledge base.
const FOLDER_FILES: &[&str] = &["README.md", "questions.jsonl", "escalations.jsonl"];

/// A document file found in the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalDocument {
    pub path: PathBuf,
    /// The path relative to the folder, `/`-separated.
    pub relative: String,
    pub external_id: String,
}

impl LocalDocument {
    /// The file name sent with the upload (the server reads the type from its extension).
    pub fn file_name(&self) -> &str {
        self.relative.rsplit('/').next().unwrap_or(&self.relative)
    }
}

/// What a walk found.
#[derive(Debug, Default)]
pub struct Walk {
    /// Document files, in path order.
    pub documents: Vec<LocalDocument>,
    /// Relative paths of files of other types.
    pub not_documents: Vec<String>,
    /// Entries that could not be read, with the reason: the walk is incomplete.
    pub errors: Vec<(String, String)>,
}

/// Walks `dir` recursively (following symbolic links; loops are reported as errors).
pub fn walk(dir: &Path, prefix: &str) -> anyhow::Result<Walk> {
    ensure!(dir.is_dir(), "{} is not a folder", dir.display());
    let mut found = Walk::default();
    let entries = WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !is_hidden(e));
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let place = e
                    .path()
                    .and_then(|p| p.strip_prefix(dir).ok())
                    .map_or_else(|| dir.display().to_string(), |p| p.display().to_string());
                found.errors.push((place, e.to_string()));
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let Some(relative) = relative_path(dir, entry.path()) else {
            found.errors.push((
                entry.path().display().to_string(),
                "the path is not valid UTF-8".into(),
            ));
            continue;
        };
        if entry.depth() == 1 && FOLDER_FILES.contains(&relative.as_str()) {
            continue;
        }
        if is_document(entry.path()) {
            found.documents.push(LocalDocument {
                path: entry.path().to_path_buf(),
                external_id: format!("{prefix}{relative}"),
                relative,
            });
        } else {
            found.not_documents.push(relative);
        }
    }
    Ok(found)
}

fn is_hidden(entry: &DirEntry) -> bool {
    entry
        .file_name()
        .to_str()
        .is_some_and(|n| n.starts_with('.'))
}

/// Whether the file's extension is one of [`DOCUMENT_EXTENSIONS`], in any case.
pub fn is_document(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| DOCUMENT_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// `path` relative to `dir`, with `/` between components whatever the platform.
fn relative_path(dir: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(dir).ok()?;
    let parts: Option<Vec<&str>> = relative
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect();
    Some(parts?.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            let path = dir.path().join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, f.as_bytes()).unwrap();
        }
        dir
    }

    #[test]
    fn documents_get_the_prefix_and_their_slash_separated_relative_path() {
        let dir = folder(&["billing/refund-policy.md", "faq.html", "billing/eu/vat.pdf"]);
        let found = walk(dir.path(), "acme/").unwrap();
        let ids: Vec<&str> = found
            .documents
            .iter()
            .map(|d| d.external_id.as_str())
            .collect();
        assert_eq!(
            ids,
            [
                "acme/billing/eu/vat.pdf",
                "acme/billing/refund-policy.md",
                "acme/faq.html"
            ]
        );
        assert_eq!(found.documents[1].relative, "billing/refund-policy.md");
        assert_eq!(found.documents[1].file_name(), "refund-policy.md");
        assert!(found.not_documents.is_empty() && found.errors.is_empty());
    }

    #[test]
    fn hidden_files_and_folders_are_left_out() {
        let dir = folder(&[
            ".git/config.txt",
            ".draft.md",
            "docs/.cache/x.md",
            "docs/a.md",
        ]);
        let found = walk(dir.path(), "").unwrap();
        let ids: Vec<&str> = found
            .documents
            .iter()
            .map(|d| d.external_id.as_str())
            .collect();
        assert_eq!(ids, ["docs/a.md"]);
        assert!(found.not_documents.is_empty());
    }

    #[test]
    fn the_folders_own_readme_and_questions_are_not_documents() {
        let dir = folder(&["README.md", "questions.jsonl", "guides/README.md"]);
        let found = walk(dir.path(), "").unwrap();
        let ids: Vec<&str> = found
            .documents
            .iter()
            .map(|d| d.external_id.as_str())
            .collect();
        // Only the top-level README is the folder's; a nested one is content.
        assert_eq!(ids, ["guides/README.md"]);
        assert!(
            found.not_documents.is_empty(),
            "questions.jsonl is not reported either"
        );
    }

    #[test]
    fn other_file_types_are_reported_not_loaded() {
        let dir = folder(&["scans/photo.png", "notes.TXT", "Makefile", "data.JSON"]);
        let found = walk(dir.path(), "").unwrap();
        let ids: Vec<&str> = found
            .documents
            .iter()
            .map(|d| d.external_id.as_str())
            .collect();
        assert_eq!(ids, ["data.JSON", "notes.TXT"]);
        assert_eq!(found.not_documents, ["Makefile", "scans/photo.png"]);
    }

    #[test]
    fn every_supported_extension_is_a_document() {
        for ext in DOCUMENT_EXTENSIONS {
            assert!(is_document(Path::new(&format!("x.{ext}"))), "{ext}");
        }
        assert!(!is_document(Path::new("x.jsonl")));
        assert!(!is_document(Path::new("md")));
    }

    #[test]
    fn a_missing_folder_is_an_error() {
        let dir = folder(&[]);
        assert!(walk(&dir.path().join("nope"), "").is_err());
    }
}
