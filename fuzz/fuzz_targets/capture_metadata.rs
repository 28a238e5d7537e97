//! Fuzzes the capture metadata (the JSON part the companion sends with its frames) as the
//! server reads it: `serde_json::from_slice::<CaptureMetadata>`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use realname_protocol::api::CaptureMetadata;

fuzz_target!(|data: &[u8]| {
    let Ok(meta) = serde_json::from_slice::<CaptureMetadata>(data) else { return };
    // What was accepted serialises and reads back to the same value.
    let text = serde_json::to_vec(&meta).expect("serialise");
    let again: CaptureMetadata = serde_json::from_slice(&text).expect("read back");
    assert_eq!(again, meta);
    // The parsed value holds no more frame entries than the input could describe.
    assert!(meta.frames.len() <= data.len() / 2);
});
