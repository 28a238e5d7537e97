//! Cheap screen-replay measures on one frame around a face box (measurement only, not part of
//! the decision — see `docs/benchmarks-liveness.md`, "Screen-replay evidence"): periodic
//! high-frequency energy in the face (moiré of a screen's pixel grid), long straight edges in a
//! band around the face (a phone or laptop bezel), the fraction of saturated highlight pixels
//! on the face (glare on a screen), and the face's mean colour (for frame-to-frame flicker).

use realname_face::RgbImage;
use serde::{Deserialize, Serialize};

/// Side of the square window (native pixels, centred on the face) the moiré spectrum uses.
pub const MOIRE_WINDOW: usize = 64;

/// Sobel magnitude (of grey 0–255) from which a pixel counts as an edge for the bezel measure.
pub const BEZEL_EDGE: f32 = 60.0;

/// Grey level from which every channel of a face pixel counts as a saturated highlight.
pub const HIGHLIGHT_LEVEL: u8 = 240;

/// The screen-replay measures of one face in one frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScreenEvidence {
    /// Peak-to-mean power ratio of the high-frequency band (radius N/4..N/2) of the Laplacian of
    /// the grey face window; 0 when the window does not fit in the image.
    pub moire: f32,
    /// As `moire`, leaving out the spectrum rows and columns at multiples of N/8 (where JPEG's
    /// 8×8 block edges put their energy).
    pub moire_nojpeg: f32,
    /// Longest horizontal or vertical run of straight edge pixels in the band around the face,
    /// in face widths (0 when no band fits).
    pub bezel: f32,
    /// Fraction of the face box's pixels whose three channels are all ≥ [`HIGHLIGHT_LEVEL`].
    pub highlight: f32,
    /// Mean grey level (0–255) of the face box, for frame-to-frame flicker.
    pub mean_grey: f32,
}

fn grey_at(image: &RgbImage, x: u32, y: u32) -> f32 {
    let p = image.get_pixel(x, y).0;
    0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
}

/// Integer pixel rectangle `[x0, x1) × [y0, y1)` of a float box clipped to the image.
fn clip(image: &RgbImage, (x, y, w, h): (f32, f32, f32, f32)) -> Option<(u32, u32, u32, u32)> {
    if !(x.is_finite() && y.is_finite() && w.is_finite() && h.is_finite()) || w <= 0.0 || h <= 0.0 {
        return None;
    }
    let (iw, ih) = (image.width() as f32, image.height() as f32);
    let x0 = x.clamp(0.0, iw) as u32;
    let y0 = y.clamp(0.0, ih) as u32;
    let x1 = (x + w).clamp(0.0, iw) as u32;
    let y1 = (y + h).clamp(0.0, ih) as u32;
    (x1 > x0 && y1 > y0).then_some((x0, y0, x1, y1))
}

/// Moiré measures (see [`ScreenEvidence::moire`]) of the window centred on `(cx, cy)`.
fn moire(image: &RgbImage, cx: f32, cy: f32) -> (f32, f32) {
    const N: usize = MOIRE_WINDOW;
    if (image.width() as usize) < N || (image.height() as usize) < N {
        return (0.0, 0.0);
    }
    let x0 = (cx - N as f32 / 2.0).clamp(0.0, (image.width() as usize - N) as f32) as u32;
    let y0 = (cy - N as f32 / 2.0).clamp(0.0, (image.height() as usize - N) as f32) as u32;
    let mut g = vec![0f32; N * N];
    for j in 0..N {
        for i in 0..N {
            g[j * N + i] = grey_at(image, x0 + i as u32, y0 + j as u32);
        }
    }
    // Laplacian (edges clamped) times a Hann window.
    let hann: Vec<f32> =
        (0..N).map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / (N - 1) as f32).cos()).collect();
    let at = |i: isize, j: isize| g[(j.clamp(0, N as isize - 1) as usize) * N + i.clamp(0, N as isize - 1) as usize];
    let mut lap = vec![0f32; N * N];
    for j in 0..N as isize {
        for i in 0..N as isize {
            let l = 4.0 * at(i, j) - at(i - 1, j) - at(i + 1, j) - at(i, j - 1) - at(i, j + 1);
            lap[j as usize * N + i as usize] = l * hann[i as usize] * hann[j as usize];
        }
    }
    // Separable DFT: rows, then columns.
    let (cos, sin): (Vec<f32>, Vec<f32>) = (0..N)
        .map(|k| {
            let a = 2.0 * std::f32::consts::PI * k as f32 / N as f32;
            (a.cos(), a.sin())
        })
        .unzip();
    let mut re = vec![0f32; N * N];
    let mut im = vec![0f32; N * N];
    for j in 0..N {
        for k in 0..N {
            let (mut r, mut s) = (0.0, 0.0);
            for i in 0..N {
                let t = (k * i) % N;
                r += lap[j * N + i] * cos[t];
                s -= lap[j * N + i] * sin[t];
            }
            re[j * N + k] = r;
            im[j * N + k] = s;
        }
    }
    let (mut peak, mut sum, mut n) = (0f32, 0f64, 0usize);
    let (mut peak_nj, mut sum_nj, mut n_nj) = (0f32, 0f64, 0usize);
    for l in 0..N {
        for k in 0..N {
            let (mut r, mut s) = (0.0, 0.0);
            for j in 0..N {
                let t = (l * j) % N;
                let (a, b) = (re[j * N + k], im[j * N + k]);
                r += a * cos[t] + b * sin[t];
                s += b * cos[t] - a * sin[t];
            }
            let fk = if k > N / 2 { N - k } else { k };
            let fl = if l > N / 2 { N - l } else { l };
            let radius = ((fk * fk + fl * fl) as f32).sqrt();
            if radius < N as f32 / 4.0 || radius > N as f32 / 2.0 {
                continue;
            }
            let p = r * r + s * s;
            peak = peak.max(p);
            sum += p as f64;
            n += 1;
            if fk % (N / 8) != 0 && fl % (N / 8) != 0 {
                peak_nj = peak_nj.max(p);
                sum_nj += p as f64;
                n_nj += 1;
            }
        }
    }
    let ratio = |peak: f32, sum: f64, n: usize| if sum > 0.0 { peak / (sum / n as f64) as f32 } else { 0.0 };
    (ratio(peak, sum, n), ratio(peak_nj, sum_nj, n_nj))
}

/// Bezel measure (see [`ScreenEvidence::bezel`]): in the box 3 face widths wide and 2.5 face
/// heights high around the face, outside the face box grown by 20 %, the longest run (gaps of up
/// to 2 pixels bridged) of pixels whose Sobel edge is strong and dominated by one direction.
fn bezel(image: &RgbImage, (x, y, w, h): (f32, f32, f32, f32)) -> f32 {
    let (cx, cy) = (x + w / 2.0, y + h / 2.0);
    let Some((x0, y0, x1, y1)) = clip(image, (cx - 1.5 * w, cy - 1.25 * h, 3.0 * w, 2.5 * h)) else {
        return 0.0;
    };
    if x1 - x0 < 3 || y1 - y0 < 3 {
        return 0.0;
    }
    let inner = (cx - 0.6 * w, cy - 0.6 * h, cx + 0.6 * w, cy + 0.6 * h);
    let (bw, bh) = ((x1 - x0) as usize, (y1 - y0) as usize);
    let mut g = vec![0f32; bw * bh];
    for j in 0..bh {
        for i in 0..bw {
            g[j * bw + i] = grey_at(image, x0 + i as u32, y0 + j as u32);
        }
    }
    // 1 = horizontal edge (vertical gradient), 2 = vertical edge, 0 = none / inside the face.
    let mut kind = vec![0u8; bw * bh];
    for j in 1..bh - 1 {
        for i in 1..bw - 1 {
            let (px, py) = ((x0 as usize + i) as f32, (y0 as usize + j) as f32);
            if px >= inner.0 && px < inner.2 && py >= inner.1 && py < inner.3 {
                continue;
            }
            let v = |di: isize, dj: isize| g[(j as isize + dj) as usize * bw + (i as isize + di) as usize];
            let gx = v(1, -1) + 2.0 * v(1, 0) + v(1, 1) - v(-1, -1) - 2.0 * v(-1, 0) - v(-1, 1);
            let gy = v(-1, 1) + 2.0 * v(0, 1) + v(1, 1) - v(-1, -1) - 2.0 * v(0, -1) - v(1, -1);
            if gy.abs() >= BEZEL_EDGE && gy.abs() > 2.0 * gx.abs() {
                kind[j * bw + i] = 1;
            } else if gx.abs() >= BEZEL_EDGE && gx.abs() > 2.0 * gy.abs() {
                kind[j * bw + i] = 2;
            }
        }
    }
    let longest = |cells: &mut dyn Iterator<Item = bool>| {
        let (mut best, mut start, mut gap) = (0usize, None::<usize>, 0usize);
        for (n, on) in cells.enumerate() {
            if on {
                let s = *start.get_or_insert(n);
                gap = 0;
                best = best.max(n - s + 1);
            } else if start.is_some() {
                gap += 1;
                if gap > 2 {
                    start = None;
                }
            }
        }
        best
    };
    let mut best = 0usize;
    for j in 0..bh {
        best = best.max(longest(&mut (0..bw).map(|i| kind[j * bw + i] == 1)));
    }
    for i in 0..bw {
        best = best.max(longest(&mut (0..bh).map(|j| kind[j * bw + i] == 2)));
    }
    best as f32 / w
}

/// The screen-replay measures of the face in `bbox` (`x, y, width, height` in pixels).
pub fn measure_screen(image: &RgbImage, bbox: (f32, f32, f32, f32)) -> ScreenEvidence {
    let (x, y, w, h) = bbox;
    let (moire, moire_nojpeg) = moire(image, x + w / 2.0, y + h / 2.0);
    let (mut highlight, mut mean_grey) = (0.0, 0.0);
    if let Some((x0, y0, x1, y1)) = clip(image, bbox) {
        let (mut bright, mut total, mut sum) = (0usize, 0usize, 0f64);
        for py in y0..y1 {
            for px in x0..x1 {
                let p = image.get_pixel(px, py).0;
                if p.iter().all(|&c| c >= HIGHLIGHT_LEVEL) {
                    bright += 1;
                }
                sum += grey_at(image, px, py) as f64;
                total += 1;
            }
        }
        highlight = bright as f32 / total as f32;
        mean_grey = (sum / total as f64) as f32;
    }
    ScreenEvidence { moire, moire_nojpeg, bezel: bezel(image, bbox), highlight, mean_grey }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn noise(w: u32, h: u32, seed: u32) -> RgbImage {
        let mut s = seed;
        RgbImage::from_fn(w, h, |_, _| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let v = 100 + (s >> 26) as u8;
            Rgb([v, v, v])
        })
    }

    #[test]
    fn a_periodic_grid_has_more_moire_than_noise() {
        let plain = measure_screen(&noise(200, 200, 7), (50.0, 50.0, 100.0, 100.0));
        let mut grid = noise(200, 200, 7);
        for (x, y, p) in grid.enumerate_pixels_mut() {
            // A fine diagonal grating (period ≈ 2.7 px), like a screen's pixel grid beating with the camera's.
            let v = 40.0 * ((x as f32 * 1.9 + y as f32 * 1.3).sin());
            let g = (p.0[0] as f32 + v).clamp(0.0, 255.0) as u8;
            *p = Rgb([g, g, g]);
        }
        let screen = measure_screen(&grid, (50.0, 50.0, 100.0, 100.0));
        assert!(screen.moire > 3.0 * plain.moire, "{} vs {}", screen.moire, plain.moire);
        assert!(screen.moire_nojpeg > 3.0 * plain.moire_nojpeg);
    }

    #[test]
    fn a_straight_border_around_the_face_is_a_bezel() {
        let face = (80.0, 80.0, 40.0, 40.0);
        let plain = measure_screen(&noise(200, 200, 3), face);
        let mut framed = noise(200, 200, 3);
        for x in 40..160 {
            framed.put_pixel(x, 55, Rgb([255, 255, 255]));
            framed.put_pixel(x, 56, Rgb([255, 255, 255]));
        }
        let screen = measure_screen(&framed, face);
        assert!(plain.bezel < 0.5, "{}", plain.bezel);
        assert!(screen.bezel > 2.0, "{}", screen.bezel);
    }

    #[test]
    fn highlights_and_mean_grey_are_measured_on_the_face_box() {
        let mut img = RgbImage::from_pixel(100, 100, Rgb([100, 100, 100]));
        for y in 20..30 {
            for x in 20..40 {
                img.put_pixel(x, y, Rgb([250, 250, 250]));
            }
        }
        let e = measure_screen(&img, (20.0, 20.0, 20.0, 20.0));
        assert!((e.highlight - 0.5).abs() < 1e-6, "{}", e.highlight);
        assert!((e.mean_grey - 175.0).abs() < 0.5, "{}", e.mean_grey);
        // Out-of-image and degenerate boxes give zeros, no panic.
        let none = measure_screen(&img, (500.0, 500.0, 10.0, 10.0));
        assert_eq!((none.highlight, none.bezel), (0.0, 0.0));
        let nan = measure_screen(&img, (f32::NAN, 0.0, 10.0, 10.0));
        assert_eq!(nan.highlight, 0.0);
        let tiny = measure_screen(&RgbImage::new(8, 8), (0.0, 0.0, 8.0, 8.0));
        assert_eq!(tiny.moire, 0.0);
    }
}
