//! Light liveness: the server picks a random colour sequence, the companion's own screen
//! flashes it at the face, and the decision checks that the face — and only the face, in
//! step, with a plausible delay — reflects it. A pre-recorded video cannot contain a sequence
//! chosen after it was made; a screen or photo held up to the camera is flat and tints with
//! its surroundings.
//!
//! - [`sequence`] — the issued sequence (palette, holds, photosensitivity rules, nonce) and
//!   the companion's paint report.
//! - [`regions`] — the skin, surroundings and background regions of a frame.
//! - [`reflect`] — the decision (its regressions in `fit`).
//! - [`render`] — the physically modelled renderer the evaluation and tests use.

mod fit;
pub mod reflect;
pub mod regions;
pub mod render;
pub mod sequence;

pub use reflect::{
    LightConfig, LightDetail, LightFrame, LightHint, LightMeasurement, LightReason, LightRejection, MeasuredFrame,
    check_light, decide_light,
};
pub use regions::{RegionMeans, measure_regions};
pub use render::{RenderParams, Renderer, Scenario, SourceFrame, synthetic_face};
pub use sequence::{GenerateLight, LightColour, LightPresentation, LightSequence, LightStep};

#[cfg(test)]
mod tests;
