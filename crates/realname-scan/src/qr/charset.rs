//! Turning QR payload bytes into text: UTF-8 first, then Shift_JIS, then ISO-8859-1.
//!
//! A QR byte segment carries no charset unless an ECI says so (rqrr skips ECIs), so this is a
//! guess in the order that fits real codes: valid UTF-8 is UTF-8 (Realname's URLs are ASCII);
//! bytes that decode cleanly as Shift_JIS *and* contain a double-byte character are Shift_JIS
//! (Kanji-mode segments come out of rqrr as Shift_JIS bytes, and Japanese codes often use it in
//! byte mode); everything else is ISO-8859-1, the QR standard's default, which maps every byte.

/// Which charset [`payload_text`] chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// Valid UTF-8 (includes ASCII).
    Utf8,
    /// Shift_JIS with at least one double-byte character.
    ShiftJis,
    /// ISO-8859-1, the fallback that maps every byte.
    Latin1,
}

/// Decodes payload bytes to text and says which charset was used.
pub fn payload_text(bytes: &[u8]) -> (String, Charset) {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return (s.to_owned(), Charset::Utf8);
    }
    let has_double_byte = {
        let mut i = 0;
        let mut found = false;
        while i < bytes.len() {
            let b = bytes[i];
            if (0x81..=0x9F).contains(&b) || (0xE0..=0xFC).contains(&b) {
                found = true;
                i += 2;
            } else {
                i += 1;
            }
        }
        found
    };
    if has_double_byte {
        if let Some(s) = encoding_rs::SHIFT_JIS.decode_without_bom_handling_and_without_replacement(bytes) {
            return (s.into_owned(), Charset::ShiftJis);
        }
    }
    (bytes.iter().map(|&b| char::from(b)).collect(), Charset::Latin1)
}

/// [`payload_text`] without the charset.
pub fn payload_text_lossy(bytes: &[u8]) -> String {
    payload_text(bytes).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charset_order() {
        assert_eq!(payload_text(b"http://x/"), ("http://x/".into(), Charset::Utf8));
        assert_eq!(payload_text("日本".as_bytes()).1, Charset::Utf8);
        // "日本" in Shift_JIS.
        assert_eq!(payload_text(&[0x93, 0xfa, 0x96, 0x7b]), ("日本".into(), Charset::ShiftJis));
        // "café" in ISO-8859-1 (0xE9 followed by nothing cannot be Shift_JIS).
        assert_eq!(payload_text(b"caf\xe9"), ("café".into(), Charset::Latin1));
    }
}
