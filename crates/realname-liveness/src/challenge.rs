//! The active challenge decision: given the challenge the server issued and the analysed
//! upload, were the requested actions performed, in order, in time, by one live person in
//! front of the camera — or is it a repeated still, a swapped person, a replay?
//!
//! Every rule works on the face engine's per-frame [`FaceAnalysis`] plus this crate's
//! [`FaceImageEvidence`]; every rejection carries a [`ReasonCode`] and a [`Hint`] the app turns
//! into advice. All thresholds live in [`LivenessConfig`]; its defaults are the values
//! calibrated on `shared/data/liveness` (table in the crate README).

use std::collections::HashSet;
use std::sync::Mutex;

use realname_face::FaceAnalysis;
use realname_protocol::api::{LivenessAction, LivenessChallenge, ReasonCode};
use serde::{Deserialize, Serialize};

use crate::evidence::{FaceImageEvidence, thumb_correlation};

/// Thresholds of the decision. `Default` is the calibrated set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LivenessConfig {
    /// Fewest and most actions a challenge may have.
    pub min_actions: usize,
    /// See `min_actions`.
    pub max_actions: usize,
    /// Device clock vs server clock tolerance, ms (first frame may precede the issue time by
    /// this much, last frame may follow the receipt by this much).
    pub clock_skew_ms: i64,
    /// Smallest gap between two frames, ms (faster than a 50 fps camera is not a camera).
    pub min_frame_gap_ms: i64,
    /// Largest gap between two consecutive frames, ms.
    pub max_frame_gap_ms: i64,
    /// Fraction of a segment's frames that may show no face (the SSD detector loses
    /// near-profile and motion-blurred faces); such frames are left out of every rule.
    pub max_faceless_fraction: f32,
    /// Loose bound between neutral frames (nearest other neutral frame): talking or smiling
    /// moves the descriptor of one person up to ≈ 0.45 within a second.
    pub same_person_neutral: f32,
    /// Largest distance from a segment (the frames of one action, or the neutral frames) to
    /// the nearest neutral frame: the closest descriptor pair between the two must be within it.
    pub same_person_segment: f32,
    /// |yaw| up to which a frame counts as frontal, degrees.
    pub neutral_max_yaw_deg: f32,
    /// Mouth aspect ratio up to which a frame counts as mouth closed (neutral).
    pub neutral_max_mar: f32,
    /// Largest move of the face box centre between consecutive frames, in face widths.
    pub max_box_jump: f32,
    /// Largest change of the face box width between consecutive frames (ratio ≥ 1).
    pub max_box_scale: f32,
    /// Thumbnail correlation at or above which two frames count as the same still …
    pub duplicate_correlation: f32,
    /// … when their box-normalised landmarks also differ by less than this (mean, in box widths).
    pub duplicate_shape: f32,
    /// Relative drop of the eye aspect ratio below the open-eye baseline that is a blink.
    pub blink_ear_drop: f32,
    /// Relative drop of the eye-region darkness ([`FaceImageEvidence::eye_darkness`]) below
    /// the open-eye baseline that is a blink.
    pub blink_darkness_drop: f32,
    /// Relative drop of the eyes' edge evidence ([`FaceImageEvidence::eye_edges`]) below the
    /// open-eye baseline that is a blink.
    pub blink_edge_drop: f32,
    /// Yaw change from the neutral frames for a head turn, degrees.
    pub turn_yaw_deg: f32,
    /// Mouth aspect ratio of an open mouth.
    pub mouth_open_mar: f32,
    /// Pitch range for a nod, degrees.
    pub nod_pitch_range_deg: f32,
    /// Median `antispoof` score below which the capture is a presentation attack (`None` =
    /// passive nets not used in the decision).
    pub antispoof_min: Option<f32>,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        Self {
            min_actions: 1,
            max_actions: 3,
            clock_skew_ms: 60_000,
            min_frame_gap_ms: 20,
            max_frame_gap_ms: 20_000,
            max_faceless_fraction: 0.5,
            same_person_neutral: 0.6,
            same_person_segment: 0.40,
            neutral_max_yaw_deg: 20.0,
            neutral_max_mar: 0.3,
            max_box_jump: 0.6,
            max_box_scale: 1.5,
            duplicate_correlation: 0.9995,
            duplicate_shape: 0.002,
            blink_ear_drop: 0.06,
            blink_darkness_drop: 0.14,
            blink_edge_drop: BLINK_EDGE_DROP,
            turn_yaw_deg: 8.0,
            mouth_open_mar: 0.35,
            nod_pitch_range_deg: 12.0,
            antispoof_min: None,
        }
    }
}

/// One face found in an uploaded frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalyzedFace {
    /// The face engine's output.
    pub analysis: FaceAnalysis,
    /// Image evidence ([`crate::measure_face`]); rules that need it are skipped without it.
    pub evidence: Option<FaceImageEvidence>,
}

/// One uploaded frame, analysed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalyzedFrame {
    /// The action the companion captured it for (`None` = neutral frame).
    pub action: Option<LivenessAction>,
    /// Device capture time, ms since the Unix epoch.
    pub captured_at_ms: i64,
    /// Every face the engine found.
    pub faces: Vec<AnalyzedFace>,
}

/// The challenge as the server issued it.
#[derive(Debug, Clone, Copy)]
pub struct IssuedChallenge<'a> {
    /// Actions, nonce, deadline.
    pub challenge: &'a LivenessChallenge,
    /// When the server issued it, ms since the Unix epoch (server clock).
    pub issued_at_ms: i64,
}

/// An upload as the server received it.
#[derive(Debug, Clone, Copy)]
pub struct Upload<'a> {
    /// The nonce the companion sent back.
    pub nonce: &'a str,
    /// The frames in upload order.
    pub frames: &'a [AnalyzedFrame],
    /// When the server received it, ms since the Unix epoch (server clock).
    pub received_at_ms: i64,
}

/// Single-use memory the server owns (its database): nonces and frame fingerprints.
pub trait ReplayStore {
    /// Marks `nonce` used; returns `false` when it had been used before.
    fn claim_nonce(&self, nonce: &str) -> bool;
    /// Records the upload's frame fingerprints; returns `false` when any was recorded before.
    fn claim_frames(&self, fingerprints: &[u64]) -> bool;
}

/// In-memory [`ReplayStore`] (tests, evaluation, single-process deployments).
#[derive(Debug, Default)]
pub struct MemoryReplayStore {
    nonces: Mutex<HashSet<String>>,
    frames: Mutex<HashSet<u64>>,
}

impl ReplayStore for MemoryReplayStore {
    fn claim_nonce(&self, nonce: &str) -> bool {
        self.nonces
            .lock()
            .map(|mut s| s.insert(nonce.to_string()))
            .unwrap_or(false)
    }
    fn claim_frames(&self, fingerprints: &[u64]) -> bool {
        let Ok(mut s) = self.frames.lock() else {
            return false;
        };
        let fresh = fingerprints.iter().all(|f| !s.contains(f));
        s.extend(fingerprints.iter().copied());
        fresh
    }
}

/// What the person can do about a rejection (the app words it; stable identifiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hint {
    /// Start again with the new challenge (expired, replayed, clock problems).
    StartAgain,
    /// Keep the face in view, well lit, for the whole scan.
    KeepFaceInView,
    /// Make sure nobody else is in the picture.
    OnlyYou,
    /// The same person must do the whole scan.
    SamePersonThroughout,
    /// Follow the prompts one by one, in the order shown.
    FollowPromptOrder,
    /// Close both eyes fully for a moment.
    BlinkClearly,
    /// Turn the head further towards the named side.
    TurnFurther,
    /// Open the mouth wider.
    OpenMouthWider,
    /// Nod more clearly.
    NodClearly,
    /// Use the live camera, not a photo or a screen.
    UseLiveCamera,
}

/// Which rule rejected the upload, with the measured value where there is one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum RejectionDetail {
    /// The challenge itself is malformed (wrong number of actions).
    ChallengeMalformed {
        /// Number of actions.
        actions: usize,
    },
    /// The nonce is not the challenge's.
    NonceMismatch,
    /// The nonce was used before.
    NonceReused,
    /// Frames identical to an earlier upload.
    FramesReplayed,
    /// Received after the deadline.
    DeadlinePassed {
        /// How late, ms.
        late_ms: i64,
    },
    /// No frames.
    NoFrames,
    /// No untagged (neutral, frontal) frame with a face: nothing to compare the actions and
    /// the person with.
    NoNeutralFrame,
    /// Timestamps go backwards or repeat.
    TimestampsNotIncreasing {
        /// The later frame's index.
        frame: usize,
    },
    /// Two frames closer than a camera can take them, or too far apart.
    FrameGapImplausible {
        /// The later frame's index.
        frame: usize,
        /// The gap, ms.
        gap_ms: i64,
    },
    /// Capture times outside the challenge's lifetime (old frames, wrong clock).
    OutsideChallengeWindow {
        /// The frame's index.
        frame: usize,
    },
    /// No face in a frame.
    NoFace {
        /// The frame's index.
        frame: usize,
    },
    /// More than one face in a frame.
    MultipleFaces {
        /// The frame's index.
        frame: usize,
        /// Faces found.
        faces: usize,
    },
    /// A face unlike the neutral frames' face.
    DifferentPerson {
        /// The frame's index.
        frame: usize,
        /// Descriptor distance measured.
        distance: f32,
        /// Threshold that applied.
        threshold: f32,
    },
    /// The face jumped between consecutive frames.
    TrackBroken {
        /// The later frame's index.
        frame: usize,
        /// Centre move in face widths.
        jump: f32,
        /// Width ratio.
        scale: f32,
    },
    /// Two frames are the same image (possibly shifted, scaled or re-encoded).
    DuplicateFrames {
        /// First frame's index.
        first: usize,
        /// Second frame's index.
        second: usize,
        /// Thumbnail correlation.
        correlation: f32,
    },
    /// The tagged actions are not the challenge's order.
    TagsOutOfOrder,
    /// An action was performed in another action's frames (wrong order).
    ActionInWrongPlace {
        /// The action.
        action: LivenessAction,
    },
    /// An action was not seen.
    ActionNotSeen {
        /// The action.
        action: LivenessAction,
        /// Best measured value (EAR drop, yaw change °, MAR, pitch range °).
        measured: f32,
        /// Needed value.
        needed: f32,
    },
    /// The passive networks say presentation attack.
    PassiveAttackScore {
        /// Median antispoof score.
        score: f32,
        /// Threshold.
        threshold: f32,
    },
}

/// A rejected upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    /// The protocol's reason code.
    pub reason: ReasonCode,
    /// The action concerned, if any.
    pub action: Option<LivenessAction>,
    /// What the person can do.
    pub hint: Hint,
    /// The rule and its measurement.
    pub detail: RejectionDetail,
}

/// What a passed upload measured (for logs and the decision record; no images).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivenessPass {
    /// Index of the most frontal neutral frame: the one to compare with the ID photo.
    pub best_frame: usize,
    /// Largest segment-to-neutral descriptor distance seen.
    pub max_segment_distance: f32,
    /// Median antispoof score, when the nets ran.
    pub antispoof_median: Option<f32>,
}

/// Open-eye darkness below which the image blink measure is not used.
const MIN_OPEN_EYE_DARKNESS: f32 = 0.05;

/// Default [`LivenessConfig::blink_edge_drop`] (shared with the companion's local blink prompt).
pub const BLINK_EDGE_DROP: f32 = 0.35;

/// Open-eye edge evidence below which the edge blink measure is not used (no eyes to see).
const MIN_OPEN_EYE_EDGES: f32 = 0.01;

/// How far `value` dropped below the open-eye `baseline` (`1 − value / baseline`), 0 when the
/// baseline is too small to tell.
pub fn edge_drop(value: f32, baseline: f32) -> f32 {
    if baseline >= MIN_OPEN_EYE_EDGES && value.is_finite() {
        1.0 - value / baseline
    } else {
        0.0
    }
}

fn reject(
    reason: ReasonCode,
    action: Option<LivenessAction>,
    hint: Hint,
    detail: RejectionDetail,
) -> Rejection {
    Rejection {
        reason,
        action,
        hint,
        detail,
    }
}

fn ear(f: &FaceAnalysis) -> f32 {
    (f.signals.ear_left + f.signals.ear_right) / 2.0
}

/// A fingerprint of one analysed face: identical image bytes give identical analyses.
pub fn fingerprint(face: &FaceAnalysis) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |v: f32| {
        for b in v.to_bits().to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for &(x, y) in &face.landmarks.points {
        eat(x);
        eat(y);
    }
    for &v in &face.descriptor.0 {
        eat(v);
    }
    h
}

/// Landmarks relative to the eye-to-eye frame (translation, scale and rotation removed).
fn normalised_shape(f: &FaceAnalysis) -> Vec<(f32, f32)> {
    let p = &f.landmarks.points;
    let c = |r: std::ops::Range<usize>| {
        let n = r.len() as f32;
        let (sx, sy) = p[r]
            .iter()
            .fold((0.0, 0.0), |(a, b), &(x, y)| (a + x, b + y));
        (sx / n, sy / n)
    };
    let (r, l) = (c(36..42), c(42..48));
    let (dx, dy) = (l.0 - r.0, l.1 - r.1);
    let d = (dx * dx + dy * dy).sqrt().max(1e-3);
    let (cos, sin) = (dx / d, dy / d);
    p.iter()
        .map(|&(x, y)| {
            let (x, y) = (x - r.0, y - r.1);
            ((x * cos + y * sin) / d, (-x * sin + y * cos) / d)
        })
        .collect()
}

fn shape_distance(a: &FaceAnalysis, b: &FaceAnalysis) -> f32 {
    let (sa, sb) = (normalised_shape(a), normalised_shape(b));
    sa.iter()
        .zip(&sb)
        .map(|(p, q)| ((p.0 - q.0).powi(2) + (p.1 - q.1).powi(2)).sqrt())
        .sum::<f32>()
        / sa.len() as f32
}

fn median(mut v: Vec<f32>) -> Option<f32> {
    v.sort_by(f32::total_cmp);
    v.get(v.len() / 2).copied()
}

/// Decides an upload. The nonce is claimed (single use) before anything else is looked at,
/// so a rejected upload also spends it.
pub fn evaluate(
    issued: IssuedChallenge<'_>,
    upload: Upload<'_>,
    replay: &dyn ReplayStore,
    config: &LivenessConfig,
) -> Result<LivenessPass, Rejection> {
    use ReasonCode as R;
    let challenge = issued.challenge;
    if upload.nonce != challenge.nonce {
        return Err(reject(
            R::ChallengeReplayed,
            None,
            Hint::StartAgain,
            RejectionDetail::NonceMismatch,
        ));
    }
    if !replay.claim_nonce(upload.nonce) {
        return Err(reject(
            R::ChallengeReplayed,
            None,
            Hint::StartAgain,
            RejectionDetail::NonceReused,
        ));
    }
    let n_actions = challenge.actions.len();
    if n_actions < config.min_actions || n_actions > config.max_actions {
        return Err(reject(
            R::ActionNotSeen,
            None,
            Hint::StartAgain,
            RejectionDetail::ChallengeMalformed { actions: n_actions },
        ));
    }
    let deadline_ms = (challenge.deadline.unix_timestamp_nanos() / 1_000_000) as i64;
    if upload.received_at_ms > deadline_ms {
        let late_ms = upload.received_at_ms - deadline_ms;
        return Err(reject(
            R::TimestampsInvalid,
            None,
            Hint::StartAgain,
            RejectionDetail::DeadlinePassed { late_ms },
        ));
    }
    let frames = upload.frames;
    if frames.is_empty() {
        return Err(reject(
            R::NoFace,
            None,
            Hint::KeepFaceInView,
            RejectionDetail::NoFrames,
        ));
    }
    check_timestamps(issued, upload, config)?;

    // At most one face per frame; frames without a face are dropped, as long as every
    // segment keeps enough frames with one.
    let mut kept: Vec<AnalyzedFrame> = Vec::with_capacity(frames.len());
    let mut faces: Vec<&AnalyzedFace> = Vec::with_capacity(frames.len());
    let mut index: Vec<usize> = Vec::with_capacity(frames.len());
    let mut segment_start = 0;
    for (i, f) in frames.iter().enumerate() {
        match f.faces.as_slice() {
            [one] => {
                kept.push(AnalyzedFrame {
                    action: f.action,
                    captured_at_ms: f.captured_at_ms,
                    faces: Vec::new(),
                });
                faces.push(one);
                index.push(i);
            }
            [] => {}
            many => {
                return Err(reject(
                    R::MultipleFaces,
                    f.action,
                    Hint::OnlyYou,
                    RejectionDetail::MultipleFaces {
                        frame: i,
                        faces: many.len(),
                    },
                ));
            }
        }
        let segment_ends = frames.get(i + 1).is_none_or(|next| next.action != f.action);
        if segment_ends {
            let seg = &frames[segment_start..=i];
            let faceless = seg.iter().filter(|x| x.faces.is_empty()).count();
            if faceless == seg.len()
                || faceless as f32 > config.max_faceless_fraction * seg.len() as f32
            {
                let frame =
                    segment_start + seg.iter().position(|x| x.faces.is_empty()).unwrap_or(0);
                return Err(reject(
                    R::NoFace,
                    f.action,
                    Hint::KeepFaceInView,
                    RejectionDetail::NoFace { frame },
                ));
            }
            segment_start = i + 1;
        }
    }
    let frames = kept.as_slice();
    if !frames.iter().any(|f| f.action.is_none()) {
        return Err(reject(
            R::NoFace,
            None,
            Hint::KeepFaceInView,
            RejectionDetail::NoNeutralFrame,
        ));
    }
    let prints: Vec<u64> = faces.iter().map(|f| fingerprint(&f.analysis)).collect();
    if !replay.claim_frames(&prints) {
        return Err(reject(
            R::ChallengeReplayed,
            None,
            Hint::StartAgain,
            RejectionDetail::FramesReplayed,
        ));
    }

    // Frame numbers in rejections refer to the upload, not to the kept frames.
    let remap = |r: Rejection| remap_frames(r, &index);
    check_duplicates(frames, &faces, config).map_err(remap)?;
    let (best_kept, max_segment_distance) =
        check_same_person(frames, &faces, config).map_err(remap)?;
    let best_frame = index.get(best_kept).copied().unwrap_or(0);
    check_track(frames, &faces, config).map_err(remap)?;
    check_actions(&challenge.actions, frames, &faces, config).map_err(remap)?;

    let antispoof_median = median(
        faces
            .iter()
            .filter_map(|f| f.evidence.as_ref()?.passive.map(|p| p.antispoof))
            .collect(),
    );
    if let (Some(threshold), Some(score)) = (config.antispoof_min, antispoof_median)
        && score < threshold
    {
        return Err(reject(
            R::PresentationAttack,
            None,
            Hint::UseLiveCamera,
            RejectionDetail::PassiveAttackScore { score, threshold },
        ));
    }
    tracing::debug!(
        frames = frames.len(),
        best_frame,
        max_segment_distance,
        "liveness passed"
    );
    Ok(LivenessPass {
        best_frame,
        max_segment_distance,
        antispoof_median,
    })
}

fn remap_frames(mut r: Rejection, index: &[usize]) -> Rejection {
    let map = |k: &mut usize| *k = index.get(*k).copied().unwrap_or(*k);
    match &mut r.detail {
        RejectionDetail::DifferentPerson { frame, .. }
        | RejectionDetail::TrackBroken { frame, .. } => map(frame),
        RejectionDetail::DuplicateFrames { first, second, .. } => {
            map(first);
            map(second);
        }
        _ => {}
    }
    r
}

fn check_timestamps(
    issued: IssuedChallenge<'_>,
    upload: Upload<'_>,
    config: &LivenessConfig,
) -> Result<(), Rejection> {
    let deadline_ms = (issued.challenge.deadline.unix_timestamp_nanos() / 1_000_000) as i64;
    let earliest = issued.issued_at_ms - config.clock_skew_ms;
    let latest = upload.received_at_ms.min(deadline_ms) + config.clock_skew_ms;
    let bad = |d| {
        Err(reject(
            ReasonCode::TimestampsInvalid,
            None,
            Hint::StartAgain,
            d,
        ))
    };
    for (i, f) in upload.frames.iter().enumerate() {
        if f.captured_at_ms < earliest || f.captured_at_ms > latest {
            return bad(RejectionDetail::OutsideChallengeWindow { frame: i });
        }
        if i > 0 {
            let gap_ms = f.captured_at_ms - upload.frames[i - 1].captured_at_ms;
            if gap_ms <= 0 {
                return bad(RejectionDetail::TimestampsNotIncreasing { frame: i });
            }
            if gap_ms < config.min_frame_gap_ms || gap_ms > config.max_frame_gap_ms {
                return bad(RejectionDetail::FrameGapImplausible { frame: i, gap_ms });
            }
        }
    }
    // The capture cannot last longer than the challenge's lifetime.
    if let (Some(first), Some(last)) = (upload.frames.first(), upload.frames.last())
        && last.captured_at_ms - first.captured_at_ms
            > deadline_ms - issued.issued_at_ms + config.clock_skew_ms
    {
        return bad(RejectionDetail::OutsideChallengeWindow {
            frame: upload.frames.len() - 1,
        });
    }
    Ok(())
}

fn is_neutral(f: &FaceAnalysis, config: &LivenessConfig) -> bool {
    f.signals.yaw_deg.abs() <= config.neutral_max_yaw_deg
        && f.signals.mouth_aspect_ratio <= config.neutral_max_mar
}

fn check_duplicates(
    frames: &[AnalyzedFrame],
    faces: &[&AnalyzedFace],
    config: &LivenessConfig,
) -> Result<(), Rejection> {
    for i in 0..faces.len() {
        for j in i + 1..faces.len() {
            let (a, b) = (faces[i], faces[j]);
            let same_print = fingerprint(&a.analysis) == fingerprint(&b.analysis);
            let correlation = match (&a.evidence, &b.evidence) {
                (Some(ea), Some(eb)) => thumb_correlation(&ea.thumb, &eb.thumb),
                _ => 0.0,
            };
            let still = correlation >= config.duplicate_correlation
                && shape_distance(&a.analysis, &b.analysis) < config.duplicate_shape;
            if same_print || still {
                return Err(reject(
                    ReasonCode::FramesDuplicated,
                    frames[j].action,
                    Hint::UseLiveCamera,
                    RejectionDetail::DuplicateFrames {
                        first: i,
                        second: j,
                        correlation: if same_print { 1.0 } else { correlation },
                    },
                ));
            }
        }
    }
    Ok(())
}

fn check_same_person(
    frames: &[AnalyzedFrame],
    faces: &[&AnalyzedFace],
    config: &LivenessConfig,
) -> Result<(usize, f32), Rejection> {
    // Reference: the neutral (untagged) frames; `evaluate` made sure there is one.
    let refs: Vec<usize> = (0..frames.len())
        .filter(|&i| frames[i].action.is_none())
        .collect();
    let d = |i: usize, j: usize| {
        faces[i]
            .analysis
            .descriptor
            .distance(&faces[j].analysis.descriptor)
    };
    // Each segment (run of frames with one tag) must come close to the reference somewhere:
    // single frames of a turned or wide-open face drift far from the neutral ones (up to
    // ≈ 0.5–0.65), but a segment always holds frames near the start or end of the action.
    let mut max_segment = 0f32;
    let mut i = 0;
    while i < frames.len() {
        let tag = frames[i].action;
        let mut j = i;
        while j < frames.len() && frames[j].action == tag {
            j += 1;
        }
        let (mut best, mut at) = (f32::MAX, i);
        for k in i..j {
            for &r in &refs {
                if r != k {
                    let dist = d(k, r);
                    if dist < best {
                        (best, at) = (dist, k);
                    }
                }
            }
        }
        // The reference frames themselves get the loose check below.
        let is_reference = (i..j).all(|k| refs.contains(&k));
        if best != f32::MAX && !is_reference {
            max_segment = max_segment.max(best);
            if best > config.same_person_segment {
                let frame = if tag.is_none() { at } else { i };
                return Err(reject(
                    ReasonCode::PersonChanged,
                    tag,
                    Hint::SamePersonThroughout,
                    RejectionDetail::DifferentPerson {
                        frame,
                        distance: best,
                        threshold: config.same_person_segment,
                    },
                ));
            }
        }
        i = j;
    }
    for &r in &refs {
        let nearest = refs
            .iter()
            .filter(|&&o| o != r)
            .map(|&o| d(r, o))
            .fold(f32::MAX, f32::min);
        if nearest != f32::MAX && nearest > config.same_person_neutral {
            return Err(reject(
                ReasonCode::PersonChanged,
                frames[r].action,
                Hint::SamePersonThroughout,
                RejectionDetail::DifferentPerson {
                    frame: r,
                    distance: nearest,
                    threshold: config.same_person_neutral,
                },
            ));
        }
    }
    let best = refs
        .iter()
        .copied()
        .min_by(|&a, &b| {
            faces[a]
                .analysis
                .signals
                .yaw_deg
                .abs()
                .total_cmp(&faces[b].analysis.signals.yaw_deg.abs())
        })
        .unwrap_or(0);
    Ok((best, max_segment))
}

fn check_track(
    frames: &[AnalyzedFrame],
    faces: &[&AnalyzedFace],
    config: &LivenessConfig,
) -> Result<(), Rejection> {
    for i in 1..faces.len() {
        let (a, b) = (
            &faces[i - 1].analysis.detection.bbox,
            &faces[i].analysis.detection.bbox,
        );
        let w = a.width.max(b.width).max(1.0);
        let (dx, dy) = (
            (a.x + a.width / 2.0) - (b.x + b.width / 2.0),
            (a.y + a.height / 2.0) - (b.y + b.height / 2.0),
        );
        let jump = (dx * dx + dy * dy).sqrt() / w;
        let scale = a.width.max(b.width) / a.width.min(b.width).max(1.0);
        if jump > config.max_box_jump || scale > config.max_box_scale {
            return Err(reject(
                ReasonCode::PersonChanged,
                frames[i].action,
                Hint::SamePersonThroughout,
                RejectionDetail::TrackBroken {
                    frame: i,
                    jump,
                    scale,
                },
            ));
        }
    }
    Ok(())
}

/// How strongly frame `i` shows `action` compared with the `baseline` frames (larger = more;
/// ≥ the returned threshold = performed).
fn action_strength(
    action: LivenessAction,
    f: &AnalyzedFace,
    baseline: &[&AnalyzedFace],
    config: &LivenessConfig,
) -> (f32, f32) {
    let s = &f.analysis.signals;
    match action {
        LivenessAction::Blink => {
            let base_ear =
                median(baseline.iter().map(|b| ear(&b.analysis)).collect()).unwrap_or(0.0);
            let ear_drop = if base_ear > 0.0 {
                1.0 - ear(&f.analysis) / base_ear
            } else {
                0.0
            };
            // Closed lids hide the dark iris and lashes: the eye box gets lighter relative to
            // the face. Only meaningful when the open eyes are clearly darker than the face
            // (glasses glare can make the box brighter than the skin).
            let base_d = median(
                baseline
                    .iter()
                    .filter_map(|b| b.evidence.as_ref().map(|e| e.eye_darkness))
                    .collect(),
            );
            let d_drop = match (base_d, f.evidence.as_ref()) {
                (Some(bd), Some(e)) if bd >= MIN_OPEN_EYE_DARKNESS => 1.0 - e.eye_darkness / bd,
                _ => 0.0,
            };
            // The iris and eye corners' left–right grey steps vanish under a closed lid (also
            // light eyes, whose box barely gets lighter).
            let base_e = median(
                baseline
                    .iter()
                    .filter_map(|b| b.evidence.as_ref().map(|e| e.eye_edges))
                    .collect(),
            );
            // Only on a frontal-ish face: turning the head foreshortens the eyes and removes
            // their edges too (zubair_real at yaw −60°: −93 %; mid-turn frames whose yaw
            // estimate stays under the bound still drop, 112 and 115: −84 %, −95 %).
            let e_drop = match (base_e, f.evidence.as_ref()) {
                (Some(be), Some(e)) if s.yaw_deg.abs() <= config.neutral_max_yaw_deg => {
                    edge_drop(e.eye_edges, be)
                }
                _ => 0.0,
            };
            // Each measure as a fraction of its own threshold; any suffices.
            let strength = (ear_drop / config.blink_ear_drop)
                .max(d_drop / config.blink_darkness_drop)
                .max(e_drop / config.blink_edge_drop);
            (strength, 1.0)
        }
        LivenessAction::TurnLeft | LivenessAction::TurnRight => {
            let base = median(
                baseline
                    .iter()
                    .map(|b| b.analysis.signals.yaw_deg)
                    .collect(),
            )
            .unwrap_or(0.0);
            let sign = if action == LivenessAction::TurnLeft {
                1.0
            } else {
                -1.0
            };
            (sign * (s.yaw_deg - base), config.turn_yaw_deg)
        }
        LivenessAction::OpenMouth => {
            let closed = baseline
                .iter()
                .map(|b| b.analysis.signals.mouth_aspect_ratio)
                .fold(f32::MAX, f32::min);
            // An open mouth needs a closed one elsewhere (a photo of an open mouth stays open).
            let v = if closed <= config.neutral_max_mar {
                s.mouth_aspect_ratio
            } else {
                0.0
            };
            (v, config.mouth_open_mar)
        }
        LivenessAction::Nod => {
            let (lo, hi) = baseline
                .iter()
                .map(|b| b.analysis.signals.pitch_deg)
                .fold((f32::MAX, f32::MIN), |(l, h), p| (l.min(p), h.max(p)));
            let range = if lo <= hi {
                (s.pitch_deg - lo).abs().max((s.pitch_deg - hi).abs())
            } else {
                0.0
            };
            (range, config.nod_pitch_range_deg)
        }
    }
}

fn hint_for(action: LivenessAction) -> Hint {
    match action {
        LivenessAction::Blink => Hint::BlinkClearly,
        LivenessAction::TurnLeft | LivenessAction::TurnRight => Hint::TurnFurther,
        LivenessAction::OpenMouth => Hint::OpenMouthWider,
        LivenessAction::Nod => Hint::NodClearly,
    }
}

fn check_actions(
    challenge: &[LivenessAction],
    frames: &[AnalyzedFrame],
    faces: &[&AnalyzedFace],
    config: &LivenessConfig,
) -> Result<(), Rejection> {
    // (1) the tag sequence, repeats collapsed, must be the challenge.
    let mut tags: Vec<LivenessAction> = Vec::new();
    for a in frames.iter().filter_map(|f| f.action) {
        if tags.last() != Some(&a) {
            tags.push(a);
        }
    }
    if tags != challenge {
        let missing = challenge.iter().find(|a| !tags.contains(a)).copied();
        return Err(match missing {
            Some(action) => reject(
                ReasonCode::ActionNotSeen,
                Some(action),
                hint_for(action),
                RejectionDetail::ActionNotSeen {
                    action,
                    measured: 0.0,
                    needed: 0.0,
                },
            ),
            None => reject(
                ReasonCode::ActionOrder,
                None,
                Hint::FollowPromptOrder,
                RejectionDetail::TagsOutOfOrder,
            ),
        });
    }
    // (2) each action must show in its own frames, measured against the frames of the other
    // actions and the neutral frames (the person's own baseline).
    for &action in challenge {
        let own: Vec<usize> = (0..frames.len())
            .filter(|&i| frames[i].action == Some(action))
            .collect();
        let baseline: Vec<&AnalyzedFace> = (0..frames.len())
            .filter(|&i| {
                frames[i].action != Some(action) && baseline_ok(action, &faces[i].analysis, config)
            })
            .map(|i| faces[i])
            .collect();
        let baseline = if baseline.is_empty() && action == LivenessAction::Blink {
            // Only blink frames: the open eyes of the window itself are the baseline.
            own.iter()
                .map(|&i| faces[i])
                .filter(|f| ear(&f.analysis) >= 0.0)
                .collect::<Vec<_>>()
        } else {
            baseline
        };
        let strength = |i: usize| action_strength(action, faces[i], &baseline, config);
        let (best, needed) =
            own.iter()
                .map(|&i| strength(i))
                .fold(
                    (f32::MIN, 0.0),
                    |acc, (v, t)| if v > acc.0 { (v, t) } else { acc },
                );
        if best >= needed && !baseline.is_empty() {
            continue;
        }
        // Not in its own frames: performed elsewhere → wrong order; else not seen.
        let elsewhere = (0..frames.len()).any(|i| {
            frames[i].action.is_some_and(|a| a != action) && {
                let (v, t) = strength(i);
                v >= t
            }
        });
        return Err(if elsewhere && !baseline.is_empty() {
            reject(
                ReasonCode::ActionOrder,
                Some(action),
                Hint::FollowPromptOrder,
                RejectionDetail::ActionInWrongPlace { action },
            )
        } else {
            reject(
                ReasonCode::ActionNotSeen,
                Some(action),
                hint_for(action),
                RejectionDetail::ActionNotSeen {
                    action,
                    measured: if best == f32::MIN { 0.0 } else { best },
                    needed,
                },
            )
        });
    }
    Ok(())
}

/// Which frames may serve as the baseline for `action`: for eyes and mouth any frame with a
/// frontal-ish face; for turns and nods the neutral ones.
fn baseline_ok(action: LivenessAction, f: &FaceAnalysis, config: &LivenessConfig) -> bool {
    match action {
        LivenessAction::Blink => f.signals.yaw_deg.abs() <= config.neutral_max_yaw_deg,
        LivenessAction::OpenMouth => true,
        LivenessAction::TurnLeft | LivenessAction::TurnRight | LivenessAction::Nod => {
            is_neutral(f, config)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LivenessAction::*;
    use realname_face::{BoundingBox, Descriptor, Detection, FaceSignals, Landmarks68};

    const T0: i64 = 1_700_000_000_000;

    /// A synthetic face: landmarks on a jittered grid (so frames differ), descriptor of person `who`.
    fn face(who: u8, k: usize, f: impl FnOnce(&mut FaceSignals)) -> AnalyzedFace {
        let mut signals = FaceSignals {
            face_width_px: 200.0,
            face_fraction: 0.1,
            sharpness: 100.0,
            brightness: 0.5,
            yaw_deg: 0.0,
            pitch_deg: 0.0,
            roll_deg: 0.0,
            ear_left: 0.32,
            ear_right: 0.32,
            mouth_aspect_ratio: 0.05,
        };
        f(&mut signals);
        let mut points = [(0.0f32, 0.0f32); 68];
        for (i, p) in points.iter_mut().enumerate() {
            let j = ((i * 7 + k * 13) % 11) as f32 * 0.4;
            *p = (
                100.0 + (i % 9) as f32 * 20.0 + j,
                100.0 + (i / 9) as f32 * 20.0 + j * 0.5,
            );
        }
        let mut d = [0.0f32; 128];
        d[who as usize] = 1.0;
        d[127] = 0.001 * k as f32;
        let thumb: Vec<f32> = (0..576)
            .map(|i| (((i * 31 + k * 17) % 23) as f32 - 11.0) / 6.6)
            .collect();
        AnalyzedFace {
            analysis: FaceAnalysis {
                detection: Detection {
                    bbox: BoundingBox {
                        x: 100.0 + k as f32,
                        y: 100.0,
                        width: 200.0,
                        height: 220.0,
                    },
                    score: 0.9,
                },
                landmarks: Landmarks68 { points },
                descriptor: Descriptor(d),
                signals,
            },
            evidence: Some(FaceImageEvidence {
                thumb,
                eye_contrast: 0.3,
                eye_darkness: 0.1,
                eye_edges: 0.08,
                passive: None,
            }),
        }
    }

    fn frame(action: Option<LivenessAction>, k: usize, face: AnalyzedFace) -> AnalyzedFrame {
        AnalyzedFrame {
            action,
            captured_at_ms: T0 + 100 * k as i64,
            faces: vec![face],
        }
    }

    fn challenge(actions: &[LivenessAction]) -> LivenessChallenge {
        LivenessChallenge {
            actions: actions.to_vec(),
            nonce: "n1".into(),
            deadline: time::OffsetDateTime::from_unix_timestamp((T0 + 60_000) / 1000)
                .expect("time"),
        }
    }

    fn run(ch: &LivenessChallenge, frames: &[AnalyzedFrame]) -> Result<LivenessPass, Rejection> {
        let store = MemoryReplayStore::default();
        evaluate(
            IssuedChallenge {
                challenge: ch,
                issued_at_ms: T0 - 1000,
            },
            Upload {
                nonce: "n1",
                frames,
                received_at_ms: T0 + 5000,
            },
            &store,
            &LivenessConfig::default(),
        )
    }

    fn genuine() -> Vec<AnalyzedFrame> {
        vec![
            frame(None, 0, face(1, 0, |_| {})),
            frame(
                Some(OpenMouth),
                1,
                face(1, 1, |s| s.mouth_aspect_ratio = 0.6),
            ),
            frame(Some(TurnLeft), 2, face(1, 2, |s| s.yaw_deg = 30.0)),
        ]
    }

    #[test]
    fn a_performed_challenge_passes_and_names_the_frontal_frame() {
        let pass = run(&challenge(&[OpenMouth, TurnLeft]), &genuine()).expect("genuine passes");
        assert_eq!(pass.best_frame, 0);
    }

    #[test]
    fn turns_are_relative_to_the_neutral_yaw_and_signed() {
        let mut frames = genuine();
        frames[2] = frame(Some(TurnLeft), 2, face(1, 2, |s| s.yaw_deg = -30.0));
        let r = run(&challenge(&[OpenMouth, TurnLeft]), &frames).expect_err("turned the other way");
        assert_eq!(
            (r.reason, r.action),
            (ReasonCode::ActionNotSeen, Some(TurnLeft))
        );
        frames[2] = frame(Some(TurnRight), 2, face(1, 2, |s| s.yaw_deg = -30.0));
        assert!(run(&challenge(&[OpenMouth, TurnRight]), &frames).is_ok());
    }

    #[test]
    fn blink_is_a_dip_against_the_persons_own_open_eyes_by_ear_or_eye_darkness() {
        let open = || face(1, 0, |_| {});
        let mut by_ear = vec![
            frame(None, 0, open()),
            frame(
                Some(Blink),
                1,
                face(1, 1, |s| (s.ear_left, s.ear_right) = (0.29, 0.29)),
            ),
        ];
        assert!(run(&challenge(&[Blink]), &by_ear).is_ok());
        // Landmark noise of 2 % is not a blink …
        by_ear[1] = frame(
            Some(Blink),
            1,
            face(1, 1, |s| (s.ear_left, s.ear_right) = (0.315, 0.315)),
        );
        let r = run(&challenge(&[Blink]), &by_ear).expect_err("noise");
        assert_eq!(r.reason, ReasonCode::ActionNotSeen);
        // … but the eye region getting lighter (lid over the iris) is.
        let mut closed = face(1, 1, |s| (s.ear_left, s.ear_right) = (0.315, 0.315));
        if let Some(e) = closed.evidence.as_mut() {
            e.eye_darkness = 0.07;
        }
        by_ear[1] = frame(Some(Blink), 1, closed);
        assert!(run(&challenge(&[Blink]), &by_ear).is_ok());
        // … and so are the eyes' edges fading (light iris: darkness barely moves) …
        let mut lid = face(1, 1, |s| (s.ear_left, s.ear_right) = (0.315, 0.315));
        if let Some(e) = lid.evidence.as_mut() {
            e.eye_edges = 0.08 * (1.0 - BLINK_EDGE_DROP) - 0.002;
        }
        by_ear[1] = frame(Some(Blink), 1, lid);
        assert!(run(&challenge(&[Blink]), &by_ear).is_ok());
        // … but not an edge dip smaller than the threshold.
        let mut half = face(1, 1, |s| (s.ear_left, s.ear_right) = (0.315, 0.315));
        if let Some(e) = half.evidence.as_mut() {
            e.eye_edges = 0.08 * (1.0 - BLINK_EDGE_DROP) + 0.002;
        }
        by_ear[1] = frame(Some(Blink), 1, half);
        let r = run(&challenge(&[Blink]), &by_ear).expect_err("small edge dip");
        assert_eq!(r.reason, ReasonCode::ActionNotSeen);
    }

    #[test]
    fn an_upload_without_a_neutral_frame_is_refused() {
        let frames = [frame(
            Some(OpenMouth),
            1,
            face(1, 1, |s| s.mouth_aspect_ratio = 0.6),
        )];
        assert_eq!(
            run(&challenge(&[OpenMouth]), &frames).map_err(|r| r.detail),
            Err(RejectionDetail::NoNeutralFrame)
        );
    }

    #[test]
    fn an_open_mouth_needs_a_closed_one_elsewhere() {
        let frames = [
            frame(None, 0, face(1, 0, |s| s.mouth_aspect_ratio = 0.6)),
            frame(
                Some(OpenMouth),
                1,
                face(1, 1, |s| s.mouth_aspect_ratio = 0.6),
            ),
        ];
        let r = run(&challenge(&[OpenMouth]), &frames).expect_err("never closed");
        assert_eq!(r.reason, ReasonCode::ActionNotSeen);
    }

    #[test]
    fn wrong_order_is_named_whether_tagged_or_performed_out_of_order() {
        // Tags in the wrong order.
        let frames = genuine();
        let r = run(&challenge(&[TurnLeft, OpenMouth]), &frames).expect_err("tags reversed");
        assert_eq!(r.reason, ReasonCode::ActionOrder);
        // Tags right, performances swapped.
        let swapped = [
            frame(None, 0, face(1, 0, |_| {})),
            frame(Some(OpenMouth), 1, face(1, 1, |s| s.yaw_deg = 30.0)),
            frame(
                Some(TurnLeft),
                2,
                face(1, 2, |s| s.mouth_aspect_ratio = 0.6),
            ),
        ];
        let r = run(&challenge(&[OpenMouth, TurnLeft]), &swapped).expect_err("performed swapped");
        assert_eq!(r.reason, ReasonCode::ActionOrder);
        // A missing action.
        let r = run(&challenge(&[OpenMouth, TurnLeft, Blink]), &frames).expect_err("missing");
        assert_eq!(
            (r.reason, r.action),
            (ReasonCode::ActionNotSeen, Some(Blink))
        );
    }

    #[test]
    fn timestamps_must_increase_plausibly_inside_the_challenge_window() {
        let ch = challenge(&[OpenMouth, TurnLeft]);
        let mut frames = genuine();
        frames[2].captured_at_ms = frames[1].captured_at_ms;
        assert_eq!(
            run(&ch, &frames).map_err(|r| r.detail),
            Err(RejectionDetail::TimestampsNotIncreasing { frame: 2 })
        );
        let mut frames = genuine();
        frames[2].captured_at_ms = frames[1].captured_at_ms + 5;
        assert_eq!(
            run(&ch, &frames).map_err(|r| r.reason),
            Err(ReasonCode::TimestampsInvalid)
        );
        let mut frames = genuine();
        for f in &mut frames {
            f.captured_at_ms -= 3_600_000; // frames from an hour ago
        }
        assert_eq!(
            run(&ch, &frames).map_err(|r| r.detail),
            Err(RejectionDetail::OutsideChallengeWindow { frame: 0 })
        );
        // Received after the deadline.
        let store = MemoryReplayStore::default();
        let late = evaluate(
            IssuedChallenge {
                challenge: &ch,
                issued_at_ms: T0 - 1000,
            },
            Upload {
                nonce: "n1",
                frames: &genuine(),
                received_at_ms: T0 + 61_000,
            },
            &store,
            &LivenessConfig::default(),
        );
        assert!(matches!(
            late.map_err(|r| r.detail),
            Err(RejectionDetail::DeadlinePassed { late_ms: 1000 })
        ));
    }

    #[test]
    fn one_face_per_frame_and_one_person_throughout() {
        let ch = challenge(&[OpenMouth, TurnLeft]);
        let mut frames = genuine();
        frames[1].faces.push(face(2, 1, |_| {}));
        assert_eq!(
            run(&ch, &frames).map_err(|r| r.reason),
            Err(ReasonCode::MultipleFaces)
        );
        frames[1].faces.clear();
        assert_eq!(
            run(&ch, &frames).map_err(|r| r.reason),
            Err(ReasonCode::NoFace)
        );
        // One faceless frame in a segment that keeps a face elsewhere is left out.
        let mut frames = genuine();
        let mut lost = frame(
            Some(OpenMouth),
            3,
            face(1, 3, |s| s.mouth_aspect_ratio = 0.5),
        );
        lost.faces.clear();
        frames.insert(2, lost);
        frames[3].captured_at_ms += 200;
        assert!(run(&ch, &frames).is_ok());
        // Person 2 does the turn.
        let mut frames = genuine();
        frames[2] = frame(Some(TurnLeft), 2, face(2, 2, |s| s.yaw_deg = 30.0));
        let r = run(&ch, &frames).expect_err("swap");
        assert_eq!(r.reason, ReasonCode::PersonChanged);
        assert!(
            matches!(r.detail, RejectionDetail::DifferentPerson { frame: 2, .. }),
            "{r:?}"
        );
        // Same descriptor but the face jumps across the picture between frames.
        let mut frames = genuine();
        frames[2].faces[0].analysis.detection.bbox.x += 400.0;
        assert!(matches!(
            run(&ch, &frames).map_err(|r| r.detail),
            Err(RejectionDetail::TrackBroken { frame: 2, .. })
        ));
    }

    #[test]
    fn a_repeated_still_and_a_replayed_upload_are_duplicates() {
        let ch = challenge(&[OpenMouth, TurnLeft]);
        let mut frames = genuine();
        frames[1].faces[0] = frames[0].faces[0].clone();
        frames[1].faces[0].analysis.detection.bbox.x += 2.0;
        assert_eq!(
            run(&ch, &frames).map_err(|r| r.reason),
            Err(ReasonCode::FramesDuplicated)
        );
        // Same thumbnail (a warped still), landmarks moved only by the warp → still duplicate.
        let mut frames = genuine();
        let mut warped = frames[0].faces[0].clone();
        for p in warped.analysis.landmarks.points.iter_mut() {
            *p = (p.0 * 1.02 + 3.0, p.1 * 1.02 - 2.0);
        }
        warped.analysis.signals.mouth_aspect_ratio = 0.6;
        frames[1].faces[0] = warped;
        assert!(matches!(
            run(&ch, &frames).map_err(|r| r.detail),
            Err(RejectionDetail::DuplicateFrames {
                first: 0,
                second: 1,
                ..
            })
        ));

        let store = MemoryReplayStore::default();
        let frames = genuine();
        let go = |nonce: &str, ch: &LivenessChallenge| {
            evaluate(
                IssuedChallenge {
                    challenge: ch,
                    issued_at_ms: T0 - 1000,
                },
                Upload {
                    nonce,
                    frames: &frames,
                    received_at_ms: T0 + 5000,
                },
                &store,
                &LivenessConfig::default(),
            )
        };
        assert!(go("n1", &ch).is_ok());
        assert_eq!(
            go("n1", &ch).map_err(|r| r.detail),
            Err(RejectionDetail::NonceReused)
        );
        let mut fresh = ch.clone();
        fresh.nonce = "n2".into();
        assert_eq!(
            go("n2", &fresh).map_err(|r| r.detail),
            Err(RejectionDetail::FramesReplayed)
        );
        assert_eq!(
            go("n3", &fresh).map_err(|r| r.detail),
            Err(RejectionDetail::NonceMismatch)
        );
    }

    #[test]
    fn the_passive_score_rejects_only_when_configured() {
        let mut frames = genuine();
        for f in &mut frames {
            if let Some(e) = f.faces[0].evidence.as_mut() {
                e.passive = Some(crate::PassiveScores {
                    antispoof: 0.1,
                    liveness: 0.5,
                });
            }
        }
        let ch = challenge(&[OpenMouth, TurnLeft]);
        assert!(run(&ch, &frames).is_ok());
        let store = MemoryReplayStore::default();
        let cfg = LivenessConfig {
            antispoof_min: Some(0.5),
            ..LivenessConfig::default()
        };
        let r = evaluate(
            IssuedChallenge {
                challenge: &ch,
                issued_at_ms: T0 - 1000,
            },
            Upload {
                nonce: "n1",
                frames: &frames,
                received_at_ms: T0 + 5000,
            },
            &store,
            &cfg,
        )
        .expect_err("low passive score");
        assert_eq!(r.reason, ReasonCode::PresentationAttack);
    }
}
