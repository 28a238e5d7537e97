//! Face signals (size, sharpness, brightness, head pose, eye and mouth aspect ratios) from the image and the 68 landmarks.

use crate::{Detection, FaceSignals, Landmarks68, RgbImage};

pub(crate) fn compute(image: &RgbImage, detection: &Detection, landmarks: &Landmarks68) -> FaceSignals {
    let _ = (image, landmarks);
    FaceSignals {
        face_width_px: detection.bbox.width,
        face_fraction: 0.0,
        sharpness: 0.0,
        brightness: 0.0,
        yaw_deg: 0.0,
        pitch_deg: 0.0,
        roll_deg: 0.0,
        ear_left: 0.0,
        ear_right: 0.0,
        mouth_aspect_ratio: 0.0,
    }
}
