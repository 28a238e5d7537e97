//! Fuzzes the QR payload parser with the raw bytes a scanner could report.
#![no_main]

use libfuzzer_sys::fuzz_target;
use realname_protocol::qr::MAX_PAYLOAD_LEN;
use realname_protocol::QrPayload;

fuzz_target!(|data: &[u8]| {
    let Ok(payload) = QrPayload::parse_bytes(data) else { return };
    // The canonical text parses back to the same payload and stays within the size limit.
    let text = payload.to_string();
    assert!(text.len() <= MAX_PAYLOAD_LEN);
    let again = QrPayload::parse(&text).expect("the canonical text parses again");
    assert_eq!(again, payload);
    assert!(payload.origin().starts_with("http://") || payload.origin().starts_with("https://"));
    assert!(!payload.origin().ends_with('/'));
});
