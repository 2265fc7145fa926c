//! `list` and `delete`: the tenant's stored documents, as a table or JSON lines, and their
//! removal by external id or by the server's id. Not here: uploads (`load`), HTTP (`api`).

use std::fmt::Write as _;

use crate::api::{Api, ApiError, Document};
use crate::output;

/// Longest title shown in the table; longer ones are cut with `…`.
const TITLE_WIDTH: usize = 40;

/// Every document: a table (external id, title, chunks, vector status, last update), or one
/// JSON object per line.
pub fn render_list(documents: &[Document], json: bool) -> anyhow::Result<String> {
    let mut out = String::new();
    if json {
        for d in documents {
            out.push_str(&serde_json::to_string(d)?);
            out.push('\n');
        }
        return Ok(out);
    }
    let mut rows = vec![
        ["EXTERNAL ID", "TITLE", "CHUNKS", "VECTORS", "UPDATED (UTC)"]
            .map(String::from)
            .to_vec(),
    ];
    rows.extend(documents.iter().map(|d| {
        vec![
            d.external_id.clone(),
            shorten(&d.title, TITLE_WIDTH),
            d.chunk_count.to_string(),
            d.vector_status.as_str().to_string(),
            output::format_ms(d.updated_at),
        ]
    }));
    out.push_str(&output::table(&rows));
    let pending = documents
        .iter()
        .filter(|d| d.vector_status == core_logic::kb::VectorStatus::Pending)
        .count();
    if pending > 0 {
        let _ = writeln!(
            out,
            "{} document(s), {pending} with vectors pending (kb-loader reindex writes them)",
            documents.len()
        );
    } else {
        let _ = writeln!(out, "{} document(s)", documents.len());
    }
    Ok(out)
}

fn shorten(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let cut: String = text.chars().take(width - 1).collect();
        format!("{cut}…")
    }
}

/// How `delete` names documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteBy {
    ExternalId,
    ServerId,
}

/// Deletes each named document; one that is missing or fails is reported and the others are
/// still deleted. Returns a line per name: what was done, or why not (`Err`).
pub fn delete(
    api: &Api,
    names: &[String],
    by: DeleteBy,
) -> Result<Vec<Result<String, String>>, ApiError> {
    let stored = match by {
        DeleteBy::ExternalId => api.list_documents()?,
        DeleteBy::ServerId => Vec::new(),
    };
    let mut lines = Vec::with_capacity(names.len());
    for name in names {
        let (id, label) = match by {
            DeleteBy::ServerId => (name.as_str(), format!("document {name}")),
            DeleteBy::ExternalId => match stored.iter().find(|d| &d.external_id == name) {
                Some(d) => (d.id.as_str(), format!("{name} (id {})", d.id)),
                None => {
                    lines.push(Err(format!("{name}: no document has this external id")));
                    continue;
                }
            },
        };
        match api.delete_document(id) {
            Ok(()) => lines.push(Ok(format!("deleted {label}"))),
            Err(e) if e.status() == Some(404) => {
                lines.push(Err(format!("{name}: no document has this id")));
            }
            Err(e) if e.is_fatal() => return Err(e),
            Err(e) => lines.push(Err(format!("{name}: {e}"))),
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::{Reply, TestServer, document_json};

    fn app() -> TestServer {
        TestServer::start(|r| match (r.method.as_str(), r.target.as_str()) {
            ("GET", _) => Reply::json(
                200,
                serde_json::json!({
                    "documents": [
                        document_json("d1", "faq/a.md", "h", "indexed"),
                        document_json("d2", "faq/b.md", "h", "pending"),
                    ],
                    "next_cursor": null,
                }),
            ),
            ("DELETE", "/api/kb/documents/d1" | "/api/kb/documents/d2") => Reply::empty(204),
            ("DELETE", _) => Reply::problem(404, "no such document"),
            _ => Reply::empty(405),
        })
    }

    #[test]
    fn deleting_by_external_id_looks_up_the_server_id_and_skips_unknown_names() {
        let server = app();
        let api = Api::new(&server.url, "tok").unwrap();
        let names = ["faq/a.md", "faq/missing.md", "faq/b.md"].map(String::from);
        let lines = delete(&api, &names, DeleteBy::ExternalId).unwrap();
        assert_eq!(
            lines,
            [
                Ok("deleted faq/a.md (id d1)".to_string()),
                Err("faq/missing.md: no document has this external id".to_string()),
                Ok("deleted faq/b.md (id d2)".to_string()),
            ]
        );
        let deletes: Vec<String> = server
            .requests()
            .into_iter()
            .filter(|r| r.method == "DELETE")
            .map(|r| r.target)
            .collect();
        assert_eq!(deletes, ["/api/kb/documents/d1", "/api/kb/documents/d2"]);
    }

    #[test]
    fn deleting_an_unknown_server_id_is_reported_and_the_rest_still_go() {
        let server = app();
        let api = Api::new(&server.url, "tok").unwrap();
        let names = ["nope", "d2"].map(String::from);
        let lines = delete(&api, &names, DeleteBy::ServerId).unwrap();
        assert_eq!(
            lines,
            [
                Err("nope: no document has this id".to_string()),
                Ok("deleted document d2".to_string()),
            ]
        );
        assert!(
            server.requests().iter().all(|r| r.method == "DELETE"),
            "no lookup by id"
        );
    }

    #[test]
    fn the_table_shows_one_row_per_document_with_its_vector_status() {
        let docs: Vec<Document> = serde_json::from_value(serde_json::json!([
            document_json("d1", "faq/a.md", "h", "indexed"),
            document_json("d2", "faq/b.md", "h", "pending"),
        ]))
        .unwrap();
        let text = render_list(&docs, false).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("EXTERNAL ID  TITLE"), "{text}");
        assert!(
            lines[2].starts_with("faq/b.md") && lines[2].contains("pending"),
            "{text}"
        );
        assert_eq!(
            lines[3],
            "2 document(s), 1 with vectors pending (kb-loader reindex writes them)"
        );
        let indexed = render_list(&docs[..1], false).unwrap();
        assert!(indexed.ends_with("\n1 document(s)\n"), "{indexed}");
    }

    #[test]
    fn json_output_is_one_document_per_line() {
        let docs: Vec<Document> = serde_json::from_value(serde_json::json!([document_json(
            "d1", "faq/a.md", "h", "indexed"
        ),]))
        .unwrap();
        let text = render_list(&docs, true).unwrap();
        let back: Document = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(back, docs[0]);
        assert_eq!(text.lines().count(), 1);
    }

    #[test]
    fn long_titles_are_cut() {
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abcd", 4), "abcd");
    }
}
