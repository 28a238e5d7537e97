//! The Tauri commands: thin, instrumented wrappers over the companion core and the app state.
//! Arguments and results are the types of [`crate::ipc`]; nothing personal is logged.

use std::sync::Arc;

use realname_companion::flow::{CancellationToken, ContextChoice};
use realname_companion::{Companion, CredentialStore};
use realname_scan::SourceSpec;
use tauri::{AppHandle, Emitter, Manager, State};
use tracing::instrument;

use crate::Shell;
use crate::ipc::{
    AppState, CommandError, CommandErrorCode, ContextAnswer, LightRehearsal, LightReport, SettingsView, SourceOption,
    UiEvent, UiMode,
};
use crate::light::{LightFailure, LightStage, StageFn};
use crate::settings::StoredSettings;
use crate::verification::{self, RunHandle, RunPlan, UiSink};

type CmdResult<T> = Result<T, CommandError>;

fn settings(shell: &Shell) -> CmdResult<StoredSettings> {
    shell
        .settings
        .lock()
        .map_err(|_| CommandError::new(CommandErrorCode::Internal, "settings lock poisoned"))
        .map(|s| s.clone().unwrap_or_default())
}

fn companion(shell: &Shell, s: &StoredSettings) -> CmdResult<Companion> {
    let config = s.companion_config(&shell.dir)?;
    let store: Arc<dyn CredentialStore> = Arc::from(realname_companion::credentials::open_store(&config)?);
    let observer = shell.observer.lock().ok().and_then(|o| o.clone());
    Ok(Companion::new(config, store)?.with_observer(observer))
}

fn origin(s: &StoredSettings) -> CmdResult<String> {
    crate::settings::url_origin(&s.view.backend_url)
        .ok_or_else(|| CommandError::new(CommandErrorCode::BackendUrlInvalid, "no backend configured"))
}

fn ui_sink(app: &AppHandle) -> UiSink {
    let app = app.clone();
    Arc::new(move |e: UiEvent| {
        let _ = app.emit("flow", e);
    })
}

/// The light step's full-screen switch: on for the step, then back to what the window was
/// (a kiosk stays full screen).
fn light_stage(app: &AppHandle, shell: &Shell) -> LightStage {
    let app = app.clone();
    let was = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stage: StageFn = Arc::new(move |on: bool| {
        let Some(w) = app.get_webview_window("main") else { return };
        if on {
            was.store(w.is_fullscreen().unwrap_or(false), std::sync::atomic::Ordering::SeqCst);
            let _ = w.set_fullscreen(true);
        } else if !was.load(std::sync::atomic::Ordering::SeqCst) {
            let _ = w.set_fullscreen(false);
        }
    });
    LightStage { desk: shell.light.clone(), stage }
}

/// Everything the UI needs to start.
#[tauri::command]
#[instrument(skip_all)]
pub fn app_state(shell: State<'_, Shell>) -> CmdResult<AppState> {
    let first_run = shell.settings.lock().map(|s| s.is_none()).unwrap_or(true);
    let s = settings(&shell)?;
    let station_registered = if s.view.mode == UiMode::Kiosk && !first_run {
        let c = companion(&shell, &s)?;
        matches!(c.store().load(&origin(&s)?), Ok(Some(cred)) if cred.kind() == "station")
    } else {
        false
    };
    Ok(AppState {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        first_run,
        settings: SettingsView::from(&s.view),
        account: s.account_masked.clone(),
        station_registered,
        admin_pin_set: s.admin_pin.is_some(),
        face_guidance: shell.observer.lock().map(|o| o.is_some()).unwrap_or(false),
    })
}

/// Validates and saves the settings; kiosk mode goes full screen.
#[tauri::command]
#[instrument(skip_all, fields(mode = ?new.mode))]
pub fn save_settings(app: AppHandle, shell: State<'_, Shell>, new: SettingsView) -> CmdResult<AppState> {
    let mut s = settings(&shell)?;
    let view = crate::settings::StoredView::from(new);
    StoredSettings::validate(&view)?;
    if view.backend_url != s.view.backend_url {
        s.account_masked = None;
    }
    s.view = view;
    s.save(&shell.dir)?;
    let kiosk = s.view.mode == UiMode::Kiosk;
    if let Ok(mut slot) = shell.settings.lock() {
        *slot = Some(s);
    }
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.set_fullscreen(kiosk);
    }
    app_state(shell)
}

/// Personal mode: signs in to the backend; the tokens go to the companion's credential store.
#[tauri::command]
#[instrument(skip_all)]
pub async fn sign_in(shell: State<'_, Shell>, email: String, password: String) -> CmdResult<String> {
    let mut s = settings(&shell)?;
    let c = companion(&shell, &s)?;
    let account = c.login(&origin(&s)?, email.trim(), &password).await?;
    s.account_masked = Some(account.email_masked.clone());
    s.save(&shell.dir)?;
    if let Ok(mut slot) = shell.settings.lock() {
        *slot = Some(s);
    }
    Ok(account.email_masked)
}

/// Signs out (revokes on the server, deletes locally).
#[tauri::command]
#[instrument(skip_all)]
pub async fn sign_out(shell: State<'_, Shell>) -> CmdResult<()> {
    let mut s = settings(&shell)?;
    let c = companion(&shell, &s)?;
    c.logout(&origin(&s)?).await?;
    s.account_masked = None;
    s.save(&shell.dir)?;
    if let Ok(mut slot) = shell.settings.lock() {
        *slot = Some(s);
    }
    Ok(())
}

/// Kiosk mode: stores the station credential an operator got from `realname-server devices register`.
#[tauri::command]
#[instrument(skip_all)]
pub fn register_station(shell: State<'_, Shell>, token: String) -> CmdResult<()> {
    let s = settings(&shell)?;
    companion(&shell, &s)?.register_station(&origin(&s)?, &token)?;
    Ok(())
}

/// Kiosk mode: sets the admin PIN that guards leaving the kiosk.
#[tauri::command]
#[instrument(skip_all)]
pub fn set_admin_pin(shell: State<'_, Shell>, pin: String) -> CmdResult<()> {
    let mut s = settings(&shell)?;
    s.set_pin(pin.trim())?;
    s.save(&shell.dir)?;
    if let Ok(mut slot) = shell.settings.lock() {
        *slot = Some(s);
    }
    Ok(())
}

/// Kiosk mode: quits the app when the admin PIN is right.
#[tauri::command]
#[instrument(skip_all)]
pub fn kiosk_exit(app: AppHandle, shell: State<'_, Shell>, pin: String) -> CmdResult<()> {
    let s = settings(&shell)?;
    if !s.check_pin(pin.trim()) {
        tracing::warn!("wrong admin PIN");
        return Err(CommandError::new(CommandErrorCode::PinInvalid, "wrong admin PIN"));
    }
    tracing::info!("kiosk exit");
    shell.allow_exit.store(true, std::sync::atomic::Ordering::SeqCst);
    app.exit(0);
    Ok(())
}

/// The sources the camera chooser offers (cameras, the screen; tester stand-ins).
#[tauri::command]
#[instrument(skip_all)]
pub fn list_sources(shell: State<'_, Shell>) -> CmdResult<Vec<SourceOption>> {
    let s = settings(&shell)?;
    let mut out = Vec::new();
    match realname_scan::webcam::list_devices() {
        Ok(devices) => {
            for (i, d) in devices.iter().enumerate() {
                out.push(SourceOption {
                    spec: format!("webcam:{i}"),
                    label: d.name.clone(),
                    kind: "webcam".into(),
                    stand_in: false,
                });
            }
        }
        Err(e) => tracing::info!(error = %e, "no camera list"),
    }
    out.push(SourceOption { spec: "screen".into(), label: "Screen".into(), kind: "screen".into(), stand_in: false });
    if s.view.tester_mode {
        for spec in [&s.view.qr_source, &s.view.face_source] {
            if spec.starts_with("dir:") || spec.starts_with("file:") || spec.starts_with("synthetic:") {
                let kind = spec.split(':').next().unwrap_or("file").to_owned();
                out.push(SourceOption { spec: spec.clone(), label: spec.clone(), kind, stand_in: true });
            }
        }
    }
    Ok(out)
}

/// Starts the live preview of `spec` (camera chooser).
#[tauri::command]
#[instrument(skip_all)]
pub fn start_preview(app: AppHandle, shell: State<'_, Shell>, spec: String) -> CmdResult<()> {
    let parsed = SourceSpec::parse(spec.trim())
        .map_err(|e| CommandError::new(CommandErrorCode::SourceInvalid, e.to_string()))?;
    stop_preview(shell.clone());
    let cancel = CancellationToken::new();
    if let Ok(mut slot) = shell.preview.lock() {
        *slot = Some(cancel.clone());
    }
    verification::spawn_preview(parsed, shell.hub.clone(), ui_sink(&app), cancel);
    Ok(())
}

/// Stops the chooser's preview.
#[tauri::command]
#[instrument(skip_all)]
pub fn stop_preview(shell: State<'_, Shell>) {
    if let Some(c) = shell.preview.lock().ok().and_then(|mut s| s.take()) {
        c.cancel();
    }
}

/// Starts a verification: scan, context, consent, liveness, upload. Progress arrives on the
/// `flow` event; a running verification is cancelled first.
#[tauri::command]
#[instrument(skip_all)]
pub fn start_verification(app: AppHandle, shell: State<'_, Shell>) -> CmdResult<()> {
    stop_preview(shell.clone());
    cancel_verification(shell.clone());
    let s = settings(&shell)?;
    let c = companion(&shell, &s)?;
    let scan_timeout = std::time::Duration::from_secs(c.config().scan_timeout_secs.max(1));
    let plan = RunPlan {
        companion: c,
        qr_source: s.view.qr_source.clone(),
        face_source: s.view.face_source.clone(),
        scan_timeout,
        light: light_stage(&app, &shell),
    };
    let handle = RunHandle { cancel: CancellationToken::new(), answers: Arc::default() };
    if let Ok(mut slot) = shell.run.lock() {
        *slot = Some(handle.clone());
    }
    tauri::async_runtime::spawn(verification::run(plan, handle, shell.hub.clone(), ui_sink(&app)));
    Ok(())
}

fn current_run(shell: &Shell) -> CmdResult<RunHandle> {
    shell
        .run
        .lock()
        .ok()
        .and_then(|r| r.clone())
        .ok_or_else(|| CommandError::new(CommandErrorCode::NoVerification, "no verification is running"))
}

/// The answer to the masked context (confirm, or "I did not start this").
#[tauri::command]
#[instrument(skip(shell))]
pub fn answer_context(shell: State<'_, Shell>, answer: ContextAnswer) -> CmdResult<()> {
    let choice = match answer {
        ContextAnswer::Confirm => ContextChoice::Confirm,
        ContextAnswer::Cancel => ContextChoice::Cancel,
    };
    current_run(&shell)?.answers.context(choice);
    Ok(())
}

/// The answer to the consent question.
#[tauri::command]
#[instrument(skip(shell))]
pub fn answer_consent(shell: State<'_, Shell>, given: bool) -> CmdResult<()> {
    current_run(&shell)?.answers.consent(given);
    Ok(())
}

/// Kiosk: the code shown on the PC (`None` cancels).
#[tauri::command]
#[instrument(skip_all)]
pub fn answer_station_code(shell: State<'_, Shell>, code: Option<String>) -> CmdResult<()> {
    current_run(&shell)?.answers.station_code(code);
    Ok(())
}

/// Cancels the running verification (the server is told; the PC page shows "cancelled").
#[tauri::command]
#[instrument(skip_all)]
pub fn cancel_verification(shell: State<'_, Shell>) {
    if let Some(run) = shell.run.lock().ok().and_then(|mut r| r.take()) {
        run.cancel.cancel();
    }
}

/// Kiosk: forgets everything of the last person (run, preview frame).
#[tauri::command]
#[instrument(skip_all)]
pub fn reset_session(shell: State<'_, Shell>) {
    cancel_verification(shell.clone());
    stop_preview(shell.clone());
    shell.hub.clear();
}

/// The web view's paint report of the light step for `nonce` it was asked to show (`None`:
/// the person pressed Stop, or it could not paint).
#[tauri::command]
#[instrument(skip_all)]
pub fn light_report(shell: State<'_, Shell>, nonce: String, report: Option<LightReport>) {
    shell.light.report(&nonce, report);
}

/// Tester mode: shows `sequence` exactly as a verification would (notice, full screen, paint
/// report) without a verification, and returns the measured paint times; with `observe`, also
/// when each colour appeared in the X display's pixels ([`crate::screen_watch`]).
#[tauri::command]
#[instrument(skip_all)]
pub async fn rehearse_light(
    app: AppHandle,
    shell: State<'_, Shell>,
    sequence: realname_protocol::light::LightSequence,
    notice_ms: Option<u32>,
    observe: Option<bool>,
) -> CmdResult<LightRehearsal> {
    if !settings(&shell)?.view.tester_mode {
        return Err(CommandError::new(CommandErrorCode::TesterOnly, "the light rehearsal is a tester-mode tool"));
    }
    let broken = sequence.violations();
    if !broken.is_empty() {
        return Err(CommandError::new(CommandErrorCode::LightSequenceInvalid, broken.join(", ")));
    }
    let stage = light_stage(&app, &shell);
    let notice = notice_ms.unwrap_or(crate::light::NOTICE_MS).min(10_000);
    let watch = if observe.unwrap_or(false) {
        // A pixel in the lower left quarter of the window: clear of the notice and of Stop.
        let w =
            app.get_webview_window("main").ok_or_else(|| CommandError::new(CommandErrorCode::Internal, "no window"))?;
        let (pos, size) = (w.inner_position().unwrap_or_default(), w.inner_size().unwrap_or_default());
        let (x, y) = (
            pos.x + i32::try_from(size.width / 4).unwrap_or(0),
            pos.y + i32::try_from(size.height * 3 / 4).unwrap_or(0),
        );
        Some(
            crate::screen_watch::ScreenWatch::start(x, y)
                .map_err(|e| CommandError::new(CommandErrorCode::NoDisplay, e))?,
        )
    } else {
        None
    };
    let result = stage.desk.rehearse(&sequence, notice, &ui_sink(&app), &stage.stage).await;
    let seen = watch.map(crate::screen_watch::ScreenWatch::finish);
    let mut rehearsal = result.map_err(|e| match e {
        LightFailure::Stopped => CommandError::new(CommandErrorCode::LightStopped, "the light step was stopped"),
        LightFailure::TimedOut => {
            CommandError::new(CommandErrorCode::LightTimeout, "the web view did not report the light step")
        }
        LightFailure::Invalid => {
            CommandError::new(CommandErrorCode::LightReportInvalid, "the paint report does not match")
        }
    })?;
    if let Some((samples, reads)) = seen {
        let colours: Vec<String> = rehearsal.fields.iter().map(|f| f.colour.clone()).collect();
        rehearsal.screen_seen_at_ms = crate::screen_watch::first_seen(&colours, &samples, 3);
        rehearsal.screen_reads = u32::try_from(reads).unwrap_or(u32::MAX);
    }
    Ok(rehearsal)
}
