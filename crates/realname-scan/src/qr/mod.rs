//! QR reader for real camera frames: rqrr behind a ladder of pre-processing passes with a per-frame time budget.
//!
//! rqrr alone reads clean, high-contrast, dark-on-light codes. Camera frames of a screen add
//! uneven lighting, glare, blur, moiré, small modules and sometimes inverted colours, so the
//! reader runs a sequence of *passes*, each a different view of the same luma pixels, and
//! stops at the first pass that decodes something (or when the time budget is spent):
//!
//! 1. rqrr's own thresholding on the luma as is;
//! 2. contrast stretch + local-mean adaptive threshold (window ≈ 1/8 of the short side);
//! 3. the same bitmap inverted (light-on-dark codes);
//! 4. 2× bilinear upscale + adaptive threshold (codes whose modules are 1–3 px);
//! 5. smoothed + a finer-window threshold (noise, moiré, fine texture);
//! 6. half-size area average + rqrr's threshold (large, noisy or blurred codes);
//! 7. global Otsu threshold (glare-free, evenly lit prints);
//! 8. inverted upscale.
//!
//! With the `rxing` feature (default) rxing, a Rust port of ZXing, runs as a fallback: on the
//! plain luma right after rqrr's first pass (or before it with `rxing_first`), and on the
//! inverted, upscaled and half-size views after the rqrr passes. The figures that justify it
//! are in docs/benchmarks-scan.md.
//!
//! rqrr can panic on some inputs; every decoder call runs under `catch_unwind`, a panic counts as "no
//! code in this pass". Corner points are mapped back to the caller's frame coordinates.

mod charset;
pub mod prepare;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use image::{GrayImage, RgbImage};

pub use charset::{Charset, payload_text, payload_text_lossy};
pub use prepare::Luma;

/// Tuning of a [`QrReader`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReaderConfig {
    /// Stop starting new passes once this much time has passed (a pass already running
    /// finishes). `None` runs every pass.
    pub budget: Option<Duration>,
    /// Frames whose longer side exceeds this are shrunk first (rqrr's cost grows with area).
    pub max_side: usize,
    /// Keep running passes after a success and return every distinct code found.
    pub find_all: bool,
    /// Use the rxing (ZXing) fallback passes (only with the `rxing` cargo feature).
    pub rxing_fallback: bool,
    /// Run the rxing pass on the plain luma *before* rqrr's first pass (the default with the
    /// `rxing` feature: ~20x faster per frame at the same decode rate, see
    /// docs/benchmarks-scan.md); `false` makes rqrr's plain pass the first one.
    pub rxing_first: bool,
}

impl Default for ReaderConfig {
    fn default() -> Self {
        Self {
            budget: Some(Duration::from_millis(60)),
            max_side: 1280,
            find_all: false,
            rxing_fallback: cfg!(feature = "rxing"),
            rxing_first: cfg!(feature = "rxing"),
        }
    }
}

/// Which decoder read a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// rqrr, the primary decoder: `payload` holds the raw segment bytes.
    Rqrr,
    /// rxing, the fallback: it applies ECI/charset rules itself, so `payload` holds the UTF-8
    /// of its text.
    Rxing,
}

/// A decoded QR code.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedQr {
    /// The payload bytes (rqrr: byte mode as is, Kanji segments as Shift_JIS bytes; rxing:
    /// UTF-8 of the text it decoded).
    pub payload: Vec<u8>,
    /// Symbol corners in frame pixel coordinates, in the code's own order (top-left,
    /// top-right, bottom-right, bottom-left as the code reads), for drawing an overlay. For
    /// rxing results they are extrapolated from the finder patterns (a parallelogram).
    pub corners: [(f32, f32); 4],
    /// QR version (1–40); 0 when the decoder does not report it.
    pub version: usize,
    /// Which decoder read it.
    pub engine: Engine,
    /// Name of the pass that read it.
    pub pass: &'static str,
}

impl DecodedQr {
    /// The payload as text: UTF-8, else Shift_JIS, else ISO-8859-1 (see [`payload_text`]).
    pub fn text(&self) -> String {
        payload_text_lossy(&self.payload)
    }
}

/// What one `read` call did.
#[derive(Debug, Clone, Default)]
pub struct ReadOutcome {
    /// Codes found (empty when none).
    pub codes: Vec<DecodedQr>,
    /// How many passes ran.
    pub passes_run: usize,
    /// Whether passes were skipped because the budget ran out.
    pub budget_exhausted: bool,
    /// How many passes ended in a contained decoder panic.
    pub panics: usize,
    /// Wall time of the call.
    pub elapsed: Duration,
}

/// The passes. Each turns the (possibly shrunk) luma into what a decoder sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    Plain,
    Adaptive,
    AdaptiveInverted,
    Upscaled,
    Smoothed,
    Half,
    Otsu,
    UpscaledInverted,
    RxingPlain,
    RxingInverted,
    RxingUpscaled,
    RxingHalf,
}

impl Pass {
    fn name(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Adaptive => "adaptive",
            Self::AdaptiveInverted => "adaptive-inverted",
            Self::Upscaled => "upscaled",
            Self::Smoothed => "smoothed",
            Self::Half => "half",
            Self::Otsu => "otsu",
            Self::UpscaledInverted => "upscaled-inverted",
            Self::RxingPlain => "rxing",
            Self::RxingInverted => "rxing-inverted",
            Self::RxingUpscaled => "rxing-upscaled",
            Self::RxingHalf => "rxing-half",
        }
    }

    fn is_rxing(self) -> bool {
        matches!(self, Self::RxingPlain | Self::RxingInverted | Self::RxingUpscaled | Self::RxingHalf)
    }
}

/// The pass order for a configuration.
fn pass_order(config: &ReaderConfig) -> Vec<Pass> {
    let rx = config.rxing_fallback && cfg!(feature = "rxing");
    let mut order = Vec::new();
    if rx && config.rxing_first {
        order.push(Pass::RxingPlain);
    }
    order.push(Pass::Plain);
    if rx && !config.rxing_first {
        order.push(Pass::RxingPlain);
    }
    order.extend([Pass::Adaptive, Pass::AdaptiveInverted, Pass::Upscaled]);
    if rx {
        order.extend([Pass::RxingInverted, Pass::RxingUpscaled]);
    }
    order.extend([Pass::Smoothed, Pass::Half, Pass::Otsu, Pass::UpscaledInverted]);
    if rx {
        order.push(Pass::RxingHalf);
    }
    order
}

/// What a decoder is given: grey levels (it thresholds itself) or a finished bitmap.
enum View {
    Grey(Luma),
    Bits { width: usize, height: usize, dark: Vec<bool> },
}

fn window_for(w: usize, h: usize, divisor: usize) -> usize {
    (w.min(h) / divisor).clamp(9, 301) | 1
}

/// Runs rqrr on a view; panics inside rqrr become `Err(())`.
fn run_rqrr(view: &View, scale: f32, pass: &'static str) -> Result<Vec<DecodedQr>, ()> {
    catch_unwind(AssertUnwindSafe(|| {
        let mut prepared = match view {
            View::Grey(l) => {
                rqrr::PreparedImage::prepare_from_greyscale(l.width, l.height, |x, y| l.pixels[y * l.width + x])
            }
            View::Bits { width, height, dark } => {
                rqrr::PreparedImage::prepare_from_bitmap(*width, *height, |x, y| dark[y * width + x])
            }
        };
        let mut found = Vec::new();
        for grid in prepared.detect_grids() {
            let mut payload = Vec::new();
            if let Ok(meta) = grid.decode_to(&mut payload) {
                let corners = grid.bounds.map(|p| (p.x as f32 / scale, p.y as f32 / scale));
                found.push(DecodedQr { payload, corners, version: meta.version.0, engine: Engine::Rqrr, pass });
            }
        }
        found
    }))
    .map_err(|_| ())
}

/// Runs rxing's QR reader (hybrid binarizer, try-harder) on grey levels.
#[cfg(feature = "rxing")]
fn run_rxing(view: &View, scale: f32, pass: &'static str) -> Result<Vec<DecodedQr>, ()> {
    let View::Grey(l) = view else { return Ok(Vec::new()) };
    catch_unwind(AssertUnwindSafe(|| {
        let Ok(result) = rxing::helpers::detect_in_luma_slice(
            &l.pixels,
            l.width as u32,
            l.height as u32,
            Some(rxing::BarcodeFormat::QR_CODE),
        ) else {
            return Vec::new();
        };
        let pts: Vec<(f32, f32)> = result.getPoints().iter().map(|p| (p.x, p.y)).collect();
        let corners = match pts.as_slice() {
            // rxing's zxing-cpp port reports the symbol's corners (top-left, top-right,
            // bottom-right, bottom-left); its classic ZXing reader reports finder centres
            // (bottom-left, top-left, top-right) plus, maybe, an alignment pattern, which lies
            // inside their triangle.
            [a, b, c, d] if !inside_triangle(*d, *a, *b, *c) => around_centre([*a, *b, *c, *d]),
            [bl, tl, tr, ..] => finder_corners(l, *tl, *tr, *bl),
            _ => [(0.0, 0.0); 4],
        }
        .map(|(x, y)| (x / scale, y / scale));
        vec![DecodedQr {
            payload: result.getText().as_bytes().to_vec(),
            corners,
            version: 0,
            engine: Engine::Rxing,
            pass,
        }]
    }))
    .map_err(|_| ())
}

#[cfg(not(feature = "rxing"))]
fn run_rxing(_view: &View, _scale: f32, _pass: &'static str) -> Result<Vec<DecodedQr>, ()> {
    Ok(Vec::new())
}

#[cfg(any(feature = "rxing", test))]
/// Distance in pixels from a finder centre to the outer edge of its pattern (3.5 modules)
/// along `dir`: the third dark/light change of the grey profile, else `fallback`.
fn finder_edge(l: &Luma, c: (f32, f32), dir: (f32, f32), max: f32, fallback: f32) -> f32 {
    let steps = (max * 2.0) as usize;
    let mut samples = Vec::with_capacity(steps);
    for i in 0..steps {
        let t = i as f32 * 0.5;
        let (x, y) = (c.0 + dir.0 * t, c.1 + dir.1 * t);
        if x < 0.0 || y < 0.0 || x >= l.width as f32 || y >= l.height as f32 {
            break;
        }
        samples.push((t, l.at(x as usize, y as usize)));
    }
    let (lo, hi) = samples.iter().fold((255u8, 0u8), |(lo, hi), s| (lo.min(s.1), hi.max(s.1)));
    if hi <= lo.saturating_add(20) {
        return fallback;
    }
    let mid = (u16::from(lo) + u16::from(hi)) / 2;
    let mut dark = samples.first().is_none_or(|s| u16::from(s.1) < mid);
    let mut changes = 0;
    for (t, v) in samples {
        let now_dark = u16::from(v) < mid;
        if now_dark != dark {
            dark = now_dark;
            changes += 1;
            if changes == 3 {
                return t;
            }
        }
    }
    fallback
}

#[cfg(any(feature = "rxing", test))]
/// Whether `p` lies inside (or on) the triangle `a b c`.
fn inside_triangle(p: (f32, f32), a: (f32, f32), b: (f32, f32), c: (f32, f32)) -> bool {
    let cross = |o: (f32, f32), u: (f32, f32), v: (f32, f32)| (u.0 - o.0) * (v.1 - o.1) - (u.1 - o.1) * (v.0 - o.0);
    let (d1, d2, d3) = (cross(a, b, p), cross(b, c, p), cross(c, a, p));
    let neg = d1 < 0.0 || d2 < 0.0 || d3 < 0.0;
    let pos = d1 > 0.0 || d2 > 0.0 || d3 > 0.0;
    !(neg && pos)
}

#[cfg(any(feature = "rxing", test))]
/// The four points in order round their centre (clockwise on screen), starting with the first:
/// rxing reports some symbols' corners in reading order (top-left, top-right, bottom-left,
/// bottom-right), which would draw a crossed outline.
fn around_centre(p: [(f32, f32); 4]) -> [(f32, f32); 4] {
    let (cx, cy) = (p.iter().map(|q| q.0).sum::<f32>() / 4.0, p.iter().map(|q| q.1).sum::<f32>() / 4.0);
    let angle = |q: &(f32, f32)| (q.1 - cy).atan2(q.0 - cx);
    let start = angle(&p[0]);
    let mut out = p;
    out.sort_by(|a, b| {
        let turn = |q| (angle(q) - start).rem_euclid(std::f32::consts::TAU);
        turn(a).total_cmp(&turn(b))
    });
    out
}

#[cfg(any(feature = "rxing", test))]
/// Symbol corners from the three finder-pattern centres (a parallelogram).
fn finder_corners(l: &Luma, tl: (f32, f32), tr: (f32, f32), bl: (f32, f32)) -> [(f32, f32); 4] {
    let sub = |a: (f32, f32), b: (f32, f32)| (a.0 - b.0, a.1 - b.1);
    let len = |v: (f32, f32)| (v.0 * v.0 + v.1 * v.1).sqrt().max(1e-3);
    let (vx, vy) = (sub(tr, tl), sub(bl, tl));
    let (ux, uy) = ((vx.0 / len(vx), vx.1 / len(vx)), (vy.0 / len(vy), vy.1 / len(vy)));
    // Outer edge distance: walk away from the symbol from the top-left finder; the fallback
    // assumes a version-1 symbol (finder centres 14 modules apart).
    let guess = len(vx) / 14.0 * 3.5;
    let ex = finder_edge(l, tl, (-ux.0, -ux.1), len(vx) / 2.0, guess);
    let ey = finder_edge(l, tl, (-uy.0, -uy.1), len(vy) / 2.0, guess);
    let at = |p: (f32, f32), a: f32, b: f32| (p.0 + ux.0 * a + uy.0 * b, p.1 + ux.1 * a + uy.1 * b);
    let c_tl = at(tl, -ex, -ey);
    let c_tr = at(tr, ex, -ey);
    let c_bl = at(bl, -ex, ey);
    let c_br = (c_tr.0 + c_bl.0 - c_tl.0, c_tr.1 + c_bl.1 - c_tl.1);
    [c_tl, c_tr, c_br, c_bl]
}

/// Finds and decodes QR codes in frames. Cheap to create and `Sync`: share one per thread or
/// per app.
#[derive(Debug, Clone, Default)]
pub struct QrReader {
    config: ReaderConfig,
}

impl QrReader {
    /// A reader with the given tuning.
    pub fn new(config: ReaderConfig) -> Self {
        Self { config }
    }

    /// The tuning in use.
    pub fn config(&self) -> &ReaderConfig {
        &self.config
    }

    /// Reads an RGB frame. The first passes run on Rec. 601 luma, then the same passes on the
    /// equal-weight channel mean, which cancels most screen sub-pixel moiré (see
    /// [`Luma::from_rgb_balanced`]), then the remaining passes on luma.
    pub fn read(&self, frame: &RgbImage) -> ReadOutcome {
        let start = Instant::now();
        let first = |p: Pass| matches!(p, Pass::Plain | Pass::RxingPlain | Pass::Adaptive);
        let luma = Luma::from_rgb(frame);
        let mut outcome = ReadOutcome::default();
        let stages: [(bool, &dyn Fn(Pass) -> bool); 3] =
            [(false, &first), (true, &|p| first(p) || p == Pass::Smoothed), (false, &|p| !first(p))];
        for (stage, (balanced, filter)) in stages.into_iter().enumerate() {
            if (!outcome.codes.is_empty() && !self.config.find_all) || outcome.budget_exhausted {
                break;
            }
            let grey = if balanced { Luma::from_rgb_balanced(frame) } else { luma.clone() };
            let part = self.read_inner(&grey, start, balanced, filter, stage > 0);
            for code in part.codes {
                if !outcome.codes.iter().any(|c| c.text() == code.text()) {
                    outcome.codes.push(code);
                }
            }
            outcome.passes_run += part.passes_run;
            outcome.panics += part.panics;
            outcome.budget_exhausted = part.budget_exhausted;
        }
        outcome.elapsed = start.elapsed();
        outcome
    }

    /// Reads a grey image.
    pub fn read_gray(&self, frame: &GrayImage) -> ReadOutcome {
        self.read_luma(&Luma::from_gray(frame))
    }

    /// Reads luma pixels. Never panics, whatever the size or content.
    pub fn read_luma(&self, frame: &Luma) -> ReadOutcome {
        self.read_inner(frame, Instant::now(), false, &|_| true, false)
    }

    fn read_inner(
        &self,
        frame: &Luma,
        start: Instant,
        balanced: bool,
        filter: &dyn Fn(Pass) -> bool,
        later_stage: bool,
    ) -> ReadOutcome {
        let mut outcome = ReadOutcome::default();
        if frame.width < 21 || frame.height < 21 || frame.pixels.len() != frame.width * frame.height {
            outcome.elapsed = start.elapsed();
            return outcome;
        }
        // Work at most at max_side; `scale` maps work pixels to frame pixels.
        let long = frame.width.max(frame.height);
        let (base, base_scale) = if long > self.config.max_side.max(64) {
            let f = self.config.max_side.max(64) as f32 / long as f32;
            (prepare::resize(frame, f), f)
        } else {
            (frame.clone(), 1.0)
        };
        let mut stretched: Option<Luma> = None;
        let mut upscaled: Option<Luma> = None;
        let mut order = pass_order(&self.config);
        order.retain(|p| filter(*p));
        for pass in order {
            if let Some(budget) = self.config.budget {
                // The very first pass of a read always runs, so a slow machine still decodes.
                if (outcome.passes_run > 0 || later_stage) && start.elapsed() >= budget {
                    outcome.budget_exhausted = true;
                    break;
                }
            }
            let stretched = stretched.get_or_insert_with(|| prepare::stretch_contrast(&base));
            let (view, scale) = build_view(pass, &base, stretched, &mut upscaled);
            outcome.passes_run += 1;
            let result = if pass.is_rxing() {
                run_rxing(&view, scale * base_scale, pass.name())
            } else {
                run_rqrr(&view, scale * base_scale, pass.name())
            };
            match result {
                Ok(codes) => {
                    for code in codes {
                        if !outcome.codes.iter().any(|c| c.text() == code.text()) {
                            outcome
                                .codes
                                .push(DecodedQr { pass: if balanced { "balanced-grey" } else { code.pass }, ..code });
                        }
                    }
                }
                Err(()) => {
                    outcome.panics += 1;
                    tracing::debug!(pass = pass.name(), "decoder panicked; pass skipped");
                }
            }
            if !outcome.codes.is_empty() && !self.config.find_all {
                break;
            }
        }
        outcome.elapsed = start.elapsed();
        outcome
    }
}

fn build_view(pass: Pass, base: &Luma, stretched: &Luma, upscaled: &mut Option<Luma>) -> (View, f32) {
    let (w, h) = (base.width, base.height);
    let mut up = || upscaled.get_or_insert_with(|| prepare::resize(stretched, 2.0)).clone();
    match pass {
        Pass::Plain | Pass::RxingPlain => (View::Grey(base.clone()), 1.0),
        Pass::RxingInverted => {
            (View::Grey(Luma { width: w, height: h, pixels: stretched.pixels.iter().map(|p| 255 - p).collect() }), 1.0)
        }
        Pass::RxingUpscaled => (View::Grey(up()), 2.0),
        Pass::Adaptive | Pass::AdaptiveInverted => {
            let mut dark = prepare::adaptive_threshold(stretched, window_for(w, h, 8), 3, 0);
            if pass == Pass::AdaptiveInverted {
                dark.iter_mut().for_each(|d| *d = !*d);
            }
            (View::Bits { width: w, height: h, dark }, 1.0)
        }
        Pass::Upscaled | Pass::UpscaledInverted => {
            let up = up();
            let mut dark = prepare::adaptive_threshold(&up, window_for(up.width, up.height, 8), 3, 0);
            if pass == Pass::UpscaledInverted {
                dark.iter_mut().for_each(|d| *d = !*d);
            }
            (View::Bits { width: up.width, height: up.height, dark }, 2.0)
        }
        Pass::Smoothed => {
            let s = prepare::smooth(stretched);
            let dark = prepare::adaptive_threshold(&s, window_for(w, h, 16), 2, 0);
            (View::Bits { width: w, height: h, dark }, 1.0)
        }
        Pass::Half | Pass::RxingHalf => (View::Grey(prepare::resize(base, 0.5)), 0.5),
        Pass::Otsu => {
            let level = prepare::otsu_level(stretched);
            let dark = stretched.pixels.iter().map(|&p| p <= level).collect();
            (View::Bits { width: w, height: h, dark }, 1.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_image(text: &str, module: u32, invert: bool) -> GrayImage {
        let code = qrcode::QrCode::new(text.as_bytes()).expect("encodable");
        let img = code.render::<image::Luma<u8>>().module_dimensions(module, module).build();
        if invert {
            GrayImage::from_fn(img.width(), img.height(), |x, y| image::Luma([255 - img.get_pixel(x, y).0[0]]))
        } else {
            img
        }
    }

    #[test]
    fn reads_clean_and_inverted_codes_with_corners() {
        let reader = QrReader::default();
        let img = code_image("http://127.0.0.1:8080/v1/q/abc", 4, false);
        let out = reader.read_gray(&img);
        assert_eq!(out.codes.len(), 1, "{out:?}");
        assert_eq!(out.codes[0].text(), "http://127.0.0.1:8080/v1/q/abc");
        // Quiet zone is 4 modules of 4 px: the top-left corner is near (16, 16).
        let (x, y) = out.codes[0].corners[0];
        assert!((x - 16.0).abs() < 4.0 && (y - 16.0).abs() < 4.0, "{:?}", out.codes[0].corners);
        let inv = reader.read_gray(&code_image("inverted", 4, true));
        assert_eq!(inv.codes.first().map(DecodedQr::text).as_deref(), Some("inverted"), "{inv:?}");
    }

    #[test]
    fn rqrr_passes_alone_read_clean_and_inverted_codes() {
        let reader = QrReader::new(ReaderConfig { rxing_fallback: false, ..Default::default() });
        let out = reader.read_gray(&code_image("rqrr only", 4, false));
        let code = out.codes.first().expect("rqrr reads a clean code");
        assert_eq!((code.text().as_str(), code.engine, code.pass), ("rqrr only", Engine::Rqrr, "plain"));
        let (x, y) = code.corners[0];
        assert!((x - 16.0).abs() < 4.0 && (y - 16.0).abs() < 4.0, "{:?}", code.corners);
        let inv = reader.read_gray(&code_image("rqrr inverted", 4, true));
        let code = inv.codes.first().expect("an inverted pass reads it");
        assert_eq!((code.text().as_str(), code.pass), ("rqrr inverted", "adaptive-inverted"));
    }

    #[test]
    fn finder_centres_extrapolate_to_symbol_corners() {
        // Version 1 (21 modules) at 4 px with a 4-module quiet zone: the symbol spans 16..100,
        // finder centres sit 3.5 modules (14 px) inside its corners.
        let img = Luma::from_gray(&code_image("V1", 4, false));
        let corners = finder_corners(&img, (30.0, 30.0), (86.0, 30.0), (30.0, 86.0));
        let want = [(16.0, 16.0), (100.0, 16.0), (100.0, 100.0), (16.0, 100.0)];
        for (c, w) in corners.iter().zip(want) {
            assert!((c.0 - w.0).abs() <= 2.0 && (c.1 - w.1).abs() <= 2.0, "{corners:?}");
        }
        assert!(inside_triangle((40.0, 40.0), (30.0, 86.0), (30.0, 30.0), (86.0, 30.0)));
        assert!(!inside_triangle((100.0, 100.0), (30.0, 86.0), (30.0, 30.0), (86.0, 30.0)));
    }

    #[test]
    fn tiny_and_empty_inputs_are_fine() {
        let reader = QrReader::default();
        assert!(reader.read_luma(&Luma { width: 0, height: 0, pixels: vec![] }).codes.is_empty());
        assert!(reader.read_luma(&Luma { width: 5, height: 500, pixels: vec![0; 2500] }).codes.is_empty());
        // Inconsistent buffer length is refused, not indexed out of bounds.
        assert!(reader.read_luma(&Luma { width: 50, height: 50, pixels: vec![0; 10] }).codes.is_empty());
    }
}

#[cfg(test)]
mod outline_tests {
    use std::time::Duration;

    use crate::{FrameSource, QrReader, ReaderConfig, SourceSpec, open_source};

    /// Twice the signed area of each consecutive corner triple: all the same sign for a
    /// simple (non-self-crossing) convex outline.
    fn turns(c: &[(f32, f32); 4]) -> Vec<f32> {
        (0..4)
            .map(|i| {
                let (a, b, d) = (c[i], c[(i + 1) % 4], c[(i + 2) % 4]);
                (b.0 - a.0) * (d.1 - b.1) - (b.1 - a.1) * (d.0 - b.0)
            })
            .collect()
    }

    #[test]
    fn corners_go_round_the_symbol_for_both_engines() {
        for seed in 1..=6 {
            let spec = format!("synthetic:qr=https://example.com/not-realname;perspective=12;seed={seed}@640x480");
            let mut src = open_source(&SourceSpec::parse(&spec).expect("spec")).expect("open");
            let frame = src.next_frame(Duration::from_secs(2)).expect("frame");
            for rxing in [false, true] {
                let reader =
                    QrReader::new(ReaderConfig { rxing_fallback: rxing, rxing_first: rxing, ..Default::default() });
                let out = reader.read(&frame.image);
                let Some(code) = out.codes.first() else { continue };
                let t = turns(&code.corners);
                assert!(
                    t.iter().all(|v| *v > 0.0) || t.iter().all(|v| *v < 0.0),
                    "seed {seed} {:?}: {:?}",
                    code.engine,
                    code.corners
                );
            }
        }
    }
}
