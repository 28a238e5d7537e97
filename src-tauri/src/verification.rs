//! One verification run in the app: scan the QR (own loop, so the preview can outline the
//! code), then hand over to the companion core's flow with a prompter whose answers come from
//! the UI. A camera watchdog reopens a source that failed; a cancellation token stops the run
//! at any step.

use std::sync::Arc;
use std::time::{Duration, Instant};

use realname_companion::flow::{
    CancellationToken, ContextChoice, EventSink, FaceInput, FlowOutcome, Prompter, QrInput,
};
use realname_companion::{Companion, CompanionError};
use realname_protocol::api::MaskedContext;
use realname_protocol::light::{LightPresentation, LightSequence};
use realname_scan::{FrameSource, QrReader, ReaderConfig, SourceError, SourceSpec, open_source};
use tokio::sync::mpsc;

use crate::ipc::UiEvent;
use crate::light::{LightStage, NOTICE_MS};
use crate::preview::{PreviewHub, PreviewTap};

/// Where UI events go (the Tauri `flow` event in the app, a channel in tests).
pub type UiSink = Arc<dyn Fn(UiEvent) + Send + Sync>;

/// The answers the UI gives while a run waits for them. Each question has its own channel, so
/// an answer that arrives before the question is asked is not lost.
#[derive(Debug)]
pub struct UiAnswers {
    context_tx: mpsc::UnboundedSender<ContextChoice>,
    context_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<ContextChoice>>,
    consent_tx: mpsc::UnboundedSender<bool>,
    consent_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<bool>>,
    code_tx: mpsc::UnboundedSender<Option<String>>,
    code_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Option<String>>>,
}

impl Default for UiAnswers {
    fn default() -> Self {
        let (context_tx, context_rx) = mpsc::unbounded_channel();
        let (consent_tx, consent_rx) = mpsc::unbounded_channel();
        let (code_tx, code_rx) = mpsc::unbounded_channel();
        Self {
            context_tx,
            context_rx: tokio::sync::Mutex::new(context_rx),
            consent_tx,
            consent_rx: tokio::sync::Mutex::new(consent_rx),
            code_tx,
            code_rx: tokio::sync::Mutex::new(code_rx),
        }
    }
}

impl UiAnswers {
    /// The context answer.
    pub fn context(&self, choice: ContextChoice) {
        let _ = self.context_tx.send(choice);
    }
    /// The consent answer.
    pub fn consent(&self, given: bool) {
        let _ = self.consent_tx.send(given);
    }
    /// The kiosk code (`None` = cancel).
    pub fn station_code(&self, code: Option<String>) {
        let _ = self.code_tx.send(code);
    }
}

#[async_trait::async_trait]
impl Prompter for UiAnswers {
    async fn confirm_context(&self, _context: &MaskedContext) -> ContextChoice {
        self.context_rx.lock().await.recv().await.unwrap_or(ContextChoice::Cancel)
    }
    async fn consent(&self) -> bool {
        self.consent_rx.lock().await.recv().await.unwrap_or(false)
    }
    async fn station_code(&self) -> Option<String> {
        self.code_rx.lock().await.recv().await.flatten()
    }
}

/// The app's prompter: the UI's answers, and the light step shown by the web view.
struct AppPrompter<'a> {
    answers: &'a UiAnswers,
    light: &'a LightStage,
    events: &'a UiSink,
}

#[async_trait::async_trait]
impl Prompter for AppPrompter<'_> {
    async fn confirm_context(&self, context: &MaskedContext) -> ContextChoice {
        Prompter::confirm_context(self.answers, context).await
    }
    async fn consent(&self) -> bool {
        Prompter::consent(self.answers).await
    }
    async fn station_code(&self) -> Option<String> {
        Prompter::station_code(self.answers).await
    }
    async fn show_light(&self, sequence: &LightSequence) -> Option<LightPresentation> {
        let report = self.light.desk.present(sequence, NOTICE_MS, self.events, &self.light.stage).await.ok()?;
        report.presentation(sequence)
    }
}

/// A running verification: its cancel token and the answer channels.
#[derive(Debug, Clone)]
pub struct RunHandle {
    /// Cancels the run.
    pub cancel: CancellationToken,
    /// Answers from the UI.
    pub answers: Arc<UiAnswers>,
}

/// What a run needs.
#[derive(Debug)]
pub struct RunPlan {
    /// The companion core.
    pub companion: Companion,
    /// Source spec for the QR.
    pub qr_source: String,
    /// Source spec for the face (empty: the QR source).
    pub face_source: String,
    /// Longest time to look for a QR.
    pub scan_timeout: Duration,
    /// Shows the light step.
    pub light: LightStage,
}

/// Opens a spec, reopening it (watchdog) after a device error until `cancel` fires.
fn open_with_watchdog(
    spec: &SourceSpec,
    events: &UiSink,
    cancel: &CancellationToken,
) -> Result<Box<dyn FrameSource>, CompanionError> {
    let mut reported = false;
    loop {
        match open_source(spec) {
            Ok(s) => {
                if reported {
                    events(UiEvent::Camera { state: "reconnected".into(), message: String::new() });
                }
                return Ok(s);
            }
            Err(e @ (SourceError::NoSuchDevice { .. } | SourceError::Device(_) | SourceError::Disconnected))
                if matches!(spec, SourceSpec::Webcam { .. }) =>
            {
                if !reported {
                    events(UiEvent::Camera { state: "lost".into(), message: e.to_string() });
                    reported = true;
                }
                // Back-off between reconnection attempts of an absent camera.
                std::thread::sleep(Duration::from_millis(1000));
                if cancel.is_cancelled() {
                    return Err(CompanionError::Cancelled);
                }
            }
            Err(e) => return Err(CompanionError::Camera(e.to_string())),
        }
    }
}

/// Blocking scan loop: returns the Realname QR text and the (still open) source.
fn scan_blocking(
    spec: &SourceSpec,
    hub: &PreviewHub,
    events: &UiSink,
    cancel: &CancellationToken,
    timeout: Duration,
) -> Result<(String, Box<dyn FrameSource>), CompanionError> {
    let reader = QrReader::new(ReaderConfig::default());
    let mut source = open_with_watchdog(spec, events, cancel)?;
    let started = Instant::now();
    let mut frames = 0u32;
    loop {
        if cancel.is_cancelled() {
            return Err(CompanionError::Cancelled);
        }
        if started.elapsed() > timeout {
            return Err(CompanionError::NoQrFound);
        }
        let frame = match source.next_frame(Duration::from_millis(500)) {
            Ok(f) => f,
            Err(SourceError::Timeout { .. }) => continue,
            Err(SourceError::EndOfStream) => return Err(CompanionError::NoQrFound),
            Err(e) => {
                // Watchdog: a camera that fails is reopened.
                events(UiEvent::Camera { state: "lost".into(), message: e.to_string() });
                let _ = source.close();
                source = open_with_watchdog(spec, events, cancel)?;
                events(UiEvent::Camera { state: "reconnected".into(), message: String::new() });
                continue;
            }
        };
        hub.publish(&frame.image);
        frames += 1;
        if frames % 10 == 1 {
            events(UiEvent::Scanning { frames });
        }
        let outcome = reader.read(&frame.image);
        for code in outcome.codes {
            let text = code.text();
            let realname = realname_protocol::QrPayload::parse(&text).is_ok();
            events(UiEvent::QrSeen {
                corners: code.corners.iter().map(|&(x, y)| [x, y]).collect(),
                width: frame.image.width(),
                height: frame.image.height(),
                realname,
            });
            if realname {
                return Ok((text, source));
            }
        }
    }
}

/// Runs one verification to its end; every outcome ends with [`UiEvent::Finished`].
#[tracing::instrument(skip_all)]
pub async fn run(plan: RunPlan, handle: RunHandle, hub: PreviewHub, events: UiSink) {
    let outcome = run_inner(plan, &handle, &hub, &events).await;
    let outcome = match outcome {
        Ok(FlowOutcome::Passed) => "passed",
        Ok(FlowOutcome::Failed) => "failed",
        Ok(FlowOutcome::Retry) => "retry",
        Ok(FlowOutcome::Cancelled) | Err(CompanionError::Cancelled) => "cancelled",
        Err(_) => "error",
    };
    tracing::info!(outcome, "verification finished");
    events(UiEvent::Finished { outcome: outcome.into() });
}

async fn run_inner(
    plan: RunPlan,
    handle: &RunHandle,
    hub: &PreviewHub,
    events: &UiSink,
) -> Result<FlowOutcome, CompanionError> {
    let spec_of = |s: &str| SourceSpec::parse(s).map_err(|e| CompanionError::Config(format!("source: {e}")));
    let qr_spec = spec_of(&plan.qr_source)?;
    let same = plan.face_source.is_empty() || plan.face_source == plan.qr_source;
    let face_spec = if same { None } else { Some(spec_of(&plan.face_source)?) };

    // Scan: failures before the core's flow starts are reported like the core's.
    let scanned = {
        let (hub, events, cancel) = (hub.clone(), events.clone(), handle.cancel.clone());
        let timeout = plan.scan_timeout;
        tokio::task::spawn_blocking(move || scan_blocking(&qr_spec, &hub, &events, &cancel, timeout))
            .await
            .map_err(|e| CompanionError::Camera(format!("scanner stopped: {e}")))?
    };
    let (text, qr_source) = match scanned {
        Ok(v) => v,
        Err(e) => {
            emit_error(events, &e);
            return Err(e);
        }
    };
    let face_source: Box<dyn FrameSource> = match face_spec {
        None => qr_source,
        Some(spec) => {
            drop(qr_source);
            let (events2, cancel) = (events.clone(), handle.cancel.clone());
            let opened = tokio::task::spawn_blocking(move || open_with_watchdog(&spec, &events2, &cancel))
                .await
                .map_err(|e| CompanionError::Camera(format!("camera stopped: {e}")))?;
            match opened {
                Ok(s) => s,
                Err(e) => {
                    emit_error(events, &e);
                    return Err(e);
                }
            }
        }
    };
    let face = FaceInput::Source(Box::new(PreviewTap::new(face_source, hub.clone())));

    let (tx, mut rx) = mpsc::unbounded_channel();
    let forward = {
        let events = events.clone();
        tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                if let Some(ui) = UiEvent::from_flow(e) {
                    events(ui);
                }
            }
        })
    };
    let prompter = AppPrompter { answers: handle.answers.as_ref(), light: &plan.light, events };
    let report = plan.companion.verify(QrInput::Text(text), face, &prompter, &EventSink::new(tx), &handle.cancel).await;
    let _ = forward.await;
    report.map(|r| r.outcome)
}

fn emit_error(events: &UiSink, e: &CompanionError) {
    if matches!(e, CompanionError::Cancelled) {
        events(UiEvent::Cancelled);
    } else {
        events(UiEvent::Failed { code: e.code(), message: e.to_string() });
    }
}

/// A camera preview outside a verification (the camera chooser), stopped with its token.
pub fn spawn_preview(spec: SourceSpec, hub: PreviewHub, events: UiSink, cancel: CancellationToken) {
    std::thread::spawn(move || {
        let Ok(mut source) = open_with_watchdog(&spec, &events, &cancel) else { return };
        while !cancel.is_cancelled() {
            match source.next_frame(Duration::from_millis(500)) {
                Ok(f) => {
                    hub.publish(&f.image);
                    // Files and folders deliver as fast as asked: keep the preview near 15 fps.
                    if source.info().fps.is_none() {
                        std::thread::sleep(Duration::from_millis(66));
                    }
                }
                Err(SourceError::Timeout { .. }) => {}
                Err(SourceError::EndOfStream) => break,
                Err(e) => {
                    events(UiEvent::Camera { state: "lost".into(), message: e.to_string() });
                    let _ = source.close();
                    match open_with_watchdog(&spec, &events, &cancel) {
                        Ok(s) => {
                            source = s;
                            events(UiEvent::Camera { state: "reconnected".into(), message: String::new() });
                        }
                        Err(_) => break,
                    }
                }
            }
        }
        let _ = source.close();
    });
}
