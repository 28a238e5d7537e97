//! Realname QR payloads as the server prints them (`<origin>/v1/q/<32 base64url chars>`), for tests, demos and a quick plausibility check.
//!
//! Parsing proper belongs to `realname-protocol` (`qr::QrPayload`); this module only builds
//! such strings and recognises their shape so the scanner can prefer them over other codes.

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Length of a QR handle: 192 bits in unpadded base64url.
pub const HANDLE_LEN: usize = 32;

/// Encodes 24 bytes (192 bits) as a 32-character base64url handle.
pub fn handle_from_bytes(bytes: &[u8; 24]) -> String {
    let mut out = String::with_capacity(HANDLE_LEN);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]);
        for shift in [18, 12, 6, 0] {
            out.push(char::from(B64URL[((n >> shift) & 63) as usize]));
        }
    }
    out
}

/// A deterministic test handle from a seed (not random: for tests and demos only).
pub fn test_handle(seed: u64) -> String {
    let mut bytes = [0u8; 24];
    let mut s = seed ^ 0x005E_ED0F_DA7A;
    for b in bytes.iter_mut() {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        *b = (s >> 56) as u8;
    }
    handle_from_bytes(&bytes)
}

/// The URL the server encodes in its QR code.
pub fn qr_url(origin: &str, handle: &str) -> String {
    format!("{}/v1/q/{handle}", origin.trim_end_matches('/'))
}

/// The handle of text shaped like a Realname QR URL (`http(s)://host/v1/q/<32 base64url>`).
pub fn realname_handle(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("http://").or_else(|| text.strip_prefix("https://"))?;
    let (_host, path) = rest.split_once('/')?;
    let handle = path.strip_prefix("v1/q/")?;
    (handle.len() == HANDLE_LEN && handle.bytes().all(|b| B64URL.contains(&b))).then_some(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_recognises() {
        let h = test_handle(7);
        assert_eq!(h.len(), HANDLE_LEN);
        let url = qr_url("http://127.0.0.1:8080/", &h);
        assert_eq!(url, format!("http://127.0.0.1:8080/v1/q/{h}"));
        assert_eq!(realname_handle(&url), Some(h.as_str()));
        assert_eq!(realname_handle("http://127.0.0.1:8080/v1/q/short"), None);
        assert_eq!(handle_from_bytes(&[0xff; 24]), "_".repeat(32));
    }
}
