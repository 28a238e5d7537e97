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
//! rqrr can panic on some inputs; every pass runs under `catch_unwind`, a panic counts as "no
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
}

impl Default for ReaderConfig {
    fn default() -> Self {
        Self { budget: Some(Duration::from_millis(60)), max_side: 1280, find_all: false }
    }
}

/// A decoded QR code.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedQr {
    /// The payload bytes (byte mode as is, Kanji segments as Shift_JIS bytes).
    pub payload: Vec<u8>,
    /// Symbol corners in frame pixel coordinates, in the code's own order (top-left,
    /// top-right, bottom-right, bottom-left as the code reads), for drawing an overlay.
    pub corners: [(f32, f32); 4],
    /// QR version (1–40).
    pub version: usize,
    /// Error-correction level as rqrr numbers it (0–3).
    pub ecc_level: u16,
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
    /// How many passes ended in a contained rqrr panic.
    pub panics: usize,
    /// Wall time of the call.
    pub elapsed: Duration,
}

/// The passes, in order. Each turns the (possibly shrunk) luma into what rqrr sees.
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
}

const PASSES: [Pass; 8] = [
    Pass::Plain,
    Pass::Adaptive,
    Pass::AdaptiveInverted,
    Pass::Upscaled,
    Pass::Smoothed,
    Pass::Half,
    Pass::Otsu,
    Pass::UpscaledInverted,
];

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
        }
    }
}

/// What rqrr is given: grey levels (it thresholds itself) or a finished bitmap.
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
                found.push(DecodedQr { payload, corners, version: meta.version.0, ecc_level: meta.ecc_level, pass });
            }
        }
        found
    }))
    .map_err(|_| ())
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

    /// Reads an RGB frame.
    pub fn read(&self, frame: &RgbImage) -> ReadOutcome {
        self.read_luma(&Luma::from_rgb(frame))
    }

    /// Reads a grey image.
    pub fn read_gray(&self, frame: &GrayImage) -> ReadOutcome {
        self.read_luma(&Luma::from_gray(frame))
    }

    /// Reads luma pixels. Never panics, whatever the size or content.
    pub fn read_luma(&self, frame: &Luma) -> ReadOutcome {
        let start = Instant::now();
        let mut outcome = ReadOutcome::default();
        if frame.width < 21 || frame.height < 21 || frame.pixels.len() != frame.width * frame.height {
            outcome.elapsed = start.elapsed();
            return outcome;
        }
        // Work at most at max_side; `scale` maps work pixels to frame pixels.
        let long = frame.width.max(frame.height);
        let (base, base_scale) = if long > self.config.max_side {
            let f = self.config.max_side as f32 / long as f32;
            (prepare::resize(frame, f), f)
        } else {
            (frame.clone(), 1.0)
        };
        let mut stretched: Option<Luma> = None;
        for pass in PASSES {
            if let Some(budget) = self.config.budget {
                if outcome.passes_run > 0 && start.elapsed() >= budget {
                    outcome.budget_exhausted = true;
                    break;
                }
            }
            let stretched = stretched.get_or_insert_with(|| prepare::stretch_contrast(&base));
            let (view, scale) = build_view(pass, &base, stretched);
            outcome.passes_run += 1;
            match run_rqrr(&view, scale * base_scale, pass.name()) {
                Ok(codes) => {
                    for code in codes {
                        if !outcome.codes.iter().any(|c| c.payload == code.payload) {
                            outcome.codes.push(code);
                        }
                    }
                }
                Err(()) => {
                    outcome.panics += 1;
                    tracing::debug!(pass = pass.name(), "rqrr panicked; pass skipped");
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

fn build_view(pass: Pass, base: &Luma, stretched: &Luma) -> (View, f32) {
    let (w, h) = (base.width, base.height);
    match pass {
        Pass::Plain => (View::Grey(base.clone()), 1.0),
        Pass::Adaptive | Pass::AdaptiveInverted => {
            let mut dark = prepare::adaptive_threshold(stretched, window_for(w, h, 8), 3, 0);
            if pass == Pass::AdaptiveInverted {
                dark.iter_mut().for_each(|d| *d = !*d);
            }
            (View::Bits { width: w, height: h, dark }, 1.0)
        }
        Pass::Upscaled | Pass::UpscaledInverted => {
            let up = prepare::resize(stretched, 2.0);
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
        Pass::Half => (View::Grey(prepare::resize(base, 0.5)), 0.5),
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
    fn tiny_and_empty_inputs_are_fine() {
        let reader = QrReader::default();
        assert!(reader.read_luma(&Luma { width: 0, height: 0, pixels: vec![] }).codes.is_empty());
        assert!(reader.read_luma(&Luma { width: 5, height: 500, pixels: vec![0; 2500] }).codes.is_empty());
        // Inconsistent buffer length is refused, not indexed out of bounds.
        assert!(reader.read_luma(&Luma { width: 50, height: 50, pixels: vec![0; 10] }).codes.is_empty());
    }
}
