//! Errors of the liveness crate: loading the passive-check graph models and measuring images.

use std::path::PathBuf;

/// What can go wrong outside a liveness decision (a rejected capture is not an error: see
/// [`crate::Rejection`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LivenessError {
    /// A model file does not exist or cannot be read.
    #[error("model file {path} is missing or unreadable: {source}")]
    ModelMissing {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A model file exists but is not the expected TF.js graph model.
    #[error("model file {path} is corrupt: {reason}")]
    ModelCorrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The graph uses an operation this interpreter does not implement.
    #[error("graph model {path} uses unsupported op {op} (node {node})")]
    UnsupportedOp {
        /// The model file.
        path: PathBuf,
        /// The TF op name.
        op: String,
        /// The node name.
        node: String,
    },
    /// Bad input to a measurement (empty image, face outside the image).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A tensor operation failed while running a graph.
    #[error("tensor error: {0}")]
    Tensor(#[from] candle_core::Error),
}
