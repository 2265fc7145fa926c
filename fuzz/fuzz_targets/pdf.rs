//! Fuzzes docparse on input declared as a PDF; see docparse_common.rs for what it checks
//! and how panics inside pdf-extract, which docparse contains natively, are treated.
#![no_main]

#[path = "docparse_common.rs"]
mod docparse_common;

libfuzzer_sys::fuzz_target!(init: docparse_common::contain_dependency_panics(), |data: &[u8]| {
    docparse_common::parse_as(data, "input.pdf", "application/pdf");
});
