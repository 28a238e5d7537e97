//! Liveness measurement through the server's own decision code (`realname-decision`): every challenge response built
//! from the labelled ranges of `shared/data/liveness` (the harness of `realname-liveness`'s
//! `evaluate` example: genuine responses and each attack type) is analysed by the server's
//! [`FaceAnalyzer::analyze_for_liveness`] and decided by [`realname_decision::decide`],
//! the function the capture handler calls (minus HTTP and the database: an in-memory replay
//! store; faces tracked into frames without a detection as [`realname_decision::tracking`] does
//! for an upload). Prints BPCER and APCER per attack type (ISO/IEC 30107-3) and why each was rejected.
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
use realname_liveness::MemoryReplayStore;
use realname_protocol::api::LivenessChallenge;

/// Decides a case as the server would: fresh replay store per case; replay cases submit the
/// genuine upload first, then the replay.
fn decide_case(case: &harness::Case, match_threshold: f32) -> Verdict {
    let Some(reference) = case.frames.iter().find_map(|f| match f.faces.as_slice() {
        [one] => Some(one.analysis.descriptor),
        _ => None,
    }) else {
        return Verdict::fail(realname_protocol::api::ReasonCode::NoFace);
    };
    let store = MemoryReplayStore::default();
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
            frames: &case.frames,
            received_at_ms: harness::T0 + 30_000,
            light: None,
        };
        decide(capture, &reference, &store, match_threshold)
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

fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    let engine = Arc::new(EngineAnalyzer::load(&harness::models_dir())?);
    let analysis = Arc::clone(&engine);
    let tracking = Arc::clone(&engine);
    let analyzer = harness::Analyzer::with_analysis(Box::new(move |img| Ok(analysis.analyze_for_liveness(img)?)))?
        .with_tracking(Box::new(move |img, previous| Ok(tracking.track_face(img, previous)?)));
    let plan = harness::Plan { pairs: true, max_per_attack: 100, clips: &[] };
    let cases = harness::build_cases(&analyzer, &plan)?;
    let results: Vec<(harness::Case, Verdict)> = cases
        .into_iter()
        .map(|c| {
            let v = decide_case(&c, MATCH_THRESHOLD);
            (c, v)
        })
        .collect();

    println!("## Decisions (server path: analyze_for_liveness + decision::decide)\n");
    println!("| kind | case | actions | result |");
    println!("|---|---|---|---|");
    for (c, v) in &results {
        let acts: Vec<&str> = c.actions.iter().map(|a| a.as_str()).collect();
        let res = match v {
            Verdict::Pass { distance, frame } => format!("passed (frame {frame}, distance {distance:.3})"),
            Verdict::Fail { reason, detail, .. } => format!(
                "{}: {}",
                serde_json::to_string(reason).unwrap_or_default(),
                detail.as_ref().and_then(|d| serde_json::to_string(d).ok()).unwrap_or_default()
            ),
        };
        println!("| {} | {} | {} | {} |", c.kind, c.name, acts.join(", "), res);
    }

    println!("\n## Error rates (ISO/IEC 30107-3)\n");
    println!("| presentations | n | accepted | rate | rejected by |");
    println!("|---|---|---|---|---|");
    let mut per: BTreeMap<&str, (usize, usize, BTreeMap<String, usize>)> = BTreeMap::new();
    for (c, v) in &results {
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
    println!(
        "\n{} responses in {:.0} s on {} cores",
        results.len(),
        started.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    Ok(())
}
