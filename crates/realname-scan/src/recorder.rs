//! Records any source's frames into a folder (numbered PNG/JPEG plus `index.json`) that the folder source replays.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::frame::{Frame, FrameSource, SourceError};

/// Name of the index file a recording folder carries.
pub(crate) const INDEX_FILE: &str = "index.json";

/// Image encoding of recorded frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// Lossless, larger.
    Png,
    /// Lossy at the given quality (1–100).
    Jpeg(u8),
}

/// One recorded frame in `index.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameIndexEntry {
    /// File name inside the folder.
    pub file: String,
    /// The source's sequence number.
    pub sequence: u64,
    /// The source's capture timestamp in microseconds.
    pub timestamp_us: u64,
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
}

/// The `index.json` of a recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameIndex {
    /// Format version, currently 1.
    pub version: u32,
    /// Name of the source that was recorded.
    pub source: String,
    /// Frames in recording order.
    pub frames: Vec<FrameIndexEntry>,
}

impl FrameIndex {
    /// Reads and checks an index file.
    ///
    /// # Errors
    /// [`SourceError::Io`] or [`SourceError::InvalidIndex`] (bad JSON, unknown version, a file
    /// name that leaves the folder).
    pub fn load(path: &Path) -> Result<Self, SourceError> {
        let text = std::fs::read(path).map_err(|source| SourceError::Io { path: path.to_owned(), source })?;
        let bad = |message: String| SourceError::InvalidIndex { path: path.to_owned(), message };
        let index: Self = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
        if index.version != 1 {
            return Err(bad(format!("unsupported version {}", index.version)));
        }
        for f in &index.frames {
            let p = Path::new(&f.file);
            if f.file.is_empty() || p.components().count() != 1 || p.is_absolute() || f.file == ".." {
                return Err(bad(format!("frame file {:?} is not a plain file name", f.file)));
            }
        }
        Ok(index)
    }
}

/// Writes frames as `000000.png`, `000001.png`, ... and keeps `index.json` up to date.
#[derive(Debug)]
pub struct Recorder {
    dir: PathBuf,
    format: ImageFormat,
    index: FrameIndex,
}

impl Recorder {
    /// Creates the folder (if needed). An existing recording there is replaced file by file.
    ///
    /// # Errors
    /// [`SourceError::Io`] when the folder cannot be created, [`SourceError::InvalidConfig`]
    /// for a JPEG quality outside 1–100.
    pub fn create(dir: impl AsRef<Path>, format: ImageFormat, source_name: &str) -> Result<Self, SourceError> {
        if let ImageFormat::Jpeg(q) = format
            && !(1..=100).contains(&q)
        {
            return Err(SourceError::InvalidConfig(format!("JPEG quality {q} outside 1..=100")));
        }
        let dir = dir.as_ref().to_owned();
        std::fs::create_dir_all(&dir).map_err(|source| SourceError::Io { path: dir.clone(), source })?;
        Ok(Self { dir, format, index: FrameIndex { version: 1, source: source_name.to_owned(), frames: Vec::new() } })
    }

    /// Writes one frame and rewrites the index (so an interrupted recording stays playable).
    ///
    /// # Errors
    /// [`SourceError::Io`] or [`SourceError::Image`].
    pub fn record(&mut self, frame: &Frame) -> Result<(), SourceError> {
        let n = self.index.frames.len();
        let name = match self.format {
            ImageFormat::Png => format!("{n:06}.png"),
            ImageFormat::Jpeg(_) => format!("{n:06}.jpg"),
        };
        let path = self.dir.join(&name);
        let file = std::fs::File::create(&path).map_err(|source| SourceError::Io { path: path.clone(), source })?;
        let mut out = std::io::BufWriter::new(file);
        let encoded = match self.format {
            ImageFormat::Png => frame.image.write_to(&mut out, image::ImageFormat::Png),
            ImageFormat::Jpeg(q) => {
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q).encode_image(&frame.image)
            }
        };
        encoded.map_err(|e| SourceError::Image { path: path.clone(), message: e.to_string() })?;
        std::io::Write::flush(&mut out).map_err(|source| SourceError::Io { path: path.clone(), source })?;
        self.index.frames.push(FrameIndexEntry {
            file: name,
            sequence: frame.sequence,
            timestamp_us: u64::try_from(frame.timestamp.as_micros()).unwrap_or(u64::MAX),
            width: frame.image.width(),
            height: frame.image.height(),
        });
        self.write_index()
    }

    fn write_index(&self) -> Result<(), SourceError> {
        let path = self.dir.join(INDEX_FILE);
        let tmp = self.dir.join(format!("{INDEX_FILE}.tmp"));
        let json = serde_json::to_vec_pretty(&self.index)
            .map_err(|e| SourceError::InvalidIndex { path: path.clone(), message: e.to_string() })?;
        std::fs::write(&tmp, json).map_err(|source| SourceError::Io { path: tmp.clone(), source })?;
        std::fs::rename(&tmp, &path).map_err(|source| SourceError::Io { path, source })
    }

    /// Pulls up to `max_frames` frames from `source` (each waited for at most `timeout`) and
    /// records them; stops early at the end of a finite source. Returns the number recorded.
    ///
    /// # Errors
    /// The first source or write error other than end of stream.
    pub fn record_from(
        &mut self,
        source: &mut dyn FrameSource,
        max_frames: usize,
        timeout: Duration,
    ) -> Result<usize, SourceError> {
        let mut n = 0;
        while n < max_frames {
            match source.next_frame(timeout) {
                Ok(frame) => {
                    self.record(&frame)?;
                    n += 1;
                }
                Err(SourceError::EndOfStream) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// The index written so far.
    pub fn index(&self) -> &FrameIndex {
        &self.index
    }

    /// The recording folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
