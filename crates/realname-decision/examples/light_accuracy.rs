//! Light liveness through the server's own [`realname_decision::decide`], light check on: the
//! rendered captures of `realname-liveness`'s `light_eval` (genuine responses and attacks
//! (a)–(f) over every live clip of `shared/data/liveness`, the recorded attack clips as they
//! stand) become uploads — three scripted action frames (a blink challenge, the clip's own
//! face descriptor, so the action rules pass and the same-person rule compares real
//! descriptors), then the lit frames with the face engine's analysis of their source frame
//! and the region means of the rendered frame — decided with the challenge's light sequence
//! and the renderer's paint report. Prints BPCER per clip (calibration / held-out split) and
//! APCER per attack kind with the reasons.
//!
//! `cargo xtask accuracy liveness` (after the action-rule report) or
//! `cargo run -p realname-decision --example light_accuracy [-- --per-clip N] [--rerender]`.
//! **Rendered light only**: no real flash footage exists in the data set.
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[allow(dead_code)]
#[path = "../../realname-liveness/examples/light_eval/cases.rs"]
mod cases;
#[allow(dead_code)]
#[path = "../../realname-liveness/examples/light_eval/data.rs"]
mod data;

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use realname_decision::decision::{Capture, MATCH_THRESHOLD, Verdict, decide};
use realname_decision::face::{FaceAnalyzer, ScriptedAnalyzer, ScriptedFrame};
use realname_face::{Descriptor, FaceAnalysis};
use realname_liveness::{AnalyzedFace, AnalyzedFrame, FaceImageEvidence, MemoryReplayStore};
use realname_protocol::api::{LivenessAction, LivenessChallenge};

const T0: i64 = 1_750_000_000_000;

fn scripted(f: ScriptedFrame, k: i64, person: &Descriptor) -> Result<AnalyzedFrame> {
    let img = realname_face::decode_image(&f.to_png(), &realname_face::ImageLimits::default())?;
    let mut faces = ScriptedAnalyzer.analyze_for_liveness(&img)?;
    for face in &mut faces {
        face.analysis.descriptor = *person;
    }
    Ok(AnalyzedFrame { action: f.action, captured_at_ms: T0 + 100 * k, faces, light: false })
}

/// Decides one rendered case as the server would.
fn decide_case(case: &cases::Case, analyses: &[Option<&FaceAnalysis>], person: &Descriptor) -> Result<Verdict> {
    let mut frames = vec![
        scripted(ScriptedFrame::neutral(1), 0, person)?,
        scripted(ScriptedFrame::doing(1, LivenessAction::Blink), 1, person)?,
        scripted(ScriptedFrame::neutral(1), 2, person)?,
    ];
    // The renderer's clock → the capture's: the light step starts after the actions.
    let mut presentation = case.presentation.clone();
    let shift = T0 + 1_000 - presentation.shown_at_ms[0];
    presentation.shown_at_ms.iter_mut().for_each(|t| *t += shift);
    presentation.ended_at_ms += shift;
    for (f, &si) in case.frames.iter().zip(&case.sources) {
        let faces = match analyses.get(si).copied().flatten() {
            Some(analysis) => vec![AnalyzedFace {
                analysis: *analysis,
                evidence: Some(FaceImageEvidence {
                    thumb: Vec::new(),
                    eye_contrast: 0.0,
                    eye_darkness: 0.0,
                    eye_edges: 0.0,
                    passive: None,
                    light: f.regions,
                }),
            }],
            None => Vec::new(),
        };
        frames.push(AnalyzedFrame { action: None, captured_at_ms: f.captured_at_ms + shift, faces, light: true });
    }
    let challenge = LivenessChallenge {
        actions: vec![LivenessAction::Blink],
        nonce: "n1".into(),
        deadline: time::OffsetDateTime::from_unix_timestamp(T0 / 1000 + 60)?,
        light: Some(case.sequence.clone()),
    };
    let capture = Capture {
        challenge: &challenge,
        issued_at_ms: T0 - 1000,
        nonce: "n1",
        frames: &frames,
        received_at_ms: T0 + 10_000,
        light: Some(&presentation),
    };
    Ok(decide(capture, person, &MemoryReplayStore::default(), MATCH_THRESHOLD))
}

fn pct(n: usize, d: usize) -> String {
    format!("{:.1} %", 100.0 * n as f64 / d.max(1) as f64)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let per_clip =
        args.iter().position(|a| a == "--per-clip").and_then(|i| args.get(i + 1)?.parse().ok()).unwrap_or(6usize);
    let clips = data::clips()?;
    let mut engine = None;
    let faces = data::face_cache(&clips, &mut engine)?;
    let all = cases::load_or_render(&clips, &faces, per_clip, args.iter().any(|a| a == "--rerender"))?;
    let t = Instant::now();
    let mut verdicts: Vec<(&cases::Case, String)> = Vec::new();
    for clip in &clips {
        let analyses: Vec<Option<&FaceAnalysis>> =
            clip.files.iter().map(|f| faces.get(f).and_then(|v| cases::one_face(v))).collect();
        let Some(person) = analyses.iter().flatten().map(|a| a.descriptor).next() else { continue };
        for case in all.iter().filter(|c| c.clip == clip.id) {
            let v = decide_case(case, &analyses, &person)?;
            let outcome = match v.reason() {
                None => "pass".to_string(),
                Some(r) => serde_json::to_value(r)?.as_str().unwrap_or_default().to_string(),
            };
            verdicts.push((case, outcome));
        }
    }
    let ms = t.elapsed().as_secs_f64() * 1000.0 / verdicts.len().max(1) as f64;
    println!("# Light liveness through `realname_decision::decide` (rendered light only)\n");
    println!(
        "{} rendered captures, {per_clip} genuine per live clip; decide (action rules + light check on stored region means): {ms:.1} ms per capture.\n",
        verdicts.len()
    );
    println!("## Genuine (BPCER per clip)\n\n| clip | split | n | rejected | reasons |\n|---|---|---|---|---|");
    let (mut split_n, mut split_r) = (BTreeMap::<bool, usize>::new(), BTreeMap::<bool, usize>::new());
    for clip in clips.iter().filter(|c| c.live) {
        let rows: Vec<_> = verdicts.iter().filter(|(c, _)| c.clip == clip.id && c.kind == "genuine").collect();
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, o) in rows.iter().filter(|(_, o)| o != "pass") {
            *reasons.entry(o.as_str()).or_default() += 1;
        }
        let rejected: usize = reasons.values().sum();
        let cal = cases::CALIBRATION.contains(&clip.id.as_str());
        *split_n.entry(cal).or_default() += rows.len();
        *split_r.entry(cal).or_default() += rejected;
        let split = if cal { "calibration" } else { "held-out" };
        println!(
            "| {} | {split} | {} | {rejected} ({}) | {reasons:?} |",
            clip.id,
            rows.len(),
            pct(rejected, rows.len())
        );
    }
    let (n, r): (usize, usize) = (split_n.values().sum(), split_r.values().sum());
    println!(
        "\nBPCER all {} ({r}/{n}); calibration {}; held-out {}.\n",
        pct(r, n),
        pct(split_r[&true], split_n[&true]),
        pct(split_r[&false], split_n[&false])
    );
    println!("## Attacks (APCER per kind)\n\n| attack | n | accepted | APCER | reasons |\n|---|---|---|---|---|");
    let mut kinds: Vec<&str> = cases::ATTACKS.to_vec();
    kinds.push("recorded_attack_clip");
    for kind in kinds {
        let rows: Vec<_> = verdicts.iter().filter(|(c, _)| c.kind == kind).collect();
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, o) in &rows {
            *reasons.entry(o.as_str()).or_default() += 1;
        }
        let accepted = reasons.get("pass").copied().unwrap_or(0);
        println!("| {kind} | {} | {accepted} | {} | {reasons:?} |", rows.len(), pct(accepted, rows.len()));
    }
    Ok(())
}
