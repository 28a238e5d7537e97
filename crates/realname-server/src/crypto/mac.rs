//! Keyed hashes and comparisons: the one HMAC-SHA256 constructor of the server ([`hmac_sha256`],
//! infallible) and the constant-time comparisons ([`constant_time_eq`], [`same_secret`]).

use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};

/// HMAC-SHA256, ready for `update` and then `finalize` or `verify_slice` (`hmac::Mac`).
pub type HmacSha256 = Hmac<Sha256>;

/// SHA-256's block size: HMAC keys are padded (or first hashed) to it.
const BLOCK: usize = 64;

/// An HMAC-SHA256 keyed with `key` of any length (RFC 2104: a key longer than a block is hashed
/// first, a shorter one padded with zeros) — so no error case, and no `expect` at the callers.
pub fn hmac_sha256(key: &[u8]) -> HmacSha256 {
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    <HmacSha256 as hmac::digest::KeyInit>::new(&block.into())
}

/// HMAC-SHA256 of the concatenated `parts` under `key`.
pub fn hmac_sha256_tag(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = hmac_sha256(key);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Whether two byte strings are equal, in time independent of where they differ (the length is
/// not hidden: compare fixed-length hashes or tags).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Compares two secrets in time independent of where they differ (hashes first, so the
/// length of the expected secret does not leak either).
pub fn same_secret(given: &str, expected: &str) -> bool {
    constant_time_eq(&super::token_hash(given), &super::token_hash(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference: the `hmac` crate's own variable-length constructor.
    fn reference(key: &[u8], msg: &[u8]) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as hmac::Mac>::new_from_slice(key).expect("any key length");
        mac.update(msg);
        mac.finalize().into_bytes().to_vec()
    }

    #[test]
    fn matches_the_hmac_crate_for_every_key_length() {
        for len in [0, 1, 31, 32, 63, 64, 65, 100, 200] {
            let key: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let msg = b"realname admin cookie\x001700000000";
            assert_eq!(hmac_sha256_tag(&key, &[&msg[..10], &msg[10..]]).to_vec(), reference(&key, msg), "key {len}");
            let mut mac = hmac_sha256(&key);
            mac.update(msg);
            assert!(mac.verify_slice(&reference(&key, msg)).is_ok(), "key {len}");
        }
    }

    #[test]
    fn rfc_4231_case_2() {
        let tag = hmac_sha256_tag(b"Jefe", &[b"what do ya want for nothing?"]);
        assert_eq!(hex::encode(tag), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn comparisons() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(same_secret("token-1", "token-1"));
        assert!(!same_secret("token-1", "token-2"));
        assert!(!same_secret("", "token-1"));
    }
}
