//! Every supported format, parsed from real fixture files made by `fixtures/make-fixtures.sh`,
//! yields the Markdown features and metadata the chunker and citations rely on.

use docparse::{Format, ParsedDocument, parse};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse_fixture(name: &str) -> ParsedDocument {
    parse(&fixture(name), Some(name), None).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn heading_pairs(doc: &ParsedDocument) -> Vec<(u8, &str)> {
    doc.headings
        .iter()
        .map(|h| (h.level, h.text.as_str()))
        .collect()
}

#[test]
fn pdf_text_layer_has_title_headings_page_markers_and_page_spans() {
    let doc = parse_fixture("shipping.pdf");
    assert_eq!(doc.format, Format::Pdf);
    assert_eq!(doc.title.as_deref(), Some("Acme Shipping Guide"));
    assert!(
        doc.markdown.starts_with("<!-- page 1 -->\n"),
        "{}",
        doc.markdown
    );
    assert!(doc.markdown.contains("<!-- page 2 -->"), "{}", doc.markdown);
    assert_eq!(doc.pages.len(), 2);
    assert_eq!(
        heading_pairs(&doc),
        vec![
            (1, "Shipping Guide"),
            (2, "Delivery times"),
            (2, "Tracking")
        ]
    );
    let europe = doc.markdown.find("Europe").expect("table text on page 1");
    let tracking = doc
        .markdown
        .find("tracking number")
        .expect("text on page 2");
    assert_eq!(doc.page_at(europe), Some(1));
    assert_eq!(doc.page_at(tracking), Some(2));
    assert_eq!(doc.pages.last().unwrap().end, doc.markdown.len());
}

#[test]
fn docx_headings_title_lists_and_table_become_markdown() {
    let doc = parse_fixture("shipping.docx");
    assert_eq!(doc.format, Format::Docx);
    assert_eq!(doc.title.as_deref(), Some("Acme Shipping Guide"));
    assert_eq!(
        heading_pairs(&doc),
        vec![
            (1, "Shipping Guide"),
            (2, "Delivery times"),
            (2, "Tracking")
        ]
    );
    assert!(
        doc.markdown.contains("# Shipping Guide\n"),
        "{}",
        doc.markdown
    );
    assert!(
        doc.markdown.contains(
            "| Region | Days |\n| --- | --- |\n| Europe | 2-4 |\n| North America | 5-8 |"
        ),
        "{}",
        doc.markdown
    );
    assert!(doc.markdown.contains("Standard parcels are tracked."));
}

#[test]
fn html_drops_boilerplate_and_keeps_structure() {
    let doc = parse_fixture("shipping.html");
    assert_eq!(doc.format, Format::Html);
    assert_eq!(doc.title.as_deref(), Some("Acme Shipping Guide"));
    assert_eq!(
        heading_pairs(&doc),
        vec![
            (1, "Shipping Guide"),
            (2, "Delivery times"),
            (2, "Tracking")
        ]
    );
    for boilerplate in [
        "header banner",
        "Help centre",
        "footer text",
        "tracking-code",
        "font-family",
        "tail script",
    ] {
        assert!(
            !doc.markdown.contains(boilerplate),
            "{boilerplate} kept:\n{}",
            doc.markdown
        );
    }
    assert!(
        doc.markdown.contains("| Europe | 2-4 |"),
        "{}",
        doc.markdown
    );
    assert!(
        doc.markdown.contains("- Letters are not tracked."),
        "{}",
        doc.markdown
    );
    assert!(
        doc.markdown.contains("ships to *40 countries*"),
        "{}",
        doc.markdown
    );
}

#[test]
fn markdown_passes_through_with_headings_read() {
    let doc = parse_fixture("handbook.md");
    assert_eq!(doc.format, Format::Markdown);
    assert_eq!(
        doc.markdown,
        String::from_utf8(fixture("handbook.md")).unwrap()
    );
    assert_eq!(doc.title.as_deref(), Some("Acme Returns Handbook"));
    assert_eq!(
        heading_pairs(&doc),
        vec![
            (1, "Acme Returns Handbook"),
            (2, "Return window"),
            (2, "Refunds")
        ]
    );
}

#[test]
fn csv_becomes_a_markdown_table_with_a_header_row() {
    let doc = parse_fixture("prices.csv");
    assert_eq!(doc.format, Format::Csv);
    assert_eq!(
        doc.markdown,
        "| plan | monthly price | seats |\n| --- | --- | --- |\n| Starter | 9 | 1 |\n\
         | Team, annual | 29 | 10 |\n| Enterprise | custom | unlimited |\n"
    );
    assert_eq!(doc.title.as_deref(), Some("prices"));
}

#[test]
fn json_is_pretty_printed_in_a_fence() {
    let doc = parse_fixture("order.json");
    assert_eq!(doc.format, Format::Json);
    assert!(doc.markdown.starts_with("```json\n{\n"), "{}", doc.markdown);
    assert!(doc.markdown.contains("\"tracking\": \"PC123456\""));
    assert_eq!(doc.title.as_deref(), Some("Order 1042"));
}

#[test]
fn plain_text_is_kept_and_has_no_headings() {
    let doc = parse_fixture("notes.txt");
    assert_eq!(doc.format, Format::Text);
    assert!(
        doc.markdown
            .contains("Delivery to Norway takes 4 to 6 business days.")
    );
    assert!(doc.headings.is_empty());
    // No heading: the title-like first line names it, not the file.
    assert_eq!(doc.title.as_deref(), Some("Support shift notes"));
}

#[test]
fn pdf_named_txt_is_parsed_as_pdf() {
    let doc = parse(
        &fixture("shipping-pdf-named.txt"),
        Some("shipping-pdf-named.txt"),
        Some("text/plain"),
    )
    .unwrap();
    assert_eq!(doc.format, Format::Pdf);
    assert_eq!(doc.pages.len(), 2);
}

#[test]
fn docx_named_pdf_is_parsed_as_docx() {
    let doc = parse(
        &fixture("shipping.docx"),
        Some("upload.pdf"),
        Some("application/pdf"),
    )
    .unwrap();
    assert_eq!(doc.format, Format::Docx);
}

#[test]
fn html_without_an_extension_is_sniffed() {
    let doc = parse(
        &fixture("shipping.html"),
        Some("page"),
        Some("application/octet-stream"),
    )
    .unwrap();
    assert_eq!(doc.format, Format::Html);
}
