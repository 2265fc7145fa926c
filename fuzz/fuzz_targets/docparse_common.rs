//! What every docparse target checks: parsing with a file name and content type that claim
//! one format (magic bytes may still pick another) either fails with a typed error or gives
//! a document whose page spans lie inside its Markdown on character boundaries. Included by
//! each docparse target with `#[path]`; not a target itself.
//!
//! pdf-extract and the crates under it panic on much hostile input; natively docparse runs
//! them under `catch_unwind`, so such a panic is a `Malformed` error. Every docparse target
//! can reach the PDF path (magic bytes win over the declared type), so each installs
//! [`contain_dependency_panics`]: a panic raised outside this repository's code is printed
//! once per site (`dependency panic: ...`) and left to unwind; if docparse catches it the run
//! goes on, if it escapes libfuzzer-sys aborts (a crash). A panic in our own code aborts at
//! once, as do stack overflows, timeouts and memory blow-ups, which nothing can catch.

use docparse::{Limits, parse};
use std::collections::HashSet;
use std::sync::Mutex;

/// Where this repository's sources sit in panic locations (paths are absolute).
const OUR_CODE: &str = "/crates/";
/// Where dependencies' sources sit.
const REGISTRY: &str = "/.cargo/registry/";

pub fn contain_dependency_panics() {
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let abort_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if location.contains(OUR_CODE) || !location.contains(REGISTRY) {
            abort_hook(info);
            return;
        }
        let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        if seen
            .get_or_insert_with(HashSet::new)
            .insert(location.clone())
        {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            // From the crate's folder on: "<registry>/src/<index>/lopdf-0.38.0/src/x.rs:1".
            let location = location
                .split(REGISTRY)
                .last()
                .and_then(|p| p.splitn(3, '/').nth(2))
                .unwrap_or(&location);
            eprintln!("dependency panic: {location}: {message}");
        }
    }));
}

pub fn parse_as(data: &[u8], file_name: &str, content_type: &str) {
    let Ok(doc) = parse(data, Some(file_name), Some(content_type)) else {
        return;
    };
    assert!(doc.markdown.len() <= Limits::default().max_output_bytes);
    let mut previous_end = 0;
    for span in &doc.pages {
        assert!(span.start >= previous_end && span.start <= span.end);
        assert!(span.end <= doc.markdown.len());
        assert!(doc.markdown.is_char_boundary(span.start));
        assert!(doc.markdown.is_char_boundary(span.end));
        previous_end = span.end;
    }
    for heading in &doc.headings {
        assert!((1..=6).contains(&heading.level));
    }
}

/// The same checks with neither a file name nor a content type.
#[allow(dead_code)]
pub fn parse_unhinted(data: &[u8]) {
    if let Ok(doc) = parse(data, None, None) {
        assert!(doc.markdown.len() <= Limits::default().max_output_bytes);
    }
}
