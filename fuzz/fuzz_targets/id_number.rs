//! Fuzzes the resident ID number parser (GB 11643-1999) with arbitrary text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use realname_protocol::id_number::check_character;
use realname_protocol::ResidentId;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let today = time::macros::date!(2026 - 06 - 01);
    let Ok(id) = ResidentId::parse(text, today) else { return };
    // A parsed number is normalised: 18 ASCII characters whose last one is the check character.
    let s = id.as_str();
    assert_eq!(s.len(), 18, "normalised length");
    assert!(s.bytes().all(|b| b.is_ascii_digit() || b == b'X'));
    assert_eq!(check_character(s.as_bytes()), char::from(s.as_bytes()[17]));
    assert!(id.birth_date() <= today);
    // Re-serialising and parsing again gives the same number (idempotent normalisation).
    let again = ResidentId::parse(s, today).expect("a normalised number parses again");
    assert_eq!(again.as_str(), s);
    // The masked form hides everything but the first and last character.
    let masked = id.masked();
    assert_eq!(masked.chars().count(), 18);
    assert_eq!(masked.chars().filter(|&c| c != '*').count(), 2);
});
