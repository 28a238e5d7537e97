//! The APP role as an async state machine: scan until a valid Realname QR → check the origin
//! is trusted → claim → show the masked context (confirm or cancel) → consent (and the kiosk
//! code) → liveness challenge with live feedback and auto-capture → upload → decision.
//!
//! Progress is reported as typed [`FlowEvent`]s on a channel a UI renders; the questions a
//! person must answer go through a [`Prompter`]; a [`CancellationToken`] stops the flow at any
//! step (after the claim the server is told, so the PC page shows "cancelled"). The same code
//! runs whatever the frames come from: a webcam, the screen, a folder, or a prepared clip.

use std::sync::Arc;
use std::time::{Duration, Instant};

use image::RgbImage;
use realname_protocol::api::{
    CaptureMetadata, ClaimRequest, ClaimResponse, ConfirmRequest, Decision, DeviceInfo, FrameMeta, LivenessAction,
    LivenessChallenge, MaskedContext, Outcome, UploadLimits,
};
use realname_protocol::QrPayload;
use realname_scan::{FrameSource, QrReader, ReaderConfig, SourceError};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
pub use tokio_util::sync::CancellationToken;

use crate::client::{ApiClient, AuthedClient, UploadFrame};
use crate::config::{CompanionConfig, Language, Mode, TrustedOrigins};
use crate::credentials::{Credential, CredentialStore};
use crate::error::{CompanionError, ErrorReport};
use crate::liveness::{ChallengeTracker, Feedback, ObservedFrame, SelectedFrame, Thresholds, TrackerEvent};
use crate::observer::FaceObserver;
use crate::pump::FramePump;

/// Where the QR code comes from.
pub enum QrInput {
    /// Scan frames of a source until a Realname QR appears.
    Source(Box<dyn FrameSource>),
    /// Already decoded text (e.g. a QR read from a page's PNG).
    Text(String),
}

impl std::fmt::Debug for QrInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Source(s) => write!(f, "QrInput::Source({})", s.info().name),
            Self::Text(_) => f.write_str("QrInput::Text(..)"),
        }
    }
}

/// Where the face frames come from.
pub enum FaceInput {
    /// The same source that showed the QR (a webcam turned from the screen to the face).
    SameAsQr,
    /// Another source.
    Source(Box<dyn FrameSource>),
    /// A clip loaded and analysed in advance (load generator: many flows, one analysis).
    Prepared(Arc<PreparedClip>),
}

impl std::fmt::Debug for FaceInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SameAsQr => f.write_str("FaceInput::SameAsQr"),
            Self::Source(s) => write!(f, "FaceInput::Source({})", s.info().name),
            Self::Prepared(c) => write!(f, "FaceInput::Prepared({} frames)", c.frames.len()),
        }
    }
}

/// The person's answer to the masked context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextChoice {
    /// "Yes, I started this".
    Confirm,
    /// "Cancel — I did not start this".
    Cancel,
}

/// The questions a person answers during the flow (terminal prompts, dialog buttons, or
/// fixed answers for automation).
#[async_trait::async_trait]
pub trait Prompter: Send + Sync {
    /// Shows the masked context; confirm and cancel are equal choices.
    async fn confirm_context(&self, context: &MaskedContext) -> ContextChoice;
    /// Asks for consent to face capture.
    async fn consent(&self) -> bool;
    /// Kiosk stations: asks for the code shown on the PC (`None` = cancel).
    async fn station_code(&self) -> Option<String>;
}

/// Fixed answers (`--yes`, `--cancel`, load generator).
#[derive(Debug, Clone)]
pub struct FixedAnswers {
    /// Answer to the context question.
    pub choice: ContextChoice,
    /// Consent.
    pub consent: bool,
    /// Kiosk code.
    pub station_code: Option<String>,
}

#[async_trait::async_trait]
impl Prompter for FixedAnswers {
    async fn confirm_context(&self, _context: &MaskedContext) -> ContextChoice {
        self.choice
    }
    async fn consent(&self) -> bool {
        self.consent
    }
    async fn station_code(&self) -> Option<String> {
        self.station_code.clone()
    }
}

/// Progress of a flow, for a UI to render.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum FlowEvent {
    /// Looking for a QR code.
    Scanning {
        /// Frames looked at so far.
        frames: u64,
    },
    /// A QR code that is not a Realname code was seen and ignored.
    QrIgnored {
        /// Why (`qr_not_realname`, …).
        code: String,
    },
    /// A Realname QR was found.
    QrFound {
        /// The server it names.
        origin: String,
        /// Whether that server is trusted.
        trusted: bool,
    },
    /// Claiming the session.
    Claiming,
    /// Claimed: what to show before any capture.
    Claimed {
        /// Session id.
        session_id: String,
        /// Masked context.
        context: MaskedContext,
        /// The challenge's actions.
        actions: Vec<LivenessAction>,
        /// Attempts left.
        attempts_left: u32,
    },
    /// Context confirmed, consent given.
    Confirmed,
    /// Prompt for the next action.
    ActionPrompt {
        /// 0-based index.
        index: usize,
        /// Number of actions.
        total: usize,
        /// The action.
        action: LivenessAction,
        /// Text to show.
        text: String,
    },
    /// Live feedback changed.
    Feedback {
        /// The state.
        feedback: Feedback,
        /// Text to show.
        text: String,
    },
    /// An action's frames are captured.
    ActionCaptured {
        /// The action.
        action: LivenessAction,
        /// Frames kept.
        frames: usize,
        /// Whether the local detector saw the action.
        detected: bool,
    },
    /// Uploading the capture.
    Uploading {
        /// Frames in the upload.
        frames: usize,
    },
    /// The server's decision.
    Decision {
        /// The decision.
        decision: Decision,
    },
    /// The flow was cancelled (by the person or the token).
    Cancelled,
    /// The flow failed.
    Failed {
        /// The error.
        error: ErrorReport,
    },
}

/// Sends events to the UI; a closed receiver is ignored (the flow does not depend on a UI).
#[derive(Debug, Clone)]
pub struct EventSink(Option<mpsc::UnboundedSender<FlowEvent>>);

impl EventSink {
    /// A sink into `tx`.
    pub fn new(tx: mpsc::UnboundedSender<FlowEvent>) -> Self {
        Self(Some(tx))
    }

    /// A sink that drops everything.
    pub fn none() -> Self {
        Self(None)
    }

    /// Emits one event.
    pub fn emit(&self, event: FlowEvent) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(event);
        }
    }
}

/// How a verification ended (when it did not fail with an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowOutcome {
    /// Verified.
    Passed,
    /// Not verified.
    Failed,
    /// Not verified; the session allows another attempt.
    Retry,
    /// The person cancelled ("I did not start this", no consent, no kiosk code).
    Cancelled,
}

/// The result of [`Companion::verify`].
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// How it ended.
    pub outcome: FlowOutcome,
    /// The server.
    pub origin: String,
    /// Session id.
    pub session_id: String,
    /// The masked context that was shown.
    pub context: MaskedContext,
    /// The challenge's actions.
    pub actions: Vec<LivenessAction>,
    /// The decision, when a capture was uploaded.
    pub decision: Option<Decision>,
    /// Frames uploaded (all attempts).
    pub frames_uploaded: usize,
    /// Capture uploads made (1 + retries).
    pub attempts: u32,
    /// Step timings, milliseconds.
    pub timings: StepTimings,
}

/// Milliseconds spent in each step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StepTimings {
    /// Scanning until a QR was found.
    pub scan_ms: u64,
    /// Claim request.
    pub claim_ms: u64,
    /// Confirm request (after the answers).
    pub confirm_ms: u64,
    /// Capturing frames.
    pub capture_ms: u64,
    /// Upload until the decision.
    pub decision_ms: u64,
}

/// A clip loaded (and analysed) once, replayed into many flows.
#[derive(Debug)]
pub struct PreparedClip {
    frames: Vec<ObservedFrame>,
}

impl PreparedClip {
    /// Reads every frame of a finite source (at most `max_frames`), analyses each with
    /// `observer` when given, and encodes each once as JPEG.
    ///
    /// # Errors
    /// [`CompanionError::Camera`] for source errors, [`CompanionError::Face`] for engine errors.
    pub fn load(
        mut source: Box<dyn FrameSource>,
        observer: Option<&FaceObserver>,
        max_frames: usize,
        max_dimension: u32,
    ) -> Result<Self, CompanionError> {
        let mut frames = Vec::new();
        let mut observer = observer;
        while frames.len() < max_frames {
            let frame = match source.next_frame(Duration::from_secs(5)) {
                Ok(f) => f,
                Err(SourceError::EndOfStream) => break,
                Err(SourceError::Timeout { .. }) => continue,
                Err(e) => return Err(CompanionError::Camera(e.to_string())),
            };
            let image = fit(frame.image, max_dimension);
            let observation = match observer.map(|o| o.observe(&image)) {
                Some(Ok(o)) => Some(o),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "local face detector failed; the clip is replayed by time");
                    observer = None;
                    None
                }
                None => None,
            };
            let jpeg = encode_jpeg(&image, 88)?;
            frames.push(ObservedFrame {
                image: Arc::new(image),
                captured_at_ms: 0,
                source_ms: u64::try_from(frame.timestamp.as_millis()).unwrap_or(u64::MAX),
                observation,
                jpeg: Some(Arc::new(jpeg)),
            });
        }
        if frames.is_empty() {
            return Err(CompanionError::SourceEnded);
        }
        Ok(Self { frames })
    }

    /// The same clip as a different capture of the scene, for load generation: every frame
    /// gets a faint deterministic pattern derived from `seed` (±1 in one pixel of each 8×8
    /// block, invisible, but a different image) and is encoded again. Many virtual users
    /// uploading one recorded clip would otherwise be — correctly — refused by the server as
    /// replays of an earlier upload. The local observations are kept.
    ///
    /// # Errors
    /// [`CompanionError::Camera`] when a frame cannot be encoded.
    pub fn with_sensor_noise(&self, seed: u64) -> Result<Self, CompanionError> {
        let mut frames = Vec::with_capacity(self.frames.len());
        for (i, f) in self.frames.iter().enumerate() {
            let mut image = f.image.as_ref().clone();
            let (w, h) = image.dimensions();
            let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i as u64).wrapping_add(1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            for by in (0..h).step_by(8) {
                for bx in (0..w).step_by(8) {
                    // xorshift64: position inside the block, channel and sign.
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let (x, y) = ((bx + (state & 7) as u32).min(w - 1), (by + ((state >> 3) & 7) as u32).min(h - 1));
                    let c = ((state >> 6) % 3) as usize;
                    let px = image.get_pixel_mut(x, y);
                    px.0[c] = if state & (1 << 9) == 0 { px.0[c].saturating_add(1) } else { px.0[c].saturating_sub(1) };
                }
            }
            let jpeg = encode_jpeg(&image, 88)?;
            frames.push(ObservedFrame { image: Arc::new(image), jpeg: Some(Arc::new(jpeg)), observation: f.observation, ..*f });
        }
        Ok(Self { frames })
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether there are no frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

/// The companion core: configuration, trusted origins, credentials, local face detector.
#[derive(Debug, Clone)]
pub struct Companion {
    config: CompanionConfig,
    trusted: TrustedOrigins,
    store: Arc<dyn CredentialStore>,
    observer: Option<FaceObserver>,
    http: reqwest::Client,
    thresholds: Thresholds,
}

fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Runs `fut` unless `cancel` fires first.
async fn cancellable<T>(
    cancel: &CancellationToken,
    fut: impl std::future::Future<Output = Result<T, CompanionError>>,
) -> Result<T, CompanionError> {
    tokio::select! {
        biased;
        () = cancel.cancelled() => Err(CompanionError::Cancelled),
        r = fut => r,
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Shrinks an image so that its longer side is at most `max_side` (in the optimised scanner
/// crate: this one is built without optimisation in debug builds).
fn fit(image: RgbImage, max_side: u32) -> RgbImage {
    realname_scan::jpeg::downscale(image, max_side)
}

fn encode_jpeg(image: &RgbImage, quality: u8) -> Result<Vec<u8>, CompanionError> {
    realname_scan::jpeg::encode(image, quality).map_err(|e| CompanionError::Camera(format!("cannot encode a frame: {e}")))
}

/// Largest side of uploaded frames (the server's limit may be lower).
const UPLOAD_MAX_SIDE: u32 = 1280;

/// Encodes the selection within the server's limits.
fn encode_selection(selection: &[SelectedFrame], limits: &UploadLimits) -> Result<Vec<UploadFrame>, CompanionError> {
    let max_side = limits.max_dimension.min(UPLOAD_MAX_SIDE);
    selection
        .iter()
        .map(|f| {
            if let Some(jpeg) = &f.jpeg
                && (jpeg.len() as u64) <= limits.max_frame_bytes
                && f.image.width().max(f.image.height()) <= max_side
            {
                return Ok(UploadFrame { jpeg: jpeg.as_ref().clone() });
            }
            let image = fit(f.image.as_ref().clone(), max_side);
            for quality in [88u8, 75, 60, 45] {
                let jpeg = encode_jpeg(&image, quality)?;
                if (jpeg.len() as u64) <= limits.max_frame_bytes {
                    return Ok(UploadFrame { jpeg });
                }
            }
            Err(CompanionError::Camera("a frame does not fit the server's upload size limit".into()))
        })
        .collect()
}

impl Companion {
    /// A companion over `config` with credentials in `store`.
    ///
    /// # Errors
    /// [`CompanionError::Config`] for malformed origins, network errors setting up HTTP.
    pub fn new(config: CompanionConfig, store: Arc<dyn CredentialStore>) -> Result<Self, CompanionError> {
        let trusted = config.trusted()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.http_timeout_secs.max(1)))
            .user_agent(concat!("realname-companion/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CompanionError::Network(e.to_string()))?;
        Ok(Self { config, trusted, store, observer: None, http, thresholds: Thresholds::default() })
    }

    /// Shares an HTTP connection pool (many flows in one process).
    #[must_use]
    pub fn with_http(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// Uses a local face detector for live feedback and auto-capture.
    #[must_use]
    pub fn with_observer(mut self, observer: Option<FaceObserver>) -> Self {
        self.observer = observer;
        self
    }

    /// Overrides the local detector's thresholds.
    #[must_use]
    pub fn with_thresholds(mut self, thresholds: Thresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &CompanionConfig {
        &self.config
    }

    /// The credential store.
    pub fn store(&self) -> &Arc<dyn CredentialStore> {
        &self.store
    }

    /// Whether a local face detector is loaded.
    pub fn has_observer(&self) -> bool {
        self.observer.is_some()
    }

    /// An unauthenticated client for `origin`.
    pub fn api(&self, origin: &str) -> ApiClient {
        ApiClient::with_http(self.http.clone(), origin)
    }

    /// What this device says about itself.
    pub fn device(&self) -> DeviceInfo {
        DeviceInfo {
            name: self.config.device_name(),
            platform: std::env::consts::OS.to_owned(),
            app_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// Signs in to `origin` (personal mode) and stores the tokens.
    ///
    /// # Errors
    /// `invalid_credentials` etc., store errors.
    pub async fn login(
        &self,
        origin: &str,
        email: &str,
        password: &str,
    ) -> Result<realname_protocol::api::AccountSummary, CompanionError> {
        let tokens = self.api(origin).login(email, password, self.device()).await?;
        let credential = crate::client::credential_from_tokens(&tokens, now_ms() / 1000);
        self.store.save(origin, &credential)?;
        tracing::info!(kind = "personal", "signed in");
        Ok(tokens.account)
    }

    /// Signs out of `origin`: revokes the tokens on the server (best effort) and deletes them
    /// locally. `Ok(false)` when nothing was stored.
    ///
    /// # Errors
    /// Store errors.
    pub async fn logout(&self, origin: &str) -> Result<bool, CompanionError> {
        let Some(credential) = self.store.load(origin)? else { return Ok(false) };
        if let Credential::Personal { access_token, .. } = &credential
            && let Err(e) = self.api(origin).logout(access_token.expose()).await
        {
            tracing::warn!(code = %e.code(), "server-side sign-out failed; deleting the local tokens anyway");
        }
        self.store.delete(origin)
    }

    /// Stores a kiosk station credential for `origin`.
    ///
    /// # Errors
    /// Store errors, or [`CompanionError::Config`] for an empty credential.
    pub fn register_station(&self, origin: &str, token: &str) -> Result<(), CompanionError> {
        let token = token.trim();
        if token.is_empty() || token.chars().any(char::is_whitespace) {
            return Err(CompanionError::Config("the station credential must be one word without spaces".into()));
        }
        self.store.save(origin, &Credential::Station { token: crate::credentials::Secret::new(token) })
    }

    /// An authenticated client for `origin` from the stored credential.
    ///
    /// # Errors
    /// [`CompanionError::NotSignedIn`], store errors.
    pub fn authed(&self, origin: &str) -> Result<AuthedClient, CompanionError> {
        AuthedClient::from_store(self.api(origin), self.store.clone())
    }

    /// Scans `source` until a Realname QR code appears; other codes are ignored.
    ///
    /// # Errors
    /// [`CompanionError::NoQrFound`] at the end of a finite source or after the scan timeout,
    /// camera errors, [`CompanionError::Cancelled`].
    pub async fn scan(
        &self,
        pump: &mut FramePump,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<QrPayload, CompanionError> {
        let reader = Arc::new(QrReader::new(ReaderConfig::default()));
        let started = Instant::now();
        let limit = Duration::from_secs(self.config.scan_timeout_secs.max(1));
        let mut frames = 0u64;
        loop {
            let frame = match cancellable(cancel, async { Ok(pump.next().await) }).await? {
                Ok(f) => f,
                Err(SourceError::EndOfStream) => return Err(CompanionError::NoQrFound),
                Err(e) => return Err(CompanionError::Camera(e.to_string())),
            };
            let frame = if pump.is_finite() { frame } else { pump.newest(frame) };
            let r = reader.clone();
            let outcome = tokio::task::spawn_blocking(move || r.read(&frame.image))
                .await
                .map_err(|e| CompanionError::Camera(format!("QR reader stopped: {e}")))?;
            frames += 1;
            for code in outcome.codes {
                match QrPayload::parse_bytes(&code.payload) {
                    Ok(payload) => return Ok(payload),
                    Err(e) => events.emit(FlowEvent::QrIgnored { code: e.code().to_owned() }),
                }
            }
            if frames % 10 == 1 {
                events.emit(FlowEvent::Scanning { frames });
            }
            if started.elapsed() > limit {
                return Err(CompanionError::NoQrFound);
            }
        }
    }

    /// Runs the whole APP role. Errors after the claim cancel the session on the server when
    /// the cause was a cancellation.
    ///
    /// # Errors
    /// Every [`CompanionError`]; `Ok` with [`FlowOutcome::Cancelled`] when the person declined.
    pub async fn verify(
        &self,
        qr: QrInput,
        face: FaceInput,
        prompter: &dyn Prompter,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<VerifyReport, CompanionError> {
        let r = self.verify_inner(qr, face, prompter, events, cancel).await;
        match &r {
            Ok(report) if report.outcome == FlowOutcome::Cancelled => events.emit(FlowEvent::Cancelled),
            Ok(_) => {}
            Err(CompanionError::Cancelled) => events.emit(FlowEvent::Cancelled),
            Err(e) => events.emit(FlowEvent::Failed { error: ErrorReport::from(e) }),
        }
        r
    }

    async fn verify_inner(
        &self,
        qr: QrInput,
        face: FaceInput,
        prompter: &dyn Prompter,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<VerifyReport, CompanionError> {
        let mut timings = StepTimings::default();
        let t = Instant::now();
        let mut qr_pump = None;
        let payload = match qr {
            QrInput::Text(text) => QrPayload::parse(&text)?,
            QrInput::Source(source) => {
                let mut pump = FramePump::spawn(source);
                let p = self.scan(&mut pump, events, cancel).await?;
                qr_pump = Some(pump);
                p
            }
        };
        timings.scan_ms = elapsed_ms(t);
        let origin = payload.origin().to_owned();
        let trusted = self.trusted.check(&origin);
        events.emit(FlowEvent::QrFound { origin: origin.clone(), trusted: trusted.is_ok() });
        // Nothing at all is sent to an untrusted origin.
        trusted?;

        let client = self.authed(&origin)?;
        let kind = client.kind().await;
        match (self.config.mode, kind) {
            (Mode::Personal, "personal") | (Mode::Kiosk, "station") => {}
            (Mode::Personal, _) => {
                return Err(CompanionError::Config("personal mode needs `realname login`, not a station credential".into()));
            }
            (Mode::Kiosk, _) => {
                return Err(CompanionError::Config("kiosk mode needs `realname station register`".into()));
            }
        }

        events.emit(FlowEvent::Claiming);
        let t = Instant::now();
        let request = ClaimRequest { handle: payload.handle().as_str().to_owned(), device: self.device() };
        let claim: ClaimResponse = cancellable(cancel, client.call(|api, bearer| {
            let request = request.clone();
            async move { api.claim(&bearer, &request).await }
        }))
        .await?;
        timings.claim_ms = elapsed_ms(t);
        let session = claim.session_id.clone();
        tracing::info!(session = %session, actions = claim.challenge.actions.len(), "claimed");
        events.emit(FlowEvent::Claimed {
            session_id: session.clone(),
            context: claim.context.clone(),
            actions: claim.challenge.actions.clone(),
            attempts_left: claim.attempts_left,
        });
        let mut report = VerifyReport {
            outcome: FlowOutcome::Cancelled,
            origin: origin.clone(),
            session_id: session.clone(),
            context: claim.context.clone(),
            actions: claim.challenge.actions.clone(),
            decision: None,
            frames_uploaded: 0,
            attempts: 0,
            timings,
        };

        let after_claim = self.after_claim(&client, &claim, qr_pump, face, prompter, events, cancel, &mut report).await;
        match after_claim {
            Ok(()) => Ok(report),
            Err(CompanionError::Cancelled) => {
                // Tell the server, so the PC page stops waiting; bounded so a dead server
                // cannot hold the cancellation up.
                let cancel_call = client.call(|api, bearer| {
                    let session = session.clone();
                    async move { api.cancel(&bearer, &session).await }
                });
                match tokio::time::timeout(Duration::from_secs(5), cancel_call).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(code = %e.code(), "server-side cancel failed"),
                    Err(_) => tracing::warn!("server-side cancel timed out"),
                }
                Err(CompanionError::Cancelled)
            }
            Err(e) => Err(e),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn after_claim(
        &self,
        client: &AuthedClient,
        claim: &ClaimResponse,
        qr_pump: Option<FramePump>,
        face: FaceInput,
        prompter: &dyn Prompter,
        events: &EventSink,
        cancel: &CancellationToken,
        report: &mut VerifyReport,
    ) -> Result<(), CompanionError> {
        let session = claim.session_id.as_str();
        // `report.outcome` stays `Cancelled` until a decision arrives.
        let declined = |_: &mut VerifyReport| async move {
            client
                .call(|api, bearer| async move { api.cancel(&bearer, session).await })
                .await
        };
        let choice = cancellable(cancel, async { Ok(prompter.confirm_context(&claim.context).await) }).await?;
        if choice == ContextChoice::Cancel {
            tracing::info!(session, "the person did not start this verification");
            return declined(report).await;
        }
        if !cancellable(cancel, async { Ok(prompter.consent().await) }).await? {
            return declined(report).await;
        }
        let station_code = if claim.context.requires_station_code {
            match cancellable(cancel, async { Ok(prompter.station_code().await) }).await? {
                Some(code) => Some(code.trim().to_owned()),
                None => return declined(report).await,
            }
        } else {
            None
        };
        let t = Instant::now();
        let confirm = ConfirmRequest { consent: true, station_code };
        cancellable(cancel, client.call(|api, bearer| {
            let confirm = confirm.clone();
            async move { api.confirm(&bearer, session, &confirm).await }
        }))
        .await?;
        report.timings.confirm_ms = elapsed_ms(t);
        events.emit(FlowEvent::Confirmed);

        let mut feed = match face {
            FaceInput::Prepared(clip) => FaceFeed::Prepared(clip),
            FaceInput::Source(s) => FaceFeed::Pump(FramePumpState { pump: FramePump::spawn(s), ended: false }),
            FaceInput::SameAsQr => FaceFeed::Pump(FramePumpState {
                pump: qr_pump.ok_or_else(|| CompanionError::Config("no frame source for the face".into()))?,
                ended: false,
            }),
        };
        let mut challenge = claim.challenge.clone();
        loop {
            let t = Instant::now();
            let selection = self.capture(&challenge, &claim.upload_limits, &mut feed, events, cancel).await?;
            report.timings.capture_ms += elapsed_ms(t);
            if selection.is_empty() {
                return Err(CompanionError::SourceEnded);
            }

            let t = Instant::now();
            let limits = claim.upload_limits;
            let encoded = {
                let selection = selection.clone();
                tokio::task::spawn_blocking(move || encode_selection(&selection, &limits))
                    .await
                    .map_err(|e| CompanionError::Camera(format!("encoder stopped: {e}")))??
            };
            let metadata = CaptureMetadata {
                nonce: challenge.nonce.clone(),
                frames: selection
                    .iter()
                    .enumerate()
                    .map(|(i, f)| FrameMeta { part: format!("frame{i}"), action: f.action, captured_at_ms: f.captured_at_ms })
                    .collect(),
            };
            events.emit(FlowEvent::Uploading { frames: encoded.len() });
            report.frames_uploaded += encoded.len();
            let decision = cancellable(cancel, client.call(|api, bearer| {
                let (metadata, encoded) = (&metadata, &encoded);
                async move { api.capture(&bearer, session, metadata, encoded).await }
            }))
            .await?;
            report.timings.decision_ms += elapsed_ms(t);
            tracing::info!(session, outcome = ?decision.outcome, reason = ?decision.reason, "decision");
            events.emit(FlowEvent::Decision { decision: decision.clone() });
            report.outcome = match decision.outcome {
                Outcome::Passed => FlowOutcome::Passed,
                Outcome::Failed => FlowOutcome::Failed,
                Outcome::Retry => FlowOutcome::Retry,
            };
            let next = decision.challenge.clone();
            report.attempts += 1;
            report.decision = Some(decision);
            // Another attempt with the fresh challenge while the server allows one and the
            // frames can continue (a camera, a prepared clip; not an exhausted recording).
            match next {
                Some(next) if report.outcome == FlowOutcome::Retry && feed.can_continue() => challenge = next,
                _ => return Ok(()),
            }
        }
    }

    /// Runs one liveness challenge over the face frames and returns the frames to upload.
    async fn capture(
        &self,
        challenge: &LivenessChallenge,
        limits: &UploadLimits,
        feed: &mut FaceFeed,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<Vec<SelectedFrame>, CompanionError> {
        let actions = challenge.actions.clone();
        let total = actions.len();
        let max_frames = usize::try_from(limits.max_frames).unwrap_or(16).max(2);
        let lang = self.config.language;
        let mut thresholds = self.thresholds;
        let forward = |evs: Vec<TrackerEvent>| {
            for e in evs {
                if let Some(e) = tracker_event(e, total, lang) {
                    events.emit(e);
                }
            }
        };
        match feed {
            FaceFeed::Prepared(clip) => {
                // Replayed frames get timestamps inside the real capture window: spread from
                // now back over at most two seconds.
                let span = clip.frames.last().map_or(0, |f| f.source_ms).saturating_sub(clip.frames[0].source_ms);
                if clip.frames.iter().any(|f| f.observation.is_none()) {
                    thresholds.action_timeout_ms = (span / total.max(1) as u64).max(1);
                }
                let mut tracker = ChallengeTracker::new(actions, max_frames, thresholds);
                let end = now_ms();
                let start = end - i64::try_from(span.min(2_000)).unwrap_or(0) - 1;
                let n = clip.frames.len().max(2) as i64;
                for (i, f) in clip.frames.iter().enumerate() {
                    if cancel.is_cancelled() {
                        return Err(CompanionError::Cancelled);
                    }
                    let mut f = f.clone();
                    f.captured_at_ms = start + (end - start) * i as i64 / (n - 1);
                    forward(tracker.push(f));
                    if tracker.is_complete() {
                        break;
                    }
                }
                forward(tracker.finish());
                Ok(tracker.into_selection())
            }
            FaceFeed::Pump(pump) => {
                // Without a detector nothing is "seen": give each action an equal share of a
                // recording, or a few seconds of a live source.
                let share = match (pump.info().frame_count, pump.info().fps) {
                    (Some(n), Some(fps)) if fps > 0.0 => (n as f64 / fps * 1000.0 / total.max(1) as f64) as u64,
                    _ => 3_000,
                };
                let share = share.saturating_sub(1).max(1);
                let mut observer = self.observer.clone();
                if observer.is_none() {
                    thresholds.action_timeout_ms = share;
                }
                let mut tracker = ChallengeTracker::new(actions, max_frames, thresholds);
                let deadline = challenge.deadline;
                let mut base: Option<(i64, Duration)> = None;
                while !tracker.is_complete() {
                    let remaining = deadline - time::OffsetDateTime::now_utc();
                    if remaining < time::Duration::seconds(3) {
                        tracing::warn!("challenge deadline near: uploading what was captured");
                        break;
                    }
                    let frame = match cancellable(cancel, async { Ok(pump.next().await) }).await? {
                        Ok(f) => f,
                        Err(SourceError::EndOfStream) => {
                            pump.ended = true;
                            break;
                        }
                        Err(e) => return Err(CompanionError::Camera(e.to_string())),
                    };
                    let frame = if pump.is_finite() { frame } else { pump.newest(frame) };
                    let (base_ms, base_ts) = *base.get_or_insert((now_ms(), frame.timestamp));
                    let offset = frame.timestamp.saturating_sub(base_ts);
                    let captured_at_ms = base_ms + i64::try_from(offset.as_millis()).unwrap_or(0);
                    let source_ms = u64::try_from(offset.as_millis()).unwrap_or(u64::MAX);
                    let image = fit(frame.image, UPLOAD_MAX_SIDE);
                    let (image, observation) = match &observer {
                        Some(obs) => {
                            let obs = obs.clone();
                            let analysed = cancellable(cancel, async move {
                                tokio::task::spawn_blocking(move || {
                                    let o = obs.observe(&image);
                                    (image, o)
                                })
                                .await
                                .map_err(|e| CompanionError::Face(format!("face engine stopped: {e}")))
                            })
                            .await?;
                            match analysed {
                                (image, Ok(o)) => (image, Some(o)),
                                (image, Err(e)) => {
                                    // An engine that fails is not used again in this flow: the
                                    // capture goes on by time, and the server still decides.
                                    tracing::warn!(error = %e, "local face detector failed; capturing by time");
                                    observer = None;
                                    tracker.set_action_timeout(share);
                                    (image, None)
                                }
                            }
                        }
                        None => (image, None),
                    };
                    forward(tracker.push(ObservedFrame {
                        image: Arc::new(image),
                        captured_at_ms,
                        source_ms,
                        observation,
                        jpeg: None,
                    }));
                }
                forward(tracker.finish());
                Ok(tracker.into_selection())
            }
        }
    }
}

/// The face frames of a flow, kept across attempts.
enum FaceFeed {
    Pump(FramePumpState),
    Prepared(Arc<PreparedClip>),
}

/// A pump plus whether it reached its end.
struct FramePumpState {
    pump: FramePump,
    ended: bool,
}

impl std::ops::Deref for FramePumpState {
    type Target = FramePump;
    fn deref(&self) -> &FramePump {
        &self.pump
    }
}

impl std::ops::DerefMut for FramePumpState {
    fn deref_mut(&mut self) -> &mut FramePump {
        &mut self.pump
    }
}

impl FaceFeed {
    /// Whether another attempt can get fresh frames.
    fn can_continue(&self) -> bool {
        match self {
            Self::Prepared(_) => true,
            Self::Pump(p) => !p.ended && !p.is_finite(),
        }
    }
}

fn tracker_event(e: TrackerEvent, total: usize, lang: Language) -> Option<FlowEvent> {
    Some(match e {
        TrackerEvent::Feedback { feedback } => {
            FlowEvent::Feedback { feedback, text: crate::i18n::feedback_text(feedback, lang).to_owned() }
        }
        TrackerEvent::Prompt { index, action } => FlowEvent::ActionPrompt {
            index,
            total,
            action,
            text: crate::i18n::action_prompt(action, lang).to_owned(),
        },
        TrackerEvent::Captured { action, frames, detected } => FlowEvent::ActionCaptured { action, frames, detected },
        TrackerEvent::Complete => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_small_images_and_shrinks_large_ones() {
        let small = RgbImage::new(640, 480);
        assert_eq!(fit(small, 1280).dimensions(), (640, 480));
        let big = RgbImage::new(1620, 1080);
        assert_eq!(fit(big, 1280).dimensions(), (1280, 853));
    }

    #[test]
    fn events_serialise_with_a_tag() {
        let e = FlowEvent::QrFound { origin: "http://x".into(), trusted: false };
        let json = serde_json::to_value(&e).expect("json");
        assert_eq!(json["event"], "qr_found");
        assert_eq!(json["trusted"], false);
    }

    #[tokio::test]
    async fn an_untrusted_qr_is_refused_before_any_request() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = CompanionConfig { trusted_origins: vec!["https://good.example".into()], ..Default::default() };
        let store: Arc<dyn CredentialStore> = Arc::new(crate::credentials::FileStore::new(dir.path().join("c.json")));
        let companion = Companion::new(config, store).expect("companion");
        let (tx, mut rx) = mpsc::unbounded_channel();
        let qr = format!("http://127.0.0.1:9/v1/q/{}", realname_protocol::QrHandle::from_bytes([1; 24]));
        let answers = FixedAnswers { choice: ContextChoice::Confirm, consent: true, station_code: None };
        let err = companion
            .verify(QrInput::Text(qr), FaceInput::SameAsQr, &answers, &EventSink::new(tx), &CancellationToken::new())
            .await
            .expect_err("refused");
        assert_eq!(err.code(), "untrusted_origin");
        let first = rx.recv().await.expect("event");
        assert_eq!(first, FlowEvent::QrFound { origin: "http://127.0.0.1:9".into(), trusted: false });
    }

    #[tokio::test]
    async fn a_cancelled_token_stops_the_scan() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = CompanionConfig { trusted_origins: vec!["https://good.example".into()], ..Default::default() };
        let store: Arc<dyn CredentialStore> = Arc::new(crate::credentials::FileStore::new(dir.path().join("c.json")));
        let companion = Companion::new(config, store).expect("companion");
        let spec = realname_scan::SourceSpec::parse("synthetic:qr=hello@64x64").expect("spec");
        let source = realname_scan::open_source(&spec).expect("source");
        let cancel = CancellationToken::new();
        cancel.cancel();
        let answers = FixedAnswers { choice: ContextChoice::Confirm, consent: true, station_code: None };
        let err = companion
            .verify(QrInput::Source(source), FaceInput::SameAsQr, &answers, &EventSink::none(), &cancel)
            .await
            .expect_err("cancelled");
        assert_eq!(err.code(), "cancelled");
    }
}
