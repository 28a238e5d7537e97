//! The `FrameSource` trait every camera-like input implements, its frame type and its errors.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use image::RgbImage;

/// One picture from a source.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The pixels, 8-bit RGB.
    pub image: RgbImage,
    /// When the frame was captured, relative to the moment its source was opened (for replayed
    /// recordings: the recorded timestamp).
    pub timestamp: Duration,
    /// Position of the frame in its source's stream, starting at 0. Gaps mean dropped frames.
    pub sequence: u64,
}

/// What kind of device or generator a source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A camera through nokhwa.
    Webcam,
    /// The X11 screen or one window on it.
    Screen,
    /// One image file.
    ImageFile,
    /// A folder of images played in name order (or as a recorder wrote them).
    ImageSequence,
    /// Generated test frames.
    Synthetic,
}

/// Static facts about an open source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceInfo {
    /// What the source is.
    pub kind: SourceKind,
    /// Human-readable name (device name, window title, path, ...). Never contains pixels.
    pub name: String,
    /// Frame width in pixels (for sources whose size can change: the current size).
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Nominal frame rate, when the source has one.
    pub fps: Option<f64>,
    /// Number of frames before the end of the stream, when finite and known.
    pub frame_count: Option<u64>,
}

/// Everything that can go wrong while opening or reading a source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// No frame arrived within the timeout given to `next_frame`; the source is still usable.
    #[error("no frame within {waited:?}")]
    Timeout {
        /// How long the call waited.
        waited: Duration,
    },
    /// A finite source (file, folder played once, synthetic with a frame limit) has no more frames.
    #[error("end of stream")]
    EndOfStream,
    /// `next_frame` was called after `close`.
    #[error("source is closed")]
    Closed,
    /// No camera matches the selector (on machines without any camera `available` is 0).
    #[error("no webcam matches {selector} ({available} camera(s) found)")]
    NoSuchDevice {
        /// The index or name that was asked for.
        selector: String,
        /// How many cameras the backend listed.
        available: usize,
    },
    /// The camera backend reported an error.
    #[error("webcam error: {0}")]
    Device(String),
    /// The device went away; the source keeps trying to reconnect and delivers frames again
    /// once it is back.
    #[error("device disconnected, reconnecting")]
    Disconnected,
    /// No X11 display was given and `DISPLAY` is not set.
    #[error("no X11 display: DISPLAY is not set")]
    NoDisplay,
    /// Talking to the X server failed.
    #[error("X11 error: {0}")]
    Display(String),
    /// No window title matches.
    #[error("no window titled {title:?}")]
    WindowNotFound {
        /// The title that was searched for.
        title: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An image file could not be decoded or encoded.
    #[error("{path}: {message}")]
    Image {
        /// The file.
        path: PathBuf,
        /// What the image codec said.
        message: String,
    },
    /// A folder holds no image files.
    #[error("{path}: no PNG or JPEG images in folder")]
    EmptyFolder {
        /// The folder.
        path: PathBuf,
    },
    /// A recorder index file is malformed.
    #[error("{path}: invalid frame index: {message}")]
    InvalidIndex {
        /// The index file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A configuration value is out of range or inconsistent.
    #[error("invalid source configuration: {0}")]
    InvalidConfig(String),
    /// The source needs a cargo feature this build lacks.
    #[error("this build has no {0} support (cargo feature {0:?} disabled)")]
    FeatureDisabled(&'static str),
}

/// A camera-like producer of frames.
///
/// `next_frame` blocks for at most `timeout` (sources pace themselves to their frame rate), so
/// a caller can poll a stop flag between calls. To use a source from async code, move it into
/// `spawn_blocking` or a dedicated thread (every source is `Send`) and forward frames over a
/// channel. Sources close themselves on drop; `close` does it early and reports errors.
pub trait FrameSource: Send {
    /// Facts about the source (kind, name, size, rate).
    fn info(&self) -> SourceInfo;

    /// Waits for the next frame for at most `timeout`.
    ///
    /// # Errors
    /// [`SourceError::Timeout`] when nothing arrived in time (try again),
    /// [`SourceError::EndOfStream`] when a finite source is exhausted, [`SourceError::Closed`]
    /// after `close`, and source-specific errors otherwise.
    fn next_frame(&mut self, timeout: Duration) -> Result<Frame, SourceError>;

    /// Releases the device, window connection or files. Later `next_frame` calls return
    /// [`SourceError::Closed`]. Closing twice is not an error.
    ///
    /// # Errors
    /// When releasing the underlying device failed.
    fn close(&mut self) -> Result<(), SourceError>;
}

impl<S: FrameSource + ?Sized> FrameSource for Box<S> {
    fn info(&self) -> SourceInfo {
        (**self).info()
    }
    fn next_frame(&mut self, timeout: Duration) -> Result<Frame, SourceError> {
        (**self).next_frame(timeout)
    }
    fn close(&mut self) -> Result<(), SourceError> {
        (**self).close()
    }
}

/// Spaces frames `1/fps` apart on the monotonic clock, waiting at most a caller's timeout.
#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    interval: Option<Duration>,
    started: Instant,
    next_due: Instant,
}

impl Pacer {
    /// `fps` of `None` means "as fast as asked".
    pub(crate) fn new(fps: Option<f64>) -> Self {
        let now = Instant::now();
        Self {
            interval: fps.filter(|f| *f > 0.0).map(|f| Duration::from_secs_f64(1.0 / f)),
            started: now,
            next_due: now,
        }
    }

    /// Time since the source opened.
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Waits until the next frame is due; returns `Timeout` (after waiting `timeout`) when it is
    /// due later than that, so the caller's deadline holds.
    pub(crate) fn wait(&mut self, timeout: Duration) -> Result<(), SourceError> {
        let Some(interval) = self.interval else {
            return Ok(());
        };
        let now = Instant::now();
        if self.next_due > now {
            let wait = self.next_due - now;
            if wait > timeout {
                std::thread::sleep(timeout);
                return Err(SourceError::Timeout { waited: timeout });
            }
            std::thread::sleep(wait);
        }
        // A slow consumer does not make the source burst to catch up.
        let base = self.next_due.max(now.checked_sub(interval).unwrap_or(now));
        self.next_due = base + interval;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacer_spaces_frames_and_times_out() {
        let mut p = Pacer::new(Some(50.0));
        let t0 = Instant::now();
        for _ in 0..3 {
            p.wait(Duration::from_secs(1)).expect("due within a second");
        }
        // Frames 0, 1, 2 at 0, 20, 40 ms.
        assert!(t0.elapsed() >= Duration::from_millis(39), "{:?}", t0.elapsed());
        let mut slow = Pacer::new(Some(1.0));
        slow.wait(Duration::from_millis(1)).expect("first frame immediate");
        let err = slow.wait(Duration::from_millis(5));
        assert!(matches!(err, Err(SourceError::Timeout { .. })), "{err:?}");
    }

    #[test]
    fn unpaced_never_waits() {
        let mut p = Pacer::new(None);
        let t0 = Instant::now();
        for _ in 0..1000 {
            p.wait(Duration::ZERO).expect("unpaced");
        }
        assert!(t0.elapsed() < Duration::from_millis(100));
    }
}
