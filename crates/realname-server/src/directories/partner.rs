//! The partner directory's interface: which sister services can assert a verified identity,
//! and the OAuth code exchange with them. The local stand-in and the HTTP client implementing
//! it live in `flows/partner/`.

use async_trait::async_trait;
use realname_protocol::ErrorCode;
use serde::{Deserialize, Serialize};

use crate::store::StoreError;

/// The partner's assertion: the verified person its signed-in user is.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerVerification {
    /// Partner display name.
    pub partner: String,
    /// The verified name.
    pub name: String,
    /// The verified ID number.
    pub id_number: String,
    /// When the partner verified it, Unix seconds.
    pub verified_at: i64,
}

impl std::fmt::Debug for PartnerVerification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartnerVerification").field("partner", &self.partner).finish_non_exhaustive()
    }
}

/// Partner failures.
#[derive(Debug, thiserror::Error)]
pub enum PartnerError {
    /// The partner cannot be reached or answered garbage.
    #[error("partner unavailable: {0}")]
    Unavailable(String),
    /// The partner refused the token request (bad code, verifier, redirect URI, client…).
    #[error("partner refused the grant: {0}")]
    Refused(ErrorCode),
    /// Local storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stored data cannot be decrypted.
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
}

/// The token request of the authorization code grant (RFC 6749 §4.1.3 + RFC 7636 §4.5).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenGrant {
    /// Always `authorization_code`.
    pub grant_type: String,
    /// The code from the callback.
    pub code: String,
    /// The redirect URI of the authorization request.
    pub redirect_uri: String,
    /// Our client id.
    pub client_id: String,
    /// The PKCE verifier.
    pub code_verifier: String,
}

impl std::fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenGrant").field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

/// "Which sister services can assert a verified identity, and who is this user there?"
#[async_trait]
pub trait PartnerDirectory: Send + Sync + std::fmt::Debug {
    /// The partners the popup offers (display names).
    async fn partners(&self) -> Result<Vec<String>, PartnerError>;
    /// The authorization endpoint of `partner` (`None`: no such partner). `origin` is this
    /// server's public origin (the local stand-in lives there).
    fn authorize_endpoint(&self, partner: &str, origin: &str) -> Option<String>;
    /// Exchanges an authorization code at `partner`'s token endpoint for its assertion.
    async fn exchange(&self, partner: &str, grant: &TokenGrant) -> Result<PartnerVerification, PartnerError>;
}
