//! The server's decision on an analysed capture: one face per frame, usable quality, the
//! liveness challenge ([`crate::liveness`]), one person throughout, and that person matches the
//! ID holder's reference face. Pure: the caller decodes and analyses the frames.

use realname_face::{Descriptor, FaceAnalysis};
use realname_protocol::api::{LivenessAction, ReasonCode};

use crate::config::FaceConfig;
use crate::liveness::{self, Observation};

/// Smallest face width accepted, pixels (the recognition net's input is 150 px; below ~60 px
/// descriptors degrade quickly).
pub const MIN_FACE_WIDTH_PX: f32 = 60.0;
/// Darkest face accepted (mean luma 0..1).
pub const MIN_BRIGHTNESS: f32 = 0.12;
/// Frames with |yaw| below this are "frontal" and used for the reference comparison.
pub const FRONTAL_YAW_DEG: f32 = 15.0;
/// Extra same-person tolerance for turned frames, whose descriptors drift with pose.
pub const TURNED_FACE_SLACK: f32 = 0.15;

/// One uploaded frame after analysis.
#[derive(Debug, Clone)]
pub struct AnalyzedFrame {
    /// The action the frame was captured for.
    pub action: Option<LivenessAction>,
    /// Every face the engine found.
    pub faces: Vec<FaceAnalysis>,
}

/// What the capture shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Live, one person, the ID holder.
    Pass {
        /// Distance of the capture to the reference.
        distance: f32,
    },
    /// Not verified.
    Fail {
        /// Why.
        reason: ReasonCode,
        /// The action concerned, if any.
        action: Option<LivenessAction>,
        /// The frame concerned (0-based), if any.
        frame: Option<usize>,
    },
}

fn fail(reason: ReasonCode, action: Option<LivenessAction>, frame: Option<usize>) -> Verdict {
    Verdict::Fail { reason, action, frame }
}

/// Decides on a capture.
pub fn decide(
    challenge: &[LivenessAction],
    frames: &[AnalyzedFrame],
    reference: &Descriptor,
    config: &FaceConfig,
) -> Verdict {
    let mut faces = Vec::with_capacity(frames.len());
    for (i, frame) in frames.iter().enumerate() {
        match frame.faces.as_slice() {
            [] => return fail(ReasonCode::NoFace, frame.action, Some(i)),
            [one] => faces.push(one),
            _ => return fail(ReasonCode::MultipleFaces, frame.action, Some(i)),
        }
    }
    if faces.is_empty() {
        return fail(ReasonCode::NoFace, None, None);
    }
    for (i, (face, frame)) in faces.iter().zip(frames).enumerate() {
        if face.signals.brightness < MIN_BRIGHTNESS {
            return fail(ReasonCode::TooDark, frame.action, Some(i));
        }
        if face.signals.face_width_px < MIN_FACE_WIDTH_PX {
            return fail(ReasonCode::FaceTooSmall, frame.action, Some(i));
        }
    }
    let observations: Vec<Observation> =
        faces.iter().zip(frames).map(|(f, fr)| Observation { action: fr.action, signals: f.signals }).collect();
    if let Err(e) = liveness::check(challenge, &observations) {
        return fail(e.reason, Some(e.action), None);
    }
    // One person throughout: compare every frame with the most frontal one.
    let Some(anchor) = faces
        .iter()
        .min_by(|a, b| a.signals.yaw_deg.abs().total_cmp(&b.signals.yaw_deg.abs()))
        .map(|f| f.descriptor)
    else {
        return fail(ReasonCode::NoFace, None, None);
    };
    for (i, face) in faces.iter().enumerate() {
        let allowed = if face.signals.yaw_deg.abs() < FRONTAL_YAW_DEG {
            config.same_person_threshold
        } else {
            config.same_person_threshold + TURNED_FACE_SLACK
        };
        if face.descriptor.distance(&anchor) > allowed {
            return fail(ReasonCode::PersonChanged, frames[i].action, Some(i));
        }
    }
    // The ID holder: median distance of the frontal frames (the most frontal one if none).
    let mut distances: Vec<f32> = faces
        .iter()
        .filter(|f| f.signals.yaw_deg.abs() < FRONTAL_YAW_DEG)
        .map(|f| f.descriptor.distance(reference))
        .collect();
    if distances.is_empty() {
        distances.push(anchor.distance(reference));
    }
    distances.sort_by(f32::total_cmp);
    let distance = distances[distances.len() / 2];
    if distance < config.match_threshold {
        Verdict::Pass { distance }
    } else {
        fail(ReasonCode::FaceMismatch, None, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::{FaceAnalyzer, ScriptedAnalyzer, ScriptedFrame};

    fn frame(f: ScriptedFrame) -> AnalyzedFrame {
        let img = image::RgbImage::from_pixel(
            4,
            4,
            image::Rgb([f.person, f.action.map_or(0, |a| {
                LivenessAction::ALL.iter().position(|x| *x == a).map_or(0, |i| i as u8 + 1) * 20
            }), f.faces * 20]),
        );
        AnalyzedFrame { action: f.action, faces: ScriptedAnalyzer.analyze(&img).expect("analyze") }
    }

    #[test]
    fn the_id_holder_passes_and_someone_else_fails() {
        let cfg = FaceConfig::default();
        let challenge = [LivenessAction::Blink, LivenessAction::TurnLeft];
        let frames = [
            frame(ScriptedFrame::neutral(1)),
            frame(ScriptedFrame::doing(1, LivenessAction::Blink)),
            frame(ScriptedFrame::doing(1, LivenessAction::TurnLeft)),
        ];
        assert!(matches!(decide(&challenge, &frames, &ScriptedAnalyzer::descriptor_of(1), &cfg), Verdict::Pass { .. }));
        assert_eq!(
            decide(&challenge, &frames, &ScriptedAnalyzer::descriptor_of(2), &cfg),
            fail(ReasonCode::FaceMismatch, None, None)
        );
    }

    #[test]
    fn frames_must_show_exactly_one_and_the_same_face() {
        let cfg = FaceConfig::default();
        let reference = ScriptedAnalyzer::descriptor_of(1);
        let two = [frame(ScriptedFrame { person: 1, action: None, faces: 2 })];
        assert_eq!(decide(&[], &two, &reference, &cfg), fail(ReasonCode::MultipleFaces, None, Some(0)));
        let none = [frame(ScriptedFrame { person: 1, action: None, faces: 0 })];
        assert_eq!(decide(&[], &none, &reference, &cfg), fail(ReasonCode::NoFace, None, Some(0)));
        let swapped = [frame(ScriptedFrame::neutral(1)), frame(ScriptedFrame::doing(2, LivenessAction::Blink))];
        assert_eq!(
            decide(&[LivenessAction::Blink], &swapped, &reference, &cfg),
            fail(ReasonCode::PersonChanged, Some(LivenessAction::Blink), Some(1))
        );
    }
}
