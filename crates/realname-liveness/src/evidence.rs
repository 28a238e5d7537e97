//! Image evidence per face that the landmarks alone do not give: a small normalised grey
//! thumbnail of the face (to find repeated stills) and the eye regions' darkness relative to
//! the face (a closed lid covers the dark iris and lashes, so the eye box gets lighter —
//! measured against the person's own open-eye frames, because face-api's landmarks barely
//! follow a closing lid), and the eyes' edge evidence ([`eye_edges`]: the iris and the eye
//! corners make strong left–right grey steps that a closed lid, one horizontal lash line,
//! does not). The contrast is kept for measurement; it is not used in the decision (it rose
//! in some blinks and fell in others).

use realname_face::{BoundingBox, FaceAnalysis, RgbImage};
use serde::{Deserialize, Serialize};

use crate::error::LivenessError;

/// Scores of the passive presentation-attack networks for one face (human 3.3.6's
/// `antispoof` and `liveness`; the networks themselves are behind the `research` feature).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PassiveScores {
    /// `antispoof` output, 0..1 (human reports it as the "real" score).
    pub antispoof: f32,
    /// `liveness` output, first softmax component, 0..1 (human's `face.live`).
    pub liveness: f32,
}

/// Something that scores a face with passive networks (`passive::PassiveNets` under the
/// `research` feature; no product path runs one).
pub trait PassiveScorer {
    /// Scores the face in `bbox` of `image`.
    fn score(&self, image: &RgbImage, bbox: &BoundingBox) -> Result<PassiveScores, LivenessError>;
}

/// Side of the face thumbnail.
pub const THUMB_SIDE: usize = 24;

/// What the image says about one face, beyond the face engine's analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceImageEvidence {
    /// Grey face crop (landmark hull box), `THUMB_SIDE`² values, zero mean and unit variance.
    pub thumb: Vec<f32>,
    /// Mean over both eyes of the grey standard deviation inside the eye box, divided by the
    /// face's mean grey level.
    pub eye_contrast: f32,
    /// Mean over both eyes of how much darker the eye box is than the face: (face − eye) / face.
    pub eye_darkness: f32,
    /// [`eye_edges`] of the face (0 in analyses recorded before it existed).
    #[serde(default)]
    pub eye_edges: f32,
    /// The passive networks' scores, when they were run.
    pub passive: Option<PassiveScores>,
    /// The light check's region means of the frame around this face
    /// ([`crate::light::measure_regions`]; `None` in analyses recorded before it existed).
    #[serde(default)]
    pub light: Option<crate::light::RegionMeans>,
}

fn grey(image: &RgbImage, x: f32, y: f32) -> f32 {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let xc = x.clamp(0.0, w - 1.0);
    let yc = y.clamp(0.0, h - 1.0);
    let (x0, y0) = (xc.floor(), yc.floor());
    let (fx, fy) = (xc - x0, yc - y0);
    let (x0u, y0u) = (x0 as u32, y0 as u32);
    let (x1u, y1u) = ((x0u + 1).min(image.width() - 1), (y0u + 1).min(image.height() - 1));
    let g = |x: u32, y: u32| {
        let p = image.get_pixel(x, y).0;
        0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
    };
    let top = g(x0u, y0u) + (g(x1u, y0u) - g(x0u, y0u)) * fx;
    let bottom = g(x0u, y1u) + (g(x1u, y1u) - g(x0u, y1u)) * fx;
    top + (bottom - top) * fy
}

/// Grey samples on an `n`×`n` grid over the box `(x0, y0)–(x1, y1)`.
fn sample_box(image: &RgbImage, (x0, y0, x1, y1): (f32, f32, f32, f32), n: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n * n);
    for j in 0..n {
        let y = y0 + (y1 - y0) * (j as f32 + 0.5) / n as f32;
        for i in 0..n {
            let x = x0 + (x1 - x0) * (i as f32 + 0.5) / n as f32;
            out.push(grey(image, x, y));
        }
    }
    out
}

fn mean_std(v: &[f32]) -> (f32, f32) {
    let n = v.len().max(1) as f32;
    let m = v.iter().sum::<f32>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / n;
    (m, var.sqrt())
}

/// Measures the image evidence of `face` in `image`; runs the passive nets when given.
pub fn measure_face(
    image: &RgbImage,
    face: &FaceAnalysis,
    nets: Option<&dyn PassiveScorer>,
) -> Result<FaceImageEvidence, LivenessError> {
    if image.width() < 2 || image.height() < 2 {
        return Err(LivenessError::InvalidInput(format!("image {}x{}", image.width(), image.height())));
    }
    let pts = &face.landmarks.points;
    if pts.iter().any(|(x, y)| !x.is_finite() || !y.is_finite()) {
        return Err(LivenessError::InvalidInput("non-finite landmarks".into()));
    }
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for &(x, y) in pts {
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
    }
    let face_px = sample_box(image, (x0, y0, x1, y1), THUMB_SIDE);
    let (fm, fs) = mean_std(&face_px);
    let thumb = face_px.iter().map(|v| (v - fm) / fs.max(1e-3)).collect();
    let face_mean = fm.max(1.0);

    let mut contrast = 0.0;
    let mut darkness = 0.0;
    for eye in [36..42, 42..48] {
        let p = &pts[eye];
        let (ex0, ex1) = p.iter().fold((f32::MAX, f32::MIN), |(a, b), &(x, _)| (a.min(x), b.max(x)));
        let ey = p.iter().map(|&(_, y)| y).sum::<f32>() / p.len() as f32;
        let half_h = 0.3 * (ex1 - ex0);
        let inset = 0.1 * (ex1 - ex0);
        let region = sample_box(image, (ex0 + inset, ey - half_h, ex1 - inset, ey + half_h), 12);
        let (em, es) = mean_std(&region);
        contrast += es / face_mean / 2.0;
        darkness += (face_mean - em) / face_mean / 2.0;
    }
    let eye_edges = eye_edges(image, pts);
    let passive = match nets {
        Some(n) => Some(n.score(image, &face.detection.bbox)?),
        None => None,
    };
    let light = crate::light::measure_regions(image, &face.landmarks);
    Ok(FaceImageEvidence { thumb, eye_contrast: contrast, eye_darkness: darkness, eye_edges, passive, light })
}

/// Side of the grid sampled around each eye for [`eye_edges`].
const EYE_GRID: usize = 24;

/// Edge evidence of open eyes: around each eye a box twice the eye's width (landmarks 36–41,
/// 42–47) is sampled on a [`EYE_GRID`]² grey grid; in its middle band (the eye itself, a third
/// of the box high and half of it wide) the mean absolute step between horizontal neighbours
/// is taken, averaged over both eyes and divided by the median grey of both boxes (so light
/// and exposure cancel). An open eye's iris, sclera and corners give strong left–right steps;
/// a closed lid leaves skin and one horizontal lash line, and the value drops by 30–77 % in
/// the labelled blinks of `shared/data/liveness` (open-eye frames: ≤ 12 %; crate README).
/// Works on any landmark set, also one fitted on a tracked box or by the companion.
pub fn eye_edges(image: &RgbImage, points: &[(f32, f32); 68]) -> f32 {
    const N: usize = EYE_GRID;
    let mut steps = 0.0;
    let mut all = Vec::with_capacity(2 * N * N);
    for eye in [36..42, 42..48] {
        let p = &points[eye];
        let (ex0, ex1) = p.iter().fold((f32::MAX, f32::MIN), |(a, b), &(x, _)| (a.min(x), b.max(x)));
        let ey = p.iter().map(|&(_, y)| y).sum::<f32>() / p.len() as f32;
        let w = (ex1 - ex0).max(1.0);
        let g = sample_box(image, (ex0 - 0.5 * w, ey - w, ex1 + 0.5 * w, ey + w), N);
        let (mut sum, mut n) = (0.0, 0.0);
        for row in N / 3..2 * N / 3 {
            for col in N / 4..3 * N / 4 - 1 {
                sum += (g[row * N + col + 1] - g[row * N + col]).abs();
                n += 1.0;
            }
        }
        steps += sum / n / 2.0;
        all.extend(g);
    }
    let reference = median_of(&mut all).max(1.0);
    steps / reference
}

fn median_of(v: &mut [f32]) -> f32 {
    v.sort_by(f32::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Pearson correlation of two thumbnails (1 = identical up to brightness and contrast).
pub fn thumb_correlation(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() / a.len() as f32
}
