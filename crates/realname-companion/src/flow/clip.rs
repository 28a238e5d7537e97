//! Frames as the flow handles them: clips loaded and analysed once (load generation), image
//! fitting, and JPEG encoding within the server's upload limits.

use std::sync::Arc;
use std::time::Duration;

use image::RgbImage;
use realname_protocol::api::UploadLimits;
use realname_scan::{FrameSource, SourceError};

use crate::client::UploadFrame;
use crate::error::CompanionError;
use crate::liveness::{ObservedFrame, SelectedFrame};
use crate::observer::FaceObserver;

/// A clip loaded (and analysed) once, replayed into many flows.
#[derive(Debug)]
pub struct PreparedClip {
    pub(super) frames: Vec<ObservedFrame>,
}

impl PreparedClip {
    /// Reads every frame of a finite source (at most `max_frames`), analyses each with
    /// `observer` when given, and encodes each once as JPEG.
    ///
    /// # Errors
    /// [`CompanionError::Camera`] for source errors, [`CompanionError::Face`] for engine errors.
    pub fn load(
        mut source: Box<dyn FrameSource>,
        observer: Option<&FaceObserver>,
        max_frames: usize,
        max_dimension: u32,
    ) -> Result<Self, CompanionError> {
        let mut frames = Vec::new();
        let mut observer = observer;
        while frames.len() < max_frames {
            let frame = match source.next_frame(Duration::from_secs(5)) {
                Ok(f) => f,
                Err(SourceError::EndOfStream) => break,
                Err(SourceError::Timeout { .. }) => continue,
                Err(e) => return Err(CompanionError::Camera(e.to_string())),
            };
            let image = fit(frame.image, max_dimension);
            let observation = match observer.map(|o| o.observe(&image)) {
                Some(Ok(o)) => Some(o),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "local face detector failed; the clip is replayed by time");
                    observer = None;
                    None
                }
                None => None,
            };
            let jpeg = encode_jpeg(&image, 88)?;
            frames.push(ObservedFrame {
                image: Arc::new(image),
                captured_at_ms: 0,
                source_ms: u64::try_from(frame.timestamp.as_millis()).unwrap_or(u64::MAX),
                observation,
                jpeg: Some(Arc::new(jpeg)),
            });
        }
        if frames.is_empty() {
            return Err(CompanionError::SourceEnded);
        }
        Ok(Self { frames })
    }

    /// The same clip as a different capture of the scene, for load generation: every frame
    /// gets a faint deterministic pattern derived from `seed` (±1 in one pixel of each 8×8
    /// block, invisible, but a different image) and is encoded again. Many virtual users
    /// uploading one recorded clip would otherwise be — correctly — refused by the server as
    /// replays of an earlier upload. The local observations are kept.
    ///
    /// # Errors
    /// [`CompanionError::Camera`] when a frame cannot be encoded.
    pub fn with_sensor_noise(&self, seed: u64) -> Result<Self, CompanionError> {
        let mut frames = Vec::with_capacity(self.frames.len());
        for (i, f) in self.frames.iter().enumerate() {
            let mut image = f.image.as_ref().clone();
            let (w, h) = image.dimensions();
            let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ (i as u64).wrapping_add(1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            for by in (0..h).step_by(8) {
                for bx in (0..w).step_by(8) {
                    // xorshift64: position inside the block, channel and sign.
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let (x, y) = ((bx + (state & 7) as u32).min(w - 1), (by + ((state >> 3) & 7) as u32).min(h - 1));
                    let c = ((state >> 6) % 3) as usize;
                    let px = image.get_pixel_mut(x, y);
                    px.0[c] = if state & (1 << 9) == 0 { px.0[c].saturating_add(1) } else { px.0[c].saturating_sub(1) };
                }
            }
            let jpeg = encode_jpeg(&image, 88)?;
            frames.push(ObservedFrame {
                image: Arc::new(image),
                jpeg: Some(Arc::new(jpeg)),
                observation: f.observation,
                ..*f
            });
        }
        Ok(Self { frames })
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether there are no frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

/// Shrinks an image so that its longer side is at most `max_side` (in the optimised scanner
/// crate: this one is built without optimisation in debug builds).
pub(super) fn fit(image: RgbImage, max_side: u32) -> RgbImage {
    realname_scan::jpeg::downscale(image, max_side)
}

pub(super) fn encode_jpeg(image: &RgbImage, quality: u8) -> Result<Vec<u8>, CompanionError> {
    realname_scan::jpeg::encode(image, quality)
        .map_err(|e| CompanionError::Camera(format!("cannot encode a frame: {e}")))
}

/// Largest side of uploaded frames (the server's limit may be lower).
pub(super) const UPLOAD_MAX_SIDE: u32 = 1280;

/// Encodes the selection within the server's limits.
pub(super) fn encode_selection(
    selection: &[SelectedFrame],
    limits: &UploadLimits,
) -> Result<Vec<UploadFrame>, CompanionError> {
    let max_side = limits.max_dimension.min(UPLOAD_MAX_SIDE);
    selection
        .iter()
        .map(|f| {
            if let Some(jpeg) = &f.jpeg
                && (jpeg.len() as u64) <= limits.max_frame_bytes
                && f.image.width().max(f.image.height()) <= max_side
            {
                return Ok(UploadFrame { jpeg: jpeg.as_ref().clone() });
            }
            let image = fit(f.image.as_ref().clone(), max_side);
            for quality in [88u8, 75, 60, 45] {
                let jpeg = encode_jpeg(&image, quality)?;
                if (jpeg.len() as u64) <= limits.max_frame_bytes {
                    return Ok(UploadFrame { jpeg });
                }
            }
            Err(CompanionError::Camera("a frame does not fit the server's upload size limit".into()))
        })
        .collect()
}
