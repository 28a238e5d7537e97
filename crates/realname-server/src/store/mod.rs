//! Storage: the [`Store`] trait and its records, with one engine per database
//! ([`sqlite::SqliteStore`], [`postgres::PgStore`]), each with its own migrations folder.
//!
//! Both engines run the same SQL text (`$n` parameters, Unix-second integer times, byte blobs),
//! generated from one macro so they cannot drift apart; the schema files differ only in types.
//! Race-sensitive writes are single statements or short transactions whose first statement
//! writes, and face sessions use optimistic concurrency (a `version` column), so that two
//! claims of one QR handle, or two accounts verifying one ID number, resolve to exactly one
//! winner on both engines.

pub mod demo;
pub mod hardening;
pub mod kinds;
pub mod maintenance;
pub mod methods;
pub mod ops;
pub mod postgres;
pub mod similarity;
mod sql;
pub mod sqlite;
pub mod trust;
pub mod webhooks;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use realname_protocol::api::{Decision, LivenessChallenge, SessionState};

/// A database uniqueness rule that a write ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    /// `accounts.email`.
    AccountEmail,
    /// `verified_identities.id_hash`: the ID number verifies another account.
    IdentityIdHash,
    /// `verified_identities.account_id`: the account is verified already.
    IdentityAccount,
    /// Any other unique rule.
    Other,
}

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write.
    #[error("unique constraint violated: {0:?}")]
    Conflict(Constraint),
    /// The database failed (connection, SQL, I/O).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value cannot be interpreted.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// The URL names no supported engine.
    #[error("unsupported database URL (use sqlite://… or postgres://…)")]
    UnsupportedUrl,
}

/// A person's account.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Account {
    /// Random id.
    pub id: String,
    /// Lower-cased e-mail.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Unix seconds.
    pub created_at: i64,
    /// When the account completed real-name verification.
    pub verified_at: Option<i64>,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("email", &realname_protocol::mask::mask_email(&self.email))
            .field("verified_at", &self.verified_at)
            .finish_non_exhaustive()
    }
}

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WebSession {
    /// Public id (face sessions are bound to it).
    pub id: String,
    /// Owner.
    pub account_id: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// A companion device: a personal app signed in to an account, or a kiosk station.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Device {
    /// Random id.
    pub id: String,
    /// Personal app or kiosk station.
    pub kind: DeviceKind,
    /// Shown on the PC page ("scanned by …").
    pub name: String,
    /// Free text.
    pub platform: String,
    /// Owner (personal devices only).
    pub account_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Set when revoked.
    pub revoked_at: Option<i64>,
}

pub use kinds::{DeviceKind, TokenKind};

/// A stored companion token (the token itself is only kept hashed).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeviceToken {
    /// Access or refresh token.
    pub kind: TokenKind,
    /// The device.
    pub device_id: String,
    /// The account it acts for.
    pub account_id: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// Set when revoked or rotated.
    pub revoked_at: Option<i64>,
}

/// One entry of the local identity registry (name and number encrypted).
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuthorityRecord {
    /// Keyed hash of the ID number.
    pub id_hash: Vec<u8>,
    /// AES-GCM of the ID number.
    pub id_enc: Vec<u8>,
    /// AES-GCM of the name.
    pub name_enc: Vec<u8>,
    /// Reference face descriptor (512 bytes, see `realname_face::Descriptor::to_bytes`).
    pub descriptor: Option<Vec<u8>>,
    /// SHA-256 of the imported photo file (hex), for audits.
    pub photo_sha256: String,
    /// Unix seconds.
    pub imported_at: i64,
}

impl fmt::Debug for AuthorityRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorityRecord")
            .field("has_descriptor", &self.descriptor.is_some())
            .field("imported_at", &self.imported_at)
            .finish_non_exhaustive()
    }
}

/// A face verification session: the subject typed on the PC, its QR handle, the claiming
/// device, the challenge and the decisions.
#[derive(Clone, PartialEq)]
pub struct FaceSession {
    /// Random id (also the companion's `session_id`).
    pub id: String,
    /// Optimistic-concurrency version; bumped by every update.
    pub version: i64,
    /// The account that started it.
    pub account_id: String,
    /// The browser session that started it.
    pub web_session_id: String,
    /// Keyed hash of the subject's ID number.
    pub id_hash: Vec<u8>,
    /// AES-GCM of the ID number.
    pub id_enc: Vec<u8>,
    /// AES-GCM of the name.
    pub name_enc: Vec<u8>,
    /// `face` (later: `mobile`).
    pub method: String,
    /// Current state.
    pub state: SessionState,
    /// Unix seconds.
    pub created_at: i64,
    /// The session ends at this time whatever its state.
    pub expires_at: i64,
    /// SHA-256 of the current QR handle (`None` once claimed).
    pub handle_hash: Option<Vec<u8>>,
    /// The current handle stops working at this time.
    pub handle_expires_at: i64,
    /// Capture attempts left.
    pub attempts_left: i64,
    /// The claiming device.
    pub device_id: Option<String>,
    /// Its name, for the PC page.
    pub device_name: Option<String>,
    /// Kiosk stations: the code the PC page shows and the person types at the station.
    pub station_code: Option<String>,
    /// Unix seconds.
    pub claimed_at: Option<i64>,
    /// The current liveness challenge.
    pub challenge: Option<LivenessChallenge>,
    /// Unix seconds.
    pub confirmed_at: Option<i64>,
    /// Unix seconds.
    pub decided_at: Option<i64>,
    /// The last capture decision.
    pub last_decision: Option<Decision>,
    /// Why the session failed when it was not a face decision.
    pub failure_code: Option<FailureCode>,
}

impl fmt::Debug for FaceSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaceSession")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("state", &self.state)
            .field("attempts_left", &self.attempts_left)
            .finish_non_exhaustive()
    }
}

/// A completed verification: at most one per ID number and one per account.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct VerifiedIdentity {
    /// Keyed hash of the ID number (primary key).
    pub id_hash: Vec<u8>,
    /// The verified account (unique).
    pub account_id: String,
    /// The deciding session.
    pub session_id: String,
    /// AES-GCM of the ID number.
    pub id_enc: Vec<u8>,
    /// AES-GCM of the name.
    pub name_enc: Vec<u8>,
    /// `face`.
    pub method: String,
    /// Unix seconds.
    pub verified_at: i64,
}

impl fmt::Debug for VerifiedIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedIdentity")
            .field("account_id", &self.account_id)
            .field("session_id", &self.session_id)
            .field("verified_at", &self.verified_at)
            .finish_non_exhaustive()
    }
}

/// The storage interface of the backend. One implementation per database engine.
#[async_trait]
pub trait Store:
    methods::PathsStore
    + webhooks::WebhookStore
    + ops::OpsStore
    + maintenance::MaintenanceStore
    + hardening::HardeningStore
    + trust::TrustStore
    + demo::DemoStore
    + similarity::SimilarityStore
    + Send
    + Sync
    + fmt::Debug
{
    /// Applies the engine's pending migrations.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// `sqlite` or `postgres`.
    fn engine(&self) -> &'static str;

    /// Inserts an account; [`Constraint::AccountEmail`] if the e-mail is taken.
    async fn insert_account(&self, account: &Account) -> Result<(), StoreError>;
    /// Looks an account up by (lower-cased) e-mail.
    async fn account_by_email(&self, email: &str) -> Result<Option<Account>, StoreError>;
    /// Looks an account up by id.
    async fn account_by_id(&self, id: &str) -> Result<Option<Account>, StoreError>;
    /// All accounts, newest first.
    async fn list_accounts(&self, limit: i64) -> Result<Vec<Account>, StoreError>;

    /// Stores a browser session.
    async fn insert_web_session(&self, s: &WebSession, token_hash: &[u8], now: i64) -> Result<(), StoreError>;
    /// The unexpired browser session with this token hash.
    async fn web_session(&self, token_hash: &[u8], now: i64) -> Result<Option<WebSession>, StoreError>;
    /// Signs a browser out.
    async fn delete_web_session(&self, token_hash: &[u8]) -> Result<(), StoreError>;

    /// Inserts a device (`credential_hash` for stations).
    async fn insert_device(&self, d: &Device, credential_hash: Option<&[u8]>) -> Result<(), StoreError>;
    /// The device with this id.
    async fn device(&self, id: &str) -> Result<Option<Device>, StoreError>;
    /// The unrevoked station with this credential hash.
    async fn station_by_credential(&self, credential_hash: &[u8]) -> Result<Option<Device>, StoreError>;
    /// All devices.
    async fn list_devices(&self) -> Result<Vec<Device>, StoreError>;

    /// Stores a companion token.
    async fn insert_token(&self, token_hash: &[u8], t: &DeviceToken, now: i64) -> Result<(), StoreError>;
    /// A token by hash (expired and revoked ones included: the caller says why it is refused).
    async fn token(&self, token_hash: &[u8]) -> Result<Option<DeviceToken>, StoreError>;
    /// Revokes a token if it is not revoked yet; `false` if it was (refresh-token reuse).
    async fn revoke_token(&self, token_hash: &[u8], now: i64) -> Result<bool, StoreError>;
    /// Revokes every token of a device.
    async fn revoke_device_tokens(&self, device_id: &str, now: i64) -> Result<(), StoreError>;

    /// Inserts or replaces a registry entry.
    async fn upsert_authority_record(&self, r: &AuthorityRecord) -> Result<(), StoreError>;
    /// The registry entry for an ID hash.
    async fn authority_record(&self, id_hash: &[u8]) -> Result<Option<AuthorityRecord>, StoreError>;
    /// Number of registry entries.
    async fn count_authority_records(&self) -> Result<i64, StoreError>;

    /// Inserts a new face session (version 1).
    async fn insert_face_session(&self, s: &FaceSession) -> Result<(), StoreError>;
    /// A face session by id.
    async fn face_session(&self, id: &str) -> Result<Option<FaceSession>, StoreError>;
    /// The face session whose current handle hashes to this.
    async fn face_session_by_handle(&self, handle_hash: &[u8]) -> Result<Option<FaceSession>, StoreError>;
    /// Writes `s` if the stored version is still `s.version`, bumping it; `false` if another
    /// writer came first (reload and decide again).
    async fn update_face_session(&self, s: &FaceSession) -> Result<bool, StoreError>;
    /// Recent face sessions, newest first.
    async fn list_face_sessions(&self, limit: i64) -> Result<Vec<FaceSession>, StoreError>;

    /// In one transaction: the session update (as [`Store::update_face_session`]), the
    /// verified identity and the account's `verified_at`. The unique keys make this the
    /// race-safe "one ID number, one account" rule: [`Constraint::IdentityIdHash`] or
    /// [`Constraint::IdentityAccount`] on a conflict, `Ok(false)` if the session changed.
    async fn complete_verification(&self, s: &FaceSession, v: &VerifiedIdentity) -> Result<bool, StoreError>;
    /// The verified identity of an account.
    async fn verified_identity_of_account(&self, account_id: &str) -> Result<Option<VerifiedIdentity>, StoreError>;
    /// The verified identity with this ID hash.
    async fn verified_identity_by_id_hash(&self, id_hash: &[u8]) -> Result<Option<VerifiedIdentity>, StoreError>;
    /// All verified identities, newest first.
    async fn list_verified_identities(&self, limit: i64) -> Result<Vec<VerifiedIdentity>, StoreError>;

    /// Records a failed attempt.
    async fn record_failure(&self, account_id: &str, id_hash: &[u8], at: i64) -> Result<(), StoreError>;
    /// Times of an account's failures after `since`, oldest first.
    async fn failures_of_account(&self, account_id: &str, since: i64) -> Result<Vec<i64>, StoreError>;
    /// Times of an ID number's failures after `since`, oldest first.
    async fn failures_of_id(&self, id_hash: &[u8], since: i64) -> Result<Vec<i64>, StoreError>;

    /// Marks a liveness challenge nonce used; `false` when it had been used before (replay).
    async fn claim_nonce(&self, nonce: &str, at: i64) -> Result<bool, StoreError>;
    /// Records the face fingerprints of an upload; `false` when any was recorded before (the
    /// same frames submitted again). Every fingerprint is recorded either way.
    async fn claim_frame_prints(&self, prints: &[u64], at: i64) -> Result<bool, StoreError>;

    /// Tells the other server instances sharing this database that a session changed
    /// (PostgreSQL `NOTIFY`; a single SQLite instance needs nothing).
    async fn notify_session_changed(&self, _instance: &str, _session_id: &str) -> Result<(), StoreError> {
        Ok(())
    }

    /// Other instances' session changes as `(instance, session id)` (PostgreSQL `LISTEN`);
    /// `None` where the engine has no such channel.
    async fn session_changes(&self) -> Result<Option<SessionChanges>, StoreError> {
        Ok(None)
    }
}

/// A stream of `(instance, session id)` change notifications.
pub type SessionChanges = futures::stream::BoxStream<'static, (String, String)>;

/// Connects to the engine the URL names and applies its migrations.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    let store: Arc<dyn Store> = if url.starts_with("sqlite:") {
        Arc::new(sqlite::SqliteStore::connect(url).await?)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Arc::new(postgres::PgStore::connect(url).await?)
    } else {
        return Err(StoreError::UnsupportedUrl);
    };
    store.migrate().await?;
    Ok(store)
}

/// The wire name of a session state (as stored).
pub fn state_name(state: SessionState) -> &'static str {
    match state {
        SessionState::Waiting => "waiting",
        SessionState::Scanned => "scanned",
        SessionState::InProgress => "in_progress",
        SessionState::Passed => "passed",
        SessionState::Failed => "failed",
        SessionState::Expired => "expired",
        SessionState::Cancelled => "cancelled",
    }
}

/// Why a face session failed outside a face decision. Stored in `face_sessions.failure_code`
/// as the text of the matching [`realname_protocol::ErrorCode`] (the column's values stay).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCode {
    /// The ID number is verified on another account ("one ID number, one account").
    IdAlreadyVerified,
    /// This account was verified meanwhile (another session or method).
    AccountAlreadyVerified,
    /// The code typed at a kiosk station was wrong too many times.
    StationCodeInvalid,
}

impl FailureCode {
    /// The error code a client sees.
    pub fn error_code(self) -> realname_protocol::ErrorCode {
        match self {
            Self::IdAlreadyVerified => realname_protocol::ErrorCode::IdAlreadyVerified,
            Self::AccountAlreadyVerified => realname_protocol::ErrorCode::AccountAlreadyVerified,
            Self::StationCodeInvalid => realname_protocol::ErrorCode::StationCodeInvalid,
        }
    }

    /// The stored text (the error code's).
    pub fn as_str(self) -> &'static str {
        self.error_code().as_str()
    }

    /// Reads the stored text.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        [Self::IdAlreadyVerified, Self::AccountAlreadyVerified, Self::StationCodeInvalid]
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| StoreError::Corrupt(format!("failure code {s:?}")))
    }
}

/// Inverse of [`state_name`].
pub fn parse_state(s: &str) -> Result<SessionState, StoreError> {
    Ok(match s {
        "waiting" => SessionState::Waiting,
        "scanned" => SessionState::Scanned,
        "in_progress" => SessionState::InProgress,
        "passed" => SessionState::Passed,
        "failed" => SessionState::Failed,
        "expired" => SessionState::Expired,
        "cancelled" => SessionState::Cancelled,
        other => return Err(StoreError::Corrupt(format!("session state {other:?}"))),
    })
}

/// Classifies a database error: unique violations become [`StoreError::Conflict`].
pub(crate) fn classify(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.is_unique_violation()
    {
        // PostgreSQL names the constraint; SQLite names the columns in the message.
        let what = db.constraint().map(str::to_owned).unwrap_or_else(|| db.message().to_owned());
        let c = if what.contains("accounts") && what.contains("email") {
            Constraint::AccountEmail
        } else if what.contains("verified_identities") && what.contains("account_id") {
            Constraint::IdentityAccount
        } else if what.contains("verified_identities") {
            Constraint::IdentityIdHash
        } else {
            Constraint::Other
        };
        return StoreError::Conflict(c);
    }
    StoreError::Database(e)
}

/// Migrations compiled into the binary (so a single file deploys).
#[derive(Debug)]
pub(crate) struct EmbeddedMigrations(pub &'static [(i64, &'static str, &'static str)]);

impl<'s> sqlx::migrate::MigrationSource<'s> for EmbeddedMigrations {
    fn resolve(
        self,
    ) -> futures::future::BoxFuture<'s, Result<Vec<sqlx::migrate::Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|(version, description, sql)| {
                    sqlx::migrate::Migration::new(
                        *version,
                        (*description).into(),
                        sqlx::migrate::MigrationType::Simple,
                        (*sql).into(),
                        false,
                    )
                })
                .collect())
        })
    }
}
