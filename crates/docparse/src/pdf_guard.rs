//! Checks a PDF for what `catch_unwind` around the extractor cannot contain (and what traps
//! the wasm component, where nothing is caught): nesting deep enough to overflow the stack
//! in lopdf's recursive parser, compressed streams that inflate without bound (a PDF zip
//! bomb), a page tree whose `/Parent` chain loops (pdf-extract follows it for inherited
//! resources forever) and form XObjects that draw themselves (pdf-extract recurses into
//! every `Do`). Each was found with a hand-made hostile file (see the tests and
//! fuzz/regressions/pdf). Not a validator: everything else is the extractor's to refuse.
//!
//! Known gap: only zlib (`FlateDecode`) streams are inflated here, so a bomb built from
//! `LZWDecode` or `RunLengthDecode` is bounded only by those filters' lower ratios.

use crate::{Format, Limit, Limits, ParseError};
use pdf_extract::{Dictionary, Document, Object, ObjectId};
use std::collections::{HashMap, HashSet};
use std::io::Read;

/// Deepest nesting of arrays and dictionaries accepted; real files stay below ten.
const MAX_NESTING: usize = 64;
/// Longest `/Parent` chain from a page to the root of the page tree.
const MAX_PARENT_CHAIN: usize = 64;
/// Deepest chain of form XObjects drawing form XObjects; each level is a recursive call
/// with a large frame in the extractor.
const MAX_FORM_DEPTH: usize = 12;
/// How far before a `stream` keyword its object's dictionary is looked for.
const DICT_LOOKBACK: usize = 4096;
/// Layers of zlib inside zlib followed when measuring a stream.
const MAX_ZLIB_LAYERS: usize = 3;

fn malformed(detail: &str) -> ParseError {
    ParseError::Malformed {
        format: Format::Pdf,
        detail: detail.to_string(),
    }
}

fn too_deep() -> ParseError {
    malformed("arrays or dictionaries nested too deeply")
}

/// Before lopdf parses `bytes`: nesting in the file and in its object streams, and the total
/// size every zlib stream inflates to.
pub fn check_bytes(bytes: &[u8], limits: &Limits) -> Result<(), ParseError> {
    if nesting_depth(bytes, Syntax::File) > MAX_NESTING {
        return Err(too_deep());
    }
    let mut inflated = 0u64;
    for (dict, body) in streams(bytes) {
        let object_stream = find(dict, b"/ObjStm").is_some();
        let mut data = body.to_vec();
        for _ in 0..MAX_ZLIB_LAYERS {
            let left = limits.max_uncompressed_bytes.saturating_sub(inflated);
            let Some(out) = inflate(&data, left)? else {
                break;
            };
            inflated += out.len() as u64;
            if object_stream && nesting_depth(&out, Syntax::File) > MAX_NESTING {
                return Err(too_deep());
            }
            data = out;
        }
    }
    Ok(())
}

/// After lopdf has loaded the document: the page tree, the page contents' nesting and the
/// form XObjects.
pub fn check_document(doc: &Document) -> Result<(), ParseError> {
    for (_, page) in doc.get_pages() {
        let mut seen = HashSet::new();
        let mut id = page;
        while let Some(parent) = doc
            .get_dictionary(id)
            .ok()
            .and_then(|d| d.get(b"Parent").ok())
            .and_then(|p| p.as_reference().ok())
        {
            if !seen.insert(parent) || seen.len() > MAX_PARENT_CHAIN {
                return Err(malformed("the page tree loops or is too deep"));
            }
            id = parent;
        }
        if let Ok(content) = doc.get_page_content(page)
            && nesting_depth(&content, Syntax::Content) > MAX_NESTING
        {
            return Err(too_deep());
        }
    }
    check_forms(doc)
}

/// Form XObjects: no cycle and no chain deeper than [`MAX_FORM_DEPTH`] through `Do`. A form
/// without its own resources draws from its caller's, so it may reach any form named in any
/// resources of the document.
fn check_forms(doc: &Document) -> Result<(), ParseError> {
    let mut forms: HashMap<ObjectId, Vec<ObjectId>> = HashMap::new();
    let mut anywhere: HashSet<ObjectId> = HashSet::new();
    let mut inheriting = Vec::new();
    for (&id, object) in &doc.objects {
        let dict = match object {
            Object::Stream(s) => &s.dict,
            Object::Dictionary(d) => d,
            _ => continue,
        };
        anywhere.extend(named_xobjects(doc, dict));
        if let Some(resources) = resolve_dict(doc, dict.get(b"Resources").ok()) {
            anywhere.extend(named_xobjects(doc, resources));
        }
        let Object::Stream(stream) = object else {
            continue;
        };
        if !dict
            .get(b"Subtype")
            .and_then(Object::as_name)
            .is_ok_and(|n| n == b"Form")
        {
            continue;
        }
        let content = if stream.filters().is_ok() {
            stream
                .decompressed_content()
                .unwrap_or_else(|_| stream.content.clone())
        } else {
            stream.content.clone()
        };
        if nesting_depth(&content, Syntax::Content) > MAX_NESTING {
            return Err(too_deep());
        }
        let draws = calls_do(&content);
        let edges = match resolve_dict(doc, dict.get(b"Resources").ok()) {
            Some(resources) if draws => named_xobjects(doc, resources),
            None if draws => {
                inheriting.push(id);
                Vec::new()
            }
            _ => Vec::new(),
        };
        forms.insert(id, edges);
    }
    for id in inheriting {
        if let Some(edges) = forms.get_mut(&id) {
            edges.extend(anywhere.iter().copied());
        }
    }
    let mut done = HashSet::new();
    for &start in forms.keys() {
        form_depth(&forms, start, &mut Vec::new(), &mut done)?;
    }
    Ok(())
}

/// Walks the forms reachable from `id`; the recursion stops at [`MAX_FORM_DEPTH`].
fn form_depth(
    forms: &HashMap<ObjectId, Vec<ObjectId>>,
    id: ObjectId,
    path: &mut Vec<ObjectId>,
    done: &mut HashSet<ObjectId>,
) -> Result<(), ParseError> {
    if done.contains(&id) {
        return Ok(());
    }
    let Some(edges) = forms.get(&id) else {
        return Ok(());
    };
    if path.contains(&id) {
        return Err(malformed("a form XObject draws itself"));
    }
    if path.len() >= MAX_FORM_DEPTH {
        return Err(malformed("form XObjects nested too deeply"));
    }
    path.push(id);
    for &next in edges {
        form_depth(forms, next, path, done)?;
    }
    path.pop();
    done.insert(id);
    Ok(())
}

fn resolve_dict<'a>(doc: &'a Document, object: Option<&'a Object>) -> Option<&'a Dictionary> {
    match object? {
        Object::Reference(id) => doc.get_dictionary(*id).ok(),
        Object::Dictionary(d) => Some(d),
        _ => None,
    }
}

/// The objects a resources dictionary names under `/XObject`.
fn named_xobjects(doc: &Document, resources: &Dictionary) -> Vec<ObjectId> {
    resolve_dict(doc, resources.get(b"XObject").ok())
        .map(|xobjects| {
            xobjects
                .iter()
                .filter_map(|(_, v)| v.as_reference().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a content stream uses the `Do` operator.
fn calls_do(content: &[u8]) -> bool {
    content
        .split(|b| b.is_ascii_whitespace())
        .any(|token| token == b"Do")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Syntax {
    /// The file or an object stream: stream bodies are skipped.
    File,
    /// A content stream: inline image data (`ID` ... `EI`) is skipped.
    Content,
}

/// The deepest nesting of `[` and `<<` outside strings, comments and binary data.
fn nesting_depth(bytes: &[u8], syntax: Syntax) -> usize {
    let (mut depth, mut max, mut i) = (0usize, 0usize, 0usize);
    let n = bytes.len();
    let at_word_start = |i: usize| i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
    while i < n {
        match bytes[i] {
            b'(' => {
                let mut level = 1;
                i += 1;
                while i < n && level > 0 {
                    match bytes[i] {
                        b'\\' => i += 1,
                        b'(' => level += 1,
                        b')' => level -= 1,
                        _ => {}
                    }
                    i += 1;
                }
                continue;
            }
            b'%' => {
                while i < n && !matches!(bytes[i], b'\r' | b'\n') {
                    i += 1;
                }
            }
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            b'<' if bytes.get(i + 1) == Some(&b'<') => {
                depth += 1;
                i += 1;
            }
            b'<' => {
                while i < n && bytes[i] != b'>' {
                    i += 1;
                }
            }
            b'>' if bytes.get(i + 1) == Some(&b'>') => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b's' if syntax == Syntax::File
                && bytes[i..].starts_with(b"stream")
                && at_word_start(i) =>
            {
                i = find(&bytes[i..], b"endstream").map_or(n, |e| i + e + b"endstream".len());
                continue;
            }
            b'I' if syntax == Syntax::Content
                && bytes[i..].starts_with(b"ID")
                && at_word_start(i)
                && bytes.get(i + 2).is_none_or(u8::is_ascii_whitespace) =>
            {
                i = find(&bytes[i..], b"EI").map_or(n, |e| i + e + 2);
                continue;
            }
            _ => {}
        }
        max = max.max(depth);
        i += 1;
    }
    max
}

/// Every stream of the file: the text of its object before the `stream` keyword (its
/// dictionary) and its raw body.
fn streams(bytes: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut from = 0;
    std::iter::from_fn(move || {
        loop {
            let at = from + find(&bytes[from..], b"stream")?;
            from = at + b"stream".len();
            if at > 0 && bytes[at - 1].is_ascii_alphanumeric() {
                continue;
            }
            let mut start = from;
            if bytes[start..].starts_with(b"\r\n") {
                start += 2;
            } else if bytes[start..].starts_with(b"\n") || bytes[start..].starts_with(b"\r") {
                start += 1;
            }
            let end = find(&bytes[start..], b"endstream").map_or(bytes.len(), |e| start + e);
            // The dictionary sits just before the keyword; looking further back for `obj`
            // would make a file of many `stream` keywords quadratic.
            let window = at.saturating_sub(DICT_LOOKBACK);
            let dict_start = rfind(&bytes[window..at], b"obj").map_or(window, |p| window + p);
            from = end;
            return Some((&bytes[dict_start..at], &bytes[start..end]));
        }
    })
}

/// `data` inflated as zlib, or `None` when it is not zlib; over `max` bytes is too large.
fn inflate(data: &[u8], max: u64) -> Result<Option<Vec<u8>>, ParseError> {
    // A zlib header: deflate method, and a check value that makes it a multiple of 31.
    let is_zlib = data.len() >= 2
        && data[0] & 0x0F == 8
        && (u16::from(data[0]) << 8 | u16::from(data[1])) % 31 == 0;
    if !is_zlib {
        return Ok(None);
    }
    let mut out = Vec::new();
    let result = flate2::read::ZlibDecoder::new(data)
        .take(max.saturating_add(1))
        .read_to_end(&mut out);
    if out.len() as u64 > max {
        return Err(ParseError::TooLarge {
            limit: Limit::UncompressedBytes,
            max,
        });
    }
    // A stream cut short still counts with what it inflated to, as the extractor reads it so.
    Ok((result.is_ok() || !out.is_empty()).then_some(out))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_ignores_strings_comments_and_stream_bodies() {
        assert_eq!(nesting_depth(b"<< /A [ [ 1 ] ] >>", Syntax::File), 3);
        assert_eq!(nesting_depth(b"( [[[ \\( ) [ % [[[\n ]", Syntax::File), 1);
        assert_eq!(
            nesting_depth(b"<< >>\nstream\n[[[[[[\nendstream [", Syntax::File),
            1
        );
        assert_eq!(nesting_depth(b"BI /W 1 ID [[[[ EI [", Syntax::Content), 1);
        assert_eq!(nesting_depth(b"<414243> [", Syntax::File), 1);
    }

    #[test]
    fn do_operator_is_found_as_a_word() {
        assert!(calls_do(b"q /X1 Do Q"));
        assert!(calls_do(b"/X1 Do"));
        assert!(!calls_do(b"BT (Done) Tj ET"));
    }

    #[test]
    fn zlib_inflates_under_the_cap_and_refuses_over_it() {
        let zeros = zlib(&vec![0u8; 10_000]);
        assert_eq!(inflate(&zeros, 10_000).unwrap().unwrap().len(), 10_000);
        assert!(matches!(
            inflate(&zeros, 9_999),
            Err(ParseError::TooLarge {
                limit: Limit::UncompressedBytes,
                ..
            })
        ));
        assert_eq!(inflate(b"plain text", 100).unwrap(), None);
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }
}
