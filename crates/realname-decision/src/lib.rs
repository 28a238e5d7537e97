//! The capture decision as a pure function of the frames: [`face`] analyses each uploaded
//! frame (detector, 68 landmarks, descriptor, image evidence), [`tracking`] follows the face
//! into frames where nothing was detected ([`upload`] carries it through an upload), and [`decision::decide`] applies the liveness
//! challenge ([`realname_liveness::evaluate`]), the light step ([`light`]), the quality rules and the ID-photo match.
//!
//! No HTTP and no database: the only outside state is the single-use nonce and frame
//! fingerprints, reached through the [`realname_liveness::ReplayStore`] trait (the server
//! implements it on its store, the measurements with an in-memory one). The server and
//! `cargo xtask accuracy liveness` call the same code.

pub mod decision;
pub mod face;
pub mod light;
pub mod profile;
pub mod tracking;
pub mod upload;

pub use decision::{Capture, MATCH_THRESHOLD, Verdict, decide};
pub use face::{EngineAnalyzer, FaceAnalyzer, ScriptedAnalyzer, ScriptedFrame, SharedAnalyzer};
pub use upload::{AnalysisMode, UploadAnalyzer};
