//! face-api's `NetInput.toBatchTensor`: crop, zero-pad to a square (bottom/right or centred),
//! legacy TF bilinear resize (no half-pixel centres, no anti-aliasing), per-net normalisation.

use crate::RgbImage;
use crate::geometry::CropRect;
use crate::ops::Fmap;

/// Where the zero padding of a non-square input goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Padding {
    /// All padding after the content (bottom or right): the detectors.
    BottomRight,
    /// `round(diff / 2)` after, the rest before: landmark and recognition nets.
    Centred,
}

/// Per-net normalisation `(x − mean[c]) · factor + offset`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Normalise {
    pub mean: [f32; 3],
    pub divisor: f32,
    pub offset: f32,
}

/// Tiny face detector: `(x − mean) / 255`.
pub(crate) const TINY_NORM: Normalise = Normalise { mean: [117.001, 114.697, 97.404], divisor: 255.0, offset: 0.0 };
/// SSD MobileNet v1: `x / 127.5 − 1`.
pub(crate) const SSD_NORM: Normalise = Normalise { mean: [0.0, 0.0, 0.0], divisor: 127.5, offset: -1.0 };
/// Landmark and recognition nets: `(x − mean) / 255`.
pub(crate) const FACE_NORM: Normalise = Normalise { mean: [122.782, 117.001, 104.298], divisor: 255.0, offset: 0.0 };

/// Resized (not yet normalised) `size × size × 3` input of a net, plus the geometry needed to
/// undo the padding.
pub(crate) fn resize_padded(image: &RgbImage, crop: CropRect, size: usize, padding: Padding) -> Fmap {
    crate::ops::vectorised(
        #[inline(always)]
        || resize_kernel(image, crop, size, padding),
    )
}

#[inline(always)]
fn resize_kernel(image: &RgbImage, crop: CropRect, size: usize, padding: Padding) -> Fmap {
    let (cw, ch) = (crop.width as usize, crop.height as usize);
    let side = cw.max(ch);
    let diff = side - cw.min(ch);
    let after = match padding {
        Padding::BottomRight => diff,
        // JS Math.round(diff / 2): halves round up.
        Padding::Centred => diff.div_ceil(2),
    };
    let before = diff - after;
    let (off_y, off_x) = if ch < cw { (before, 0) } else { (0, before) };
    let raw = image.as_raw();
    let stride = image.width() as usize * 3;
    // Value of the padded square at (r, c), channel k.
    let at = |r: usize, c: usize, k: usize| -> f32 {
        let (r, c) = (r as isize - off_y as isize, c as isize - off_x as isize);
        if r < 0 || c < 0 || r >= ch as isize || c >= cw as isize {
            return 0.0;
        }
        let idx = (crop.y as usize + r as usize) * stride + (crop.x as usize + c as usize) * 3 + k;
        raw[idx] as f32
    };
    let mut out = Fmap::zeros(size, size, 3);
    if side == size {
        for r in 0..size {
            for c in 0..size {
                for k in 0..3 {
                    out.data[(r * size + c) * 3 + k] = at(r, c, k);
                }
            }
        }
        return out;
    }
    let ratio = side as f64 / size as f64;
    let axis = |i: usize| {
        let src = i as f64 * ratio;
        let lo = src.floor();
        let hi = (src.ceil() as usize).min(side - 1);
        (lo as usize, hi, (src - lo) as f32)
    };
    let cols: Vec<(usize, usize, f32)> = (0..size).map(axis).collect();
    for r in 0..size {
        let (r0, r1, fr) = axis(r);
        for (c, &(c0, c1, fc)) in cols.iter().enumerate() {
            for k in 0..3 {
                let tl = at(r0, c0, k);
                let tr = at(r0, c1, k);
                let bl = at(r1, c0, k);
                let br = at(r1, c1, k);
                let top = tl + (tr - tl) * fc;
                let bot = bl + (br - bl) * fc;
                out.data[(r * size + c) * 3 + k] = top + (bot - top) * fr;
            }
        }
    }
    out
}

/// In place `(x − mean[c]) / divisor + offset`.
pub(crate) fn normalise(x: &mut Fmap, n: Normalise) {
    for px in x.data.chunks_exact_mut(3) {
        for (v, m) in px.iter_mut().zip(n.mean) {
            *v = (*v - m) / n.divisor + n.offset;
        }
    }
}

/// The whole image as a crop rectangle.
pub(crate) fn full_rect(image: &RgbImage) -> CropRect {
    CropRect { x: 0, y: 0, width: image.width(), height: image.height() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centred_padding_puts_the_larger_half_after() {
        // 3 wide, 6 high: diff 3 → 2 columns after, 1 before.
        let img = RgbImage::from_pixel(3, 6, image::Rgb([9, 9, 9]));
        let out = resize_padded(&img, full_rect(&img), 6, Padding::Centred);
        let row: Vec<f32> = (0..6).map(|c| out.data[c * 3]).collect();
        assert_eq!(row, vec![0.0, 9.0, 9.0, 9.0, 0.0, 0.0]);
        let out = resize_padded(&img, full_rect(&img), 6, Padding::BottomRight);
        let row: Vec<f32> = (0..6).map(|c| out.data[c * 3]).collect();
        assert_eq!(row, vec![9.0, 9.0, 9.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn legacy_bilinear_downsamples_by_sampling() {
        let mut img = RgbImage::new(4, 4);
        for (x, y, p) in img.enumerate_pixels_mut() {
            *p = image::Rgb([(x * 10 + y) as u8, 0, 0]);
        }
        let out = resize_padded(&img, full_rect(&img), 2, Padding::BottomRight);
        // src = i·2 exactly: picks pixels (0,0), (2,0), (0,2), (2,2).
        assert_eq!(out.data[0], 0.0);
        assert_eq!(out.data[3], 20.0);
        assert_eq!(out.data[6], 2.0);
        assert_eq!(out.data[9], 22.0);
    }
}
