//! Error type of the face engine.

use std::path::PathBuf;

/// Everything that can go wrong in the face engine.
#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    /// A model file the configuration needs does not exist (run `scripts/fetch-models.sh`).
    #[error("face model file missing: {file} (fetch the weights with scripts/fetch-models.sh)")]
    ModelMissing {
        /// Full path of the missing file.
        file: PathBuf,
    },
    /// A model file exists but cannot be used (unreadable, bad manifest, wrong byte length…).
    #[error("face model file corrupt: {file}: {reason}")]
    ModelCorrupt {
        /// Full path of the offending file.
        file: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The encoded image or its declared dimensions exceed [`crate::ImageLimits`]; raised
    /// before the pixel buffer is allocated.
    #[error("image too large: {reason}")]
    ImageTooLarge {
        /// Which limit was exceeded.
        reason: String,
    },
    /// The bytes look like a supported format but cannot be decoded (truncated, corrupt).
    #[error("image cannot be decoded: {0}")]
    ImageDecode(String),
    /// The bytes are not PNG or JPEG.
    #[error("unsupported image format (PNG and JPEG are accepted)")]
    UnsupportedFormat,
    /// An argument is outside what the engine accepts (e.g. a tiny-detector input size that is
    /// not a multiple of 32, an empty image, a non-finite box).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A network was asked for that [`crate::EngineConfig`] did not load.
    #[error("model not loaded: {0} (enable it in EngineConfig)")]
    ModelNotLoaded(&'static str),
    /// Tensor arithmetic failed (shape bug; should not happen with valid weights).
    #[error("inference failed: {0}")]
    Inference(String),
}

impl From<candle_core::Error> for FaceError {
    fn from(e: candle_core::Error) -> Self {
        FaceError::Inference(e.to_string())
    }
}
