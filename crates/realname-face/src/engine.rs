//! [`FaceEngine`]: loads the selected networks once and runs the face-api pipeline on images.

use std::path::Path;

use crate::face_landmark_68::{self, FaceLandmark68Net};
use crate::face_recognition::{self, FaceRecognitionNet};
use crate::geometry::{CropRect, clip_and_floor};
use crate::preprocess::full_rect;
use crate::ssd_mobilenetv1::SsdMobilenetv1;
use crate::tiny_face_detector::TinyFaceDetector;
use crate::weights::ModelWeights;
use crate::{
    Descriptor, DetectOptions, Detection, DetectorKind, FaceAnalysis, FaceError, FaceSignals, ImageLimits, Landmarks68,
    RgbImage,
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
    /// Load the SSD MobileNet v1 detector (`ssd_mobilenetv1_model*`).
    pub ssd: bool,
    /// Load the tiny face detector (`tiny_face_detector_model*`).
    pub tiny: bool,
    /// Which landmark net to load (`None`: no landmarks, hence no descriptors from photos).
    pub landmarks: Option<LandmarkNet>,
    /// Load the recognition (descriptor) net (`face_recognition_model*`).
    pub recognition: bool,
    /// Limits the caller should apply to uploaded images (see [`FaceEngine::image_limits`]).
    pub image_limits: ImageLimits,
}

impl Default for EngineConfig {
    /// Everything face-api's default pipeline uses: both detectors, the full landmark net and
    /// the recognition net.
    fn default() -> Self {
        Self {
            ssd: true,
            tiny: true,
            landmarks: Some(LandmarkNet::Full),
            recognition: true,
            image_limits: ImageLimits::default(),
        }
    }
}

/// The loaded networks. Immutable after loading: `Send + Sync`, share it behind an `Arc`.
#[derive(Debug)]
pub struct FaceEngine {
    config: EngineConfig,
    ssd: Option<SsdMobilenetv1>,
    tiny: Option<TinyFaceDetector>,
    landmark_net: Option<FaceLandmark68Net>,
    recognition: Option<FaceRecognitionNet>,
}

fn check_image(image: &RgbImage) -> Result<(), FaceError> {
    if image.width() == 0 || image.height() == 0 {
        return Err(FaceError::InvalidInput(format!("empty image {}x{}", image.width(), image.height())));
    }
    Ok(())
}

impl FaceEngine {
    /// Loads the networks selected in `config` from `models_dir` (the face-api
    /// `<model>-weights_manifest.json` + `.bin` files). Fails with [`FaceError::ModelMissing`] /
    /// [`FaceError::ModelCorrupt`] naming the file (a `.bin` whose length differs from the
    /// manifest's total is corrupt).
    pub fn load(models_dir: &Path, config: EngineConfig) -> Result<Self, FaceError> {
        let ssd = if config.ssd {
            Some(SsdMobilenetv1::load(&ModelWeights::load(models_dir, "ssd_mobilenetv1")?)?)
        } else {
            None
        };
        let tiny = if config.tiny {
            Some(TinyFaceDetector::load(&ModelWeights::load(models_dir, "tiny_face_detector")?)?)
        } else {
            None
        };
        let landmark_net = match config.landmarks {
            Some(LandmarkNet::Full) => {
                Some(FaceLandmark68Net::load(&ModelWeights::load(models_dir, "face_landmark_68")?, false)?)
            }
            Some(LandmarkNet::Tiny) => {
                Some(FaceLandmark68Net::load(&ModelWeights::load(models_dir, "face_landmark_68_tiny")?, true)?)
            }
            None => None,
        };
        let recognition = if config.recognition {
            Some(FaceRecognitionNet::load(&ModelWeights::load(models_dir, "face_recognition")?)?)
        } else {
            None
        };
        tracing::debug!(dir = %models_dir.display(), ?config, "face models loaded");
        Ok(Self { config, ssd, tiny, landmark_net, recognition })
    }

    /// The image limits from the configuration.
    pub fn image_limits(&self) -> &ImageLimits {
        &self.config.image_limits
    }

    /// Runs the selected detector; faces in descending score order, boxes in image pixels.
    pub fn detect(&self, image: &RgbImage, options: &DetectOptions) -> Result<Vec<Detection>, FaceError> {
        check_image(image)?;
        if !(options.min_score.is_finite() && options.iou_threshold.is_finite()) {
            return Err(FaceError::InvalidInput("non-finite detector thresholds".into()));
        }
        match options.detector {
            DetectorKind::Ssd => self.ssd.as_ref().ok_or(FaceError::ModelNotLoaded("ssd_mobilenetv1"))?.detect(
                image,
                options.min_score,
                options.iou_threshold,
                options.max_results,
            ),
            DetectorKind::Tiny { input_size } => self
                .tiny
                .as_ref()
                .ok_or(FaceError::ModelNotLoaded("tiny_face_detector"))?
                .detect(image, input_size, options.min_score, options.iou_threshold, options.max_results),
        }
    }

    /// The landmark-net input rectangle of a detection: the box clipped to the image and floored.
    pub fn landmark_crop(image: &RgbImage, detection: &Detection) -> Result<CropRect, FaceError> {
        let b = detection.bbox;
        clip_and_floor(b.x, b.y, b.width, b.height, image.width(), image.height())
            .ok_or_else(|| FaceError::InvalidInput("face box lies outside the image".into()))
    }

    /// 68 landmarks of one detected face (absolute pixels).
    pub fn landmarks(&self, image: &RgbImage, detection: &Detection) -> Result<Landmarks68, FaceError> {
        check_image(image)?;
        let crop = Self::landmark_crop(image, detection)?;
        self.landmarks_in_crop(image, crop, detection.bbox.x as f64, detection.bbox.y as f64)
    }

    /// Landmark net on an explicit crop rectangle; points shifted by `(shift_x, shift_y)` (face-api
    /// shifts by the detection box's raw x, y).
    pub fn landmarks_in_crop(
        &self,
        image: &RgbImage,
        crop: CropRect,
        shift_x: f64,
        shift_y: f64,
    ) -> Result<Landmarks68, FaceError> {
        let net = self.landmark_net.as_ref().ok_or(FaceError::ModelNotLoaded("face_landmark_68"))?;
        check_crop(image, crop)?;
        let raw = net.forward(&FaceLandmark68Net::input(image, crop))?;
        Ok(Landmarks68 { points: face_landmark_68::to_absolute(&raw, crop, shift_x, shift_y) })
    }

    /// The recognition-net input rectangle face-api derives from the landmarks (dlib alignment).
    /// `landmark_crop` (the landmark net's input size) reproduces face-api's `min(size, cw + x)`
    /// quirk; without it the square is only clipped to the image.
    pub fn descriptor_crop(
        image: &RgbImage,
        landmarks: &Landmarks68,
        landmark_crop: Option<CropRect>,
    ) -> Result<CropRect, FaceError> {
        let (cw, ch) = landmark_crop.map_or((f64::INFINITY, f64::INFINITY), |c| (c.width as f64, c.height as f64));
        face_recognition::dlib_crop(&landmarks.points, cw, ch, image.width(), image.height())
            .ok_or_else(|| FaceError::InvalidInput("aligned face crop lies outside the image".into()))
    }

    /// Descriptor of the dlib-style crop derived from the landmarks.
    pub fn descriptor(&self, image: &RgbImage, landmarks: &Landmarks68) -> Result<Descriptor, FaceError> {
        check_image(image)?;
        let crop = Self::descriptor_crop(image, landmarks, None)?;
        self.descriptor_in_crop(image, crop)
    }

    /// Recognition net on an explicit crop rectangle.
    pub fn descriptor_in_crop(&self, image: &RgbImage, crop: CropRect) -> Result<Descriptor, FaceError> {
        let net = self.recognition.as_ref().ok_or(FaceError::ModelNotLoaded("face_recognition"))?;
        check_crop(image, crop)?;
        Ok(Descriptor(net.forward(&FaceRecognitionNet::input(image, crop))?))
    }

    /// Descriptor of a pre-cropped face: the whole image is the face.
    pub fn descriptor_of_crop(&self, crop: &RgbImage) -> Result<Descriptor, FaceError> {
        check_image(crop)?;
        self.descriptor_in_crop(crop, full_rect(crop))
    }

    /// Quality and pose signals (see [`FaceSignals`]).
    pub fn signals(&self, image: &RgbImage, detection: &Detection, landmarks: &Landmarks68) -> FaceSignals {
        crate::signals::compute(image, detection, landmarks)
    }

    /// Whole pipeline (face-api `detectAllFaces().withFaceLandmarks().withFaceDescriptors()`):
    /// detect, then landmarks, descriptor and signals for every face. Faces whose box lies
    /// outside the image are skipped, as face-api's crop extraction does.
    pub fn analyze(&self, image: &RgbImage, options: &DetectOptions) -> Result<Vec<FaceAnalysis>, FaceError> {
        let detections = self.detect(image, options)?;
        let mut out = Vec::with_capacity(detections.len());
        for detection in detections {
            let Ok(lm_crop) = Self::landmark_crop(image, &detection) else { continue };
            let landmarks = self.landmarks_in_crop(image, lm_crop, detection.bbox.x as f64, detection.bbox.y as f64)?;
            let Ok(desc_crop) = Self::descriptor_crop(image, &landmarks, Some(lm_crop)) else { continue };
            let descriptor = self.descriptor_in_crop(image, desc_crop)?;
            let signals = self.signals(image, &detection, &landmarks);
            out.push(FaceAnalysis { detection, landmarks, descriptor, signals });
        }
        Ok(out)
    }
}

fn check_crop(image: &RgbImage, c: CropRect) -> Result<(), FaceError> {
    if c.width == 0
        || c.height == 0
        || c.x as u64 + c.width as u64 > image.width() as u64
        || c.y as u64 + c.height as u64 > image.height() as u64
    {
        return Err(FaceError::InvalidInput(format!(
            "crop {c:?} outside the {}x{} image",
            image.width(),
            image.height()
        )));
    }
    Ok(())
}
