//! Inputs built to exhaust the parser — deep nesting, decompression bombs, huge tables,
//! looping PDF object graphs — end in a typed error or a bounded document, never a hang, a
//! stack overflow or an allocation of gigabytes. The same shapes, smaller, are the fuzzers'
//! seeds and regression inputs (fuzz/seeds, fuzz/regressions); see also errors_and_limits.rs.

use docparse::{Format, Limit, ParseError, parse};
use std::io::Write;

/// A PDF whose objects are `objects` (numbered from 1, the first the catalog) with a
/// correct cross-reference table.
fn pdf(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

fn stream(dict_extra: &str, content: &[u8]) -> Vec<u8> {
    let mut out = format!("<< /Length {} {dict_extra} >>\nstream\n", content.len()).into_bytes();
    out.extend_from_slice(content);
    out.extend_from_slice(b"\nendstream");
    out
}

const CATALOG: &[u8] = b"<< /Type /Catalog /Pages 2 0 R >>";
const PAGES: &[u8] = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>";
const PAGE: &[u8] = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R \
    /Resources << /Font << /F1 5 0 R >> /XObject << /X1 6 0 R >> >> >>";
const FONT: &[u8] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>";
const TEXT: &[u8] = b"BT /F1 12 Tf 20 100 Td (Hello refunds) Tj ET";

fn malformed_pdf(result: Result<docparse::ParsedDocument, ParseError>) -> String {
    match result {
        Err(ParseError::Malformed {
            format: Format::Pdf,
            detail,
        }) => detail,
        other => panic!("expected a malformed PDF, got {other:?}"),
    }
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn the_hostile_pdf_builder_makes_a_readable_pdf() {
    let doc = parse(
        &pdf(&[
            CATALOG.to_vec(),
            PAGES.to_vec(),
            PAGE.to_vec(),
            stream("", TEXT),
            FONT.to_vec(),
        ]),
        None,
        None,
    )
    .unwrap();
    assert!(doc.markdown.contains("Hello refunds"), "{}", doc.markdown);
}

#[test]
fn pdf_object_nested_100k_levels_is_malformed_not_a_stack_overflow() {
    for deep in [
        [b"[".repeat(100_000), b"]".repeat(100_000)].concat(),
        [b"<< /A ".repeat(100_000), b">>".repeat(100_000)].concat(),
    ] {
        let bytes = pdf(&[
            CATALOG.to_vec(),
            PAGES.to_vec(),
            PAGE.to_vec(),
            stream("", TEXT),
            FONT.to_vec(),
            deep,
        ]);
        assert!(malformed_pdf(parse(&bytes, None, None)).contains("nested"));
    }
}

#[test]
fn pdf_content_nested_100k_levels_is_malformed_even_compressed() {
    let content = [
        b"BT /F1 12 Tf ".as_slice(),
        &b"[".repeat(100_000),
        b"(x)",
        &b"]".repeat(100_000),
        b" TJ ET",
    ]
    .concat();
    for stream in [
        stream("", &content),
        stream("/Filter /FlateDecode", &zlib(&content)),
    ] {
        let bytes = pdf(&[
            CATALOG.to_vec(),
            PAGES.to_vec(),
            PAGE.to_vec(),
            stream,
            FONT.to_vec(),
        ]);
        assert!(malformed_pdf(parse(&bytes, None, None)).contains("nested"));
    }
}

#[test]
fn pdf_zlib_bomb_is_too_large_before_it_is_inflated() {
    // 200 MB of zeros compress to about 200 KB; the default limit is 100 MB in all.
    let zeros = vec![0u8; 200 * 1024 * 1024];
    let bytes = pdf(&[
        CATALOG.to_vec(),
        PAGES.to_vec(),
        PAGE.to_vec(),
        stream("/Filter /FlateDecode", &zlib(&zeros)),
        FONT.to_vec(),
    ]);
    drop(zeros);
    assert!(matches!(
        parse(&bytes, None, None),
        Err(ParseError::TooLarge {
            limit: Limit::UncompressedBytes,
            ..
        })
    ));
}

#[test]
fn pdf_page_tree_whose_parent_loops_is_malformed_not_a_hang() {
    let bytes = pdf(&[
        CATALOG.to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 /Parent 2 0 R >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>".to_vec(),
        stream("", TEXT),
        FONT.to_vec(),
    ]);
    assert!(malformed_pdf(parse(&bytes, None, None)).contains("page tree"));
}

#[test]
fn pdf_page_tree_whose_kids_loop_ends() {
    let bytes = pdf(&[
        CATALOG.to_vec(),
        b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>".to_vec(),
        PAGE.to_vec(),
        stream("", TEXT),
        FONT.to_vec(),
    ]);
    // lopdf refuses the loop itself; any typed outcome will do, as long as it ends.
    let _ = parse(&bytes, None, None);
}

#[test]
fn pdf_form_that_draws_itself_is_malformed_not_a_stack_overflow() {
    let drawing_itself = stream(
        "/Type /XObject /Subtype /Form /BBox [0 0 10 10] \
         /Resources << /XObject << /X1 6 0 R >> >>",
        b"/X1 Do",
    );
    let inheriting = stream("/Type /XObject /Subtype /Form /BBox [0 0 10 10]", b"/X1 Do");
    for form in [drawing_itself, inheriting] {
        let bytes = pdf(&[
            CATALOG.to_vec(),
            PAGES.to_vec(),
            PAGE.to_vec(),
            stream("", b"BT /F1 12 Tf 20 100 Td (x) Tj ET /X1 Do"),
            FONT.to_vec(),
            form,
        ]);
        assert!(malformed_pdf(parse(&bytes, None, None)).contains("form XObject"));
    }
}

#[test]
fn pdf_form_drawn_once_still_reads() {
    let bytes = pdf(&[
        CATALOG.to_vec(),
        PAGES.to_vec(),
        PAGE.to_vec(),
        stream("", b"/X1 Do"),
        FONT.to_vec(),
        stream(
            "/Type /XObject /Subtype /Form /BBox [0 0 200 200] \
             /Resources << /Font << /F1 5 0 R >> >>",
            TEXT,
        ),
    ]);
    let doc = parse(&bytes, None, None).unwrap();
    assert!(doc.markdown.contains("Hello refunds"), "{}", doc.markdown);
}

#[test]
fn html_nested_100k_levels_is_malformed() {
    let html = format!(
        "<html><body>{}deep{}</body></html>",
        "<div>".repeat(100_000),
        "</div>".repeat(100_000)
    );
    assert!(matches!(
        parse(html.as_bytes(), Some("deep.html"), None),
        Err(ParseError::Malformed {
            format: Format::Html,
            ..
        })
    ));
}

#[test]
fn html_with_many_unclosed_paragraphs_still_reads() {
    let html = format!("<html><body>{}</body></html>", "<p>para".repeat(50_000));
    let doc = parse(html.as_bytes(), Some("flat.html"), None).unwrap();
    assert!(doc.markdown.starts_with("para"));
}

#[test]
fn html_table_one_wide_row_over_many_short_ones_is_too_large() {
    let html = format!(
        "<table><tr>{}</tr>{}</table>",
        "<td>a</td>".repeat(20_000),
        "<tr><td>x</td></tr>".repeat(20_000)
    );
    assert!(matches!(
        parse(html.as_bytes(), Some("t.html"), None),
        Err(ParseError::TooLarge {
            limit: Limit::Work,
            ..
        })
    ));
}

#[test]
fn csv_one_wide_row_over_many_short_ones_is_too_large() {
    // 0.8 MB asking for a 200,000 x 200,000 padded table.
    let csv = [
        b"a,".repeat(200_000),
        b"\n".to_vec(),
        b"x\n".repeat(200_000),
    ]
    .concat();
    assert!(matches!(
        parse(&csv, Some("t.csv"), None),
        Err(ParseError::TooLarge {
            limit: Limit::Work,
            ..
        })
    ));
}

#[test]
fn csv_with_a_million_cells_is_too_large_or_a_bounded_table() {
    let csv = "1,2,3,4,5\n".repeat(1_000_000);
    match parse(csv.as_bytes(), Some("t.csv"), None) {
        Err(ParseError::TooLarge { .. }) => {}
        Ok(doc) => assert!(doc.markdown.len() <= 10 * 1024 * 1024),
        Err(other) => panic!("{other:?}"),
    }
}

#[test]
fn markdown_and_json_nested_100k_levels_end() {
    let quote = format!("{} deep\n", ">".repeat(100_000));
    assert!(parse(quote.as_bytes(), Some("q.md"), None).is_ok());
    let emphasis = format!("{}x{}", "*a **".repeat(50_000), "** a*".repeat(50_000));
    assert!(parse(emphasis.as_bytes(), Some("e.md"), None).is_ok());
    let json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(matches!(
        parse(json.as_bytes(), Some("deep.json"), None),
        Err(ParseError::Malformed {
            format: Format::Json,
            ..
        })
    ));
}

#[test]
fn docx_tables_nested_100k_levels_end() {
    let mut body = String::from(r#"<w:document xmlns:w="w"><w:body>"#);
    body.push_str(&"<w:tbl><w:tr><w:tc>".repeat(100_000));
    body.push_str("<w:p><w:r><w:t>deep</w:t></w:r></w:p>");
    body.push_str(&"</w:tc></w:tr></w:tbl>".repeat(100_000));
    body.push_str("</w:body></w:document>");
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("word/document.xml", options).unwrap();
    zip.write_all(body.as_bytes()).unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    match parse(&bytes, Some("deep.docx"), None) {
        Ok(doc) => assert!(doc.markdown.contains("deep")),
        Err(ParseError::TooLarge { .. }) => {}
        Err(other) => panic!("{other:?}"),
    }
}
