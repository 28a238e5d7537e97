//! What the decision answers: a pass with the frame to match against the reference photo, or
//! a rejection with its reason code, the action concerned, a hint for the app and the detail.

use realname_protocol::api::{LivenessAction, ReasonCode};
use serde::{Deserialize, Serialize};

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

pub(super) fn reject(
    reason: ReasonCode,
    action: Option<LivenessAction>,
    hint: Hint,
    detail: RejectionDetail,
) -> Rejection {
    Rejection { reason, action, hint, detail }
}

pub(super) fn hint_for(action: LivenessAction) -> Hint {
    match action {
        LivenessAction::Blink => Hint::BlinkClearly,
        LivenessAction::TurnLeft | LivenessAction::TurnRight => Hint::TurnFurther,
        LivenessAction::OpenMouth => Hint::OpenMouthWider,
        LivenessAction::Nod => Hint::NodClearly,
    }
}

pub(super) fn remap_frames(mut r: Rejection, index: &[usize]) -> Rejection {
    let map = |k: &mut usize| *k = index.get(*k).copied().unwrap_or(*k);
    match &mut r.detail {
        RejectionDetail::DifferentPerson { frame, .. } | RejectionDetail::TrackBroken { frame, .. } => map(frame),
        RejectionDetail::DuplicateFrames { first, second, .. } => {
            map(first);
            map(second);
        }
        _ => {}
    }
    r
}
