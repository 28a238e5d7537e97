//! The APP role as an async state machine: scan until a valid Realname QR → check the origin
//! is trusted → claim → show the masked context (confirm or cancel) → consent (and the kiosk
//! code) → liveness challenge with live feedback and auto-capture → upload → decision.
//!
//! Progress is reported as typed [`FlowEvent`]s on a channel a UI renders; the questions a
//! person must answer go through a [`Prompter`]; a [`CancellationToken`] stops the flow at any
//! step (after the claim the server is told, so the PC page shows "cancelled"). The same code
//! runs whatever the frames come from: a webcam, the screen, a folder, or a prepared clip.

mod attempt;
mod capture;
mod clip;
mod events;
mod inputs;
mod light;

use std::sync::Arc;
use std::time::{Duration, Instant};

use realname_protocol::QrPayload;
use realname_protocol::api::{ClaimRequest, ClaimResponse, DeviceInfo};
use realname_scan::{QrReader, ReaderConfig, SourceError};
pub use tokio_util::sync::CancellationToken;

use self::attempt::ClaimedSession;
pub use self::clip::{ClipSegments, PreparedClip};
pub use self::events::{EventSink, FlowEvent, FlowOutcome, StepTimings, VerifyReport};
pub use self::inputs::{ContextChoice, FaceInput, FixedAnswers, Prompter, QrInput};
pub use self::light::{ACTION_FRAMES, LightScene, light_frame_budget};
use crate::client::{ApiClient, AuthedClient};
use crate::config::{CompanionConfig, Mode, TrustedOrigins};
use crate::credentials::{Credential, CredentialStore};
use crate::error::{CompanionError, ErrorReport};
use crate::liveness::Thresholds;
use crate::observer::FaceObserver;
use crate::pump::FramePump;

/// The companion core: configuration, trusted origins, credentials, local face detector.
#[derive(Debug, Clone)]
pub struct Companion {
    config: CompanionConfig,
    trusted: TrustedOrigins,
    store: Arc<dyn CredentialStore>,
    observer: Option<FaceObserver>,
    http: reqwest::Client,
    thresholds: Thresholds,
    light_scene: Option<Arc<LightScene>>,
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
        Ok(Self { config, trusted, store, observer: None, http, thresholds: Thresholds::default(), light_scene: None })
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

    /// Renders the light step's reflection on `scene` instead of asking the front end to show
    /// it (frame sources that are not a live camera: folders, synthetic scenes, prepared
    /// clips).
    #[must_use]
    pub fn with_light_scene(mut self, scene: Option<Arc<LightScene>>) -> Self {
        self.light_scene = scene;
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
                return Err(CompanionError::Config(
                    "personal mode needs `realname login`, not a station credential".into(),
                ));
            }
            (Mode::Kiosk, _) => {
                return Err(CompanionError::Config("kiosk mode needs `realname station register`".into()));
            }
        }

        events.emit(FlowEvent::Claiming);
        let t = Instant::now();
        let request = ClaimRequest { handle: payload.handle().as_str().to_owned(), device: self.device() };
        let claim: ClaimResponse = cancellable(
            cancel,
            client.call(|api, bearer| {
                let request = request.clone();
                async move { api.claim(&bearer, &request).await }
            }),
        )
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

        let claimed = ClaimedSession { client: &client, claim: &claim, prompter, events, cancel };
        let after_claim = self.after_claim(&claimed, qr_pump, face, &mut report).await;
        match after_claim {
            Ok(()) => Ok(report),
            Err(e @ (CompanionError::Cancelled | CompanionError::LightUnavailable(_))) => {
                // Tell the server, so the PC page stops waiting (also when the light step
                // cannot be shown: no attempt is spent on an upload that would be refused);
                // bounded so a dead server cannot hold the cancellation up.
                let cancel_call = client.call(|api, bearer| {
                    let session = session.clone();
                    async move { api.cancel(&bearer, &session).await }
                });
                match tokio::time::timeout(Duration::from_secs(5), cancel_call).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(code = %e.code(), "server-side cancel failed"),
                    Err(_) => tracing::warn!("server-side cancel timed out"),
                }
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use image::RgbImage;
    use tokio::sync::mpsc;

    use super::clip::fit;
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
