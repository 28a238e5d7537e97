//! Where the light check looks in a frame: skin patches anchored on the 68 landmarks (cheeks,
//! nose, forehead — no eyes, brows or mouth, so blinks, glasses glare and speech move them
//! little), four zones just around the head, and the background (the frame outside the
//! face), each reduced to a robust per-channel mean of linear light.

// Per-channel loops index several parallel [f32; 3] arrays at once; an index reads clearer.
#![allow(clippy::needless_range_loop)]

use image::RgbImage;
use realname_face::Landmarks68;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

use super::sequence::srgb_to_linear;

/// Triangles (landmark indices, dlib 68 order) of the skin patches. Cheeks between the
/// jaw, the lower eyelid, the nostril and the mouth corner; the nose from its bridge to the
/// nostrils. Index ≥ 68 are virtual forehead points (see [`landmark_point`]).
const SKIN_TRIANGLES: [[usize; 3]; 9] = [
    [1, 41, 31],
    [1, 31, 3],
    [3, 31, 48],
    [15, 46, 35],
    [15, 35, 13],
    [13, 35, 54],
    [27, 31, 35],
    [19, 24, 69],
    [19, 69, 68],
];

/// Barycentric lattice resolution per triangle ((N+1)(N+2)/2 samples, inner ones only).
const LATTICE: usize = 10;
/// Triangles are shrunk towards their centroid so samples stay off the patch edges (eyelid,
/// lip line, jaw contour) where a landmark error would put them on something else.
const SHRINK: f32 = 0.8;
/// Fraction of the skin samples dropped at each end of the luma order (specular glints,
/// glasses rims, shadows) before averaging.
const TRIM: f32 = 0.15;
/// Grid of the background sample points over the whole frame.
const BG_GRID: (usize, usize) = (48, 36);
/// Grid of each surrounding zone.
const ZONE_GRID: usize = 10;

/// Per-frame measurements of one frame (linear light, 0..=1, per channel R, G, B).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RegionMeans {
    /// Trimmed mean over the skin patches.
    pub face: [f32; 3],
    /// Mean of the darker half of the trimmed skin samples (by luma).
    pub face_dark: [f32; 3],
    /// Mean of the brighter half.
    pub face_bright: [f32; 3],
    /// The four zones around the head (left, right, upper left, upper right); `None` when
    /// less than half of a zone lies in the frame.
    pub zones: [Option<[f32; 3]>; 4],
    /// Mean over the frame outside the face box expanded by 1.3×.
    pub background: [f32; 3],
    /// Background sample count (0 when the face fills the frame).
    pub background_samples: usize,
    /// Share of skin samples with a channel at 250 or more (overexposed).
    pub face_clipped: f32,
    /// Mean sRGB luma of the background, 0..=1 (a bright window behind the person).
    pub background_luma: f32,
    /// Trimmed means of the skin patches by place: left cheek, right cheek, nose, forehead
    /// (the Lambertian centre/side contrast of a 3-D face; zeros in older records).
    #[serde(default)]
    pub patches: [[f32; 3]; 4],
    /// Means of the darker and the brighter half of the background samples (by luma): light
    /// added on top of an image raises the darker half relatively more.
    #[serde(default)]
    pub background_halves: [[f32; 3]; 2],
}

/// Patch of each skin triangle (index into [`RegionMeans::patches`]).
const TRIANGLE_PATCH: [usize; 9] = [0, 0, 0, 1, 1, 1, 2, 3, 3];

/// Trimmed ([`TRIM`] of the luma order at each end) mean of `(luma, linear)` samples.
fn trimmed_mean(samples: &mut [(f32, [f32; 3])]) -> [f32; 3] {
    samples.sort_by(|a, b| a.0.total_cmp(&b.0));
    let cut = (samples.len() as f32 * TRIM) as usize;
    let kept = &samples[cut..samples.len() - cut];
    let mut m = [0f32; 3];
    for s in kept {
        (0..3).for_each(|c| m[c] += s.1[c]);
    }
    m.map(|v| v / kept.len().max(1) as f32)
}

fn lut() -> &'static [f32; 256] {
    static LUT: OnceLock<[f32; 256]> = OnceLock::new();
    LUT.get_or_init(|| std::array::from_fn(|i| srgb_to_linear(i as u8)))
}

/// A landmark or a virtual forehead point: 68 = above brow point 19, 69 = above 24, moved
/// up by 0.45 of the nose length (27 → 33) along the face's own vertical.
pub fn landmark_point(lm: &Landmarks68, i: usize) -> (f32, f32) {
    let p = &lm.points;
    match i {
        68 | 69 => {
            let base = if i == 68 { p[19] } else { p[24] };
            let up = (p[27].0 - p[33].0, p[27].1 - p[33].1);
            (base.0 + 0.45 * up.0, base.1 + 0.45 * up.1)
        }
        _ => p[i.min(67)],
    }
}

/// Face geometry used for the zones: centre, width (jaw 0 ↔ 16) and height (brows ↔ chin).
#[derive(Debug, Clone, Copy)]
pub struct FaceFrame {
    /// Centre, pixels.
    pub centre: (f32, f32),
    /// Jaw width, pixels.
    pub width: f32,
    /// Brow line to chin, pixels.
    pub height: f32,
    /// Brow line y, pixels.
    pub brow_y: f32,
}

impl FaceFrame {
    /// From the landmarks.
    pub fn of(lm: &Landmarks68) -> Self {
        let p = &lm.points;
        let width = ((p[16].0 - p[0].0).powi(2) + (p[16].1 - p[0].1).powi(2)).sqrt().max(1.0);
        let brow_y = (p[19].1 + p[24].1) / 2.0;
        let height = (p[8].1 - brow_y).abs().max(1.0);
        let centre = ((p[0].0 + p[16].0 + p[27].0 + p[8].0) / 4.0, (brow_y + p[8].1) / 2.0);
        FaceFrame { centre, width, height, brow_y }
    }

    /// The zones around the head as `[x0, y0, x1, y1]`: left and right of the face at eye to
    /// mouth height, 0.08–0.35 face widths beyond the jaw line (ears, hair, and whatever
    /// is right behind the head); upper left and upper right, over the top of the head.
    pub fn zones(&self) -> [[f32; 4]; 4] {
        let (cx, w, h, by) = (self.centre.0, self.width, self.height, self.brow_y);
        [
            [cx - 0.85 * w, by, cx - 0.58 * w, by + 0.6 * h],
            [cx + 0.58 * w, by, cx + 0.85 * w, by + 0.6 * h],
            [cx - 0.75 * w, by - 0.75 * h, cx - 0.35 * w, by - 0.4 * h],
            [cx + 0.35 * w, by - 0.75 * h, cx + 0.75 * w, by - 0.4 * h],
        ]
    }

    /// The box excluded from the background: the face box grown to cover hair and ears.
    pub fn exclusion(&self) -> [f32; 4] {
        let (cx, w, h, by) = (self.centre.0, self.width, self.height, self.brow_y);
        [cx - 0.65 * w, by - 0.7 * h, cx + 0.65 * w, by + 1.3 * h]
    }
}

#[inline]
fn pixel(img: &RgbImage, x: f32, y: f32) -> Option<[u8; 3]> {
    if !(x >= 0.0 && y >= 0.0) {
        return None;
    }
    img.get_pixel_checked(x as u32, y as u32).map(|p| p.0)
}

fn rect_mean(img: &RgbImage, r: [f32; 4], nx: usize, ny: usize, lut: &[f32; 256]) -> (usize, usize, [f32; 3]) {
    let mut sum = [0f32; 3];
    let mut n = 0;
    for j in 0..ny {
        let y = r[1] + (r[3] - r[1]) * (j as f32 + 0.5) / ny as f32;
        for i in 0..nx {
            let x = r[0] + (r[2] - r[0]) * (i as f32 + 0.5) / nx as f32;
            if let Some(p) = pixel(img, x, y) {
                for c in 0..3 {
                    sum[c] += lut[p[c] as usize];
                }
                n += 1;
            }
        }
    }
    (n, nx * ny, sum.map(|s| s / n.max(1) as f32))
}

/// Measures one frame. `None` when the skin patches have fewer than 30 samples in the
/// frame (face out of the picture or tiny).
pub fn measure_regions(img: &RgbImage, lm: &Landmarks68) -> Option<RegionMeans> {
    let lut = lut();
    let mut skin: Vec<(f32, [f32; 3], bool)> = Vec::with_capacity(SKIN_TRIANGLES.len() * 50);
    let mut by_patch: [Vec<(f32, [f32; 3])>; 4] = Default::default();
    for (t, tri) in SKIN_TRIANGLES.into_iter().enumerate() {
        let v = tri.map(|i| landmark_point(lm, i));
        let c = ((v[0].0 + v[1].0 + v[2].0) / 3.0, (v[0].1 + v[1].1 + v[2].1) / 3.0);
        let v = v.map(|p| (c.0 + SHRINK * (p.0 - c.0), c.1 + SHRINK * (p.1 - c.1)));
        for a in 0..=LATTICE {
            for b in 0..=(LATTICE - a) {
                let (u, w) = (a as f32 / LATTICE as f32, b as f32 / LATTICE as f32);
                let x = v[0].0 + u * (v[1].0 - v[0].0) + w * (v[2].0 - v[0].0);
                let y = v[0].1 + u * (v[1].1 - v[0].1) + w * (v[2].1 - v[0].1);
                if let Some(p) = pixel(img, x, y) {
                    let luma = 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
                    let lin = [lut[p[0] as usize], lut[p[1] as usize], lut[p[2] as usize]];
                    skin.push((luma, lin, p.iter().any(|&v| v >= 250)));
                    by_patch[TRIANGLE_PATCH[t]].push((luma, lin));
                }
            }
        }
    }
    if skin.len() < 30 {
        return None;
    }
    let clipped = skin.iter().filter(|s| s.2).count() as f32 / skin.len() as f32;
    skin.sort_by(|a, b| a.0.total_cmp(&b.0));
    let cut = (skin.len() as f32 * TRIM) as usize;
    let kept = &skin[cut..skin.len() - cut];
    let mut face = [0f32; 3];
    for s in kept {
        for c in 0..3 {
            face[c] += s.1[c];
        }
    }
    let face = face.map(|v| v / kept.len() as f32);
    let half = kept.len() / 2;
    let mean_of = |part: &[(f32, [f32; 3], bool)]| -> [f32; 3] {
        let mut m = [0f32; 3];
        for s in part {
            (0..3).for_each(|c| m[c] += s.1[c]);
        }
        m.map(|v| v / part.len().max(1) as f32)
    };
    let (face_dark, face_bright) = (mean_of(&kept[..half]), mean_of(&kept[half..]));

    let ff = FaceFrame::of(lm);
    let zones = ff.zones().map(|z| {
        let (n, total, mean) = rect_mean(img, z, ZONE_GRID, ZONE_GRID, lut);
        (n * 2 >= total).then_some(mean)
    });
    let ex = ff.exclusion();
    let (gw, gh) = BG_GRID;
    let (w, h) = (img.width() as f32, img.height() as f32);
    let mut bg = [0f32; 3];
    let mut bg_luma = 0f32;
    let mut bg_samples: Vec<(f32, [f32; 3])> = Vec::with_capacity(gw * gh);
    let mut n = 0usize;
    for j in 0..gh {
        let y = h * (j as f32 + 0.5) / gh as f32;
        for i in 0..gw {
            let x = w * (i as f32 + 0.5) / gw as f32;
            if x >= ex[0] && x <= ex[2] && y >= ex[1] && y <= ex[3] {
                continue;
            }
            if let Some(p) = pixel(img, x, y) {
                let lin = [lut[p[0] as usize], lut[p[1] as usize], lut[p[2] as usize]];
                for c in 0..3 {
                    bg[c] += lin[c];
                }
                let luma = (0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])) / 255.0;
                bg_luma += luma;
                bg_samples.push((luma, lin));
                n += 1;
            }
        }
    }
    let nf = n.max(1) as f32;
    let mid = bg_samples.len() / 2;
    if mid > 0 {
        bg_samples.select_nth_unstable_by(mid, |a, b| a.0.total_cmp(&b.0));
    }
    let (dark, bright) = bg_samples.split_at(mid);
    let half_mean = |part: &[(f32, [f32; 3])]| -> [f32; 3] {
        let mut m = [0f32; 3];
        for s in part {
            (0..3).for_each(|c| m[c] += s.1[c]);
        }
        m.map(|v| v / part.len().max(1) as f32)
    };
    let background_halves = [half_mean(dark), half_mean(bright)];
    let patches = by_patch.map(|mut v| if v.is_empty() { face } else { trimmed_mean(&mut v) });
    Some(RegionMeans {
        face,
        face_dark,
        face_bright,
        zones,
        background: bg.map(|v| v / nf),
        background_samples: n,
        face_clipped: clipped,
        background_luma: bg_luma / nf,
        patches,
        background_halves,
    })
}
