//! Evaluation harness shared by `examples/evaluate` and the integration test: builds
//! challenge responses from the labelled ranges of `shared/data/liveness/labels.json`
//! (genuine ones and attacks), runs [`realname_liveness::evaluate`] on them and counts
//! BPCER / APCER (ISO/IEC 30107-3). Frames are analysed once and cached in memory (and,
//! optionally, in a JSON-lines file with the `measure` example's format).

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use image::{Rgb, RgbImage};
use realname_face::{DetectOptions, EngineConfig, FaceAnalysis, FaceEngine, ImageLimits, LandmarkNet, decode_image};
use realname_liveness::{
    AnalyzedFace, AnalyzedFrame, FaceImageEvidence, IssuedChallenge, LivenessConfig, MemoryReplayStore, PassiveScorer,
    Rejection, Upload, evaluate, measure_face,
};
use realname_protocol::api::{LivenessAction, LivenessChallenge};

/// Detector score used for the evaluation: face-api's 0.5 loses the dim `lestari_real` face
/// (SSD scores 0.31–0.6) and blink frames of `eyeryhthm_7blinks` (0.44).
pub(crate) const MIN_DETECTION_SCORE: f32 = 0.3;

/// `<workspace>/../shared` or `REALNAME_SHARED_DIR`.
pub(crate) fn shared_dir() -> PathBuf {
    std::env::var_os("REALNAME_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

/// `<workspace>/models` or `REALNAME_MODELS_DIR`.
pub(crate) fn models_dir() -> PathBuf {
    std::env::var_os("REALNAME_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"))
}

/// How a frame is analysed: image → faces with evidence.
pub(crate) type AnalyzeFn = Box<dyn Fn(&RgbImage) -> Result<Vec<AnalyzedFace>> + Send + Sync>;

/// Follows a face into a frame where nothing was detected (the server's tracking).
pub(crate) type TrackFn = Box<dyn Fn(&RgbImage, &FaceAnalysis) -> Result<Option<AnalyzedFace>> + Send + Sync>;

/// The frame analysis (by default the face engine + passive nets; the server's measurement
/// passes its own) + a cache of analysed frames keyed by file (or synthetic key).
pub(crate) struct Analyzer {
    analyze: AnalyzeFn,
    track: Option<TrackFn>,
    data: PathBuf,
    cache: Mutex<HashMap<String, Vec<AnalyzedFace>>>,
}

#[derive(serde::Deserialize)]
struct CachedRow {
    file: String,
    faces: Vec<CachedFace>,
}
#[derive(serde::Deserialize)]
struct CachedFace {
    analysis: FaceAnalysis,
    evidence: FaceImageEvidence,
}

impl Analyzer {
    /// Loads the face models (and scores every face with `passive` when given); fails when
    /// the data or models are missing.
    pub(crate) fn load(passive: Option<Box<dyn PassiveScorer + Send + Sync>>) -> Result<Self> {
        let models = models_dir();
        let engine = FaceEngine::load(
            &models,
            EngineConfig {
                ssd: true,
                tiny: false,
                landmarks: Some(LandmarkNet::Full),
                recognition: true,
                image_limits: ImageLimits::default(),
            },
        )
        .with_context(|| format!("face models in {} (set REALNAME_MODELS_DIR)", models.display()))?;
        let options = DetectOptions { min_score: MIN_DETECTION_SCORE, ..DetectOptions::default() };
        let analyze: AnalyzeFn = Box::new(move |img: &RgbImage| {
            let mut out = Vec::new();
            for a in engine.analyze(img, &options)? {
                let evidence = measure_face(img, &a, passive.as_deref().map(|p| p as &dyn PassiveScorer))?;
                out.push(AnalyzedFace { analysis: a, evidence: Some(evidence) });
            }
            Ok(out)
        });
        Self::with_analysis(analyze)
    }

    /// Uses `analyze` for every frame (e.g. the server's own frame analysis).
    pub(crate) fn with_analysis(analyze: AnalyzeFn) -> Result<Self> {
        let data = shared_dir().join("data/liveness");
        anyhow::ensure!(
            data.join("labels.json").is_file(),
            "liveness data missing: {} (set REALNAME_SHARED_DIR)",
            data.display()
        );
        Ok(Self { analyze, track: None, data, cache: Mutex::new(HashMap::new()) })
    }

    /// Tracks faces into frames without a detection with `track`, as the server does for an
    /// upload: within a capture window from the window's last frame with one detected face,
    /// for the window's first frame from the clip frame before it.
    pub(crate) fn with_tracking(mut self, track: TrackFn) -> Self {
        self.track = Some(track);
        self
    }

    /// Pre-fills the cache from a `measure` JSON-lines file (ignores a missing file).
    pub(crate) fn load_cache(&self, path: &Path) -> Result<usize> {
        let Ok(text) = std::fs::read_to_string(path) else {
            return Ok(0);
        };
        let mut cache = self.cache.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        let mut n = 0;
        for line in text.lines() {
            let Ok(row) = serde_json::from_str::<CachedRow>(line) else {
                continue;
            };
            let faces = row
                .faces
                .into_iter()
                .filter(|f| f.analysis.detection.score > MIN_DETECTION_SCORE)
                .map(|f| AnalyzedFace { analysis: f.analysis, evidence: Some(f.evidence) })
                .collect();
            cache.insert(row.file, faces);
            n += 1;
        }
        Ok(n)
    }

    pub(crate) fn data_dir(&self) -> &Path {
        &self.data
    }

    fn analyze_image(&self, img: &RgbImage) -> Result<Vec<AnalyzedFace>> {
        (self.analyze)(img)
    }

    fn cached(
        &self,
        key: &str,
        make: impl FnOnce() -> Result<RgbImage>,
        analyze: impl FnOnce(&RgbImage) -> Result<Vec<AnalyzedFace>>,
    ) -> Result<Vec<AnalyzedFace>> {
        if let Some(v) = self.cache.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.get(key) {
            return Ok(v.clone());
        }
        let faces = analyze(&make()?)?;
        self.cache.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.insert(key.to_string(), faces.clone());
        Ok(faces)
    }

    fn read(&self, rel: &str) -> Result<RgbImage> {
        let path = self.data.join(rel);
        let bytes = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
        Ok(decode_image(&bytes, &ImageLimits::default())?)
    }

    /// Faces in `clips/<clip>/<frame>.jpg`.
    pub(crate) fn frame(&self, clip: &str, frame: u32) -> Result<Vec<AnalyzedFace>> {
        let rel = format!("clips/{clip}/{frame:04}.jpg");
        self.cached(&rel, || self.read(&rel), |i| self.analyze_image(i))
    }

    /// Faces in `stills/<name>`.
    pub(crate) fn still(&self, name: &str) -> Result<Vec<AnalyzedFace>> {
        let rel = format!("stills/{name}");
        self.cached(&rel, || self.read(&rel), |i| self.analyze_image(i))
    }

    /// Faces in a slightly warped, re-encoded copy of `rel` (the `k`-th warp).
    pub(crate) fn warped(&self, rel: &str, k: u32) -> Result<Vec<AnalyzedFace>> {
        let key = format!("{rel}#warp{k}");
        self.cached(&key, || self.image(&key), |i| self.analyze_image(i))
    }

    /// The image behind a frame's source key ([`Case::sources`]): a file under the data folder,
    /// or `<file>#warp<k>` for its `k`-th warped, re-encoded copy.
    pub(crate) fn image(&self, key: &str) -> Result<RgbImage> {
        let Some((rel, k)) = key.split_once("#warp") else { return self.read(key) };
        let warped = warp(&self.read(rel)?, k.parse()?);
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85).encode_image(&warped)?;
        Ok(decode_image(&jpeg, &ImageLimits::default())?)
    }
}

/// A small similarity warp (shift ≤ 6 px, scale ≤ 3 %, rotation ≤ 2°), different per `k`.
pub(crate) fn warp(img: &RgbImage, k: u32) -> RgbImage {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let t = k as f32;
    let (dx, dy) = (((t * 2.3).sin()) * 6.0, ((t * 1.7).cos()) * 6.0);
    let scale = 1.0 + 0.03 * (t * 0.9).sin();
    let angle = (2.0f32).to_radians() * (t * 1.3).cos();
    let (cx, cy) = (w / 2.0, h / 2.0);
    let (c, s) = (angle.cos(), angle.sin());
    RgbImage::from_fn(img.width(), img.height(), |x, y| {
        // inverse map
        let (u, v) = ((x as f32 - cx - dx) / scale, (y as f32 - cy - dy) / scale);
        let (sx, sy) = (c * u + s * v + cx, -s * u + c * v + cy);
        if sx < 0.0 || sy < 0.0 || sx >= w - 1.0 || sy >= h - 1.0 {
            return Rgb([0, 0, 0]);
        }
        let (x0, y0) = (sx.floor() as u32, sy.floor() as u32);
        let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
        let p = |xx: u32, yy: u32, ch: usize| img.get_pixel(xx, yy).0[ch] as f32;
        let mut out = [0u8; 3];
        for (ch, o) in out.iter_mut().enumerate() {
            let top = p(x0, y0, ch) * (1.0 - fx) + p(x0 + 1, y0, ch) * fx;
            let bot = p(x0, y0 + 1, ch) * (1.0 - fx) + p(x0 + 1, y0 + 1, ch) * fx;
            *o = (top * (1.0 - fy) + bot * fy).round().clamp(0.0, 255.0) as u8;
        }
        Rgb(out)
    })
}

/// A labelled action event of a clip.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub clip: String,
    pub action: LivenessAction,
    pub start: u32,
    pub end: u32,
}

/// A live clip with its neutral frames and action events.
#[derive(Debug, Clone)]
pub(crate) struct LiveClip {
    pub id: String,
    pub neutral: Vec<u32>,
    pub events: Vec<Event>,
    pub n_frames: u32,
}

/// Label names → challenge actions. Yaw labels are in image coordinates: the nose pointing to
/// the image's right is the subject's own left on an unmirrored camera.
pub(crate) fn action_of(label: &str) -> Option<LivenessAction> {
    match label {
        "blink" => Some(LivenessAction::Blink),
        "mouth_open" => Some(LivenessAction::OpenMouth),
        "yaw_nose_image_right" => Some(LivenessAction::TurnLeft),
        "yaw_nose_image_left" => Some(LivenessAction::TurnRight),
        _ => None,
    }
}

/// Reads the live clips of `labels.json` with their neutral frames (2 frames outside every
/// labelled event, ±3 frames) and mapped action events.
pub(crate) fn live_clips(data: &Path) -> Result<Vec<LiveClip>> {
    let labels: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(data.join("labels.json"))?)?;
    let mut out = Vec::new();
    for c in labels["clips"].as_array().context("clips")? {
        if c["kind"] != "live" || c.get("still_image").is_some() {
            continue;
        }
        let id = c["id"].as_str().context("id")?.to_string();
        let n_frames = c["n_frames_10fps"].as_u64().context("n_frames")? as u32;
        let mut busy = vec![false; n_frames as usize + 2];
        let mut events = Vec::new();
        for e in c["events"].as_array().context("events")? {
            let (s, t) =
                (e["start_frame"].as_u64().context("start")? as u32, e["end_frame"].as_u64().context("end")? as u32);
            let label = e["action"].as_str().unwrap_or_default();
            // Idle/frontal labels do not block neutral frames.
            if !label.starts_with("frontal") {
                for k in s.saturating_sub(3)..=(t + 3).min(n_frames) {
                    busy[k as usize] = true;
                }
            }
            if let Some(action) = action_of(label) {
                events.push(Event { clip: id.clone(), action, start: s, end: t });
            }
        }
        let mut neutral: Vec<u32> = (1..=n_frames).filter(|&k| !busy[k as usize]).step_by(3).take(2).collect();
        if neutral.is_empty() {
            // Short clips (lp_d1, lp_d2: 5 frames around one blink): the first frame.
            neutral.push(1);
        }
        out.push(LiveClip { id, neutral, events, n_frames });
    }
    Ok(out)
}

/// Frames the companion would capture for an event: the labelled range widened by one frame
/// each side (the prompt window), at most 10 frames spread evenly.
pub(crate) fn event_frames(e: &Event, n_frames: u32) -> Vec<u32> {
    let (s, t) = (e.start.saturating_sub(1).max(1), (e.end + 1).min(n_frames));
    let all: Vec<u32> = (s..=t).collect();
    if all.len() <= 10 {
        return all;
    }
    (0..10).map(|i| all[i * (all.len() - 1) / 9]).collect()
}

/// The event's frames without the clip's neutral frames (short clips share frame 1).
pub(crate) fn window(clip: &LiveClip, e: &Event) -> Vec<u32> {
    event_frames(e, clip.n_frames).into_iter().filter(|k| !clip.neutral.contains(k)).collect()
}

/// One challenge response to decide.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    /// Attack type, or "genuine".
    pub kind: &'static str,
    pub name: String,
    pub actions: Vec<LivenessAction>,
    pub frames: Vec<AnalyzedFrame>,
    /// Each frame's source ([`Analyzer::image`] reads it), for analysing the response again as
    /// one upload (the server's tracked analysis); empty for synthetic cases.
    pub sources: Vec<String>,
    /// Replay cases: run the same upload this many extra times with the given nonce policy.
    pub replay: Option<ReplayKind>,
}

/// One captured frame: its source ([`Analyzer::image`]) and its faces.
#[derive(Debug, Clone)]
pub(crate) struct Shot {
    pub source: String,
    pub faces: Vec<AnalyzedFace>,
}

/// [`assemble`] for frames with sources: the frames and their sources.
pub(crate) fn assemble_shots(segments: Vec<(Option<LivenessAction>, Vec<Shot>)>) -> (Vec<AnalyzedFrame>, Vec<String>) {
    let sources = segments.iter().flat_map(|(_, shots)| shots.iter().map(|s| s.source.clone())).collect();
    let frames =
        assemble(segments.into_iter().map(|(a, shots)| (a, shots.into_iter().map(|s| s.faces).collect())).collect());
    (frames, sources)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplayKind {
    /// Same upload, same nonce.
    SameNonce,
    /// Same frames under a fresh challenge (new nonce).
    FreshNonce,
}

pub(crate) const T0: i64 = 1_750_000_000_000;

/// Builds frames with timestamps 100 ms apart (500 ms between segments).
pub(crate) fn assemble(segments: Vec<(Option<LivenessAction>, Vec<Vec<AnalyzedFace>>)>) -> Vec<AnalyzedFrame> {
    let mut t = T0;
    let mut out = Vec::new();
    for (action, frames) in segments {
        t += 400;
        for faces in frames {
            t += 100;
            out.push(AnalyzedFrame { action, captured_at_ms: t, faces, light: false });
        }
    }
    out
}

/// Decides one case with a fresh replay store (replay cases: the second submission).
pub(crate) fn decide(case: &Case, config: &LivenessConfig) -> Result<(), Rejection> {
    let store = MemoryReplayStore::default();
    let challenge = |nonce: &str| LivenessChallenge {
        actions: case.actions.clone(),
        nonce: nonce.into(),
        deadline: time::OffsetDateTime::from_unix_timestamp(T0 / 1000 + 120)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        light: None,
    };
    let run = |nonce: &str| {
        let ch = challenge(nonce);
        evaluate(
            IssuedChallenge { challenge: &ch, issued_at_ms: T0 },
            Upload { nonce, frames: &case.frames, received_at_ms: T0 + 30_000 },
            &store,
            config,
        )
    };
    match case.replay {
        None => run("nonce-1").map(|_| ()),
        Some(kind) => {
            // The genuine upload happened first (its outcome does not matter here).
            let _ = run("nonce-1");
            match kind {
                ReplayKind::SameNonce => run("nonce-1").map(|_| ()),
                ReplayKind::FreshNonce => run("nonce-2").map(|_| ()),
            }
        }
    }
}

fn load_frames(a: &Analyzer, clip: &str, frames: &[u32]) -> Result<Vec<Shot>> {
    let shot = |k: u32, faces| Shot { source: format!("clips/{clip}/{k:04}.jpg"), faces };
    let Some(track) = &a.track else {
        return frames.iter().map(|&k| Ok(shot(k, a.frame(clip, k)?))).collect();
    };
    let single = |faces: &[AnalyzedFace]| match faces {
        [one] => Some(one.analysis),
        _ => None,
    };
    let mut last: Option<(FaceAnalysis, u32)> = match frames.first() {
        Some(&k) if k > 1 => single(&a.frame(clip, k - 1)?).map(|f| (f, k - 1)),
        _ => None,
    };
    let mut out = Vec::with_capacity(frames.len());
    for &k in frames {
        let mut faces = a.frame(clip, k)?;
        match faces.len() {
            0 => {
                if let Some((previous, from)) = &last {
                    let rel = format!("clips/{clip}/{k:04}.jpg");
                    let key = format!("{rel}#track{from}");
                    faces = a.cached(&key, || a.read(&rel), |img| Ok(track(img, previous)?.into_iter().collect()))?;
                }
            }
            1 => last = single(&faces).map(|f| (f, k)),
            _ => last = None,
        }
        out.push(shot(k, faces));
    }
    Ok(out)
}

/// Which cases to build.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    /// Include 2-action challenges (pairs of events of one clip).
    pub pairs: bool,
    /// Most cases per attack type.
    pub max_per_attack: usize,
    /// Only these clips (empty = all).
    pub clips: &'static [&'static str],
}

/// Builds the genuine and attack cases.
pub(crate) fn build_cases(a: &Analyzer, plan: &Plan) -> Result<Vec<Case>> {
    use LivenessAction::*;
    let clips: Vec<LiveClip> = live_clips(a.data_dir())?
        .into_iter()
        .filter(|c| plan.clips.is_empty() || plan.clips.contains(&c.id.as_str()))
        .collect();
    let mut cases = Vec::new();
    let mut genuine_pairs: Vec<(LiveClip, Event, Event)> = Vec::new();
    for clip in &clips {
        let neutral = load_frames(a, &clip.id, &clip.neutral)?;
        for e in &clip.events {
            let ev = load_frames(a, &clip.id, &window(clip, e))?;
            let (frames, sources) = assemble_shots(vec![(None, neutral.clone()), (Some(e.action), ev)]);
            cases.push(Case {
                kind: "genuine",
                name: format!("{} {}@{}", clip.id, e.action.as_str(), e.start),
                actions: vec![e.action],
                frames,
                sources,
                replay: None,
            });
        }
        if plan.pairs {
            for (i, e1) in clip.events.iter().enumerate() {
                // The capture windows must not show the other action (labels overlap in lp_d18).
                let clean = |e: &Event, other: LivenessAction| {
                    let w = window(clip, e);
                    clip.events
                        .iter()
                        .filter(|x| x.action == other)
                        .all(|x| w.iter().all(|&k| k < x.start || k > x.end))
                };
                if let Some(e2) = clip.events[i + 1..].iter().find(|e2| {
                    e2.action != e1.action && e2.start > e1.end && clean(e1, e2.action) && clean(e2, e1.action)
                }) {
                    let f1 = load_frames(a, &clip.id, &window(clip, e1))?;
                    let f2 = load_frames(a, &clip.id, &window(clip, e2))?;
                    let (frames, sources) = assemble_shots(vec![
                        (None, neutral.clone()),
                        (Some(e1.action), f1.clone()),
                        (Some(e2.action), f2.clone()),
                    ]);
                    cases.push(Case {
                        kind: "genuine",
                        name: format!("{} {}+{}", clip.id, e1.action.as_str(), e2.action.as_str()),
                        actions: vec![e1.action, e2.action],
                        frames: frames.clone(),
                        sources: sources.clone(),
                        replay: None,
                    });
                    genuine_pairs.push((clip.clone(), e1.clone(), e2.clone()));
                    // Wrong order: the person did e1 then e2 but the challenge asked e2 first;
                    // (a) a client that tags honestly, (b) one that tags in the asked order.
                    cases.push(Case {
                        kind: "wrong_order",
                        name: format!("{} tags {}+{} asked reversed", clip.id, e1.action.as_str(), e2.action.as_str()),
                        actions: vec![e2.action, e1.action],
                        frames,
                        sources,
                        replay: None,
                    });
                    let (frames, sources) =
                        assemble_shots(vec![(None, neutral.clone()), (Some(e2.action), f1), (Some(e1.action), f2)]);
                    cases.push(Case {
                        kind: "wrong_order",
                        name: format!(
                            "{} performed {}+{} tagged reversed",
                            clip.id,
                            e1.action.as_str(),
                            e2.action.as_str()
                        ),
                        actions: vec![e2.action, e1.action],
                        frames,
                        sources,
                        replay: None,
                    });
                }
            }
        }
    }
    // Single-action genuine cases also serve the replay attack.
    let genuine: Vec<Case> = cases.iter().filter(|c| c.kind == "genuine").cloned().collect();
    for (i, g) in genuine.iter().enumerate().take(plan.max_per_attack) {
        let kind = if i % 2 == 0 { ReplayKind::SameNonce } else { ReplayKind::FreshNonce };
        cases.push(Case { kind: "replay", name: format!("{} ({kind:?})", g.name), replay: Some(kind), ..g.clone() });
    }
    // Person swap: the last action's frames come from another person doing the same action.
    let mut swaps = 0;
    for g in &genuine {
        if swaps >= plan.max_per_attack {
            break;
        }
        let Some(&last) = g.actions.last() else {
            continue;
        };
        let own = g.name.split(' ').next().unwrap_or_default();
        let Some((donor, e)) = clips
            .iter()
            .filter(|c| c.id != own)
            .find_map(|c| c.events.iter().find(|e| e.action == last).map(|e| (c, e)))
        else {
            continue;
        };
        let donor_frames = load_frames(a, &donor.id, &window(donor, e))?;
        let n = donor_frames.len();
        let kept: Vec<usize> = (0..g.frames.len()).filter(|&i| g.frames[i].action != Some(last)).collect();
        let mut frames: Vec<AnalyzedFrame> = kept.iter().map(|&i| g.frames[i].clone()).collect();
        let mut sources: Vec<String> = kept.iter().filter_map(|&i| g.sources.get(i).cloned()).collect();
        let mut t = frames.last().map(|f| f.captured_at_ms).unwrap_or(T0) + 400;
        for Shot { source, faces } in donor_frames {
            t += 100;
            frames.push(AnalyzedFrame { action: Some(last), captured_at_ms: t, faces, light: false });
            sources.push(source);
        }
        cases.push(Case {
            kind: "person_swap",
            name: format!("{} → {} ({n} frames)", g.name, donor.id),
            frames,
            sources,
            ..g.clone()
        });
        swaps += 1;
    }
    // Repeated and warped stills: a neutral frame of each live clip, and the print/screen stills.
    let challenges = [vec![Blink, OpenMouth], vec![TurnLeft, Blink], vec![OpenMouth, TurnRight], vec![Blink]];
    let mut sources: Vec<String> =
        clips.iter().filter_map(|c| c.neutral.first().map(|k| format!("clips/{}/{k:04}.jpg", c.id))).collect();
    if plan.clips.is_empty() {
        sources.push("stills/image_F1.jpg".into());
        sources.push("stills/image_F2.jpg".into());
        sources.push("stills/image_T1.jpg".into());
    }
    for (i, src) in sources.iter().enumerate().take(plan.max_per_attack) {
        let actions = challenges[i % challenges.len()].clone();
        let one = if let Some(name) = src.strip_prefix("stills/") {
            a.still(name)?
        } else {
            let mut p = src.trim_start_matches("clips/").split('/');
            let clip = p.next().unwrap_or_default();
            let k: u32 = p.next().unwrap_or_default().trim_end_matches(".jpg").parse()?;
            a.frame(clip, k)?
        };
        let one = Shot { source: src.clone(), faces: one };
        let mut segs = vec![(None, vec![one.clone(); 2])];
        for &act in &actions {
            segs.push((Some(act), vec![one.clone(); 3]));
        }
        let (frames, sources) = assemble_shots(segs);
        cases.push(Case {
            kind: "still_repeated",
            name: src.clone(),
            actions: actions.clone(),
            frames,
            sources,
            replay: None,
        });
        let mut k = 0;
        let mut segs = Vec::new();
        for act in std::iter::once(None).chain(actions.iter().map(|&x| Some(x))) {
            let mut fr = Vec::new();
            for _ in 0..2 {
                k += 1;
                fr.push(Shot { source: format!("{src}#warp{k}"), faces: a.warped(src, k)? });
            }
            segs.push((act, fr));
        }
        let (frames, sources) = assemble_shots(segs);
        cases.push(Case { kind: "still_warped", name: src.clone(), actions, frames, sources, replay: None });
    }
    // Screen replays: the attack clips cut into a neutral part and one part per action.
    if plan.clips.is_empty() {
        for (clip, from, to) in [("zubair_fake", 22u32, 63u32), ("manikantha_fake", 1, 145), ("lestari_fake", 1, 26)] {
            for (j, actions) in challenges.iter().enumerate() {
                let span = to - from + 1;
                let parts = actions.len() as u32 + 1;
                let mut segs = Vec::new();
                for (p, act) in std::iter::once(None).chain(actions.iter().map(|&x| Some(x))).enumerate() {
                    let s = from + span * p as u32 / parts;
                    let e = (from + span * (p as u32 + 1) / parts).min(to + 1);
                    let ks: Vec<u32> = (s..e).step_by(((e - s) as usize / 6).max(1)).take(6).collect();
                    segs.push((act, load_frames(a, clip, &ks)?));
                }
                let (frames, sources) = assemble_shots(segs);
                cases.push(Case {
                    kind: "screen_replay",
                    name: format!("{clip} #{j}"),
                    actions: actions.clone(),
                    frames,
                    sources,
                    replay: None,
                });
            }
        }
        // A genuine person who does nothing (not an attack, but must not pass).
        let idle: Vec<u32> = (1..=37).step_by(4).collect();
        let f = load_frames(a, "lestari_real", &idle)?;
        let (frames, sources) = assemble_shots(vec![
            (None, f[..3].to_vec()),
            (Some(Blink), f[3..6].to_vec()),
            (Some(OpenMouth), f[6..].to_vec()),
        ]);
        cases.push(Case {
            kind: "no_action",
            name: "lestari_real idle".into(),
            actions: vec![Blink, OpenMouth],
            frames,
            sources,
            replay: None,
        });
    }
    Ok(cases)
}

/// Error rates per kind: (kind, cases, accepted, rejected).
pub(crate) fn rates(results: &[(Case, Result<(), Rejection>)]) -> BTreeMap<&'static str, (usize, usize)> {
    let mut m: BTreeMap<&'static str, (usize, usize)> = BTreeMap::new();
    for (c, r) in results {
        let e = m.entry(c.kind).or_default();
        e.0 += 1;
        if r.is_ok() {
            e.1 += 1;
        }
    }
    m
}
