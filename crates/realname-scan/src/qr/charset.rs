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

/// ZXing's rule of thumb (`StringUtils.guessEncoding`) for non-UTF-8 bytes: Shift_JIS when
/// there is a double-byte character, a run of 3+ half-width katakana (0xA1–0xDF), or exactly
/// two katakana in a row; otherwise ISO-8859-1 (its accented letters also live in 0xA1–0xDF).
fn looks_like_shift_jis(bytes: &[u8]) -> bool {
    let (mut i, mut run, mut max_run, mut katakana) = (0, 0usize, 0usize, 0usize);
    while i < bytes.len() {
        let b = bytes[i];
        if (0x81..=0x9F).contains(&b) || (0xE0..=0xFC).contains(&b) {
            return true;
        }
        if (0xA1..=0xDF).contains(&b) {
            katakana += 1;
            run += 1;
            max_run = max_run.max(run);
        } else {
            run = 0;
        }
        i += 1;
    }
    max_run >= 3 || (max_run == 2 && katakana == 2)
}

/// Decodes payload bytes to text and says which charset was used.
pub fn payload_text(bytes: &[u8]) -> (String, Charset) {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return (s.to_owned(), Charset::Utf8);
    }
    if looks_like_shift_jis(bytes)
        && let Some(s) = encoding_rs::SHIFT_JIS.decode_without_bom_handling_and_without_replacement(bytes)
    {
        return (s.into_owned(), Charset::ShiftJis);
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
        // Half-width katakana "ﾃﾞｻﾞｲﾝ" (design) in single-byte Shift_JIS.
        assert_eq!(payload_text(&[0xc3, 0xde, 0xbb, 0xde, 0xb2, 0xdd]).1, Charset::ShiftJis);
    }
}
