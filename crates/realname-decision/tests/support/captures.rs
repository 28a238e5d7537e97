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
use realname_liveness::light::{
    GenerateLight, LightPresentation, LightSequence, RenderParams, Renderer, Scenario, SourceFrame,
};
use realname_liveness::{AnalyzedFrame, MemoryReplayStore};
use realname_protocol::api::{LivenessAction, LivenessChallenge};

use crate::harness;

/// One uploaded frame.
pub(crate) struct RecordedFrame {
    pub action: Option<LivenessAction>,
    pub captured_at_ms: i64,
    pub bytes: Vec<u8>,
    /// Captured during the light step.
    pub light: bool,
}

/// The light step of an upload: the issued sequence and the companion's paint report.
pub(crate) struct LightPart {
    pub sequence: LightSequence,
    pub presentation: LightPresentation,
}

/// One upload and its challenge.
pub(crate) struct RecordedCapture {
    /// "genuine" or the attack type.
    pub kind: &'static str,
    pub name: String,
    pub actions: Vec<LivenessAction>,
    pub frames: Vec<RecordedFrame>,
    /// The ID photo the capture is compared with (JPEG); `None`: its own first single-face
    /// frame (the comparison then passes for the presented person).
    pub reference: Option<Vec<u8>>,
    /// The challenge's light step, when it has one (its frames come first, marked `light`).
    pub light: Option<LightPart>,
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
            out.push(RecordedFrame { action: *action, captured_at_ms: t, bytes: read(data, clip, k)?, light: false });
        }
    }
    Ok(out)
}

/// The desktop end-to-end test's wrong person (`tests/e2e/desktop.rs`,
/// `desktop_wrong_person_shows_the_failure_and_attempts_left`): `lp_d18` answers "open mouth"
/// from a folder of its frames 1–4 and 22–29 read at 5 fps, and the ID photo is `lp_d5`
/// frame 1. The companion uploads its first neutral frame, then the two frames before the
/// mouth opens and the open ones up to its third (`ChallengeTracker::capture`), re-encoded at
/// JPEG quality 88. Today's decision says `face_mismatch`; the first tracked analysis lost the
/// open mouth at the jump from frame 4 to 22 and said `action_not_seen`.
fn desktop_wrong_person(data: &Path) -> Result<RecordedCapture> {
    let mut frames = Vec::new();
    for (i, (k, action)) in [(1, None), (3, Some(LivenessAction::OpenMouth)), (4, Some(LivenessAction::OpenMouth))]
        .into_iter()
        .chain((22..=24).map(|k| (k, Some(LivenessAction::OpenMouth))))
        .enumerate()
    {
        let image = decode_image(&read(data, "lp_d18", k)?, &ImageLimits::default())?;
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 88).encode_image(&image)?;
        frames.push(RecordedFrame { action, captured_at_ms: harness::T0 + 500 + 200 * i as i64, bytes, light: false });
    }
    Ok(RecordedCapture {
        kind: "wrong_person",
        name: "desktop e2e: lp_d18 for lp_d5".into(),
        actions: vec![LivenessAction::OpenMouth],
        frames,
        reference: Some(read(data, "lp_d5", 1)?),
        light: None,
    })
}

/// Most frames uploaded per action: the companion's budget for a two-action challenge under
/// the server's 16-frame limit (`(16 - 1) / 2`).
pub(crate) const PER_ACTION: usize = 7;

/// At most `n` of `frames`, spread evenly, first and last kept (as the companion picks).
fn spread(frames: Vec<u32>, n: usize) -> Vec<u32> {
    if frames.len() <= n {
        return frames;
    }
    (0..n).map(|i| frames[i * (frames.len() - 1) / (n - 1).max(1)]).collect()
}

/// Genuine two-action captures (one per live clip with two clean, different, successive
/// actions, at most `genuine`), then one capture per attack type: a person swap in the last
/// action, a repeated still, a screen replay.
pub(crate) fn recorded(data: &Path, genuine: usize) -> Result<Vec<RecordedCapture>> {
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
                (Some(e1.action), &clip.id, spread(harness::window(clip, e1), PER_ACTION)),
                (Some(e2.action), &clip.id, spread(harness::window(clip, e2), PER_ACTION)),
            ],
        )?;
        out.push(RecordedCapture {
            kind: "genuine",
            name: format!("{} {}+{}", clip.id, e1.action.as_str(), e2.action.as_str()),
            actions: vec![e1.action, e2.action],
            frames,
            reference: None,
            light: None,
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
                (Some(e1.action), &clip.id, spread(harness::window(clip, e1), PER_ACTION)),
                (Some(e2.action), &donor.id, spread(harness::window(donor, e), PER_ACTION)),
            ],
        )?;
        out.push(RecordedCapture {
            kind: "person_swap",
            name: format!("{} → {}", clip.id, donor.id),
            actions: vec![e1.action, e2.action],
            frames,
            reference: None,
            light: None,
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
            reference: None,
            light: None,
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
        reference: None,
        light: None,
    });
    out.push(desktop_wrong_person(data)?);
    Ok(out)
}

/// Genuine answers to `n` random challenges drawn as the server draws them
/// ([`realname_liveness::random_actions`], 2–3 actions, seeded), composed from `lp_d12`,
/// the public clip holding all four: its neutral frames, then each action's first labelled
/// event's window spread over the action's share of the 16-frame limit — what `realname load`
/// uploads with the clip's `segments.csv` (`scripts/clip-segments.py`).
pub(crate) fn random_challenges(data: &Path, n: usize, seed: u64) -> Result<Vec<RecordedCapture>> {
    use rand::SeedableRng as _;
    let clip = harness::live_clips(data)?.into_iter().find(|c| c.id == "lp_d12").context("lp_d12")?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    for _ in 0..n {
        let actions = realname_liveness::random_actions(2, 3, &mut rng);
        let share = (16 - clip.neutral.len()) / actions.len();
        let mut segments = vec![(None, clip.id.as_str(), clip.neutral.clone())];
        // Each action's window; one frame shows one action: a window ending inside a shorter
        // one (lp_d12's head turn, which ends in a blink) stops before it (as
        // scripts/clip-segments.py writes the clip's segments).
        let windows: Vec<(LivenessAction, Vec<u32>)> =
            [LivenessAction::Blink, LivenessAction::TurnLeft, LivenessAction::TurnRight, LivenessAction::OpenMouth]
                .into_iter()
                .filter_map(|a| clip.events.iter().find(|e| e.action == a).map(|e| (a, harness::window(&clip, e))))
                .collect();
        for a in &actions {
            let (_, w) = windows.iter().find(|(b, _)| b == a).context("an action of lp_d12")?;
            let mut w = w.clone();
            for (b, other) in &windows {
                let (Some(&s2), Some(&t2)) = (other.first(), other.last()) else { continue };
                if b != a
                    && other.len() < w.len()
                    && w.first().is_some_and(|&s| s < s2)
                    && w.last().is_some_and(|&t| t >= s2 && t <= t2)
                {
                    w.retain(|&k| k < s2);
                }
            }
            segments.push((Some(*a), clip.id.as_str(), spread(w, share)));
        }
        out.push(RecordedCapture {
            kind: "genuine_random",
            name: format!("lp_d12 {}", actions.iter().map(|a| a.as_str()).collect::<Vec<_>>().join("+")),
            actions,
            frames: assemble(data, &segments)?,
            reference: None,
            light: None,
        });
    }
    Ok(out)
}

/// One genuine single-action capture per labelled event of every live clip, as
/// `cargo xtask accuracy liveness` builds its genuine cases: the clip's neutral frames, then
/// the event's window (at most 10 frames).
pub(crate) fn single_actions(data: &Path) -> Result<Vec<RecordedCapture>> {
    let mut out = Vec::new();
    for clip in harness::live_clips(data)? {
        for e in &clip.events {
            let frames = assemble(
                data,
                &[(None, &clip.id, clip.neutral.clone()), (Some(e.action), &clip.id, harness::window(&clip, e))],
            )?;
            out.push(RecordedCapture {
                kind: "genuine_one",
                name: format!("{} {}@{}", clip.id, e.action.as_str(), e.start),
                actions: vec![e.action],
                frames,
                reference: None,
                light: None,
            });
        }
    }
    Ok(out)
}

/// Frames of a clip the light step's renderer lights (the load generator's light scene).
const LIGHT_SCENE_FRAMES: u32 = 20;

/// Uploads with a light step, as the companion sends them when the server checks the light
/// (`face.light_check`): the rendered light step first (frames marked `light`, at the
/// companion's 10 fps, ending 200 ms before the first action frame), then the frames of a
/// genuine two-action capture among `recorded` (from [`recorded`]). Genuine responses for the
/// first `genuine` of those clips; then, on the first clip, a replay that does not respond
/// (attack (a)) and a screen tinted in step (attack (c)). Rendered by
/// `realname_liveness::light::Renderer` over the clip's first frames with the companion's
/// typical desk (`RenderParams::typical`; seeded per capture: the same uploads every run).
pub(crate) fn with_light(
    analyzer: &dyn FaceAnalyzer,
    data: &Path,
    recorded: &[RecordedCapture],
    genuine: usize,
) -> Result<Vec<RecordedCapture>> {
    use rand::SeedableRng as _;
    let mut out = Vec::new();
    for (n, c) in recorded.iter().filter(|c| c.kind == "genuine").enumerate() {
        let clip = c.name.split_whitespace().next().context("clip name")?.to_owned();
        let mut kinds = Vec::new();
        if n < genuine {
            kinds.push(("genuine_light", Scenario::Genuine));
        }
        if n == 0 {
            kinds.push(("light_no_response", Scenario::NoResponse));
            kinds.push(("light_screen_tint", Scenario::ScreenTint));
        }
        if kinds.is_empty() {
            continue;
        }
        let images: Vec<image::RgbImage> = (1..=LIGHT_SCENE_FRAMES)
            .map(|k| Ok(decode_image(&read(data, &clip, k)?, &ImageLimits::default())?))
            .collect::<Result<_>>()?;
        let faces: Vec<Option<realname_face::FaceAnalysis>> = images
            .iter()
            .map(|img| {
                Ok(match analyzer.analyze(img)?.as_slice() {
                    [one] => Some(*one),
                    _ => None,
                })
            })
            .collect::<Result<_>>()?;
        let sources: Vec<SourceFrame<'_>> =
            images.iter().zip(&faces).map(|(image, face)| SourceFrame { image, face: face.as_ref() }).collect();
        let renderer = Renderer::new(&sources, 10.0);
        for (s, (kind, scenario)) in kinds.into_iter().enumerate() {
            let seed = 0x5eed_0000 + (n as u64) * 16 + s as u64;
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let sequence = LightSequence::generate_with(&format!("nonce-light-{seed}"), &mut rng);
            let params = RenderParams::typical(10.0);
            let mut lit: Vec<(Vec<u8>, i64)> = Vec::new();
            let mut failed = None;
            let mut presentation = renderer.render(&sequence, &scenario, &params, &mut rng, &mut |img, ts, _| {
                let mut bytes = Vec::new();
                match image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 88).encode_image(img) {
                    Ok(()) => lit.push((bytes, ts)),
                    Err(e) => failed = Some(e),
                }
            });
            if let Some(e) = failed {
                return Err(e.into());
            }
            // The renderer's clock → the upload's: the light step ends before the actions.
            let first_action = c.frames.first().map_or(harness::T0, |f| f.captured_at_ms);
            let shift = first_action - 200 - lit.last().map_or(0, |l| l.1);
            presentation.shown_at_ms.iter_mut().for_each(|t| *t += shift);
            presentation.ended_at_ms += shift;
            let mut frames: Vec<RecordedFrame> = lit
                .into_iter()
                .map(|(bytes, ts)| RecordedFrame { action: None, captured_at_ms: ts + shift, bytes, light: true })
                .collect();
            frames.extend(c.frames.iter().map(|f| RecordedFrame {
                action: f.action,
                captured_at_ms: f.captured_at_ms,
                bytes: f.bytes.clone(),
                light: false,
            }));
            out.push(RecordedCapture {
                kind,
                name: c.name.clone(),
                actions: c.actions.clone(),
                frames,
                reference: None,
                light: Some(LightPart { sequence, presentation }),
            });
        }
    }
    Ok(out)
}

/// One decision: the verdict and the CPU time per stage (this thread).
pub(crate) struct Decided {
    pub verdict: Verdict,
    pub stages: StageTimes,
}

/// Decodes and analyses `capture` in `mode` and decides it against its ID photo (or, without
/// one, against its own first single-face frame: the ID photo comparison then passes for the
/// presented person and the figures measure the liveness rules). The ID photo's descriptor is
/// not counted: the server computes it at enrolment.
pub(crate) fn decide_capture(
    analyzer: &dyn FaceAnalyzer,
    mode: AnalysisMode,
    capture: &RecordedCapture,
) -> Result<Decided> {
    decide_upload(analyzer, mode, capture, &MemoryReplayStore::default(), "nonce-1", 0)
}

/// `capture` uploaded and decided, then its frames re-sent without the first one under a new
/// nonce to the same server (replay store): the second verdict. The exhaustive analysis
/// recognises every re-sent frame (`challenge_replayed`).
pub(crate) fn decide_resent(
    analyzer: &dyn FaceAnalyzer,
    mode: AnalysisMode,
    capture: &RecordedCapture,
) -> Result<Decided> {
    let store = MemoryReplayStore::default();
    decide_upload(analyzer, mode, capture, &store, "nonce-1", 0)?;
    decide_upload(analyzer, mode, capture, &store, "nonce-2", 1)
}

fn decide_upload(
    analyzer: &dyn FaceAnalyzer,
    mode: AnalysisMode,
    capture: &RecordedCapture,
    store: &MemoryReplayStore,
    nonce: &str,
    skip: usize,
) -> Result<Decided> {
    let reference: Option<Descriptor> = match &capture.reference {
        None => None,
        Some(jpeg) => {
            let photo = decode_image(jpeg, &ImageLimits::default())?;
            match analyzer.analyze(&photo)?.as_slice() {
                [one] => Some(one.descriptor),
                faces => anyhow::bail!("the ID photo of {} shows {} faces", capture.name, faces.len()),
            }
        }
    };
    let _ = profile::take();
    let mut upload = UploadAnalyzer::new(analyzer, mode);
    let mut frames = Vec::with_capacity(capture.frames.len());
    for f in &capture.frames[skip..] {
        let image = profile::timed(Stage::Decode, || decode_image(&f.bytes, &ImageLimits::default()))?;
        frames.push(AnalyzedFrame {
            action: f.action,
            captured_at_ms: f.captured_at_ms,
            faces: upload.tagged_frame(&image, f.action, f.light)?,
            light: f.light,
        });
    }
    upload.finish(&mut frames)?;
    let reference = reference.or_else(|| {
        frames.iter().find_map(|f| match f.faces.as_slice() {
            [one] => Some(one.analysis.descriptor),
            _ => None,
        })
    });
    let challenge = LivenessChallenge {
        actions: capture.actions.clone(),
        nonce: nonce.into(),
        deadline: time::OffsetDateTime::from_unix_timestamp(harness::T0 / 1000 + 120)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        light: capture.light.as_ref().map(|l| l.sequence.clone()),
    };
    let verdict = profile::timed(Stage::Decide, || match reference {
        None => Verdict::fail(realname_protocol::api::ReasonCode::NoFace),
        Some(reference) => decide(
            Capture {
                challenge: &challenge,
                issued_at_ms: harness::T0,
                nonce,
                frames: &frames,
                received_at_ms: harness::T0 + 30_000,
                light: capture.light.as_ref().map(|l| &l.presentation),
            },
            &reference,
            &upload.replay_store(store),
            realname_decision::MATCH_THRESHOLD,
        ),
    });
    Ok(Decided { verdict, stages: profile::take() })
}

/// `passed` or the reason code.
pub(crate) fn outcome(v: &Verdict) -> String {
    match v.reason() {
        None => "passed".into(),
        Some(r) => serde_json::to_string(&r).unwrap_or_default().trim_matches('"').to_owned(),
    }
}
