//! Markdown-aware chunking of knowledge-base documents for embedding and keyword indexing.
//!
//! A document is first cut into sections at its top-level headings (a heading inside a list
//! or block quote is content, not a boundary), so every chunk lies inside one section and
//! carries that section's heading path ("Billing › Refunds"). Each section is then split by
//! `text-splitter`'s Markdown splitter: blocks (paragraphs, lists, code, tables) first, then
//! inline runs, then sentences, words and graphemes, with chunk sizes measured in tokens of
//! the embedding model through [`TokenCounter`] and an optional token overlap between
//! neighbouring chunks of a section.
//!
//! Every chunk keeps its document id, its index in the document, its byte range in the
//! Markdown (`text == markdown[byte_range]`) and a stable id derived from all of these, so a
//! citation can point at the exact passage and identical input always yields identical
//! chunks. Not here: parsing files into Markdown (`docparse`), embedding and storing chunks
//! (`edge`).

use std::ops::Range;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use text_splitter::{ChunkConfig, ChunkSizer, MarkdownSplitter};

/// Separator between the headings of a heading path, as shown to people.
pub const HEADING_SEPARATOR: &str = " › ";
/// Token budget per chunk when the caller sets none: the MiniLM default model reads 256
/// tokens including its two special tokens; the rest leaves room for a prompt prefix.
pub const DEFAULT_MAX_TOKENS: usize = 200;
/// Tokens shared by neighbouring chunks of a section when the caller sets none.
pub const DEFAULT_OVERLAP_TOKENS: usize = 30;

/// Counts tokens the way the embedding model's tokenizer does.
///
/// The count is of the text alone, without special tokens (`[CLS]`, `[SEP]`, BOS/EOS): leave
/// room for those in [`ChunkingConfig::max_tokens`]. The splitter relies on two properties
/// every subword tokenizer has: a text never counts more tokens than it has bytes, and a
/// substring never counts more than the text containing it.
pub trait TokenCounter {
    fn count_tokens(&self, text: &str) -> usize;
}

/// An approximation of a subword tokenizer, for callers without the model's tokenizer (and
/// for tests): every character that is neither alphanumeric nor whitespace is one token, and
/// a run of alphanumeric characters is one token per started four characters.
///
/// It leans towards over-counting, the safe side: chunks come out somewhat smaller than the
/// budget and the model never truncates them. On this repository's English Markdown
/// paragraphs it counted 1.00–1.4× (mean 1.14×) the MiniLM WordPiece count, and 0.98–1.5×
/// (mean 1.24×) the EmbeddingGemma SentencePiece count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApproxTokenCounter;

/// Characters of a word counted as one token by [`ApproxTokenCounter`].
const APPROX_CHARS_PER_TOKEN: usize = 4;

impl TokenCounter for ApproxTokenCounter {
    fn count_tokens(&self, text: &str) -> usize {
        let mut tokens = 0;
        let mut run = 0usize;
        for c in text.chars() {
            if c.is_alphanumeric() {
                run += 1;
                continue;
            }
            tokens += run.div_ceil(APPROX_CHARS_PER_TOKEN);
            run = 0;
            if !c.is_whitespace() {
                tokens += 1;
            }
        }
        tokens + run.div_ceil(APPROX_CHARS_PER_TOKEN)
    }
}

/// Why a chunking configuration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkingConfigError {
    /// A chunk must be allowed at least one token.
    ZeroMaxTokens,
    /// The overlap must be smaller than the chunk, or chunking would never advance.
    OverlapNotBelowMax,
}

impl std::fmt::Display for ChunkingConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ZeroMaxTokens => f.write_str("max_tokens must be at least 1"),
            Self::OverlapNotBelowMax => f.write_str("overlap_tokens must be below max_tokens"),
        }
    }
}

impl std::error::Error for ChunkingConfigError {}

/// How large chunks may be and how much neighbours share, in tokens. Valid by construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkingConfig {
    max_tokens: usize,
    overlap_tokens: usize,
}

impl ChunkingConfig {
    pub fn new(max_tokens: usize, overlap_tokens: usize) -> Result<Self, ChunkingConfigError> {
        if max_tokens == 0 {
            return Err(ChunkingConfigError::ZeroMaxTokens);
        }
        if overlap_tokens >= max_tokens {
            return Err(ChunkingConfigError::OverlapNotBelowMax);
        }
        Ok(Self {
            max_tokens,
            overlap_tokens,
        })
    }

    /// Most tokens in one chunk.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Most tokens a chunk repeats from the end of the previous chunk of its section.
    pub fn overlap_tokens(&self) -> usize {
        self.overlap_tokens
    }
}

impl Default for ChunkingConfig {
    fn default() -> Self {
        Self {
            max_tokens: DEFAULT_MAX_TOKENS,
            overlap_tokens: DEFAULT_OVERLAP_TOKENS,
        }
    }
}

/// One passage of a document, ready to embed, index and cite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// Hex SHA-256 of the document id, byte range and text: stable across runs, unique.
    pub id: String,
    pub document_id: String,
    /// Position among the document's chunks, from 0, in reading order.
    pub index: usize,
    /// Where the text sits in the Markdown: `text == markdown[byte_range]`.
    pub byte_range: Range<usize>,
    /// Titles of the headings above the passage, outermost first; empty before the first
    /// heading.
    pub heading_path: Vec<String>,
    pub text: String,
    /// Tokens in `text` by the counter used for chunking.
    pub token_count: usize,
}

impl Chunk {
    /// The heading path as shown to people: "Billing › Refunds".
    pub fn heading_label(&self) -> String {
        self.heading_path.join(HEADING_SEPARATOR)
    }
}

/// Splits a Markdown document into chunks of at most `config.max_tokens()` tokens.
///
/// Guarantees, for any input:
/// - chunks are in reading order, and every non-whitespace byte of `markdown` is in at least
///   one chunk (only whitespace between chunks is left out);
/// - a chunk never spans a top-level heading, and the heading starting a section is in its
///   first chunk;
/// - a chunk overlaps only the previous chunk of its own section, by at most
///   `config.overlap_tokens()` tokens;
/// - a chunk has at most `config.max_tokens()` tokens. The one exception is a single
///   grapheme that on its own counts more tokens than the budget, which cannot be split;
///   with any budget of a few tokens this does not happen.
pub fn chunk_markdown<C: TokenCounter + ?Sized>(
    document_id: &str,
    markdown: &str,
    config: &ChunkingConfig,
    counter: &C,
) -> Vec<Chunk> {
    let sizer = CounterSizer(counter);
    // Cannot fail: `ChunkingConfig` already holds overlap < max.
    let splitter_config = ChunkConfig::new(config.max_tokens)
        .with_overlap(config.overlap_tokens)
        .unwrap_or_else(|_| ChunkConfig::new(config.max_tokens))
        .with_sizer(&sizer);
    let splitter = MarkdownSplitter::new(splitter_config);

    let mut chunks = Vec::new();
    for section in sections(markdown) {
        let section_text = &markdown[section.range.clone()];
        for (offset, text) in splitter.chunk_indices(section_text) {
            let start = section.range.start + offset;
            let byte_range = start..start + text.len();
            chunks.push(Chunk {
                id: chunk_id(document_id, &byte_range, text),
                document_id: document_id.to_owned(),
                index: chunks.len(),
                byte_range,
                heading_path: section.heading_path.clone(),
                text: text.to_owned(),
                token_count: counter.count_tokens(text),
            });
        }
    }
    chunks
}

/// Lets text-splitter measure chunks with a [`TokenCounter`].
struct CounterSizer<'a, C: ?Sized>(&'a C);

impl<C: TokenCounter + ?Sized> ChunkSizer for CounterSizer<'_, C> {
    fn size(&self, chunk: &str) -> usize {
        self.0.count_tokens(chunk)
    }
}

fn chunk_id(document_id: &str, byte_range: &Range<usize>, text: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update((document_id.len() as u64).to_be_bytes());
    hasher.update(document_id.as_bytes());
    hasher.update((byte_range.start as u64).to_be_bytes());
    hasher.update((byte_range.end as u64).to_be_bytes());
    hasher.update(text.as_bytes());
    hex::encode(hasher.finalize())
}

/// A stretch of the document from one top-level heading to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Section {
    range: Range<usize>,
    heading_path: Vec<String>,
}

/// Cuts the document at its top-level headings. The text before the first heading (if any)
/// is a section with an empty heading path.
fn sections(markdown: &str) -> Vec<Section> {
    // (level, title) of the headings enclosing the current position.
    let mut open: Vec<(u8, String)> = Vec::new();
    let mut sections = Vec::new();
    let mut section_start = 0;
    let mut depth = 0usize;
    // The heading being read: its level, start and title so far.
    let mut heading: Option<(u8, usize, String)> = None;

    for (event, range) in Parser::new_ext(markdown, Options::all()).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { level, .. }) if depth == 0 => {
                heading = Some((level as u8, range.start, String::new()));
                depth += 1;
            }
            Event::Start(_) => depth += 1,
            Event::End(TagEnd::Heading(_)) if depth == 1 && heading.is_some() => {
                depth -= 1;
                let Some((level, start, title)) = heading.take() else {
                    continue;
                };
                if start > section_start {
                    sections.push(Section {
                        range: section_start..start,
                        heading_path: path_of(&open),
                    });
                }
                section_start = start;
                while open.last().is_some_and(|(l, _)| *l >= level) {
                    open.pop();
                }
                open.push((level, collapse_whitespace(&title)));
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Text(t) | Event::Code(t) | Event::InlineMath(t) | Event::InlineHtml(t) => {
                if let Some((_, _, title)) = heading.as_mut() {
                    title.push_str(&t);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some((_, _, title)) = heading.as_mut() {
                    title.push(' ');
                }
            }
            _ => {}
        }
    }
    if section_start < markdown.len() {
        sections.push(Section {
            range: section_start..markdown.len(),
            heading_path: path_of(&open),
        });
    }
    sections
}

/// The non-empty titles of the enclosing headings (an empty `#` keeps its level but shows
/// nothing).
fn path_of(open: &[(u8, String)]) -> Vec<String> {
    open.iter()
        .filter(|(_, title)| !title.is_empty())
        .map(|(_, title)| title.clone())
        .collect()
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max: usize, overlap: usize) -> ChunkingConfig {
        ChunkingConfig::new(max, overlap).expect("valid config")
    }

    fn chunk(markdown: &str, max: usize, overlap: usize) -> Vec<Chunk> {
        chunk_markdown(
            "doc-1",
            markdown,
            &config(max, overlap),
            &ApproxTokenCounter,
        )
    }

    #[test]
    fn approximate_counter_counts_word_pieces_and_punctuation() {
        let cases = [
            ("", 0),
            ("   \n\t", 0),
            ("a", 1),
            ("word", 1),
            ("words", 2),
            ("refund policy", 4),
            ("Hello, world!", 6),
            ("2024-11-26", 5),
            ("café", 1),
            ("日本語", 1),
            ("**bold**", 5),
            ("👍", 1),
        ];
        for (text, expected) in cases {
            assert_eq!(ApproxTokenCounter.count_tokens(text), expected, "{text:?}");
        }
    }

    #[test]
    fn approximate_counter_never_exceeds_byte_length() {
        for text in ["a", "a.b", "!!!", "é", "x y z", "𝔘𝔫𝔦", "a\u{301}"] {
            assert!(
                ApproxTokenCounter.count_tokens(text) <= text.len(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn config_refuses_zero_budget_and_overlap_not_below_budget() {
        let cases = [
            (0, 0, Err(ChunkingConfigError::ZeroMaxTokens)),
            (10, 10, Err(ChunkingConfigError::OverlapNotBelowMax)),
            (10, 11, Err(ChunkingConfigError::OverlapNotBelowMax)),
            (10, 9, Ok((10, 9))),
            (1, 0, Ok((1, 0))),
        ];
        for (max, overlap, expected) in cases {
            let got =
                ChunkingConfig::new(max, overlap).map(|c| (c.max_tokens(), c.overlap_tokens()));
            assert_eq!(got, expected, "max {max} overlap {overlap}");
        }
    }

    #[test]
    fn heading_paths_follow_the_heading_hierarchy() {
        let markdown = "Intro text.\n\n# Billing\n\nAbout billing.\n\n## Refunds\n\nRefund text.\n\n\
                        ### Partial\n\nPartial text.\n\n## Invoices\n\nInvoice text.\n\n\
                        # Shipping\n\nShipping text.\n\n### Deep\n\nSkipped a level.\n";
        let cases = [
            ("Intro text.", vec![]),
            ("About billing.", vec!["Billing"]),
            ("Refund text.", vec!["Billing", "Refunds"]),
            ("Partial text.", vec!["Billing", "Refunds", "Partial"]),
            ("Invoice text.", vec!["Billing", "Invoices"]),
            ("Shipping text.", vec!["Shipping"]),
            ("Skipped a level.", vec!["Shipping", "Deep"]),
        ];
        let chunks = chunk(markdown, 50, 0);
        for (needle, path) in cases {
            let found = chunks
                .iter()
                .find(|c| c.text.contains(needle))
                .unwrap_or_else(|| panic!("no chunk holds {needle:?}"));
            assert_eq!(found.heading_path, path, "{needle:?}");
        }
        let partial = chunks
            .iter()
            .find(|c| c.text.contains("Partial text."))
            .unwrap();
        assert_eq!(partial.heading_label(), "Billing › Refunds › Partial");
    }

    #[test]
    fn only_top_level_headings_start_sections() {
        let cases = [
            // A `#` line inside a code fence is code.
            (
                "# A\n\n```\n# not a heading\n```\n\nafter\n",
                "after",
                vec!["A"],
            ),
            // A heading inside a block quote or list item is content of the section.
            (
                "# A\n\n> ## Quoted\n> quoted body\n\nafter\n",
                "after",
                vec!["A"],
            ),
            ("# A\n\n- ## In list\n\nafter\n", "after", vec!["A"]),
            // Setext headings count, and their title is the text, not the underline.
            (
                "Title\n=====\n\nSub\n---\n\nbody\n",
                "body",
                vec!["Title", "Sub"],
            ),
            // Inline markup is dropped from titles, whitespace collapsed.
            (
                "# The *best*   `plan`\n\nbody\n",
                "body",
                vec!["The best plan"],
            ),
            // An empty heading keeps its level but adds no title.
            ("# A\n\n##\n\nbody\n", "body", vec!["A"]),
        ];
        for (markdown, needle, path) in cases {
            let chunks = chunk(markdown, 100, 0);
            let found = chunks.iter().find(|c| c.text.contains(needle)).unwrap();
            assert_eq!(found.heading_path, path, "{markdown:?}");
        }
    }

    #[test]
    fn chunks_never_span_two_sections() {
        // Both sections together fit the budget, yet they are chunked apart.
        let chunks = chunk("# One\n\nfirst\n\n# Two\n\nsecond\n", 100, 0);
        let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["# One\n\nfirst", "# Two\n\nsecond"]);
    }

    #[test]
    fn long_paragraph_splits_at_sentences_with_overlap() {
        let sentence = "The refund reaches the original card within five days.";
        let paragraph = [sentence; 12].join(" ");
        let markdown = format!("# Refunds\n\n{paragraph}\n");
        let chunks = chunk(&markdown, 40, 15);
        assert!(chunks.len() > 2);
        let overlapping = chunks
            .windows(2)
            .filter(|w| w[1].byte_range.start < w[0].byte_range.end)
            .count();
        assert!(overlapping > 0, "no chunk repeats the previous one's end");
        for c in &chunks[1..] {
            assert!(
                c.text.starts_with("The refund"),
                "not cut at a sentence: {:?}",
                c.text
            );
        }
    }

    #[test]
    fn empty_and_blank_documents_have_no_chunks() {
        for markdown in ["", " ", "\n\n\t\n"] {
            assert!(chunk(markdown, 10, 0).is_empty(), "{markdown:?}");
        }
    }

    #[test]
    fn identical_input_gives_identical_chunks_and_ids_depend_on_document() {
        let markdown = "# A\n\nsame text\n\n# B\n\nsame text\n";
        let first = chunk(markdown, 10, 2);
        assert_eq!(first, chunk(markdown, 10, 2));
        let other = chunk_markdown("doc-2", markdown, &config(10, 2), &ApproxTokenCounter);
        for (a, b) in first.iter().zip(&other) {
            assert_eq!(a.text, b.text);
            assert_ne!(a.id, b.id);
        }
        // Same text at two places of one document: two ids.
        assert_ne!(first[0].id, first[1].id);
        assert_eq!(first[0].id.len(), 64);
    }

    /// Deterministic pseudo-random numbers for generated documents (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
        }
    }

    const WORDS: &[&str] = &[
        "refund",
        "order",
        "the",
        "a",
        "shipping",
        "invoice",
        "customer",
        "délai",
        "日本",
        "account",
        "password",
        "reset",
        "within",
        "days",
        "🙂",
        "x",
        "supercalifragilistic",
        "e-mail",
        "don't",
        "2024",
        "**bold**",
        "`code`",
        "[link](https://example.com/a)",
    ];

    /// A generated document, and the expected heading path of every byte.
    fn generate(rng: &mut Rng) -> (String, Vec<Vec<String>>) {
        let mut markdown = String::new();
        let mut paths = Vec::new();
        let mut open: Vec<(usize, String)> = Vec::new();
        let push = |markdown: &mut String,
                    paths: &mut Vec<Vec<String>>,
                    s: &str,
                    p: &[(usize, String)]| {
            markdown.push_str(s);
            let path: Vec<String> = p.iter().map(|(_, t)| t.clone()).collect();
            paths.extend(std::iter::repeat_n(path, s.len()));
        };
        for block in 0..rng.below(12) + 1 {
            match rng.below(6) {
                0 => {
                    let level = rng.below(3) + 1;
                    let title = format!("Heading {block}");
                    while open.last().is_some_and(|(l, _)| *l >= level) {
                        open.pop();
                    }
                    open.push((level, title.clone()));
                    let line = format!("{} {title}\n\n", "#".repeat(level));
                    push(&mut markdown, &mut paths, &line, &open);
                }
                1 => {
                    let items: String = (0..rng.below(4) + 1)
                        .map(|_| {
                            format!(
                                "- {} {}\n",
                                WORDS[rng.below(WORDS.len())],
                                WORDS[rng.below(WORDS.len())]
                            )
                        })
                        .collect();
                    push(&mut markdown, &mut paths, &format!("{items}\n"), &open);
                }
                2 => {
                    let code = "```\n# not a heading\nlet x = 1;\n```\n\n";
                    push(&mut markdown, &mut paths, code, &open);
                }
                3 => {
                    let run = "y".repeat(rng.below(300) + 1);
                    push(&mut markdown, &mut paths, &format!("{run}\n\n"), &open);
                }
                _ => {
                    let mut paragraph = String::new();
                    for _ in 0..rng.below(40) + 1 {
                        paragraph.push_str(WORDS[rng.below(WORDS.len())]);
                        paragraph.push_str(match rng.below(8) {
                            0 => ". ",
                            1 => ", ",
                            2 => "\n",
                            _ => " ",
                        });
                    }
                    push(
                        &mut markdown,
                        &mut paths,
                        &format!("{paragraph}\n\n"),
                        &open,
                    );
                }
            }
        }
        (markdown, paths)
    }

    #[test]
    fn generated_documents_keep_every_chunking_guarantee() {
        let counter = ApproxTokenCounter;
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for (max, overlap) in [(1, 0), (3, 1), (8, 0), (8, 4), (20, 5), (64, 16), (500, 50)] {
            let mut overlapping_pairs = 0;
            for _ in 0..60 {
                let (markdown, paths) = generate(&mut rng);
                let cfg = config(max, overlap);
                let chunks = chunk_markdown("doc", &markdown, &cfg, &counter);
                let context = format!("max {max} overlap {overlap} markdown {markdown:?}");

                let mut covered = vec![false; markdown.len()];
                let mut ids = std::collections::HashSet::new();
                for (i, c) in chunks.iter().enumerate() {
                    assert_eq!(c.index, i, "{context}");
                    assert_eq!(&markdown[c.byte_range.clone()], c.text, "{context}");
                    assert!(!c.text.trim().is_empty(), "{context}");
                    assert_eq!(c.token_count, counter.count_tokens(&c.text), "{context}");
                    assert!(
                        c.token_count <= max,
                        "{} tokens in {:?}; {context}",
                        c.token_count,
                        c.text
                    );
                    assert_eq!(
                        c.heading_path, paths[c.byte_range.start],
                        "{:?}; {context}",
                        c.text
                    );
                    assert!(ids.insert(c.id.clone()), "duplicate id; {context}");
                    covered[c.byte_range.clone()].fill(true);
                }
                for w in chunks.windows(2) {
                    let (a, b) = (&w[0], &w[1]);
                    assert!(a.byte_range.start < b.byte_range.start, "{context}");
                    assert!(a.byte_range.end < b.byte_range.end, "{context}");
                    if b.byte_range.start < a.byte_range.end {
                        overlapping_pairs += 1;
                        assert_eq!(
                            a.heading_path, b.heading_path,
                            "overlap across sections; {context}"
                        );
                        let shared = &markdown[b.byte_range.start..a.byte_range.end];
                        assert!(
                            counter.count_tokens(shared) <= overlap,
                            "overlap {shared:?}; {context}"
                        );
                    }
                }
                for (i, c) in markdown.char_indices() {
                    assert!(
                        c.is_whitespace() || covered[i],
                        "byte {i} ({c:?}) not in any chunk; {context}"
                    );
                }
                assert_eq!(
                    chunks,
                    chunk_markdown("doc", &markdown, &cfg, &counter),
                    "{context}"
                );
            }
            // The generated documents are long enough for small budgets to need overlap.
            if overlap > 0 && max <= 64 {
                assert!(
                    overlapping_pairs > 0,
                    "max {max} overlap {overlap}: never overlapped"
                );
            }
        }
    }
}
