//! Does the rendered light move the face descriptor? Renders a genuine light response (the
//! companion's typical desk parameters) over frames of a clip, runs the face engine as the
//! server does (SSD at 0.3, 68 landmarks, descriptor) on the unlit and the lit frames, and
//! prints the descriptor distances the same-person rules compare: each lit frame against the
//! unlit neutral frames, and an action segment against the neutral frames (closest pair).
//!
//! `cargo run -p realname-liveness --example light_person -- [CLIP] [SCENE a-b] [NEUTRAL a-b] [ACTION a-b]`
//! (defaults: `lp_d5 1-20 5-8 27-30`, frame numbers as in the clip's file names).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;

use anyhow::{Context, Result};
use rand::SeedableRng;
use rand::rngs::StdRng;
use realname_face::{DetectOptions, EngineConfig, FaceAnalysis, FaceEngine, ImageLimits, RgbImage, decode_image};
use realname_liveness::light::{GenerateLight, LightSequence, RenderParams, Renderer, Scenario, SourceFrame};

fn range(s: Option<&String>, default: (u32, u32)) -> (u32, u32) {
    s.and_then(|s| s.split_once('-')).and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?))).unwrap_or(default)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let clip = args.first().cloned().unwrap_or_else(|| "lp_d5".into());
    let scene = range(args.get(1), (1, 20));
    let neutral = range(args.get(2), (5, 8));
    let action = range(args.get(3), (27, 30));
    let shared = std::env::var_os("REALNAME_SHARED_DIR").map(PathBuf::from).context("REALNAME_SHARED_DIR")?;
    let models = std::env::var_os("REALNAME_MODELS_DIR").map(PathBuf::from).context("REALNAME_MODELS_DIR")?;
    let engine = FaceEngine::load(&models, EngineConfig { tiny: false, ..EngineConfig::default() })?;
    let opts = DetectOptions { min_score: 0.3, ..DetectOptions::default() };
    let frame = |n: u32| -> Result<RgbImage> {
        let p = shared.join(format!("data/liveness/clips/{clip}/{n:04}.jpg"));
        Ok(decode_image(&std::fs::read(&p).with_context(|| p.display().to_string())?, &ImageLimits::default())?)
    };
    let one = |img: &RgbImage| -> Result<Option<FaceAnalysis>> {
        let mut f = engine.analyze(img, &opts)?;
        Ok(if f.len() == 1 { f.pop() } else { None })
    };
    let unlit = |(a, b): (u32, u32)| -> Result<Vec<(u32, Option<FaceAnalysis>)>> {
        (a..=b).map(|n| Ok((n, one(&frame(n)?)?))).collect()
    };
    let neutral_faces = unlit(neutral)?;
    let action_faces = unlit(action)?;
    let scene_frames: Vec<RgbImage> = (scene.0..=scene.1).map(frame).collect::<Result<_>>()?;
    let scene_faces: Vec<Option<FaceAnalysis>> = scene_frames.iter().map(one).collect::<Result<_>>()?;
    let d = |a: &FaceAnalysis, b: &FaceAnalysis| a.descriptor.distance(&b.descriptor);

    println!("clip {clip}: scene {scene:?}, neutral {neutral:?}, action {action:?}");
    let mut best = (f32::MAX, 0, 0);
    for (na, fa) in &action_faces {
        for (nn, fnn) in &neutral_faces {
            if let (Some(a), Some(n)) = (fa, fnn) {
                let v = d(a, n);
                if v < best.0 {
                    best = (v, *na, *nn);
                }
            }
        }
    }
    println!(
        "action segment ↔ neutral frames, closest pair: {:.3} (frames {} / {}; the segment rule's bound is 0.40)",
        best.0, best.1, best.2
    );
    for (nn, fnn) in &neutral_faces {
        let row: Vec<String> = action_faces
            .iter()
            .map(|(_, fa)| match (fa, fnn) {
                (Some(a), Some(n)) => format!("{:.3}", d(a, n)),
                _ => "-".into(),
            })
            .collect();
        println!(
            "  neutral {nn:>3} (score {:.2}) ↔ action: {}",
            fnn.as_ref().map_or(0.0, |f| f.detection.score),
            row.join(" ")
        );
    }
    for (k, (n, f)) in (scene.0..).zip(&scene_faces).enumerate() {
        if let (Some(f), Some((_, Some(r)))) = (f, neutral_faces.first())
            && k % 5 == 0
        {
            println!("  unlit scene frame {n:>3} ↔ neutral {}: {:.3}", neutral.0, d(f, r));
        }
    }
    // Lit frames: the companion's typical desk, several random sequences.
    let sources: Vec<SourceFrame<'_>> =
        scene_frames.iter().zip(&scene_faces).map(|(image, face)| SourceFrame { image, face: face.as_ref() }).collect();
    for seed in 0..3u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let seq = LightSequence::generate_with("person", &mut rng);
        for (label, strength) in [("typical 0.3", 0.3f32), ("strong 0.5", 0.5)] {
            let mut params = RenderParams::random(&mut rng);
            params.fps = 10.0;
            params.display_to_ambient = strength;
            let mut lit: Vec<(RgbImage, usize)> = Vec::new();
            Renderer::new(&sources, 10.0).render(&seq, &Scenario::Genuine, &params, &mut rng, &mut |img, _, si| {
                lit.push((img.clone(), si));
            });
            let (mut faceless, mut dists, mut own) = (0, Vec::new(), Vec::new());
            for (img, si) in &lit {
                match one(img)? {
                    None => faceless += 1,
                    Some(f) => {
                        // Against the closest unlit neutral frame (the reference is the best one).
                        let v = neutral_faces
                            .iter()
                            .filter_map(|(_, n)| n.as_ref().map(|n| d(&f, n)))
                            .fold(f32::MAX, f32::min);
                        dists.push(v);
                        if let Some(src) = &scene_faces[*si] {
                            own.push(d(&f, src));
                        }
                    }
                }
            }
            let stats = |v: &mut Vec<f32>| {
                v.sort_by(f32::total_cmp);
                (
                    v.first().copied().unwrap_or(0.0),
                    v.get(v.len() / 2).copied().unwrap_or(0.0),
                    v.last().copied().unwrap_or(0.0),
                )
            };
            let (a, b, c) = stats(&mut dists);
            let (e, f, g) = stats(&mut own);
            println!(
                "seed {seed} {label}: {} lit frames, {faceless} without one face; lit ↔ nearest neutral min/median/max {a:.3}/{b:.3}/{c:.3}; lit ↔ its own unlit source {e:.3}/{f:.3}/{g:.3}",
                lit.len()
            );
        }
    }
    Ok(())
}
