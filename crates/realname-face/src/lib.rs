//! Face engine: detection, 68 landmarks, alignment, 128-D descriptors and face signals, ported from face-api 1.7.15 onto candle.
//!
//! The engine is a pure library: it reads the face-api weight files from a directory the caller
//! names, and never touches the network, a database or the file system otherwise.
//!
//! Pipeline (as `detectAllFaces(img).withFaceLandmarks().withFaceDescriptors()` in face-api):
//! detector ([`DetectorKind::Ssd`] or [`DetectorKind::Tiny`]) → 68-point landmark net on the
//! clipped detection box → dlib-style square crop from the landmarks → ResNet-29 recognition
//! net → 128-D [`Descriptor`] compared with Euclidean distance ([`DEFAULT_MATCH_THRESHOLD`]).
//!
//! Fidelity: fed the same pixels, outputs match face-api 1.7.15 (tfjs wasm) to f32 rounding —
//! descriptors within L2 5e-6, landmarks within 1e-6 box widths, identical crop rectangles (see
//! `tests/face/`). JPEG decoders differ from jpeg-js by a few grey levels, which can move a floored
//! crop by one pixel; verification accuracy on the public pairs is unchanged (99.56 % at 0.6).
//!
//! Threads: convolutions run on the `gemm` crate with as many threads as candle would use
//! (`RAYON_NUM_THREADS`, default all cores); set `RAYON_NUM_THREADS=1` for one core per call, or
//! cap one thread's calls with [`with_threads`].
//!
//! [`FaceEngine::descriptor`] gets only the landmarks, so it cannot reproduce face-api's
//! `min(size, landmark_crop_width + x)` clamp of the aligned square (it only matters when the face
//! touches the left/top image border); [`FaceEngine::analyze`] passes the landmark crop and is exact.

mod engine;
mod error;
mod face_landmark_68;
mod face_recognition;
pub mod geometry;
mod image_io;
mod ops;
mod preprocess;
mod signals;
mod ssd_mobilenetv1;
mod threads;
mod tiny_face_detector;
pub mod weights;

pub use engine::{EngineConfig, FaceEngine, LandmarkNet};
pub use error::FaceError;
pub use geometry::{BoundingBox, CropRect};
pub use image::RgbImage;
pub use image_io::{ImageLimits, decode_image};
pub use threads::with_threads;

use serde::{Deserialize, Serialize};

/// Which face detector [`FaceEngine::detect`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DetectorKind {
    /// SSD MobileNet v1 at 512×512 (face-api `SsdMobilenetv1`): the accurate detector.
    Ssd,
    /// Tiny-YOLOv2-style detector (face-api `TinyFaceDetector`); `input_size` must be a
    /// positive multiple of 32 (face-api uses 416 by default; 128..=608 are typical).
    Tiny {
        /// Side of the square network input in pixels.
        input_size: u32,
    },
}

/// Detector options, mirroring face-api's `SsdMobilenetv1Options` / `TinyFaceDetectorOptions`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DetectOptions {
    /// Which detector to run.
    pub detector: DetectorKind,
    /// A candidate is kept when its score is strictly greater than this (face-api: 0.5).
    pub min_score: f32,
    /// Greedy NMS drops a candidate whose IoU with a kept box is greater than this
    /// (face-api: 0.5 for SSD, 0.4 for the tiny detector).
    pub iou_threshold: f32,
    /// At most this many faces are returned (highest scores first).
    pub max_results: usize,
}

impl Default for DetectOptions {
    fn default() -> Self {
        Self { detector: DetectorKind::Ssd, min_score: 0.5, iou_threshold: 0.5, max_results: 100 }
    }
}

impl DetectOptions {
    /// face-api's `TinyFaceDetectorOptions` defaults for a given input size (score 0.5, IoU 0.4).
    pub fn tiny(input_size: u32) -> Self {
        Self { detector: DetectorKind::Tiny { input_size }, min_score: 0.5, iou_threshold: 0.4, max_results: 100 }
    }
}

/// One detected face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Box in pixels of the original image (may extend past the image border for the tiny detector).
    pub bbox: BoundingBox,
    /// Detector confidence in (0, 1).
    pub score: f32,
}

/// The 68 iBUG/dlib landmarks in absolute pixels of the original image
/// (jaw 0–16, brows 17–26, nose 27–35, eyes 36–41 (subject's right) / 42–47, mouth 48–67).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Landmarks68 {
    /// `(x, y)` per point, pixels.
    #[serde(with = "points68")]
    pub points: [(f32, f32); 68],
}

mod points68 {
    //! Serde for `[(f32, f32); 68]` (serde's derive stops at arrays of 32).
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub(crate) fn serialize<S: Serializer>(points: &[(f32, f32); 68], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(points.iter())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[(f32, f32); 68], D::Error> {
        let v: Vec<(f32, f32)> = Vec::deserialize(d)?;
        v.try_into().map_err(|v: Vec<(f32, f32)>| D::Error::invalid_length(v.len(), &"68 points"))
    }
}

/// A 128-D face descriptor exactly as face-api's recognition net outputs it (NOT L2-normalised;
/// typical L2 norm 1.3–1.65). Compare two with [`Descriptor::distance`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Descriptor(pub [f32; 128]);

/// Euclidean distance below which two descriptors are taken to be the same person (face-api's
/// `FaceMatcher` default).
pub const DEFAULT_MATCH_THRESHOLD: f32 = 0.6;

/// Byte length of [`Descriptor::to_bytes`].
pub const DESCRIPTOR_BYTES: usize = 128 * 4;

impl Descriptor {
    /// Euclidean (L2) distance; `< DEFAULT_MATCH_THRESHOLD` means "same person".
    pub fn distance(&self, other: &Descriptor) -> f32 {
        self.0.iter().zip(other.0.iter()).map(|(a, b)| (a - b) * (a - b)).sum::<f32>().sqrt()
    }

    /// Compact storage form: the 128 values as little-endian f32 (512 bytes).
    pub fn to_bytes(&self) -> [u8; DESCRIPTOR_BYTES] {
        let mut out = [0u8; DESCRIPTOR_BYTES];
        for (chunk, v) in out.chunks_exact_mut(4).zip(self.0.iter()) {
            chunk.copy_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Inverse of [`Descriptor::to_bytes`]; `None` unless exactly 512 bytes of finite values.
    pub fn from_bytes(bytes: &[u8]) -> Option<Descriptor> {
        if bytes.len() != DESCRIPTOR_BYTES {
            return None;
        }
        let mut d = [0f32; 128];
        for (v, chunk) in d.iter_mut().zip(bytes.chunks_exact(4)) {
            *v = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            if !v.is_finite() {
                return None;
            }
        }
        Some(Descriptor(d))
    }
}

impl Serialize for Descriptor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter())
    }
}

impl<'de> Deserialize<'de> for Descriptor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let v: Vec<f32> = Vec::deserialize(d)?;
        let arr: [f32; 128] = v.try_into().map_err(|v: Vec<f32>| D::Error::invalid_length(v.len(), &"128 values"))?;
        Ok(Descriptor(arr))
    }
}

/// Cheap per-face quality and pose measurements for liveness / capture guidance, computed from
/// the image, the detection box and the 68 landmarks (no extra network).
///
/// Conventions: image coordinates (x right, y down); "left"/"right" are the **subject's** own
/// left/right (landmarks 42–47 are the subject's left eye, which appears on the image's right
/// side in a non-mirrored photo).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaceSignals {
    /// Detection box width in pixels.
    pub face_width_px: f32,
    /// Detection box area divided by image area, 0..=1 (clipped to the image).
    pub face_fraction: f32,
    /// Variance of a 3×3 Laplacian of the grey face crop (0..255 grey levels, squared); higher is
    /// sharper. Blurred faces are typically < 50, crisp webcam faces > 100.
    pub sharpness: f32,
    /// Mean grey level of the face box, 0..=1 (Rec. 601 luma / 255).
    pub brightness: f32,
    /// Head yaw in degrees, estimated from the nose tip's horizontal position between the outer
    /// eye corners: 0 = frontal, positive = face turned towards the image's right (subject's
    /// left), roughly ±60 at full profile.
    pub yaw_deg: f32,
    /// Head pitch in degrees from the nose tip's vertical position between the eye line and the
    /// mouth: 0 ≈ frontal, positive = looking up, negative = looking down.
    pub pitch_deg: f32,
    /// In-plane roll in degrees: angle of the line from the subject's right eye centre to the
    /// left eye centre; positive = clockwise in the image (subject's left eye lower).
    pub roll_deg: f32,
    /// Eye aspect ratio (Soukupová & Čech 2016) of the subject's left eye (points 42–47);
    /// ≈ 0.25–0.35 open, < 0.2 closed.
    pub ear_left: f32,
    /// Eye aspect ratio of the subject's right eye (points 36–41).
    pub ear_right: f32,
    /// Inner-lip opening / inner-lip width (points 60–67); ≈ 0 closed, > 0.3 open.
    pub mouth_aspect_ratio: f32,
}

/// Everything the pipeline yields for one face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaceAnalysis {
    /// Detector output.
    pub detection: Detection,
    /// Landmarks in absolute pixels.
    pub landmarks: Landmarks68,
    /// 128-D descriptor of the dlib-aligned crop.
    pub descriptor: Descriptor,
    /// Quality and pose measurements.
    pub signals: FaceSignals,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<FaceEngine>();
        assert_send_sync::<FaceAnalysis>();
    }

    #[test]
    fn descriptor_distance_and_bytes() {
        let mut a = [0f32; 128];
        a[0] = 3.0;
        let mut b = [0f32; 128];
        b[1] = 4.0;
        assert!((Descriptor(a).distance(&Descriptor(b)) - 5.0).abs() < 1e-6);
        let d = Descriptor(a);
        assert_eq!(Descriptor::from_bytes(&d.to_bytes()), Some(d));
        let mut nan = d.to_bytes();
        nan[0..4].copy_from_slice(&f32::NAN.to_le_bytes());
        assert_eq!(Descriptor::from_bytes(&nan), None);
    }

    #[test]
    fn landmarks_serde_round_trip() {
        let mut points = [(0f32, 0f32); 68];
        points[67] = (1.5, 2.5);
        let lm = Landmarks68 { points };
        let json = serde_json::to_string(&lm).expect("serialise");
        assert_eq!(serde_json::from_str::<Landmarks68>(&json).expect("deserialise"), lm);
        assert!(serde_json::from_str::<Landmarks68>(r#"{"points":[[1,2]]}"#).is_err());
    }
}
