//! Fuzzes docparse on input declared as a PDF; see docparse_common.rs.
//!
//! pdf-extract and lopdf panic on much hostile input; docparse runs them under
//! `catch_unwind` natively, so such a panic is a `Malformed` error there. This target
//! therefore tolerates a panic raised inside those two crates (it prints each new panic
//! site once, prefixed `contained panic:`, so a run shows how many there are), and still
//! aborts (a crash) for a panic anywhere else, above all in docparse's own code, and for
//! stack overflows, timeouts and memory blow-ups, which `catch_unwind` cannot contain.
#![no_main]

use std::collections::HashSet;
use std::sync::Mutex;

#[path = "docparse_common.rs"]
mod docparse_common;

/// Source paths of the crates whose panics docparse contains.
const CONTAINED: &[&str] = &["/pdf-extract-", "/lopdf-"];

fn contain_extractor_panics() {
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let abort_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if !CONTAINED.iter().any(|c| location.contains(c)) {
            abort_hook(info);
            return;
        }
        let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        if seen.get_or_insert_with(HashSet::new).insert(location.clone()) {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            eprintln!("contained panic: {location}: {message}");
        }
    }));
}

libfuzzer_sys::fuzz_target!(init: contain_extractor_panics(), |data: &[u8]| {
    docparse_common::parse_as(data, "input.pdf", "application/pdf");
});
