//! One virtual user: sign up on the PC pages, start a verification over HTTP, read the QR from
//! the page's PNG, follow the page's event stream, and run the companion flow with a prepared
//! clip; every step's latency and the final state the PC page saw are recorded.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use realname_companion::{
    Companion, CompanionConfig, CompanionError, ContextChoice, EventSink, FaceInput, FixedAnswers, FlowEvent,
    FlowOutcome, LightScene, MemoryStore, PreparedClip, QrInput,
};
use serde::Serialize;

use super::pages::{attr_after, csrf_of, page_error};
use super::people::{FlowKind, Person};

#[derive(Debug, Default, Clone, Serialize)]
pub(super) struct UserResult {
    pub(super) user: usize,
    pub(super) kind: Option<FlowKind>,
    pub(super) session_id: Option<String>,
    pub(super) outcome: Option<FlowOutcome>,
    pub(super) reason: Option<String>,
    pub(super) error: Option<String>,
    /// The error's text (no personal data: codes, URLs with session ids, transport causes).
    pub(super) error_message: Option<String>,
    /// Final state the PC page saw (`None`: none arrived).
    pub(super) pc_final_state: Option<String>,
    pub(super) started_session: bool,
    pub(super) create_ms: Option<f64>,
    pub(super) scan_to_claim_ms: Option<f64>,
    pub(super) capture_to_decision_ms: Option<f64>,
    pub(super) decision_to_pc_ms: Option<f64>,
    /// Rendering the light step's response (sessions with a light sequence; the generator's
    /// own CPU, between the claim and the upload, not part of any server latency).
    pub(super) light_render_ms: Option<f64>,
    pub(super) total_ms: Option<f64>,
    /// Capture uploads the companion made (1 + retries after a refused attempt).
    pub(super) attempts: Option<u32>,
}

pub(super) struct Ctx {
    pub(super) origin: String,
    pub(super) people: Vec<Person>,
    pub(super) clips: HashMap<PathBuf, Arc<PreparedClip>>,
    /// Each clip's light scene (rendered reflections of light sequences).
    pub(super) scenes: HashMap<PathBuf, Arc<LightScene>>,
    pub(super) impostors: Vec<PathBuf>,
    pub(super) password: String,
    pub(super) email_prefix: String,
    /// Per-run seed of the virtual users' sensor patterns (runs must not replay each other).
    pub(super) noise_seed: u64,
    pub(super) sse_timeout: Duration,
    /// The companion API client shared by the users connecting from one address.
    pub(super) api_http: reqwest::Client,
    /// Longest wait for one companion API request (per-user clients).
    pub(super) http_timeout: Duration,
    /// Each virtual user connects from its own loopback address ([`source_address`]).
    pub(super) loopback_sources: bool,
}

/// The loopback address virtual user `user` connects from with `--loopback-sources`:
/// 127.10.0.1, 127.10.0.2, … (62,500 of them; 127.0.0.1 stays the machine's own, e.g. a
/// proxy's). Linux answers on the whole 127.0.0.0/8 without configuration.
pub(super) fn source_address(user: usize) -> std::net::IpAddr {
    let n = user % 62_500;
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(
        127,
        10 + (n / 250 / 250) as u8,
        (n / 250 % 250) as u8,
        (n % 250 + 1) as u8,
    ))
}

pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub(super) struct Failure(pub(super) String);

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

pub(super) async fn run_user(ctx: Arc<Ctx>, user: usize, kind: FlowKind) -> UserResult {
    let mut r = UserResult { user, kind: Some(kind), ..Default::default() };
    let t_all = Instant::now();
    if let Err(Failure(code)) = user_flow(&ctx, user, kind, &mut r).await {
        r.error = Some(code);
    }
    r.total_ms = Some(ms(t_all.elapsed()));
    r
}

/// A state after which the session never changes again.
pub(super) fn is_final(state: &str) -> bool {
    matches!(state, "passed" | "failed" | "expired" | "cancelled")
}

async fn user_flow(ctx: &Ctx, user: usize, kind: FlowKind, r: &mut UserResult) -> Result<(), Failure> {
    let person = &ctx.people[user % ctx.people.len()];
    let origin = &ctx.origin;
    let local = ctx.loopback_sources.then(|| source_address(user));
    let web = reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(60))
        .local_address(local)
        .build()
        .map_err(http_err)?;
    // The companion is this user's own device: its own address when users have one.
    let api_http = match local {
        Some(_) => {
            reqwest::Client::builder().timeout(ctx.http_timeout).local_address(local).build().map_err(http_err)?
        }
        None => ctx.api_http.clone(),
    };
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
    // The clip's face lit by the challenge's light sequence, when the server issues one.
    let scene = ctx.scenes.get(&clip_path).cloned();
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
    let companion = Companion::new(config, Arc::new(MemoryStore::new()))?.with_http(api_http).with_light_scene(scene);
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
                    let data: String = block
                        .lines()
                        .filter_map(|l| l.strip_prefix("data:"))
                        .map(str::trim)
                        .collect::<Vec<_>>()
                        .join("");
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
            r.light_render_ms = (report.timings.light_ms > 0).then_some(report.timings.light_ms as f64);
            if report.decision.is_some() {
                r.capture_to_decision_ms = Some(report.timings.decision_ms as f64 / f64::from(report.attempts.max(1)));
            }
            r.outcome = Some(report.outcome);
            r.attempts = Some(report.attempts);
            r.reason = report
                .decision
                .as_ref()
                .and_then(|d| d.reason)
                .and_then(|reason| serde_json::to_value(reason).ok())
                .and_then(|v| v.as_str().map(str::to_owned));
        }
        Err(e) => {
            r.error = Some(e.code());
            r.error_message = Some(e.to_string());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_user_gets_its_own_loopback_address_and_none_is_the_machines_own() {
        let addresses: std::collections::HashSet<std::net::IpAddr> = (0..62_500).map(source_address).collect();
        assert_eq!(addresses.len(), 62_500);
        assert!(addresses.iter().all(|a| a.is_loopback()));
        assert!(!addresses.contains(&std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)));
    }
}
