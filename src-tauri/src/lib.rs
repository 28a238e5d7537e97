//! Realname desktop app: a Tauri v2 shell over the companion core (`realname-companion`).
//! The camera runs in Rust (`realname-scan`); preview frames reach the web view as raw JPEG
//! over the `preview://` scheme ([`preview`]); the UI talks to [`commands`] with the types of
//! [`ipc`] and hears progress on the `flow` event.

pub mod commands;
pub mod ipc;
pub mod light;
pub mod preview;
pub mod screen_watch;
pub mod settings;
pub mod verification;

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use realname_companion::FaceObserver;
use realname_companion::flow::CancellationToken;
use tauri::{Emitter, Manager, WindowEvent};

use crate::preview::PreviewHub;
use crate::settings::StoredSettings;
use crate::verification::RunHandle;

/// The app's state, shared by the commands.
#[derive(Debug)]
pub struct Shell {
    /// Folder of `desktop.toml` (and the file credential store).
    pub dir: PathBuf,
    /// The settings; `None` before the first run.
    pub settings: Mutex<Option<StoredSettings>>,
    /// Local face detector for live feedback (loaded in the background at start-up).
    pub observer: Mutex<Option<FaceObserver>>,
    /// The running verification.
    pub run: Mutex<Option<RunHandle>>,
    /// The chooser's preview.
    pub preview: Mutex<Option<CancellationToken>>,
    /// Newest preview frame.
    pub hub: PreviewHub,
    /// Kiosk: set once the admin PIN was given; closing the window is refused before.
    pub allow_exit: AtomicBool,
    /// The web view's light-step reports.
    pub light: std::sync::Arc<light::LightDesk>,
}

/// Where the face weights are: `REALNAME_MODELS_DIR`, else `models/` next to the binary or the
/// data folder of an installed package.
fn models_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("REALNAME_MODELS_DIR") {
        return Some(PathBuf::from(d));
    }
    let exe = std::env::current_exe().ok()?;
    let candidates = [exe.parent()?.join("models"), PathBuf::from("/usr/share/realname/models")];
    candidates.into_iter().find(|d| d.is_dir())
}

/// Drag and drop of an image or folder: the spec a tester wants as a source.
fn dropped_spec(path: &std::path::Path) -> String {
    if path.is_dir() { format!("dir:{}@10fps", path.display()) } else { format!("file:{}", path.display()) }
}

/// Runs the app.
pub fn run() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,realname=info".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();

    let dir = settings::settings_dir();
    let stored = match StoredSettings::load(&dir) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "settings unreadable; starting with the first-run screen");
            None
        }
    };
    let kiosk = stored.as_ref().is_some_and(|s| s.view.mode == ipc::UiMode::Kiosk);
    let shell = Shell {
        dir,
        settings: Mutex::new(stored),
        observer: Mutex::new(None),
        run: Mutex::new(None),
        preview: Mutex::new(None),
        hub: PreviewHub::new(),
        allow_exit: AtomicBool::new(false),
        light: std::sync::Arc::default(),
    };

    let result = tauri::Builder::default()
        .manage(shell)
        .register_asynchronous_uri_scheme_protocol("preview", |ctx, request, responder| {
            let hub = ctx.app_handle().state::<Shell>().hub.clone();
            let uri = request.uri().to_string();
            tauri::async_runtime::spawn(async move {
                responder.respond(preview::respond(&hub, &uri).await);
            });
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_state,
            commands::save_settings,
            commands::sign_in,
            commands::sign_out,
            commands::register_station,
            commands::set_admin_pin,
            commands::kiosk_exit,
            commands::list_sources,
            commands::start_preview,
            commands::stop_preview,
            commands::start_verification,
            commands::answer_context,
            commands::answer_consent,
            commands::answer_station_code,
            commands::cancel_verification,
            commands::reset_session,
            commands::light_report,
            commands::rehearse_light,
        ])
        .setup(move |app| {
            if let Some(w) = app.get_webview_window("main") {
                let _ = w.set_title(&format!("Realname {}", env!("CARGO_PKG_VERSION")));
                if kiosk {
                    let _ = w.set_fullscreen(true);
                }
            }
            // The face detector takes a moment to load: never on the UI thread.
            let handle = app.handle().clone();
            std::thread::spawn(move || {
                let Some(dir) = models_dir() else {
                    tracing::info!("no face weights: live feedback off, capture by time");
                    return;
                };
                match FaceObserver::load(&dir) {
                    Ok(o) => {
                        if let Ok(mut slot) = handle.state::<Shell>().observer.lock() {
                            *slot = Some(o);
                        }
                        let _ = handle.emit("guidance", true);
                    }
                    Err(e) => tracing::warn!(error = %e, "face weights not loaded"),
                }
            });
            Ok(())
        })
        .on_window_event(|window, event| match event {
            WindowEvent::CloseRequested { api, .. } => {
                let shell = window.state::<Shell>();
                let kiosk = shell
                    .settings
                    .lock()
                    .ok()
                    .and_then(|s| s.as_ref().map(|s| s.view.mode == ipc::UiMode::Kiosk))
                    .unwrap_or(false);
                if kiosk && !shell.allow_exit.load(Ordering::SeqCst) {
                    // Kiosk: only the admin PIN ends the app.
                    api.prevent_close();
                    let _ = window.emit("exit_requested", ());
                }
            }
            WindowEvent::DragDrop(tauri::DragDropEvent::Drop { paths, .. }) => {
                if let Some(p) = paths.first() {
                    let _ = window.emit("dropped", dropped_spec(p));
                }
            }
            _ => {}
        })
        .run(tauri::generate_context!());
    if let Err(e) = result {
        tracing::error!(error = %e, "the app stopped with an error");
        std::process::exit(1);
    }
}
