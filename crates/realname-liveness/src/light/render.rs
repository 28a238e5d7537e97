//! A physically modelled renderer of the light step over real, unlit frames: what a camera
//! would capture while the companion's screen shows a sequence — the genuine response and the
//! attacks the light check must refuse. Used by the evaluation and tests (and later by the
//! synthetic camera sources). Every assumption is listed in the crate README ("Renderer").
//!
//! Model, per pixel and channel in linear light: `L = L0 · (1 + w(x) · E_c(t)) + a(x) · E_c(t)`
//! where `L0` is the source pixel (its own colour is the albedo under the room's light), `E`
//! the display's light at the face relative to the room's (its colour through a camera
//! crosstalk matrix, integrated over the exposure, after the display and camera latencies),
//! `w` the reflected share (Lambertian cosine of an ellipsoid head normal rotated by the
//! landmarks' yaw and pitch, times a distance falloff from the face size; torso and the room
//! behind get less), `a` an additive glare (only screens). Then auto-exposure and white
//! balance with lag, drift, shot and read noise, sRGB encoding and JPEG.

// Per-channel loops index several parallel [f32; 3] arrays at once; an index reads clearer.
#![allow(clippy::needless_range_loop)]

use std::collections::HashMap;

use image::{ImageEncoder, RgbImage};
use rand::Rng;
use realname_face::FaceAnalysis;
use serde::{Deserialize, Serialize};

use super::regions::FaceFrame;
use super::sequence::{LightPresentation, LightSequence, NEUTRAL_GREY, linear_rgb};

/// One unlit source frame and its face analysis (`None`: no face found).
#[derive(Debug, Clone, Copy)]
pub struct SourceFrame<'a> {
    /// The frame.
    pub image: &'a RgbImage,
    /// Its face.
    pub face: Option<&'a FaceAnalysis>,
}

/// What is in front of the camera and how it answers the light.
#[derive(Debug, Clone, PartialEq)]
pub enum Scenario {
    /// A live face lit by the issued sequence.
    Genuine,
    /// (a) A replay that does not respond at all (also the recorded attack clips as they stand).
    NoResponse,
    /// (b) A replay that responds to another sequence (recorded with its own flashes); the
    /// report claims the issued sequence's paint times.
    OtherSequence(LightSequence),
    /// (c) A replay screen under our light: the screen rectangle (face and the video's
    /// background alike) tinted uniformly in step.
    ScreenTint,
    /// (d) The right response, delayed by this much on top of the physical latency, ms.
    Delayed(i64),
    /// (e) The whole frame tinted uniformly in step.
    FrameTint,
    /// (f) A printed photo: one frozen frame on flat paper, face and paper lit alike.
    Print,
}

/// Physical and camera parameters of one rendered capture (drawn by [`RenderParams::random`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderParams {
    /// Camera frame rate.
    pub fps: f32,
    /// Display white at the face / room light, for a face 25 % of the frame wide.
    pub display_to_ambient: f32,
    /// Camera channel response to display primaries (rows: camera R, G, B).
    pub crosstalk: [[f32; 3]; 3],
    /// Direction to the display seen from the face (camera looks along +z, y down).
    pub light_dir: [f32; 3],
    /// Share of the face's light reaching the room behind.
    pub wall_share: f32,
    /// Share reaching the torso.
    pub torso_share: f32,
    /// Paint → light on the screen, ms.
    pub display_latency_ms: i64,
    /// Exposure → capture timestamp, ms.
    pub camera_latency_ms: i64,
    /// Exposure time, ms.
    pub exposure_ms: i64,
    /// Auto-exposure time constant, ms, and strength (0 = locked, 1 = full correction).
    pub ae_tau_ms: f32,
    /// See [`RenderParams::ae_tau_ms`].
    pub ae_strength: f32,
    /// White-balance time constant, ms, and strength.
    pub wb_tau_ms: f32,
    /// See [`RenderParams::wb_tau_ms`].
    pub wb_strength: f32,
    /// White-balance drift per second per channel.
    pub wb_drift: [f32; 3],
    /// Shot-noise variance per unit linear signal.
    pub shot_noise: f32,
    /// Read-noise standard deviation, linear.
    pub read_noise: f32,
    /// JPEG quality of the upload.
    pub jpeg_quality: u8,
    /// Where in the source clip the capture starts, s.
    pub clip_offset_s: f32,
}

impl RenderParams {
    /// A typical desk: the screen about an arm's length away in a lit office, a webcam at
    /// `fps` with moderate auto-exposure and white balance, display and camera latencies
    /// mid-window (the companion's rendered light steps: `realname verify` with a synthetic or
    /// folder source, the load generator).
    pub fn typical(fps: f32) -> Self {
        let d = [0.0f32, 0.2, 1.0];
        let n = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
        RenderParams {
            fps,
            display_to_ambient: 0.3,
            crosstalk: [[1.0, 0.08, 0.05], [0.08, 1.0, 0.08], [0.05, 0.08, 1.0]],
            light_dir: d.map(|v| v / n),
            wall_share: 0.05,
            torso_share: 0.5,
            display_latency_ms: 30,
            camera_latency_ms: 60,
            exposure_ms: 30,
            ae_tau_ms: 300.0,
            ae_strength: 0.6,
            wb_tau_ms: 800.0,
            wb_strength: 0.3,
            wb_drift: [0.0; 3],
            shot_noise: 1e-4,
            read_noise: 0.003,
            jpeg_quality: 88,
            clip_offset_s: 0.0,
        }
    }

    /// Draws parameters in the ranges of the README.
    pub fn random<R: Rng>(rng: &mut R) -> Self {
        let fps = [10.0, 15.0, 30.0][rng.gen_range(0..3)];
        let mut crosstalk = [[0f32; 3]; 3];
        for (i, row) in crosstalk.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = if i == j { 1.0 } else { rng.gen_range(0.03..0.15) };
            }
        }
        let d = [rng.gen_range(-0.15f32..0.15), rng.gen_range(0.05f32..0.35), 1.0];
        let n = (d[0] * d[0] + d[1] * d[1] + 1.0).sqrt();
        let exposure_max = (1000.0 / fps) as i64;
        RenderParams {
            fps,
            display_to_ambient: (rng.gen_range(0.08f32.ln()..0.5f32.ln())).exp(),
            crosstalk,
            light_dir: d.map(|v| v / n),
            wall_share: rng.gen_range(0.02..0.12),
            torso_share: rng.gen_range(0.3..0.7),
            display_latency_ms: rng.gen_range(16..=60),
            camera_latency_ms: rng.gen_range(30..=120),
            exposure_ms: rng.gen_range(8..=exposure_max),
            ae_tau_ms: rng.gen_range(150.0..600.0),
            ae_strength: rng.gen_range(0.3..1.0),
            wb_tau_ms: rng.gen_range(300.0..1500.0),
            wb_strength: rng.gen_range(0.0..0.6),
            wb_drift: std::array::from_fn(|_| rng.gen_range(-0.02..0.02)),
            shot_noise: (rng.gen_range(2e-5f32.ln()..4e-4f32.ln())).exp(),
            read_noise: rng.gen_range(0.001..0.006),
            jpeg_quality: rng.gen_range(60..=92),
            clip_offset_s: rng.gen_range(0.0..1.0),
        }
    }
}

/// A tiny xorshift generator for per-pixel noise (millions of draws per capture).
struct Noise(u64);

impl Noise {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Approximately standard normal (Irwin–Hall of four uniforms).
    fn normal(&mut self) -> f32 {
        (self.next_f32() + self.next_f32() + self.next_f32() + self.next_f32() - 2.0) * 1.732_050_8
    }
}

/// The display's physical schedule: (time the light changes, linear colour).
struct Schedule(Vec<(i64, [f32; 3])>, i64);

impl Schedule {
    fn mean(&self, t0: i64, t1: i64) -> [f32; 3] {
        let grey = linear_rgb(NEUTRAL_GREY);
        let span = (t1 - t0).max(1) as f32;
        let mut acc = [0f32; 3];
        let mut add = |a: i64, b: i64, col: [f32; 3]| {
            let (a, b) = (a.max(t0), b.min(t1));
            if b > a {
                (0..3).for_each(|c| acc[c] += col[c] * (b - a) as f32);
            }
        };
        let first = self.0.first().map_or(self.1, |f| f.0);
        add(i64::MIN / 4, first, grey);
        for (i, &(s, col)) in self.0.iter().enumerate() {
            let e = self.0.get(i + 1).map_or(self.1, |n| n.0);
            add(s, e, col);
        }
        add(self.1, i64::MAX / 4, grey);
        acc.map(|v| v / span)
    }
}

/// Paints `seq` from `start`: each hold rounded to the 60 Hz refresh, ± one refresh at
/// random (a late paint). Returns the paint time of each field and the end.
fn paint_times<R: Rng>(seq: &LightSequence, start: i64, rng: &mut R) -> (Vec<i64>, i64) {
    let frame = 1000.0 / 60.0;
    let mut t = start as f64;
    let mut shown = Vec::new();
    for (_, ms) in seq.fields() {
        shown.push(t.round() as i64);
        let frames = (f64::from(ms) / frame).round() + f64::from(rng.gen_range(-1i32..=1)) * 0.5;
        t += frames.max(1.0) * frame;
    }
    (shown, t.round() as i64)
}

/// Per-pixel response maps of one source frame (multiplicative share, additive glare).
struct Maps {
    mult: Vec<f32>,
    add: Vec<f32>,
}

/// Renders captures of one source clip.
#[derive(Debug)]
pub struct Renderer<'a> {
    sources: &'a [SourceFrame<'a>],
    source_fps: f32,
}

/// Linear → sRGB 8-bit through a 4096-entry table.
fn encode_lut() -> Vec<u8> {
    (0..4096)
        .map(|i| {
            let l = i as f32 / 4095.0;
            let s = if l <= 0.003_130_8 { 12.92 * l } else { 1.055 * l.powf(1.0 / 2.4) - 0.055 };
            (s * 255.0).round().clamp(0.0, 255.0) as u8
        })
        .collect()
}

impl<'a> Renderer<'a> {
    /// A renderer over `sources` (in clip order, `source_fps` frames per second).
    pub fn new(sources: &'a [SourceFrame<'a>], source_fps: f32) -> Self {
        Renderer { sources, source_fps }
    }

    fn face_near(&self, i: usize) -> Option<&'a FaceAnalysis> {
        (0..self.sources.len())
            .filter_map(|j| self.sources[j].face.map(|f| (j.abs_diff(i), f)))
            .min_by_key(|(d, _)| *d)
            .map(|(_, f)| f)
    }

    fn maps(&self, i: usize, scenario: &Scenario, p: &RenderParams, rect: [f32; 5]) -> Maps {
        let img = self.sources[i].image;
        let (w, h) = (img.width() as usize, img.height() as usize);
        let mut mult = vec![0f32; w * h];
        let mut add = vec![0f32; w * h];
        let Some(face) = self.face_near(i) else { return Maps { mult, add } };
        let ff = FaceFrame::of(&face.landmarks);
        // Inverse-square falloff from the face's size in the frame (nearer = larger = brighter),
        // clamped: the clips come from cameras with different fields of view.
        let falloff = ((ff.width / w as f32) / 0.25).powi(2).clamp(0.3, 2.5);
        let r = p.display_to_ambient * falloff;
        match scenario {
            Scenario::NoResponse => {}
            Scenario::Genuine | Scenario::OtherSequence(_) | Scenario::Delayed(_) => {
                let (yaw, pitch) = (face.signals.yaw_deg.to_radians(), face.signals.pitch_deg.to_radians());
                let (sy, cy, sp, cp) = (yaw.sin(), yaw.cos(), pitch.sin(), pitch.cos());
                let l = p.light_dir;
                // Head ellipse: ears and hair included; chin at its lower edge.
                let (hx, hy) = (ff.centre.0, ff.centre.1 - 0.1 * ff.height);
                let (ax, ay_up, ay_down) = (0.62 * ff.width, 0.95 * ff.height, 0.62 * ff.height);
                let chin = ff.brow_y + ff.height;
                for y in 0..h {
                    for x in 0..w {
                        let (u, dy) = ((x as f32 - hx) / ax, y as f32 - hy);
                        let v = if dy < 0.0 { dy / ay_up } else { dy / ay_down };
                        let rr = u * u + v * v;
                        let share = if rr < 1.0 {
                            let (nx, ny, nz) = (u, v, (1.0 - rr).sqrt());
                            // Rotate by yaw (about the vertical) then pitch (about x).
                            let (nx, nz) = (nx * cy + nz * sy, -nx * sy + nz * cy);
                            let (ny, nz) = (ny * cp - nz * sp, ny * sp + nz * cp);
                            (nx * l[0] + ny * l[1] + nz * l[2]).max(0.0)
                        } else if y as f32 > chin + 0.1 * ff.height && (x as f32 - hx).abs() < 1.6 * ff.width {
                            p.torso_share
                        } else {
                            p.wall_share
                        };
                        mult[y * w + x] = r * share;
                    }
                }
            }
            Scenario::ScreenTint | Scenario::FrameTint | Scenario::Print => {
                // rect: [x0, y0, x1, y1, multiplicative share]; outside it the room.
                let glare = if matches!(scenario, Scenario::Print) { 0.0 } else { rect[4] * 0.3 };
                for y in 0..h {
                    for x in 0..w {
                        let inside = (x as f32) >= rect[0]
                            && (x as f32) < rect[2]
                            && (y as f32) >= rect[1]
                            && (y as f32) < rect[3];
                        let k = y * w + x;
                        if inside {
                            mult[k] = r * rect[4];
                            add[k] = r * glare * 0.2;
                        } else {
                            mult[k] = r * p.wall_share;
                        }
                    }
                }
            }
        }
        Maps { mult, add }
    }

    /// Renders one capture of `issued` under `scenario` with `params`; calls `on_frame` with
    /// each frame (decoded from its JPEG), its capture timestamp and its source index, and
    /// returns the companion's paint report (always the issued sequence's fields).
    pub fn render<R: Rng>(
        &self,
        issued: &LightSequence,
        scenario: &Scenario,
        params: &RenderParams,
        rng: &mut R,
        on_frame: &mut dyn FnMut(&RgbImage, i64, usize),
    ) -> LightPresentation {
        let start: i64 = 1_700_000_000_000 + rng.gen_range(0..1_000_000);
        let (shown, ended) = paint_times(issued, start, rng);
        let lit = |seq: &LightSequence, shown: &[i64], end: i64, delay: i64| {
            let cols: Vec<[f32; 3]> = seq.fields().iter().map(|f| linear_rgb(f.0)).collect();
            Schedule(shown.iter().zip(cols).map(|(&s, c)| (s + delay, c)).collect(), end + delay)
        };
        let lat = params.display_latency_ms;
        let schedule = match scenario {
            Scenario::OtherSequence(other) => {
                let offset = rng.gen_range(-300..=300);
                let (s2, e2) = paint_times(other, start + offset, rng);
                lit(other, &s2, e2, lat)
            }
            Scenario::Delayed(extra) => lit(issued, &shown, ended, lat + extra),
            _ => lit(issued, &shown, ended, lat),
        };
        let n = self.sources.len().max(1);
        let frozen = self.sources.iter().position(|s| s.face.is_some()).unwrap_or(0);
        let source_at = |ts: i64| -> usize {
            if matches!(scenario, Scenario::Print) {
                return frozen;
            }
            let clip_t = (ts - params.camera_latency_ms - start) as f32 / 1000.0 + params.clip_offset_s;
            let k = (clip_t.max(0.0) * self.source_fps) as usize;
            // Ping-pong through clips shorter than the capture.
            if n == 1 {
                return 0;
            }
            let period = 2 * (n - 1);
            let m = k % period;
            if m < n { m } else { period - m }
        };
        // Attack rectangles: a screen or a sheet around the face, the whole frame for (e).
        let rect = {
            let face = self.face_near(frozen);
            let img = self.sources[0].image;
            let (w, h) = (img.width() as f32, img.height() as f32);
            match (scenario, face) {
                (Scenario::FrameTint, _) | (_, None) => [0.0, 0.0, w, h, rng.gen_range(0.6..1.0)],
                (Scenario::ScreenTint, Some(f)) | (Scenario::Print, Some(f)) => {
                    let ff = FaceFrame::of(&f.landmarks);
                    let (lo, hi) = if matches!(scenario, Scenario::Print) { (1.6, 3.0) } else { (1.8, 4.0) };
                    let s = rng.gen_range(lo..hi);
                    let (rw, rh) = (s * ff.width, s * ff.width * rng.gen_range(1.0..1.6));
                    let (cx, cy) = (ff.centre.0 + rng.gen_range(-0.15..0.15) * ff.width, ff.centre.1);
                    // Flat sheet: one normal, tilted up to 35°: uniform cosine.
                    let share = if matches!(scenario, Scenario::Print) {
                        rng.gen_range(0.0f32..35.0).to_radians().cos()
                    } else {
                        rng.gen_range(0.6..1.0)
                    };
                    [cx - rw / 2.0, cy - rh / 2.0, cx + rw / 2.0, cy + rh / 2.0, share]
                }
                _ => [0.0, 0.0, 0.0, 0.0, 0.0],
            }
        };
        let decode = super::sequence::srgb_to_linear;
        let dec_lut: [f32; 256] = std::array::from_fn(|i| decode(i as u8));
        let enc = encode_lut();
        let mut noise = Noise(rng.r#gen::<u64>() | 1);
        let mut maps: HashMap<usize, Maps> = HashMap::new();
        let (mut gain, mut wb) = (1f32, [1f32; 3]);
        let (mut ref_mean, mut ref_bal): (Option<f32>, Option<[f32; 3]>) = (None, None);
        let step = 1000.0 / params.fps;
        let mut k = 0usize;
        let mut prev_ts: Option<i64> = None;
        loop {
            let ts = shown[0] - 300 + (k as f32 * step) as i64 + rng.gen_range(-2..=2);
            k += 1;
            if ts > ended + 600 {
                break;
            }
            let si = source_at(ts);
            let m: &Maps = maps.entry(si).or_insert_with(|| self.maps(si, scenario, params, rect));
            let exp_end = ts - params.camera_latency_ms;
            let d = schedule.mean(exp_end - params.exposure_ms, exp_end);
            let e: [f32; 3] = std::array::from_fn(|c| (0..3).map(|j| params.crosstalk[c][j] * d[j]).sum());
            let src = self.sources[si].image;
            let (w, h) = (src.width(), src.height());
            let mut lin = vec![0f32; (w * h * 3) as usize];
            for (k, px) in src.as_raw().chunks_exact(3).enumerate() {
                for c in 0..3 {
                    let l0 = dec_lut[px[c] as usize];
                    lin[k * 3 + c] = l0 * (1.0 + m.mult[k] * e[c]) + m.add[k] * e[c];
                }
            }
            // Auto-exposure and white balance from a coarse grid of the lit scene.
            let mut mean = [0f32; 3];
            let mut cnt = 0f32;
            for k in (0..(w * h) as usize).step_by(97) {
                (0..3).for_each(|c| mean[c] += lin[k * 3 + c]);
                cnt += 1.0;
            }
            let mean = mean.map(|v| v / cnt.max(1.0));
            let luma = 0.2126 * mean[0] + 0.7152 * mean[1] + 0.0722 * mean[2];
            let dt = prev_ts.map_or(0.0, |p| (ts - p) as f32);
            prev_ts = Some(ts);
            let rm = *ref_mean.get_or_insert(luma);
            let target = (rm / luma.max(1e-4)).powf(params.ae_strength);
            gain += (1.0 - (-dt / params.ae_tau_ms).exp()) * (target - gain);
            let grey = (mean[0] + mean[1] + mean[2]) / 3.0;
            let bal: [f32; 3] = std::array::from_fn(|c| grey / mean[c].max(1e-4));
            let rb = *ref_bal.get_or_insert(bal);
            let t_s = (ts - shown[0]) as f32 / 1000.0;
            for c in 0..3 {
                let target = 1.0 + params.wb_strength * (bal[c] / rb[c] - 1.0);
                wb[c] += (1.0 - (-dt / params.wb_tau_ms).exp()) * (target - wb[c]);
            }
            let g: [f32; 3] = std::array::from_fn(|c| gain * wb[c] * (1.0 + params.wb_drift[c] * t_s));
            let mut out = RgbImage::new(w, h);
            for (k, px) in out.as_mut().chunks_exact_mut(3).enumerate() {
                for c in 0..3 {
                    let v = lin[k * 3 + c] * g[c];
                    let sd = (params.shot_noise * v.max(0.0) + params.read_noise * params.read_noise).sqrt();
                    let v = (v + sd * noise.normal()).clamp(0.0, 1.0);
                    px[c] = enc[(v * 4095.0) as usize];
                }
            }
            let mut jpeg = Vec::new();
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, params.jpeg_quality);
            let decoded = encoder
                .write_image(out.as_raw(), w, h, image::ExtendedColorType::Rgb8)
                .ok()
                .and_then(|_| image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg).ok())
                .map(|i| i.to_rgb8())
                .unwrap_or(out);
            on_frame(&decoded, ts, si);
        }
        LightPresentation { nonce: issued.nonce.clone(), shown_at_ms: shown, ended_at_ms: ended }
    }
}

/// A synthetic `w`×`h` frame with a skin-coloured face and its landmarks (jaw, brows, nose,
/// eyes, mouth at their usual places) on a textured background: tests, benches and synthetic
/// camera sources that have no real footage.
pub fn synthetic_face(w: u32, h: u32) -> (RgbImage, FaceAnalysis) {
    use realname_face::{BoundingBox, Descriptor, Detection, FaceSignals, Landmarks68};
    let s = w as f32 / 640.0;
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let img = RgbImage::from_fn(w, h, |x, y| {
        let (dx, dy) = ((x as f32 - cx) / (100.0 * s), (y as f32 - cy) / (130.0 * s));
        if dx * dx + dy * dy < 1.0 {
            image::Rgb([200 - (x % 3) as u8, 150, 120 + (y % 3) as u8])
        } else {
            image::Rgb([90 + (x % 7) as u8, 100, 110 + (y % 5) as u8])
        }
    });
    let mut p = [(0f32, 0f32); 68];
    let at = |x: f32, y: f32| (cx + (x - 320.0) * s, cy + (y - 240.0) * s);
    for (i, q) in p.iter_mut().enumerate().take(17) {
        let t = std::f32::consts::PI * (i as f32 / 16.0);
        *q = at(320.0 - 95.0 * t.cos(), 220.0 + 120.0 * t.sin());
    }
    for (i, q) in p.iter_mut().enumerate().skip(17) {
        *q = match i {
            17..=26 => at(260.0 + (i - 17) as f32 * 13.0, 180.0),
            27..=30 => at(320.0, 195.0 + (i - 27) as f32 * 15.0),
            31..=35 => at(300.0 + (i - 31) as f32 * 10.0, 262.0),
            36..=41 => at(275.0 + (i - 36) as f32 * 5.0, 205.0),
            42..=47 => at(340.0 + (i - 42) as f32 * 5.0, 205.0),
            _ => at(290.0 + (i - 48) as f32 * 3.0, 300.0),
        };
    }
    let analysis = FaceAnalysis {
        detection: Detection {
            bbox: BoundingBox { x: cx - 100.0 * s, y: cy - 110.0 * s, width: 200.0 * s, height: 240.0 * s },
            score: 0.9,
        },
        landmarks: Landmarks68 { points: p },
        descriptor: Descriptor([0.0; 128]),
        signals: FaceSignals {
            face_width_px: 200.0 * s,
            face_fraction: 0.15,
            sharpness: 100.0,
            brightness: 0.5,
            yaw_deg: 0.0,
            pitch_deg: 0.0,
            roll_deg: 0.0,
            ear_left: 0.3,
            ear_right: 0.3,
            mouth_aspect_ratio: 0.05,
        },
    };
    (img, analysis)
}
