//! The similarity replay check on real frames: does a re-encoded, resized or cropped copy of
//! a frame (landmarks re-detected by the face engine on the copy) still match the original,
//! and how often do frames of different clips — other people, or the same person in another
//! recording — match by accident?

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use image::ImageEncoder;
use realname_face::{FaceAnalysis, RgbImage};
use realname_liveness::similarity::{is_copy_of, matched_in_order};
use realname_liveness::{SimilarityConfig, SimilarityPrint, similarity_print};

use crate::data;

fn jpeg(img: &RgbImage, q: u8) -> Result<RgbImage> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q).write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        image::ExtendedColorType::Rgb8,
    )?;
    Ok(image::load_from_memory(&out)?.to_rgb8())
}

fn modified(img: &RgbImage) -> Result<Vec<(&'static str, RgbImage)>> {
    let (w, h) = (img.width(), img.height());
    let resize = |s: f32| {
        image::imageops::resize(
            img,
            (w as f32 * s) as u32,
            (h as f32 * s) as u32,
            image::imageops::FilterType::Triangle,
        )
    };
    let crop = |x: u32, y: u32, cw: u32, ch: u32| image::imageops::crop_imm(img, x, y, cw, ch).to_image();
    Ok(vec![
        ("jpeg q50", jpeg(img, 50)?),
        ("resize 0.6 + jpeg 85", jpeg(&resize(0.6), 85)?),
        ("resize 1.3 + jpeg 85", jpeg(&resize(1.3), 85)?),
        ("crop 5 % left/top + jpeg 85", jpeg(&crop(w / 20, h / 20, w - w / 20, h - h / 20), 85)?),
        ("crop 8 % right/bottom + jpeg 70", jpeg(&crop(0, 0, w - w * 2 / 25, h - h * 2 / 25), 70)?),
    ])
}

fn one(faces: &[FaceAnalysis]) -> Option<&FaceAnalysis> {
    match faces {
        [f] => Some(f),
        _ => None,
    }
}

pub(crate) fn report(
    clips: &[data::Clip],
    faces: &BTreeMap<PathBuf, Vec<FaceAnalysis>>,
    engine: &mut Option<data::Faces>,
) -> Result<()> {
    let cfg = SimilarityConfig::default();
    println!(
        "\n## Replay check by similarity (`similarity_print`, face ≤ {} bits and frame ≤ {} bits of 64)\n",
        cfg.max_face_bits, cfg.max_frame_bits
    );
    // Each clip's frames decoded and printed once, for the frame pairs and the uploads below.
    let per_clip: Vec<Vec<Option<SimilarityPrint>>> =
        clips.iter().map(|clip| clip_prints(clip, faces)).collect::<Result<_>>()?;
    // Prints of every one-face frame, per clip.
    let mut prints: Vec<(String, String, SimilarityPrint)> = Vec::new();
    for (clip, clip_prints) in clips.iter().zip(&per_clip) {
        let person = clip.id.split('_').next().unwrap_or_default().to_string();
        prints.extend(clip_prints.iter().flatten().map(|p| (clip.id.clone(), person.clone(), *p)));
    }
    let (mut other_n, mut other_m, mut same_n, mut same_m) = (0usize, 0usize, 0usize, 0usize);
    let mut min_other = (64u32, 64u32);
    let mut min_same = (64u32, 64u32);
    let mut hits: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..prints.len() {
        for j in i + 1..prints.len() {
            let (a, b) = (&prints[i], &prints[j]);
            if a.0 == b.0 {
                continue;
            }
            let same_person = a.1 == b.1 && a.1 != "lp" && a.1 != "silentface";
            let d = a.2.distance(&b.2);
            let m = a.2.matches(&b.2, &cfg);
            if same_person {
                same_n += 1;
                same_m += usize::from(m);
                min_same = min_same.min(d);
            } else {
                other_n += 1;
                other_m += usize::from(m);
                min_other = min_other.min(d);
            }
            if m {
                *hits.entry(format!("{} × {}", a.0, b.0)).or_default() += 1;
            }
        }
    }
    println!("| frame pairs from different clips | pairs | false matches | FMR | closest (face, frame bits) |");
    println!("|---|---|---|---|---|");
    println!(
        "| different people | {other_n} | {other_m} | {:.4} % | {min_other:?} |",
        100.0 * other_m as f64 / other_n.max(1) as f64
    );
    println!(
        "| same person, other recording (zubair real × fake, lestari real × fake) | {same_n} | {same_m} | {:.4} % | {min_same:?} |",
        100.0 * same_m as f64 / same_n.max(1) as f64
    );
    if !hits.is_empty() {
        println!("\nFalse matches by clip pair: {hits:?}");
    }
    // Robustness: every 15th one-face frame of the live clips, modified, re-detected.
    let engine = loaded(engine)?;
    let mut per_mod: BTreeMap<&'static str, (usize, usize, u32, u32)> = BTreeMap::new();
    let mut lost = 0usize;
    for clip in clips.iter().filter(|c| c.live) {
        for f in clip.files.iter().step_by(15) {
            let Some(face) = faces.get(f).and_then(|v| one(v)) else { continue };
            let img = data::decode(f)?;
            let Some(orig) = similarity_print(&img, &face.landmarks) else { continue };
            for (name, m) in modified(&img)? {
                let found = engine.analyze(&m)?;
                let Some(copy) = one(&found).and_then(|fc| similarity_print(&m, &fc.landmarks)) else {
                    lost += 1;
                    continue;
                };
                let d = orig.distance(&copy);
                let e = per_mod.entry(name).or_default();
                e.0 += 1;
                e.1 += usize::from(orig.matches(&copy, &cfg));
                e.2 = e.2.max(d.0);
                e.3 = e.3.max(d.1);
            }
        }
    }
    println!(
        "\n| modified upload (landmarks re-detected on the copy) | n | recognised | rate | worst (face, frame bits) |"
    );
    println!("|---|---|---|---|---|");
    for (name, (n, ok, wf, wg)) in per_mod {
        println!("| {name} | {n} | {ok} | {:.1} % | ({wf}, {wg}) |", 100.0 * ok as f64 / n.max(1) as f64);
    }
    println!("\n({lost} copies where the engine found no single face are left out.)");
    uploads(clips, &per_clip, engine)
}

/// The engine, loaded on first use.
fn loaded(engine: &mut Option<data::Faces>) -> Result<&data::Faces> {
    if engine.is_none() {
        *engine = Some(data::Faces::load()?);
    }
    engine.as_ref().context("face engine")
}

/// One print per frame of `clip` with one face, in order; `None` keeps a frame's place.
fn clip_prints(
    clip: &data::Clip,
    faces: &BTreeMap<PathBuf, Vec<FaceAnalysis>>,
) -> Result<Vec<Option<SimilarityPrint>>> {
    clip.files
        .iter()
        .map(|f| match faces.get(f).and_then(|v| one(v)) {
            Some(face) => Ok(similarity_print(&data::decode(f)?, &face.landmarks)),
            None => Ok(None),
        })
        .collect()
}

/// Frames per simulated upload (the companion sends about this many action frames).
const UPLOAD_FRAMES: usize = 15;

/// The upload-level rule on real clips: a genuine retry (another stretch of the same
/// recording: the same person, room, light and clothes minutes — here seconds — later) must
/// not be taken for a copy of the first attempt, while a re-encoded, resized or cropped copy of
/// an upload must be.
fn uploads(clips: &[data::Clip], per_clip: &[Vec<Option<SimilarityPrint>>], engine: &data::Faces) -> Result<()> {
    let cfg = SimilarityConfig::default();
    println!(
        "\n## Upload-level replay rule (a copy: ≥ {} frames and ≥ {:.0} % of the upload matching one earlier upload in order; {UPLOAD_FRAMES}-frame uploads)\n",
        cfg.min_matched_frames,
        cfg.min_matched_share * 100.0
    );
    println!(
        "| clip | genuine retry pairs | taken for a copy | highest share matched | copies | recognised | lowest share matched |"
    );
    println!("|---|---|---|---|---|---|---|");
    let (mut pairs, mut false_copies, mut copies, mut found) = (0usize, 0usize, 0usize, 0usize);
    for (clip, prints) in clips.iter().zip(per_clip).filter(|(c, _)| c.live) {
        let window =
            |a: usize| -> Vec<SimilarityPrint> { prints[a..a + UPLOAD_FRAMES].iter().flatten().copied().collect() };
        let starts: Vec<usize> = (0..prints.len().saturating_sub(UPLOAD_FRAMES - 1)).step_by(5).collect();
        let (mut n, mut fc, mut high) = (0usize, 0usize, 0f32);
        for &a in &starts {
            for &b in starts.iter().filter(|&&b| b >= a + UPLOAD_FRAMES) {
                let (first, retry) = (window(a), window(b));
                if retry.is_empty() {
                    continue;
                }
                n += 1;
                let share = matched_in_order(&retry, &first, &cfg) as f32 / retry.len() as f32;
                high = high.max(share);
                fc += usize::from(is_copy_of(&retry, &first, &cfg));
            }
        }
        // Copies: a few uploads of the clip, every frame modified alike, landmarks re-detected.
        let (mut cn, mut cf, mut low) = (0usize, 0usize, 1f32);
        for &a in starts.iter().step_by(6) {
            let original = window(a);
            if original.len() < cfg.min_matched_frames {
                continue;
            }
            let mut by_mod: BTreeMap<&'static str, Vec<SimilarityPrint>> = BTreeMap::new();
            for f in &clip.files[a..a + UPLOAD_FRAMES] {
                for (name, m) in modified(&data::decode(f)?)? {
                    let found = engine.analyze(&m)?;
                    let entry = by_mod.entry(name).or_default();
                    if let Some(p) = one(&found).and_then(|fc| similarity_print(&m, &fc.landmarks)) {
                        entry.push(p);
                    }
                }
            }
            for copy in by_mod.values() {
                cn += 1;
                let share = matched_in_order(copy, &original, &cfg) as f32 / copy.len().max(1) as f32;
                low = low.min(share);
                cf += usize::from(is_copy_of(copy, &original, &cfg));
            }
        }
        println!("| {} | {n} | {fc} | {:.0} % | {cn} | {cf} | {:.0} % |", clip.id, high * 100.0, low * 100.0);
        (pairs, false_copies, copies, found) = (pairs + n, false_copies + fc, copies + cn, found + cf);
    }
    println!(
        "\nGenuine retries taken for a copy: {false_copies}/{pairs}; copies recognised: {found}/{copies} (JPEG q50, resized 0.6x/1.3x, cropped 5 %/8 %)."
    );
    Ok(())
}
