//! Every threshold of the challenge decision in one struct, with the values calibrated on
//! `shared/data/liveness` as defaults (table in the crate README).

use serde::{Deserialize, Serialize};

use super::rules::actions::BLINK_EDGE_DROP;

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
