//! The liveness clips for the light evaluation: labels, decoded frames and the face engine's
//! analysis of every frame, cached in `target/light-eval-faces.jsonl` (minutes to compute,
//! seconds to read).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use realname_face::{
    Descriptor, DetectOptions, EngineConfig, FaceAnalysis, FaceEngine, ImageLimits, LandmarkNet, RgbImage, decode_image,
};

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

/// `<workspace>/target`.
pub(crate) fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target")
}

/// Frames used per clip.
pub(crate) const MAX_FRAMES: usize = 70;

/// One clip (or still) of the data set.
pub(crate) struct Clip {
    pub id: String,
    pub live: bool,
    /// Glasses, from the labels' description.
    pub glasses: bool,
    pub files: Vec<PathBuf>,
}

/// Clips from `labels.json`, frames in order.
pub(crate) fn clips() -> Result<Vec<Clip>> {
    let data = shared_dir().join("data/liveness");
    let labels: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("labels.json"))
            .with_context(|| format!("{} (set REALNAME_SHARED_DIR)", data.display()))?,
    )?;
    let mut out = Vec::new();
    for c in labels["clips"].as_array().context("clips")? {
        let id = c["id"].as_str().context("id")?.to_string();
        let live = c["kind"].as_str() == Some("live");
        let desc = c["description"].as_str().unwrap_or_default().to_lowercase();
        let files = if let Some(still) = id.strip_prefix("silentface_") {
            vec![data.join("stills").join(format!("{still}.jpg"))]
        } else {
            let dir = data.join("clips").join(&id);
            let mut f: Vec<PathBuf> = std::fs::read_dir(&dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
            f.sort();
            // A capture is at most ~6 s and starts in the first second: 70 frames (7 s at
            // 10 fps) cover every rendered frame, and the engine need not run on the rest.
            f.truncate(MAX_FRAMES);
            f
        };
        out.push(Clip { id, live, glasses: desc.contains("glasses"), files });
    }
    Ok(out)
}

/// The face engine as the server runs it on captured frames: SSD at 0.3, or the single best
/// candidate above 0.1 when none reaches 0.3.
pub(crate) struct Faces {
    engine: FaceEngine,
}

impl Faces {
    pub(crate) fn load() -> Result<Self> {
        let engine = FaceEngine::load(
            &models_dir(),
            EngineConfig {
                ssd: true,
                tiny: false,
                landmarks: Some(LandmarkNet::Full),
                recognition: false,
                image_limits: ImageLimits::default(),
            },
        )
        .with_context(|| format!("face models in {} (set REALNAME_MODELS_DIR)", models_dir().display()))?;
        Ok(Faces { engine })
    }

    /// Detection, landmarks and signals (no descriptor: the light check and the similarity
    /// print need the landmarks only; the descriptor is left zero).
    pub(crate) fn analyze(&self, img: &RgbImage) -> Result<Vec<FaceAnalysis>> {
        let mut faces = Vec::new();
        for detection in self.engine.detect(img, &DetectOptions { min_score: 0.1, ..DetectOptions::default() })? {
            let Ok(crop) = FaceEngine::landmark_crop(img, &detection) else { continue };
            let landmarks =
                self.engine.landmarks_in_crop(img, crop, f64::from(detection.bbox.x), f64::from(detection.bbox.y))?;
            let signals = self.engine.signals(img, &detection, &landmarks);
            faces.push(FaceAnalysis { detection, landmarks, descriptor: Descriptor([0.0; 128]), signals });
        }
        if faces.iter().any(|f| f.detection.score > 0.3) {
            faces.retain(|f| f.detection.score > 0.3);
        } else {
            faces.sort_by(|a, b| b.detection.score.total_cmp(&a.detection.score));
            faces.truncate(1);
        }
        Ok(faces)
    }
}

pub(crate) fn decode(path: &Path) -> Result<RgbImage> {
    Ok(decode_image(&std::fs::read(path)?, &ImageLimits::default())?)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Row {
    file: String,
    faces: Vec<FaceAnalysis>,
}

/// Every frame's faces, keyed by file path; computed with the engine (lazily loaded) for
/// files missing from the cache file, which is then rewritten.
pub(crate) fn face_cache(clips: &[Clip], faces: &mut Option<Faces>) -> Result<BTreeMap<PathBuf, Vec<FaceAnalysis>>> {
    let path = target_dir().join("light-eval-faces.jsonl");
    let mut map = BTreeMap::new();
    if let Ok(text) = std::fs::read_to_string(&path) {
        for line in text.lines() {
            if let Ok(r) = serde_json::from_str::<Row>(line) {
                map.insert(PathBuf::from(r.file), r.faces);
            }
        }
    }
    let missing: Vec<&PathBuf> = clips.iter().flat_map(|c| c.files.iter()).filter(|f| !map.contains_key(*f)).collect();
    if missing.is_empty() {
        return Ok(map);
    }
    eprintln!("analysing {} frames with the face engine (cached in {})", missing.len(), path.display());
    if faces.is_none() {
        *faces = Some(Faces::load()?);
    }
    let engine = faces.as_ref().context("engine")?;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
    for (i, f) in missing.iter().enumerate() {
        let found = engine.analyze(&decode(f)?)?;
        writeln!(file, "{}", serde_json::to_string(&Row { file: f.display().to_string(), faces: found.clone() })?)?;
        map.insert((*f).clone(), found);
        if i % 100 == 0 {
            eprintln!("  {i}/{}", missing.len());
        }
    }
    Ok(map)
}
