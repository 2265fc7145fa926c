//! Fuzzes the inbound ticketing webhook code (`core_logic::handoff`): the first line of the
//! input is a header value, the rest the body. The body is parsed as each provider's event
//! and as a ticketing system's answer, the header line as each signature header and as a
//! timestamp; the body is also signed at a timestamp taken from the input and must then
//! verify. Every outcome must be a value or a typed error with a 4xx status.
#![no_main]

use core_logic::handoff::{self, Provider, Secret};

/// A "now" inside the range the timestamps are drawn from.
const NOW: i64 = 1_700_000_000;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (head, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let raw_head = head;
    let head = String::from_utf8_lossy(head);
    let secret = Secret::new("fuzz-secret");
    for provider in [Provider::Generic, Provider::Zendesk, Provider::Freshdesk] {
        for ignore_author in [None, Some(42)] {
            if let Err(problem) = handoff::parse_inbound(provider, body, ignore_author) {
                assert!((400..500).contains(&problem.status()));
            }
        }
        let _ = handoff::created_ticket_id(provider, body);
    }
    let _ = handoff::verify(&secret, Some(&head), body, NOW);
    let (signature, timestamp) = head.split_once(' ').unwrap_or((&head, &head));
    let _ = handoff::verify_zendesk(&secret, Some(signature), Some(timestamp), body, NOW);
    let _ = handoff::verify_shared_secret(&secret, Some(&head));
    let _ = handoff::parse_rfc3339_utc(&head);
    let _ = handoff::HandoffSettings::from_settings(&String::from_utf8_lossy(body));

    // Anything we sign verifies at the moment it was signed, whatever the timestamp.
    let mut t = [0u8; 8];
    for (slot, byte) in t.iter_mut().zip(raw_head) {
        *slot = *byte;
    }
    let timestamp = i64::from_le_bytes(t);
    let header = handoff::sign(&secret, timestamp, body);
    assert_eq!(
        handoff::verify(&secret, Some(&header), body, timestamp),
        Ok(())
    );
    // Far from "now" it is stale, never accepted.
    if timestamp.abs_diff(NOW) > handoff::REPLAY_WINDOW_SECS as u64 {
        assert_eq!(
            handoff::verify(&secret, Some(&header), body, NOW),
            Err(handoff::SignatureError::Stale)
        );
    }
});
