//! Fuzzes the person name parser with arbitrary text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use realname_protocol::name::MAX_NAME_CHARS;
use realname_protocol::PersonName;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(name) = PersonName::parse(text) else { return };
    let s = name.as_str();
    let count = s.chars().count();
    assert!(count >= 1 && count <= MAX_NAME_CHARS, "{count} characters");
    assert_eq!(s, s.trim(), "no surrounding whitespace");
    assert!(!s.contains("  "), "whitespace collapsed");
    // Normalisation is idempotent.
    let again = PersonName::parse(s).expect("a normalised name parses again");
    assert_eq!(again.as_str(), s);
    let _ = name.masked();
});
