//! Liveness measurement through the server's own decision code (`realname-decision`): every challenge response built
//! from the labelled ranges of `shared/data/liveness` (the harness of `realname-liveness`'s
//! `evaluate` example: genuine responses and each attack type) is analysed by the server's
//! [`FaceAnalyzer::analyze_for_liveness`] and decided by [`realname_decision::decide`],
//! the function the capture handler calls (minus HTTP and the database: an in-memory replay
//! store; faces tracked into frames without a detection as [`realname_decision::tracking`] does
//! for an upload). Prints BPCER and APCER per attack type (ISO/IEC 30107-3) and why each was rejected.
//!
//! Every response is decided twice: from its frames analysed one by one (the exhaustive
//! analysis: every frame through the detector, as the server did before issue 16) and from the
//! same images analysed again as one upload by the server's tracked analysis
//! ([`UploadAnalyzer`]: detect once, follow the face; the frames' pixel prints claimed with the
//! fingerprints as the capture handler claims them). Both rate tables are printed, and every
//! response the two decide differently.
//!
//! `cargo xtask accuracy liveness` (or `cargo run -p realname-decision --example liveness_accuracy`).
//! The reference face of a response is its own first single-face frame, so the ID-photo
//! comparison passes for the presented person: the figures measure the liveness and quality
//! rules, not face matching (that is `cargo xtask accuracy`).
#![allow(clippy::print_stdout)]

#[path = "../../realname-liveness/examples/evaluate/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use realname_decision::decision::{Capture, MATCH_THRESHOLD, Verdict, decide};
use realname_decision::face::{EngineAnalyzer, FaceAnalyzer};
use realname_decision::upload::FramePrints;
use realname_decision::{AnalysisMode, UploadAnalyzer};
use realname_liveness::{AnalyzedFrame, MemoryReplayStore, ReplayStore};
use realname_protocol::api::LivenessChallenge;

/// The case's images analysed again as one upload by the server's tracked analysis, with the
/// frames' pixel prints.
fn tracked_frames(
    images: &harness::Analyzer,
    engine: &EngineAnalyzer,
    case: &harness::Case,
) -> anyhow::Result<(Vec<AnalyzedFrame>, Vec<u64>)> {
    anyhow::ensure!(case.sources.len() == case.frames.len(), "{}: frames without a source", case.name);
    let mut upload = UploadAnalyzer::new(engine, AnalysisMode::Tracked);
    let mut frames = Vec::with_capacity(case.frames.len());
    for (f, source) in case.frames.iter().zip(&case.sources) {
        let image = images.image(source)?;
        frames.push(AnalyzedFrame { faces: upload.tagged_frame(&image, f.action, f.light)?, ..f.clone() });
    }
    upload.finish(&mut frames)?;
    Ok((frames, upload.frame_prints()))
}

/// Decides a case's `frames` as the server would: a fresh replay store per case (`prints`: the
/// tracked analysis's pixel prints, claimed with the fingerprints); replay cases submit the
/// genuine upload first, then the replay.
fn decide_case(case: &harness::Case, frames: &[AnalyzedFrame], prints: Option<Vec<u64>>) -> Verdict {
    let Some(reference) = frames.iter().find_map(|f| match f.faces.as_slice() {
        [one] => Some(one.analysis.descriptor),
        _ => None,
    }) else {
        return Verdict::fail(realname_protocol::api::ReasonCode::NoFace);
    };
    let memory = MemoryReplayStore::default();
    let framed;
    let store: &dyn ReplayStore = match prints {
        Some(prints) => {
            framed = FramePrints::new(&memory, prints);
            &framed
        }
        None => &memory,
    };
    let run = |nonce: &str| {
        let challenge = LivenessChallenge {
            actions: case.actions.clone(),
            nonce: nonce.into(),
            deadline: time::OffsetDateTime::from_unix_timestamp(harness::T0 / 1000 + 120)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
            light: None,
        };
        let capture = Capture {
            challenge: &challenge,
            issued_at_ms: harness::T0,
            nonce,
            frames,
            received_at_ms: harness::T0 + 30_000,
            light: None,
        };
        decide(capture, &reference, store, MATCH_THRESHOLD)
    };
    match case.replay {
        None => run("nonce-1"),
        Some(kind) => {
            let _ = run("nonce-1");
            match kind {
                harness::ReplayKind::SameNonce => run("nonce-1"),
                harness::ReplayKind::FreshNonce => run("nonce-2"),
            }
        }
    }
}

/// A verdict as a table cell.
fn cell(v: &Verdict) -> String {
    match v {
        Verdict::Pass { distance, frame } => format!("passed (frame {frame}, distance {distance:.3})"),
        Verdict::Fail { reason, detail, .. } => format!(
            "{}: {}",
            serde_json::to_string(reason).unwrap_or_default(),
            detail.as_ref().and_then(|d| serde_json::to_string(d).ok()).unwrap_or_default()
        ),
    }
}

/// Outcome and reason code (what "the same verdict" compares).
fn outcome(v: &Verdict) -> Option<realname_protocol::api::ReasonCode> {
    v.reason()
}

/// The BPCER / APCER table of one analysis.
fn rates<'a>(title: &str, verdicts: impl Iterator<Item = (&'a harness::Case, &'a Verdict)>) {
    println!("\n## Error rates (ISO/IEC 30107-3), {title}\n");
    println!("| presentations | n | accepted | rate | rejected by |");
    println!("|---|---|---|---|---|");
    let mut per: BTreeMap<&str, (usize, usize, BTreeMap<String, usize>)> = BTreeMap::new();
    for (c, v) in verdicts {
        let e = per.entry(c.kind).or_default();
        e.0 += 1;
        match v {
            Verdict::Pass { .. } => e.1 += 1,
            Verdict::Fail { reason, .. } => {
                *e.2.entry(serde_json::to_string(reason).unwrap_or_default().trim_matches('"').to_owned())
                    .or_default() += 1
            }
        }
    }
    for (kind, (n, accepted, reasons)) in &per {
        let (label, errors) = if *kind == "genuine" { ("BPCER", n - accepted) } else { ("APCER", *accepted) };
        let rate = 100.0 * errors as f64 / (*n).max(1) as f64;
        let why: Vec<String> = reasons.iter().map(|(r, k)| format!("{r} {k}")).collect();
        println!("| {kind} | {n} | {accepted} | {label} {rate:.1} % | {} |", why.join(", "));
    }
}

fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    let engine = Arc::new(EngineAnalyzer::load(&harness::models_dir())?);
    let analysis = Arc::clone(&engine);
    let tracking = Arc::clone(&engine);
    let analyzer = harness::Analyzer::with_analysis(Box::new(move |img| Ok(analysis.analyze_for_liveness(img)?)))?
        .with_tracking(Box::new(move |img, previous| Ok(tracking.track_face(img, previous)?)));
    let plan = harness::Plan { pairs: true, max_per_attack: 100, clips: &[] };
    let cases = harness::build_cases(&analyzer, &plan)?;
    let exhaustive_s = started.elapsed().as_secs_f64();
    let mut results: Vec<(harness::Case, Verdict, Verdict)> = Vec::with_capacity(cases.len());
    for c in cases {
        let old = decide_case(&c, &c.frames, None);
        let (frames, prints) = tracked_frames(&analyzer, &engine, &c)?;
        let new = decide_case(&c, &frames, Some(prints));
        results.push((c, old, new));
    }

    println!("## Decisions (server path: decision::decide on the exhaustive and the tracked analysis)\n");
    println!("| kind | case | actions | exhaustive | tracked |");
    println!("|---|---|---|---|---|");
    for (c, old, new) in &results {
        let acts: Vec<&str> = c.actions.iter().map(|a| a.as_str()).collect();
        let tracked = if outcome(old) == outcome(new) { "same".to_owned() } else { format!("**{}**", cell(new)) };
        println!("| {} | {} | {} | {} | {tracked} |", c.kind, c.name, acts.join(", "), cell(old));
    }
    rates("exhaustive analysis", results.iter().map(|(c, v, _)| (c, v)));
    rates("tracked analysis (the server's)", results.iter().map(|(c, _, v)| (c, v)));
    let same = results.iter().filter(|(_, old, new)| outcome(old) == outcome(new)).count();
    println!("\nSame outcome and reason code on both analyses: {same} of {}.", results.len());
    println!(
        "\n{} responses in {:.0} s ({exhaustive_s:.0} s building them with the exhaustive analysis) on {} cores",
        results.len(),
        started.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    Ok(())
}
