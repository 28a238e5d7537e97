//! Rule: one face per frame and one and the same person throughout (descriptor distance and a
//! continuous track of the face).

use realname_face::{BoundingBox, FaceAnalysis};
use realname_protocol::api::ReasonCode;

use super::super::config::LivenessConfig;
use super::super::rejection::{Hint, Rejection, RejectionDetail, reject};
use super::super::upload::AnalyzedFace;
use super::super::upload::AnalyzedFrame;

/// Landmarks relative to the eye-to-eye frame (translation, scale and rotation removed).
fn normalised_shape(f: &FaceAnalysis) -> Vec<(f32, f32)> {
    let p = &f.landmarks.points;
    let c = |r: std::ops::Range<usize>| {
        let n = r.len() as f32;
        let (sx, sy) = p[r].iter().fold((0.0, 0.0), |(a, b), &(x, y)| (a + x, b + y));
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

pub(crate) fn shape_distance(a: &FaceAnalysis, b: &FaceAnalysis) -> f32 {
    let (sa, sb) = (normalised_shape(a), normalised_shape(b));
    sa.iter().zip(&sb).map(|(p, q)| ((p.0 - q.0).powi(2) + (p.1 - q.1).powi(2)).sqrt()).sum::<f32>() / sa.len() as f32
}

pub(crate) fn check_same_person(
    frames: &[AnalyzedFrame],
    faces: &[&AnalyzedFace],
    config: &LivenessConfig,
) -> Result<(usize, f32), Rejection> {
    // Reference: the neutral (untagged) frames; `evaluate` made sure there is one.
    let refs: Vec<usize> = (0..frames.len()).filter(|&i| frames[i].action.is_none()).collect();
    let d = |i: usize, j: usize| faces[i].analysis.descriptor.distance(&faces[j].analysis.descriptor);
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
                    RejectionDetail::DifferentPerson { frame, distance: best, threshold: config.same_person_segment },
                ));
            }
        }
        i = j;
    }
    for &r in &refs {
        let nearest = refs.iter().filter(|&&o| o != r).map(|&o| d(r, o)).fold(f32::MAX, f32::min);
        if nearest != f32::MAX && nearest > config.same_person_neutral {
            return Err(reject(
                ReasonCode::PersonChanged,
                frames[r].action,
                Hint::SamePersonThroughout,
                RejectionDetail::DifferentPerson { frame: r, distance: nearest, threshold: config.same_person_neutral },
            ));
        }
    }
    let best = refs
        .iter()
        .copied()
        .min_by(|&a, &b| faces[a].analysis.signals.yaw_deg.abs().total_cmp(&faces[b].analysis.signals.yaw_deg.abs()))
        .unwrap_or(0);
    Ok((best, max_segment))
}

/// How a face's box moved between two frames: its centre's shift over the larger width, and
/// the larger width over the smaller.
fn box_step(a: &BoundingBox, b: &BoundingBox) -> (f32, f32) {
    let w = a.width.max(b.width).max(1.0);
    let (dx, dy) = ((a.x + a.width / 2.0) - (b.x + b.width / 2.0), (a.y + a.height / 2.0) - (b.y + b.height / 2.0));
    ((dx * dx + dy * dy).sqrt() / w, a.width.max(b.width) / a.width.min(b.width).max(1.0))
}

/// Whether a face's box going from `a` to `b` between two frames keeps the track the
/// same-person rule checks (`max_box_jump`, `max_box_scale`).
pub fn keeps_track(a: &BoundingBox, b: &BoundingBox, config: &LivenessConfig) -> bool {
    let (jump, scale) = box_step(a, b);
    jump <= config.max_box_jump && scale <= config.max_box_scale
}

pub(crate) fn check_track(
    frames: &[AnalyzedFrame],
    faces: &[&AnalyzedFace],
    config: &LivenessConfig,
) -> Result<(), Rejection> {
    for i in 1..faces.len() {
        let (jump, scale) = box_step(&faces[i - 1].analysis.detection.bbox, &faces[i].analysis.detection.bbox);
        if jump > config.max_box_jump || scale > config.max_box_scale {
            return Err(reject(
                ReasonCode::PersonChanged,
                frames[i].action,
                Hint::SamePersonThroughout,
                RejectionDetail::TrackBroken { frame: i, jump, scale },
            ));
        }
    }
    Ok(())
}
