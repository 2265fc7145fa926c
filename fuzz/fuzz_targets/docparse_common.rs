//! What every docparse target checks: parsing with a file name and content type that claim
//! one format (magic bytes may still pick another) either fails with a typed error or gives
//! a document whose page spans lie inside its Markdown on character boundaries. Included by
//! each docparse target with `#[path]`; not a target itself.

use docparse::{Limits, parse};

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
