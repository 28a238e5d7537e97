//! The mobile method's outside services: the carrier directory (the three-element check) and the
//! SMS gateway, with the mobile number they take. The local and HTTP implementations live in
//! `flows/mobile/`.

use async_trait::async_trait;
use realname_protocol::{PersonName, ResidentId};
use serde::{Deserialize, Serialize};

use crate::store::StoreError;

/// A mainland China mobile number: 11 digits, `1[3-9]…`, stored without `+86`.
#[derive(Clone, PartialEq, Eq)]
pub struct MobileNumber(String);

impl std::fmt::Debug for MobileNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MobileNumber({})", realname_protocol::mask::mask_phone(&self.0))
    }
}

/// Why a mobile number is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MobileNumberError {
    /// Nothing typed.
    #[error("Enter the mobile number.")]
    Empty,
    /// Not an 11-digit mainland number starting with 13–19.
    #[error("The mobile number must be an 11-digit mainland China number starting with 13–19.")]
    Format,
}

impl MobileNumberError {
    /// Stable detail code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Empty => "phone_empty",
            Self::Format => "phone_format",
        }
    }
}

impl MobileNumber {
    /// Parses what a person typed: spaces and hyphens ignored, an optional `+86` / `86` prefix.
    pub fn parse(input: &str) -> Result<Self, MobileNumberError> {
        if input.len() > 32 {
            return Err(MobileNumberError::Format);
        }
        let compact: String = input.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
        if compact.is_empty() {
            return Err(MobileNumberError::Empty);
        }
        let digits = compact.strip_prefix("+86").or_else(|| compact.strip_prefix("0086")).unwrap_or(&compact);
        let digits = if digits.len() == 13 { digits.strip_prefix("86").unwrap_or(digits) } else { digits };
        let b = digits.as_bytes();
        if b.len() != 11 || !b.iter().all(u8::is_ascii_digit) || b[0] != b'1' || !(b'3'..=b'9').contains(&b[1]) {
            return Err(MobileNumberError::Format);
        }
        Ok(Self(digits.to_owned()))
    }

    /// The 11 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Masked for pages and logs (`138****5678`).
    pub fn masked(&self) -> String {
        realname_protocol::mask::mask_phone(&self.0)
    }
}

/// The carrier's answer to the three-element check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CarrierVerdict {
    /// The number is registered to this name and ID number.
    Match,
    /// The number is registered to someone else.
    Mismatch,
    /// The number is not known.
    Unknown,
}

/// Carrier directory and SMS gateway failures.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The remote service cannot be reached or answered garbage.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Local storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stored data cannot be decrypted.
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
}

/// The three-element check: is `phone` registered to `name` with `id`?
#[async_trait]
pub trait CarrierDirectory: Send + Sync + std::fmt::Debug {
    /// Checks the three elements.
    async fn check(
        &self,
        phone: &MobileNumber,
        name: &PersonName,
        id: &ResidentId,
    ) -> Result<CarrierVerdict, ChannelError>;
}

/// Sends text messages.
#[async_trait]
pub trait SmsGateway: Send + Sync + std::fmt::Debug {
    /// Sends `text` to `phone`.
    async fn send(&self, phone: &MobileNumber, text: &str) -> Result<(), ChannelError>;
}
