//! The face-verification flow, independent of HTTP: start a session from the identity form,
//! rotate its QR handle, claim (with the binding rules), confirm, cancel, capture and decide,
//! lockouts, lazy expiry, and the events the PC page is told about.
//!
//! Binding ("authenticate, then initiate"): a session belongs to the account and the browser
//! session that typed the subject. A personal device must be signed in to that same account; a
//! kiosk station (registered by an admin) may claim any session, but the person must then type
//! at the station the code that only the PC page shows.

use std::sync::Arc;

use realname_liveness::{ReplayStore, random_actions};
use realname_protocol::ErrorCode;
use realname_protocol::api::{
    ClaimResponse, DeviceInfo, LivenessAction, LivenessChallenge, MaskedContext, SessionState, SessionStatus,
    UploadLimits,
};
use realname_protocol::qr::{QrHandle, QrPayload};
use time::OffsetDateTime;

use crate::crypto::{self, random_bytes};
use crate::error::{ID_ALREADY_VERIFIED_MESSAGE, ServerError, ServerResult};
use crate::events::SessionEvent;
use crate::flows::core::FlowCore;
use crate::store::{Account, Device, FaceSession, StoreError, WebSession};

pub mod admission;
pub mod authority;
mod capture;
pub mod config;
pub mod demo;
mod messages;

pub use self::messages::{failure_message, reason_message};

/// Method name of face verification.
pub const METHOD_FACE: &str = "face";
/// The window of the per-day failure limits, seconds.
pub const FAILURE_WINDOW_SECS: i64 = 24 * 3600;

/// One frame of an upload as the companion sent it.
#[derive(Debug, Clone)]
pub struct UploadedFrame {
    /// The challenge action the frame was captured for (`None`: neutral frame).
    pub action: Option<LivenessAction>,
    /// Device capture time, ms since the Unix epoch.
    pub captured_at_ms: i64,
    /// Filmed during the light step.
    pub light: bool,
    /// The encoded image (JPEG or PNG).
    pub bytes: bytes::Bytes,
}

/// The liveness decision's [`ReplayStore`] on the server's database: nonces and frame
/// fingerprints are claimed in `liveness_nonces` / `liveness_frame_prints`, so a replay is
/// caught across sessions and server instances. Blocking (it waits for the database on the
/// runtime `handle`): use it inside `spawn_blocking`, as the decision does. A database error
/// refuses the claim and is kept for the caller, who answers 503 instead of a decision.
#[derive(Debug)]
pub struct StoreReplay {
    store: Arc<dyn crate::store::Store>,
    handle: tokio::runtime::Handle,
    now: i64,
    error: std::sync::Mutex<Option<StoreError>>,
}

impl StoreReplay {
    /// A replay store on `store`, recording claims at `now` (Unix seconds).
    pub fn new(store: Arc<dyn crate::store::Store>, handle: tokio::runtime::Handle, now: i64) -> Self {
        Self { store, handle, now, error: std::sync::Mutex::new(None) }
    }

    /// The database error a claim met, if any.
    pub fn take_error(&self) -> Option<StoreError> {
        self.error.lock().ok().and_then(|mut e| e.take())
    }

    fn answer(&self, r: Result<bool, StoreError>) -> bool {
        match r {
            Ok(fresh) => fresh,
            Err(e) => {
                if let Ok(mut slot) = self.error.lock() {
                    *slot = Some(e);
                }
                false
            }
        }
    }
}

impl ReplayStore for StoreReplay {
    fn claim_nonce(&self, nonce: &str) -> bool {
        self.answer(self.handle.block_on(self.store.claim_nonce(nonce, self.now)))
    }

    fn claim_frames(&self, fingerprints: &[u64]) -> bool {
        self.answer(self.handle.block_on(self.store.claim_frame_prints(fingerprints, self.now)))
    }
}

/// Who is calling the companion API.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A personal device signed in to an account.
    Personal {
        /// The device.
        device: Device,
        /// The account its token acts for.
        account_id: String,
    },
    /// A registered kiosk station.
    Station {
        /// The station.
        device: Device,
    },
}

impl Caller {
    /// The calling device.
    pub fn device(&self) -> &Device {
        match self {
            Self::Personal { device, .. } | Self::Station { device } => device,
        }
    }
}

/// An identity form error: which field, why, with a stable code.
#[derive(Debug)]
pub struct FormError {
    /// `name`, `id_number` or `None` for the whole form.
    pub field: Option<&'static str>,
    /// The error.
    pub error: ServerError,
}

impl From<ServerError> for FormError {
    fn from(error: ServerError) -> Self {
        Self { field: None, error }
    }
}

impl From<StoreError> for FormError {
    fn from(e: StoreError) -> Self {
        Self { field: None, error: e.into() }
    }
}

fn ts(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub use crate::error::format_time;

/// The face-verification flow: sessions, QR handles, claim, confirm, cancel, capture (cheap to
/// clone; put together in `lib.rs`).
#[derive(Debug, Clone)]
pub struct FaceFlow {
    /// What every flow shares.
    pub core: FlowCore,
    /// Face engine.
    pub analyzer: crate::face::SharedAnalyzer,
    /// Session event hub.
    pub events: Arc<crate::events::EventHub>,
    /// Bounded queue in front of the face engine.
    pub decisions: crate::queue::DecisionQueue,
    /// The origin put into QR codes (`scheme://host:port`).
    pub origin: String,
    /// Random id of this server instance (for cross-instance notifications).
    pub instance: String,
}

impl FaceFlow {
    /// Validates the identity form, checks the rules and the authority, and starts a session.
    pub async fn begin_verification(
        &self,
        account: &Account,
        web: &WebSession,
        name_input: &str,
        id_input: &str,
    ) -> Result<FaceSession, FormError> {
        let (name, id) = self.core.parse_identity_form(name_input, id_input)?;
        self.core.ensure_account_unverified(&account.id).await?;
        let id_hash = self.core.id_lockout(&account.id, &id).await?;
        self.core.authority_match(&account.id, &id_hash, &name, &id).await?;
        self.core.ensure_id_unverified(&id_hash).await?;
        let session = self.waiting_session(
            account.id.clone(),
            web,
            id_hash,
            self.core.keys.encrypt(id.as_str().as_bytes()),
            self.core.keys.encrypt(name.as_str().as_bytes()),
            METHOD_FACE.into(),
        );
        self.core.store.insert_face_session(&session).await?;
        tracing::info!(session = %session.id, "face session started");
        Ok(session)
    }

    /// A fresh session for a subject: waiting for a scan, nothing claimed, every attempt left.
    fn waiting_session(
        &self,
        account_id: String,
        web: &WebSession,
        id_hash: Vec<u8>,
        id_enc: Vec<u8>,
        name_enc: Vec<u8>,
        method: String,
    ) -> FaceSession {
        let now = self.core.now();
        FaceSession {
            id: crypto::random_id(),
            version: 1,
            account_id,
            web_session_id: web.id.clone(),
            id_hash,
            id_enc,
            name_enc,
            method,
            state: SessionState::Waiting,
            created_at: now,
            expires_at: now + self.core.config.limits.session_ttl_secs,
            handle_hash: None,
            handle_expires_at: now,
            attempts_left: i64::from(self.core.config.limits.attempts_per_session),
            device_id: None,
            device_name: None,
            station_code: None,
            claimed_at: None,
            challenge: None,
            confirmed_at: None,
            decided_at: None,
            last_decision: None,
            failure_code: None,
        }
    }

    /// A new session for the same subject as a finished one ("try again" without retyping).
    pub async fn retry_session(&self, old: &FaceSession, web: &WebSession) -> ServerResult<FaceSession> {
        if !old.state.is_final() || old.state == SessionState::Passed {
            return Err(ServerError::new(ErrorCode::SessionState, "This verification is not finished."));
        }
        if self.core.store.verified_identity_by_id_hash(&old.id_hash).await?.is_some() {
            return Err(ServerError::new(ErrorCode::IdAlreadyVerified, ID_ALREADY_VERIFIED_MESSAGE));
        }
        if let Some(until) = self.core.lockout_until(&old.account_id, &old.id_hash).await? {
            return Err(FlowCore::locked_out_error(until));
        }
        let session = self.waiting_session(
            old.account_id.clone(),
            web,
            old.id_hash.clone(),
            old.id_enc.clone(),
            old.name_enc.clone(),
            old.method.clone(),
        );
        self.core.store.insert_face_session(&session).await?;
        Ok(session)
    }

    /// Loads a session, expiring it first if a deadline passed (and telling the page).
    pub async fn load_session(&self, id: &str) -> ServerResult<FaceSession> {
        let mut session = self
            .core
            .store
            .face_session(id)
            .await?
            .ok_or_else(|| ServerError::new(ErrorCode::NotFound, "No such verification session."))?;
        loop {
            if !self.due_to_expire(&session) {
                return Ok(session);
            }
            let mut expired = session.clone();
            expired.state = SessionState::Expired;
            expired.decided_at = Some(self.core.now());
            if self.core.store.update_face_session(&expired).await? {
                expired.version += 1;
                self.publish(&expired);
                return Ok(expired);
            }
            session = self
                .core
                .store
                .face_session(id)
                .await?
                .ok_or_else(|| ServerError::new(ErrorCode::NotFound, "No such verification session."))?;
        }
    }

    fn due_to_expire(&self, s: &FaceSession) -> bool {
        let now = self.core.now();
        if s.state.is_final() {
            return false;
        }
        now >= s.expires_at
            || (s.state == SessionState::Waiting && s.handle_hash.is_some() && now >= s.handle_expires_at)
            || (matches!(s.state, SessionState::Scanned | SessionState::InProgress)
                && s.challenge.as_ref().is_some_and(|c| now >= c.deadline.unix_timestamp()))
    }

    /// The next moment at which [`FaceFlow::load_session`] would expire the session.
    pub fn next_deadline(&self, s: &FaceSession) -> Option<i64> {
        if s.state.is_final() {
            return None;
        }
        let mut d = s.expires_at;
        if s.state == SessionState::Waiting && s.handle_hash.is_some() {
            d = d.min(s.handle_expires_at);
        }
        if let Some(c) = &s.challenge {
            d = d.min(c.deadline.unix_timestamp());
        }
        Some(d)
    }

    /// Gives a waiting session a fresh QR handle (the page calls this on load and before the
    /// current one expires). Returns the QR payload URL and the handle's expiry.
    pub async fn rotate_handle(&self, session_id: &str) -> ServerResult<(QrPayload, i64)> {
        loop {
            let mut s = self.load_session(session_id).await?;
            if s.state != SessionState::Waiting {
                return Err(ServerError::new(ErrorCode::SessionState, "This QR code was scanned already."));
            }
            let handle = QrHandle::from_bytes(random_bytes::<24>());
            let now = self.core.now();
            s.handle_hash = Some(crypto::token_hash(handle.as_str()));
            s.handle_expires_at = (now + self.core.config.limits.qr_ttl_secs).min(s.expires_at);
            let expires = s.handle_expires_at;
            if self.core.store.update_face_session(&s).await? {
                let payload = QrPayload::new(&self.origin, handle).map_err(ServerError::internal)?;
                return Ok((payload, expires));
            }
        }
    }

    /// The event describing a session's current state.
    pub fn event_of(&self, s: &FaceSession) -> SessionEvent {
        let decision = s.last_decision.as_ref();
        let (code, message) = match (&s.failure_code, s.state) {
            (Some(code), _) => (Some(code.as_str().to_owned()), Some(failure_message(*code))),
            (None, SessionState::Expired) => (None, Some("The QR code has expired.".to_owned())),
            (None, SessionState::Cancelled) => (None, Some("The verification was cancelled on the device.".to_owned())),
            _ => (None, decision.map(|d| d.message.clone())),
        };
        SessionEvent {
            state: s.state,
            device: s.device_name.clone(),
            station_code: if s.state == SessionState::Scanned { s.station_code.clone() } else { None },
            attempts_left: u32::try_from(s.attempts_left).unwrap_or(0),
            reason: decision.and_then(|d| d.reason),
            code,
            message,
        }
    }

    fn publish(&self, s: &FaceSession) {
        self.events.publish(&s.id, self.event_of(s));
        let (store, instance, id) = (Arc::clone(&self.core.store), self.instance.clone(), s.id.clone());
        tokio::spawn(async move {
            if let Err(e) = store.notify_session_changed(&instance, &id).await {
                tracing::warn!(error = %e, "cannot notify other instances");
            }
        });
    }

    fn new_challenge(&self, now: i64, session_expires: i64) -> LivenessChallenge {
        let actions = match &self.core.config.test.fixed_challenge {
            Some(fixed) => fixed.clone(),
            None => random_actions(
                self.core.config.face.min_actions,
                self.core.config.face.max_actions,
                &mut rand::rngs::OsRng,
            ),
        };
        use base64::Engine as _;
        use realname_liveness::light::GenerateLight as _;
        let nonce = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<16>());
        // A new sequence from the OS CSPRNG for every challenge, bound to its nonce and stored
        // with it: the decision checks the reflection against the stored copy only.
        let light =
            self.core.config.face.light_check.then(|| realname_protocol::light::LightSequence::generate(&nonce));
        LivenessChallenge {
            actions,
            nonce,
            deadline: ts((now + self.core.config.limits.capture_window_secs).min(session_expires)),
            light,
        }
    }

    /// Upload limits told to the companion.
    pub fn upload_limits(&self) -> UploadLimits {
        UploadLimits {
            max_frames: self.core.config.face.upload_frame_limit(),
            max_frame_bytes: self.core.config.face.max_frame_bytes,
            max_dimension: self.core.config.face.max_dimension,
        }
    }

    /// Claims the session behind a QR handle for the calling device.
    pub async fn claim(&self, caller: &Caller, handle: &str, info: &DeviceInfo) -> ServerResult<ClaimResponse> {
        let handle = QrHandle::parse(handle.trim())
            .map_err(|_| ServerError::new(ErrorCode::HandleUnknown, "This QR code is not valid."))?;
        let hash = crypto::token_hash(handle.as_str());
        let Some(found) = self.core.store.face_session_by_handle(&hash).await? else {
            return Err(ServerError::new(
                ErrorCode::HandleUnknown,
                "This QR code is not known. Scan the current code on the PC page.",
            ));
        };
        let mut s = self.load_session(&found.id).await?;
        if s.handle_hash.as_deref() != Some(hash.as_slice()) {
            return Err(ServerError::new(
                ErrorCode::HandleExpired,
                "This QR code was replaced. Scan the current code on the PC page.",
            ));
        }
        match s.state {
            SessionState::Waiting => {}
            SessionState::Expired => {
                return Err(ServerError::new(
                    ErrorCode::HandleExpired,
                    "This QR code has expired. Refresh it on the PC page.",
                ));
            }
            _ => return Err(ServerError::new(ErrorCode::HandleUsed, "This QR code has been used already.")),
        }
        if let Caller::Personal { account_id, .. } = caller
            && *account_id != s.account_id
        {
            tracing::warn!(session = %s.id, device = %caller.device().id, "claim by a device of another account refused");
            return Err(ServerError::new(
                ErrorCode::SessionWrongAccount,
                "This verification was started by another account. Sign in to the account shown on the PC page.",
            ));
        }
        if let Some(until) = self.core.lockout_until(&s.account_id, &s.id_hash).await? {
            return Err(FlowCore::locked_out_error(until));
        }
        let now = self.core.now();
        let device = caller.device();
        let challenge = self.new_challenge(now, s.expires_at);
        s.state = SessionState::Scanned;
        s.device_id = Some(device.id.clone());
        s.device_name = Some(if info.name.trim().is_empty() { device.name.clone() } else { clip(&info.name, 60) });
        s.station_code = matches!(caller, Caller::Station { .. }).then(crypto::station_code);
        s.claimed_at = Some(now);
        s.challenge = Some(challenge.clone());
        if !self.core.store.update_face_session(&s).await? {
            return Err(ServerError::new(ErrorCode::HandleUsed, "This QR code has been used already."));
        }
        s.version += 1;
        tracing::info!(session = %s.id, device = %device.id, kind = %device.kind, "session claimed");
        self.publish(&s);
        let account = self
            .core
            .store
            .account_by_id(&s.account_id)
            .await?
            .ok_or_else(|| ServerError::internal("session account missing"))?;
        Ok(ClaimResponse {
            session_id: s.id.clone(),
            context: MaskedContext {
                account: realname_protocol::mask::mask_email(&account.email),
                name: realname_protocol::mask::mask_name(&self.core.keys.decrypt_string(&s.name_enc)?),
                id_number: realname_protocol::mask::mask_id_number(&self.core.keys.decrypt_string(&s.id_enc)?),
                pc_started_at: ts(s.created_at),
                requires_station_code: s.station_code.is_some(),
            },
            challenge,
            upload_limits: self.upload_limits(),
            attempts_left: u32::try_from(s.attempts_left).unwrap_or(0),
        })
    }

    /// Loads a session for the device that claimed it.
    pub async fn session_for_device(&self, caller: &Caller, session_id: &str) -> ServerResult<FaceSession> {
        let s = self.load_session(session_id).await.map_err(|e| {
            if e.code == ErrorCode::NotFound { ServerError::new(ErrorCode::NotFound, "No such session.") } else { e }
        })?;
        if s.device_id.as_deref() != Some(caller.device().id.as_str()) {
            return Err(ServerError::new(ErrorCode::NotFound, "No such session."));
        }
        Ok(s)
    }

    pub(crate) fn state_error(s: &FaceSession) -> ServerError {
        match s.state {
            SessionState::Expired => {
                ServerError::new(ErrorCode::SessionExpired, "This verification session has expired.")
            }
            SessionState::Cancelled => {
                ServerError::new(ErrorCode::SessionCancelled, "This verification session was cancelled.")
            }
            SessionState::Failed if s.attempts_left <= 0 => {
                ServerError::new(ErrorCode::AttemptsExhausted, "No attempts left in this session.")
            }
            _ => ServerError::new(ErrorCode::SessionState, "The session is not in a state that allows this step."),
        }
    }

    /// The person confirmed the context (and consented to face capture).
    pub async fn confirm(
        &self,
        caller: &Caller,
        session_id: &str,
        consent: bool,
        station_code: Option<&str>,
    ) -> ServerResult<SessionStatus> {
        loop {
            let mut s = self.session_for_device(caller, session_id).await?;
            if s.state != SessionState::Scanned {
                return Err(Self::state_error(&s));
            }
            if !consent {
                return Err(ServerError::new(ErrorCode::ConsentRequired, "Consent to the face capture is required."));
            }
            if let Some(expected) = &s.station_code {
                let typed = station_code.unwrap_or("").trim();
                let ok = typed.len() == expected.len()
                    && typed.bytes().zip(expected.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
                if !ok {
                    // Wrong codes cost attempts, so the six digits cannot be guessed.
                    s.attempts_left -= 1;
                    if s.attempts_left <= 0 {
                        s.state = SessionState::Failed;
                        s.decided_at = Some(self.core.now());
                        s.failure_code = Some(crate::store::FailureCode::StationCodeInvalid);
                    }
                    if self.core.store.update_face_session(&s).await? {
                        s.version += 1;
                        self.publish(&s);
                        return Err(ServerError::new(
                            ErrorCode::StationCodeInvalid,
                            "The code does not match the one shown on the PC page.",
                        )
                        .with_detail(format!("attempts_left={}", s.attempts_left.max(0))));
                    }
                    continue;
                }
            }
            s.state = SessionState::InProgress;
            s.confirmed_at = Some(self.core.now());
            if self.core.store.update_face_session(&s).await? {
                s.version += 1;
                self.publish(&s);
                return Ok(self.status_of(&s));
            }
        }
    }

    /// "Cancel — I did not start this".
    pub async fn cancel(&self, caller: &Caller, session_id: &str) -> ServerResult<SessionStatus> {
        loop {
            let mut s = self.session_for_device(caller, session_id).await?;
            if !matches!(s.state, SessionState::Scanned | SessionState::InProgress) {
                return Err(Self::state_error(&s));
            }
            s.state = SessionState::Cancelled;
            s.decided_at = Some(self.core.now());
            if self.core.store.update_face_session(&s).await? {
                s.version += 1;
                tracing::info!(session = %s.id, "session cancelled on the device");
                self.publish(&s);
                return Ok(self.status_of(&s));
            }
        }
    }

    /// The companion's view of the session.
    pub fn status_of(&self, s: &FaceSession) -> SessionStatus {
        SessionStatus {
            session_id: s.id.clone(),
            state: s.state,
            attempts_left: u32::try_from(s.attempts_left).unwrap_or(0),
            last_decision: s.last_decision.clone(),
        }
    }
}

fn clip(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}
