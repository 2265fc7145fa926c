//! Markdown helpers shared by every format: line-ending normalisation, escaping of text
//! placed into Markdown, table rendering, and the heading pass that fills the metadata.
//! Not a Markdown renderer.

use crate::limits::WorkBudget;
use crate::{Heading, ParseError};
use pulldown_cmark::{Event, Parser, Tag, TagEnd};

/// Unix line endings and no trailing whitespace at the end of the document.
pub fn normalize(text: &str) -> String {
    let mut out = text.replace("\r\n", "\n").replace('\r', "\n");
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// Plain text as Markdown that reads back as the same text: lines that would become an ATX
/// heading, a setext underline or a quote are escaped; lists and paragraphs stay as they are.
pub fn plain_text(text: &str) -> String {
    let lines: Vec<String> = normalize(text)
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            let underline = !trimmed.is_empty()
                && (trimmed.trim_end().chars().all(|c| c == '=')
                    || trimmed.trim_end().chars().all(|c| c == '-'));
            if trimmed.starts_with('#') || trimmed.starts_with('>') || underline {
                format!("\\{trimmed}")
            } else {
                line.to_string()
            }
        })
        .collect();
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// The headings of `markdown`, in order, as pulldown-cmark (and so the chunker) sees them.
pub fn headings(markdown: &str) -> Vec<Heading> {
    let mut out = Vec::new();
    let mut current: Option<(u8, String)> = None;
    for event in Parser::new(markdown) {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                current = Some((level as u8, String::new()))
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, text)) = current.take() {
                    let text = text.trim().to_string();
                    if !text.is_empty() {
                        out.push(Heading { level, text });
                    }
                }
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, text)) = current.as_mut() {
                    text.push_str(&t);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some((_, text)) = current.as_mut() {
                    text.push(' ');
                }
            }
            _ => {}
        }
    }
    out
}

/// The first level-1 heading, else the first heading of any level.
pub fn title_from_headings(headings: &[Heading]) -> Option<String> {
    headings
        .iter()
        .find(|h| h.level == 1)
        .or_else(|| headings.first())
        .map(|h| h.text.clone())
}

/// Longest first line read as a title, in characters.
const MAX_TITLE_LINE: usize = 120;

/// The first line of a document without headings when it reads as a title: short, not a
/// sentence (no closing punctuation), not a list item, table or code, and followed by more
/// text. Pages saved as text often start so ("Evidence To Support VA Pension Claims |
/// Veterans Affairs").
pub fn title_from_first_line(markdown: &str) -> Option<String> {
    let mut lines = markdown.lines().skip_while(|l| l.trim().is_empty());
    let first = lines.next()?.trim();
    let more = lines.any(|l| l.chars().any(char::is_alphanumeric));
    let structural = first.starts_with(['-', '*', '+', '|', '>', '`', '~', '#', '<', '['])
        || first.chars().next().is_some_and(|c| c.is_ascii_digit());
    let sentence = first.ends_with(['.', '!', '?', ':', ';', ',']);
    let title = first.trim_start_matches('\\').trim();
    (more
        && !structural
        && !sentence
        && title.chars().any(char::is_alphabetic)
        && title.chars().count() <= MAX_TITLE_LINE)
        .then(|| collapse_whitespace(title))
}

/// Collapses runs of whitespace (including newlines) to single spaces.
pub fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A pipe table with the first row as the header; short rows are padded.
///
/// Every cell written, padding included, is a unit of `budget`: one wide row over many short
/// ones would otherwise cost rows × width (a hand-made 0.8 MB CSV outran the fuzzer's 10 s).
pub fn table(rows: &[Vec<String>], budget: &mut WorkBudget) -> Result<String, ParseError> {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    if width == 0 {
        return Ok(String::new());
    }
    budget.spend((rows.len() as u64).saturating_mul(width as u64))?;
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        out.push('|');
        for col in 0..width {
            let cell = row.get(col).map_or("", String::as_str);
            out.push(' ');
            out.push_str(&table_cell(cell));
            out.push_str(" |");
        }
        out.push('\n');
        if i == 0 {
            out.push('|');
            out.push_str(&" --- |".repeat(width));
            out.push('\n');
        }
    }
    Ok(out)
}

fn table_cell(text: &str) -> String {
    collapse_whitespace(text)
        .replace('\\', "\\\\")
        .replace('|', "\\|")
}

/// Joins non-empty blocks with one blank line between them.
pub fn join_blocks(blocks: &[String]) -> String {
    let mut out = String::new();
    for block in blocks
        .iter()
        .map(|b| b.trim_end())
        .filter(|b| !b.trim().is_empty())
    {
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str(block);
    }
    out.push('\n');
    out
}

/// Keeps a paragraph of text from being read as a heading, quote or list.
pub fn escape_block_start(text: &str) -> String {
    let mut chars = text.chars();
    let first = chars.next().unwrap_or(' ');
    let second = chars.next();
    let number = numbered_item(text);
    // A list marker is followed by a space; a rule or an underline is the marker alone. "**Bold**
    // text" starts neither.
    let marker_alone = text.chars().all(|c| c == first || c == ' ');
    let starts_block = match first {
        '#' | '>' => true,
        '-' | '+' | '*' => matches!(second, None | Some(' ' | '\t')) || marker_alone,
        '=' => marker_alone,
        _ => false,
    };
    if starts_block {
        format!("\\{text}")
    } else if let Some(digits) = number {
        // A backslash escapes punctuation only: `1\. ` is text, `\1. ` would show its
        // backslash.
        format!("{}\\{}", &text[..digits], &text[digits..])
    } else {
        text.to_string()
    }
}

/// The length of the number when `text` opens with an ordered list marker (`1. `, `12) `).
pub fn numbered_item(text: &str) -> Option<usize> {
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    let rest = &text[digits..];
    ((1..=9).contains(&digits) && (rest.starts_with(". ") || rest.starts_with(") ")))
        .then_some(digits)
}

/// [`collapse_whitespace`], then the space that padding around emphasis (` **bold** `) left
/// before closing punctuation or after an opening bracket taken out: `**exFAT**, between`,
/// `(*optional*)`.
pub fn collapse_inline(text: &str) -> String {
    let text = collapse_whitespace(text);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ' ' {
            let after_emphasis = out.ends_with('*');
            let closes = chars
                .peek()
                .is_some_and(|n| matches!(n, ',' | '.' | ';' | ':' | '!' | '?' | ')'));
            let after_bracket = out.ends_with('(') && chars.peek() == Some(&'*');
            if (after_emphasis && closes) || after_bracket {
                continue;
            }
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_are_read_with_levels_in_order() {
        let h = headings("# Top\n\ntext\n\n## Sub `code`\n\nSetext\n------\n");
        let got: Vec<_> = h.iter().map(|h| (h.level, h.text.as_str())).collect();
        assert_eq!(got, vec![(1, "Top"), (2, "Sub code"), (2, "Setext")]);
    }

    #[test]
    fn table_pads_short_rows_and_escapes_pipes() {
        let rows = vec![
            vec!["a".to_string(), "b|c".to_string()],
            vec!["1".to_string()],
        ];
        let mut budget = WorkBudget::new(&crate::Limits::default());
        assert_eq!(
            table(&rows, &mut budget).unwrap(),
            "| a | b\\|c |\n| --- | --- |\n| 1 |  |\n"
        );
    }

    #[test]
    fn padding_a_wide_table_spends_the_work_budget() {
        let mut rows = vec![vec![String::new(); 1_000]];
        rows.extend((0..1_000).map(|_| vec!["x".to_string()]));
        let mut budget = WorkBudget::new(&crate::Limits {
            max_work: 100_000,
            ..crate::Limits::default()
        });
        assert!(matches!(
            table(&rows, &mut budget),
            Err(ParseError::TooLarge {
                limit: crate::Limit::Work,
                ..
            })
        ));
    }

    #[test]
    fn plain_text_never_reads_as_headings() {
        let md = plain_text("# not a heading\nTitle\n=====\n> not a quote\n- list stays\n");
        assert_eq!(
            md,
            "\\# not a heading\nTitle\n\\=====\n\\> not a quote\n- list stays\n"
        );
        assert!(headings(&md).is_empty());
    }

    #[test]
    fn normalize_turns_crlf_into_lf() {
        assert_eq!(normalize("a\r\nb\r\n\r\n"), "a\nb\n");
    }

    #[test]
    fn a_title_like_first_line_is_the_title() {
        let page = "Evidence To Support VA Claims | Veterans Affairs\nWe need these documents.\n";
        assert_eq!(
            title_from_first_line(page).as_deref(),
            Some("Evidence To Support VA Claims | Veterans Affairs")
        );
        assert_eq!(
            title_from_first_line("\n  Time series library \n\nA time series is data.\n")
                .as_deref(),
            Some("Time series library")
        );
        for not_a_title in [
            "A sentence that ends.\nMore text.\n",
            "- a list item\nMore.\n",
            "| a | table |\n|---|---|\n",
            "Only one line\n",
            "2023 annual report\nMore.\n",
        ] {
            assert_eq!(title_from_first_line(not_a_title), None, "{not_a_title:?}");
        }
    }
}
