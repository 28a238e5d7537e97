//! `realname` — the companion (APP role) on the command line, for testers and QA automation:
//! sign in, scan and record frame sources, run the whole verification, and generate load.

mod flash;
mod load;
mod output;
mod terminal;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use realname_companion::{
    CancellationToken, Companion, CompanionConfig, CompanionError, ContextChoice, EventSink, FaceInput, FaceObserver,
    FixedAnswers, FlowOutcome, LightScene, Mode, Prompter, QrInput,
};
use realname_scan::{ImageFormat, Recorder, SourceSpec};

use crate::output::{Exit, Output};

const EXIT_CODES: &str = "\
EXIT CODES:
  0  passed / ok
  1  verification failed (not passed: failed, retry, cancelled, untrusted QR)
  2  usage or local configuration error
  3  server or network error
  4  camera / frame source error";

/// The Realname companion on the command line.
#[derive(Debug, Parser)]
#[command(name = "realname", version, about, after_help = EXIT_CODES)]
struct Cli {
    /// Print one JSON document on stdout instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Configuration file (TOML); default ~/.config/realname/companion.toml.
    #[arg(long, global = true, env = "REALNAME_COMPANION_CONFIG")]
    config: Option<PathBuf>,
    /// Server origin (overrides the configuration; also trusted for this run).
    #[arg(long, global = true)]
    server: Option<String>,
    /// Credential store: keyring, keyutils or file.
    #[arg(long, global = true)]
    credential_store: Option<String>,
    /// Credential file for the file store.
    #[arg(long, global = true)]
    credential_file: Option<PathBuf>,
    /// More log output on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign in to the server with e-mail and password (personal mode).
    #[command(after_help = EXIT_CODES)]
    Login {
        /// Account e-mail.
        #[arg(long)]
        email: String,
        /// Read the password from the first line of stdin (else REALNAME_PASSWORD, else a prompt).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Sign out: revoke the tokens and delete them locally.
    #[command(after_help = EXIT_CODES)]
    Logout,
    /// Show the signed-in account (or the station) for the server.
    #[command(after_help = EXIT_CODES)]
    Whoami,
    /// Kiosk station commands.
    #[command(after_help = EXIT_CODES)]
    Station {
        #[command(subcommand)]
        command: StationCommand,
    },
    /// List cameras.
    #[command(after_help = EXIT_CODES)]
    Cameras,
    /// Scan a source until a Realname QR appears and print its payload.
    #[command(after_help = EXIT_CODES)]
    Scan {
        /// Frame source spec (webcam:0, screen, file:qr.png, dir:frames/@10fps, synthetic:qr=…).
        #[arg(long)]
        source: Option<String>,
    },
    /// Record a source's frames into a folder (replayable with dir:FOLDER).
    #[command(after_help = EXIT_CODES)]
    Record {
        /// Frame source spec.
        #[arg(long)]
        source: Option<String>,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Frames to record.
        #[arg(long, default_value_t = 100)]
        frames: usize,
        /// png or jpg.
        #[arg(long, default_value = "jpg")]
        format: String,
        /// Record a light step instead (a random colour sequence shown in front of the face;
        /// rendered for folders, files and synthetic sources): frames, the sequence and the
        /// paint and capture times in light.json (crates/realname-liveness/README.md).
        #[arg(long)]
        flash: bool,
        /// With --flash: what is recorded, e.g. genuine or attack:phone_replay.
        #[arg(long, default_value = "genuine")]
        kind: String,
        /// With --flash: face model weights, to find the face the renderer lights (default
        /// REALNAME_MODELS_DIR or ./models; without them a synthetic face is lit).
        #[arg(long, env = "REALNAME_MODELS_DIR")]
        models: Option<PathBuf>,
    },
    /// The whole APP role: scan, claim, confirm, liveness challenge, upload, decision.
    #[command(after_help = EXIT_CODES)]
    Verify(VerifyArgs),
    /// QA load generator: N virtual users walk the PC flow and the companion flow.
    #[command(after_help = EXIT_CODES)]
    Load(load::LoadArgs),
    /// Write identities for a load run (authority.csv for the server, people.csv for `load`).
    #[command(after_help = EXIT_CODES)]
    LoadIdentities(load::IdentityArgs),
}

#[derive(Debug, Subcommand)]
enum StationCommand {
    /// Store the station credential printed by `realname-server devices register`.
    Register {
        /// The credential (else read from stdin).
        #[arg(long)]
        credential: Option<String>,
    },
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    /// Source to scan the QR from (default: the configured camera).
    #[arg(long)]
    source: Option<String>,
    /// Source for the face (default: the same source as the QR).
    #[arg(long)]
    face: Option<String>,
    /// Confirm the context without asking (automation).
    #[arg(long, conflicts_with = "cancel")]
    yes: bool,
    /// Answer "Cancel — I did not start this".
    #[arg(long)]
    cancel: bool,
    /// Kiosk: the code shown on the PC page.
    #[arg(long)]
    station_code: Option<String>,
    /// Face model weights for live guidance (default REALNAME_MODELS_DIR or ./models).
    #[arg(long)]
    models: Option<PathBuf>,
    /// Do not use the local face detector (capture by time; the server still decides).
    #[arg(long)]
    no_detector: bool,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_tracing(cli.verbose);
    let out = Output::new(cli.json);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return out.fail(Exit::Usage, "runtime", &e.to_string()),
    };
    runtime.block_on(run(cli, out))
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,realname=info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("REALNAME_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

fn load_config(cli: &Cli) -> Result<CompanionConfig, CompanionError> {
    let mut config = CompanionConfig::load(cli.config.as_deref())?;
    if let Some(server) = &cli.server {
        let origin = realname_companion::config::normalise_origin(server)?;
        if !config.trusted_origins.iter().any(|o| realname_protocol::qr::same_origin(o, &origin)) {
            config.trusted_origins.push(origin.clone());
        }
        config.server = Some(origin);
    }
    if let Some(kind) = &cli.credential_store {
        config.credential_store = realname_companion::CredentialStoreKind::parse(kind).ok_or_else(|| {
            CompanionError::Config(format!("--credential-store: expected keyring, keyutils or file, got {kind:?}"))
        })?;
    }
    if let Some(file) = &cli.credential_file {
        config.credential_file = Some(file.clone());
    }
    Ok(config)
}

fn companion(config: CompanionConfig) -> Result<Companion, CompanionError> {
    let store = realname_companion::credentials::open_store(&config)?;
    Companion::new(config, Arc::from(store))
}

fn open(spec: &str) -> Result<Box<dyn realname_scan::FrameSource>, CompanionError> {
    let spec = SourceSpec::parse(spec).map_err(|e| CompanionError::Config(format!("source spec: {e}")))?;
    realname_scan::open_source(&spec).map_err(|e| CompanionError::Camera(e.to_string()))
}

/// The light step for a face source that is not a live camera (a folder, a file, a synthetic
/// scene): the liveness renderer lights the source's own face with the issued sequence. A
/// webcam or the screen gets `None`: the terminal cannot paint a full-screen colour field
/// (the CLI has no window), so a challenge with a light sequence stops with
/// `light_unavailable` before anything is uploaded — the desktop app shows it.
fn light_scene(spec: &str, observer: Option<FaceObserver>) -> Result<Option<Arc<LightScene>>, CompanionError> {
    let mut parsed = SourceSpec::parse(spec).map_err(|e| CompanionError::Config(format!("source spec: {e}")))?;
    let fps = match &mut parsed {
        SourceSpec::Webcam { .. } | SourceSpec::Screen { .. } => return Ok(None),
        // Read the scene as fast as the files allow; render it at the recorded rate.
        SourceSpec::Dir { fps, .. } | SourceSpec::File { fps, .. } => fps.replace(1000.0).unwrap_or(10.0),
        SourceSpec::Synthetic(_) => 10.0,
    };
    let open = move || realname_scan::open_source(&parsed).map_err(|e| CompanionError::Camera(e.to_string()));
    Ok(Some(Arc::new(LightScene::deferred(open, observer, 20, fps as f32))))
}

async fn run(cli: Cli, out: Output) -> ExitCode {
    let config = match load_config(&cli) {
        Ok(c) => c,
        Err(e) => return out.error(&e),
    };
    let result = match cli.command {
        Command::Login { email, password_stdin } => login(config, &out, &email, password_stdin).await,
        Command::Logout => logout(config, &out).await,
        Command::Whoami => whoami(config, &out).await,
        Command::Station { command: StationCommand::Register { credential } } => {
            station_register(config, &out, credential)
        }
        Command::Cameras => cameras(&out),
        Command::Scan { source } => scan(config, &out, source).await,
        Command::Record { source, out: dir, flash: true, kind, models, .. } => {
            record_flash(config, &out, source, dir, &kind, models).await
        }
        Command::Record { source, out: dir, frames, format, .. } => {
            record(config, &out, source, dir, frames, &format).await
        }
        Command::Verify(args) => verify(config, &out, args).await,
        Command::Load(args) => return load::run(args, &out, config).await,
        Command::LoadIdentities(args) => return load::write_identities(&args, &out),
    };
    match result {
        Ok(code) => code,
        Err(e) => out.error(&e),
    }
}

async fn login(
    config: CompanionConfig,
    out: &Output,
    email: &str,
    password_stdin: bool,
) -> Result<ExitCode, CompanionError> {
    let origin = config.server_origin()?;
    let password = if password_stdin {
        terminal::read_line_stdin()?
    } else if let Ok(p) = std::env::var("REALNAME_PASSWORD") {
        p
    } else {
        terminal::ask("Password: ")?
    };
    let companion = companion(config)?;
    let account = companion.login(&origin, email, password.trim_end_matches(['\r', '\n'])).await?;
    Ok(out.ok(
        serde_json::json!({"server": origin, "account": account, "store": companion.store().describe()}),
        &format!("Signed in to {origin} as {}", account.email_masked),
    ))
}

async fn logout(config: CompanionConfig, out: &Output) -> Result<ExitCode, CompanionError> {
    let origin = config.server_origin()?;
    let companion = companion(config)?;
    let removed = companion.logout(&origin).await?;
    let text = if removed { format!("Signed out of {origin}") } else { format!("Not signed in to {origin}") };
    Ok(out.ok(serde_json::json!({"server": origin, "removed": removed}), &text))
}

async fn whoami(config: CompanionConfig, out: &Output) -> Result<ExitCode, CompanionError> {
    let origin = config.server_origin()?;
    let companion = companion(config)?;
    let client = companion.authed(&origin)?;
    match client.kind().await {
        "station" => Ok(out.ok(
            serde_json::json!({"server": origin, "kind": "station", "store": companion.store().describe()}),
            &format!("Kiosk station credential for {origin}"),
        )),
        _ => {
            let account = client.call(|api, bearer| async move { api.me(&bearer).await }).await?;
            Ok(out.ok(
                serde_json::json!({"server": origin, "kind": "personal", "account": account, "store": companion.store().describe()}),
                &format!(
                    "{} on {origin} ({})",
                    account.email_masked,
                    if account.verified { "verified" } else { "not verified" }
                ),
            ))
        }
    }
}

fn station_register(
    config: CompanionConfig,
    out: &Output,
    credential: Option<String>,
) -> Result<ExitCode, CompanionError> {
    let origin = config.server_origin()?;
    let token = match credential {
        Some(c) => c,
        None => terminal::read_line_stdin()?,
    };
    let companion = companion(config)?;
    companion.register_station(&origin, &token)?;
    Ok(out.ok(
        serde_json::json!({"server": origin, "kind": "station", "store": companion.store().describe()}),
        &format!("Station credential stored for {origin}"),
    ))
}

fn cameras(out: &Output) -> Result<ExitCode, CompanionError> {
    let devices = realname_scan::webcam::list_devices().map_err(|e| CompanionError::Camera(e.to_string()))?;
    let list: Vec<serde_json::Value> = devices
        .iter()
        .map(|d| {
            serde_json::json!({
                "index": d.index, "name": d.name, "description": d.description,
                "formats": d.formats.iter().map(|f| serde_json::json!({"width": f.width, "height": f.height, "fps": f.fps, "pixel_format": f.pixel_format})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let text = if devices.is_empty() {
        "No cameras found".to_owned()
    } else {
        devices.iter().map(|d| format!("webcam:{}  {}", d.index, d.name)).collect::<Vec<_>>().join("\n")
    };
    Ok(out.ok(serde_json::json!({"cameras": list}), &text))
}

async fn scan(config: CompanionConfig, out: &Output, source: Option<String>) -> Result<ExitCode, CompanionError> {
    let spec = source.unwrap_or_else(|| config.camera.clone());
    let trusted = config.trusted()?;
    let companion = companion(config)?;
    let mut pump = realname_companion::pump::FramePump::spawn(open(&spec)?);
    let cancel = CancellationToken::new();
    let ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            ctrl_c.cancel();
        }
    });
    let payload = companion.scan(&mut pump, &EventSink::none(), &cancel).await?;
    let is_trusted = trusted.check(payload.origin()).is_ok();
    Ok(out.ok(
        serde_json::json!({"payload": payload.to_string(), "origin": payload.origin(), "trusted": is_trusted}),
        &format!("{payload}\norigin {} ({})", payload.origin(), if is_trusted { "trusted" } else { "NOT trusted" }),
    ))
}

async fn record(
    config: CompanionConfig,
    out: &Output,
    source: Option<String>,
    dir: PathBuf,
    frames: usize,
    format: &str,
) -> Result<ExitCode, CompanionError> {
    let format = match format {
        "png" => ImageFormat::Png,
        "jpg" | "jpeg" => ImageFormat::Jpeg(90),
        other => return Err(CompanionError::Config(format!("--format: expected png or jpg, got {other:?}"))),
    };
    let spec = source.unwrap_or_else(|| config.camera.clone());
    let mut src = open(&spec)?;
    let name = src.info().name;
    let recorded = tokio::task::spawn_blocking(move || {
        let mut rec = Recorder::create(&dir, format, &name)?;
        let n = rec.record_from(src.as_mut(), frames, Duration::from_secs(5))?;
        Ok::<_, realname_scan::SourceError>((n, rec.dir().to_path_buf()))
    })
    .await
    .map_err(|e| CompanionError::Camera(e.to_string()))?
    .map_err(|e| CompanionError::Camera(e.to_string()))?;
    Ok(out.ok(
        serde_json::json!({"frames": recorded.0, "out": recorded.1}),
        &format!("Recorded {} frames into {}", recorded.0, recorded.1.display()),
    ))
}

async fn record_flash(
    config: CompanionConfig,
    out: &Output,
    source: Option<String>,
    dir: PathBuf,
    kind: &str,
    models: Option<PathBuf>,
) -> Result<ExitCode, CompanionError> {
    let spec = source.unwrap_or_else(|| config.camera.clone());
    let models = models.or_else(|| config.models_dir.clone()).unwrap_or_else(|| PathBuf::from("models"));
    let kind = kind.to_owned();
    let out_dir = dir.clone();
    let recording = tokio::task::spawn_blocking(move || {
        let observer = FaceObserver::load(&models)
            .map_err(|e| tracing::warn!(error = %e, "no face detector: the light is rendered on a synthetic face"))
            .ok();
        flash::record_flash(&spec, observer.as_ref(), &out_dir, 90, &kind)
    })
    .await
    .map_err(|e| CompanionError::Camera(e.to_string()))??;
    Ok(out.ok(
        serde_json::json!({
            "frames": recording.frames.len(),
            "out": dir,
            "light": dir.join(flash::LIGHT_FILE),
            "rendered": recording.rendered,
            "steps": recording.sequence.steps.len(),
        }),
        &format!(
            "Recorded a light step of {} colours ({}) in {} frames into {}",
            recording.sequence.steps.len(),
            if recording.rendered { "rendered" } else { "filmed" },
            recording.frames.len(),
            dir.display()
        ),
    ))
}

async fn verify(config: CompanionConfig, out: &Output, args: VerifyArgs) -> Result<ExitCode, CompanionError> {
    let spec = args.source.clone().unwrap_or_else(|| config.camera.clone());
    let models = args.models.clone().or_else(|| config.models_dir.clone()).unwrap_or_else(|| PathBuf::from("models"));
    let lang = config.language;
    let kiosk = config.mode == Mode::Kiosk;
    let observer = if args.no_detector {
        None
    } else {
        match FaceObserver::load(&models) {
            Ok(o) => Some(o),
            Err(e) => {
                tracing::warn!(error = %e, "no local face detector: no live guidance");
                None
            }
        }
    };
    let face_spec = args.face.clone().unwrap_or_else(|| spec.clone());
    let scene = light_scene(&face_spec, observer.clone())?;
    let companion = companion(config)?.with_observer(observer).with_light_scene(scene);
    let qr = QrInput::Source(open(&spec)?);
    let face = match &args.face {
        Some(f) => FaceInput::Source(open(f)?),
        None => FaceInput::SameAsQr,
    };
    let interactive = !out.json() && terminal::is_interactive() && !args.yes && !args.cancel;
    let prompter: Box<dyn Prompter> = if interactive {
        Box::new(terminal::TerminalPrompter::new(lang, kiosk))
    } else {
        Box::new(FixedAnswers {
            choice: if args.cancel { ContextChoice::Cancel } else { ContextChoice::Confirm },
            consent: !args.cancel,
            station_code: args.station_code.clone(),
        })
    };
    if !interactive && !args.yes && !args.cancel {
        return Err(CompanionError::Config(
            "not a terminal: pass --yes to confirm the context (or --cancel) for automation".into(),
        ));
    }
    let cancel = CancellationToken::new();
    let ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            ctrl_c.cancel();
        }
    });
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let renderer = terminal::spawn_renderer(rx, !out.json() && terminal::stderr_is_terminal(), lang);
    let result = companion.verify(qr, face, prompter.as_ref(), &EventSink::new(tx), &cancel).await;
    let events = renderer.await.unwrap_or_default();
    match result {
        Ok(report) => {
            let exit = if report.outcome == FlowOutcome::Passed { Exit::Ok } else { Exit::Failed };
            let text = match (&report.outcome, &report.decision) {
                (FlowOutcome::Passed, _) => "Verification passed".to_owned(),
                (FlowOutcome::Cancelled, _) => "Cancelled: the PC page shows the verification as cancelled".to_owned(),
                (_, Some(d)) => format!(
                    "Verification {}: {} ({}; attempts left: {})",
                    if report.outcome == FlowOutcome::Retry { "not passed, retry possible" } else { "failed" },
                    d.message,
                    d.reason.map_or_else(
                        || "no reason".to_owned(),
                        |r| serde_json::to_value(r).map(|v| v.to_string()).unwrap_or_default()
                    ),
                    d.attempts_left
                ),
                (_, None) => "Verification failed".to_owned(),
            };
            let mut json = serde_json::to_value(&report).unwrap_or_default();
            json["events"] = serde_json::Value::Array(events);
            Ok(out.finish(exit, json, &text))
        }
        Err(e) => {
            let mut json = serde_json::json!({"error": realname_companion::ErrorReport::from(&e)});
            json["events"] = serde_json::Value::Array(events);
            Ok(out.finish(Exit::from_error(&e), json, &format!("error [{}]: {e}", e.code())))
        }
    }
}
