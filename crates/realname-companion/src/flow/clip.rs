//! Frames as the flow handles them: clips loaded and analysed once (load generation), image
//! fitting, and JPEG encoding within the server's upload limits.

use std::sync::Arc;
use std::time::Duration;

use image::RgbImage;
use realname_protocol::api::{LivenessAction, UploadLimits};
use realname_scan::{FrameSource, SourceError};

use crate::client::UploadFrame;
use crate::error::CompanionError;
use crate::liveness::{ObservedFrame, SelectedFrame};
use crate::observer::FaceObserver;

/// A clip loaded (and analysed) once, replayed into many flows.
#[derive(Debug)]
pub struct PreparedClip {
    pub(super) frames: Vec<ObservedFrame>,
    /// Where the clip's person performs each action, when known ([`Self::with_segments`]).
    pub(super) segments: Option<ClipSegments>,
}

/// Where a clip's person looks neutral and performs each action: frame ranges of the clip
/// (load generation, [`PreparedClip::with_segments`]). With them a prepared clip answers any
/// challenge whose actions it holds, in the challenge's order, as a person asked for them
/// would: the neutral frames, then each action's frames.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClipSegments {
    neutral: Vec<usize>,
    actions: Vec<(LivenessAction, Vec<usize>)>,
}

/// Neutral frames a composed response starts with (the companion's selection has one; the
/// server's same-person references are every neutral frame).
const COMPOSED_NEUTRAL: usize = 2;

impl ClipSegments {
    /// Parses `action,first,last` rows (frame numbers 1-based in the clip's file order,
    /// inclusive; `action` is `neutral` or a challenge action such as `open_mouth`; a header
    /// row, blank lines and `#` comments are skipped) for a clip of `frames` frames. The first
    /// row of an action is its segment.
    ///
    /// # Errors
    /// The row that is not understood, and why.
    pub fn parse(text: &str, frames: usize) -> Result<Self, String> {
        let mut out = ClipSegments::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || (n == 0 && line.starts_with("action")) {
                continue;
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let [name, first, last] = fields.as_slice() else {
                return Err(format!("line {}: expected action,first,last", n + 1));
            };
            let number = |v: &str| {
                v.parse::<usize>()
                    .ok()
                    .filter(|k| (1..=frames).contains(k))
                    .ok_or_else(|| format!("line {}: {v:?} is not a frame number in 1..={frames}", n + 1))
            };
            let (first, last) = (number(first)?, number(last)?);
            if first > last {
                return Err(format!("line {}: the segment ends before it starts", n + 1));
            }
            let range: Vec<usize> = (first - 1..last).collect();
            if *name == "neutral" {
                if out.neutral.is_empty() {
                    out.neutral = range;
                }
                continue;
            }
            let action =
                LivenessAction::parse(name).ok_or_else(|| format!("line {}: unknown action {name:?}", n + 1))?;
            if !out.actions.iter().any(|(a, _)| *a == action) {
                out.actions.push((action, range));
            }
        }
        if out.neutral.is_empty() {
            return Err("no neutral segment".into());
        }
        Ok(out)
    }

    /// The frames answering `actions` within `max_frames`: clip indices with their tags, the
    /// neutral frames first, then each action's segment spread over its share. `None` when the
    /// clip lacks one of the actions.
    pub(super) fn response(
        &self,
        actions: &[LivenessAction],
        max_frames: usize,
    ) -> Option<Vec<(usize, Option<LivenessAction>)>> {
        let segments: Vec<&Vec<usize>> =
            actions.iter().map(|a| self.actions.iter().find(|(b, _)| b == a).map(|(_, r)| r)).collect::<Option<_>>()?;
        let neutral = crate::liveness::pick_evenly(self.neutral.len(), COMPOSED_NEUTRAL, None);
        let mut out: Vec<(usize, Option<LivenessAction>)> =
            neutral.into_iter().map(|i| (self.neutral[i], None)).collect();
        let share = (max_frames.saturating_sub(out.len()) / actions.len().max(1)).max(1);
        for (action, range) in actions.iter().zip(segments) {
            // One frame shows one action: frames an earlier segment took are left out (unless
            // nothing else is left).
            let free: Vec<usize> = range.iter().copied().filter(|k| !out.iter().any(|(j, _)| j == k)).collect();
            let range = if free.is_empty() { range.clone() } else { free };
            out.extend(
                crate::liveness::pick_evenly(range.len(), share, None).into_iter().map(|i| (range[i], Some(*action))),
            );
        }
        out.truncate(max_frames);
        Some(out)
    }
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
        Ok(Self { frames, segments: None })
    }

    /// The clip with where its person performs each action: it then answers any challenge
    /// whose actions it holds ([`ClipSegments`]).
    #[must_use]
    pub fn with_segments(mut self, segments: ClipSegments) -> Self {
        self.segments = Some(segments);
        self
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
            add_sensor_pattern(&mut image, seed, i as u64);
            let jpeg = encode_jpeg(&image, 88)?;
            frames.push(ObservedFrame {
                image: Arc::new(image),
                jpeg: Some(Arc::new(jpeg)),
                observation: f.observation,
                ..*f
            });
        }
        Ok(Self { frames, segments: self.segments.clone() })
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

/// Adds the faint deterministic pattern of [`PreparedClip::with_sensor_noise`] for `seed` and
/// frame `index` to `image`: ±1 in one channel of one pixel of each 8×8 block.
pub(super) fn add_sensor_pattern(image: &mut RgbImage, seed: u64, index: u64) {
    let (w, h) = image.dimensions();
    let mut state =
        seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index.wrapping_add(1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
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

#[cfg(test)]
mod tests {
    use super::*;
    use LivenessAction::{Blink, OpenMouth, TurnLeft};

    const LP_D12: &str = "action,first,last\nneutral,1,10\nturn_left,13,18\nblink,19,22\nopen_mouth,46,55\n";

    #[test]
    fn segments_answer_a_challenge_in_its_order_within_the_frame_limit() {
        let s = ClipSegments::parse(LP_D12, 73).expect("parse");
        let r = s.response(&[OpenMouth, TurnLeft, Blink], 16).expect("every action is there");
        assert_eq!(r.len(), 2 + 3 * 4);
        assert_eq!(r[..2], [(0, None), (9, None)]);
        let tags: Vec<Option<LivenessAction>> = r[2..].iter().map(|&(_, a)| a).collect();
        assert_eq!(tags, [[Some(OpenMouth); 4], [Some(TurnLeft); 4], [Some(Blink); 4]].concat());
        assert_eq!((r[2].0, r[5].0), (45, 54), "the segment's first and last frames");
        assert!(s.response(&[LivenessAction::TurnRight], 16).is_none(), "no such segment");
    }

    #[test]
    fn a_frame_answers_one_action_only() {
        let s = ClipSegments::parse("neutral,1,4\nturn_left,5,9\nblink,8,9", 9).expect("parse");
        let r = s.response(&[Blink, TurnLeft], 16).expect("both");
        assert_eq!(
            r,
            [
                (0, None),
                (3, None),
                (7, Some(Blink)),
                (8, Some(Blink)),
                (4, Some(TurnLeft)),
                (5, Some(TurnLeft)),
                (6, Some(TurnLeft))
            ]
        );
    }

    #[test]
    fn bad_segment_rows_are_refused_with_their_line() {
        for (text, needle) in [
            ("neutral,1,10\nblink,0,3", "line 2"),
            ("neutral,1,10\nblink,5,99", "not a frame number"),
            ("neutral,1,10\nwave,1,2", "unknown action"),
            ("neutral,5,1", "ends before"),
            ("blink,1,2", "no neutral"),
            ("neutral,1", "expected action,first,last"),
        ] {
            let e = ClipSegments::parse(text, 73).expect_err(text);
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }
}
