//! Synthetic camera frames: a photographed PC page showing a QR payload and/or a face, with perspective, defocus, moiré, glare and noise — deterministic from a seed.
//!
//! The page (a browser window: header bar, text lines, face photo, QR code) is drawn once in
//! screen pixels. Each frame then "photographs" it: a pinhole camera looks at the screen plane
//! tilted by up to `perspective_deg` in a random direction (plus up to ±12° roll), at a
//! distance where one QR module spans about 4–6.5 frame pixels. The screen's RGB sub-pixel
//! stripes and row gaps are sampled through the perspective (2×2 supersampling), which creates
//! real aliasing moiré; glare is a bright reflection blob added on the screen; defocus is a
//! Gaussian blur; sensor noise is Gaussian per channel. Frame `i` of seed `s` is always the
//! same picture.

use std::path::{Path, PathBuf};
use std::time::Duration;

use image::{Rgb, RgbImage};

use crate::frame::{Frame, FrameSource, Pacer, SourceError, SourceInfo, SourceKind};

/// What to render and how to degrade it. Ranges are checked by [`SyntheticSource::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticConfig {
    /// QR payload text shown on the page.
    pub qr_payload: Option<String>,
    /// Face photo shown on the page.
    pub face: Option<PathBuf>,
    /// Frame width (default 640).
    pub width: u32,
    /// Frame height (default 480).
    pub height: u32,
    /// Delivery rate; `None` delivers as fast as asked (timestamps still advance at 30 fps).
    pub fps: Option<f64>,
    /// Stop after this many frames.
    pub frames: Option<u64>,
    /// Maximum tilt of the screen against the camera axis, degrees (0–30).
    pub perspective_deg: f32,
    /// Maximum defocus blur sigma in frame pixels (0–8); each frame draws from [sigma/2, sigma].
    pub blur_sigma: f32,
    /// Strength of the screen's sub-pixel structure that aliases into moiré (0–1).
    pub moire: f32,
    /// Peak strength of a reflection blob (0–1).
    pub glare: f32,
    /// Sensor noise sigma in grey levels (0–64).
    pub noise: f32,
    /// Seed of all random choices.
    pub seed: u64,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self {
            qr_payload: None,
            face: None,
            width: 640,
            height: 480,
            fps: None,
            frames: None,
            perspective_deg: 0.0,
            blur_sigma: 0.0,
            moire: 0.0,
            glare: 0.0,
            noise: 0.0,
            seed: 0,
        }
    }
}

/// A rendered frame with its ground truth.
#[derive(Debug, Clone)]
pub struct SyntheticFrame {
    /// The picture.
    pub image: RgbImage,
    /// Where the QR code's outer corners (top-left, top-right, bottom-right, bottom-left of the
    /// symbol without quiet zone) landed in the frame.
    pub qr_corners: Option<[(f32, f32); 4]>,
}

/// SplitMix64: tiny, fast, and stable across crate versions (determinism is the point).
#[derive(Debug, Clone)]
struct SplitMix(u64);

impl SplitMix {
    fn new(seed: u64, stream: u64) -> Self {
        let mut r = Self(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.next_u64();
        r
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-12);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

const PAGE_W: u32 = 800;
const PAGE_H: u32 = 500;
const BEZEL: f64 = 24.0;

/// The page as the screen shows it, plus where the QR sits on it.
#[derive(Debug, Clone)]
struct Page {
    image: RgbImage,
    /// Centre of the point the camera aims at (QR centre, else face centre), page pixels.
    aim: (f64, f64),
    /// QR symbol corners on the page (without quiet zone), and the module size in page pixels.
    qr: Option<([(f64, f64); 4], f64)>,
}

fn fill_rect(img: &mut RgbImage, x0: u32, y0: u32, w: u32, h: u32, c: [u8; 3]) {
    for y in y0..(y0 + h).min(img.height()) {
        for x in x0..(x0 + w).min(img.width()) {
            img.put_pixel(x, y, Rgb(c));
        }
    }
}

fn render_page(payload: Option<&str>, face: Option<&RgbImage>) -> Result<Page, SourceError> {
    let mut img = RgbImage::from_pixel(PAGE_W, PAGE_H, Rgb([250, 250, 250]));
    // Header bar and a few "text" lines: page structure a real screen photo has.
    fill_rect(&mut img, 0, 0, PAGE_W, 48, [36, 88, 196]);
    fill_rect(&mut img, 24, 14, 160, 20, [235, 240, 250]);
    for (i, w) in [420u32, 360, 300].iter().enumerate() {
        fill_rect(&mut img, 40, 64 + 16 * i as u32, *w, 8, [150, 150, 150]);
    }
    let content_top = 120.0;
    let content_h = f64::from(PAGE_H) - content_top - 10.0;
    let mut aim = (f64::from(PAGE_W) / 2.0, content_top + content_h / 2.0);
    let mut qr_geom = None;
    if let Some(text) = payload {
        let code = qrcode::QrCode::new(text.as_bytes())
            .map_err(|e| SourceError::InvalidConfig(format!("QR payload cannot be encoded: {e}")))?;
        let n = code.width();
        let colors = code.to_colors();
        let total = n as f64 + 8.0; // 4-module quiet zone each side
        let module = (content_h / total).floor().clamp(2.0, 7.0);
        let cx = if face.is_some() { 560.0 } else { f64::from(PAGE_W) / 2.0 };
        let cy = content_top + content_h / 2.0;
        let x0 = (cx - module * n as f64 / 2.0).round();
        let y0 = (cy - module * n as f64 / 2.0).round();
        let m = module as u32;
        for (i, c) in colors.iter().enumerate() {
            if *c == qrcode::Color::Dark {
                fill_rect(&mut img, x0 as u32 + (i % n) as u32 * m, y0 as u32 + (i / n) as u32 * m, m, m, [12, 12, 12]);
            }
        }
        let s = module * n as f64;
        qr_geom = Some(([(x0, y0), (x0 + s, y0), (x0 + s, y0 + s), (x0, y0 + s)], module));
        aim = (x0 + s / 2.0, y0 + s / 2.0);
    }
    if let Some(face) = face {
        let (bw, bh) = if payload.is_some() { (240.0, content_h) } else { (320.0, content_h) };
        let scale = (bw / f64::from(face.width())).min(bh / f64::from(face.height()));
        let w = ((f64::from(face.width()) * scale).round() as u32).max(1);
        let h = ((f64::from(face.height()) * scale).round() as u32).max(1);
        let resized = image::imageops::resize(face, w, h, image::imageops::FilterType::Triangle);
        let cx = if payload.is_some() { 190.0 } else { f64::from(PAGE_W) / 2.0 };
        let x0 = (cx - f64::from(w) / 2.0).max(0.0) as i64;
        let y0 = (content_top + (content_h - f64::from(h)) / 2.0) as i64;
        image::imageops::overlay(&mut img, &resized, x0, y0);
        if payload.is_none() {
            aim = (cx, content_top + content_h / 2.0);
        }
    }
    Ok(Page { image: img, aim, qr: qr_geom })
}

type Mat3 = [[f64; 3]; 3];

fn mat_mul(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut r = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            r[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    r
}

fn mat_inv(m: &Mat3) -> Option<Mat3> {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    if det.abs() < 1e-12 {
        return None;
    }
    let d = 1.0 / det;
    Some([
        [
            (m[1][1] * m[2][2] - m[1][2] * m[2][1]) * d,
            (m[0][2] * m[2][1] - m[0][1] * m[2][2]) * d,
            (m[0][1] * m[1][2] - m[0][2] * m[1][1]) * d,
        ],
        [
            (m[1][2] * m[2][0] - m[1][0] * m[2][2]) * d,
            (m[0][0] * m[2][2] - m[0][2] * m[2][0]) * d,
            (m[0][2] * m[1][0] - m[0][0] * m[1][2]) * d,
        ],
        [
            (m[1][0] * m[2][1] - m[1][1] * m[2][0]) * d,
            (m[0][1] * m[2][0] - m[0][0] * m[2][1]) * d,
            (m[0][0] * m[1][1] - m[0][1] * m[1][0]) * d,
        ],
    ])
}

fn apply(m: &Mat3, x: f64, y: f64) -> (f64, f64, f64) {
    (m[0][0] * x + m[0][1] * y + m[0][2], m[1][0] * x + m[1][1] * y + m[1][2], m[2][0] * x + m[2][1] * y + m[2][2])
}

/// Separable Gaussian blur of one f32 plane, clamping at the borders.
fn blur_plane(plane: &mut [f32], w: usize, h: usize, sigma: f32) {
    if sigma < 0.2 || w == 0 || h == 0 {
        return;
    }
    let r = (sigma * 3.0).ceil() as isize;
    let kernel: Vec<f32> = (-r..=r).map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp()).collect();
    let sum: f32 = kernel.iter().sum();
    let kernel: Vec<f32> = kernel.iter().map(|k| k / sum).collect();
    let mut tmp = vec![0f32; plane.len()];
    for y in 0..h {
        let row = &plane[y * w..(y + 1) * w];
        for x in 0..w {
            let mut acc = 0.0;
            for (k, kv) in kernel.iter().enumerate() {
                let xx = (x as isize + k as isize - r).clamp(0, w as isize - 1) as usize;
                acc += row[xx] * kv;
            }
            tmp[y * w + x] = acc;
        }
    }
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for (k, kv) in kernel.iter().enumerate() {
                let yy = (y as isize + k as isize - r).clamp(0, h as isize - 1) as usize;
                acc += tmp[yy * w + x] * kv;
            }
            plane[y * w + x] = acc;
        }
    }
}

/// Generates frames from a [`SyntheticConfig`].
#[derive(Debug)]
pub struct SyntheticSource {
    config: SyntheticConfig,
    page: Page,
    pacer: Pacer,
    sequence: u64,
    closed: bool,
}

impl SyntheticSource {
    /// Checks the configuration, loads the face photo and draws the page.
    ///
    /// # Errors
    /// [`SourceError::InvalidConfig`] for out-of-range values, a payload too long for a QR
    /// code, or nothing to render; [`SourceError::Io`]/[`SourceError::Image`] for the face.
    pub fn new(config: SyntheticConfig) -> Result<Self, SourceError> {
        let c = &config;
        let checks: [(&str, f32, f32, f32); 5] = [
            ("perspective", c.perspective_deg, 0.0, 30.0),
            ("blur", c.blur_sigma, 0.0, 8.0),
            ("moire", c.moire, 0.0, 1.0),
            ("glare", c.glare, 0.0, 1.0),
            ("noise", c.noise, 0.0, 64.0),
        ];
        for (name, v, lo, hi) in checks {
            if !(v.is_finite() && (lo..=hi).contains(&v)) {
                return Err(SourceError::InvalidConfig(format!("{name} = {v} outside {lo}..={hi}")));
            }
        }
        if !(16..=8192).contains(&c.width) || !(16..=8192).contains(&c.height) {
            return Err(SourceError::InvalidConfig(format!("frame size {}x{} outside 16..=8192", c.width, c.height)));
        }
        if c.qr_payload.is_none() && c.face.is_none() {
            return Err(SourceError::InvalidConfig("nothing to render: give a QR payload and/or a face".into()));
        }
        let face = match &c.face {
            Some(p) => Some(crate::file::load_rgb(p)?),
            None => None,
        };
        let page = render_page(c.qr_payload.as_deref(), face.as_ref())?;
        let pacer = Pacer::new(c.fps);
        Ok(Self { config, page, pacer, sequence: 0, closed: false })
    }

    /// Shorthand: a QR payload with the given degradations, 640x480.
    ///
    /// # Errors
    /// As [`SyntheticSource::new`].
    pub fn qr(payload: &str, seed: u64) -> Result<Self, SourceError> {
        Self::new(SyntheticConfig { qr_payload: Some(payload.to_owned()), seed, ..Default::default() })
    }

    /// The configuration in use.
    pub fn config(&self) -> &SyntheticConfig {
        &self.config
    }

    /// Renders frame `index` (a pure function of the configuration and `index`).
    pub fn render(&self, index: u64) -> SyntheticFrame {
        let c = &self.config;
        let (w, h) = (c.width as usize, c.height as usize);
        let mut rng = SplitMix::new(c.seed, index);
        // Camera pose: tilt up to the configured maximum in a random direction, some roll.
        let tilt = f64::from(c.perspective_deg).to_radians() * rng.unit().sqrt();
        let dir = rng.range(0.0, std::f64::consts::TAU);
        let (yaw, pitch) = (tilt * dir.cos(), tilt * dir.sin());
        let roll = rng.range(-12.0, 12.0).to_radians();
        let module_px = self.page.qr.map_or(3.0, |q| q.1);
        let target_module = rng.range(4.0, 6.5);
        let scale = match self.page.qr {
            Some(_) => target_module / module_px,
            None => rng.range(0.7, 1.0) * c.width as f64 / f64::from(PAGE_W),
        } * (c.width as f64 / 640.0).max(0.25);
        let f = c.width as f64; // ~53 degree horizontal field of view
        let z = f / scale;
        let (tx, ty) = (rng.range(-0.08, 0.08) * z, rng.range(-0.08, 0.08) * z);
        let rx: Mat3 = [[1.0, 0.0, 0.0], [0.0, pitch.cos(), -pitch.sin()], [0.0, pitch.sin(), pitch.cos()]];
        let ry: Mat3 = [[yaw.cos(), 0.0, yaw.sin()], [0.0, 1.0, 0.0], [-yaw.sin(), 0.0, yaw.cos()]];
        let rz: Mat3 = [[roll.cos(), -roll.sin(), 0.0], [roll.sin(), roll.cos(), 0.0], [0.0, 0.0, 1.0]];
        let r = mat_mul(&rz, &mat_mul(&ry, &rx));
        let (ax, ay) = self.page.aim;
        // Page pixel (u, v) -> camera point u*R0 + v*R1 + T with T placing the aim point ahead.
        let ext: Mat3 = [
            [r[0][0], r[0][1], tx - r[0][0] * ax - r[0][1] * ay],
            [r[1][0], r[1][1], ty - r[1][0] * ax - r[1][1] * ay],
            [r[2][0], r[2][1], z - r[2][0] * ax - r[2][1] * ay],
        ];
        let k: Mat3 = [[f, 0.0, w as f64 / 2.0], [0.0, f, h as f64 / 2.0], [0.0, 0.0, 1.0]];
        let hom = mat_mul(&k, &ext);
        let inv = mat_inv(&hom).unwrap_or(hom);
        let exposure = rng.range(0.85, 1.0) as f32;
        let moire = c.moire;
        let page = &self.page.image;
        let (pw, ph) = (f64::from(PAGE_W), f64::from(PAGE_H));
        let desk_a = [rng.range(60.0, 140.0) as f32, rng.range(50.0, 110.0) as f32, rng.range(40.0, 90.0) as f32];
        let mut planes = vec![vec![0f32; w * h]; 3];
        const SS: [(f64, f64); 4] = [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)];
        for y in 0..h {
            for x in 0..w {
                let mut acc = [0f32; 3];
                for (ox, oy) in SS {
                    let (u, v, d) = apply(&inv, x as f64 + ox, y as f64 + oy);
                    let sample = if d.abs() < 1e-12 { None } else { Some((u / d, v / d)) };
                    let rgb = match sample {
                        Some((u, v)) if u >= 0.0 && v >= 0.0 && u < pw && v < ph => {
                            let p = page.get_pixel(u as u32, v as u32).0;
                            // Sub-pixel stripes (R, G, B thirds) and the dark gap between rows.
                            let sub = ((u.fract() * 3.0) as usize).min(2);
                            let gap = if v.fract() > 0.8 { 1.0 - 0.5 * moire } else { 1.0 };
                            let mut out = [0f32; 3];
                            for ch in 0..3 {
                                let stripe = if ch == sub { 3.0 } else { 0.0 };
                                let weight = (1.0 - moire) + moire * stripe;
                                out[ch] = (20.0 + f32::from(p[ch]) * 0.86) * weight * gap;
                            }
                            out
                        }
                        Some((u, v)) if u > -BEZEL && v > -BEZEL && u < pw + BEZEL && v < ph + BEZEL => {
                            [28.0, 28.0, 30.0]
                        }
                        _ => {
                            let t = y as f32 / h as f32;
                            [desk_a[0] * (0.7 + 0.5 * t), desk_a[1] * (0.7 + 0.5 * t), desk_a[2] * (0.7 + 0.5 * t)]
                        }
                    };
                    for ch in 0..3 {
                        acc[ch] += rgb[ch] * 0.25;
                    }
                }
                for ch in 0..3 {
                    planes[ch][y * w + x] = acc[ch] * exposure;
                }
            }
        }
        // Glare: a soft reflection blob somewhere on the screen.
        if c.glare > 0.0 {
            let gx = rng.range(0.2, 0.8) * w as f64;
            let gy = rng.range(0.2, 0.8) * h as f64;
            let sx = rng.range(0.08, 0.25) * w as f64;
            let sy = sx * rng.range(0.5, 1.2);
            let peak = f64::from(c.glare) * rng.range(0.6, 1.0) * 255.0;
            for y in 0..h {
                for x in 0..w {
                    let dx = (x as f64 - gx) / sx;
                    let dy = (y as f64 - gy) / sy;
                    let add = (peak * (-0.5 * (dx * dx + dy * dy)).exp()) as f32;
                    for p in planes.iter_mut() {
                        p[y * w + x] += add;
                    }
                }
            }
        }
        if c.blur_sigma > 0.0 {
            let sigma = c.blur_sigma * rng.range(0.5, 1.0) as f32;
            for p in planes.iter_mut() {
                blur_plane(p, w, h, sigma);
            }
        }
        let noise = f64::from(c.noise);
        let mut img = RgbImage::new(c.width, c.height);
        for (i, px) in img.pixels_mut().enumerate() {
            for (out, plane) in px.0.iter_mut().zip(&planes) {
                let n = if noise > 0.0 { (rng.normal() * noise) as f32 } else { 0.0 };
                *out = (plane[i] + n).round().clamp(0.0, 255.0) as u8;
            }
        }
        let qr_corners = self.page.qr.map(|(corners, _)| {
            corners.map(|(u, v)| {
                let (x, y, d) = apply(&hom, u, v);
                ((x / d) as f32, (y / d) as f32)
            })
        });
        SyntheticFrame { image: img, qr_corners }
    }
}

impl FrameSource for SyntheticSource {
    fn info(&self) -> SourceInfo {
        let name = match (&self.config.qr_payload, &self.config.face) {
            (Some(_), Some(_)) => "synthetic QR + face",
            (Some(_), None) => "synthetic QR",
            _ => "synthetic face",
        };
        SourceInfo {
            kind: SourceKind::Synthetic,
            name: format!("{name} (seed {})", self.config.seed),
            width: self.config.width,
            height: self.config.height,
            fps: self.config.fps,
            frame_count: self.config.frames,
        }
    }

    fn next_frame(&mut self, timeout: Duration) -> Result<Frame, SourceError> {
        if self.closed {
            return Err(SourceError::Closed);
        }
        if self.config.frames.is_some_and(|n| self.sequence >= n) {
            return Err(SourceError::EndOfStream);
        }
        self.pacer.wait(timeout)?;
        let rendered = self.render(self.sequence);
        let fps = self.config.fps.unwrap_or(30.0);
        let frame = Frame {
            image: rendered.image,
            timestamp: Duration::from_secs_f64(self.sequence as f64 / fps),
            sequence: self.sequence,
        };
        self.sequence += 1;
        Ok(frame)
    }

    fn close(&mut self) -> Result<(), SourceError> {
        self.closed = true;
        Ok(())
    }
}

/// The face photo path inside the shared data that demos use, if it exists.
pub fn demo_face(shared_dir: &Path) -> Option<PathBuf> {
    let p = shared_dir.join("data/faces/images/faceapijs");
    std::fs::read_dir(&p).ok()?.flatten().map(|e| e.path()).find(|d| d.is_dir()).and_then(|d| {
        let mut files: Vec<PathBuf> = std::fs::read_dir(d).ok()?.flatten().map(|e| e.path()).collect();
        files.sort();
        files.into_iter().next()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_per_seed_and_index() {
        let cfg = SyntheticConfig {
            qr_payload: Some("hello".into()),
            perspective_deg: 25.0,
            blur_sigma: 1.0,
            moire: 0.5,
            glare: 0.5,
            noise: 5.0,
            seed: 3,
            width: 160,
            height: 120,
            ..Default::default()
        };
        let s = SyntheticSource::new(cfg.clone()).expect("valid config");
        let a = s.render(4);
        assert_eq!(a.image, s.render(4).image);
        assert_ne!(a.image, s.render(5).image);
        let other = SyntheticSource::new(SyntheticConfig { seed: 4, ..cfg }).expect("valid config");
        assert_ne!(a.image, other.render(4).image);
    }

    #[test]
    fn rejects_bad_config() {
        let bad = SyntheticConfig { qr_payload: Some("x".into()), perspective_deg: 45.0, ..Default::default() };
        assert!(matches!(SyntheticSource::new(bad), Err(SourceError::InvalidConfig(_))));
        assert!(matches!(SyntheticSource::new(SyntheticConfig::default()), Err(SourceError::InvalidConfig(_))));
    }

    #[test]
    fn inverse_is_inverse() {
        let m: Mat3 = [[2.0, 0.1, 3.0], [0.2, 1.5, -1.0], [0.001, 0.002, 1.0]];
        let i = mat_inv(&m).expect("invertible");
        let p = mat_mul(&m, &i);
        for (r, row) in p.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                assert!((v - if r == c { 1.0 } else { 0.0 }).abs() < 1e-9);
            }
        }
    }
}
