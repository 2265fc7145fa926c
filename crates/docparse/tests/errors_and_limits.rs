//! Encrypted, truncated, unsupported and oversized inputs return the typed error a route
//! maps to 415, 422 or 413, from real fixture files and explicit limits.

use docparse::{Format, Limit, Limits, ParseError, parse, parse_with_limits};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn too_large_limit(result: Result<docparse::ParsedDocument, ParseError>) -> Limit {
    match result {
        Err(ParseError::TooLarge { limit, .. }) => limit,
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn encrypted_pdf_is_encrypted() {
    let err = parse(&fixture("encrypted.pdf"), Some("encrypted.pdf"), None).unwrap_err();
    assert_eq!(err, ParseError::Encrypted(Format::Pdf));
    assert_eq!(err.http_status(), 422);
}

#[test]
fn pdf_encrypted_with_an_empty_user_password_opens() {
    let doc = parse(
        &fixture("owner-password.pdf"),
        Some("owner-password.pdf"),
        None,
    )
    .unwrap();
    assert_eq!(doc.pages.len(), 2);
    assert!(doc.markdown.contains("tracking number"), "{}", doc.markdown);
}

#[test]
fn password_protected_docx_is_encrypted() {
    let err = parse(&fixture("encrypted.docx"), Some("encrypted.docx"), None).unwrap_err();
    assert_eq!(err, ParseError::Encrypted(Format::Docx));
}

#[test]
fn zipcrypto_docx_entry_is_encrypted() {
    let err = parse(&fixture("zipcrypto.docx"), Some("zipcrypto.docx"), None).unwrap_err();
    assert_eq!(err, ParseError::Encrypted(Format::Docx));
}

#[test]
fn truncated_pdf_is_malformed() {
    let err = parse(&fixture("truncated.pdf"), Some("truncated.pdf"), None).unwrap_err();
    assert!(
        matches!(
            err,
            ParseError::Malformed {
                format: Format::Pdf,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.http_status(), 422);
}

#[test]
fn zip_bomb_docx_is_refused_by_compression_ratio() {
    let limit = too_large_limit(parse(&fixture("bomb.docx"), Some("bomb.docx"), None));
    assert_eq!(limit, Limit::CompressionRatio);
}

#[test]
fn zip_bomb_docx_is_refused_by_entry_size_when_ratio_is_allowed() {
    let limits = Limits {
        max_compression_ratio: u64::MAX,
        max_entry_bytes: 10 * 1024 * 1024,
        ..Limits::default()
    };
    let limit = too_large_limit(parse_with_limits(
        &fixture("bomb.docx"),
        None,
        None,
        &limits,
    ));
    assert_eq!(limit, Limit::EntryBytes);
}

#[test]
fn zip_bomb_docx_is_refused_by_total_uncompressed_size() {
    let limits = Limits {
        max_uncompressed_bytes: 10 * 1024 * 1024,
        ..Limits::default()
    };
    let limit = too_large_limit(parse_with_limits(
        &fixture("bomb.docx"),
        None,
        None,
        &limits,
    ));
    assert_eq!(limit, Limit::UncompressedBytes);
}

#[test]
fn docx_whose_directory_claims_gigabytes_is_too_large() {
    let limit = too_large_limit(parse(&fixture("claims-huge.docx"), None, None));
    assert_eq!(limit, Limit::UncompressedBytes);
}

#[test]
fn archive_with_too_many_entries_is_too_large() {
    let limits = Limits {
        max_archive_entries: 3,
        ..Limits::default()
    };
    let limit = too_large_limit(parse_with_limits(
        &fixture("shipping.docx"),
        None,
        None,
        &limits,
    ));
    assert_eq!(limit, Limit::ArchiveEntries);
}

#[test]
fn pdf_over_the_page_limit_is_too_large() {
    let limits = Limits {
        max_pages: 1,
        ..Limits::default()
    };
    let err = parse_with_limits(&fixture("shipping.pdf"), None, None, &limits).unwrap_err();
    assert_eq!(
        err,
        ParseError::TooLarge {
            limit: Limit::Pages,
            max: 1
        }
    );
    assert_eq!(err.http_status(), 413);
}

#[test]
fn docx_over_the_work_limit_is_too_large() {
    let limits = Limits {
        max_work: 100,
        ..Limits::default()
    };
    let limit = too_large_limit(parse_with_limits(
        &fixture("shipping.docx"),
        None,
        None,
        &limits,
    ));
    assert_eq!(limit, Limit::Work);
}

#[test]
fn html_over_the_work_limit_is_too_large() {
    let limits = Limits {
        max_work: 10,
        ..Limits::default()
    };
    let limit = too_large_limit(parse_with_limits(
        &fixture("shipping.html"),
        None,
        None,
        &limits,
    ));
    assert_eq!(limit, Limit::Work);
}

#[test]
fn input_over_the_size_limit_is_too_large() {
    let limits = Limits {
        max_input_bytes: 1024,
        ..Limits::default()
    };
    let limit = too_large_limit(parse_with_limits(
        &fixture("shipping.pdf"),
        None,
        None,
        &limits,
    ));
    assert_eq!(limit, Limit::InputBytes);
}

#[test]
fn non_docx_zip_is_unsupported() {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("xl/workbook.xml", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut zip, b"<workbook/>").unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    let err = parse(&bytes, Some("book.xlsx"), None).unwrap_err();
    assert!(matches!(err, ParseError::Unsupported(_)), "{err:?}");
    assert_eq!(err.http_status(), 415);
}

#[test]
fn png_is_unsupported() {
    let err = parse(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", Some("a.png"), None).unwrap_err();
    assert!(matches!(err, ParseError::Unsupported(_)));
}

#[test]
fn json_with_a_json_name_but_broken_syntax_is_malformed() {
    let err = parse(b"{\"a\": ", Some("a.json"), None).unwrap_err();
    assert!(matches!(
        err,
        ParseError::Malformed {
            format: Format::Json,
            ..
        }
    ));
}

/// A one-page PDF with correct cross-references around the given content stream.
fn one_page_pdf(content: &str) -> Vec<u8> {
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_string(),
        format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len() + 1
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}

#[test]
fn hand_made_pdf_text_is_extracted() {
    let doc = parse(
        &one_page_pdf("BT /F1 12 Tf 20 100 Td (Hello refunds) Tj ET"),
        None,
        None,
    )
    .unwrap();
    assert!(doc.markdown.contains("Hello refunds"), "{}", doc.markdown);
}

#[cfg(not(target_family = "wasm"))]
#[test]
fn pdf_that_panics_the_extractor_is_malformed() {
    // A font operand that is a number, not a name: pdf-extract unwraps it and panics.
    let err = parse(&one_page_pdf("BT 12 12 Tf 20 100 Td (x) Tj ET"), None, None).unwrap_err();
    assert!(
        matches!(
            err,
            ParseError::Malformed {
                format: Format::Pdf,
                ..
            }
        ),
        "{err:?}"
    );
}
