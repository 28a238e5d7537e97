//! `realname load`: a QA load generator. Each virtual user signs up on the PC pages, walks the
//! verification over HTTP (forms + CSRF), reads the QR the page shows (decoding the PNG with
//! the scan crate's reader), follows the page's SSE stream, and completes the companion flow
//! with a recorded clip (its own person's, another person's, or cancelling; a clip folder's
//! `segments.csv` says where its person performs each action, and the clip then answers any
//! challenge holding those actions, in the challenge's order). The report has
//! throughput, per-step latency percentiles, errors by code and a lost-session check: every
//! started session must end in a final state that the PC page saw.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod identities;
mod pages;
mod people;
mod report;
mod user;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use realname_companion::{ClipSegments, CompanionConfig, CompanionError, FaceObserver, LightScene, PreparedClip};

/// A clip folder's action segments (`action,first,last` rows, [`ClipSegments::parse`]).
const SEGMENTS_FILE: &str = "segments.csv";

/// Frames of a clip the light step's renderer lights (played back and forth at the clips'
/// 10 fps).
const LIGHT_SCENE_FRAMES: usize = 20;

pub(crate) use self::identities::{IdentityArgs, write_identities};
use self::people::{FlowKind, assign_kinds, parse_mix, read_people};
use self::report::{build_report, summary};
use self::user::{Ctx, run_user};
use crate::output::{Exit, Output};

/// Options of `realname load`.
#[derive(Debug, clap::Args)]
pub(crate) struct LoadArgs {
    /// People registered with the identity authority: CSV `name,id_number,clip_folder` (one
    /// row per virtual user; each ID verifies at most one account).
    #[arg(long)]
    pub(super) people: PathBuf,
    /// Number of virtual users (flows).
    #[arg(long, default_value_t = 10)]
    pub(super) users: usize,
    /// Flows running at the same time.
    #[arg(long, default_value_t = 10)]
    pub(super) concurrency: usize,
    /// Seconds over which the concurrent workers start.
    #[arg(long, default_value_t = 0.0)]
    pub(super) ramp: f64,
    /// Stop starting new users after this many seconds (0 = no limit).
    #[arg(long, default_value_t = 0.0)]
    pub(super) duration: f64,
    /// Mix of flows in percent: genuine (own clip), wrong (another person's clip), cancel.
    #[arg(long, default_value = "genuine=100")]
    pub(super) mix: String,
    /// Clips of people who are not registered, for wrong-person flows (comma-separated
    /// folders; default: another row's clip).
    #[arg(long, value_delimiter = ',')]
    pub(super) impostor_clips: Vec<PathBuf>,
    /// Password of the virtual users' accounts.
    #[arg(long, default_value = "load-test-password")]
    pub(super) password: String,
    /// Prefix of the virtual users' e-mail addresses (default: a random run id).
    #[arg(long)]
    pub(super) email_prefix: Option<String>,
    /// Face model weights for analysing the clips once (default REALNAME_MODELS_DIR or ./models).
    #[arg(long)]
    pub(super) models: Option<PathBuf>,
    /// Do not analyse the clips locally (frames are then chosen by time).
    #[arg(long)]
    pub(super) no_detector: bool,
    /// Longest wait for the PC page's final state after the decision, seconds.
    #[arg(long, default_value_t = 60)]
    pub(super) sse_timeout: u64,
    /// Longest wait for one companion API request (the capture upload waits for the
    /// decision), seconds.
    #[arg(long, default_value_t = 120)]
    pub(super) http_timeout: u64,
    /// Write the JSON report here as well.
    #[arg(long)]
    pub(super) report: Option<PathBuf>,
    /// Each virtual user connects from its own loopback address (127.10.0.1, 127.10.0.2, …),
    /// so the server's per-IP rate limits count each user as they count real clients
    /// (a server on this machine only; Linux).
    #[arg(long)]
    pub(super) loopback_sources: bool,
}

/// Whether `origin`'s host is an IPv4 loopback address (the virtual users' source addresses
/// are IPv4 loopback addresses too).
fn origin_is_loopback(origin: &str) -> bool {
    matches!(url::Url::parse(origin).ok().and_then(|u| u.host().map(|h| h.to_owned())), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
}

/// Runs the load generator.
pub(crate) async fn run(args: LoadArgs, out: &Output, config: CompanionConfig) -> ExitCode {
    match run_inner(args, out, config).await {
        Ok(code) => code,
        Err((exit, code, message)) => out.fail(exit, &code, &message),
    }
}

async fn run_inner(args: LoadArgs, out: &Output, config: CompanionConfig) -> Result<ExitCode, (Exit, String, String)> {
    let usage = |m: String| (Exit::Usage, "usage".to_owned(), m);
    let origin = config.server_origin().map_err(|e| usage(e.to_string()))?;
    let people = read_people(&args.people).map_err(usage)?;
    if people.is_empty() {
        return Err(usage("--people lists nobody".into()));
    }
    let mix = parse_mix(&args.mix).map_err(usage)?;
    let kinds = assign_kinds(&mix, args.users);
    if args.users > people.len() && kinds.contains(&FlowKind::Genuine) {
        return Err(usage(format!(
            "{} users but only {} people: one ID number verifies one account, so give a row per user",
            args.users,
            people.len()
        )));
    }

    // Load and analyse every clip once.
    let models = args.models.clone().or(config.models_dir.clone()).unwrap_or_else(|| PathBuf::from("models"));
    let observer = if args.no_detector {
        None
    } else {
        match FaceObserver::load(&models) {
            Ok(o) => Some(o),
            Err(e) => {
                tracing::warn!(error = %e, "no local face detector: clips are replayed by time");
                None
            }
        }
    };
    let mut paths: Vec<PathBuf> =
        people.iter().map(|p| p.clip.clone()).chain(args.impostor_clips.iter().cloned()).collect();
    paths.sort();
    paths.dedup();
    let mut clips = HashMap::new();
    let mut scenes = HashMap::new();
    for path in paths {
        let clip_observer = observer.clone();
        let p = path.clone();
        let clip = tokio::task::spawn_blocking(move || {
            let source = realname_scan::ImageSequenceSource::open(&p, Some(1000.0), realname_scan::Playback::Once)
                .map_err(|e| CompanionError::Camera(e.to_string()))?;
            PreparedClip::load(Box::new(source), clip_observer.as_ref(), 400, 1280)
        })
        .await
        .map_err(|e| (Exit::Camera, "camera".to_owned(), e.to_string()))?
        .map_err(|e| (Exit::Camera, e.code(), format!("{}: {e}", path.display())))?;
        // Where the clip's person performs each action, when the folder says so: the clip
        // then answers random challenges (composed in the challenge's order).
        let segments_file = path.join(SEGMENTS_FILE);
        let clip = match std::fs::read_to_string(&segments_file) {
            Ok(text) => {
                let segments = ClipSegments::parse(&text, clip.len())
                    .map_err(|e| usage(format!("{}: {e}", segments_file.display())))?;
                clip.with_segments(segments)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => clip,
            Err(e) => return Err(usage(format!("{}: {e}", segments_file.display()))),
        };
        // The light step's scene: the clip's first frames and their faces, read now with the
        // clip (before any PC session starts: read at a session's first light sequence, it
        // would weigh on that session's timings). A session with a light sequence then only
        // renders its response (the sequence is the server's, known from the claim on).
        let p = path.clone();
        let scene_observer = observer.clone();
        let scene = tokio::task::spawn_blocking(move || {
            let source = realname_scan::ImageSequenceSource::open(&p, Some(1000.0), realname_scan::Playback::Once)
                .map_err(|e| CompanionError::Camera(e.to_string()))?;
            LightScene::from_source(Box::new(source), scene_observer.as_ref(), LIGHT_SCENE_FRAMES, 10.0)
        })
        .await
        .map_err(|e| (Exit::Camera, "camera".to_owned(), e.to_string()))?
        .map_err(|e| (Exit::Camera, e.code(), format!("{}: {e}", path.display())))?;
        clips.insert(path.clone(), Arc::new(clip));
        scenes.insert(path, Arc::new(scene));
    }

    if args.loopback_sources && !origin_is_loopback(&origin) {
        return Err(usage(format!(
            "--loopback-sources needs a server at an IPv4 loopback address (127.x.x.x), not {origin}"
        )));
    }
    let http_timeout = Duration::from_secs(args.http_timeout.max(1));
    let api_http = reqwest::Client::builder()
        .timeout(http_timeout)
        .build()
        .map_err(|e| (Exit::Usage, "http".to_owned(), e.to_string()))?;
    let ctx = Arc::new(Ctx {
        origin: origin.clone(),
        people,
        clips,
        scenes,
        impostors: args.impostor_clips.clone(),
        password: args.password.clone(),
        email_prefix: args.email_prefix.clone().unwrap_or_else(|| format!("load{:08x}", rand::random::<u32>())),
        noise_seed: rand::random(),
        sse_timeout: Duration::from_secs(args.sse_timeout),
        api_http,
        http_timeout,
        loopback_sources: args.loopback_sources,
    });

    let next = Arc::new(AtomicUsize::new(0));
    let kinds = Arc::new(kinds);
    let started = Instant::now();
    let stop_after = (args.duration > 0.0).then(|| Duration::from_secs_f64(args.duration));
    let workers = args.concurrency.clamp(1, args.users.max(1));
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (ctx, next, kinds) = (ctx.clone(), next.clone(), kinds.clone());
        let delay = Duration::from_secs_f64(args.ramp.max(0.0) * w as f64 / workers as f64);
        tasks.push(tokio::spawn(async move {
            // Ramp-up pacing of the workers' start (not a wait for state).
            tokio::time::sleep(delay).await;
            let mut results = Vec::new();
            loop {
                if stop_after.is_some_and(|d| started.elapsed() >= d) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(kind) = kinds.get(i).copied() else { break };
                results.push(run_user(ctx.clone(), i, kind).await);
            }
            results
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        match t.await {
            Ok(r) => results.extend(r),
            Err(e) => tracing::error!(error = %e, "a load worker stopped"),
        }
    }
    let wall = started.elapsed();
    results.sort_by_key(|r| r.user);
    let report = build_report(&origin, args.concurrency, &results, wall);
    let mut json = serde_json::to_value(&report).unwrap_or_default();
    json["results"] = serde_json::to_value(&results).unwrap_or_default();
    if let Some(path) = &args.report {
        let text = serde_json::to_string_pretty(&json).unwrap_or_default();
        std::fs::write(path, text).map_err(|e| (Exit::Usage, "io".to_owned(), format!("{}: {e}", path.display())))?;
    }
    let exit = if report.lost_sessions == 0 && report.ok { Exit::Ok } else { Exit::Failed };
    if !out.json() {
        eprintln!();
    }
    Ok(out.finish(exit, json, &summary(&report)))
}

#[cfg(test)]
mod tests {
    use super::origin_is_loopback;

    #[test]
    fn loopback_sources_need_an_ipv4_loopback_server() {
        assert!(origin_is_loopback("http://127.0.0.1:8080"));
        assert!(origin_is_loopback("http://127.3.4.5"));
        assert!(!origin_is_loopback("http://localhost:8080"), "may resolve to ::1");
        assert!(!origin_is_loopback("http://[::1]:8080"));
        assert!(!origin_is_loopback("https://verify.example.org"));
        assert!(!origin_is_loopback("not a url"));
    }
}
