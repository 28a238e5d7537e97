//! The light step of a liveness challenge on the wire: the colour sequence the server issues
//! (palette, holds, the photosensitivity rules every sequence meets) and the companion's
//! report of when each field was actually painted. Drawing a sequence (CSPRNG) and checking
//! its reflection live in `realname-liveness`.

// Per-channel loops index several parallel [f32; 3] arrays at once; an index reads clearer.
#![allow(clippy::needless_range_loop)]

use serde::{Deserialize, Serialize};

/// Wire version of [`LightSequence`] (bumped when the meaning of a field changes).
pub const LIGHT_SEQUENCE_VERSION: u8 = 1;
/// Fewest colour steps in a sequence.
pub const MIN_STEPS: usize = 6;
/// Most colour steps in a sequence.
pub const MAX_STEPS: usize = 10;
/// Shortest hold of one colour, ms.
pub const MIN_HOLD_MS: u32 = 150;
/// Longest hold of one colour, ms.
pub const MAX_HOLD_MS: u32 = 350;
/// The neutral grey field shown before the first step, so the camera's auto-exposure settles
/// on the full-screen field before anything is measured, ms.
pub const LEAD_IN_MS: u32 = 600;
/// The neutral grey field after the last step: the camera sees the last colour up to the
/// latency window after it was shown, ms.
pub const TAIL_MS: u32 = 400;
/// Upper bound of the whole light step (lead-in + steps + tail), ms: the "≤ 6 s".
pub const MAX_TOTAL_MS: u32 = 6_000;
/// The lead-in and tail colour (mid grey).
pub const NEUTRAL_GREY: [u8; 3] = [128, 128, 128];

/// A relative-luminance change at least this large is a "transition" (WCAG 2.x general flash:
/// a change of 10 % of the maximum relative luminance …).
pub const FLASH_LUMINANCE_DELTA: f32 = 0.10;
/// … where the darker of the two fields is below this relative luminance.
pub const FLASH_DARKER_BELOW: f32 = 0.80;
/// Most luminance transitions in any one-second window. WCAG 2.3.1 allows three flashes (a
/// flash is a pair of opposing transitions, so six transitions); five leaves at most two whole
/// flashes per second, one transition of margin for a late paint.
pub const MAX_TRANSITIONS_PER_SECOND: usize = 5;
/// WCAG's "saturated red": linear R / (R + G + B) ≥ 0.8. No palette colour reaches this
/// limit (the palette's red is a coral), so the sequence has no red flash at all.
pub const SATURATED_RED_RATIO: f32 = 0.8;

/// One palette colour. The palette spans the corners of the RGB cube (each camera channel is
/// driven on and off independently, so the three reflected channels carry separate signals
/// even on skin, which reflects little blue); black is a dim grey and red is a coral so
/// that no field is a saturated red.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LightColour {
    /// Full white.
    White,
    /// Dim grey, the "off" field.
    Dim,
    /// Coral red (not a saturated red).
    Red,
    /// Green.
    Green,
    /// Blue.
    Blue,
    /// Yellow (red + green).
    Yellow,
    /// Magenta (red + blue).
    Magenta,
    /// Cyan (green + blue).
    Cyan,
}

impl LightColour {
    /// Every palette colour.
    pub const ALL: [LightColour; 8] = [
        LightColour::White,
        LightColour::Dim,
        LightColour::Red,
        LightColour::Green,
        LightColour::Blue,
        LightColour::Yellow,
        LightColour::Magenta,
        LightColour::Cyan,
    ];

    /// The sRGB value the companion paints.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            LightColour::White => [255, 255, 255],
            LightColour::Dim => [40, 40, 40],
            LightColour::Red => [255, 128, 112],
            LightColour::Green => [64, 255, 64],
            LightColour::Blue => [64, 96, 255],
            LightColour::Yellow => [255, 255, 64],
            LightColour::Magenta => [255, 64, 255],
            LightColour::Cyan => [64, 255, 255],
        }
    }
}

/// sRGB 8-bit value → linear light, 0..=1 (IEC 61966-2-1).
pub fn srgb_to_linear(v: u8) -> f32 {
    let c = f32::from(v) / 255.0;
    if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
}

/// Linear RGB of an sRGB colour.
pub fn linear_rgb(rgb: [u8; 3]) -> [f32; 3] {
    rgb.map(srgb_to_linear)
}

/// WCAG relative luminance of an sRGB colour.
pub fn relative_luminance(rgb: [u8; 3]) -> f32 {
    let [r, g, b] = linear_rgb(rgb);
    0.2126 * r + 0.7152 * g + 0.0722 * b
}

/// WCAG's saturated-red test (linear R / (R + G + B) ≥ 0.8).
pub fn is_saturated_red(rgb: [u8; 3]) -> bool {
    let [r, g, b] = linear_rgb(rgb);
    r + g + b > 0.0 && r / (r + g + b) >= SATURATED_RED_RATIO
}

/// One step of the sequence: a full-screen colour held for a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LightStep {
    /// The colour (its sRGB value is [`LightColour::rgb`]).
    pub colour: LightColour,
    /// How long the companion holds it, ms.
    pub hold_ms: u32,
}

/// The light part of a challenge: what the companion shows, in order. Bound to the
/// challenge's nonce; the server stores it with the challenge and decides against it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LightSequence {
    /// [`LIGHT_SEQUENCE_VERSION`].
    pub version: u8,
    /// The challenge nonce this sequence belongs to.
    pub nonce: String,
    /// Neutral grey lead-in, ms ([`LEAD_IN_MS`]).
    pub lead_in_ms: u32,
    /// The random steps.
    pub steps: Vec<LightStep>,
    /// Neutral grey tail, ms ([`TAIL_MS`]).
    pub tail_ms: u32,
}

/// When the companion actually painted each field of the sequence (device clock, the same
/// clock as the frames' capture timestamps), measured after the webview presented it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LightPresentation {
    /// The nonce of the sequence shown.
    pub nonce: String,
    /// Paint time of each field, ms since the Unix epoch: index 0 the lead-in, 1..=n the
    /// steps, n + 1 the tail.
    pub shown_at_ms: Vec<i64>,
    /// When the tail was replaced by the app's own screen, ms since the Unix epoch.
    pub ended_at_ms: i64,
}

impl LightSequence {
    /// Lead-in + steps + tail, ms.
    pub fn total_ms(&self) -> u32 {
        self.lead_in_ms + self.steps.iter().map(|s| s.hold_ms).sum::<u32>() + self.tail_ms
    }

    /// Every field in display order with its sRGB value and nominal duration: the lead-in,
    /// the steps, the tail.
    pub fn fields(&self) -> Vec<([u8; 3], u32)> {
        let mut out = Vec::with_capacity(self.steps.len() + 2);
        out.push((NEUTRAL_GREY, self.lead_in_ms));
        out.extend(self.steps.iter().map(|s| (s.colour.rgb(), s.hold_ms)));
        out.push((NEUTRAL_GREY, self.tail_ms));
        out
    }

    /// A canonical text of the colours and holds (without the nonce): the server can keep it
    /// in a unique column to refuse a sequence ever issued twice.
    pub fn signature(&self) -> String {
        let mut s = format!("v{}:", self.version);
        for step in &self.steps {
            let [r, g, b] = step.colour.rgb();
            s.push_str(&format!("{r:02x}{g:02x}{b:02x}/{};", step.hold_ms));
        }
        s
    }

    /// Start times (ms from the lead-in's start) of the transitions whose luminance change is
    /// a WCAG flash half (see [`FLASH_LUMINANCE_DELTA`]), including lead-in → first step
    /// and last step → tail.
    pub fn luminance_transitions(&self) -> Vec<u32> {
        let fields = self.fields();
        let mut t = 0;
        let mut out = Vec::new();
        for pair in fields.windows(2) {
            t += pair[0].1;
            let (a, b) = (relative_luminance(pair[0].0), relative_luminance(pair[1].0));
            if (a - b).abs() >= FLASH_LUMINANCE_DELTA && a.min(b) < FLASH_DARKER_BELOW {
                out.push(t);
            }
        }
        out
    }

    /// The rules this sequence breaks (empty = valid): step count, hold range, no repeated
    /// colour, no saturated red, at most [`MAX_TRANSITIONS_PER_SECOND`] luminance
    /// transitions in any second, total ≤ [`MAX_TOTAL_MS`], and every camera channel driven
    /// both high (linear ≥ 0.5) and low (≤ 0.25) by some step (each channel has a signal).
    pub fn violations(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.version != LIGHT_SEQUENCE_VERSION {
            v.push("version");
        }
        if !(MIN_STEPS..=MAX_STEPS).contains(&self.steps.len()) {
            v.push("step count");
        }
        if self.steps.iter().any(|s| !(MIN_HOLD_MS..=MAX_HOLD_MS).contains(&s.hold_ms)) {
            v.push("hold time");
        }
        if self.steps.windows(2).any(|w| w[0].colour == w[1].colour) {
            v.push("repeated colour");
        }
        if self.steps.iter().any(|s| is_saturated_red(s.colour.rgb())) {
            v.push("saturated red");
        }
        if self.total_ms() > MAX_TOTAL_MS {
            v.push("too long");
        }
        let tr = self.luminance_transitions();
        for (i, &start) in tr.iter().enumerate() {
            // Transitions inside [start, start + 1000): the densest windows start at one.
            let n = tr[i..].iter().take_while(|&&t| t < start + 1_000).count();
            if n > MAX_TRANSITIONS_PER_SECOND {
                v.push("flash rate");
                break;
            }
        }
        for c in 0..3 {
            let lin: Vec<f32> = self.steps.iter().map(|s| linear_rgb(s.colour.rgb())[c]).collect();
            let high = lin.iter().any(|&x| x >= 0.5);
            let low = lin.iter().any(|&x| x <= 0.25);
            if !(high && low) {
                v.push("channel not modulated");
                break;
            }
        }
        v
    }
}
