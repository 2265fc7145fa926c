//! Decides a document's format from its bytes, using the file name and declared content
//! type only where the bytes cannot tell (text formats). Not for parsing: it reads no
//! more than the first bytes and, for ZIP, the central directory.

use crate::ParseError;

/// A format this crate turns into Markdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Pdf,
    Docx,
    Html,
    Markdown,
    Csv,
    Json,
    Text,
}

const OLE_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
/// "EncryptionInfo" as the UTF-16LE stream name in an OLE directory.
const ENCRYPTION_INFO_STREAM: &[u8] = b"E\0n\0c\0r\0y\0p\0t\0i\0o\0n\0I\0n\0f\0o\0";

/// How far into the file the PDF header may start (as PDF readers allow).
const PDF_HEADER_WINDOW: usize = 1024;
/// How much of a text file is sniffed for HTML or binary content.
const SNIFF_WINDOW: usize = 8 * 1024;

/// The format of `bytes`. Magic bytes decide PDF and DOCX whatever the name says; a name or
/// content type claiming PDF or DOCX for bytes that are not makes the input malformed.
pub fn detect_format(
    bytes: &[u8],
    file_name: Option<&str>,
    content_type: Option<&str>,
) -> Result<Format, ParseError> {
    let hint = hint_from(file_name, content_type);
    let head = &bytes[..bytes.len().min(PDF_HEADER_WINDOW)];
    if find(head, b"%PDF-").is_some() {
        return Ok(Format::Pdf);
    }
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return detect_zip(bytes, hint);
    }
    if bytes.starts_with(OLE_MAGIC) && find(bytes, ENCRYPTION_INFO_STREAM).is_some() {
        // How Office stores a password-protected DOCX/XLSX/PPTX: an OLE container holding
        // the encrypted package.
        return Err(ParseError::Encrypted(Format::Docx));
    }
    if let Some(kind) = other_binary_kind(bytes) {
        return Err(ParseError::Unsupported(kind.to_string()));
    }
    if let Some(claimed @ (Format::Pdf | Format::Docx)) = hint {
        return Err(ParseError::Malformed {
            format: claimed,
            detail: "content does not match the declared type".into(),
        });
    }
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let window = &body[..body.len().min(SNIFF_WINDOW)];
    if window.contains(&0) || !is_utf8_prefix(window) {
        return Err(ParseError::Unsupported("binary data".into()));
    }
    // Markdown may legitimately start with inline HTML, so a Markdown hint beats sniffing.
    if hint != Some(Format::Markdown) && sniffs_as_html(window) {
        return Ok(Format::Html);
    }
    if let Some(format) = hint {
        return Ok(format);
    }
    let trimmed = body.trim_ascii_start();
    if (trimmed.starts_with(b"{") || trimmed.starts_with(b"["))
        && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
    {
        return Ok(Format::Json);
    }
    Ok(Format::Text)
}

fn detect_zip(bytes: &[u8], hint: Option<Format>) -> Result<Format, ParseError> {
    match zip::ZipArchive::new(std::io::Cursor::new(bytes)) {
        Ok(archive) if archive.file_names().any(|n| n == "word/document.xml") => Ok(Format::Docx),
        Ok(_) => Err(ParseError::Unsupported(
            "ZIP archive that is not a DOCX document".into(),
        )),
        Err(e) if hint == Some(Format::Docx) => Err(ParseError::Malformed {
            format: Format::Docx,
            detail: format!("unreadable ZIP container: {e}"),
        }),
        Err(_) => Err(ParseError::Unsupported("unreadable ZIP archive".into())),
    }
}

/// Recognisable binary formats we do not read, named for the error message.
fn other_binary_kind(bytes: &[u8]) -> Option<&'static str> {
    const MAGIC: &[(&[u8], &str)] = &[
        (OLE_MAGIC, "legacy Office (OLE) document"),
        (b"{\\rtf", "RTF document"),
        (b"\x89PNG", "PNG image"),
        (b"\xFF\xD8\xFF", "JPEG image"),
        (b"GIF8", "GIF image"),
        (b"\x1F\x8B", "gzip data"),
        (b"\xFF\xFE", "UTF-16 text"),
        (b"\xFE\xFF", "UTF-16 text"),
    ];
    MAGIC
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
        .map(|(_, kind)| *kind)
}

/// UTF-8, allowing the window to cut the last character in half.
fn is_utf8_prefix(window: &[u8]) -> bool {
    match std::str::from_utf8(window) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

/// The WHATWG MIME-sniffing patterns for HTML: a known tag opening the document.
fn sniffs_as_html(window: &[u8]) -> bool {
    const TAGS: &[&[u8]] = &[
        b"<!doctype html",
        b"<html",
        b"<head",
        b"<script",
        b"<iframe",
        b"<h1",
        b"<div",
        b"<font",
        b"<table",
        b"<a",
        b"<style",
        b"<title",
        b"<b",
        b"<body",
        b"<br",
        b"<p",
        b"<!--",
    ];
    let start = window.trim_ascii_start();
    TAGS.iter().any(|tag| {
        start.len() > tag.len()
            && start[..tag.len()].eq_ignore_ascii_case(tag)
            && (tag == b"<!--" || matches!(start[tag.len()], b' ' | b'>' | b'\t' | b'\n' | b'\r'))
    })
}

fn hint_from(file_name: Option<&str>, content_type: Option<&str>) -> Option<Format> {
    let from_type = content_type.and_then(|ct| {
        let essence = ct.split(';').next()?.trim().to_ascii_lowercase();
        Some(match essence.as_str() {
            "application/pdf" => Format::Pdf,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => {
                Format::Docx
            }
            "text/html" | "application/xhtml+xml" => Format::Html,
            "text/markdown" | "text/x-markdown" => Format::Markdown,
            "text/csv" | "text/tab-separated-values" => Format::Csv,
            "application/json" => Format::Json,
            "text/plain" => Format::Text,
            _ => return None,
        })
    });
    let from_name = file_name.and_then(|name| {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        Some(match ext.as_str() {
            "pdf" => Format::Pdf,
            "docx" => Format::Docx,
            "html" | "htm" | "xhtml" => Format::Html,
            "md" | "markdown" | "mdown" => Format::Markdown,
            "csv" | "tsv" => Format::Csv,
            "json" => Format::Json,
            "txt" | "text" => Format::Text,
            _ => return None,
        })
    });
    // A specific extension says more than a generic `text/plain` from an upload form.
    match (from_name, from_type) {
        (Some(n), Some(Format::Text)) => Some(n),
        (_, Some(t)) => Some(t),
        (n, None) => n,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_magic_wins_over_a_text_extension() {
        let f = detect_format(b"%PDF-1.7\n...", Some("notes.txt"), Some("text/plain"));
        assert_eq!(f, Ok(Format::Pdf));
    }

    #[test]
    fn html_is_sniffed_without_a_hint() {
        let f = detect_format(b"  <!DOCTYPE html><html></html>", Some("page.txt"), None);
        assert_eq!(f, Ok(Format::Html));
    }

    #[test]
    fn markdown_hint_keeps_leading_html_comment_as_markdown() {
        let f = detect_format(b"<!-- front -->\n# Title\n", Some("a.md"), None);
        assert_eq!(f, Ok(Format::Markdown));
    }

    #[test]
    fn json_is_sniffed_without_a_hint() {
        assert_eq!(detect_format(b" {\"a\": 1}", None, None), Ok(Format::Json));
        assert_eq!(detect_format(b"{not json", None, None), Ok(Format::Text));
    }

    #[test]
    fn extension_selects_among_text_formats() {
        assert_eq!(
            detect_format(b"a,b\n", Some("x.CSV"), None),
            Ok(Format::Csv)
        );
        assert_eq!(
            detect_format(b"a,b\n", Some("x"), Some("text/csv; charset=utf-8")),
            Ok(Format::Csv)
        );
        assert_eq!(
            detect_format(b"# h\n", Some("x.md"), Some("text/plain")),
            Ok(Format::Markdown)
        );
    }

    #[test]
    fn text_claiming_to_be_pdf_is_malformed() {
        let err = detect_format(b"hello", Some("x.pdf"), None).unwrap_err();
        assert!(matches!(
            err,
            ParseError::Malformed {
                format: Format::Pdf,
                ..
            }
        ));
    }

    #[test]
    fn binary_and_legacy_office_are_unsupported() {
        let ole = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1rest";
        assert!(matches!(
            detect_format(ole, Some("a.doc"), None),
            Err(ParseError::Unsupported(_))
        ));
        assert!(matches!(
            detect_format(b"ab\0cd", None, None),
            Err(ParseError::Unsupported(_))
        ));
        assert!(matches!(
            detect_format(b"\xC3\x28 bad utf8", None, None),
            Err(ParseError::Unsupported(_))
        ));
    }

    #[test]
    fn utf8_cut_at_the_sniff_window_is_still_text() {
        let mut text = vec![b'a'; SNIFF_WINDOW - 1];
        text.extend_from_slice("é and more".as_bytes());
        assert_eq!(detect_format(&text, None, None), Ok(Format::Text));
    }
}
