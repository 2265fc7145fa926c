//! Fuzzes the upload reader (`edge::upload`): the first line of the input is the request's
//! `content-type` header, the rest its body, read both as a knowledge-base upload
//! (`read`) and as a message form (`read_form`). Every outcome must be an upload within the
//! size limit or an `ApiError` with a 4xx status.
#![no_main]

use spin_sdk::http::{Method, Request};

/// Small, so the fuzzer reaches the size checks; the routes use megabytes.
const MAX_BYTES: usize = 4096;

fn request(content_type: &str, body: &[u8]) -> Request {
    let mut builder = Request::builder();
    builder
        .method(Method::Post)
        .uri("/api/documents")
        .header("content-type", content_type)
        .body(body.to_vec());
    builder.build()
}

fn assert_client_error(e: &edge::ApiError) {
    let status = e.0.status();
    assert!((400..500).contains(&status), "status {status}");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (head, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let content_type = String::from_utf8_lossy(head);
    let req = request(content_type.trim_end_matches('\r'), body);
    match edge::upload::read(&req, MAX_BYTES) {
        Ok(upload) => assert!(upload.bytes.len() <= MAX_BYTES),
        Err(e) => assert_client_error(&e),
    }
    match edge::upload::read_form(&req, MAX_BYTES) {
        Ok(form) => {
            assert!(form.files.len() <= edge::upload::MAX_FORM_FILES);
            assert!(form.files.iter().all(|f| f.bytes.len() <= MAX_BYTES));
        }
        Err(e) => assert_client_error(&e),
    }
});
