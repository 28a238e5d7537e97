//! Face signals (size, sharpness, brightness, head pose, eye and mouth aspect ratios) from the image and the 68 landmarks.

use crate::geometry::clip_and_floor;
use crate::{Detection, FaceSignals, Landmarks68, RgbImage};

/// Nose-tip position between the eye line (0) and the mouth centre (1) on a typical face (median
/// over the 74 SSD faces of the golden set, 0.569); the pitch estimate is relative to it.
const FRONTAL_NOSE_RATIO: f32 = 0.57;

type P = (f32, f32);

fn sub(a: P, b: P) -> P {
    (a.0 - b.0, a.1 - b.1)
}
fn dot(a: P, b: P) -> f32 {
    a.0 * b.0 + a.1 * b.1
}
fn dist(a: P, b: P) -> f32 {
    dot(sub(a, b), sub(a, b)).sqrt()
}
fn mean(p: &[P]) -> P {
    let n = p.len() as f32;
    let (sx, sy) = p.iter().fold((0.0, 0.0), |(sx, sy), q| (sx + q.0, sy + q.1));
    (sx / n, sy / n)
}
fn finite_or_zero(v: f32) -> f32 {
    if v.is_finite() { v } else { 0.0 }
}

/// Eye aspect ratio of six eye points p1..p6: (|p2−p6| + |p3−p5|) / (2 |p1−p4|).
fn eye_aspect_ratio(e: &[P]) -> f32 {
    finite_or_zero((dist(e[1], e[5]) + dist(e[2], e[4])) / (2.0 * dist(e[0], e[3])))
}

pub(crate) fn compute(image: &RgbImage, detection: &Detection, landmarks: &Landmarks68) -> FaceSignals {
    let p = &landmarks.points;
    let b = detection.bbox;
    let (iw, ih) = (image.width(), image.height());
    let crop = clip_and_floor(b.x, b.y, b.width, b.height, iw, ih);
    let face_fraction = crop.map_or(0.0, |c| (c.width as f64 * c.height as f64 / (iw as f64 * ih as f64)) as f32);

    // Grey statistics over the clipped box.
    let (mut brightness, mut sharpness) = (0f32, 0f32);
    if let Some(c) = crop {
        let luma = |x: u32, y: u32| {
            let q = image.get_pixel(x, y).0;
            0.299 * q[0] as f32 + 0.587 * q[1] as f32 + 0.114 * q[2] as f32
        };
        let mut sum = 0f64;
        for y in c.y..c.y + c.height {
            for x in c.x..c.x + c.width {
                sum += luma(x, y) as f64;
            }
        }
        brightness = (sum / (c.width as f64 * c.height as f64) / 255.0) as f32;
        if c.width >= 3 && c.height >= 3 {
            let (mut s, mut s2, mut n) = (0f64, 0f64, 0f64);
            for y in c.y + 1..c.y + c.height - 1 {
                for x in c.x + 1..c.x + c.width - 1 {
                    let l =
                        (luma(x - 1, y) + luma(x + 1, y) + luma(x, y - 1) + luma(x, y + 1) - 4.0 * luma(x, y)) as f64;
                    s += l;
                    s2 += l * l;
                    n += 1.0;
                }
            }
            sharpness = ((s2 / n) - (s / n).powi(2)).max(0.0) as f32;
        }
    }

    let right_eye = mean(&p[36..42]);
    let left_eye = mean(&p[42..48]);
    let eye_vec = sub(left_eye, right_eye);
    let roll_deg = finite_or_zero(eye_vec.1.atan2(eye_vec.0).to_degrees());

    // Pose from the nose tip (30) in the face's own frame (eye axis u, perpendicular v).
    let outer_r = p[36];
    let outer_l = p[45];
    let axis = sub(outer_l, outer_r);
    let eye_span = dot(axis, axis).sqrt();
    let u = (axis.0 / eye_span, axis.1 / eye_span);
    let v = (-u.1, u.0);
    let nose = p[30];
    let t = dot(sub(nose, outer_r), u) / eye_span;
    let yaw_deg = finite_or_zero((2.0 * t - 1.0).clamp(-1.0, 1.0).asin().to_degrees() * (60.0 / 90.0));
    let eyes_mid = mean(&[right_eye, left_eye]);
    let mouth = mean(&p[48..68]);
    let s = dot(sub(nose, eyes_mid), v) / dot(sub(mouth, eyes_mid), v);
    let pitch_deg = finite_or_zero(((FRONTAL_NOSE_RATIO - s) * 120.0).clamp(-90.0, 90.0));

    let inner_w = dist(p[60], p[64]);
    let mouth_open = (dist(p[61], p[67]) + dist(p[62], p[66]) + dist(p[63], p[65])) / 3.0;

    FaceSignals {
        face_width_px: b.width,
        face_fraction,
        sharpness,
        brightness,
        yaw_deg,
        pitch_deg,
        roll_deg,
        ear_left: eye_aspect_ratio(&p[42..48]),
        ear_right: eye_aspect_ratio(&p[36..42]),
        mouth_aspect_ratio: finite_or_zero(mouth_open / inner_w),
    }
}
