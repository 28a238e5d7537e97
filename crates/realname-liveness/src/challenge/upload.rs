//! What the decision is given: the issued challenge, the analysed upload, and the replay
//! store the server implements (single-use nonces, frames never seen before).

use std::collections::HashSet;
use std::sync::Mutex;

use realname_face::FaceAnalysis;
use realname_protocol::api::{LivenessAction, LivenessChallenge};
use serde::{Deserialize, Serialize};

use crate::evidence::FaceImageEvidence;

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
    /// Captured during the light step (lit by the flashed colours; carries no action).
    #[serde(default)]
    pub light: bool,
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
        self.nonces.lock().map(|mut s| s.insert(nonce.to_string())).unwrap_or(false)
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
