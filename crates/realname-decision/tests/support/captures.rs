//! Recorded captures for measuring the decision: uploads assembled from the labelled clips of
//! `shared/data/liveness` as the companion would send them (JPEG bytes, action tags, capture
//! times 100 ms apart, 500 ms between segments), decided by both analysis modes. Shared by
//! `examples/bench_decision.rs` and `tests/same_verdicts.rs`; needs the `harness` module of
//! `realname-liveness`'s evaluation (label reading, capture windows).

use std::path::Path;

use anyhow::{Context, Result};
use realname_decision::profile::{self, Stage, StageTimes};
use realname_decision::{AnalysisMode, Capture, FaceAnalyzer, UploadAnalyzer, Verdict, decide};
use realname_face::{Descriptor, ImageLimits, decode_image};
use realname_liveness::{AnalyzedFrame, MemoryReplayStore};
use realname_protocol::api::{LivenessAction, LivenessChallenge};

use crate::harness;

/// One uploaded frame.
pub struct RecordedFrame {
    pub action: Option<LivenessAction>,
    pub captured_at_ms: i64,
    pub bytes: Vec<u8>,
}

/// One upload and its challenge.
pub struct RecordedCapture {
    /// "genuine" or the attack type.
    pub kind: &'static str,
    pub name: String,
    pub actions: Vec<LivenessAction>,
    pub frames: Vec<RecordedFrame>,
}

fn read(data: &Path, clip: &str, k: u32) -> Result<Vec<u8>> {
    let path = data.join(format!("clips/{clip}/{k:04}.jpg"));
    std::fs::read(&path).with_context(|| format!("read {}", path.display()))
}

fn assemble(data: &Path, segments: &[(Option<LivenessAction>, &str, Vec<u32>)]) -> Result<Vec<RecordedFrame>> {
    let mut t = harness::T0;
    let mut out = Vec::new();
    for (action, clip, ks) in segments {
        t += 400;
        for &k in ks {
            t += 100;
            out.push(RecordedFrame { action: *action, captured_at_ms: t, bytes: read(data, clip, k)? });
        }
    }
    Ok(out)
}

/// Genuine two-action captures (one per live clip with two clean, different, successive
/// actions, at most `genuine`), then one capture per attack type: a person swap in the last
/// action, a repeated still, a screen replay.
pub fn recorded(data: &Path, genuine: usize) -> Result<Vec<RecordedCapture>> {
    let clips = harness::live_clips(data)?;
    let mut out = Vec::new();
    let mut pairs = Vec::new();
    for clip in &clips {
        let found = clip.events.iter().enumerate().find_map(|(i, e1)| {
            clip.events[i + 1..].iter().find(|e2| e2.action != e1.action && e2.start > e1.end).map(|e2| (e1, e2))
        });
        if let Some((e1, e2)) = found {
            pairs.push((clip, e1.clone(), e2.clone()));
        }
    }
    for (clip, e1, e2) in pairs.iter().take(genuine) {
        let frames = assemble(
            data,
            &[
                (None, &clip.id, clip.neutral.clone()),
                (Some(e1.action), &clip.id, harness::window(clip, e1)),
                (Some(e2.action), &clip.id, harness::window(clip, e2)),
            ],
        )?;
        out.push(RecordedCapture {
            kind: "genuine",
            name: format!("{} {}+{}", clip.id, e1.action.as_str(), e2.action.as_str()),
            actions: vec![e1.action, e2.action],
            frames,
        });
    }
    // Person swap: the first pair's last action performed by someone else.
    if let Some((clip, e1, e2)) = pairs.first()
        && let Some((donor, e)) = clips
            .iter()
            .filter(|c| c.id != clip.id)
            .find_map(|c| c.events.iter().find(|e| e.action == e2.action).map(|e| (c, e)))
    {
        let frames = assemble(
            data,
            &[
                (None, &clip.id, clip.neutral.clone()),
                (Some(e1.action), &clip.id, harness::window(clip, e1)),
                (Some(e2.action), &donor.id, harness::window(donor, e)),
            ],
        )?;
        out.push(RecordedCapture {
            kind: "person_swap",
            name: format!("{} → {}", clip.id, donor.id),
            actions: vec![e1.action, e2.action],
            frames,
        });
    }
    // A still: one neutral frame uploaded for every frame.
    if let Some(clip) = clips.first()
        && let Some(&k) = clip.neutral.first()
    {
        let still = |n| vec![k; n];
        let frames = assemble(
            data,
            &[
                (None, &clip.id, still(2)),
                (Some(LivenessAction::Blink), &clip.id, still(3)),
                (Some(LivenessAction::OpenMouth), &clip.id, still(3)),
            ],
        )?;
        out.push(RecordedCapture {
            kind: "still_repeated",
            name: format!("{} frame {k}", clip.id),
            actions: vec![LivenessAction::Blink, LivenessAction::OpenMouth],
            frames,
        });
    }
    // A screen replay: the phone-screen part of zubair_fake cut into three segments.
    let part = |from: u32| (from..from + 14).step_by(3).collect::<Vec<u32>>();
    let frames = assemble(
        data,
        &[
            (None, "zubair_fake", part(22)),
            (Some(LivenessAction::TurnLeft), "zubair_fake", part(36)),
            (Some(LivenessAction::Blink), "zubair_fake", part(50)),
        ],
    )?;
    out.push(RecordedCapture {
        kind: "screen_replay",
        name: "zubair_fake 22-63".into(),
        actions: vec![LivenessAction::TurnLeft, LivenessAction::Blink],
        frames,
    });
    Ok(out)
}

/// One decision: the verdict and the CPU time per stage (this thread).
pub struct Decided {
    pub verdict: Verdict,
    pub stages: StageTimes,
}

/// Decodes and analyses `capture` in `mode` and decides it against `reference` (or, without
/// one, against its own first single-face frame: the ID photo comparison then passes for the
/// presented person and the figures measure the liveness rules).
pub fn decide_capture(
    analyzer: &dyn FaceAnalyzer,
    mode: AnalysisMode,
    capture: &RecordedCapture,
    reference: Option<Descriptor>,
) -> Result<Decided> {
    let _ = profile::take();
    let mut upload = UploadAnalyzer::new(analyzer, mode);
    let mut frames = Vec::with_capacity(capture.frames.len());
    for f in &capture.frames {
        let image = profile::timed(Stage::Decode, || decode_image(&f.bytes, &ImageLimits::default()))?;
        frames.push(AnalyzedFrame {
            action: f.action,
            captured_at_ms: f.captured_at_ms,
            faces: upload.frame(&image)?,
            light: false,
        });
    }
    let reference = reference.or_else(|| {
        frames.iter().find_map(|f| match f.faces.as_slice() {
            [one] => Some(one.analysis.descriptor),
            _ => None,
        })
    });
    let challenge = LivenessChallenge {
        actions: capture.actions.clone(),
        nonce: "nonce-1".into(),
        deadline: time::OffsetDateTime::from_unix_timestamp(harness::T0 / 1000 + 120)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        light: None,
    };
    let verdict = profile::timed(Stage::Decide, || match reference {
        None => Verdict::fail(realname_protocol::api::ReasonCode::NoFace),
        Some(reference) => decide(
            Capture {
                challenge: &challenge,
                issued_at_ms: harness::T0,
                nonce: "nonce-1",
                frames: &frames,
                received_at_ms: harness::T0 + 30_000,
                light: None,
            },
            &reference,
            &MemoryReplayStore::default(),
            realname_decision::MATCH_THRESHOLD,
        ),
    });
    Ok(Decided { verdict, stages: profile::take() })
}

/// `passed` or the reason code.
pub fn outcome(v: &Verdict) -> String {
    match v.reason() {
        None => "passed".into(),
        Some(r) => serde_json::to_string(&r).unwrap_or_default().trim_matches('"').to_owned(),
    }
}
