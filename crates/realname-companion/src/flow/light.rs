//! The light step of a challenge: the front end flashes the server's colour sequence full
//! screen while the flow films the face, or — for sources that are not a live camera (folders,
//! synthetic scenes, the load generator's prepared clips) — the liveness crate's physically
//! modelled renderer produces the face's reflection of the sequence into the frames.
//!
//! The step runs **before** the actions: right after consent the person faces the screen
//! and holds still, which is what the reflection needs (a frontal face, no head turns); the
//! full-screen field also ends before any action prompt is shown, so the actions' live
//! guidance is never hidden behind it, and the flash's auto-exposure swing has settled
//! before the action frames are taken.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use image::RgbImage;
use rand::SeedableRng;
use rand::rngs::StdRng;
use realname_face::FaceAnalysis;
use realname_liveness::light::{RenderParams, Renderer, Scenario, SourceFrame, synthetic_face};
use realname_protocol::api::{CaptureMetadata, FrameMeta};
use realname_protocol::light::{LightPresentation, LightSequence};
use realname_scan::{FrameSource, SourceError};

use super::capture::FaceFeed;
use super::clip::{UPLOAD_MAX_SIDE, fit};
use super::inputs::Prompter;
use super::{CancellationToken, Companion, now_ms};
use crate::error::CompanionError;
use crate::liveness::{SelectedFrame, pick_evenly};
use crate::observer::FaceObserver;

/// Frames of an upload the actions keep when the server's limit leaves room for both (today's
/// action selection: a neutral frame and a few per action).
pub const ACTION_FRAMES: usize = 16;

/// Largest side of a simulated scene's frames (the renderer works per pixel, per frame).
const SCENE_MAX_SIDE: u32 = 640;

/// Frame rate of rendered light captures: a low-end webcam's, and few enough frames that a
/// whole light step (≤ 6 s + 0.9 s margin) fits an upload.
const RENDER_FPS: f32 = 10.0;

/// What the light step produced: its frames (capture time order) and the paint report.
#[derive(Debug, Clone)]
pub(super) struct LightCapture {
    /// Frames filmed while the sequence was shown, each marked `light` on upload.
    pub(super) frames: Vec<SelectedFrame>,
    /// When each field was painted.
    pub(super) presentation: LightPresentation,
}

impl LightCapture {
    /// Moves the step's clock back so that its last frame precedes `first_action_ms` (a
    /// rendered step followed by a prepared clip, whose frames are dated up to two seconds
    /// back from the moment they are replayed). A filmed step always precedes the actions
    /// and is never moved.
    pub(super) fn end_before(&mut self, first_action_ms: i64) {
        let Some(last) = self.frames.last().map(|f| f.captured_at_ms) else { return };
        let shift = (first_action_ms - 100 - last).min(0);
        if shift == 0 {
            return;
        }
        self.frames.iter_mut().for_each(|f| f.captured_at_ms += shift);
        self.presentation.shown_at_ms.iter_mut().for_each(|t| *t += shift);
        self.presentation.ended_at_ms += shift;
    }
}

/// How many of an upload's `max_frames` go to the light step, given `available` light frames:
/// everything above [`ACTION_FRAMES`], and at least half of a small limit (the actions keep
/// the other half). The server must raise `max_frames` to about `16 + 70` when it issues
/// light sequences for the whole step to be uploaded at 10 fps.
pub fn light_frame_budget(max_frames: usize, available: usize) -> usize {
    max_frames.saturating_sub(ACTION_FRAMES).max(max_frames / 2).min(available)
}

/// How many frames the actions may upload after `light_frames` light frames of an upload
/// limited to `max_frames`: what the light step left, and with a light step at most
/// [`ACTION_FRAMES`] — the server counts the frames besides the light step against its own
/// limit (16 by default), which the light step's share does not raise. A composed response
/// (a prepared clip with segments) fills whatever it is given: before this bound, light
/// uploads from `realname load` carried 20–40 action frames and were refused
/// (`frame_count_invalid`).
pub(super) fn action_frame_budget(max_frames: usize, light_frames: usize) -> usize {
    let left = max_frames.saturating_sub(light_frames);
    if light_frames > 0 { left.min(ACTION_FRAMES) } else { left }.max(2)
}

/// A scene in front of a simulated camera: unlit frames of a face (with their landmarks) the
/// renderer lights with the issued sequence. Used instead of a screen for sources that are
/// not a live camera, so automation keeps passing when the server issues light sequences.
pub struct LightScene {
    frames: OnceLock<SceneFrames>,
    deferred: Mutex<Option<Deferred>>,
}

type Deferred = Box<dyn FnOnce() -> Result<SceneFrames, CompanionError> + Send>;

#[derive(Debug)]
struct SceneFrames {
    frames: Vec<RgbImage>,
    faces: Vec<Option<FaceAnalysis>>,
    fps: f32,
    synthetic: bool,
}

impl std::fmt::Debug for LightScene {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.frames.get() {
            Some(s) => write!(f, "LightScene({} frames, synthetic: {})", s.frames.len(), s.synthetic),
            None => f.write_str("LightScene(deferred)"),
        }
    }
}

impl SceneFrames {
    fn synthetic() -> Self {
        let (image, face) = synthetic_face(320, 240);
        Self { frames: vec![image], faces: vec![Some(face)], fps: RENDER_FPS, synthetic: true }
    }

    fn read(
        mut source: Box<dyn FrameSource>,
        observer: Option<&FaceObserver>,
        max_frames: usize,
        fps: f32,
    ) -> Result<Self, CompanionError> {
        let fps = if fps > 0.0 { fps } else { RENDER_FPS };
        let Some(observer) = observer else {
            tracing::warn!("no face detector: the light step is rendered on a synthetic face");
            return Ok(Self::synthetic());
        };
        let (mut frames, mut faces) = (Vec::new(), Vec::new());
        while frames.len() < max_frames {
            let frame = match source.next_frame(Duration::from_secs(5)) {
                Ok(f) => f,
                Err(SourceError::EndOfStream) => break,
                Err(SourceError::Timeout { .. }) => continue,
                Err(e) => return Err(CompanionError::Camera(e.to_string())),
            };
            let image = fit(frame.image, SCENE_MAX_SIDE);
            faces.push(observer.analyse(&image)?);
            frames.push(image);
        }
        if faces.iter().all(Option::is_none) {
            tracing::warn!("no face in the source: the light step is rendered on a synthetic face");
            return Ok(Self::synthetic());
        }
        Ok(Self { frames, faces, fps, synthetic: false })
    }
}

impl LightScene {
    fn ready(frames: SceneFrames) -> Self {
        Self { frames: OnceLock::from(frames), deferred: Mutex::new(None) }
    }

    /// The liveness crate's synthetic face (no detector needed; a real server's face
    /// detector does not see it as a face, so only the light check's own tests pass with it).
    pub fn synthetic() -> Self {
        Self::ready(SceneFrames::synthetic())
    }

    /// Frames and their faces as given (clip order, `fps` frames per second).
    pub fn from_frames(frames: Vec<RgbImage>, faces: Vec<Option<FaceAnalysis>>, fps: f32) -> Self {
        Self::ready(SceneFrames { frames, faces, fps, synthetic: false })
    }

    /// Reads up to `max_frames` frames of a finite source (a folder, a file, a synthetic
    /// source; recorded at `fps`) and finds each one's face with `observer`. Without a
    /// detector, or when no frame has a face, the scene is [`LightScene::synthetic`].
    ///
    /// # Errors
    /// [`CompanionError::Camera`] for source errors, [`CompanionError::Face`] for engine errors.
    pub fn from_source(
        source: Box<dyn FrameSource>,
        observer: Option<&FaceObserver>,
        max_frames: usize,
        fps: f32,
    ) -> Result<Self, CompanionError> {
        SceneFrames::read(source, observer, max_frames, fps).map(Self::ready)
    }

    /// Like [`LightScene::from_source`], but the source is opened and read only when a light
    /// step first needs the scene (sessions without a light sequence pay nothing); a failure
    /// then falls back to the synthetic face, with a warning.
    pub fn deferred(
        open: impl FnOnce() -> Result<Box<dyn FrameSource>, CompanionError> + Send + 'static,
        observer: Option<FaceObserver>,
        max_frames: usize,
        fps: f32,
    ) -> Self {
        let make: Deferred = Box::new(move || SceneFrames::read(open()?, observer.as_ref(), max_frames, fps));
        Self { frames: OnceLock::new(), deferred: Mutex::new(Some(make)) }
    }

    fn scene(&self) -> &SceneFrames {
        self.frames.get_or_init(|| {
            let make = self.deferred.lock().ok().and_then(|mut d| d.take());
            match make.map(|f| f()) {
                Some(Ok(s)) => s,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "the light scene's source failed: rendering on a synthetic face");
                    SceneFrames::synthetic()
                }
                None => SceneFrames::synthetic(),
            }
        })
    }

    /// Whether this is the synthetic face.
    pub fn is_synthetic(&self) -> bool {
        self.scene().synthetic
    }

    /// Renders a genuine response to `sequence` whose last frame is captured at `end_ms`
    /// (device clock): every frame from 300 ms before the lead-in to 600 ms after the tail,
    /// and the paint report on the same clock. Deterministic for a sequence (seeded by its
    /// nonce and signature), with mid-range room, display and camera parameters.
    pub fn render(&self, sequence: &LightSequence, end_ms: i64) -> (Vec<(RgbImage, i64)>, LightPresentation) {
        let scene = self.scene();
        let sources: Vec<SourceFrame<'_>> = scene
            .frames
            .iter()
            .zip(&scene.faces)
            .map(|(image, face)| SourceFrame { image, face: face.as_ref() })
            .collect();
        let seed = sequence
            .nonce
            .bytes()
            .chain(sequence.signature().bytes())
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        let mut rng = StdRng::seed_from_u64(seed);
        let mut frames = Vec::new();
        let mut presentation = Renderer::new(&sources, scene.fps).render(
            sequence,
            &Scenario::Genuine,
            &RenderParams::typical(RENDER_FPS),
            &mut rng,
            &mut |img, ts, _| frames.push((img.clone(), ts)),
        );
        // Move the renderer's clock onto the device's: the capture ends at `end_ms`.
        let shift = frames.last().map_or(0, |f| end_ms - f.1);
        frames.iter_mut().for_each(|f| f.1 += shift);
        presentation.shown_at_ms.iter_mut().for_each(|t| *t += shift);
        presentation.ended_at_ms += shift;
        (frames, presentation)
    }
}

/// The upload's metadata and frames in upload order: the light step's frames first (marked
/// `light`, no action), then the actions' selection; the paint report with them.
pub(super) fn upload_metadata(
    nonce: &str,
    light: Option<LightCapture>,
    actions: Vec<SelectedFrame>,
) -> (CaptureMetadata, Vec<SelectedFrame>) {
    let (light_frames, presentation) = light.map_or((Vec::new(), None), |l| (l.frames, Some(l.presentation)));
    let n_light = light_frames.len();
    let frames: Vec<SelectedFrame> = light_frames.into_iter().chain(actions).collect();
    let metadata = CaptureMetadata {
        nonce: nonce.to_owned(),
        frames: frames
            .iter()
            .enumerate()
            .map(|(i, f)| FrameMeta {
                part: format!("frame{i}"),
                action: f.action,
                captured_at_ms: f.captured_at_ms,
                light: i < n_light,
            })
            .collect(),
        light: presentation,
    };
    (metadata, frames)
}

/// Keeps at most `budget` of the light frames, spread evenly (the first and last kept).
fn keep_within(mut frames: Vec<SelectedFrame>, budget: usize) -> Vec<SelectedFrame> {
    let keep = pick_evenly(frames.len(), budget, None);
    let mut i = 0;
    frames.retain(|_| {
        let k = keep.contains(&i);
        i += 1;
        k
    });
    frames
}

fn selected(image: RgbImage, captured_at_ms: i64) -> SelectedFrame {
    SelectedFrame { image: Arc::new(image), captured_at_ms, action: None, jpeg: None }
}

impl Companion {
    /// Runs the light step of `sequence`: rendered when a [`LightScene`] is set, else shown by
    /// `prompter` while a live camera films. `budget`: the upload's frames for the step.
    ///
    /// # Errors
    /// [`CompanionError::LightUnavailable`] when the front end cannot show the sequence (or
    /// the face frames are a prepared clip without a scene), camera errors, cancellation.
    pub(super) async fn light_step(
        &self,
        sequence: &LightSequence,
        max_frames: usize,
        feed: &mut FaceFeed,
        prompter: &dyn Prompter,
        cancel: &CancellationToken,
    ) -> Result<LightCapture, CompanionError> {
        if let Some(scene) = self.light_scene.clone() {
            let seq = sequence.clone();
            let rendered = tokio::task::spawn_blocking(move || {
                let (frames, presentation) = scene.render(&seq, now_ms());
                let frames: Vec<SelectedFrame> =
                    frames.into_iter().map(|(image, ts)| selected(fit(image, UPLOAD_MAX_SIDE), ts)).collect();
                (frames, presentation)
            });
            let (frames, presentation) = tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(CompanionError::Cancelled),
                r = rendered => r.map_err(|e| CompanionError::Camera(format!("light renderer stopped: {e}")))?,
            };
            let budget = light_frame_budget(max_frames, frames.len());
            tracing::info!(frames = frames.len(), kept = budget, "light step rendered");
            return Ok(LightCapture { frames: keep_within(frames, budget), presentation });
        }
        let FaceFeed::Pump(pump) = feed else {
            return Err(CompanionError::LightUnavailable(
                "a prepared clip cannot respond to the light sequence without a light scene".into(),
            ));
        };
        let show = prompter.show_light(sequence);
        tokio::pin!(show);
        let mut frames = Vec::new();
        let mut base: Option<(i64, Duration)> = None;
        let mut source_done = pump.ended;
        let presentation = loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(CompanionError::Cancelled),
                p = &mut show => break p,
                f = pump.next(), if !source_done => match f {
                    Ok(frame) => {
                        let frame = if pump.is_finite() { frame } else { pump.newest(frame) };
                        let (base_ms, base_ts) = *base.get_or_insert((now_ms(), frame.timestamp));
                        let offset = frame.timestamp.saturating_sub(base_ts);
                        let at = base_ms + i64::try_from(offset.as_millis()).unwrap_or(0);
                        frames.push(selected(fit(frame.image, UPLOAD_MAX_SIDE), at));
                    }
                    Err(SourceError::EndOfStream) => {
                        pump.ended = true;
                        source_done = true;
                    }
                    Err(e) => return Err(CompanionError::Camera(e.to_string())),
                },
            }
        };
        let Some(presentation) = presentation else {
            return Err(CompanionError::LightUnavailable(
                "this front end cannot show the light check: use the Realname desktop app".into(),
            ));
        };
        // Frames of the notice before the lead-in carry nothing: keep the step's span (as
        // the renderer does, from 300 ms before the lead-in).
        let from = presentation.shown_at_ms.first().map_or(i64::MIN, |t| t - 300);
        frames.retain(|f| f.captured_at_ms >= from);
        let budget = light_frame_budget(max_frames, frames.len());
        tracing::info!(frames = frames.len(), kept = budget, "light step filmed");
        Ok(LightCapture { frames: keep_within(frames, budget), presentation })
    }
}

#[cfg(test)]
#[path = "light_tests.rs"]
mod tests;
