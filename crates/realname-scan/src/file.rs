//! Sources that replay pictures from disk: one image file, or a folder of images at a frame rate.

use std::path::{Path, PathBuf};
use std::time::Duration;

use image::RgbImage;

use crate::frame::{Frame, FrameSource, Pacer, SourceError, SourceInfo, SourceKind};
use crate::recorder::{FrameIndex, INDEX_FILE};

/// What happens after the last frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Playback {
    /// Deliver every frame once, then [`SourceError::EndOfStream`].
    Once,
    /// Start again from the first frame.
    Loop,
}

pub(crate) fn load_rgb(path: &Path) -> Result<RgbImage, SourceError> {
    let bytes = std::fs::read(path).map_err(|source| SourceError::Io { path: path.to_owned(), source })?;
    let img = image::load_from_memory(&bytes)
        .map_err(|e| SourceError::Image { path: path.to_owned(), message: e.to_string() })?;
    Ok(img.into_rgb8())
}

/// One image file as a source: the image once (or repeated at `fps` when looping).
#[derive(Debug)]
pub struct ImageFileSource {
    path: PathBuf,
    image: RgbImage,
    fps: Option<f64>,
    playback: Playback,
    pacer: Pacer,
    sequence: u64,
    closed: bool,
}

impl ImageFileSource {
    /// Loads the image now, so a bad path fails here rather than at the first frame.
    ///
    /// # Errors
    /// [`SourceError::Io`] or [`SourceError::Image`].
    pub fn open(path: impl AsRef<Path>, fps: Option<f64>, playback: Playback) -> Result<Self, SourceError> {
        let path = path.as_ref().to_owned();
        let image = load_rgb(&path)?;
        Ok(Self { path, image, fps, playback, pacer: Pacer::new(fps), sequence: 0, closed: false })
    }
}

impl FrameSource for ImageFileSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: SourceKind::ImageFile,
            name: self.path.display().to_string(),
            width: self.image.width(),
            height: self.image.height(),
            fps: self.fps,
            frame_count: (self.playback == Playback::Once).then_some(1),
        }
    }

    fn next_frame(&mut self, timeout: Duration) -> Result<Frame, SourceError> {
        if self.closed {
            return Err(SourceError::Closed);
        }
        if self.playback == Playback::Once && self.sequence > 0 {
            return Err(SourceError::EndOfStream);
        }
        self.pacer.wait(timeout)?;
        let frame = Frame { image: self.image.clone(), timestamp: self.pacer.elapsed(), sequence: self.sequence };
        self.sequence += 1;
        Ok(frame)
    }

    fn close(&mut self) -> Result<(), SourceError> {
        self.closed = true;
        Ok(())
    }
}

/// A folder of PNG/JPEG images played in file-name order (natural order: `2.png` before
/// `10.png`), or in the order and with the timing of a [`crate::Recorder`]'s `index.json`.
#[derive(Debug)]
pub struct ImageSequenceSource {
    dir: PathBuf,
    files: Vec<PathBuf>,
    /// Recorded timestamps (same length as `files`) when replaying a recording without `fps`.
    recorded: Option<Vec<Duration>>,
    fps: Option<f64>,
    playback: Playback,
    pacer: Pacer,
    position: usize,
    sequence: u64,
    size: (u32, u32),
    closed: bool,
}

/// Splits a name into text and number runs so that `frame2` sorts before `frame10`.
fn natural_key(name: &str) -> Vec<(String, u128)> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut digits = String::new();
    for ch in name.chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
        } else {
            if !digits.is_empty() {
                out.push((std::mem::take(&mut text), digits.parse().unwrap_or(u128::MAX)));
                digits.clear();
            }
            text.push(ch);
        }
    }
    out.push((text, if digits.is_empty() { 0 } else { digits.parse().unwrap_or(u128::MAX) }));
    out
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

impl ImageSequenceSource {
    /// Lists the folder now. `fps` of `None` replays a recording's timestamps when the folder
    /// has an `index.json`, else plays at 10 fps.
    ///
    /// # Errors
    /// [`SourceError::Io`], [`SourceError::EmptyFolder`], [`SourceError::InvalidIndex`], or an
    /// image error for the first frame (read to learn the frame size).
    pub fn open(dir: impl AsRef<Path>, fps: Option<f64>, playback: Playback) -> Result<Self, SourceError> {
        let dir = dir.as_ref().to_owned();
        let index_path = dir.join(INDEX_FILE);
        let (files, recorded) = if index_path.is_file() {
            let index = FrameIndex::load(&index_path)?;
            let files: Vec<PathBuf> = index.frames.iter().map(|f| dir.join(&f.file)).collect();
            let stamps = index.frames.iter().map(|f| Duration::from_micros(f.timestamp_us)).collect();
            (files, Some(stamps))
        } else {
            let entries = std::fs::read_dir(&dir).map_err(|source| SourceError::Io { path: dir.clone(), source })?;
            let mut files = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|source| SourceError::Io { path: dir.clone(), source })?;
                let path = entry.path();
                if path.is_file() && is_image(&path) {
                    files.push(path);
                }
            }
            files.sort_by_cached_key(|p| {
                natural_key(&p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
            });
            (files, None)
        };
        let Some(first) = files.first() else {
            return Err(SourceError::EmptyFolder { path: dir });
        };
        let first = load_rgb(first)?;
        let recorded = if fps.is_some() { None } else { recorded };
        let rate = if recorded.is_some() { None } else { Some(fps.unwrap_or(10.0)) };
        Ok(Self {
            dir,
            files,
            recorded,
            fps: rate,
            playback,
            pacer: Pacer::new(rate),
            position: 0,
            sequence: 0,
            size: first.dimensions(),
            closed: false,
        })
    }

    /// The files in play order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

impl FrameSource for ImageSequenceSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: SourceKind::ImageSequence,
            name: self.dir.display().to_string(),
            width: self.size.0,
            height: self.size.1,
            fps: self.fps,
            frame_count: (self.playback == Playback::Once).then_some(self.files.len() as u64),
        }
    }

    fn next_frame(&mut self, timeout: Duration) -> Result<Frame, SourceError> {
        if self.closed {
            return Err(SourceError::Closed);
        }
        if self.position >= self.files.len() {
            match self.playback {
                Playback::Once => return Err(SourceError::EndOfStream),
                Playback::Loop => {
                    self.position = 0;
                    if self.recorded.is_some() {
                        self.pacer = Pacer::new(None);
                    }
                }
            }
        }
        let timestamp = match &self.recorded {
            Some(stamps) => {
                // Replay the recorded spacing: frame i is due at its timestamp after the first.
                let due = stamps[self.position].saturating_sub(stamps[0]);
                let now = self.pacer.elapsed();
                if due > now {
                    let wait = due - now;
                    if wait > timeout {
                        std::thread::sleep(timeout);
                        return Err(SourceError::Timeout { waited: timeout });
                    }
                    std::thread::sleep(wait);
                }
                stamps[self.position]
            }
            None => {
                self.pacer.wait(timeout)?;
                self.pacer.elapsed()
            }
        };
        let image = load_rgb(&self.files[self.position])?;
        self.position += 1;
        let frame = Frame { image, timestamp, sequence: self.sequence };
        self.sequence += 1;
        Ok(frame)
    }

    fn close(&mut self) -> Result<(), SourceError> {
        self.closed = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut names = vec!["f10.png", "f2.png", "f1.png", "a.png", "f02b.png"];
        names.sort_by_key(|n| natural_key(n));
        assert_eq!(names, ["a.png", "f1.png", "f2.png", "f02b.png", "f10.png"]);
    }
}
