//! PDF text layer to Markdown, one `<!-- page N -->` marker before each page's text and a
//! [`crate::PageSpan`] per page so chunks can cite page numbers. Lines set clearly larger
//! than the body text become headings, the largest size level 1. Not OCR: a scanned PDF
//! yields page markers and no text.
//!
//! The extractor (pdf-extract over lopdf) can panic on hostile input, so natively it runs
//! under `catch_unwind` and a panic becomes `Malformed`. On `wasm32-wasip2` panics abort,
//! so there the page and size limits are the only guard and a panic traps the instance.

use crate::{Converted, Format, Limit, Limits, PageSpan, ParseError, markdown, pdf_guard};
use pdf_extract::{
    ConvertToFmt, Document, MediaBox, Object, OutputDev, OutputError, PlainTextOutput, Transform,
};
use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

/// A line is a heading when its text is at least this much larger than the body text.
const HEADING_SIZE_RATIO: f64 = 1.2;
/// Font sizes are compared in steps of this many points.
const SIZE_STEP: f64 = 0.5;

pub fn convert(bytes: &[u8], limits: &Limits) -> Result<Converted, ParseError> {
    catch_unwind(AssertUnwindSafe(|| extract(bytes, limits)))
        .unwrap_or_else(|_| Err(malformed("the PDF could not be read".to_string())))
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
    pdf_guard::check_bytes(bytes, limits)?;
    let doc = Document::load_mem(bytes).map_err(map_pdf_error)?;
    // lopdf decrypts on load when the user password is empty (permissions-only PDFs, which
    // are common) and then holds the decryption state; without it the text is unreadable.
    if doc.is_encrypted() && doc.encryption_state.is_none() {
        return Err(ParseError::Encrypted(Format::Pdf));
    }
    let pages = doc.get_pages();
    if pages.len() > limits.max_pages {
        return Err(ParseError::TooLarge {
            limit: Limit::Pages,
            max: limits.max_pages as u64,
        });
    }
    pdf_guard::check_document(&doc)?;
    if pages.is_empty() {
        return Err(malformed("no pages".into()));
    }
    let mut page_lines = Vec::with_capacity(pages.len());
    let mut extracted = 0;
    for &number in pages.keys() {
        let lines = page_lines_with_sizes(&doc, number)?;
        extracted += lines.iter().map(|l| l.text.len()).sum::<usize>();
        if extracted > limits.max_output_bytes {
            return Err(ParseError::TooLarge {
                limit: Limit::OutputBytes,
                max: limits.max_output_bytes as u64,
            });
        }
        page_lines.push((number, lines));
    }
    let levels = heading_levels(page_lines.iter().flat_map(|(_, lines)| lines));
    let mut out = String::new();
    let mut spans = Vec::with_capacity(page_lines.len());
    for (number, lines) in &page_lines {
        let start = out.len();
        out.push_str(&format!("<!-- page {number} -->\n\n"));
        let body = page_markdown(lines, &levels);
        if !body.is_empty() {
            out.push_str(&body);
            out.push_str("\n\n");
        }
        spans.push(PageSpan {
            number: *number,
            start,
            end: out.len(),
        });
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

/// One line of extracted text and the font size most of its characters are set in.
struct SizedLine {
    text: String,
    size: f64,
}

/// A `fmt::Write` the extractor writes into while [`SizedText`] still reads its length.
#[derive(Clone, Default)]
struct SharedText(Rc<RefCell<String>>);

impl std::fmt::Write for SharedText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.borrow_mut().push_str(s);
        Ok(())
    }
}

impl ConvertToFmt for SharedText {
    type Writer = SharedText;
    fn convert(self) -> Self::Writer {
        self
    }
}

/// pdf-extract's plain-text layout, plus the font size of every character it writes.
struct SizedText {
    inner: PlainTextOutput<SharedText>,
    text: SharedText,
    /// (byte offset in `text` where a character starts, its rendered font size)
    sizes: Vec<(usize, f64)>,
}

impl OutputDev for SizedText {
    fn begin_page(
        &mut self,
        page_num: u32,
        media_box: &MediaBox,
        art_box: Option<(f64, f64, f64, f64)>,
    ) -> Result<(), OutputError> {
        self.inner.begin_page(page_num, media_box, art_box)
    }
    fn end_page(&mut self) -> Result<(), OutputError> {
        self.inner.end_page()
    }
    fn output_character(
        &mut self,
        trm: &Transform,
        width: f64,
        spacing: f64,
        font_size: f64,
        char: &str,
    ) -> Result<(), OutputError> {
        self.inner
            .output_character(trm, width, spacing, font_size, char)?;
        // The same rendered size PlainTextOutput computes: the text matrix applied to the
        // font size, as the side of a square of equal area.
        let x = font_size * (trm.m11 + trm.m21);
        let y = font_size * (trm.m12 + trm.m22);
        let size = (x * y).abs().sqrt();
        let end = self.text.0.borrow().len();
        self.sizes.push((end - char.len().min(end), size));
        Ok(())
    }
    fn begin_word(&mut self) -> Result<(), OutputError> {
        self.inner.begin_word()
    }
    fn end_word(&mut self) -> Result<(), OutputError> {
        self.inner.end_word()
    }
    fn end_line(&mut self) -> Result<(), OutputError> {
        self.inner.end_line()
    }
}

fn page_lines_with_sizes(doc: &Document, number: u32) -> Result<Vec<SizedLine>, ParseError> {
    let text = SharedText::default();
    let mut output = SizedText {
        inner: PlainTextOutput::new(text.clone()),
        text: text.clone(),
        sizes: Vec::new(),
    };
    pdf_extract::output_doc_page(doc, &mut output, number).map_err(|e| match e {
        OutputError::PdfError(e) => map_pdf_error(e),
        other => malformed(other.to_string()),
    })?;
    let sizes = output.sizes;
    let text = text.0.borrow();
    let mut lines = Vec::new();
    let mut offset = 0;
    // Characters were recorded in writing order, so one cursor walks them line by line.
    let mut next_char = 0;
    for raw in text.split('\n') {
        let end = offset + raw.len();
        offset = end + 1;
        let mut counts: HashMap<i64, usize> = HashMap::new();
        while let Some(&(at, size)) = sizes.get(next_char) {
            if at >= end {
                break;
            }
            *counts.entry(size_key(size)).or_default() += 1;
            next_char += 1;
        }
        let size = counts
            .into_iter()
            .max_by_key(|&(key, n)| (n, key))
            .map_or(0.0, |(key, _)| key as f64 * SIZE_STEP);
        lines.push(SizedLine {
            text: raw.trim().to_string(),
            size,
        });
    }
    Ok(lines)
}

fn size_key(size: f64) -> i64 {
    (size / SIZE_STEP).round() as i64
}

/// Heading level per size key: sizes clearly above the body size (the size most text is
/// set in), largest first, at most six levels.
fn heading_levels<'a>(lines: impl Iterator<Item = &'a SizedLine>) -> HashMap<i64, u8> {
    let mut chars_per_size: HashMap<i64, usize> = HashMap::new();
    for line in lines.filter(|l| !l.text.is_empty()) {
        *chars_per_size.entry(size_key(line.size)).or_default() += line.text.len();
    }
    let Some(body) = chars_per_size
        .iter()
        .max_by_key(|&(key, n)| (*n, *key))
        .map(|(key, _)| *key)
    else {
        return HashMap::new();
    };
    let mut larger: Vec<i64> = chars_per_size
        .keys()
        .copied()
        .filter(|&k| k as f64 >= body as f64 * HEADING_SIZE_RATIO)
        .collect();
    larger.sort_unstable_by(|a, b| b.cmp(a));
    larger.into_iter().take(6).zip(1u8..).collect()
}

/// A page's lines as Markdown: headings by size, at most one blank line in a row, numbered
/// lines as list items, and other lines that would read as Markdown structure escaped.
fn page_markdown(lines: &[SizedLine], levels: &HashMap<i64, u8>) -> String {
    let mut out: Vec<String> = Vec::new();
    for line in lines {
        if line.text.is_empty() {
            if out.last().is_some_and(|l| !l.is_empty()) {
                out.push(String::new());
            }
        } else if let Some(level) = levels.get(&size_key(line.size)) {
            if out.last().is_some_and(|l| !l.is_empty()) {
                out.push(String::new());
            }
            out.push(format!("{} {}", "#".repeat(usize::from(*level)), line.text));
            out.push(String::new());
        } else if markdown::numbered_item(&line.text).is_some() {
            // A numbered line on a page is a step of a list.
            out.push(line.text.clone());
        } else {
            out.push(markdown::escape_block_start(&line.text));
        }
    }
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out.join("\n")
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

    fn line(text: &str, size: f64) -> SizedLine {
        SizedLine {
            text: text.to_string(),
            size,
        }
    }

    #[test]
    fn larger_lines_become_headings_by_size_rank() {
        let lines = vec![
            line("Guide", 24.0),
            line("", 0.0),
            line("body text that is long", 12.0),
            line("Part", 18.0),
            line("# more body text here", 12.0),
            line("", 0.0),
            line("", 0.0),
            line("end", 12.0),
        ];
        let levels = heading_levels(lines.iter());
        assert_eq!(
            page_markdown(&lines, &levels),
            "# Guide\n\nbody text that is long\n\n## Part\n\n\\# more body text here\n\nend"
        );
    }

    #[test]
    fn numbered_lines_are_the_steps_of_a_list() {
        let lines = [
            line("To add your VAT number:", 11.0),
            line("1. Go to Billing details.", 11.0),
            line("2. Enter the company name and your VAT", 11.0),
            line("number.", 11.0),
            line("- a dash that opens no list", 11.0),
        ];
        assert_eq!(
            page_markdown(&lines, &HashMap::new()),
            "To add your VAT number:\n1. Go to Billing details.\n2. Enter the company name and \
             your VAT\nnumber.\n\\- a dash that opens no list"
        );
    }

    #[test]
    fn uniform_size_has_no_headings() {
        let lines = [line("a", 11.0), line("b", 11.0)];
        assert!(heading_levels(lines.iter()).is_empty());
    }

    #[test]
    fn garbage_after_the_header_is_malformed() {
        let err = convert(b"%PDF-1.4\n\x00\x01garbage", &Limits::default()).unwrap_err();
        assert!(matches!(
            err,
            ParseError::Malformed {
                format: Format::Pdf,
                ..
            }
        ));
    }
}
