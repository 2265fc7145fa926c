//! Document bytes to Markdown plus metadata: PDF (text layer), DOCX, HTML, Markdown, CSV,
//! JSON and plain text, with the type taken from the bytes first and the file name or
//! declared content type only as a hint.
//!
//! Pure Rust with no I/O, so it builds natively (kb-loader) and for `wasm32-wasip2`
//! (the ingest and message components). Every input is bounded by [`Limits`]; bad input
//! returns a [`ParseError`], never a panic. Not for chunking (that is `core`) nor OCR.
//!
//! Output conventions: PDF pages are introduced by `<!-- page N -->` and located by
//! [`ParsedDocument::pages`]; CSV becomes one pipe table whose first row is the header;
//! JSON is pretty-printed in a fenced `json` block (keys sorted) so values stay searchable
//! verbatim; plain text is kept, escaped only where it would read as Markdown structure.

mod csv_table;
mod detect;
mod docx;
mod error;
mod html;
mod json;
mod limits;
mod markdown;
mod pdf;
mod pdf_guard;

pub use detect::{Format, detect_format};
pub use error::{Limit, ParseError};
pub use limits::Limits;

/// A heading found in the produced Markdown.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Heading {
    /// 1 for `#`, up to 6.
    pub level: u8,
    pub text: String,
}

/// Where one PDF page's text sits in [`ParsedDocument::markdown`] (byte offsets).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PageSpan {
    /// 1-based page number.
    pub number: u32,
    pub start: usize,
    pub end: usize,
}

/// The result of parsing one document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ParsedDocument {
    pub format: Format,
    pub markdown: String,
    /// Document title (embedded metadata, else the first top heading, else a title-like first
    /// line of a Markdown or text file, else the file stem).
    pub title: Option<String>,
    pub headings: Vec<Heading>,
    /// One entry per page for PDF; empty for other formats.
    pub pages: Vec<PageSpan>,
}

impl ParsedDocument {
    /// The page that contains the Markdown byte offset `offset`, for PDF citations.
    pub fn page_at(&self, offset: usize) -> Option<u32> {
        self.pages
            .iter()
            .find(|p| p.start <= offset && offset < p.end)
            .map(|p| p.number)
    }
}

/// What a format parser hands back before the common metadata pass.
#[derive(Debug)]
pub(crate) struct Converted {
    pub markdown: String,
    pub title: Option<String>,
    pub pages: Vec<PageSpan>,
}

/// Parses `bytes` with the default [`Limits`].
///
/// `file_name` and `content_type` are hints; magic bytes win over both.
pub fn parse(
    bytes: &[u8],
    file_name: Option<&str>,
    content_type: Option<&str>,
) -> Result<ParsedDocument, ParseError> {
    parse_with_limits(bytes, file_name, content_type, &Limits::default())
}

/// Parses `bytes` under explicit `limits`.
pub fn parse_with_limits(
    bytes: &[u8],
    file_name: Option<&str>,
    content_type: Option<&str>,
    limits: &Limits,
) -> Result<ParsedDocument, ParseError> {
    if bytes.len() > limits.max_input_bytes {
        return Err(ParseError::TooLarge {
            limit: Limit::InputBytes,
            max: limits.max_input_bytes as u64,
        });
    }
    let format = detect_format(bytes, file_name, content_type)?;
    let converted = match format {
        Format::Pdf => pdf::convert(bytes, limits)?,
        Format::Docx => docx::convert(bytes, limits)?,
        Format::Html => html::convert(text_of(bytes, format)?, limits)?,
        Format::Markdown => plain(markdown::normalize(text_of(bytes, format)?)),
        Format::Csv => csv_table::convert(bytes, limits)?,
        Format::Json => json::convert(text_of(bytes, format)?, limits)?,
        Format::Text => plain(markdown::plain_text(text_of(bytes, format)?)),
    };
    if converted.markdown.len() > limits.max_output_bytes {
        return Err(ParseError::TooLarge {
            limit: Limit::OutputBytes,
            max: limits.max_output_bytes as u64,
        });
    }
    let headings = markdown::headings(&converted.markdown);
    let title = converted
        .title
        .filter(|t| !t.trim().is_empty())
        .or_else(|| markdown::title_from_headings(&headings))
        .or_else(|| {
            matches!(format, Format::Markdown | Format::Text)
                .then(|| markdown::title_from_first_line(&converted.markdown))
                .flatten()
        })
        .or_else(|| file_name.and_then(file_stem));
    Ok(ParsedDocument {
        format,
        markdown: converted.markdown,
        title,
        headings,
        pages: converted.pages,
    })
}

fn plain(markdown: String) -> Converted {
    Converted {
        markdown,
        title: None,
        pages: Vec::new(),
    }
}

/// The bytes as UTF-8 without a byte-order mark.
fn text_of(bytes: &[u8], format: Format) -> Result<&str, ParseError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| ParseError::Malformed {
        format,
        detail: format!("not UTF-8: {e}"),
    })
}

fn file_stem(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next()?;
    let stem = base.rsplit_once('.').map_or(base, |(s, _)| s).trim();
    (!stem.is_empty()).then(|| stem.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_falls_back_to_file_stem() {
        let doc = parse(b"just words", Some("dir/notes.final.txt"), None).unwrap();
        assert_eq!(doc.title.as_deref(), Some("notes.final"));
    }

    #[test]
    fn input_over_the_limit_is_too_large() {
        let limits = Limits {
            max_input_bytes: 4,
            ..Limits::default()
        };
        let err = parse_with_limits(b"hello", None, None, &limits).unwrap_err();
        assert_eq!(
            err,
            ParseError::TooLarge {
                limit: Limit::InputBytes,
                max: 4
            }
        );
        assert_eq!(err.http_status(), 413);
    }

    #[test]
    fn output_over_the_limit_is_too_large() {
        let limits = Limits {
            max_output_bytes: 8,
            ..Limits::default()
        };
        let err = parse_with_limits(b"a,b\n1,2\n", Some("t.csv"), None, &limits).unwrap_err();
        assert!(matches!(
            err,
            ParseError::TooLarge {
                limit: Limit::OutputBytes,
                ..
            }
        ));
    }

    #[test]
    fn page_at_maps_offsets_to_pages() {
        let doc = ParsedDocument {
            format: Format::Pdf,
            markdown: String::new(),
            title: None,
            headings: vec![],
            pages: vec![
                PageSpan {
                    number: 1,
                    start: 0,
                    end: 10,
                },
                PageSpan {
                    number: 2,
                    start: 10,
                    end: 20,
                },
            ],
        };
        assert_eq!(doc.page_at(3), Some(1));
        assert_eq!(doc.page_at(10), Some(2));
        assert_eq!(doc.page_at(20), None);
    }
}
