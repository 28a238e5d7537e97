//! Frame sources (webcam, screen, file, folder, synthetic, recorder) and a QR reader that copes with real webcam frames.
//!
//! The crate is a pure library: it never opens a network connection. Everything that produces
//! pictures implements [`FrameSource`]; [`open_source`] turns a [`SourceSpec`] (parsed from a
//! CLI string such as `webcam:0@1280x720` or `dir:frames/@10fps,loop`) into a boxed source.
//! [`QrReader`] finds and decodes QR codes in a frame within a per-frame time budget.
//!
//! ```
//! use std::time::Duration;
//! use realname_scan::{FrameSource, QrReader, SourceSpec, open_source};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let spec = SourceSpec::parse("synthetic:qr=http://127.0.0.1:8080/v1/q/demo;perspective=20;blur=1;seed=7@320x240")?;
//! let mut camera = open_source(&spec)?;
//! let frame = camera.next_frame(Duration::from_millis(500))?;
//! let read = QrReader::default().read(&frame.image);
//! assert_eq!(read.codes[0].text(), "http://127.0.0.1:8080/v1/q/demo");
//! let _overlay = read.codes[0].corners; // frame coordinates, for drawing
//! camera.close()?;
//! # Ok(())
//! # }
//! ```

mod file;
mod frame;
pub mod jpeg;
pub mod payload;
pub mod qr;
mod recorder;
#[cfg(feature = "screen")]
pub mod screen;
pub mod spec;
pub mod synthetic;
#[cfg(feature = "webcam")]
pub mod webcam;

pub use file::{ImageFileSource, ImageSequenceSource, Playback};
pub use frame::{Frame, FrameSource, SourceError, SourceInfo, SourceKind};
pub use qr::{DecodedQr, Engine, QrReader, ReadOutcome, ReaderConfig, payload_text};
pub use recorder::{FrameIndex, FrameIndexEntry, ImageFormat, Recorder};
pub use spec::{SourceSpec, SpecError, open_source};
pub use synthetic::{SyntheticConfig, SyntheticSource};
