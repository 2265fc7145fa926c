//! Garbage and mutated real files never panic: every outcome is a document or a typed error.

use docparse::{Limits, parse_with_limits};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A small deterministic generator, so a failure reproduces.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const HINTS: &[(Option<&str>, Option<&str>)] = &[
    (None, None),
    (Some("x.pdf"), Some("application/pdf")),
    (Some("x.docx"), None),
    (Some("x.html"), None),
    (Some("x.md"), None),
    (Some("x.csv"), None),
    (Some("x.json"), None),
    (Some("x.txt"), None),
];

fn parse_every_way(bytes: &[u8]) {
    let limits = Limits {
        max_pages: 20,
        ..Limits::default()
    };
    for (name, content_type) in HINTS {
        // The assertion is that this returns at all: a panic fails the test.
        let _ = parse_with_limits(bytes, *name, *content_type, &limits);
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for len in [0, 1, 4, 5, 16, 100, 1000, 5000] {
        for _ in 0..20 {
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            parse_every_way(&bytes);
        }
    }
}

#[test]
fn magic_headers_followed_by_garbage_never_panic() {
    let mut rng = XorShift(42);
    for magic in [
        &b"%PDF-1.7\n"[..],
        b"PK\x03\x04",
        b"PK\x05\x06",
        b"<html>",
        b"{\"a\":",
    ] {
        for _ in 0..30 {
            let mut bytes = magic.to_vec();
            bytes.extend((0..rng.below(2000)).map(|_| rng.next() as u8));
            parse_every_way(&bytes);
        }
    }
}

#[test]
fn mutated_real_files_never_panic() {
    let mut rng = XorShift(7);
    for name in [
        "shipping.pdf",
        "shipping.docx",
        "shipping.html",
        "prices.csv",
        "order.json",
    ] {
        let original = fixture(name);
        for round in 0..40 {
            let mut bytes = original.clone();
            if round % 2 == 0 {
                bytes.truncate(rng.below(original.len() + 1));
            } else {
                for _ in 0..1 + rng.below(16) {
                    let at = rng.below(bytes.len());
                    bytes[at] = rng.next() as u8;
                }
            }
            parse_every_way(&bytes);
        }
    }
}
