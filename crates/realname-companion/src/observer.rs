//! The local face detector behind live feedback: runs the face engine's fast path (tiny
//! detector + landmarks + signals, no descriptor) on a frame and summarises it as an
//! [`Observation`].

use std::path::Path;
use std::sync::Arc;

use image::RgbImage;
use realname_face::{DetectOptions, EngineConfig, FaceEngine, LandmarkNet};

use crate::error::CompanionError;
use crate::liveness::Observation;

/// Detector input size: small enough for live feedback on two cores.
const TINY_INPUT: u32 = 320;

/// The face engine, loaded for guidance only.
#[derive(Debug, Clone)]
pub struct FaceObserver {
    engine: Arc<FaceEngine>,
    options: DetectOptions,
}

impl FaceObserver {
    /// Loads the tiny detector and the landmark net from `models_dir`.
    ///
    /// # Errors
    /// [`CompanionError::Face`] when the weights are missing or corrupt.
    pub fn load(models_dir: &Path) -> Result<Self, CompanionError> {
        let config = EngineConfig {
            ssd: false,
            tiny: true,
            landmarks: Some(LandmarkNet::Full),
            recognition: false,
            ..EngineConfig::default()
        };
        let engine = FaceEngine::load(models_dir, config).map_err(|e| CompanionError::Face(e.to_string()))?;
        Ok(Self { engine: Arc::new(engine), options: DetectOptions::tiny(TINY_INPUT) })
    }

    /// Wraps an already loaded engine (it must have the tiny detector and a landmark net).
    pub fn from_engine(engine: Arc<FaceEngine>) -> Self {
        Self { engine, options: DetectOptions::tiny(TINY_INPUT) }
    }

    /// Looks at one frame (CPU-bound: call from a blocking thread).
    ///
    /// # Errors
    /// [`CompanionError::Face`] when inference fails.
    pub fn observe(&self, image: &RgbImage) -> Result<Observation, CompanionError> {
        let err = |e: realname_face::FaceError| CompanionError::Face(e.to_string());
        let detections = self.engine.detect(image, &self.options).map_err(err)?;
        let faces = u32::try_from(detections.len()).unwrap_or(u32::MAX);
        let Some(largest) = detections.iter().max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area())) else {
            return Ok(Observation { faces: 0, signals: None, centre_offset: None });
        };
        let landmarks = self.engine.landmarks(image, largest).map_err(err)?;
        let signals = self.engine.signals(image, largest, &landmarks);
        let (w, h) = (image.width().max(1) as f32, image.height().max(1) as f32);
        let b = largest.bbox;
        let centre = ((b.x + b.width / 2.0) / w - 0.5, (b.y + b.height / 2.0) / h - 0.5);
        Ok(Observation { faces, signals: Some(signals), centre_offset: Some(centre) })
    }
}
