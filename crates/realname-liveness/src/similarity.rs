//! Replay check by similarity: a fingerprint of an uploaded frame that survives re-encoding,
//! resizing and small crops, so a past upload sent again (possibly re-compressed or scaled)
//! is recognised, unlike the exact-bits [`crate::fingerprint`].
//!
//! Two 64-bit perceptual hashes (DCT of a 32×32 grey image, the 8×8 lowest frequencies
//! against their median): one of the face, aligned on the landmarks (eye line horizontal,
//! scaled to the eye–mouth distance, so resizing and cropping the frame do not move it), one
//! of the face's surroundings, anchored on the landmarks too (hair, clothes, background and
//! lighting of that one capture, a square four eye–mouth distances wide). A frame is taken
//! for an earlier one only when both are close: the same person photographed again in
//! another session has a similar face hash but not the same frame.

// Per-channel loops index several parallel [f32; 3] arrays at once; an index reads clearer.
#![allow(clippy::needless_range_loop)]

use image::RgbImage;
use realname_face::Landmarks68;
use serde::{Deserialize, Serialize};

/// Hashes of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SimilarityPrint {
    /// Aligned-face hash.
    pub face: u64,
    /// Hash of the face's surroundings (a square 4 eye–mouth distances wide).
    pub frame: u64,
}

/// Hamming-distance thresholds for one frame, and how much of an upload must match one
/// earlier upload to be a copy of it (measured: crate README, "Replay check by similarity").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SimilarityConfig {
    /// Most differing face bits for "same capture".
    pub max_face_bits: u32,
    /// Most differing frame bits for "same capture".
    pub max_frame_bits: u32,
    /// Share of an upload's frames (with a print) that must match frames of one earlier
    /// upload, in the same order, for the upload to be a copy of it.
    pub min_matched_share: f32,
    /// And at least this many frames.
    pub min_matched_frames: usize,
}

impl Default for SimilarityConfig {
    fn default() -> Self {
        SimilarityConfig { max_face_bits: 10, max_frame_bits: 12, min_matched_share: 0.6, min_matched_frames: 4 }
    }
}

/// How many frames of `upload` match frames of `earlier` one to one and in the same order
/// (the longest such pairing): a re-sent recording keeps its frames' order, while a person
/// holding still in a new attempt matches many earlier frames in any order.
pub fn matched_in_order(upload: &[SimilarityPrint], earlier: &[SimilarityPrint], config: &SimilarityConfig) -> usize {
    // Longest common subsequence under "matches"; both sides are bounded by the upload
    // limits (a few dozen frames), so the quadratic table is small.
    let m = earlier.len();
    let mut row = vec![0usize; m + 1];
    for a in upload {
        let mut diagonal = 0;
        for (j, b) in earlier.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if a.matches(b, config) { diagonal + 1 } else { above.max(row[j]) };
            diagonal = above;
        }
    }
    row[m]
}

/// Whether `upload` is a copy (re-sent, re-encoded, resized or cropped) of `earlier`.
pub fn is_copy_of(upload: &[SimilarityPrint], earlier: &[SimilarityPrint], config: &SimilarityConfig) -> bool {
    if upload.is_empty() {
        return false;
    }
    let matched = matched_in_order(upload, earlier, config);
    matched >= config.min_matched_frames && matched as f32 >= config.min_matched_share * upload.len() as f32
}

impl SimilarityPrint {
    /// Bits that differ (face, frame).
    pub fn distance(&self, other: &SimilarityPrint) -> (u32, u32) {
        ((self.face ^ other.face).count_ones(), (self.frame ^ other.frame).count_ones())
    }

    /// Whether `other` is (a re-encoded, resized or cropped copy of) the same capture.
    pub fn matches(&self, other: &SimilarityPrint, config: &SimilarityConfig) -> bool {
        let (f, g) = self.distance(other);
        f <= config.max_face_bits && g <= config.max_frame_bits
    }
}

fn luma(p: [u8; 3]) -> f32 {
    0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])
}

fn bilinear(img: &RgbImage, x: f32, y: f32) -> f32 {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let x = x.clamp(0.0, w - 1.0);
    let y = y.clamp(0.0, h - 1.0);
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x1, y1) = ((x0 + 1.0).min(w - 1.0), (y0 + 1.0).min(h - 1.0));
    let g = |xx: f32, yy: f32| luma(img.get_pixel(xx as u32, yy as u32).0);
    g(x0, y0) * (1.0 - fx) * (1.0 - fy)
        + g(x1, y0) * fx * (1.0 - fy)
        + g(x0, y1) * (1.0 - fx) * fy
        + g(x1, y1) * fx * fy
}

/// 32×32 grey samples of the square with centre `c`, side `side`, rotated by `angle`
/// (4×4 sub-samples per cell: an area average, so the scale of the source does not alias).
fn sample(img: &RgbImage, c: (f32, f32), side: f32, angle: f32) -> [f32; 1024] {
    let (s, co) = angle.sin_cos();
    let mut out = [0f32; 1024];
    for j in 0..32 {
        for i in 0..32 {
            let mut acc = 0.0;
            for sj in 0..4 {
                for si in 0..4 {
                    let u = ((i as f32 + (si as f32 + 0.5) / 4.0) / 32.0 - 0.5) * side;
                    let v = ((j as f32 + (sj as f32 + 0.5) / 4.0) / 32.0 - 0.5) * side;
                    acc += bilinear(img, c.0 + u * co - v * s, c.1 + u * s + v * co);
                }
            }
            out[j * 32 + i] = acc / 16.0;
        }
    }
    out
}

/// 64-bit pHash of 32×32 samples: 8×8 lowest DCT-II frequencies (DC replaced by the (0,8)
/// term's neighbour-free position: all 64 used, DC excluded from the median) vs their median.
fn phash(px: &[f32; 1024]) -> u64 {
    let cos: Vec<f32> = (0..8 * 32)
        .map(|k| {
            let (u, x) = (k / 32, k % 32);
            ((2 * x + 1) as f32 * u as f32 * std::f32::consts::PI / 64.0).cos()
        })
        .collect();
    // Rows then columns, only the 8 lowest frequencies.
    let mut rows = [0f32; 32 * 8];
    for y in 0..32 {
        for u in 0..8 {
            rows[y * 8 + u] = (0..32).map(|x| px[y * 32 + x] * cos[u * 32 + x]).sum();
        }
    }
    let mut coef = [0f32; 64];
    for v in 0..8 {
        for u in 0..8 {
            coef[v * 8 + u] = (0..32).map(|y| rows[y * 8 + u] * cos[v * 32 + y]).sum();
        }
    }
    let mut ac: Vec<f32> = coef[1..].to_vec();
    ac.sort_by(f32::total_cmp);
    let median = ac[ac.len() / 2];
    let mut bits = 0u64;
    for (k, &c) in coef.iter().enumerate().skip(1) {
        if c > median {
            bits |= 1 << k;
        }
    }
    bits
}

/// The similarity fingerprint of a frame and its face's landmarks; `None` for an empty image
/// or degenerate landmarks.
pub fn similarity_print(img: &RgbImage, landmarks: &Landmarks68) -> Option<SimilarityPrint> {
    if img.width() < 2 || img.height() < 2 {
        return None;
    }
    let p = &landmarks.points;
    let mean = |r: std::ops::Range<usize>| {
        let n = r.len() as f32;
        let (sx, sy) = p[r].iter().fold((0.0, 0.0), |(a, b), &(x, y)| (a + x, b + y));
        (sx / n, sy / n)
    };
    let (er, el, mouth) = (mean(36..42), mean(42..48), mean(48..68));
    let eyes = ((er.0 + el.0) / 2.0, (er.1 + el.1) / 2.0);
    let angle = (el.1 - er.1).atan2(el.0 - er.0);
    let em = ((mouth.0 - eyes.0).powi(2) + (mouth.1 - eyes.1).powi(2)).sqrt();
    if !(em.is_finite() && em > 2.0 && angle.is_finite()) {
        return None;
    }
    let centre = ((eyes.0 + mouth.0) / 2.0, (eyes.1 + mouth.1) / 2.0);
    let face = phash(&sample(img, centre, 1.8 * em, angle));
    // The face's surroundings (hair, clothes, background), anchored on the landmarks too, so
    // that cropping or scaling the frame does not move it.
    let frame = phash(&sample(img, centre, 4.0 * em, angle));
    Some(SimilarityPrint { face, frame })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageEncoder, Rgb};

    /// A textured synthetic "capture": smooth colour gradients, a few blobs, and a face-like
    /// pattern where the landmarks are.
    fn scene(seed: u32) -> (RgbImage, Landmarks68) {
        let (w, h) = (640u32, 480u32);
        let s = seed as f32;
        let img = RgbImage::from_fn(w, h, |x, y| {
            let (xf, yf) = (x as f32, y as f32);
            let a = (xf * 0.013 + s).sin() * (yf * 0.021 + 2.0 * s).cos();
            let b = ((xf - 320.0).powi(2) + (yf - 220.0).powi(2)).sqrt();
            let face = if b < 110.0 { 60.0 * ((xf * 0.09 + s).sin() + (yf * 0.07).cos()) } else { 0.0 };
            let v = 120.0 + 70.0 * a + face;
            Rgb([v.clamp(0.0, 255.0) as u8, (v * 0.8).clamp(0.0, 255.0) as u8, (255.0 - v).clamp(0.0, 255.0) as u8])
        });
        let mut points = [(0f32, 0f32); 68];
        for (i, p) in points.iter_mut().enumerate() {
            let t = i as f32 / 68.0 * std::f32::consts::TAU;
            *p = (320.0 + 90.0 * t.cos(), 230.0 + 110.0 * t.sin());
        }
        for i in 36..42 {
            points[i] = (280.0 + (i - 36) as f32 * 3.0, 200.0);
        }
        for i in 42..48 {
            points[i] = (350.0 + (i - 42) as f32 * 3.0, 200.0);
        }
        for i in 48..68 {
            points[i] = (300.0 + (i - 48) as f32 * 2.0, 280.0);
        }
        (img, Landmarks68 { points })
    }

    fn reencode(img: &RgbImage, q: u8) -> RgbImage {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q)
            .write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::Rgb8)
            .expect("encode");
        image::load_from_memory(&out).expect("decode").to_rgb8()
    }

    fn map(lm: &Landmarks68, f: impl Fn((f32, f32)) -> (f32, f32)) -> Landmarks68 {
        Landmarks68 { points: lm.points.map(f) }
    }

    #[test]
    fn survives_reencoding_resizing_and_small_crops() {
        let cfg = SimilarityConfig::default();
        for seed in 0..4 {
            let (img, lm) = scene(seed);
            let orig = similarity_print(&img, &lm).expect("print");
            // Re-encoded at low quality.
            let re = similarity_print(&reencode(&img, 50), &lm).expect("print");
            assert!(orig.matches(&re, &cfg), "jpeg 50: {:?}", orig.distance(&re));
            // Resized to 60 % and 130 % (landmarks scale with it; ±1 px landmark noise).
            for scale in [0.6f32, 1.3] {
                let (w, h) = ((640.0 * scale) as u32, (480.0 * scale) as u32);
                let small = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
                let lm2 = map(&lm, |(x, y)| (x * scale + 0.7, y * scale - 0.5));
                let p = similarity_print(&reencode(&small, 80), &lm2).expect("print");
                assert!(orig.matches(&p, &cfg), "scale {scale}: {:?}", orig.distance(&p));
            }
            // Cropped by 4 % on the left and top.
            let (dx, dy) = (26u32, 19u32);
            let crop = image::imageops::crop_imm(&img, dx, dy, 640 - dx, 480 - dy).to_image();
            let lm3 = map(&lm, |(x, y)| (x - dx as f32, y - dy as f32));
            let p = similarity_print(&reencode(&crop, 85), &lm3).expect("print");
            assert!(orig.matches(&p, &cfg), "crop: {:?}", orig.distance(&p));
        }
    }

    #[test]
    fn different_captures_do_not_match() {
        let cfg = SimilarityConfig::default();
        let prints: Vec<SimilarityPrint> = (0..6)
            .map(|s| {
                let (img, lm) = scene(s * 7 + 1);
                similarity_print(&img, &lm).expect("print")
            })
            .collect();
        for i in 0..prints.len() {
            for j in i + 1..prints.len() {
                assert!(!prints[i].matches(&prints[j], &cfg), "{i} vs {j}: {:?}", prints[i].distance(&prints[j]));
            }
        }
    }

    #[test]
    fn an_upload_is_a_copy_when_most_of_its_frames_match_in_order() {
        let cfg = SimilarityConfig::default();
        let print =
            |k: u64| SimilarityPrint { face: k.wrapping_mul(0x9e37_79b9_7f4a_7c15), frame: k.rotate_left(17) ^ k };
        let earlier: Vec<SimilarityPrint> = (1..=10).map(print).collect();
        // The same frames with a bit flipped each (re-encoding noise): all ten match in order.
        let noisy: Vec<SimilarityPrint> =
            earlier.iter().map(|p| SimilarityPrint { face: p.face ^ 1, frame: p.frame ^ 2 }).collect();
        assert_eq!(matched_in_order(&noisy, &earlier, &cfg), 10);
        assert!(is_copy_of(&noisy, &earlier, &cfg));
        // Reversed: one-to-one but in the opposite order, only one pair keeps the order.
        let reversed: Vec<SimilarityPrint> = noisy.iter().rev().copied().collect();
        assert_eq!(matched_in_order(&reversed, &earlier, &cfg), 1);
        assert!(!is_copy_of(&reversed, &earlier, &cfg));
        // Half the frames new: under the share.
        let half: Vec<SimilarityPrint> = noisy[..5].iter().copied().chain((100..105).map(print)).collect();
        assert_eq!(matched_in_order(&half, &earlier, &cfg), 5);
        assert!(!is_copy_of(&half, &earlier, &cfg));
        // Too few frames to tell, and nothing at all.
        assert!(!is_copy_of(&noisy[..3], &earlier, &cfg));
        assert!(!is_copy_of(&[], &earlier, &cfg));
    }

    #[test]
    fn degenerate_input_gives_none() {
        let (img, _) = scene(1);
        let lm = Landmarks68 { points: [(10.0, 10.0); 68] };
        assert!(similarity_print(&img, &lm).is_none());
        let (_, lm) = scene(1);
        assert!(similarity_print(&RgbImage::new(1, 1), &lm).is_none());
    }
}
