//! The Realname QR payload: a URL on the server's own origin carrying an opaque handle.
//!
//! Format (version 1): `{origin}/v1/q/{handle}`, e.g.
//! `https://verify.example.com/v1/q/3q2-7wEAAAC0bq_Kx9c1sZnTgYKb0R9a`.
//! The handle is 24 random bytes (192 bits) in unpadded base64url, 32 characters. The payload
//! carries no personal data; the companion app must check the origin against its list of
//! trusted servers before it claims the handle.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Number of random bytes behind a handle.
pub const HANDLE_BYTES: usize = 24;
/// Length of a handle in characters (unpadded base64url of [`HANDLE_BYTES`]).
pub const HANDLE_CHARS: usize = 32;
/// Longest payload accepted; anything longer is not a Realname QR.
pub const MAX_PAYLOAD_LEN: usize = 512;
/// The only payload version this build understands.
pub const PAYLOAD_VERSION: u32 = 1;

/// Why a scanned text is not a usable Realname QR payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrPayloadError {
    /// Longer than [`MAX_PAYLOAD_LEN`] bytes.
    #[error("the QR payload is too long to be a Realname code")]
    TooLong,
    /// Not a URL at all.
    #[error("the QR code does not contain a web address")]
    NotAUrl,
    /// A scheme other than `http` or `https`.
    #[error("the QR code's address uses an unsupported scheme")]
    UnsupportedScheme,
    /// User name, password, query or fragment present: never produced by a Realname server.
    #[error("the QR code's address has parts a Realname code never has")]
    UnexpectedUrlParts,
    /// The path is not `/v1/q/{handle}`.
    #[error("the QR code is not a Realname verification code")]
    NotRealname,
    /// A Realname path with a version this build does not know.
    #[error("the QR code uses Realname payload version {0}, which this app does not support")]
    UnsupportedVersion(String),
    /// The handle is not 32 base64url characters.
    #[error("the QR code's session handle is malformed")]
    BadHandle,
}

impl QrPayloadError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLong => "qr_too_long",
            Self::NotAUrl => "qr_not_url",
            Self::UnsupportedScheme => "qr_scheme",
            Self::UnexpectedUrlParts => "qr_url_parts",
            Self::NotRealname => "qr_not_realname",
            Self::UnsupportedVersion(_) => "qr_version",
            Self::BadHandle => "qr_bad_handle",
        }
    }
}

/// An opaque, single-use session handle as carried in the QR code.
///
/// `Debug` shows only a prefix: a handle is a bearer secret for its short lifetime.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct QrHandle(String);

impl QrHandle {
    /// Encodes freshly generated random bytes as a handle.
    pub fn from_bytes(bytes: [u8; HANDLE_BYTES]) -> Self {
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Validates a handle string (32 base64url characters that decode to 24 bytes).
    pub fn parse(s: &str) -> Result<Self, QrPayloadError> {
        let well_formed = s.len() == HANDLE_CHARS
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && URL_SAFE_NO_PAD.decode(s).is_ok_and(|d| d.len() == HANDLE_BYTES);
        if well_formed { Ok(Self(s.to_owned())) } else { Err(QrPayloadError::BadHandle) }
    }

    /// The handle text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for QrHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QrHandle({}…)", &self.0[..6.min(self.0.len())])
    }
}

impl fmt::Display for QrHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed Realname QR payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrPayload {
    origin: String,
    handle: QrHandle,
}

impl QrPayload {
    /// Builds a payload for `origin` (e.g. `https://verify.example.com`; a trailing `/` or a
    /// path is dropped, only scheme, host and port are kept).
    pub fn new(origin: &str, handle: QrHandle) -> Result<Self, QrPayloadError> {
        let url = url::Url::parse(origin).map_err(|_| QrPayloadError::NotAUrl)?;
        Ok(Self { origin: origin_of(&url)?, handle })
    }

    /// Parses scanned text strictly. Whitespace around the text is ignored.
    pub fn parse(text: &str) -> Result<Self, QrPayloadError> {
        let text = text.trim();
        if text.len() > MAX_PAYLOAD_LEN {
            return Err(QrPayloadError::TooLong);
        }
        let url = url::Url::parse(text).map_err(|_| QrPayloadError::NotAUrl)?;
        let origin = origin_of(&url)?;
        if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
            return Err(QrPayloadError::UnexpectedUrlParts);
        }
        let segments: Vec<&str> = url.path().split('/').skip(1).collect();
        match segments.as_slice() {
            ["v1", "q", handle] => Ok(Self { origin, handle: QrHandle::parse(handle)? }),
            [version, "q", _] if version.starts_with('v') && version.len() <= 4 => {
                Err(QrPayloadError::UnsupportedVersion(version[1..].to_owned()))
            }
            _ => Err(QrPayloadError::NotRealname),
        }
    }

    /// Parses raw QR bytes (they must be UTF-8).
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, QrPayloadError> {
        if bytes.len() > MAX_PAYLOAD_LEN {
            return Err(QrPayloadError::TooLong);
        }
        std::str::from_utf8(bytes).map_err(|_| QrPayloadError::NotAUrl).and_then(Self::parse)
    }

    /// The server origin, serialised as `scheme://host[:port]` (no trailing slash).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The session handle.
    pub fn handle(&self) -> &QrHandle {
        &self.handle
    }

    /// The payload version.
    pub fn version(&self) -> u32 {
        PAYLOAD_VERSION
    }
}

impl fmt::Display for QrPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/v1/q/{}", self.origin, self.handle)
    }
}

/// Normalises the origin of a URL, refusing anything but http(s).
fn origin_of(url: &url::Url) -> Result<String, QrPayloadError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(QrPayloadError::UnsupportedScheme);
    }
    match url.origin() {
        origin @ url::Origin::Tuple(..) => Ok(origin.ascii_serialization()),
        url::Origin::Opaque(_) => Err(QrPayloadError::NotAUrl),
    }
}

/// Compares two origins after normalisation (scheme and host case, default ports).
pub fn same_origin(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn handle() -> QrHandle {
        QrHandle::from_bytes([7; HANDLE_BYTES])
    }

    #[test]
    fn round_trips() {
        let payload = QrPayload::new("http://127.0.0.1:8080/", handle()).expect("valid origin");
        let text = payload.to_string();
        assert_eq!(text, format!("http://127.0.0.1:8080/v1/q/{}", handle()));
        assert_eq!(QrPayload::parse(&text), Ok(payload.clone()));
        assert_eq!(QrPayload::parse_bytes(text.as_bytes()), Ok(payload));
        assert_eq!(handle().as_str().len(), HANDLE_CHARS);
    }

    #[test]
    fn normalises_the_origin() {
        let p = QrPayload::parse(&format!("HTTPS://Verify.Example.COM:443/v1/q/{}", handle())).expect("valid");
        assert_eq!(p.origin(), "https://verify.example.com");
        assert!(same_origin("https://verify.example.com", "https://VERIFY.example.com:443/x"));
        assert!(!same_origin("https://verify.example.com", "http://verify.example.com"));
    }

    #[test]
    fn rejects_what_is_not_a_realname_payload() {
        let h = handle();
        let cases = [
            ("hello", QrPayloadError::NotAUrl),
            (&*format!("ftp://x/v1/q/{h}"), QrPayloadError::UnsupportedScheme),
            (&*format!("http://u:p@x/v1/q/{h}"), QrPayloadError::UnexpectedUrlParts),
            (&*format!("http://x/v1/q/{h}?a=1"), QrPayloadError::UnexpectedUrlParts),
            (&*format!("http://x/v1/q/{h}#f"), QrPayloadError::UnexpectedUrlParts),
            (&*format!("http://x/v2/q/{h}"), QrPayloadError::UnsupportedVersion("2".into())),
            (&*format!("http://x/q/{h}"), QrPayloadError::NotRealname),
            (&*format!("http://x/v1/q/{h}/extra"), QrPayloadError::NotRealname),
            ("http://x/v1/q/short", QrPayloadError::BadHandle),
            ("http://x/v1/q/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", QrPayloadError::BadHandle),
        ];
        for (text, expected) in cases {
            assert_eq!(QrPayload::parse(text), Err(expected), "{text}");
        }
        assert_eq!(QrPayload::parse(&"a".repeat(600)), Err(QrPayloadError::TooLong));
        assert_eq!(QrPayload::parse_bytes(&[0xff, 0xfe]), Err(QrPayloadError::NotAUrl));
    }

    #[test]
    fn debug_hides_most_of_the_handle() {
        assert_eq!(format!("{:?}", handle()), "QrHandle(BwcHBw…)");
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..700)) {
            let _ = QrPayload::parse_bytes(&bytes);
        }

        #[test]
        fn every_generated_handle_round_trips(bytes in prop::array::uniform24(any::<u8>())) {
            let h = QrHandle::from_bytes(bytes);
            let p = QrPayload::new("https://example.com", h.clone()).expect("origin");
            prop_assert_eq!(QrPayload::parse(&p.to_string()).map(|p| p.handle().clone()), Ok(h));
        }
    }
}
