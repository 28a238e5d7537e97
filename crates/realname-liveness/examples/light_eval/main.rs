//! Light-liveness evaluation: renders genuine responses and attacks (a)–(f) over every clip
//! of `shared/data/liveness` with the physically modelled renderer, plus the recorded attack
//! clips as they stand, decides each with the light check and prints BPCER per genuine clip
//! and APCER per attack kind — on the calibration split, the held-out split, and
//! leave-one-clip-out — then the similarity replay check's robustness and false-match rate.
//!
//! `cargo run --release -p realname-liveness --example light_eval [-- --per-clip N] [--rerender]`
//!
//! Everything here rests on rendered light: no real flash footage exists in the data set.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod data;
mod similar;

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use rand::SeedableRng;
use rand::rngs::StdRng;
use realname_face::FaceAnalysis;
use realname_liveness::light::{
    GenerateLight, LightConfig, LightMeasurement, LightPresentation, LightRejection, LightSequence, MeasuredFrame,
    RenderParams, Renderer, Scenario, SourceFrame, decide_light, measure_regions,
};
use serde::{Deserialize, Serialize};

/// Bump when the renderer or the case plan changes (invalidates the rendered-case cache).
const RENDER_VERSION: u32 = 4;

/// Clips whose renders calibrate the thresholds; the others are held out.
const CALIBRATION: [&str; 6] = ["eyeryhthm_7blinks", "lp_d1", "lp_d3", "lp_d7", "lp_d12", "zubair_real"];

#[derive(Serialize, Deserialize, Clone)]
struct Case {
    clip: String,
    kind: String,
    calibration: bool,
    sequence: LightSequence,
    presentation: LightPresentation,
    frames: Vec<MeasuredFrame>,
    fps: f32,
    display_to_ambient: f32,
}

#[derive(Serialize, Deserialize)]
struct CaseCache {
    version: u32,
    per_clip: usize,
    cases: Vec<Case>,
}

const ATTACKS: [&str; 6] =
    ["a_replay_no_response", "b_other_sequence", "c_screen_tint", "d_delayed", "e_frame_tint", "f_print"];

fn seed(clip: &str, kind: &str, i: usize) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in clip.bytes().chain(kind.bytes()).chain((i as u64).to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn one_face(faces: &[FaceAnalysis]) -> Option<&FaceAnalysis> {
    match faces {
        [one] => Some(one),
        _ => None,
    }
}

fn render_cases(
    clips: &[data::Clip],
    faces: &BTreeMap<std::path::PathBuf, Vec<FaceAnalysis>>,
    per_clip: usize,
) -> Result<Vec<Case>> {
    let config = LightConfig::default();
    let mut cases = Vec::new();
    for clip in clips {
        let images: Vec<_> = clip.files.iter().map(|f| data::decode(f)).collect::<Result<_>>()?;
        let analyses: Vec<Option<&FaceAnalysis>> =
            clip.files.iter().map(|f| faces.get(f).and_then(|v| one_face(v))).collect();
        let sources: Vec<SourceFrame> =
            images.iter().zip(&analyses).map(|(image, face)| SourceFrame { image, face: *face }).collect();
        let renderer = Renderer::new(&sources, 10.0);
        let mut plan: Vec<(String, Scenario, usize)> = Vec::new();
        if clip.live {
            for i in 0..per_clip {
                plan.push(("genuine".into(), Scenario::Genuine, i));
            }
            for i in 0..per_clip.div_ceil(3) {
                for kind in ATTACKS {
                    let mut rng = StdRng::seed_from_u64(seed(&clip.id, kind, i + 1000));
                    let sc = match kind {
                        "a_replay_no_response" => Scenario::NoResponse,
                        "b_other_sequence" => Scenario::OtherSequence(LightSequence::generate_with("other", &mut rng)),
                        "c_screen_tint" => Scenario::ScreenTint,
                        "d_delayed" => {
                            use rand::Rng;
                            Scenario::Delayed(config.lag_max_ms + rng.gen_range(150..1_200))
                        }
                        "e_frame_tint" => Scenario::FrameTint,
                        _ => Scenario::Print,
                    };
                    plan.push((kind.into(), sc, i));
                }
            }
        } else {
            for i in 0..per_clip.div_ceil(3) {
                plan.push(("recorded_attack_clip".into(), Scenario::NoResponse, i));
            }
        }
        for (kind, scenario, i) in plan {
            let mut rng = StdRng::seed_from_u64(seed(&clip.id, &kind, i));
            let sequence = LightSequence::generate_with(&format!("{}-{kind}-{i}", clip.id), &mut rng);
            let params = RenderParams::random(&mut rng);
            let mut frames = Vec::new();
            let presentation = renderer.render(&sequence, &scenario, &params, &mut rng, &mut |img, ts, si| {
                let regions = analyses[si].and_then(|f| measure_regions(img, &f.landmarks));
                frames.push(MeasuredFrame { captured_at_ms: ts, regions });
            });
            cases.push(Case {
                clip: clip.id.clone(),
                kind,
                calibration: CALIBRATION.contains(&clip.id.as_str()),
                sequence,
                presentation,
                frames,
                fps: params.fps,
                display_to_ambient: params.display_to_ambient,
            });
        }
        eprintln!("rendered {} ({} cases so far)", clip.id, cases.len());
    }
    Ok(cases)
}

/// The thresholds the calibration rule tunes.
#[derive(Clone, Copy, Debug)]
struct Thresholds {
    correlation: f32,
    surround: f32,
}

fn passes(r: &Result<LightMeasurement, LightRejection>, t: Thresholds, config: &LightConfig) -> bool {
    let m = match r {
        Ok(m) => m,
        Err(e) => match &e.measurement {
            Some(m) => m,
            None => return false,
        },
    };
    m.correlation >= t.correlation
        && m.gain >= config.min_gain
        && m.surround_ratio.is_none_or(|s| s <= t.surround)
        && m.dark_ratio <= config.max_dark_ratio
}

/// The calibration rule: on the given cases, among thresholds with no accepted attack, the
/// fewest rejected genuine; among equals, the middle of the feasible range (largest margin).
fn calibrate(cases: &[(&Case, &Result<LightMeasurement, LightRejection>)], config: &LightConfig) -> Thresholds {
    let mut best: Vec<(usize, Thresholds)> = Vec::new();
    for ci in 0..=40 {
        for si in 0..=30 {
            let t = Thresholds { correlation: 0.5 + ci as f32 * 0.0125, surround: 0.3 + si as f32 * 0.02 };
            let accepted = cases.iter().filter(|(c, r)| c.kind != "genuine" && passes(r, t, config)).count();
            if accepted > 0 {
                continue;
            }
            let rejected = cases.iter().filter(|(c, r)| c.kind == "genuine" && !passes(r, t, config)).count();
            best.push((rejected, t));
        }
    }
    let min = best.iter().map(|b| b.0).min().unwrap_or(0);
    let ok: Vec<Thresholds> = best.iter().filter(|b| b.0 == min).map(|b| b.1).collect();
    if ok.is_empty() {
        return Thresholds { correlation: 0.99, surround: 0.3 };
    }
    let mid = |f: fn(&Thresholds) -> f32| {
        let mut v: Vec<f32> = ok.iter().map(f).collect();
        v.sort_by(f32::total_cmp);
        (v[0] + v[v.len() - 1]) / 2.0
    };
    Thresholds { correlation: mid(|t| t.correlation), surround: mid(|t| t.surround) }
}

fn pct(n: usize, d: usize) -> String {
    format!("{:.1} %", 100.0 * n as f64 / d.max(1) as f64)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let per_clip = args
        .iter()
        .position(|a| a == "--per-clip")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(6usize);
    let rerender = args.iter().any(|a| a == "--rerender");
    let clips = data::clips()?;
    let mut engine = None;
    let faces = data::face_cache(&clips, &mut engine)?;
    let cache_path = data::target_dir().join("light-eval-cases.json");
    let cached: Option<CaseCache> =
        if rerender { None } else { std::fs::read(&cache_path).ok().and_then(|b| serde_json::from_slice(&b).ok()) };
    let cases = match cached {
        Some(c) if c.version == RENDER_VERSION && c.per_clip == per_clip => c.cases,
        _ => {
            let t = Instant::now();
            let cases = render_cases(&clips, &faces, per_clip)?;
            eprintln!("rendered {} captures in {:.0} s", cases.len(), t.elapsed().as_secs_f32());
            std::fs::write(
                &cache_path,
                serde_json::to_vec(&CaseCache { version: RENDER_VERSION, per_clip, cases: cases.clone() })?,
            )?;
            cases
        }
    };
    let config = LightConfig::default();
    let t = Instant::now();
    let results: Vec<Result<LightMeasurement, LightRejection>> =
        cases.iter().map(|c| decide_light(&c.sequence, &c.presentation, &c.frames, &config)).collect();
    let decide_ms = t.elapsed().as_secs_f64() * 1000.0 / cases.len().max(1) as f64;

    println!(
        "# Light liveness on rendered captures (renderer v{RENDER_VERSION}, {per_clip} genuine renders per live clip)\n"
    );
    println!(
        "All figures below rest on **rendered** light over real, unlit clips; no real flash footage exists here.\n"
    );
    println!(
        "Thresholds (`LightConfig::default()`): correlation ≥ {}, gain ≥ {}, surround ratio ≤ {}, latency window {}–{} ms.\n",
        config.min_correlation, config.min_gain, config.max_surround_ratio, config.lag_min_ms, config.lag_max_ms
    );
    let reason = |r: &Result<LightMeasurement, LightRejection>| match r {
        Ok(_) => "pass".to_string(),
        Err(e) => serde_json::to_value(e.reason).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
    };
    let skin = |clip: &data::Clip| -> f32 {
        let mut l: Vec<f32> = Vec::new();
        for f in clip.files.iter().step_by(5) {
            if let (Some(face), Ok(img)) = (faces.get(f).and_then(|v| one_face(v)), data::decode(f))
                && let Some(r) = measure_regions(&img, &face.landmarks)
            {
                let lin = 0.2126 * r.face[0] + 0.7152 * r.face[1] + 0.0722 * r.face[2];
                l.push(lin);
            }
        }
        l.sort_by(f32::total_cmp);
        l.get(l.len() / 2).copied().unwrap_or(0.0)
    };
    println!("## Genuine responses (BPCER per clip)\n");
    println!(
        "| clip | split | glasses | skin (linear luminance) | n | rejected | reasons | correlation min / median | gain median | surround max | dark ratio max |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for clip in clips.iter().filter(|c| c.live) {
        let rows: Vec<(&Case, &Result<_, _>)> =
            cases.iter().zip(&results).filter(|(c, _)| c.clip == clip.id && c.kind == "genuine").collect();
        let rejected = rows.iter().filter(|(_, r)| r.is_err()).count();
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        for (_, r) in rows.iter().filter(|(_, r)| r.is_err()) {
            *reasons.entry(reason(r)).or_default() += 1;
        }
        let ms: Vec<&LightMeasurement> = rows
            .iter()
            .filter_map(|(_, r)| match r {
                Ok(m) => Some(m),
                Err(e) => e.measurement.as_ref(),
            })
            .collect();
        let mut corr: Vec<f32> = ms.iter().map(|m| m.correlation).collect();
        corr.sort_by(f32::total_cmp);
        let mut gain: Vec<f32> = ms.iter().map(|m| m.gain).collect();
        gain.sort_by(f32::total_cmp);
        let smax = ms.iter().filter_map(|m| m.surround_ratio).fold(f32::NAN, f32::max);
        let dmax = ms.iter().map(|m| m.dark_ratio).fold(f32::NAN, f32::max);
        println!(
            "| {} | {} | {} | {:.3} | {} | {} ({}) | {:?} | {:.2} / {:.2} | {:.3} | {:.2} | {:.2} |",
            clip.id,
            if CALIBRATION.contains(&clip.id.as_str()) { "calibration" } else { "held-out" },
            if clip.glasses { "yes" } else { "no" },
            skin(clip),
            rows.len(),
            rejected,
            pct(rejected, rows.len()),
            reasons,
            corr.first().copied().unwrap_or(0.0),
            corr.get(corr.len() / 2).copied().unwrap_or(0.0),
            gain.get(gain.len() / 2).copied().unwrap_or(0.0),
            smax,
            dmax
        );
    }
    println!("\n## Attacks (APCER per kind)\n");
    println!(
        "| attack | n | accepted | APCER | reasons | correlation max | surround min / dark ratio min (where correlation passes) |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut kinds: Vec<String> = ATTACKS.iter().map(|s| s.to_string()).collect();
    kinds.push("recorded_attack_clip".into());
    for kind in &kinds {
        let rows: Vec<(&Case, &Result<_, _>)> = cases.iter().zip(&results).filter(|(c, _)| &c.kind == kind).collect();
        let accepted = rows.iter().filter(|(_, r)| r.is_ok()).count();
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        for (_, r) in &rows {
            *reasons.entry(reason(r)).or_default() += 1;
        }
        let ms: Vec<&LightMeasurement> = rows
            .iter()
            .filter_map(|(_, r)| match r {
                Ok(m) => Some(m),
                Err(e) => e.measurement.as_ref(),
            })
            .collect();
        let cmax = ms.iter().map(|m| m.correlation).fold(0f32, f32::max);
        let smin = ms
            .iter()
            .filter(|m| m.correlation >= config.min_correlation)
            .filter_map(|m| m.surround_ratio)
            .fold(f32::NAN, f32::min);
        let dmin = ms
            .iter()
            .filter(|m| m.correlation >= config.min_correlation)
            .map(|m| m.dark_ratio)
            .fold(f32::NAN, f32::min);
        println!(
            "| {kind} | {} | {accepted} | {} | {reasons:?} | {cmax:.2} | {smin:.2} / {dmin:.2} |",
            rows.len(),
            pct(accepted, rows.len())
        );
    }
    println!("\n## Splits\n");
    println!("| split | genuine n | BPCER | attacks n | APCER |");
    println!("|---|---|---|---|---|");
    for (name, cal) in [("calibration", true), ("held-out", false)] {
        let g: Vec<_> =
            cases.iter().zip(&results).filter(|(c, _)| c.calibration == cal && c.kind == "genuine").collect();
        let a: Vec<_> =
            cases.iter().zip(&results).filter(|(c, _)| c.calibration == cal && c.kind != "genuine").collect();
        let br = g.iter().filter(|(_, r)| r.is_err()).count();
        let aa = a.iter().filter(|(_, r)| r.is_ok()).count();
        println!("| {name} | {} | {} | {} | {} |", g.len(), pct(br, g.len()), a.len(), pct(aa, a.len()));
    }
    let pairs: Vec<(&Case, &Result<LightMeasurement, LightRejection>)> = cases.iter().zip(&results).collect();
    let cal: Vec<_> = pairs.iter().copied().filter(|(c, _)| c.calibration).collect();
    let t = calibrate(&cal, &config);
    println!(
        "\nThe calibration rule on the calibration split alone gives correlation ≥ {:.3}, surround ≤ {:.2} (the defaults are these, rounded).",
        t.correlation, t.surround
    );
    println!("\n## Leave-one-clip-out (thresholds re-derived without the clip, then applied to it)\n");
    println!("| left-out clip | correlation | surround | genuine rejected | attacks accepted |");
    println!("|---|---|---|---|---|");
    let (mut gn, mut gr, mut an, mut aa) = (0, 0, 0, 0);
    for clip in clips.iter().filter(|c| c.live) {
        let rest: Vec<_> = pairs
            .iter()
            .copied()
            .filter(|(c, _)| c.clip != clip.id && clips.iter().any(|k| k.id == c.clip && k.live))
            .collect();
        let t = calibrate(&rest, &config);
        let mine: Vec<_> = pairs.iter().filter(|(c, _)| c.clip == clip.id).collect();
        let g = mine.iter().filter(|(c, _)| c.kind == "genuine").count();
        let r = mine.iter().filter(|(c, r)| c.kind == "genuine" && !passes(r, t, &config)).count();
        let a = mine.iter().filter(|(c, _)| c.kind != "genuine").count();
        let acc = mine.iter().filter(|(c, r)| c.kind != "genuine" && passes(r, t, &config)).count();
        println!("| {} | {:.3} | {:.2} | {r}/{g} | {acc}/{a} |", clip.id, t.correlation, t.surround);
        (gn, gr, an, aa) = (gn + g, gr + r, an + a, aa + acc);
    }
    println!(
        "\nLeave-one-clip-out total: BPCER {} ({gr}/{gn}), APCER {} ({aa}/{an}) over rendered attacks (a)–(f).",
        pct(gr, gn),
        pct(aa, an)
    );
    let frames: usize = cases.iter().map(|c| c.frames.len()).sum();
    println!(
        "\nDecision time: {decide_ms:.2} ms per capture on stored region means ({} frames per capture on average; region measurement is timed by `cargo bench -p realname-liveness --bench light_check`).",
        frames / cases.len().max(1)
    );
    let mut fps: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (c, r) in cases.iter().zip(&results).filter(|(c, _)| c.kind == "genuine") {
        let e = fps.entry(format!("{} fps", c.fps)).or_default();
        e.0 += 1;
        e.1 += usize::from(r.is_err());
    }
    println!("\nGenuine rejections by camera frame rate (n, rejected): {fps:?}");
    let mut amb: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (c, r) in cases.iter().zip(&results).filter(|(c, _)| c.kind == "genuine") {
        let bucket = if c.display_to_ambient < 0.15 {
            "display/ambient < 0.15"
        } else if c.display_to_ambient < 0.3 {
            "0.15–0.3"
        } else {
            "≥ 0.3"
        };
        let e = amb.entry(bucket.into()).or_default();
        e.0 += 1;
        e.1 += usize::from(r.is_err());
    }
    println!("Genuine rejections by display-to-ambient light (n, rejected): {amb:?}");
    similar::report(&clips, &faces, &mut engine)?;
    Ok(())
}
