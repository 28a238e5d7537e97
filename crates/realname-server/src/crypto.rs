//! Keys and primitives: AES-256-GCM for personal data at rest, HMAC-SHA256 keyed hashes of ID
//! numbers (the unique constraint), random tokens stored as SHA-256 hashes, argon2id passwords;
//! the one HMAC constructor and the constant-time comparisons ([`mac`]) and bearer-token parsing
//! ([`bearer`]) every other module uses.

pub mod bearer;
pub mod mac;

pub use bearer::bearer_token;
pub use mac::{HmacSha256, constant_time_eq, hmac_sha256, hmac_sha256_tag, same_secret};

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Why the data key cannot be used or a ciphertext cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The configured key is not 64 hex characters.
    #[error("the data key must be 64 hex characters (32 bytes)")]
    BadKey,
    /// The key file cannot be read or written.
    #[error("data key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A ciphertext was tampered with or encrypted under another key.
    #[error("cannot decrypt stored data (wrong data key?)")]
    Decrypt,
    /// Password hashing failed.
    #[error("password hashing failed")]
    PasswordHash,
    /// The database's encrypted data is under another data key than the configured one.
    #[error(
        "the data key (id {configured}) is not the key the database is encrypted under (id {recorded}); after `keys rotate`, configure the new key file"
    )]
    KeyMismatch {
        /// Id of the configured key.
        configured: String,
        /// Id recorded in the database.
        recorded: String,
    },
}

/// The server's data keys, derived from one 32-byte master key.
#[derive(Clone)]
pub struct DataKeys {
    aes: [u8; 32],
    id_hmac: [u8; 32],
    csrf_hmac: [u8; 32],
}

impl std::fmt::Debug for DataKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKeys(<redacted>)")
    }
}

/// Where the master key came from (for the start-up log line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// `REALNAME_DATA_KEY` / `data_key`.
    Configured,
    /// An existing key file.
    File,
    /// Generated now into the key file.
    Generated,
}

impl DataKeys {
    /// Derives the purpose keys from a master key.
    pub fn from_master(master: &[u8; 32]) -> Self {
        let derive = |label: &[u8]| -> [u8; 32] {
            let mut mac = hmac_sha256(master);
            mac.update(b"realname/");
            mac.update(label);
            mac.finalize().into_bytes().into()
        };
        Self { aes: derive(b"aes-256-gcm"), id_hmac: derive(b"id-hash"), csrf_hmac: derive(b"csrf") }
    }

    /// Parses key text: a hex master key, optionally followed by `id-hash-key=<64 hex>` (what
    /// `keys rotate` writes: the keyed hashes stay under the key they were made with, see
    /// [`crate::key_rotation`]).
    pub fn from_hex(text: &str) -> Result<Self, CryptoError> {
        let mut tokens = text.split_whitespace();
        let mut keys = Self::from_master(&key_from_hex(tokens.next().unwrap_or_default())?);
        for token in tokens {
            match token.split_once('=') {
                Some(("id-hash-key", hex_key)) => keys.id_hmac = key_from_hex(hex_key)?,
                _ => return Err(CryptoError::BadKey),
            }
        }
        Ok(keys)
    }

    /// Keys for a new master key that keep this one's ID hash key, and the key text to store
    /// them as (readable by [`DataKeys::from_hex`]).
    pub fn rotated(&self, new_master: &[u8; 32]) -> (Self, String) {
        let mut keys = Self::from_master(new_master);
        keys.id_hmac = self.id_hmac;
        let text = format!("{}\nid-hash-key={}\n", hex::encode(new_master), hex::encode(self.id_hmac));
        (keys, text)
    }

    /// A public id of these keys (16 hex characters, one-way): recorded in the database so
    /// that a server given another key refuses to start instead of failing on every read.
    pub fn key_id(&self) -> String {
        let mut mac = hmac_sha256(&self.aes);
        mac.update(b"realname/key-id/");
        mac.update(&self.id_hmac);
        hex::encode(&mac.finalize().into_bytes()[..8])
    }

    /// Uses the configured key, else reads `file`, else generates a key into `file` (0600).
    pub fn load_or_generate(configured: Option<&str>, file: &Path) -> Result<(Self, KeySource), CryptoError> {
        if let Some(hex_key) = configured {
            return Ok((Self::from_hex(hex_key)?, KeySource::Configured));
        }
        let io = |source| CryptoError::KeyFile { path: file.display().to_string(), source };
        match std::fs::read_to_string(file) {
            Ok(text) => Ok((Self::from_hex(&text)?, KeySource::File)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = file.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                let mut master = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut master);
                write_private(file, format!("{}\n", hex::encode(master)).as_bytes()).map_err(io)?;
                Ok((Self::from_master(&master), KeySource::Generated))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Encrypts with AES-256-GCM; output is `nonce (12) || ciphertext+tag`.
    pub fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        let cipher = Aes256Gcm::new_from_slice(&self.aes).expect("32-byte key");
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut out = nonce.to_vec();
        // Encryption with a valid key and an in-memory buffer cannot fail.
        out.extend(cipher.encrypt(Nonce::from_slice(&nonce), plaintext).unwrap_or_default());
        out
    }

    /// Inverse of [`DataKeys::encrypt`].
    pub fn decrypt(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if data.len() < 12 + 16 {
            return Err(CryptoError::Decrypt);
        }
        let cipher = Aes256Gcm::new_from_slice(&self.aes).expect("32-byte key");
        cipher.decrypt(Nonce::from_slice(&data[..12]), &data[12..]).map_err(|_| CryptoError::Decrypt)
    }

    /// Decrypts to a UTF-8 string.
    pub fn decrypt_string(&self, data: &[u8]) -> Result<String, CryptoError> {
        String::from_utf8(self.decrypt(data)?).map_err(|_| CryptoError::Decrypt)
    }

    /// Keyed hash of a normalised ID number: what the unique constraint is on.
    pub fn id_hash(&self, id_number: &str) -> Vec<u8> {
        let mut mac = hmac_sha256(&self.id_hmac);
        mac.update(id_number.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// The CSRF token belonging to a browser's CSRF cookie value.
    pub fn csrf_token(&self, cookie_value: &str) -> String {
        let mut mac = hmac_sha256(&self.csrf_hmac);
        mac.update(cookie_value.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Checks a submitted CSRF token in constant time.
    pub fn csrf_valid(&self, cookie_value: &str, submitted: &str) -> bool {
        let Ok(submitted) = URL_SAFE_NO_PAD.decode(submitted.trim()) else { return false };
        let mut mac = hmac_sha256(&self.csrf_hmac);
        mac.update(cookie_value.as_bytes());
        mac.verify_slice(&submitted).is_ok()
    }
}

/// 32 bytes from 64 hex characters.
fn key_from_hex(hex_key: &str) -> Result<[u8; 32], CryptoError> {
    let bytes = hex::decode(hex_key).map_err(|_| CryptoError::BadKey)?;
    bytes.try_into().map_err(|_| CryptoError::BadKey)
}

#[cfg(unix)]
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// `n` random bytes from the OS.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

/// A random bearer token (`prefix` + 256 bits, base64url).
pub fn random_token(prefix: &str) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// A random id (128 bits, base64url): for accounts, sessions, devices.
pub fn random_id() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<16>())
}

/// SHA-256 of a bearer token or handle: tokens are stored only as hashes.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A short numeric code for kiosk stations (6 digits).
pub fn station_code() -> String {
    let n = u32::from_le_bytes(random_bytes::<4>()) % 1_000_000;
    format!("{n:06}")
}

/// Hashes a password with argon2id (library defaults: 19 MiB, 2 passes).
pub fn hash_password(password: &str) -> Result<String, CryptoError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| CryptoError::PasswordHash)
}

/// Verifies a password against a stored argon2 hash.
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A syntactically valid hash to verify against when the account does not exist, so that
/// sign-in takes as long for unknown e-mails as for wrong passwords.
pub fn dummy_password_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("not a real password").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_round_trips_and_detects_tampering() {
        let keys = DataKeys::from_master(&[1; 32]);
        let mut sealed = keys.encrypt("11010519491231002X".as_bytes());
        assert_eq!(keys.decrypt_string(&sealed).expect("open"), "11010519491231002X");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(keys.decrypt(&sealed).is_err());
        assert!(DataKeys::from_master(&[2; 32]).decrypt(&keys.encrypt(b"x")).is_err());
    }

    #[test]
    fn id_hash_is_keyed_and_stable() {
        let a = DataKeys::from_master(&[1; 32]);
        let b = DataKeys::from_master(&[2; 32]);
        assert_eq!(a.id_hash("1"), a.id_hash("1"));
        assert_ne!(a.id_hash("1"), b.id_hash("1"));
        assert_eq!(a.id_hash("1").len(), 32);
    }

    #[test]
    fn generated_key_file_is_private_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("sub/data.key");
        let (k1, s1) = DataKeys::load_or_generate(None, &file).expect("generate");
        let (k2, s2) = DataKeys::load_or_generate(None, &file).expect("read");
        assert_eq!((s1, s2), (KeySource::Generated, KeySource::File));
        assert_eq!(k1.id_hash("x"), k2.id_hash("x"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(DataKeys::from_hex("abcd").is_err());
    }

    #[test]
    fn rotated_keys_keep_the_id_hash_key_and_read_back_from_their_text() {
        let old = DataKeys::from_master(&[1; 32]);
        let (new, text) = old.rotated(&[9; 32]);
        assert_eq!(new.id_hash("x"), old.id_hash("x"));
        assert!(new.decrypt(&old.encrypt(b"x")).is_err(), "a new encryption key");
        assert_ne!(new.key_id(), old.key_id());
        let read = DataKeys::from_hex(&text).expect("key text");
        assert_eq!(read.key_id(), new.key_id());
        assert_eq!(read.decrypt_string(&new.encrypt(b"abc")).expect("open"), "abc");
        assert_eq!(read.id_hash("x"), old.id_hash("x"));
        assert_eq!(old.key_id().len(), 16);
        assert!(DataKeys::from_hex(&format!("{} other=1", "ab".repeat(32))).is_err());
        assert!(DataKeys::from_hex(&format!("{} id-hash-key=12", "ab".repeat(32))).is_err());
    }

    #[test]
    fn passwords_and_csrf_tokens_verify() {
        let h = hash_password("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        let keys = DataKeys::from_master(&[3; 32]);
        let t = keys.csrf_token("cookie");
        assert!(keys.csrf_valid("cookie", &t));
        assert!(!keys.csrf_valid("other", &t));
        assert!(!keys.csrf_valid("cookie", "garbage!"));
    }
}
