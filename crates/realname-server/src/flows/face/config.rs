//! `[face]`: the face decision's limits and thresholds, and the challenge's shape.

use serde::{Deserialize, Serialize};

/// Limits and thresholds of the face decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaceConfig {
    /// Largest descriptor distance to the reference face that still counts as the same person.
    /// 0.6 is face-api's customary threshold; on the 900 public pairs of
    /// `shared/data/faces` it gives 99.56 % accuracy (same-person max 0.681, different-person
    /// min 0.594), and the best threshold there (0.607) is within noise of it.
    pub match_threshold: f32,
    /// Most frames in one capture.
    pub max_frames: u32,
    /// Largest encoded frame in bytes.
    pub max_frame_bytes: u64,
    /// Largest frame width/height in pixels.
    pub max_dimension: u32,
    /// Fewest liveness actions per challenge (1..=3).
    pub min_actions: usize,
    /// Most liveness actions per challenge (`min_actions..=3`); each challenge draws its
    /// number of actions uniformly in between. The other liveness thresholds are the
    /// calibrated defaults of `realname_liveness::LivenessConfig` (crate README).
    pub max_actions: usize,
    /// Captures analysed at the same time (0 = one per CPU core). More would not finish sooner
    /// on a CPU-bound engine; they would only hold more memory.
    pub decision_workers: usize,
    /// Captures allowed to wait for a worker; beyond that the upload is refused with 503
    /// `service_unavailable` and `Retry-After`, instead of queueing without bound.
    pub decision_queue: usize,
    /// Issue a light sequence with every challenge (the companion flashes it from its own
    /// screen, the decision checks the face's reflection; docs/security.md "Light step").
    /// Off by default until its measured BPCER/APCER meet their goals (issue 15).
    pub light_check: bool,
    /// Most frames filmed during the light step one capture may add to `max_frames` (only when
    /// `light_check` is on): a 4.5 s sequence at 10–14 fps.
    pub max_light_frames: u32,
    /// Refuse an upload that is a copy (re-encoded, resized, slightly cropped) of an earlier
    /// upload of another session for the same ID number (docs/security.md "Replay check by
    /// similarity"). The prints are recorded either way. Off by default: a person holding still
    /// in the same place looks like a copy of their own earlier attempt in 37 % of measured
    /// retries (crates/realname-liveness README), so a holder who comes back after a failed
    /// session could be refused again and again; the light step is the default answer to
    /// re-encoded recordings.
    pub similarity_replay: bool,
}

impl FaceConfig {
    /// Most frames in one upload: the action frames plus, with the light check on, the light
    /// step's frames.
    pub fn upload_frame_limit(&self) -> u32 {
        self.max_frames + if self.light_check { self.max_light_frames } else { 0 }
    }
}

impl Default for FaceConfig {
    fn default() -> Self {
        Self {
            match_threshold: realname_decision::MATCH_THRESHOLD,
            max_frames: 16,
            max_frame_bytes: 2 * 1024 * 1024,
            max_dimension: 1920,
            min_actions: 2,
            max_actions: 3,
            decision_workers: 0,
            decision_queue: 256,
            light_check: false,
            max_light_frames: 64,
            similarity_replay: false,
        }
    }
}
