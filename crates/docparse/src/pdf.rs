//! PDF text layer to Markdown, one `<!-- page N -->` marker before each page's text and a
//! [`crate::PageSpan`] per page so chunks can cite page numbers. Not OCR: a scanned PDF
//! yields page markers and no text.
//!
//! The extractor (pdf-extract over lopdf) can panic on hostile input, so natively it runs
//! under `catch_unwind` and a panic becomes `Malformed`. On `wasm32-wasip2` panics abort,
//! so there the page and size limits are the only guard and a panic traps the instance.

use crate::{Converted, Format, Limit, Limits, PageSpan, ParseError, markdown};
use pdf_extract::{Document, Object, PlainTextOutput};
use std::panic::{AssertUnwindSafe, catch_unwind};

pub fn convert(bytes: &[u8], limits: &Limits) -> Result<Converted, ParseError> {
    catch_unwind(AssertUnwindSafe(|| extract(bytes, limits))).unwrap_or_else(|_| {
        Err(malformed("the PDF could not be read".to_string()))
    })
}

fn malformed(detail: String) -> ParseError {
    ParseError::Malformed {
        format: Format::Pdf,
        detail,
    }
}

fn map_pdf_error(e: pdf_extract::Error) -> ParseError {
    match e {
        pdf_extract::Error::Decryption(_) => ParseError::Encrypted(Format::Pdf),
        other => malformed(other.to_string()),
    }
}

fn extract(bytes: &[u8], limits: &Limits) -> Result<Converted, ParseError> {
    let mut doc = Document::load_mem(bytes).map_err(map_pdf_error)?;
    // Many PDFs are encrypted with an empty user password (permissions only): those open.
    if doc.is_encrypted() && doc.decrypt("").is_err() {
        return Err(ParseError::Encrypted(Format::Pdf));
    }
    let pages = doc.get_pages();
    if pages.len() > limits.max_pages {
        return Err(ParseError::TooLarge {
            limit: Limit::Pages,
            max: limits.max_pages as u64,
        });
    }
    if pages.is_empty() {
        return Err(malformed("no pages".into()));
    }
    let mut out = String::new();
    let mut spans = Vec::with_capacity(pages.len());
    for &number in pages.keys() {
        let mut text = String::new();
        pdf_extract::output_doc_page(&doc, &mut PlainTextOutput::new(&mut text), number)
            .map_err(|e| match e {
                pdf_extract::OutputError::PdfError(e) => map_pdf_error(e),
                other => malformed(other.to_string()),
            })?;
        let start = out.len();
        out.push_str(&format!("<!-- page {number} -->\n\n"));
        let body = page_text(&text);
        if !body.is_empty() {
            out.push_str(&body);
            out.push_str("\n\n");
        }
        spans.push(PageSpan {
            number,
            start,
            end: out.len(),
        });
        if out.len() > limits.max_output_bytes {
            return Err(ParseError::TooLarge {
                limit: Limit::OutputBytes,
                max: limits.max_output_bytes as u64,
            });
        }
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out.push('\n');
    if let Some(last) = spans.last_mut() {
        last.end = out.len();
    }
    Ok(Converted {
        markdown: out,
        title: info_title(&doc),
        pages: spans,
    })
}

/// Page text with trailing spaces removed, at most one blank line in a row, and lines that
/// would read as Markdown structure escaped.
fn page_text(text: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines().map(str::trim_end) {
        if line.trim().is_empty() {
            if lines.last().is_some_and(|l| !l.is_empty()) {
                lines.push(String::new());
            }
        } else {
            lines.push(markdown::escape_block_start(line.trim_start()));
        }
    }
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines.join("\n")
}

fn info_title(doc: &Document) -> Option<String> {
    let info = match doc.trailer.get(b"Info").ok()? {
        Object::Reference(id) => doc.get_object(*id).ok()?,
        other => other,
    };
    let title = info.as_dict().ok()?.get(b"Title").ok()?;
    let title = pdf_extract::decode_text_string(title).ok()?;
    let title = markdown::collapse_whitespace(&title);
    (!title.is_empty()).then_some(title)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_text_collapses_blank_runs_and_escapes_markdown() {
        assert_eq!(
            page_text("\n\n# one  \n\n\n\ntwo\n\n"),
            "\\# one\n\ntwo"
        );
    }

    #[test]
    fn garbage_after_the_header_is_malformed() {
        let err = convert(b"%PDF-1.4\n\x00\x01garbage", &Limits::default()).unwrap_err();
        assert!(matches!(err, ParseError::Malformed { format: Format::Pdf, .. }));
    }
}
