//! DOCX (Office Open XML) to Markdown: paragraphs, headings and the title from paragraph
//! styles, list paragraphs, and tables. The ZIP container is read under the archive limits
//! (entry count, per-entry and total uncompressed size, compression ratio) so a zip bomb is
//! refused before it is inflated. Not for legacy `.doc`, comments, footnotes or images.

use crate::limits::WorkBudget;
use crate::{Converted, Format, Limit, Limits, ParseError, markdown};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use std::collections::HashMap;
use std::io::{Cursor, Read};

/// Ratios are only judged above this size: small XML parts compress very well legitimately.
const RATIO_FLOOR: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParagraphKind {
    Title,
    Heading(u8),
}

pub fn convert(bytes: &[u8], limits: &Limits) -> Result<Converted, ParseError> {
    let mut archive = Archive::open(bytes, limits)?;
    let document = archive
        .read("word/document.xml")?
        .ok_or_else(|| malformed("no word/document.xml part"))?;
    let styles = match archive.read("word/styles.xml")? {
        Some(xml) => heading_styles(&xml)?,
        None => HashMap::new(),
    };
    let core_title = match archive.read("docProps/core.xml")? {
        Some(xml) => core_title(&xml)?,
        None => None,
    };
    let mut budget = WorkBudget::new(limits);
    let (markdown, style_title) = body_to_markdown(&document, &styles, &mut budget)?;
    Ok(Converted {
        markdown,
        title: core_title.or(style_title),
        pages: Vec::new(),
    })
}

fn malformed(detail: impl Into<String>) -> ParseError {
    ParseError::Malformed {
        format: Format::Docx,
        detail: detail.into(),
    }
}

fn too_large(limit: Limit, max: u64) -> ParseError {
    ParseError::TooLarge { limit, max }
}

/// The ZIP container with the bookkeeping for the decompression limits.
struct Archive<'a> {
    zip: zip::ZipArchive<Cursor<&'a [u8]>>,
    limits: &'a Limits,
    inflated: u64,
}

impl<'a> Archive<'a> {
    fn open(bytes: &'a [u8], limits: &'a Limits) -> Result<Self, ParseError> {
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| malformed(format!("unreadable ZIP container: {e}")))?;
        if zip.len() > limits.max_archive_entries {
            return Err(too_large(
                Limit::ArchiveEntries,
                limits.max_archive_entries as u64,
            ));
        }
        // Declared sizes can lie, so reading re-checks; but an honest bomb stops here.
        let mut declared: u64 = 0;
        for i in 0..zip.len() {
            let entry = zip
                .by_index_raw(i)
                .map_err(|e| malformed(format!("bad ZIP entry: {e}")))?;
            declared = declared.saturating_add(entry.size());
        }
        if declared > limits.max_uncompressed_bytes {
            return Err(too_large(
                Limit::UncompressedBytes,
                limits.max_uncompressed_bytes,
            ));
        }
        Ok(Self {
            zip,
            limits,
            inflated: 0,
        })
    }

    /// The inflated bytes of entry `name`, or `None` when the archive has no such entry.
    fn read(&mut self, name: &str) -> Result<Option<Vec<u8>>, ParseError> {
        let limits = self.limits;
        let entry = match self.zip.by_name(name) {
            Ok(entry) => entry,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(zip::result::ZipError::UnsupportedArchive(m))
                if m == zip::result::ZipError::PASSWORD_REQUIRED =>
            {
                return Err(ParseError::Encrypted(Format::Docx));
            }
            Err(e) => return Err(malformed(format!("cannot read {name}: {e}"))),
        };
        let compressed = entry.compressed_size().max(1);
        check_entry(entry.size(), compressed, limits)?;
        let cap = limits
            .max_entry_bytes
            .min(limits.max_uncompressed_bytes - self.inflated.min(limits.max_uncompressed_bytes));
        let mut data = Vec::new();
        entry
            .take(cap.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|e| malformed(format!("cannot inflate {name}: {e}")))?;
        let size = data.len() as u64;
        if size > cap {
            return Err(if size > limits.max_entry_bytes {
                too_large(Limit::EntryBytes, limits.max_entry_bytes)
            } else {
                too_large(Limit::UncompressedBytes, limits.max_uncompressed_bytes)
            });
        }
        check_entry(size, compressed, limits)?;
        self.inflated += size;
        Ok(Some(data))
    }
}

fn check_entry(size: u64, compressed: u64, limits: &Limits) -> Result<(), ParseError> {
    // The ratio is checked first: it names a bomb even when the size alone would also fail.
    if size > RATIO_FLOOR && size / compressed > limits.max_compression_ratio {
        return Err(too_large(
            Limit::CompressionRatio,
            limits.max_compression_ratio,
        ));
    }
    if size > limits.max_entry_bytes {
        return Err(too_large(Limit::EntryBytes, limits.max_entry_bytes));
    }
    Ok(())
}

fn xml_error(part: &str, e: impl std::fmt::Display) -> ParseError {
    malformed(format!("bad XML in {part}: {e}"))
}

fn attr(e: &BytesStart, local: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == local)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// Style id → heading kind, from style names ("heading 2", "Title") so localised style ids
/// still work, falling back to the id itself.
fn heading_styles(xml: &[u8]) -> Result<HashMap<String, ParagraphKind>, ParseError> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut styles = HashMap::new();
    let mut current: Option<String> = None;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| xml_error("styles", e))?;
        match event {
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                b"style" => {
                    current = attr(&e, b"styleId");
                    if let Some(kind) = current.as_deref().and_then(kind_from_style_name) {
                        styles.insert(current.clone().unwrap_or_default(), kind);
                    }
                }
                b"name" => {
                    if let (Some(id), Some(kind)) = (
                        current.as_ref(),
                        attr(&e, b"val").as_deref().and_then(kind_from_style_name),
                    ) {
                        styles.insert(id.clone(), kind);
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(styles)
}

fn kind_from_style_name(name: &str) -> Option<ParagraphKind> {
    let lower = name.to_ascii_lowercase().replace(' ', "");
    if lower == "title" {
        return Some(ParagraphKind::Title);
    }
    let level: u8 = lower.strip_prefix("heading")?.parse().ok()?;
    (1..=6)
        .contains(&level)
        .then_some(ParagraphKind::Heading(level))
}

fn core_title(xml: &[u8]) -> Result<Option<String>, ParseError> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut in_title = false;
    let mut title = String::new();
    loop {
        match reader
            .read_event_into(&mut buf)
            .map_err(|e| xml_error("core properties", e))?
        {
            Event::Start(e) if e.local_name().as_ref() == b"title" => in_title = true,
            Event::End(e) if e.local_name().as_ref() == b"title" => in_title = false,
            Event::Text(t) if in_title => {
                title.push_str(&t.decode().map_err(|e| xml_error("core properties", e))?)
            }
            Event::GeneralRef(r) if in_title => title.push_str(&resolve_ref(&r)),
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let title = markdown::collapse_whitespace(&title);
    Ok((!title.is_empty()).then_some(title))
}

fn resolve_ref(r: &quick_xml::events::BytesRef) -> String {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        return c.to_string();
    }
    match r.decode().as_deref() {
        Ok("amp") => "&",
        Ok("lt") => "<",
        Ok("gt") => ">",
        Ok("quot") => "\"",
        Ok("apos") => "'",
        _ => "",
    }
    .to_string()
}

#[derive(Default)]
struct Table {
    rows: Vec<Vec<String>>,
    row: Vec<String>,
    cell: String,
}

#[derive(Default)]
struct Paragraph {
    text: String,
    kind: Option<ParagraphKind>,
    list: bool,
}

/// The body as Markdown and the text of the first Title-styled paragraph.
fn body_to_markdown(
    xml: &[u8],
    styles: &HashMap<String, ParagraphKind>,
    budget: &mut WorkBudget,
) -> Result<(String, Option<String>), ParseError> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut blocks = Vec::new();
    let mut title = None;
    let mut tables: Vec<Table> = Vec::new();
    let mut para = Paragraph::default();
    let mut in_text = false;
    loop {
        budget.spend(1)?;
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| xml_error("document", e))?;
        match event {
            Event::Start(e) => match e.local_name().as_ref() {
                b"t" => in_text = true,
                b"p" => para = Paragraph::default(),
                b"tbl" => tables.push(Table::default()),
                b"tc" => {
                    if let Some(t) = tables.last_mut() {
                        t.cell.clear();
                    }
                }
                b"tr" => {
                    if let Some(t) = tables.last_mut() {
                        t.row.clear();
                    }
                }
                b"numPr" => para.list = true,
                _ => {}
            },
            Event::Empty(e) => match e.local_name().as_ref() {
                b"pStyle" => {
                    para.kind = attr(&e, b"val").and_then(|id| {
                        styles
                            .get(&id)
                            .copied()
                            .or_else(|| kind_from_style_name(&id))
                    })
                }
                b"tab" | b"br" | b"cr" => para.text.push(' '),
                b"numPr" => para.list = true,
                _ => {}
            },
            Event::Text(t) if in_text => para
                .text
                .push_str(&t.decode().map_err(|e| xml_error("document", e))?),
            Event::GeneralRef(r) if in_text => para.text.push_str(&resolve_ref(&r)),
            Event::End(e) => match e.local_name().as_ref() {
                b"t" => in_text = false,
                b"p" => {
                    let text = markdown::collapse_whitespace(&para.text);
                    if let Some(table) = tables.last_mut() {
                        if !text.is_empty() {
                            if !table.cell.is_empty() {
                                table.cell.push(' ');
                            }
                            table.cell.push_str(&text);
                        }
                    } else if !text.is_empty() {
                        blocks.push(match para.kind {
                            Some(ParagraphKind::Title) => {
                                title.get_or_insert_with(|| text.clone());
                                format!("# {text}")
                            }
                            Some(ParagraphKind::Heading(n)) => {
                                format!("{} {text}", "#".repeat(usize::from(n)))
                            }
                            None if para.list => format!("- {text}"),
                            None => markdown::escape_block_start(&text),
                        });
                    }
                    para = Paragraph::default();
                }
                b"tc" => {
                    if let Some(t) = tables.last_mut() {
                        let cell = std::mem::take(&mut t.cell);
                        t.row.push(cell);
                    }
                }
                b"tr" => {
                    if let Some(t) = tables.last_mut() {
                        let row = std::mem::take(&mut t.row);
                        t.rows.push(row);
                    }
                }
                b"tbl" => {
                    if let Some(done) = tables.pop() {
                        match tables.last_mut() {
                            // A nested table is flattened into its parent's cell.
                            Some(outer) => {
                                let text: Vec<String> =
                                    done.rows.iter().map(|r| r.join(" ")).collect();
                                outer.cell.push_str(&text.join(" "));
                            }
                            None => blocks.push(markdown::table(&done.rows, budget)?),
                        }
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok((join_list_items(&blocks), title))
}

/// Like [`markdown::join_blocks`], but consecutive list items stay one list.
fn join_list_items(blocks: &[String]) -> String {
    let mut out = String::new();
    let mut prev_list = false;
    for block in blocks
        .iter()
        .map(|b| b.trim_end())
        .filter(|b| !b.is_empty())
    {
        let is_list = block.starts_with("- ");
        if !out.is_empty() {
            out.push_str(if is_list && prev_list { "\n" } else { "\n\n" });
        }
        out.push_str(block);
        prev_list = is_list;
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn style_names_map_to_heading_levels() {
        assert_eq!(
            kind_from_style_name("heading 2"),
            Some(ParagraphKind::Heading(2))
        );
        assert_eq!(
            kind_from_style_name("Heading1"),
            Some(ParagraphKind::Heading(1))
        );
        assert_eq!(kind_from_style_name("Title"), Some(ParagraphKind::Title));
        assert_eq!(kind_from_style_name("heading 9"), None);
        assert_eq!(kind_from_style_name("Normal"), None);
    }

    #[test]
    fn body_paragraphs_headings_lists_and_tables_become_markdown() {
        let xml = br#"<w:document xmlns:w="w"><w:body>
            <w:p><w:pPr><w:pStyle w:val="Heading2"/></w:pPr><w:r><w:t>Fees &amp; refunds</w:t></w:r></w:p>
            <w:p><w:pPr><w:numPr/></w:pPr><w:r><w:t>one</w:t></w:r></w:p>
            <w:p><w:pPr><w:numPr/></w:pPr><w:r><w:t>two</w:t></w:r></w:p>
            <w:tbl><w:tr><w:tc><w:p><w:r><w:t>A</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>B</w:t></w:r></w:p></w:tc></w:tr>
            <w:tr><w:tc><w:p><w:r><w:t>1</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>2</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
            </w:body></w:document>"#;
        let mut budget = WorkBudget::new(&Limits::default());
        let (md, _) = body_to_markdown(xml, &HashMap::new(), &mut budget).unwrap();
        assert_eq!(
            md,
            "## Fees & refunds\n\n- one\n- two\n\n| A | B |\n| --- | --- |\n| 1 | 2 |\n"
        );
    }

    #[test]
    fn broken_xml_is_malformed() {
        let mut budget = WorkBudget::new(&Limits::default());
        let err = body_to_markdown(b"<w:p><w:t>x</w:p>", &HashMap::new(), &mut budget).unwrap_err();
        assert!(matches!(
            err,
            ParseError::Malformed {
                format: Format::Docx,
                ..
            }
        ));
    }
}
