//! `realname record --flash`: records a light step as the app runs it — a colour sequence
//! shown in front of the face while the frames are filmed — into a folder the evaluation
//! reads: the frames as a `dir:` recording (`000000.jpg`…, `index.json`) plus
//! [`LIGHT_FILE`] with the sequence, when each field was painted and when each frame was
//! captured (format: crates/realname-liveness/README.md, "Recording light steps").
//!
//! - `synthetic:`, `dir:` and `file:` sources have no screen in front of them: the liveness
//!   renderer lights the source's own face with the sequence (as `realname verify` does), and
//!   the recording is marked `rendered`.
//! - A webcam: the terminal is the screen. It is switched to its alternate screen and filled
//!   with each colour in turn (24-bit colour escape codes; make the terminal full screen and
//!   sit an arm's length away), while a thread films; the paint time of a field is when its
//!   escape codes were flushed (the terminal and display add their own latency, which the
//!   decision's latency window covers).

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use image::RgbImage;
use realname_companion::{CompanionError, FaceObserver, LightScene};
use realname_liveness::light::{GenerateLight, LightPresentation, LightSequence};
use realname_scan::{Frame, FrameSource, ImageFormat, Recorder, SourceError, SourceSpec};
use serde::{Deserialize, Serialize};

/// The recording's description, next to the frames.
pub(crate) const LIGHT_FILE: &str = "light.json";

/// Value of [`LightRecording::format`].
pub(crate) const LIGHT_FORMAT: &str = "realname-light-recording";

/// Frames filmed before the lead-in and after the tail (as the app keeps them), ms.
const MARGIN_BEFORE_MS: i64 = 300;
const MARGIN_AFTER_MS: i64 = 600;

/// Frames of a finite source the renderer lights (played back and forth).
const SCENE_FRAMES: usize = 20;

/// [`LIGHT_FILE`]: what was shown, when, and which frame was captured when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LightRecording {
    /// [`LIGHT_FORMAT`].
    pub format: String,
    /// 1.
    pub version: u32,
    /// `genuine`, or what the attack was (e.g. `attack:phone_replay`), as given by `--kind`.
    pub kind: String,
    /// Whether the light was rendered (a file, folder or synthetic source), not filmed.
    pub rendered: bool,
    /// The source spec recorded.
    pub source: String,
    /// The sequence shown (drawn locally from the operating system's CSPRNG).
    pub sequence: LightSequence,
    /// When each field was painted (ms since the Unix epoch, the frames' clock).
    pub presentation: LightPresentation,
    /// The frames in capture order.
    pub frames: Vec<RecordedFrame>,
}

/// One frame of a light recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RecordedFrame {
    /// File name in the folder (as in `index.json`).
    pub file: String,
    /// Capture time, ms since the Unix epoch.
    pub captured_at_ms: i64,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn camera(e: impl std::fmt::Display) -> CompanionError {
    CompanionError::Camera(e.to_string())
}

/// A new sequence for a local recording (its own nonce: never a server's challenge).
pub(crate) fn local_sequence() -> LightSequence {
    let nonce = format!("local-{:016x}{:016x}", rand::random::<u64>(), rand::random::<u64>());
    LightSequence::generate(&nonce)
}

/// Records a light step of `spec` into `dir` (JPEG at `quality`) and writes [`LIGHT_FILE`].
///
/// # Errors
/// Source and face engine errors, write errors ([`CompanionError::Camera`]).
pub(crate) fn record_flash(
    spec: &str,
    observer: Option<&FaceObserver>,
    dir: &Path,
    quality: u8,
    kind: &str,
) -> Result<LightRecording, CompanionError> {
    let mut parsed = SourceSpec::parse(spec).map_err(|e| CompanionError::Config(format!("source spec: {e}")))?;
    let sequence = local_sequence();
    let fps = match &mut parsed {
        SourceSpec::Screen { .. } => {
            return Err(CompanionError::Config(
                "--flash records a webcam, a folder, a file or a synthetic source, not the screen".into(),
            ));
        }
        SourceSpec::Webcam { .. } => None,
        // Read the scene as fast as the files allow; render it at the recorded rate.
        SourceSpec::Dir { fps, .. } | SourceSpec::File { fps, .. } => Some(fps.replace(1000.0).unwrap_or(10.0)),
        SourceSpec::Synthetic(_) => Some(10.0),
    };
    let source = realname_scan::open_source(&parsed).map_err(camera)?;
    let (frames, presentation) = match fps {
        None => film(source, &sequence)?,
        Some(fps) => {
            let scene = LightScene::from_source(source, observer, SCENE_FRAMES, fps as f32)?;
            scene.render(&sequence, now_ms())
        }
    };
    let recording = LightRecording {
        format: LIGHT_FORMAT.into(),
        version: 1,
        kind: kind.into(),
        rendered: fps.is_some(),
        source: spec.into(),
        sequence,
        presentation,
        frames: Vec::new(),
    };
    write(dir, recording, frames, quality)
}

/// Writes the frames (a `dir:` recording) and [`LIGHT_FILE`].
fn write(
    dir: &Path,
    mut recording: LightRecording,
    frames: Vec<(RgbImage, i64)>,
    quality: u8,
) -> Result<LightRecording, CompanionError> {
    let mut rec = Recorder::create(dir, ImageFormat::Jpeg(quality), &recording.source).map_err(camera)?;
    let start = frames.first().map_or(0, |f| f.1);
    for (i, (image, at)) in frames.into_iter().enumerate() {
        let timestamp = Duration::from_millis(u64::try_from(at - start).unwrap_or(0));
        rec.record(&Frame { image, timestamp, sequence: i as u64 }).map_err(camera)?;
        let file = rec.index().frames.last().map(|f| f.file.clone()).unwrap_or_default();
        recording.frames.push(RecordedFrame { file, captured_at_ms: at });
    }
    let json = serde_json::to_vec_pretty(&recording).map_err(camera)?;
    let path = dir.join(LIGHT_FILE);
    std::fs::write(&path, json).map_err(|e| camera(format!("{}: {e}", path.display())))?;
    Ok(recording)
}

/// Films `source` while the terminal shows the sequence's fields; returns the frames from
/// [`MARGIN_BEFORE_MS`] before the lead-in to [`MARGIN_AFTER_MS`] after the tail.
fn film(
    mut source: Box<dyn FrameSource>,
    sequence: &LightSequence,
) -> Result<(Vec<(RgbImage, i64)>, LightPresentation), CompanionError> {
    let stop = Arc::new(AtomicBool::new(false));
    let filming = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut frames = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match source.next_frame(Duration::from_secs(2)) {
                    Ok(f) => frames.push((f.image, now_ms())),
                    Err(SourceError::Timeout { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(frames)
        })
    };
    // The camera's exposure settles before anything is shown.
    std::thread::sleep(Duration::from_millis(1500));
    let mut out = std::io::stdout().lock();
    let painted = (|| -> std::io::Result<LightPresentation> {
        // Alternate screen, no cursor.
        write!(out, "\x1b[?1049h\x1b[?25l")?;
        let mut shown_at_ms = Vec::new();
        for ([r, g, b], hold_ms) in sequence.fields() {
            write!(out, "\x1b[48;2;{r};{g};{b}m\x1b[2J\x1b[H")?;
            out.flush()?;
            shown_at_ms.push(now_ms());
            std::thread::sleep(Duration::from_millis(u64::from(hold_ms)));
        }
        let ended_at_ms = now_ms();
        Ok(LightPresentation { nonce: sequence.nonce.clone(), shown_at_ms, ended_at_ms })
    })();
    // Whatever happened, give the terminal back.
    let _ = write!(out, "\x1b[0m\x1b[2J\x1b[H\x1b[?25h\x1b[?1049l");
    let _ = out.flush();
    drop(out);
    std::thread::sleep(Duration::from_millis(MARGIN_AFTER_MS as u64));
    stop.store(true, Ordering::Relaxed);
    let frames = filming.join().map_err(|_| camera("the filming thread panicked"))?.map_err(camera)?;
    let presentation = painted.map_err(camera)?;
    let first = presentation.shown_at_ms.first().copied().unwrap_or(0) - MARGIN_BEFORE_MS;
    let last = presentation.ended_at_ms + MARGIN_AFTER_MS;
    let frames = frames.into_iter().filter(|(_, t)| (first..=last).contains(t)).collect();
    Ok((frames, presentation))
}

/// Reads [`LIGHT_FILE`] of a recording folder.
///
/// # Errors
/// Unreadable file, bad JSON, another format or version.
#[cfg(test)]
pub(crate) fn read_recording(dir: &Path) -> Result<LightRecording, CompanionError> {
    let path = dir.join(LIGHT_FILE);
    let text = std::fs::read(&path).map_err(|e| CompanionError::Config(format!("{}: {e}", path.display())))?;
    let r: LightRecording =
        serde_json::from_slice(&text).map_err(|e| CompanionError::Config(format!("{}: {e}", path.display())))?;
    if r.format != LIGHT_FORMAT || r.version != 1 {
        return Err(CompanionError::Config(format!("{}: not a version 1 {LIGHT_FORMAT}", path.display())));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_synthetic_source_records_a_rendered_light_step() {
        let dir = tempfile::tempdir().expect("tmp");
        let out = dir.path().join("rec");
        // Any picture: without a face detector the renderer lights its synthetic face.
        let picture = dir.path().join("scene.png");
        RgbImage::from_pixel(64, 48, image::Rgb([90, 120, 150])).save(&picture).expect("png");
        let spec = format!("synthetic:face={};frames=20", picture.display());
        let r = record_flash(&spec, None, &out, 90, "genuine").expect("record");
        let back = read_recording(&out).expect("read");
        assert_eq!(back, r);
        assert!(r.rendered);
        assert_eq!(r.presentation.nonce, r.sequence.nonce);
        assert_eq!(r.presentation.shown_at_ms.len(), r.sequence.steps.len() + 2);
        assert!(r.frames.len() >= 10, "{} frames", r.frames.len());
        assert!(r.frames.windows(2).all(|w| w[0].captured_at_ms < w[1].captured_at_ms));
        // The frames are a replayable `dir:` recording.
        let index = realname_scan::FrameIndex::load(&out.join("index.json")).expect("index");
        assert_eq!(index.frames.len(), r.frames.len());
        for f in &r.frames {
            assert!(out.join(&f.file).is_file(), "{}", f.file);
        }
    }

    #[test]
    fn local_sequences_are_not_reused() {
        let (a, b) = (local_sequence(), local_sequence());
        assert_ne!(a.nonce, b.nonce);
        assert!(a.steps.len() >= 6, "{a:?}");
    }
}
