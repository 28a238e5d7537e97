//! Light-liveness evaluation: renders genuine responses and attacks (a)–(f) over every clip
//! of `shared/data/liveness` with the physically modelled renderer, plus the recorded attack
//! clips as they stand, decides each with the light check and prints BPCER per genuine clip
//! and APCER per attack kind — on the calibration split, the held-out split, and
//! leave-one-clip-out — then the similarity replay check's robustness and false-match rate.
//!
//! `cargo run -p realname-liveness --example light_eval [-- --per-clip N] [--rerender] [--light-only | --similar-only]`
//!
//! Everything here rests on rendered light: no real flash footage exists in the data set.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cases;
mod data;
mod similar;

use cases::{ATTACKS, CALIBRATION, Case, RENDER_VERSION, one_face};

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use realname_liveness::light::{LightConfig, LightMeasurement, LightRejection, decide_light, measure_regions};

/// The thresholds the calibration rule tunes (the rest of `LightConfig::default()` fixed).
#[derive(Clone, Copy, Debug)]
struct Thresholds {
    chroma: f32,
    surround: f32,
    added: f32,
    background: f32,
}

impl Thresholds {
    fn of(c: &LightConfig) -> Self {
        Thresholds {
            chroma: c.min_chroma_correlation,
            surround: c.max_surround_ratio,
            added: c.max_added_share,
            background: c.max_background_added,
        }
    }
    fn config(self, base: &LightConfig) -> LightConfig {
        LightConfig {
            min_chroma_correlation: self.chroma,
            max_surround_ratio: self.surround,
            max_added_share: self.added,
            max_background_added: self.background,
            ..base.clone()
        }
    }
}

fn passes(r: &Result<LightMeasurement, LightRejection>, t: Thresholds, config: &LightConfig) -> bool {
    match r {
        Ok(m) => t.config(config).accepts(m),
        Err(e) => e.measurement.as_ref().is_some_and(|m| t.config(config).accepts(m)),
    }
}

/// Attack kinds that do not respond to the issued sequence in step (the chromatic
/// correlation threshold guards these; the responding ones, (c), (e), (f), are for the
/// reflected-versus-added thresholds).
const NOT_IN_STEP: [&str; 3] = ["a_replay_no_response", "b_other_sequence", "d_delayed"];

/// The calibration rule, on the given cases:
/// 1. chromatic correlation ≥ the highest one among the attacks that do not respond in step
///    ((a), (b), (d)) plus 0.20, rounded up to 0.02 (at least 0.76);
/// 2. surround, added share and background added on a grid (0.05, 0.1, 0.1 steps): feasible
///    when no attack is accepted at the thresholds nor one grid step looser in all three (a
///    margin to every calibration attack); among the feasible settings the fewest rejected
///    genuine captures; among those the strictest (smallest sum of grid steps, first in grid
///    order), then each threshold one step looser where that stays feasible (a margin above
///    the accepted genuine captures).
fn calibrate(cases: &[(&Case, &Result<LightMeasurement, LightRejection>)], config: &LightConfig) -> Thresholds {
    let measured = |r: &Result<LightMeasurement, LightRejection>| -> Option<f32> {
        match r {
            Ok(m) => Some(m.chroma_correlation),
            Err(e) => e.measurement.as_ref().map(|m| m.chroma_correlation),
        }
    };
    let highest = cases
        .iter()
        .filter(|(c, _)| NOT_IN_STEP.contains(&c.kind.as_str()))
        .filter_map(|(_, r)| measured(r))
        .fold(0f32, f32::max);
    let chroma = (((highest + 0.20) / 0.02 - 1e-4).ceil() * 0.02).clamp(0.76, 1.0);
    let at = |i: usize, j: usize, k: usize| Thresholds {
        chroma,
        surround: 0.1 + i.min(18) as f32 * 0.05,
        added: 0.2 + j.min(18) as f32 * 0.1,
        background: 0.2 + k.min(18) as f32 * 0.1,
    };
    let attacks_accepted =
        |t: Thresholds| cases.iter().filter(|(c, r)| c.kind != "genuine" && passes(r, t, config)).count();
    let genuine_rejected =
        |t: Thresholds| cases.iter().filter(|(c, r)| c.kind == "genuine" && !passes(r, t, config)).count();
    let feasible = |i: usize, j: usize, k: usize| {
        attacks_accepted(at(i, j, k)) == 0 && attacks_accepted(at(i + 1, j + 1, k + 1)) == 0
    };
    let mut best: Option<(usize, usize, [usize; 3])> = None;
    for i in 0..=18 {
        for j in 0..=18 {
            for k in 0..=18 {
                if !feasible(i, j, k) {
                    continue;
                }
                let key = (genuine_rejected(at(i, j, k)), i + j + k);
                if best.is_none_or(|(r, s, _)| key < (r, s)) {
                    best = Some((key.0, key.1, [i, j, k]));
                }
            }
        }
    }
    let Some((_, _, mut idx)) = best else {
        return Thresholds { chroma: 1.0, surround: 0.1, added: 0.2, background: 0.2 };
    };
    for d in 0..3 {
        let mut cand = idx;
        cand[d] = (cand[d] + 1).min(18);
        if feasible(cand[0], cand[1], cand[2]) {
            idx = cand;
        }
    }
    at(idx[0], idx[1], idx[2])
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
    if args.iter().any(|a| a == "--similar-only") {
        return similar::report(&clips, &faces, &mut engine);
    }
    let cases = cases::load_or_render(&clips, &faces, per_clip, rerender)?;
    let config = LightConfig::default();
    let t = Instant::now();
    let results: Vec<Result<LightMeasurement, LightRejection>> =
        cases.iter().map(|c| decide_light(&c.sequence, &c.presentation, &c.frames, &config)).collect();
    if let Some(path) = args.iter().position(|a| a == "--dump").and_then(|i| args.get(i + 1)) {
        let mut out = String::new();
        for (c, r) in cases.iter().zip(&results) {
            let m = match r {
                Ok(m) => Some(m),
                Err(e) => e.measurement.as_deref(),
            };
            let verdict = match r {
                Ok(_) => "pass".to_string(),
                Err(e) => format!("{:?}", e.detail).split([' ', '{']).next().unwrap_or_default().to_string(),
            };
            out.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\n",
                c.clip,
                c.kind,
                c.calibration,
                verdict,
                m.map(|m| serde_json::to_string(m).unwrap_or_default()).unwrap_or_else(|| "null".into())
            ));
        }
        std::fs::write(path, out)?;
    }
    let decide_ms = t.elapsed().as_secs_f64() * 1000.0 / cases.len().max(1) as f64;

    println!(
        "# Light liveness on rendered captures (renderer v{RENDER_VERSION}, {per_clip} genuine renders per live clip)\n"
    );
    println!(
        "All figures below rest on **rendered** light over real, unlit clips; no real flash footage exists here.\n"
    );
    println!(
        "Thresholds (`LightConfig::default()`): correlation ≥ {} or chromatic correlation ≥ {}, gain ≥ {}, chromatic surround ratio ≤ {}, added share ≤ {}, background added ≤ {}, latency window {}–{} ms.\n",
        config.min_correlation,
        config.min_chroma_correlation,
        config.min_gain,
        config.max_surround_ratio,
        config.max_added_share,
        config.max_background_added,
        config.lag_min_ms,
        config.lag_max_ms
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
        "| clip | split | glasses | skin (linear luminance) | n | rejected | reasons | chromatic correlation min / median | gain median | chromatic surround max | added share max |"
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
                Err(e) => e.measurement.as_deref(),
            })
            .collect();
        let mut corr: Vec<f32> = ms.iter().map(|m| m.chroma_correlation).collect();
        corr.sort_by(f32::total_cmp);
        let mut gain: Vec<f32> = ms.iter().map(|m| m.gain).collect();
        gain.sort_by(f32::total_cmp);
        let smax = ms.iter().filter_map(|m| m.chroma_surround).fold(f32::NAN, f32::max);
        let dmax = ms.iter().map(|m| m.added_share).fold(f32::NAN, f32::max);
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
        "| attack | n | accepted | APCER | reasons | chromatic correlation max | chromatic surround min / added share min (where it responds) |"
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
                Err(e) => e.measurement.as_deref(),
            })
            .collect();
        let cmax = ms.iter().map(|m| m.chroma_correlation).fold(0f32, f32::max);
        let smin = ms.iter().filter(|m| config.responds(m)).filter_map(|m| m.chroma_surround).fold(f32::NAN, f32::min);
        let dmin = ms.iter().filter(|m| config.responds(m)).map(|m| m.added_share).fold(f32::NAN, f32::min);
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
        "\nThe calibration rule on the calibration split alone gives chromatic correlation ≥ {:.2}, surround ≤ {:.2}, added share ≤ {:.2}, background added ≤ {:.2} (defaults: {:?}).",
        t.chroma,
        t.surround,
        t.added,
        t.background,
        Thresholds::of(&config)
    );
    println!("\n## Leave-one-clip-out (thresholds re-derived without the clip, then applied to it)\n");
    println!(
        "| left-out clip | chromatic correlation | surround | added share | background added | genuine rejected | attacks accepted |"
    );
    println!("|---|---|---|---|---|---|---|");
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
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {r}/{g} | {acc}/{a} |",
            clip.id, t.chroma, t.surround, t.added, t.background
        );
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
    if !args.iter().any(|a| a == "--light-only") {
        similar::report(&clips, &faces, &mut engine)?;
    }
    Ok(())
}
