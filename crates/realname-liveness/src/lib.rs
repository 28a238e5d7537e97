//! Liveness decision for Realname: did a live person perform the server's challenge?
//!
//! - [`evaluate`] — the active challenge check the server runs on an upload (actions in
//!   order, timing, one and the same person, no duplicated stills, no replay, passive scores).
//! - [`evidence`] — per-face image evidence the landmarks do not carry (eye-region darkness,
//!   face thumbnail, passive scores).
//! - [`passive`] — human 3.3.6's `antispoof` and `liveness` networks on the [`graph`]
//!   interpreter.
//! - [`screen`] — cheap screen-replay measures (moiré, bezel, highlights; measured, not used).
//! - [`light`] — light liveness: the issued colour sequence, its reflection check and the
//!   renderer that measures it.
//! - [`similarity`] — replay check by a fingerprint that survives re-encoding and resizing.
//!
//! Thresholds and what they were measured on: the crate README.

pub mod challenge;
pub mod error;
pub mod evidence;
pub mod graph;
pub mod light;
pub mod passive;
pub mod screen;
pub mod similarity;

pub use challenge::{
    AnalyzedFace, AnalyzedFrame, Hint, IssuedChallenge, LivenessConfig, LivenessPass, MemoryReplayStore, Rejection,
    RejectionDetail, ReplayStore, Upload, evaluate, fingerprint,
};
pub use error::LivenessError;
pub use evidence::{FaceImageEvidence, measure_face};
pub use graph::GraphModel;
pub use passive::{PassiveNets, PassiveScores};
pub use screen::{ScreenEvidence, measure_screen};
pub use similarity::{SimilarityConfig, SimilarityPrint, similarity_print};
