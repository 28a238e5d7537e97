//! The light check's decision: does the face — and not its surroundings — reflect the issued
//! colour sequence, in step, within a physically plausible latency? Pure function of the
//! issued sequence, the companion's paint times and the frames (with their landmarks).
//!
//! Signal: per frame and colour channel, `ln(face) − ln(background)` (linear light). Camera
//! auto-exposure and white balance multiply the whole frame, and a screen or photo tinted
//! by our light brightens its face and its own background alike, so all of these cancel in
//! the difference; light from our display reaching a real face (close to the screen) and
//! hardly the room behind it does not. For each candidate latency the signal is regressed
//! on the display's own channel value integrated over the exposure (plus a constant and a
//! linear drift); the pooled correlation and slopes decide. Thresholds: crate README.

// Per-channel loops index several parallel [f32; 3] arrays at once; an index reads clearer.
#![allow(clippy::needless_range_loop)]

use image::RgbImage;
use realname_face::Landmarks68;
use serde::{Deserialize, Serialize};

use super::regions::{RegionMeans, measure_regions};
use super::sequence::{LightPresentation, LightSequence, NEUTRAL_GREY, linear_rgb};

/// Calibrated thresholds of the light check (values and what they rest on: crate README).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LightConfig {
    /// Shortest display + camera latency accepted, ms.
    pub lag_min_ms: i64,
    /// Longest display + camera latency accepted, ms: the latency window.
    pub lag_max_ms: i64,
    /// Exposure time assumed when integrating the display over a frame, ms.
    pub exposure_ms: i64,
    /// How far a painted field's duration may differ from the issued hold, ms.
    pub hold_tolerance_ms: i64,
    /// Fewest frames in the analysed span.
    pub min_frames: usize,
    /// Share of the span's frames that must have a measured face.
    pub min_face_share: f32,
    /// Fewest background samples per frame (the face must not fill the frame).
    pub min_background_samples: usize,
    /// Pooled correlation of the face signal with the issued sequence needed.
    pub min_correlation: f32,
    /// Mean relative brightening of the face per unit of linear display channel needed.
    pub min_gain: f32,
    /// Largest response of a zone around the head relative to the face's (a flat screen or
    /// paper responds as much around the face as on it).
    pub max_surround_ratio: f32,
    /// Largest response of the darker half of the skin relative to the brighter half. Light
    /// reflected by skin is proportional to the skin's own brightness (the same relative
    /// change on dark and bright skin, less on the darker, turned-away parts); a uniform
    /// glare added on top of an image changes dark pixels relatively more.
    pub max_dark_ratio: f32,
    /// Face clipped share or background luma above which a missing response is reported as
    /// too bright (advice only: both are rejections).
    pub bright_clipped_share: f32,
    /// See [`LightConfig::bright_clipped_share`].
    pub bright_background_luma: f32,
}

impl Default for LightConfig {
    fn default() -> Self {
        LightConfig {
            lag_min_ms: 0,
            lag_max_ms: 350,
            exposure_ms: 20,
            hold_tolerance_ms: 50,
            min_frames: 12,
            min_face_share: 0.7,
            min_background_samples: 60,
            min_correlation: 0.73,
            min_gain: 0.02,
            max_surround_ratio: 0.8,
            max_dark_ratio: 1.3,
            bright_clipped_share: 0.05,
            bright_background_luma: 0.8,
        }
    }
}

/// One captured frame of the light step.
#[derive(Debug, Clone, Copy)]
pub struct LightFrame<'a> {
    /// The decoded frame.
    pub image: &'a RgbImage,
    /// Device capture time, ms since the Unix epoch (the presentation's clock).
    pub captured_at_ms: i64,
    /// The one face's landmarks (`None`: no face or several).
    pub landmarks: Option<&'a Landmarks68>,
}

/// A frame reduced to what the decision needs ([`measure_regions`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeasuredFrame {
    /// Device capture time, ms.
    pub captured_at_ms: i64,
    /// Region means, `None` without a usable face.
    pub regions: Option<RegionMeans>,
}

/// The reason codes of the light check (to become protocol reason codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LightReason {
    /// The face did not reflect the sequence (no response, or its surroundings reflect it
    /// alike: a screen or a photo).
    LightNotReflected,
    /// A response, but not the issued sequence in step (another sequence, too late, or the
    /// paint report does not follow the issued holds).
    LightOutOfStep,
    /// No response and the scene is very bright (a window behind or sunlight on the face).
    TooBrightForLightCheck,
}

/// What the person can do (stable identifiers; [`LightHint::advice`] words them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LightHint {
    /// Face the screen, come closer, hold still while the colours show.
    FaceTheScreen,
    /// Move away from the window or bright light.
    MoveAwayFromBrightLight,
    /// Start again with the new challenge.
    StartAgain,
}

impl LightHint {
    /// The advice text in `lang` (`"zh-CN"`, anything else: English).
    pub fn advice(self, lang: &str) -> &'static str {
        let zh = lang.eq_ignore_ascii_case("zh-CN");
        match (self, zh) {
            (LightHint::FaceTheScreen, false) => {
                "Face the screen from about an arm's length, and hold still while the colours flash."
            }
            (LightHint::FaceTheScreen, true) => "请正对屏幕，保持约一臂距离，颜色闪烁时请保持不动。",
            (LightHint::MoveAwayFromBrightLight, false) => {
                "It is too bright for the light check: move away from the window or bright lights and try again."
            }
            (LightHint::MoveAwayFromBrightLight, true) => "环境光太强，无法进行光线检测：请远离窗户或强光后重试。",
            (LightHint::StartAgain, false) => "Please start the scan again.",
            (LightHint::StartAgain, true) => "请重新开始扫描。",
        }
    }
}

/// What the check measured (for the decision record and the evaluation; no images).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LightMeasurement {
    /// Frames analysed.
    pub frames: usize,
    /// Best latency inside the window, ms.
    pub lag_ms: i64,
    /// Pooled correlation at that latency.
    pub correlation: f32,
    /// Per-channel face slopes at that latency (relative brightening per unit display).
    pub channel_gain: [f32; 3],
    /// Mean of the positive channel slopes.
    pub gain: f32,
    /// Largest zone response relative to the face's (`None`: no zone in the frame).
    pub surround_ratio: Option<f32>,
    /// Response of the darker half of the skin / the brighter half.
    pub dark_ratio: f32,
    /// Best correlation at a latency outside the window, with that latency.
    pub outside: (i64, f32),
    /// Detrended standard deviation of the face signal (log units), all channels.
    pub face_activity: f32,
    /// Median share of overexposed skin samples.
    pub face_clipped: f32,
    /// Median background luma.
    pub background_luma: f32,
}

/// Which rule rejected, with its measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum LightDetail {
    /// The presentation report is for another nonce.
    NonceMismatch,
    /// The presentation report does not follow the issued fields (count, order, holds).
    PresentationMismatch {
        /// Index of the first offending field (0 = lead-in).
        field: usize,
    },
    /// Too few frames (with a face) during the sequence.
    TooFewFrames {
        /// Usable frames.
        frames: usize,
        /// Frames in the span.
        span: usize,
    },
    /// The face fills the frame: nothing to compare it with.
    NoBackground,
    /// No response in step with the sequence.
    NoResponse,
    /// The face changes, but not with the sequence.
    NotInStep,
    /// The response follows the sequence with a latency outside the window.
    LagOutsideWindow {
        /// The latency, ms.
        lag_ms: i64,
    },
    /// Dark skin responds relatively more than bright skin: light added uniformly on top of
    /// an image (a screen's glare), not reflected by skin.
    AddedNotReflected {
        /// Dark-half response / bright-half response.
        ratio: f32,
    },
    /// The surroundings of the face reflect as much as the face: a flat screen or print.
    SurroundingsAlike {
        /// Zone response / face response.
        ratio: f32,
    },
}

/// A rejected light step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LightRejection {
    /// Reason code.
    pub reason: LightReason,
    /// Advice.
    pub hint: LightHint,
    /// The rule.
    pub detail: LightDetail,
    /// Measurements, when the analysis got that far.
    pub measurement: Option<LightMeasurement>,
}

fn rejection(reason: LightReason, hint: LightHint, detail: LightDetail, m: Option<LightMeasurement>) -> LightRejection {
    LightRejection { reason, hint, detail, measurement: m }
}

/// Reduces the frames and decides ([`measure_regions`] then [`decide_light`]).
pub fn check_light(
    sequence: &LightSequence,
    presentation: &LightPresentation,
    frames: &[LightFrame<'_>],
    config: &LightConfig,
) -> Result<LightMeasurement, LightRejection> {
    let measured: Vec<MeasuredFrame> = frames
        .iter()
        .map(|f| MeasuredFrame {
            captured_at_ms: f.captured_at_ms,
            regions: f.landmarks.and_then(|lm| measure_regions(f.image, lm)),
        })
        .collect();
    decide_light(sequence, presentation, &measured, config)
}

/// The display as painted: field start times and linear colours; outside the sequence the
/// app's own screen, taken as neutral grey.
struct Display {
    starts: Vec<i64>,
    colours: Vec<[f32; 3]>,
    end: i64,
    outside: [f32; 3],
}

impl Display {
    /// Mean linear colour over `[t0, t1)`.
    fn mean(&self, t0: i64, t1: i64) -> [f32; 3] {
        let span = (t1 - t0).max(1) as f32;
        let mut acc = [0f32; 3];
        let mut add = |a: i64, b: i64, col: [f32; 3]| {
            let (a, b) = (a.max(t0), b.min(t1));
            if b > a {
                for c in 0..3 {
                    acc[c] += col[c] * (b - a) as f32;
                }
            }
        };
        add(i64::MIN / 4, self.starts[0], self.outside);
        for i in 0..self.starts.len() {
            let next = self.starts.get(i + 1).copied().unwrap_or(self.end);
            add(self.starts[i], next, self.colours[i]);
        }
        add(self.end, i64::MAX / 4, self.outside);
        acc.map(|v| v / span)
    }
}

/// Least squares of `y` on `[1, t, x]`: (slope of x, residual SS, SS about the [1, t] fit).
fn regress(t: &[f32], x: &[f32], y: &[f32]) -> (f32, f32, f32) {
    let n = y.len() as f32;
    let mean = |v: &[f32]| v.iter().sum::<f32>() / n;
    let (mt, mx, my) = (mean(t), mean(x), mean(y));
    let (mut stt, mut stx, mut sxx, mut sty, mut sxy, mut syy) = (0f32, 0f32, 0f32, 0f32, 0f32, 0f32);
    for i in 0..y.len() {
        let (dt, dx, dy) = (t[i] - mt, x[i] - mx, y[i] - my);
        stt += dt * dt;
        stx += dt * dx;
        sxx += dx * dx;
        sty += dt * dy;
        sxy += dx * dy;
        syy += dy * dy;
    }
    // Partial out the drift t from x and y.
    let (bt_x, bt_y) = if stt > 0.0 { (stx / stt, sty / stt) } else { (0.0, 0.0) };
    let sxx_r = sxx - bt_x * stx;
    let sxy_r = sxy - bt_x * sty;
    let syy_r = (syy - bt_y * sty).max(0.0);
    if sxx_r <= 1e-9 {
        return (0.0, syy_r, syy_r);
    }
    let beta = sxy_r / sxx_r;
    (beta, (syy_r - beta * sxy_r).max(0.0), syy_r)
}

struct Fit {
    correlation: f32,
    slopes: [f32; 3],
    sst: f32,
}

fn fit(t: &[f32], xs: &[[f32; 3]], ys: &[[f32; 3]]) -> Fit {
    let (mut ssr, mut sst) = (0f32, 0f32);
    let mut slopes = [0f32; 3];
    for c in 0..3 {
        let x: Vec<f32> = xs.iter().map(|v| v[c]).collect();
        let y: Vec<f32> = ys.iter().map(|v| v[c]).collect();
        let (beta, r, s) = regress(t, &x, &y);
        sst += s;
        // Light only adds: a negative slope explains nothing.
        if beta > 0.0 {
            ssr += r;
            slopes[c] = beta;
        } else {
            ssr += s;
        }
    }
    let r2 = if sst > 0.0 { 1.0 - ssr / sst } else { 0.0 };
    Fit { correlation: r2.max(0.0).sqrt(), slopes, sst }
}

fn median(mut v: Vec<f32>) -> f32 {
    v.sort_by(f32::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Decides on frames already reduced by [`measure_regions`].
pub fn decide_light(
    sequence: &LightSequence,
    presentation: &LightPresentation,
    frames: &[MeasuredFrame],
    config: &LightConfig,
) -> Result<LightMeasurement, LightRejection> {
    use LightDetail as D;
    use LightHint as H;
    use LightReason as R;
    if presentation.nonce != sequence.nonce {
        return Err(rejection(R::LightOutOfStep, H::StartAgain, D::NonceMismatch, None));
    }
    let fields = sequence.fields();
    let shown = &presentation.shown_at_ms;
    if shown.len() != fields.len() {
        return Err(rejection(
            R::LightOutOfStep,
            H::StartAgain,
            D::PresentationMismatch { field: shown.len().min(fields.len()) },
            None,
        ));
    }
    let tol = config.hold_tolerance_ms;
    for i in 0..fields.len() {
        let end = shown.get(i + 1).copied().unwrap_or(presentation.ended_at_ms);
        let d = end - shown[i];
        let nominal = i64::from(fields[i].1);
        // Steps must match their holds; the lead-in and tail may run longer (the app may
        // wait for the camera), never shorter.
        let ok = if i == 0 || i == fields.len() - 1 {
            d >= nominal - tol && d <= nominal + 2_000
        } else {
            (d - nominal).abs() <= tol
        };
        if !ok {
            return Err(rejection(R::LightOutOfStep, H::StartAgain, D::PresentationMismatch { field: i }, None));
        }
    }
    let display = Display {
        starts: shown.clone(),
        colours: fields.iter().map(|f| linear_rgb(f.0)).collect(),
        end: presentation.ended_at_ms,
        outside: linear_rgb(NEUTRAL_GREY),
    };
    // Frames whose view of the display is known at every latency in the window.
    let (span0, span1) = (shown[0] + config.lag_max_ms, presentation.ended_at_ms + config.lag_min_ms);
    let span: Vec<&MeasuredFrame> =
        frames.iter().filter(|f| f.captured_at_ms >= span0 && f.captured_at_ms <= span1).collect();
    let used: Vec<(i64, RegionMeans)> = span
        .iter()
        .filter_map(|f| f.regions.map(|r| (f.captured_at_ms, r)))
        .filter(|(_, r)| r.background_samples >= config.min_background_samples)
        .collect();
    let with_face = span.iter().filter(|f| f.regions.is_some()).count();
    if with_face < config.min_frames || (with_face as f32) < config.min_face_share * span.len() as f32 {
        return Err(rejection(
            R::LightNotReflected,
            H::FaceTheScreen,
            D::TooFewFrames { frames: with_face, span: span.len() },
            None,
        ));
    }
    if used.len() < config.min_frames || (used.len() as f32) < config.min_face_share * span.len() as f32 {
        return Err(rejection(R::LightNotReflected, H::FaceTheScreen, D::NoBackground, None));
    }
    let ln = |v: f32| (v + 1e-3).ln();
    let t0 = used[0].0;
    let t: Vec<f32> = used.iter().map(|(ts, _)| (ts - t0) as f32 / 1000.0).collect();
    let ys: Vec<[f32; 3]> =
        used.iter().map(|(_, r)| std::array::from_fn(|c| ln(r.face[c]) - ln(r.background[c]))).collect();
    let xs_at = |lag: i64| -> Vec<[f32; 3]> {
        used.iter().map(|(ts, _)| display.mean(ts - lag - config.exposure_ms, ts - lag)).collect()
    };
    let mut best: Option<(i64, Fit)> = None;
    let mut lag = config.lag_min_ms;
    while lag <= config.lag_max_ms {
        let f = fit(&t, &xs_at(lag), &ys);
        if best.as_ref().is_none_or(|(_, b)| f.correlation > b.correlation) {
            best = Some((lag, f));
        }
        lag += 10;
    }
    let Some((lag_ms, in_window)) = best else {
        return Err(rejection(R::LightNotReflected, H::FaceTheScreen, D::NoResponse, None));
    };
    // Latencies outside the window: early (negative) or late up to 2 s.
    let mut outside = (0i64, 0f32);
    let mut lag = -600;
    while lag <= 2_000 {
        if lag < config.lag_min_ms - 60 || lag > config.lag_max_ms + 60 {
            let f = fit(&t, &xs_at(lag), &ys);
            if f.correlation > outside.1 {
                outside = (lag, f.correlation);
            }
        }
        lag += 20;
    }
    let positive: Vec<f32> = in_window.slopes.iter().copied().filter(|b| *b > 0.0).collect();
    let gain = in_window.slopes.iter().sum::<f32>() / 3.0;
    let xs = xs_at(lag_ms);
    let mut surround: Option<f32> = None;
    let face_sum: f32 = in_window.slopes.iter().sum();
    for z in 0..4 {
        let zy: Option<Vec<[f32; 3]>> = used
            .iter()
            .map(|(_, r)| r.zones[z].map(|zm| std::array::from_fn(|c| ln(zm[c]) - ln(r.background[c]))))
            .collect();
        if let Some(zy) = zy {
            let zf = fit(&t, &xs, &zy);
            let zsum: f32 = (0..3).filter(|&c| in_window.slopes[c] > 0.0).map(|c| zf.slopes[c]).sum();
            let ratio = if face_sum > 0.0 { zsum / face_sum } else { 0.0 };
            surround = Some(surround.map_or(ratio, |s: f32| s.max(ratio)));
        }
    }
    let half_fit = |pick: fn(&RegionMeans) -> [f32; 3]| -> f32 {
        let hy: Vec<[f32; 3]> =
            used.iter().map(|(_, r)| std::array::from_fn(|c| ln(pick(r)[c]) - ln(r.background[c]))).collect();
        let f = fit(&t, &xs, &hy);
        (0..3).filter(|&c| in_window.slopes[c] > 0.0).map(|c| f.slopes[c]).sum()
    };
    let (dark, bright) = (half_fit(|r| r.face_dark), half_fit(|r| r.face_bright));
    let dark_ratio = if bright > 1e-4 {
        dark / bright
    } else if dark > 1e-4 {
        10.0
    } else {
        1.0
    };
    let activity = (in_window.sst / (3.0 * used.len() as f32)).sqrt();
    let m = LightMeasurement {
        frames: used.len(),
        lag_ms,
        correlation: in_window.correlation,
        channel_gain: in_window.slopes,
        gain,
        surround_ratio: surround,
        dark_ratio,
        outside,
        face_activity: activity,
        face_clipped: median(used.iter().map(|(_, r)| r.face_clipped).collect()),
        background_luma: median(used.iter().map(|(_, r)| r.background_luma).collect()),
    };
    tracing::debug!(lag_ms, correlation = m.correlation, gain, surround = ?m.surround_ratio, "light check measured");
    let responds = m.correlation >= config.min_correlation && gain >= config.min_gain && !positive.is_empty();
    if responds {
        if let Some(ratio) = m.surround_ratio.filter(|r| *r > config.max_surround_ratio) {
            return Err(rejection(R::LightNotReflected, H::FaceTheScreen, D::SurroundingsAlike { ratio }, Some(m)));
        }
        if m.dark_ratio > config.max_dark_ratio {
            let ratio = m.dark_ratio;
            return Err(rejection(R::LightNotReflected, H::FaceTheScreen, D::AddedNotReflected { ratio }, Some(m)));
        }
        return Ok(m);
    }
    if m.outside.1 >= config.min_correlation && m.outside.1 > m.correlation + 0.1 {
        let lag_ms = m.outside.0;
        return Err(rejection(R::LightOutOfStep, H::FaceTheScreen, D::LagOutsideWindow { lag_ms }, Some(m)));
    }
    if m.face_clipped >= config.bright_clipped_share || m.background_luma >= config.bright_background_luma {
        return Err(rejection(R::TooBrightForLightCheck, H::MoveAwayFromBrightLight, D::NoResponse, Some(m)));
    }
    if m.correlation < config.min_correlation && m.face_activity >= 4.0 * config.min_gain {
        return Err(rejection(R::LightOutOfStep, H::FaceTheScreen, D::NotInStep, Some(m)));
    }
    Err(rejection(R::LightNotReflected, H::FaceTheScreen, D::NoResponse, Some(m)))
}
