//! Fuzzes docparse on input declared as `input.docx` (`application/vnd.openxmlformats-officedocument.wordprocessingml.document`); see docparse_common.rs.
#![no_main]

#[path = "docparse_common.rs"]
mod docparse_common;

libfuzzer_sys::fuzz_target!(init: docparse_common::contain_dependency_panics(), |data: &[u8]| {
    docparse_common::parse_as(data, "input.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document");
});
