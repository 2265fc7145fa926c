//! HTML to Markdown: the main content only. Scripts, styles, navigation, headers, footers,
//! asides, forms and hidden elements are dropped; headings, paragraphs, lists, tables,
//! code blocks, quotes, emphasis and absolute links are kept. Not a general HTML-to-
//! Markdown converter: layout and unknown markup collapse to paragraphs of text.

use crate::limits::WorkBudget;
use crate::{Converted, Limits, ParseError, markdown};
use scraper::{ElementRef, Html, Node, Selector};

/// Elements whose content is boilerplate or not text.
const DROPPED: &[&str] = &[
    "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "svg", "iframe",
    "form", "button", "select", "head", "object", "canvas", "dialog",
];
/// ARIA landmark roles that mark boilerplate.
const DROPPED_ROLES: &[&str] = &[
    "navigation",
    "banner",
    "contentinfo",
    "search",
    "complementary",
];
const INLINE: &[&str] = &[
    "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "i", "kbd", "mark", "q",
    "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var", "img", "label",
    "font", "br", "wbr", "del", "ins",
];
/// Nesting beyond this is flattened to text, so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 200;

/// Deepest element nesting handed to the HTML parser, whose tree builder costs time
/// proportional to the depth for many start tags: 5,000 nested `<div>`s parse in 0.08 s,
/// 40,000 in 2.5 s (release build); 15,000 unclosed ones outran the fuzzer's 10 s per input.
const MAX_PARSE_DEPTH: usize = 5_000;

/// Elements that never stay open: void elements, and those a sibling start tag closes
/// (`<p>`, `<li>`, table cells and rows, ...), so that they cannot build depth.
const NOT_NESTING: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "tbody", "thead", "tfoot", "option",
    "optgroup", "rb", "rt", "rp", "colgroup", "caption",
];

pub fn convert(text: &str, limits: &Limits) -> Result<Converted, ParseError> {
    if open_element_depth(text.as_bytes()) > MAX_PARSE_DEPTH {
        return Err(ParseError::Malformed {
            format: crate::Format::Html,
            detail: format!("elements nested more than {MAX_PARSE_DEPTH} deep"),
        });
    }
    let document = Html::parse_document(text);
    let title = select_first(&document, "title")
        .map(|t| markdown::collapse_whitespace(&t.text().collect::<String>()))
        .filter(|t| !t.is_empty());
    let root = ["main", "[role=main]", "article", "body"]
        .iter()
        .find_map(|s| select_first(&document, s))
        .unwrap_or_else(|| document.root_element());
    let mut walker = Walker {
        blocks: Vec::new(),
        inline: String::new(),
        budget: WorkBudget::new(limits),
    };
    walker.block(root, 0)?;
    walker.flush();
    Ok(Converted {
        markdown: markdown::join_blocks(&walker.blocks),
        title,
        pages: Vec::new(),
    })
}

/// How deep start tags nest, counted from the tags alone (no tree building): start tags
/// of elements that can stay open add one, end tags take one away. Comments, doctypes and
/// the raw text of `<script>` and `<style>` are skipped.
fn open_element_depth(html: &[u8]) -> usize {
    let (mut depth, mut max, mut i) = (0usize, 0usize, 0usize);
    let find_from = |from: usize, needle: &[u8]| {
        html[from..]
            .windows(needle.len())
            .position(|w| w.eq_ignore_ascii_case(needle))
            .map_or(html.len(), |p| from + p + needle.len())
    };
    while i < html.len() {
        if html[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &html[i + 1..];
        if rest.starts_with(b"!--") {
            i = find_from(i, b"-->");
            continue;
        }
        let closing = rest.first() == Some(&b'/');
        let name_start = i + 1 + usize::from(closing);
        let name_len = html[name_start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-')
            .count();
        if name_len == 0 || !html[name_start].is_ascii_alphabetic() {
            // Only a real tag is skipped to its `>`: searching from every stray `<` would
            // make a page of `< < < ...` quadratic.
            i = if closing
                || html.get(name_start) == Some(&b'!')
                || html.get(name_start) == Some(&b'?')
            {
                find_from(name_start, b">")
            } else {
                i + 1
            };
            continue;
        }
        let end = find_from(name_start, b">");
        let name =
            String::from_utf8_lossy(&html[name_start..name_start + name_len]).to_ascii_lowercase();
        let self_closing = end >= 2 && html[end - 2] == b'/';
        if closing {
            depth = depth.saturating_sub(1);
        } else if !self_closing && !NOT_NESTING.contains(&name.as_str()) {
            depth += 1;
            max = max.max(depth);
        }
        i = end;
        if !closing && matches!(name.as_str(), "script" | "style") {
            let close = format!("</{name}");
            i = find_from(i, close.as_bytes());
        }
    }
    max
}

fn select_first<'a>(document: &'a Html, selector: &str) -> Option<ElementRef<'a>> {
    let selector = Selector::parse(selector).ok()?;
    document.select(&selector).next()
}

fn is_dropped(el: &ElementRef) -> bool {
    let e = el.value();
    DROPPED.contains(&e.name())
        || e.attr("hidden").is_some()
        || e.attr("aria-hidden") == Some("true")
        || e.attr("role").is_some_and(|r| DROPPED_ROLES.contains(&r))
}

struct Walker {
    blocks: Vec<String>,
    inline: String,
    budget: WorkBudget,
}

impl Walker {
    fn flush(&mut self) {
        let text = markdown::collapse_inline(&self.inline);
        self.inline.clear();
        if !text.is_empty() {
            self.blocks.push(markdown::escape_block_start(&text));
        }
    }

    fn block(&mut self, el: ElementRef, depth: usize) -> Result<(), ParseError> {
        for child in el.children() {
            self.budget.spend(1)?;
            match child.value() {
                Node::Text(t) => self.inline.push_str(t),
                Node::Element(_) => {
                    let Some(child) = ElementRef::wrap(child) else {
                        continue;
                    };
                    if is_dropped(&child) {
                        continue;
                    }
                    self.element(child, depth + 1)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn element(&mut self, el: ElementRef, depth: usize) -> Result<(), ParseError> {
        let name = el.value().name();
        if depth > MAX_DEPTH {
            self.inline.push(' ');
            self.inline.extend(el.text());
            return Ok(());
        }
        if INLINE.contains(&name) {
            let text = self.inline_element(el, depth)?;
            self.inline.push_str(&text);
            return Ok(());
        }
        self.flush();
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                let level = usize::from(name.as_bytes()[1] - b'0');
                let text = markdown::collapse_inline(&self.inline_of(el, depth)?);
                if !text.is_empty() {
                    self.blocks.push(format!("{} {text}", "#".repeat(level)));
                }
            }
            "ul" | "ol" => {
                let items = self.list(el, depth, 0)?;
                self.blocks.push(items);
            }
            "pre" => {
                let code: String = el.text().collect();
                let fence = if code.contains("```") { "````" } else { "```" };
                self.blocks
                    .push(format!("{fence}\n{}\n{fence}", code.trim_end_matches('\n')));
            }
            "table" => {
                let rows = self.table_rows(el, depth)?;
                let table = markdown::table(&rows, &mut self.budget)?;
                self.blocks.push(table);
            }
            "blockquote" => {
                let mut inner = Walker {
                    blocks: Vec::new(),
                    inline: String::new(),
                    budget: self.take_budget(),
                };
                inner.block(el, depth)?;
                inner.flush();
                self.budget = inner.budget;
                let quoted = markdown::join_blocks(&inner.blocks);
                let quoted: Vec<String> = quoted.lines().map(|l| format!("> {l}")).collect();
                self.blocks.push(quoted.join("\n").replace("> \n", ">\n"));
            }
            "hr" => self.blocks.push("---".into()),
            _ => {
                self.block(el, depth)?;
                self.flush();
            }
        }
        Ok(())
    }

    fn take_budget(&mut self) -> WorkBudget {
        std::mem::replace(&mut self.budget, WorkBudget::exhausted())
    }

    /// Inline Markdown of `el`'s content (emphasis, code, links, image alt text).
    fn inline_of(&mut self, el: ElementRef, depth: usize) -> Result<String, ParseError> {
        let mut out = String::new();
        for child in el.children() {
            self.budget.spend(1)?;
            match child.value() {
                Node::Text(t) => out.push_str(t),
                Node::Element(_) => {
                    if let Some(child) = ElementRef::wrap(child) {
                        out.push_str(&self.inline_element(child, depth + 1)?);
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// One element as inline Markdown, wrapped in its emphasis, code or link syntax.
    fn inline_element(&mut self, el: ElementRef, depth: usize) -> Result<String, ParseError> {
        if is_dropped(&el) {
            return Ok(String::new());
        }
        if depth > MAX_DEPTH {
            return Ok(el.text().collect());
        }
        let e = el.value();
        let inner = self.inline_of(el, depth)?;
        let trimmed = markdown::collapse_whitespace(&inner);
        Ok(match e.name() {
            "strong" | "b" if !trimmed.is_empty() => format!(" **{trimmed}** "),
            "em" | "i" if !trimmed.is_empty() => format!(" *{trimmed}* "),
            "code" if !trimmed.is_empty() => format!("`{trimmed}`"),
            "a" => match e.attr("href") {
                Some(href)
                    if !trimmed.is_empty()
                        && (href.starts_with("http://")
                            || href.starts_with("https://")
                            || href.starts_with("mailto:")) =>
                {
                    format!("[{trimmed}]({})", href.replace(' ', "%20"))
                }
                _ => inner,
            },
            "img" => e.attr("alt").unwrap_or_default().to_string(),
            "br" => " ".to_string(),
            name if INLINE.contains(&name) => inner,
            // A block element inside inline content (a <p> in a <td>) still separates words.
            _ => format!(" {inner} "),
        })
    }

    fn list(&mut self, el: ElementRef, depth: usize, indent: usize) -> Result<String, ParseError> {
        let ordered = el.value().name() == "ol";
        let mut lines = Vec::new();
        let mut n = 0;
        for item in el.child_elements() {
            self.budget.spend(1)?;
            if item.value().name() != "li" || is_dropped(&item) {
                continue;
            }
            n += 1;
            let mut text = String::new();
            let mut nested = Vec::new();
            for child in item.children() {
                self.budget.spend(1)?;
                match ElementRef::wrap(child) {
                    Some(c) if matches!(c.value().name(), "ul" | "ol") && depth < MAX_DEPTH => {
                        nested.push(self.list(c, depth + 1, indent + 1)?);
                    }
                    // Emphasis, code and links as inline Markdown; a block (a <p>) apart.
                    Some(c) => text.push_str(&self.inline_element(c, depth + 1)?),
                    None => {
                        if let Node::Text(t) = child.value() {
                            text.push_str(t);
                        }
                    }
                }
            }
            let marker = if ordered { format!("{n}.") } else { "-".into() };
            lines.push(format!(
                "{}{marker} {}",
                "  ".repeat(indent),
                markdown::collapse_inline(&text)
            ));
            lines.extend(nested);
        }
        Ok(lines.join("\n"))
    }

    fn table_rows(&mut self, el: ElementRef, depth: usize) -> Result<Vec<Vec<String>>, ParseError> {
        let mut rows = Vec::new();
        let row_sel = Selector::parse("tr").expect("static selector");
        for row in el.select(&row_sel) {
            let mut cells = Vec::new();
            for cell in row.child_elements() {
                self.budget.spend(1)?;
                if matches!(cell.value().name(), "td" | "th") {
                    cells.push(markdown::collapse_inline(&self.inline_of(cell, depth + 1)?));
                }
            }
            if !cells.is_empty() {
                rows.push(cells);
            }
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(html: &str) -> String {
        convert(html, &Limits::default()).unwrap().markdown
    }

    #[test]
    fn boilerplate_is_dropped_and_content_kept() {
        let out = md(
            "<html><head><title>T</title><style>p{}</style></head><body>\
            <header>Site header</header><nav><a href='/'>Home</a></nav>\
            <h1>Refunds</h1><p>Money <b>back</b> in 5 days.</p>\
            <script>alert(1)</script><footer>© Co</footer></body></html>",
        );
        assert_eq!(out, "# Refunds\n\nMoney **back** in 5 days.\n");
    }

    #[test]
    fn lists_tables_and_links_become_markdown() {
        let out = md(
            "<body><ul><li>one<ul><li>inner</li></ul></li><li>two</li></ul>\
            <ol><li>first</li></ol>\
            <table><tr><th>Plan</th><th>Price</th></tr><tr><td>Pro</td><td>9</td></tr></table>\
            <p>See <a href='https://x.test/a'>docs</a> and <a href='/rel'>here</a>.</p></body>",
        );
        assert!(out.contains("- one\n  - inner\n- two"), "{out}");
        assert!(out.contains("1. first"), "{out}");
        assert!(
            out.contains("| Plan | Price |\n| --- | --- |\n| Pro | 9 |"),
            "{out}"
        );
        assert!(
            out.contains("See [docs](https://x.test/a) and here."),
            "{out}"
        );
    }

    #[test]
    fn emphasis_keeps_its_markup_and_no_space_before_punctuation() {
        // A paragraph opening with bold is no list item to escape.
        assert_eq!(
            md("<p><strong>We never sell your data</strong>, and never will.</p>"),
            "**We never sell your data**, and never will.\n"
        );
        // A list item keeps its emphasis, and words stay apart only where the page has a space.
        assert_eq!(
            md(
                "<ul><li><strong>Local storage.</strong> Format it as <strong>exFAT</strong>, \
                 then <code>retry</code> (<em>optional</em>).</li></ul>"
            ),
            "- **Local storage.** Format it as **exFAT**, then `retry` (*optional*).\n"
        );
        assert_eq!(
            md("<ul><li><p>Step one.</p><p>Step two.</p></li></ul>"),
            "- Step one. Step two.\n"
        );
        // What does start a block is still escaped.
        assert_eq!(md("<p>* not a list item</p>"), "\\* not a list item\n");
        assert_eq!(md("<p>***</p>"), "\\***\n");
        // An ordered list marker is escaped at its punctuation, the one place a backslash
        // escapes.
        assert_eq!(md("<p>2019. A good year</p>"), "2019\\. A good year\n");
    }

    #[test]
    fn main_element_is_preferred_over_the_whole_body() {
        let out = md("<body><div>sidebar junk</div><main><h2>Only this</h2></main></body>");
        assert_eq!(out, "## Only this\n");
    }

    #[test]
    fn paragraph_text_that_looks_like_markdown_is_escaped() {
        assert_eq!(md("<p># not a heading</p>"), "\\# not a heading\n");
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let html = format!(
            "{}deep text{}",
            "<div>".repeat(5_000),
            "</div>".repeat(5_000)
        );
        assert!(md(&html).contains("deep text"));
    }

    #[test]
    fn nesting_is_counted_from_tags_without_auto_closed_or_void_elements() {
        assert_eq!(open_element_depth(b"<div><span>a</span><b>x</b></div>"), 2);
        assert_eq!(open_element_depth(b"<p>a<p>b<br><img src=x><li>c<td>d"), 0);
        assert_eq!(open_element_depth(b"<!-- <div><div> --><x/><div>"), 1);
        assert_eq!(
            open_element_depth(b"<script>if (a<b) { x = '<div><div>' }</script><i>"),
            2
        );
        assert_eq!(open_element_depth(b"a < b and <3 and </div>"), 0);
        // Stray `<`s and tags without `>` are each read once, not rescanned to the end.
        assert_eq!(open_element_depth(&b"< ".repeat(200_000)), 0);
        assert_eq!(open_element_depth(&b"<b".repeat(200_000)), 1);
    }

    #[test]
    fn nesting_deeper_than_the_parse_depth_is_malformed() {
        let html = format!(
            "{}deep{}",
            "<div>".repeat(100_000),
            "</div>".repeat(100_000)
        );
        assert!(matches!(
            convert(&html, &Limits::default()),
            Err(ParseError::Malformed { .. })
        ));
    }

    #[test]
    fn many_nodes_exceed_the_work_limit() {
        let limits = Limits {
            max_work: 50,
            ..Limits::default()
        };
        let html = "<p>x</p>".repeat(100);
        assert!(matches!(
            convert(&html, &limits),
            Err(ParseError::TooLarge { .. })
        ));
    }
}
