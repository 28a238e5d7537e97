//! Pixel pre-processing for the QR reader: luma, contrast stretch, adaptive threshold, rescaling, smoothing.

use image::{GrayImage, RgbImage};

/// A single-channel image with its own buffer (row-major), independent of the `image` crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Luma {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height` grey levels, 0 = black.
    pub pixels: Vec<u8>,
}

impl Luma {
    /// Wraps a buffer; `None` when its length is not `width * height`.
    pub fn new(width: usize, height: usize, pixels: Vec<u8>) -> Option<Self> {
        (width.checked_mul(height)? == pixels.len()).then_some(Self { width, height, pixels })
    }

    /// Rec. 601 luma of an RGB image (integer weights 77/150/29).
    pub fn from_rgb(img: &RgbImage) -> Self {
        let pixels = img
            .pixels()
            .map(|p| ((77 * u32::from(p.0[0]) + 150 * u32::from(p.0[1]) + 29 * u32::from(p.0[2]) + 128) >> 8) as u8)
            .collect();
        Self { width: img.width() as usize, height: img.height() as usize, pixels }
    }

    /// Equal-weight mean of R, G and B. A photographed screen shows its RGB sub-pixel stripes
    /// as colour moiré; with Rec. 601 weights the green stripes come out twice as bright as the
    /// red and six times as bright as the blue ones, so the moiré turns into dark bands that
    /// look like modules. Equal weights give every stripe the same grey and cancel most of it.
    pub fn from_rgb_balanced(img: &RgbImage) -> Self {
        let pixels =
            img.pixels().map(|p| ((u32::from(p.0[0]) + u32::from(p.0[1]) + u32::from(p.0[2]) + 1) / 3) as u8).collect();
        Self { width: img.width() as usize, height: img.height() as usize, pixels }
    }

    /// Copies a `GrayImage`.
    pub fn from_gray(img: &GrayImage) -> Self {
        Self { width: img.width() as usize, height: img.height() as usize, pixels: img.as_raw().clone() }
    }

    pub(crate) fn at(&self, x: usize, y: usize) -> u8 {
        self.pixels[y * self.width + x]
    }
}

/// Stretches the 1st..99th percentile of grey levels to 0..255 (a no-op on flat images).
pub fn stretch_contrast(img: &Luma) -> Luma {
    let mut hist = [0usize; 256];
    for &p in &img.pixels {
        hist[p as usize] += 1;
    }
    let n = img.pixels.len();
    let cut = n / 100;
    let (mut lo, mut acc) = (0usize, 0usize);
    for (i, &h) in hist.iter().enumerate() {
        acc += h;
        if acc > cut {
            lo = i;
            break;
        }
    }
    let (mut hi, mut acc) = (255usize, 0usize);
    for (i, &h) in hist.iter().enumerate().rev() {
        acc += h;
        if acc > cut {
            hi = i;
            break;
        }
    }
    if hi <= lo + 8 {
        return img.clone();
    }
    let span = (hi - lo) as u32;
    let lut: Vec<u8> = (0..256u32).map(|v| (v.saturating_sub(lo as u32) * 255 / span).min(255) as u8).collect();
    Luma { width: img.width, height: img.height, pixels: img.pixels.iter().map(|&p| lut[p as usize]).collect() }
}

/// Local-mean threshold: a pixel is dark when it is below the mean of its `window`-sized
/// neighbourhood by more than `offset` grey levels plus `ratio` of that mean. Uses an integral
/// image, so the cost does not depend on the window.
pub fn adaptive_threshold(img: &Luma, window: usize, offset: u32, ratio_percent: u32) -> Vec<bool> {
    let (w, h) = (img.width, img.height);
    if w == 0 || h == 0 {
        return Vec::new();
    }
    let stride = w + 1;
    let mut integral = vec![0u64; stride * (h + 1)];
    for y in 0..h {
        let mut row = 0u64;
        for x in 0..w {
            row += u64::from(img.at(x, y));
            integral[(y + 1) * stride + x + 1] = integral[y * stride + x + 1] + row;
        }
    }
    let r = (window / 2).max(1);
    let mut out = vec![false; w * h];
    for y in 0..h {
        let y0 = y.saturating_sub(r);
        let y1 = (y + r + 1).min(h);
        for x in 0..w {
            let x0 = x.saturating_sub(r);
            let x1 = (x + r + 1).min(w);
            let area = ((x1 - x0) * (y1 - y0)) as u64;
            let sum = integral[y1 * stride + x1] + integral[y0 * stride + x0]
                - integral[y0 * stride + x1]
                - integral[y1 * stride + x0];
            let v = i64::from(img.at(x, y)) * (area as i64) * 100;
            let limit =
                (sum as i64) * i64::from(100 - ratio_percent.min(100)) - i64::from(offset) * (area as i64) * 100;
            out[y * w + x] = v < limit;
        }
    }
    out
}

/// Otsu's global threshold level.
pub fn otsu_level(img: &Luma) -> u8 {
    let mut hist = [0f64; 256];
    for &p in &img.pixels {
        hist[p as usize] += 1.0;
    }
    let total: f64 = img.pixels.len() as f64;
    let sum_all: f64 = hist.iter().enumerate().map(|(i, h)| i as f64 * h).sum();
    let (mut w_b, mut sum_b, mut best, mut level) = (0.0, 0.0, -1.0, 128u8);
    for (t, &h) in hist.iter().enumerate() {
        w_b += h;
        if w_b == 0.0 {
            continue;
        }
        let w_f = total - w_b;
        if w_f == 0.0 {
            break;
        }
        sum_b += t as f64 * h;
        let m_b = sum_b / w_b;
        let m_f = (sum_all - sum_b) / w_f;
        let between = w_b * w_f * (m_b - m_f) * (m_b - m_f);
        if between > best {
            best = between;
            level = t as u8;
        }
    }
    level
}

/// Bilinear resize by a factor (0.1..=4).
pub fn resize(img: &Luma, factor: f32) -> Luma {
    let nw = ((img.width as f32 * factor).round() as usize).max(1);
    let nh = ((img.height as f32 * factor).round() as usize).max(1);
    if img.width == 0 || img.height == 0 {
        return Luma { width: 0, height: 0, pixels: Vec::new() };
    }
    if factor < 1.0 {
        // Area average when shrinking, so noise and moiré average out instead of aliasing.
        let mut pixels = Vec::with_capacity(nw * nh);
        for y in 0..nh {
            let sy0 = y * img.height / nh;
            let sy1 = ((y + 1) * img.height / nh).max(sy0 + 1).min(img.height);
            for x in 0..nw {
                let sx0 = x * img.width / nw;
                let sx1 = ((x + 1) * img.width / nw).max(sx0 + 1).min(img.width);
                let mut acc = 0u32;
                for yy in sy0..sy1 {
                    for xx in sx0..sx1 {
                        acc += u32::from(img.at(xx, yy));
                    }
                }
                let n = ((sy1 - sy0) * (sx1 - sx0)) as u32;
                pixels.push(((acc + n / 2) / n) as u8);
            }
        }
        return Luma { width: nw, height: nh, pixels };
    }
    let mut pixels = Vec::with_capacity(nw * nh);
    let sx = img.width as f32 / nw as f32;
    let sy = img.height as f32 / nh as f32;
    for y in 0..nh {
        let fy = ((y as f32 + 0.5) * sy - 0.5).max(0.0);
        let y0 = (fy as usize).min(img.height - 1);
        let y1 = (y0 + 1).min(img.height - 1);
        let ty = fy - y0 as f32;
        for x in 0..nw {
            let fx = ((x as f32 + 0.5) * sx - 0.5).max(0.0);
            let x0 = (fx as usize).min(img.width - 1);
            let x1 = (x0 + 1).min(img.width - 1);
            let tx = fx - x0 as f32;
            let a = f32::from(img.at(x0, y0)) * (1.0 - tx) + f32::from(img.at(x1, y0)) * tx;
            let b = f32::from(img.at(x0, y1)) * (1.0 - tx) + f32::from(img.at(x1, y1)) * tx;
            pixels.push((a * (1.0 - ty) + b * ty).round() as u8);
        }
    }
    Luma { width: nw, height: nh, pixels }
}

/// 3x3 binomial smoothing (removes pixel noise and fine moiré before thresholding).
pub fn smooth(img: &Luma) -> Luma {
    let (w, h) = (img.width, img.height);
    if w < 3 || h < 3 {
        return img.clone();
    }
    let mut tmp = vec![0u16; w * h];
    for y in 0..h {
        for x in 0..w {
            let l = img.at(x.saturating_sub(1), y);
            let r = img.at((x + 1).min(w - 1), y);
            tmp[y * w + x] = u16::from(l) + 2 * u16::from(img.at(x, y)) + u16::from(r);
        }
    }
    let mut pixels = vec![0u8; w * h];
    for y in 0..h {
        let up = y.saturating_sub(1);
        let down = (y + 1).min(h - 1);
        for x in 0..w {
            let v = tmp[up * w + x] + 2 * tmp[y * w + x] + tmp[down * w + x];
            pixels[y * w + x] = ((v + 8) / 16) as u8;
        }
    }
    Luma { width: w, height: h, pixels }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_splits_dark_and_light_with_gradient() {
        // Left half dark squares on a lighting gradient; the threshold must follow the gradient.
        let (w, h) = (64, 32);
        let mut px = vec![0u8; w * h];
        for y in 0..h {
            for x in 0..w {
                let base = 80 + (x * 2) as u8;
                px[y * w + x] = if (x / 8 + y / 8) % 2 == 0 { base / 3 } else { base };
            }
        }
        let img = Luma::new(w, h, px).expect("sizes match");
        let bits = adaptive_threshold(&img, 15, 2, 5);
        for y in 0..h {
            for x in 0..w {
                if x % 8 == 3 && y % 8 == 3 {
                    assert_eq!(bits[y * w + x], (x / 8 + y / 8) % 2 == 0, "at {x},{y}");
                }
            }
        }
    }

    #[test]
    fn resize_sizes_and_otsu() {
        let img = Luma::new(10, 6, (0..60).map(|i| if i % 2 == 0 { 20 } else { 220 }).collect()).expect("sizes");
        assert_eq!(resize(&img, 2.0).width, 20);
        assert_eq!(resize(&img, 0.5).height, 3);
        let level = otsu_level(&img);
        assert!((20..220).contains(&level), "{level}");
        assert_eq!(stretch_contrast(&img).pixels.len(), 60);
        assert_eq!(smooth(&img).pixels.len(), 60);
    }
}
