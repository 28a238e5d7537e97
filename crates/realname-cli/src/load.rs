//! `realname load`: a QA load generator. Each virtual user signs up on the PC pages, walks the
//! verification over HTTP (forms + CSRF), reads the QR the page shows (decoding the PNG with
//! the scan crate's reader), follows the page's SSE stream, and completes the companion flow
//! with a recorded clip (its own person's, another person's, or cancelling). The report has
//! throughput, per-step latency percentiles, errors by code and a lost-session check: every
//! started session must end in a final state that the PC page saw.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use realname_companion::{
    Companion, CompanionConfig, CompanionError, ContextChoice, EventSink, FaceInput, FaceObserver, FixedAnswers,
    FlowEvent, FlowOutcome, MemoryStore, PreparedClip, QrInput,
};
use serde::Serialize;

use crate::output::{Exit, Output};

/// Options of `realname load`.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// People registered with the identity authority: CSV `name,id_number,clip_folder` (one
    /// row per virtual user; each ID verifies at most one account).
    #[arg(long)]
    people: PathBuf,
    /// Number of virtual users (flows).
    #[arg(long, default_value_t = 10)]
    users: usize,
    /// Flows running at the same time.
    #[arg(long, default_value_t = 10)]
    concurrency: usize,
    /// Seconds over which the concurrent workers start.
    #[arg(long, default_value_t = 0.0)]
    ramp: f64,
    /// Stop starting new users after this many seconds (0 = no limit).
    #[arg(long, default_value_t = 0.0)]
    duration: f64,
    /// Mix of flows in percent: genuine (own clip), wrong (another person's clip), cancel.
    #[arg(long, default_value = "genuine=100")]
    mix: String,
    /// Clips of people who are not registered, for wrong-person flows (comma-separated
    /// folders; default: another row's clip).
    #[arg(long, value_delimiter = ',')]
    impostor_clips: Vec<PathBuf>,
    /// Password of the virtual users' accounts.
    #[arg(long, default_value = "load-test-password")]
    password: String,
    /// Prefix of the virtual users' e-mail addresses (default: a random run id).
    #[arg(long)]
    email_prefix: Option<String>,
    /// Face model weights for analysing the clips once (default REALNAME_MODELS_DIR or ./models).
    #[arg(long)]
    models: Option<PathBuf>,
    /// Do not analyse the clips locally (frames are then chosen by time).
    #[arg(long)]
    no_detector: bool,
    /// Longest wait for the PC page's final state after the decision, seconds.
    #[arg(long, default_value_t = 60)]
    sse_timeout: u64,
    /// Longest wait for one companion API request (the capture upload waits for the
    /// decision), seconds.
    #[arg(long, default_value_t = 120)]
    http_timeout: u64,
    /// Write the JSON report here as well.
    #[arg(long)]
    report: Option<PathBuf>,
}

/// Kind of a virtual user's flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
enum FlowKind {
    Genuine,
    Wrong,
    Cancel,
}

#[derive(Debug, Clone)]
struct Person {
    name: String,
    id_number: String,
    clip: PathBuf,
}

fn parse_mix(text: &str) -> Result<Vec<(FlowKind, u32)>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| format!("--mix: {part:?} is not kind=percent"))?;
        let kind = match k.trim() {
            "genuine" => FlowKind::Genuine,
            "wrong" | "wrong_person" | "wrong-person" => FlowKind::Wrong,
            "cancel" | "cancelled" => FlowKind::Cancel,
            other => return Err(format!("--mix: unknown flow {other:?} (genuine, wrong, cancel)")),
        };
        let pct: u32 = v.trim().parse().map_err(|_| format!("--mix: {v:?} is not a number"))?;
        out.push((kind, pct));
    }
    if out.iter().map(|(_, p)| p).sum::<u32>() == 0 {
        return Err("--mix: the percentages add up to 0".into());
    }
    Ok(out)
}

/// Deterministic assignment of kinds to users that follows the mix exactly in proportion.
fn assign_kinds(mix: &[(FlowKind, u32)], users: usize) -> Vec<FlowKind> {
    let total: u32 = mix.iter().map(|(_, p)| p).sum();
    let mut out = Vec::with_capacity(users);
    let mut credit: Vec<f64> = vec![0.0; mix.len()];
    for _ in 0..users {
        for (c, (_, p)) in credit.iter_mut().zip(mix) {
            *c += f64::from(*p) / f64::from(total);
        }
        let (best, _) = credit
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap_or((0, &0.0));
        credit[best] -= 1.0;
        out.push(mix[best].0);
    }
    out
}

fn split_csv_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    fields.push(cur);
    fields.into_iter().map(|f| f.trim().to_owned()).collect()
}

fn read_people(path: &Path) -> Result<Vec<Person>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let f = split_csv_line(line);
        if i == 0 && f.first().is_some_and(|h| h.eq_ignore_ascii_case("name")) {
            continue;
        }
        let [name, id_number, clip] = f.as_slice() else {
            return Err(format!("{} line {}: expected name,id_number,clip_folder", path.display(), i + 1));
        };
        let clip = PathBuf::from(clip);
        let clip = if clip.is_absolute() { clip } else { base.join(clip) };
        out.push(Person { name: name.clone(), id_number: id_number.clone(), clip });
    }
    Ok(out)
}

// ------------------------------------------------------------------------------------------
// HTML helpers (the pages are ours: attribute values in double quotes, HTML-escaped)

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16).ok().and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The value of `attr="…"` in the first tag at or after `anchor`.
fn attr_after(html: &str, anchor: &str, attr: &str) -> Option<String> {
    let start = html.find(anchor)?;
    let tag_start = html[..start].rfind('<').unwrap_or(start);
    let tag_end = start + html[start..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let key = format!("{attr}=\"");
    let v = tag.find(&key)? + key.len();
    let len = tag[v..].find('"')?;
    Some(unescape(&tag[v..v + len]))
}

fn csrf_of(html: &str) -> Option<String> {
    attr_after(html, "name=\"csrf\"", "value")
}

/// The `data-code` of an error alert on a page.
fn page_error(html: &str) -> Option<String> {
    attr_after(html, "role=\"alert\"", "data-code")
}

// ------------------------------------------------------------------------------------------
// One virtual user

#[derive(Debug, Default, Clone, Serialize)]
struct UserResult {
    user: usize,
    kind: Option<FlowKind>,
    session_id: Option<String>,
    outcome: Option<FlowOutcome>,
    reason: Option<String>,
    error: Option<String>,
    /// Final state the PC page saw (`None`: none arrived).
    pc_final_state: Option<String>,
    started_session: bool,
    create_ms: Option<f64>,
    scan_to_claim_ms: Option<f64>,
    capture_to_decision_ms: Option<f64>,
    decision_to_pc_ms: Option<f64>,
    total_ms: Option<f64>,
}

struct Ctx {
    origin: String,
    people: Vec<Person>,
    clips: HashMap<PathBuf, Arc<PreparedClip>>,
    impostors: Vec<PathBuf>,
    password: String,
    email_prefix: String,
    /// Per-run seed of the virtual users' sensor patterns (runs must not replay each other).
    noise_seed: u64,
    sse_timeout: Duration,
    api_http: reqwest::Client,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Failure(String);

impl From<CompanionError> for Failure {
    fn from(e: CompanionError) -> Self {
        Self(e.code())
    }
}

fn http_err(e: reqwest::Error) -> Failure {
    Failure(if e.is_timeout() { "http_timeout".into() } else { "network".into() })
}

async fn page(resp: reqwest::Response) -> Result<(reqwest::StatusCode, String, String), Failure> {
    let status = resp.status();
    let url = resp.url().path().to_owned();
    let body = resp.text().await.map_err(http_err)?;
    Ok((status, url, body))
}

async fn run_user(ctx: Arc<Ctx>, user: usize, kind: FlowKind) -> UserResult {
    let mut r = UserResult { user, kind: Some(kind), ..Default::default() };
    let t_all = Instant::now();
    if let Err(Failure(code)) = user_flow(&ctx, user, kind, &mut r).await {
        r.error = Some(code);
    }
    r.total_ms = Some(ms(t_all.elapsed()));
    r
}

/// A state after which the session never changes again.
fn is_final(state: &str) -> bool {
    matches!(state, "passed" | "failed" | "expired" | "cancelled")
}

async fn user_flow(ctx: &Ctx, user: usize, kind: FlowKind, r: &mut UserResult) -> Result<(), Failure> {
    let person = &ctx.people[user % ctx.people.len()];
    let origin = &ctx.origin;
    let web = reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(http_err)?;
    let email = format!("{}-{user}@load.example", ctx.email_prefix);

    // The recorded clip this virtual user will show the camera, prepared before the PC
    // session starts (a phone is ready before its user scans): under load the preparation
    // can take longer than a QR handle lives.
    let clip_path = match kind {
        FlowKind::Wrong => {
            if ctx.impostors.is_empty() {
                let other = (1..ctx.people.len())
                    .map(|k| &ctx.people[(user + k) % ctx.people.len()])
                    .find(|p| p.clip != person.clip)
                    .ok_or_else(|| Failure("no_impostor_clip".into()))?;
                other.clip.clone()
            } else {
                ctx.impostors[user % ctx.impostors.len()].clone()
            }
        }
        _ => person.clip.clone(),
    };
    let clip = ctx.clips.get(&clip_path).cloned().ok_or_else(|| Failure("clip_missing".into()))?;
    // Each virtual user is its own capture: the server refuses frames it has seen in an
    // earlier upload (replay), so the shared recording gets a per-user, per-run sensor pattern.
    let clip = if kind == FlowKind::Cancel {
        clip
    } else {
        let seed = ctx.noise_seed.wrapping_add(user as u64);
        let varied = tokio::task::spawn_blocking(move || clip.with_sensor_noise(seed))
            .await
            .map_err(|_| Failure("clip_prepare".into()))??;
        Arc::new(varied)
    };

    // Sign up on the PC pages.
    let (_, _, html) = page(web.get(format!("{origin}/signup")).send().await.map_err(http_err)?).await?;
    let csrf = csrf_of(&html).ok_or_else(|| Failure("page_no_csrf".into()))?;
    let (status, path, html) = page(
        web.post(format!("{origin}/signup"))
            .form(&[("csrf", csrf.as_str()), ("email", email.as_str()), ("password", ctx.password.as_str())])
            .send()
            .await
            .map_err(http_err)?,
    )
    .await?;
    if !status.is_success() || path != "/verify" {
        return Err(Failure(page_error(&html).unwrap_or_else(|| format!("signup_http_{}", status.as_u16()))));
    }

    // The companion signs in to the same account.
    let config = CompanionConfig { trusted_origins: vec![origin.clone()], ..CompanionConfig::default() };
    let companion = Companion::new(config, Arc::new(MemoryStore::new()))?.with_http(ctx.api_http.clone());
    companion.login(origin, &email, &ctx.password).await?;

    // Identity form → QR page.
    let t_create = Instant::now();
    let (_, _, html) =
        page(web.get(format!("{origin}/verify/identity?method=face")).send().await.map_err(http_err)?).await?;
    let csrf = csrf_of(&html).ok_or_else(|| Failure("page_no_csrf".into()))?;
    let (status, path, html) = page(
        web.post(format!("{origin}/verify/identity"))
            .form(&[("csrf", csrf.as_str()), ("name", person.name.as_str()), ("id_number", person.id_number.as_str())])
            .send()
            .await
            .map_err(http_err)?,
    )
    .await?;
    let Some(session_id) = path.strip_prefix("/verify/sessions/").map(str::to_owned) else {
        return Err(Failure(page_error(&html).unwrap_or_else(|| format!("identity_http_{}", status.as_u16()))));
    };
    r.session_id = Some(session_id.clone());
    r.started_session = true;
    let qr_src = attr_after(&html, "id=\"qr\"", "src").ok_or_else(|| Failure("page_no_qr".into()))?;
    r.create_ms = Some(ms(t_create.elapsed()));

    // Follow the PC page's live status. Like the page's `EventSource`, reconnect when the
    // stream ends before a final state (an instance behind the load balancer went away):
    // the server sends the current state first on every connection.
    let (sse_tx, mut sse_rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, String)>();
    let sse_url = format!("{origin}/verify/sessions/{session_id}/events");
    let sse_web = web.clone();
    let sse_task = tokio::spawn(async move {
        let mut reconnects = 0u32;
        loop {
            if reconnects > 0 {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            reconnects += 1;
            let Ok(resp) = sse_web.get(&sse_url).timeout(Duration::from_secs(3600)).send().await else { continue };
            if !resp.status().is_success() {
                continue;
            }
            let mut stream = resp.bytes_stream();
            let mut buf = String::new();
            while let Some(Ok(chunk)) = stream.next().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let block: String = buf.drain(..end + 2).collect();
                    let data: String =
                        block.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim).collect::<Vec<_>>().join("");
                    if data.is_empty() {
                        continue;
                    }
                    let state = serde_json::from_str::<serde_json::Value>(&data)
                        .ok()
                        .and_then(|v| v.get("state").and_then(|s| s.as_str()).map(str::to_owned));
                    if let Some(state) = state {
                        let last = is_final(&state);
                        if sse_tx.send((Instant::now(), state)).is_err() || last {
                            return;
                        }
                    }
                }
            }
        }
    });

    // Read the QR off the page's PNG, as a camera pointed at the screen would.
    let t_scan = Instant::now();
    let png = web.get(format!("{origin}{qr_src}")).send().await.map_err(http_err)?.bytes().await.map_err(http_err)?;
    let text = tokio::task::spawn_blocking(move || -> Option<String> {
        let image = image::load_from_memory(&png).ok()?.into_rgb8();
        let reader = realname_scan::QrReader::new(realname_scan::ReaderConfig::default());
        reader.read(&image).codes.first().map(realname_scan::DecodedQr::text)
    })
    .await
    .ok()
    .flatten()
    .ok_or_else(|| Failure("qr_unreadable".into()))?;

    let answers = FixedAnswers {
        choice: if kind == FlowKind::Cancel { ContextChoice::Cancel } else { ContextChoice::Confirm },
        consent: true,
        station_code: None,
    };
    let (ev_tx, mut ev_rx) = tokio::sync::mpsc::unbounded_channel();
    let scan_ms = t_scan.elapsed();
    let result = companion
        .verify(QrInput::Text(text), FaceInput::Prepared(clip), &answers, &EventSink::new(ev_tx), &Default::default())
        .await;
    let mut last_event_at = None;
    while let Ok(ev) = ev_rx.try_recv() {
        if matches!(ev, FlowEvent::Decision { .. } | FlowEvent::Cancelled | FlowEvent::Failed { .. }) {
            last_event_at = Some(Instant::now());
        }
    }
    let _ = last_event_at;
    let ended_at = Instant::now();
    match result {
        Ok(report) => {
            r.scan_to_claim_ms = Some(ms(scan_ms) + report.timings.claim_ms as f64);
            if report.decision.is_some() {
                r.capture_to_decision_ms = Some(report.timings.decision_ms as f64 / f64::from(report.attempts.max(1)));
            }
            r.outcome = Some(report.outcome);
            r.reason = report
                .decision
                .as_ref()
                .and_then(|d| d.reason)
                .and_then(|reason| serde_json::to_value(reason).ok())
                .and_then(|v| v.as_str().map(str::to_owned));
        }
        Err(e) => {
            r.error = Some(e.code());
        }
    }

    // The PC page must see a final state.
    let deadline = tokio::time::Instant::now() + ctx.sse_timeout;
    while let Ok(Some((at, state))) = tokio::time::timeout_at(deadline, sse_rx.recv()).await {
        if is_final(&state) {
            r.decision_to_pc_ms = Some(if at > ended_at { ms(at - ended_at) } else { 0.0 });
            r.pc_final_state = Some(state);
            break;
        }
    }
    sse_task.abort();
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Report

#[derive(Debug, Serialize)]
struct Percentiles {
    count: usize,
    mean_ms: f64,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

fn percentiles(values: &mut [f64]) -> Percentiles {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| -> f64 {
        if values.is_empty() {
            return 0.0;
        }
        let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
        values[rank - 1]
    };
    let mean = if values.is_empty() { 0.0 } else { values.iter().sum::<f64>() / values.len() as f64 };
    Percentiles {
        count: values.len(),
        mean_ms: mean,
        p50_ms: at(0.50),
        p95_ms: at(0.95),
        p99_ms: at(0.99),
        max_ms: values.last().copied().unwrap_or(0.0),
    }
}

#[derive(Debug, Serialize)]
struct Report {
    server: String,
    users: usize,
    concurrency: usize,
    wall_s: f64,
    decisions: usize,
    verifications_per_s: f64,
    flows_per_s: f64,
    outcomes: BTreeMap<String, usize>,
    by_kind: BTreeMap<String, BTreeMap<String, usize>>,
    steps: BTreeMap<&'static str, Percentiles>,
    errors_by_code: BTreeMap<String, usize>,
    started_sessions: usize,
    lost_sessions: usize,
    lost: Vec<String>,
    unexpected: usize,
    ok: bool,
}

fn build_report(origin: &str, args: &LoadArgs, results: &[UserResult], wall: Duration) -> Report {
    let mut outcomes = BTreeMap::new();
    let mut by_kind: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut errors = BTreeMap::new();
    let mut steps: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    let mut lost = Vec::new();
    let mut unexpected = 0;
    let mut decisions = 0;
    for r in results {
        let label = match (&r.outcome, &r.error) {
            (Some(o), _) => serde_json::to_value(o).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
            (None, Some(_)) => "error".into(),
            (None, None) => "none".into(),
        };
        *outcomes.entry(label.clone()).or_insert(0) += 1;
        let kind = r.kind.map_or("none", |k| match k {
            FlowKind::Genuine => "genuine",
            FlowKind::Wrong => "wrong",
            FlowKind::Cancel => "cancel",
        });
        *by_kind.entry(kind.into()).or_default().entry(label).or_insert(0) += 1;
        if let Some(code) = &r.error {
            *errors.entry(code.clone()).or_insert(0) += 1;
        }
        if matches!(r.outcome, Some(FlowOutcome::Passed | FlowOutcome::Failed | FlowOutcome::Retry)) {
            decisions += 1;
        }
        let expected = match r.kind {
            Some(FlowKind::Genuine) => r.outcome == Some(FlowOutcome::Passed),
            Some(FlowKind::Wrong) => matches!(r.outcome, Some(FlowOutcome::Failed | FlowOutcome::Retry)),
            Some(FlowKind::Cancel) => r.outcome == Some(FlowOutcome::Cancelled),
            None => false,
        };
        if !expected {
            unexpected += 1;
        }
        if r.started_session && r.pc_final_state.is_none() {
            lost.push(r.session_id.clone().unwrap_or_default());
        }
        for (name, v) in [
            ("create", r.create_ms),
            ("scan_to_claim", r.scan_to_claim_ms),
            ("capture_to_decision", r.capture_to_decision_ms),
            ("decision_to_pc", r.decision_to_pc_ms),
            ("flow_total", r.total_ms),
        ] {
            if let Some(v) = v {
                steps.entry(name).or_default().push(v);
            }
        }
    }
    let wall_s = wall.as_secs_f64().max(1e-9);
    let started_sessions = results.iter().filter(|r| r.started_session).count();
    Report {
        server: origin.to_owned(),
        users: results.len(),
        concurrency: args.concurrency,
        wall_s,
        decisions,
        verifications_per_s: decisions as f64 / wall_s,
        flows_per_s: results.len() as f64 / wall_s,
        outcomes,
        by_kind,
        steps: steps.into_iter().map(|(k, mut v)| (k, percentiles(&mut v))).collect(),
        errors_by_code: errors,
        started_sessions,
        lost_sessions: lost.len(),
        ok: lost.is_empty() && results.iter().all(|r| r.error.is_none()),
        lost,
        unexpected,
    }
}

fn summary(r: &Report) -> String {
    let mut s = format!(
        "realname load against {}: {} users, concurrency {}, {:.1} s\n  {} decisions, {:.2} verifications/s ({:.2} flows/s)\n  outcomes: {:?}\n",
        r.server, r.users, r.concurrency, r.wall_s, r.decisions, r.verifications_per_s, r.flows_per_s, r.outcomes
    );
    s.push_str("  step                   count    p50 ms    p95 ms    p99 ms    max ms\n");
    for (name, p) in &r.steps {
        s.push_str(&format!(
            "  {name:<20} {:>7} {:>9.1} {:>9.1} {:>9.1} {:>9.1}\n",
            p.count, p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms
        ));
    }
    if !r.errors_by_code.is_empty() {
        s.push_str(&format!("  errors by code: {:?}\n", r.errors_by_code));
    }
    s.push_str(&format!(
        "  lost sessions: {} of {} started{}\n  unexpected outcomes: {}",
        r.lost_sessions,
        r.started_sessions,
        if r.lost_sessions == 0 { " (every session ended in a final state the PC page saw)" } else { "" },
        r.unexpected
    ));
    s
}

/// Runs the load generator.
pub async fn run(args: LoadArgs, out: &Output, config: CompanionConfig) -> ExitCode {
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
    let mut paths: Vec<PathBuf> = people.iter().map(|p| p.clip.clone()).chain(args.impostor_clips.iter().cloned()).collect();
    paths.sort();
    paths.dedup();
    let mut clips = HashMap::new();
    for path in paths {
        let observer = observer.clone();
        let p = path.clone();
        let clip = tokio::task::spawn_blocking(move || {
            let source = realname_scan::ImageSequenceSource::open(&p, Some(1000.0), realname_scan::Playback::Once)
                .map_err(|e| CompanionError::Camera(e.to_string()))?;
            PreparedClip::load(Box::new(source), observer.as_ref(), 400, 1280)
        })
        .await
        .map_err(|e| (Exit::Camera, "camera".to_owned(), e.to_string()))?
        .map_err(|e| (Exit::Camera, e.code(), format!("{}: {e}", path.display())))?;
        clips.insert(path, Arc::new(clip));
    }

    let api_http = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.http_timeout.max(1)))
        .build()
        .map_err(|e| (Exit::Usage, "http".to_owned(), e.to_string()))?;
    let ctx = Arc::new(Ctx {
        origin: origin.clone(),
        people,
        clips,
        impostors: args.impostor_clips.clone(),
        password: args.password.clone(),
        email_prefix: args.email_prefix.clone().unwrap_or_else(|| format!("load{:08x}", rand::random::<u32>())),
        noise_seed: rand::random(),
        sse_timeout: Duration::from_secs(args.sse_timeout),
        api_http,
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
    let report = build_report(&origin, &args, &results, wall);
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

// ------------------------------------------------------------------------------------------
// Identities for load runs

/// Options of `realname load-identities`.
#[derive(Debug, clap::Args)]
pub struct IdentityArgs {
    /// How many identities.
    #[arg(long)]
    count: usize,
    /// Reference photo of the person in the clip (copied path goes into authority.csv).
    #[arg(long)]
    photo: PathBuf,
    /// The person's clip folder (goes into people.csv).
    #[arg(long)]
    clip: PathBuf,
    /// Output folder for `authority.csv` (for `realname-server authority import`) and
    /// `people.csv` (for `realname load --people`).
    #[arg(long)]
    out: PathBuf,
    /// Seed, so that repeated runs against one database use fresh ID numbers.
    #[arg(long)]
    seed: Option<u64>,
}

const DIGITS_ZH: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];

/// A valid resident ID number (region 110101, Beijing) for index `i` under `seed`.
pub fn synthetic_id(seed: u64, i: usize) -> String {
    let n = seed.wrapping_mul(1_000_003).wrapping_add(i as u64);
    let days = (n % 12_000) as i64;
    let date = time::Date::from_calendar_date(1970, time::Month::January, 1)
        .unwrap_or(time::Date::MIN)
        .saturating_add(time::Duration::days(days));
    let seq = (n / 12_000) % 1000;
    let body = format!("110101{:04}{:02}{:02}{seq:03}", date.year(), date.month() as u8, date.day());
    let check = realname_protocol::id_number::check_character(body.as_bytes());
    format!("{body}{check}")
}

/// A name for index `i`: "测试" + the index in Chinese digits.
pub fn synthetic_name(i: usize) -> String {
    let mut s = String::from("测试");
    for c in i.to_string().chars() {
        if let Some(d) = c.to_digit(10) {
            s.push(DIGITS_ZH[d as usize]);
        }
    }
    s
}

/// Writes the two CSV files.
pub fn write_identities(args: &IdentityArgs, out: &Output) -> ExitCode {
    let seed = args.seed.unwrap_or_else(rand::random);
    let photo_dir = args.photo.parent().map(Path::to_path_buf).unwrap_or_default();
    let photo_name = args.photo.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut authority = String::from("name,id_number,photo\n");
    let mut people = String::from("name,id_number,clip\n");
    let clip = std::fs::canonicalize(&args.clip).unwrap_or_else(|_| args.clip.clone());
    for i in 0..args.count {
        let (name, id) = (synthetic_name(i), synthetic_id(seed, i));
        authority.push_str(&format!("{name},{id},{photo_name}\n"));
        people.push_str(&format!("{name},{id},\"{}\"\n", clip.display()));
    }
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&args.out)?;
        std::fs::write(args.out.join("authority.csv"), &authority)?;
        std::fs::write(args.out.join("people.csv"), &people)
    };
    if let Err(e) = write() {
        return out.fail(Exit::Usage, "io", &e.to_string());
    }
    out.ok(
        serde_json::json!({
            "count": args.count,
            "authority_csv": args.out.join("authority.csv"),
            "photos_dir": photo_dir,
            "people_csv": args.out.join("people.csv"),
        }),
        &format!(
            "Wrote {} identities.\nImport them: realname-server authority import --csv {} --photos {}\nThen: realname load --people {}",
            args.count,
            args.out.join("authority.csv").display(),
            photo_dir.display(),
            args.out.join("people.csv").display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_is_followed_in_proportion() {
        let mix = parse_mix("genuine=60,wrong=20,cancel=20").expect("mix");
        let kinds = assign_kinds(&mix, 50);
        assert_eq!(kinds.iter().filter(|k| **k == FlowKind::Genuine).count(), 30);
        assert_eq!(kinds.iter().filter(|k| **k == FlowKind::Wrong).count(), 10);
        assert!(parse_mix("robots=5").is_err());
        assert!(parse_mix("genuine=0").is_err());
    }

    #[test]
    fn html_attributes_are_found_and_unescaped() {
        let html = r#"<form><input type="hidden" name="csrf" value="a&#x2f;b&amp;c"></form>
            <img id="qr" src="&#x2f;verify&#x2f;sessions&#x2f;s1&#x2f;qr.png?h=abc" alt="QR">
            <div class="alert alert-error" role="alert" data-code="identity_mismatch">x</div>"#;
        assert_eq!(csrf_of(html).as_deref(), Some("a/b&c"));
        assert_eq!(attr_after(html, "id=\"qr\"", "src").as_deref(), Some("/verify/sessions/s1/qr.png?h=abc"));
        assert_eq!(page_error(html).as_deref(), Some("identity_mismatch"));
    }

    #[test]
    fn synthetic_identities_are_valid() {
        let today = time::OffsetDateTime::now_utc().date();
        for i in 0..200 {
            let id = synthetic_id(42, i);
            realname_protocol::ResidentId::parse(&id, today).expect("valid id");
            realname_protocol::PersonName::parse(&synthetic_name(i)).expect("valid name");
        }
        assert_ne!(synthetic_id(1, 0), synthetic_id(2, 0));
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = percentiles(&mut v);
        assert_eq!((p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms), (50.0, 95.0, 99.0, 100.0));
    }
}
