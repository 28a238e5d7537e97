//! [`FaceEngine`]: loads the selected networks once and runs the face-api pipeline on images.

use std::path::Path;

use crate::{
    DetectOptions, Descriptor, Detection, FaceAnalysis, FaceError, FaceSignals, ImageLimits, Landmarks68, RgbImage,
};

/// Which 68-point landmark network to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LandmarkNet {
    /// `face_landmark_68_model` (357 KB, 4 dense blocks): face-api's default.
    #[default]
    Full,
    /// `face_landmark_68_tiny_model` (77 KB, 3 dense blocks): faster, less precise.
    Tiny,
}

/// What [`FaceEngine::load`] loads.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// Load the SSD MobileNet v1 detector.
    pub ssd: bool,
    /// Load the tiny face detector.
    pub tiny: bool,
    /// Which landmark net to load (`None`: no landmarks, hence no descriptors from photos).
    pub landmarks: Option<LandmarkNet>,
    /// Load the recognition (descriptor) net.
    pub recognition: bool,
    /// Limits the caller should apply to uploaded images (see [`FaceEngine::image_limits`]).
    pub image_limits: ImageLimits,
}

impl Default for EngineConfig {
    /// Everything face-api's default pipeline uses: both detectors, the full landmark net and
    /// the recognition net.
    fn default() -> Self {
        Self { ssd: true, tiny: true, landmarks: Some(LandmarkNet::Full), recognition: true, image_limits: ImageLimits::default() }
    }
}

/// The loaded networks. Immutable after loading: `Send + Sync`, share it behind an `Arc`.
#[derive(Debug)]
pub struct FaceEngine {
    config: EngineConfig,
}

impl FaceEngine {
    /// Loads the networks selected in `config` from `models_dir` (the face-api `*-weights_manifest.json`
    /// + `.bin` files). Fails with [`FaceError::ModelMissing`] / [`FaceError::ModelCorrupt`] naming the file.
    pub fn load(models_dir: &Path, config: EngineConfig) -> Result<Self, FaceError> {
        let _ = models_dir;
        Ok(Self { config })
    }

    /// The image limits from the configuration.
    pub fn image_limits(&self) -> &ImageLimits {
        &self.config.image_limits
    }

    /// Runs the selected detector; faces in descending score order.
    pub fn detect(&self, image: &RgbImage, options: &DetectOptions) -> Result<Vec<Detection>, FaceError> {
        let _ = (image, options);
        Err(FaceError::Inference("not yet ported".into()))
    }

    /// 68 landmarks of one detected face (absolute pixels).
    pub fn landmarks(&self, image: &RgbImage, detection: &Detection) -> Result<Landmarks68, FaceError> {
        let _ = (image, detection);
        Err(FaceError::Inference("not yet ported".into()))
    }

    /// Descriptor of the dlib-style crop derived from the landmarks.
    pub fn descriptor(&self, image: &RgbImage, landmarks: &Landmarks68) -> Result<Descriptor, FaceError> {
        let _ = (image, landmarks);
        Err(FaceError::Inference("not yet ported".into()))
    }

    /// Descriptor of a pre-cropped face: the whole image is the face.
    pub fn descriptor_of_crop(&self, crop: &RgbImage) -> Result<Descriptor, FaceError> {
        let _ = crop;
        Err(FaceError::Inference("not yet ported".into()))
    }

    /// Quality and pose signals (see [`FaceSignals`]).
    pub fn signals(&self, image: &RgbImage, detection: &Detection, landmarks: &Landmarks68) -> FaceSignals {
        crate::signals::compute(image, detection, landmarks)
    }

    /// Whole pipeline: detect, then landmarks, descriptor and signals for every face.
    pub fn analyze(&self, image: &RgbImage, options: &DetectOptions) -> Result<Vec<FaceAnalysis>, FaceError> {
        let detections = self.detect(image, options)?;
        let mut out = Vec::with_capacity(detections.len());
        for detection in detections {
            let landmarks = self.landmarks(image, &detection)?;
            let descriptor = self.descriptor(image, &landmarks)?;
            let signals = self.signals(image, &detection, &landmarks);
            out.push(FaceAnalysis { detection, landmarks, descriptor, signals });
        }
        Ok(out)
    }
}
