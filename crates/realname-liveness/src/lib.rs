//! Liveness decision for Realname: did a live person perform the server's challenge?
//!
//! - [`evaluate`] — the active challenge check the server runs on an upload (actions in
//!   order, timing, one and the same person, no duplicated stills, no replay, passive scores).
//! - [`evidence`] — per-face image evidence the landmarks do not carry (eye-region darkness,
//!   face thumbnail, passive scores).
//! - `passive` — human 3.3.6's `antispoof` and `liveness` networks on the `graph`
//!   interpreter, and `screen` — cheap screen-replay measures (moiré, bezel, highlights):
//!   measured, used by no product path, so they build only with the `research` feature
//!   (`cargo run -p realname-liveness --features research --example evaluate`).
//! - [`light`] — light liveness: the issued colour sequence, its reflection check and the
//!   renderer that measures it.
//! - [`similarity`] — replay check by a fingerprint that survives re-encoding and resizing.
//!
//! Thresholds and what they were measured on: the crate README.

pub mod challenge;
pub mod error;
pub mod evidence;
#[cfg(feature = "research")]
pub mod graph;
pub mod light;
#[cfg(feature = "research")]
pub mod passive;
#[cfg(feature = "research")]
pub mod screen;
pub mod similarity;

pub use challenge::{
    AnalyzedFace, AnalyzedFrame, Hint, IssuedChallenge, LivenessConfig, LivenessPass, MemoryReplayStore, Rejection,
    RejectionDetail, ReplayStore, Upload, evaluate, fingerprint, keeps_track, random_actions,
};
pub use error::LivenessError;
pub use evidence::{FaceImageEvidence, PassiveScorer, PassiveScores, measure_face};
#[cfg(feature = "research")]
pub use graph::GraphModel;
#[cfg(feature = "research")]
pub use passive::PassiveNets;
#[cfg(feature = "research")]
pub use screen::{ScreenEvidence, measure_screen};
pub use similarity::{SimilarityConfig, SimilarityPrint, similarity_print};
