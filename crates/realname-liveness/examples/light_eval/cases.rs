//! The rendered cases of the light evaluation: genuine responses and attacks (a)–(f) over
//! every live clip, the recorded attack clips as they stand, reduced to region means per frame
//! (with the source frame each was rendered from), cached in `target/light-eval-cases.json`.
//! Shared by `light_eval` and `realname-decision`'s `light_accuracy` example.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use rand::SeedableRng;
use rand::rngs::StdRng;
use realname_face::FaceAnalysis;
use realname_liveness::light::{
    GenerateLight, LightConfig, LightPresentation, LightSequence, MeasuredFrame, RenderParams, Renderer, Scenario,
    SourceFrame, measure_regions,
};
use serde::{Deserialize, Serialize};

use crate::data;

/// Bump when the renderer or the case plan changes (invalidates the rendered-case cache).
pub(crate) const RENDER_VERSION: u32 = 5;

/// Clips whose renders calibrate the thresholds; the others are held out.
pub(crate) const CALIBRATION: [&str; 6] = ["eyeryhthm_7blinks", "lp_d1", "lp_d3", "lp_d7", "lp_d12", "zubair_real"];

#[derive(Serialize, Deserialize, Clone)]
pub(crate) struct Case {
    pub clip: String,
    pub kind: String,
    pub calibration: bool,
    pub sequence: LightSequence,
    pub presentation: LightPresentation,
    pub frames: Vec<MeasuredFrame>,
    /// Source frame (index into the clip's files) of each rendered frame.
    pub sources: Vec<usize>,
    pub fps: f32,
    pub display_to_ambient: f32,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct CaseCache {
    version: u32,
    per_clip: usize,
    cases: Vec<Case>,
}

pub(crate) const ATTACKS: [&str; 6] =
    ["a_replay_no_response", "b_other_sequence", "c_screen_tint", "d_delayed", "e_frame_tint", "f_print"];

fn seed(clip: &str, kind: &str, i: usize) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in clip.bytes().chain(kind.bytes()).chain((i as u64).to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

pub(crate) fn one_face(faces: &[FaceAnalysis]) -> Option<&FaceAnalysis> {
    match faces {
        [one] => Some(one),
        _ => None,
    }
}

/// Renders every clip's cases, two clips at a time (order kept).
pub(crate) fn render_cases(
    clips: &[data::Clip],
    faces: &BTreeMap<std::path::PathBuf, Vec<FaceAnalysis>>,
    per_clip: usize,
) -> Result<Vec<Case>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done: std::sync::Mutex<Vec<(usize, Vec<Case>)>> = std::sync::Mutex::new(Vec::new());
    let work = || -> Result<()> {
        loop {
            let k = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let Some(clip) = clips.get(k) else { return Ok(()) };
            let cases = render_clip(clip, faces, per_clip)?;
            eprintln!("rendered {} ({} cases)", clip.id, cases.len());
            done.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.push((k, cases));
        }
    };
    std::thread::scope(|s| {
        let other = s.spawn(work);
        let mine = work();
        other.join().map_err(|_| anyhow::anyhow!("render thread panicked"))?.and(mine)
    })?;
    let mut done = done.into_inner().map_err(|_| anyhow::anyhow!("poisoned"))?;
    done.sort_by_key(|d| d.0);
    Ok(done.into_iter().flat_map(|d| d.1).collect())
}

fn render_clip(
    clip: &data::Clip,
    faces: &BTreeMap<std::path::PathBuf, Vec<FaceAnalysis>>,
    per_clip: usize,
) -> Result<Vec<Case>> {
    let config = LightConfig::default();
    let mut cases = Vec::new();
    {
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
            let (mut frames, mut sources) = (Vec::new(), Vec::new());
            let presentation = renderer.render(&sequence, &scenario, &params, &mut rng, &mut |img, ts, si| {
                let regions = analyses[si].and_then(|f| measure_regions(img, &f.landmarks));
                frames.push(MeasuredFrame { captured_at_ms: ts, regions });
                sources.push(si);
            });
            cases.push(Case {
                clip: clip.id.clone(),
                kind,
                calibration: CALIBRATION.contains(&clip.id.as_str()),
                sequence,
                presentation,
                frames,
                sources,
                fps: params.fps,
                display_to_ambient: params.display_to_ambient,
            });
        }
    }
    Ok(cases)
}

/// The cached cases when they match this renderer and plan, else rendered (and cached).
pub(crate) fn load_or_render(
    clips: &[data::Clip],
    faces: &BTreeMap<std::path::PathBuf, Vec<FaceAnalysis>>,
    per_clip: usize,
    rerender: bool,
) -> Result<Vec<Case>> {
    let cache_path = data::target_dir().join("light-eval-cases.json");
    let cached: Option<CaseCache> =
        if rerender { None } else { std::fs::read(&cache_path).ok().and_then(|b| serde_json::from_slice(&b).ok()) };
    Ok(match cached {
        Some(c) if c.version == RENDER_VERSION && c.per_clip == per_clip => c.cases,
        _ => {
            let t = Instant::now();
            let cases = render_cases(clips, faces, per_clip)?;
            eprintln!("rendered {} captures in {:.0} s", cases.len(), t.elapsed().as_secs_f32());
            std::fs::write(
                &cache_path,
                serde_json::to_vec(&CaseCache { version: RENDER_VERSION, per_clip, cases: cases.clone() })?,
            )?;
            cases
        }
    })
}
