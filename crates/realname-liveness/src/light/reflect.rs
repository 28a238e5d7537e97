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
//! linear drift) — the full fit — and, with the per-frame mean of the three channels removed
//! from signal and display, the chromatic fit, where head motion under the room's light and
//! exposure changes cancel. The correlations decide whether the face responds; the chromatic
//! responses of the zones around the head, of dark against bright skin and of the darker
//! background decide whether the light was reflected by a face or added on top of an image.
//! Thresholds: crate README.

// Per-channel loops index several parallel [f32; 3] arrays at once; an index reads clearer.
#![allow(clippy::needless_range_loop)]

use image::RgbImage;
use realname_face::Landmarks68;
use serde::{Deserialize, Serialize};

use super::fit::{Fit, chroma_fit, chroma_rows, fit, projected_share};
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
    /// Correlation of the chromatic fit (each channel minus the mean of the three, which
    /// cancels head motion under the room's light and exposure changes) needed.
    pub min_chroma_correlation: f32,
    /// Mean relative brightening of the face per unit of linear display channel needed.
    pub min_gain: f32,
    /// Largest response of a zone around the head relative to the face's (a flat screen or
    /// paper responds as much around the face as on it).
    pub max_surround_ratio: f32,
    /// Largest [`LightMeasurement::added_share`] (0 reflected, 1 added). Light reflected by
    /// skin is proportional to the skin's own brightness (the same relative change on dark
    /// and bright skin); a uniform glare added on top of an image changes dark pixels
    /// relatively more.
    pub max_added_share: f32,
    /// Largest [`LightMeasurement::chroma_background_added`]: the darker half of the
    /// background responding beyond the brighter half, as a share of the face's response.
    pub max_background_added: f32,
    /// Face clipped share or background luma above which a missing response is reported as
    /// too bright (advice only: both are rejections).
    pub bright_clipped_share: f32,
    /// See [`LightConfig::bright_clipped_share`].
    pub bright_background_luma: f32,
}

impl LightConfig {
    /// Does the face respond in step? The full fit (all channels, white and dim steps too)
    /// or the chromatic fit (head motion and exposure cancel) correlates enough, with a gain.
    pub fn responds(&self, m: &LightMeasurement) -> bool {
        let chroma_gain = m.chroma_gain.iter().sum::<f32>() / 3.0;
        (m.correlation >= self.min_correlation && m.gain >= self.min_gain)
            || (m.chroma_correlation >= self.min_chroma_correlation && chroma_gain >= self.min_gain)
    }

    /// The whole acceptance rule on a measurement: responds, the zones around the head do
    /// not respond alike, and dark skin does not respond relatively more than bright skin
    /// (both on the chromatic fit).
    pub fn accepts(&self, m: &LightMeasurement) -> bool {
        self.responds(m)
            && m.chroma_surround.is_none_or(|s| s <= self.max_surround_ratio)
            && m.added_share <= self.max_added_share
            && m.chroma_background_added <= self.max_background_added
    }
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
            min_chroma_correlation: 0.76,
            min_gain: 0.02,
            max_surround_ratio: 0.15,
            max_added_share: 0.5,
            max_background_added: 0.7,
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
    /// Best latency of the chromatic fit (channel signals minus their mean) in the window.
    #[serde(default)]
    pub chroma_lag_ms: i64,
    /// Correlation of the chromatic fit at that latency.
    #[serde(default)]
    pub chroma_correlation: f32,
    /// Its per-channel slopes.
    #[serde(default)]
    pub chroma_gain: [f32; 3],
    /// Best chromatic correlation outside the window, with its latency.
    #[serde(default)]
    pub chroma_outside: (i64, f32),
    /// Response of the cheeks relative to the nose and forehead (a frontal display lights a
    /// 3-D face's sides at a grazing angle; a flat image evenly).
    #[serde(default)]
    pub side_ratio: f32,
    /// Response of the background's darker half relative to its brighter half, as a share of
    /// the face's response (light added on top of an image raises dark pixels more).
    #[serde(default)]
    pub background_added: f32,
    /// The largest share of the face's chromatic response that a zone around the head
    /// carries: the zone's chromatic signal projected on the face's fitted response, less two
    /// standard errors (a flat screen or sheet carries all of it, ≈ 1; a face's surroundings
    /// little; a noisy capture is not taken for a responding one).
    #[serde(default)]
    pub chroma_surround: Option<f32>,
    /// [`LightMeasurement::dark_ratio`] on the chromatic fit.
    #[serde(default)]
    pub chroma_dark_ratio: f32,
    /// Median brightness of the brighter half of the skin over the darker half (linear luma).
    #[serde(default)]
    pub skin_contrast: f32,
    /// `ln(chroma_dark_ratio) / ln(skin_contrast)`: 0 when dark and bright skin respond
    /// alike (reflected light scales with the skin's own brightness), 1 or more when the
    /// response goes with 1/brightness (light added on top of an image), shrunk towards 0
    /// when the skin contrast is small and the comparison carries little information.
    #[serde(default)]
    pub added_share: f32,
    /// [`LightMeasurement::background_added`] on the chromatic fit.
    #[serde(default)]
    pub chroma_background_added: f32,
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
    pub measurement: Option<Box<LightMeasurement>>,
}

fn rejection(reason: LightReason, hint: LightHint, detail: LightDetail, m: Option<LightMeasurement>) -> LightRejection {
    LightRejection { reason, hint, detail, measurement: m.map(Box::new) }
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

/// Noise scale of `ln(skin_contrast)` below which the dark/bright comparison carries little
/// information (the skin halves barely differ, so reflected and added light look alike).
const CONTRAST_NOISE: f32 = 0.14; // ≈ ln 1.15

/// [`LightMeasurement::added_share`]: the slope `k` of `ln(dark ratio) = k · ln(contrast)`
/// (0 reflected, 1 added), estimated with a shrinkage towards 0 of scale [`CONTRAST_NOISE`],
/// `ln r · ln c / (ln² c + s²)`: on contrasted skin the plain ratio `ln r / ln c`, on flat
/// skin down-weighted in step with how little the test can tell there.
fn added_share(dark_ratio: f32, skin_contrast: f32) -> f32 {
    let (r, c) = (dark_ratio.max(1e-3).ln(), skin_contrast.max(1.0).ln());
    r * c / (c * c + CONTRAST_NOISE * CONTRAST_NOISE)
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
    // The chromatic fit, its own best latency in and outside the window.
    let (mut chroma, mut chroma_outside) = ((0i64, 0f32, [0f32; 3]), (0i64, 0f32));
    let mut lag = -600;
    while lag <= 2_000 {
        let f = chroma_fit(&t, &xs_at(lag), &ys);
        if lag >= config.lag_min_ms && lag <= config.lag_max_ms {
            if f.correlation > chroma.1 {
                chroma = (lag, f.correlation, f.slopes);
            }
        } else if (lag < config.lag_min_ms - 60 || lag > config.lag_max_ms + 60) && f.correlation > chroma_outside.1 {
            chroma_outside = (lag, f.correlation);
        }
        // 10 ms steps in the window, 20 ms outside it (as the full fit).
        lag += if lag >= config.lag_min_ms - 10 && lag < config.lag_max_ms { 10 } else { 20 };
    }
    // Responses of the skin patches and of the background's darker half relative to its
    // brighter half, at the chosen latency, as shares of the face's.
    let response = |signal: &dyn Fn(&RegionMeans) -> [f32; 3]| -> f32 {
        let sy: Vec<[f32; 3]> = used.iter().map(|(_, r)| signal(r)).collect();
        let f = fit(&t, &xs, &sy);
        let sum: f32 = (0..3).filter(|&c| in_window.slopes[c] > 0.0).map(|c| f.slopes[c]).sum();
        if face_sum > 1e-4 { sum / face_sum } else { 0.0 }
    };
    let patch = |p: usize| {
        move |r: &RegionMeans| -> [f32; 3] { std::array::from_fn(|c| ln(r.patches[p][c]) - ln(r.background[c])) }
    };
    let has_patches = used.iter().all(|(_, r)| r.patches.iter().all(|p| p.iter().any(|v| *v > 0.0)));
    let (sides, centre) = if has_patches {
        ((response(&patch(0)) + response(&patch(1))) / 2.0, (response(&patch(2)) + response(&patch(3))) / 2.0)
    } else {
        (0.0, 0.0)
    };
    let background_added = response(&|r: &RegionMeans| {
        std::array::from_fn(|c| ln(r.background_halves[0][c]) - ln(r.background_halves[1][c]))
    });
    // The same relative measures on the chromatic fit (head motion cancels there too).
    let xs_c = xs_at(chroma.0);
    let chroma_sum: f32 = chroma.2.iter().sum();
    let chroma_response = |signal: &dyn Fn(&RegionMeans) -> [f32; 3]| -> f32 {
        let sy: Vec<[f32; 3]> = used.iter().map(|(_, r)| signal(r)).collect();
        let f = chroma_fit(&t, &xs_c, &sy);
        let sum: f32 = (0..3).filter(|&c| chroma.2[c] > 0.0).map(|c| f.slopes[c]).sum();
        if chroma_sum > 1e-4 { sum / chroma_sum } else { 0.0 }
    };
    // The zones around the head: how much of the face's own chromatic response each carries
    // (projected on it, less two standard errors).
    let face_chroma = chroma_fit(&t, &xs_c, &ys);
    let mut chroma_surround: Option<f32> = None;
    for z in 0..4 {
        if used.iter().all(|(_, r)| r.zones[z].is_some()) {
            let zy: Vec<[f32; 3]> = used
                .iter()
                .map(|(_, r)| {
                    let zm = r.zones[z].unwrap_or(r.background);
                    std::array::from_fn(|c| ln(zm[c]) - ln(r.background[c]))
                })
                .collect();
            let ratio = projected_share(&face_chroma, &chroma_rows(&t, &zy));
            chroma_surround = Some(chroma_surround.map_or(ratio, |s: f32| s.max(ratio)));
        }
    }
    let half = |pick: fn(&RegionMeans) -> [f32; 3]| {
        move |r: &RegionMeans| -> [f32; 3] { std::array::from_fn(|c| ln(pick(r)[c]) - ln(r.background[c])) }
    };
    let (cd, cb) = (chroma_response(&half(|r| r.face_dark)), chroma_response(&half(|r| r.face_bright)));
    let chroma_dark_ratio = if cb > 1e-4 { cd / cb } else { 10.0 };
    let chroma_background_added = chroma_response(&|r: &RegionMeans| {
        std::array::from_fn(|c| ln(r.background_halves[0][c]) - ln(r.background_halves[1][c]))
    });
    let luma = |v: [f32; 3]| 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
    let skin_contrast = median(used.iter().map(|(_, r)| luma(r.face_bright) / luma(r.face_dark).max(1e-4)).collect());
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
        chroma_lag_ms: chroma.0,
        chroma_correlation: chroma.1,
        chroma_gain: chroma.2,
        chroma_outside,
        side_ratio: if centre > 1e-4 { sides / centre } else { 0.0 },
        background_added,
        chroma_surround,
        chroma_dark_ratio,
        skin_contrast,
        added_share: added_share(chroma_dark_ratio, skin_contrast),
        chroma_background_added,
        background_luma: median(used.iter().map(|(_, r)| r.background_luma).collect()),
    };
    tracing::debug!(lag_ms, correlation = m.correlation, gain, surround = ?m.surround_ratio, "light check measured");
    if config.responds(&m) {
        if let Some(ratio) = m.chroma_surround.filter(|r| *r > config.max_surround_ratio) {
            return Err(rejection(R::LightNotReflected, H::FaceTheScreen, D::SurroundingsAlike { ratio }, Some(m)));
        }
        if m.added_share > config.max_added_share || m.chroma_background_added > config.max_background_added {
            let ratio = m.chroma_dark_ratio;
            return Err(rejection(R::LightNotReflected, H::FaceTheScreen, D::AddedNotReflected { ratio }, Some(m)));
        }
        return Ok(m);
    }
    if m.chroma_outside.1 >= config.min_chroma_correlation && m.chroma_outside.1 > m.chroma_correlation + 0.1 {
        let lag_ms = m.chroma_outside.0;
        return Err(rejection(R::LightOutOfStep, H::FaceTheScreen, D::LagOutsideWindow { lag_ms }, Some(m)));
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

#[cfg(test)]
mod added_share_tests {
    use super::added_share;

    #[test]
    fn plain_ratio_on_contrasted_skin_shrunk_on_flat_skin() {
        // Contrasted skin (c = 2): added light (r = c) reads close to 1, reflected (r = 1) 0.
        assert!((added_share(2.0, 2.0) - 1.0).abs() < 0.05);
        assert!(added_share(1.0, 2.0).abs() < 1e-6);
        // Flat skin (c = 1.05): the same dark/bright response ratio says much less.
        assert!(added_share(1.1, 1.05) < 0.5 * (1.1f32.ln() / 1.05f32.ln()));
        assert!(added_share(1.1, 1.0).abs() < 1e-6);
    }
}
