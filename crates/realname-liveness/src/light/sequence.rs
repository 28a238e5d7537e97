//! The light sequence the server issues with a challenge: random colours from a skin-separable,
//! photosensitivity-safe palette with random hold times, drawn from a CSPRNG and bound to the
//! challenge nonce; plus the companion's report of when each field was actually painted.

// Per-channel loops index several parallel [f32; 3] arrays at once; an index reads clearer.
#![allow(clippy::needless_range_loop)]

use rand::{CryptoRng, Rng, RngCore};
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
    /// Draws a new sequence for `nonce` from the operating system's CSPRNG.
    pub fn generate(nonce: &str) -> Self {
        Self::generate_with(nonce, &mut rand::rngs::OsRng)
    }

    /// Draws a new sequence from `rng` (a CSPRNG; tests pass a seeded one).
    ///
    /// Rejection sampling: whole sequences are drawn (step count, then each colour uniform
    /// among the palette minus the previous colour, each hold uniform in
    /// [`MIN_HOLD_MS`]..=[`MAX_HOLD_MS`]) until one meets [`LightSequence::violations`], so
    /// the result is uniform over the valid sequences. The fallback after 1 000 draws (never
    /// seen: about a third of the draws are valid) holds every step for [`MAX_HOLD_MS`],
    /// which puts at most three transitions into any second and is always valid.
    pub fn generate_with<R: RngCore + CryptoRng>(nonce: &str, rng: &mut R) -> Self {
        let mut last = None;
        for _ in 0..1_000 {
            let candidate = Self::draw(nonce, rng);
            if candidate.violations().is_empty() {
                return candidate;
            }
            last = Some(candidate);
        }
        let mut fallback = last.unwrap_or_else(|| Self::draw(nonce, rng));
        for s in &mut fallback.steps {
            s.hold_ms = MAX_HOLD_MS;
        }
        fallback
    }

    fn draw<R: RngCore + CryptoRng>(nonce: &str, rng: &mut R) -> Self {
        let n = rng.gen_range(MIN_STEPS..=MAX_STEPS);
        let mut steps: Vec<LightStep> = Vec::with_capacity(n);
        for _ in 0..n {
            let prev = steps.last().map(|s| s.colour);
            // Uniform among the 7 colours that differ from the previous one.
            let choices: Vec<LightColour> = LightColour::ALL.iter().copied().filter(|c| Some(*c) != prev).collect();
            let colour = choices[rng.gen_range(0..choices.len())];
            let hold_ms = rng.gen_range(MIN_HOLD_MS..=MAX_HOLD_MS);
            steps.push(LightStep { colour, hold_ms });
        }
        LightSequence {
            version: LIGHT_SEQUENCE_VERSION,
            nonce: nonce.to_string(),
            lead_in_ms: LEAD_IN_MS,
            steps,
            tail_ms: TAIL_MS,
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::collections::HashSet;

    fn seeded(seed: u64) -> StdRng {
        StdRng::seed_from_u64(seed)
    }

    #[test]
    fn palette_has_no_saturated_red_and_red_is_close_to_the_limit_only() {
        for c in LightColour::ALL {
            assert!(!is_saturated_red(c.rgb()), "{c:?}");
        }
        // The check itself works: pure red is saturated.
        assert!(is_saturated_red([255, 0, 0]));
        assert!(is_saturated_red([255, 60, 40]));
    }

    #[test]
    fn constraints_hold_for_every_generated_sequence() {
        let mut rng = seeded(1);
        for i in 0..20_000 {
            let s = LightSequence::generate_with(&format!("n{i}"), &mut rng);
            assert!(s.violations().is_empty(), "{:?}: {:?}", s.violations(), s);
            assert_eq!(s.nonce, format!("n{i}"));
            assert!(s.total_ms() <= MAX_TOTAL_MS);
        }
        // And the OS CSPRNG path.
        let s = LightSequence::generate("abc");
        assert!(s.violations().is_empty());
    }

    #[test]
    fn the_validity_check_catches_each_broken_rule() {
        let mut s = LightSequence::generate_with("n", &mut seeded(2));
        assert!(s.violations().is_empty());
        let good = s.clone();
        s.steps[1].colour = s.steps[0].colour;
        assert!(s.violations().contains(&"repeated colour"));
        let mut s = good.clone();
        s.steps[0].hold_ms = 100;
        assert!(s.violations().contains(&"hold time"));
        let mut s = good.clone();
        s.steps.truncate(3);
        assert!(s.violations().contains(&"step count"));
        // Alternating white/dim every 150 ms: 6+ transitions in a second.
        let mut s = good.clone();
        s.steps = (0..8)
            .map(|i| LightStep { colour: if i % 2 == 0 { LightColour::White } else { LightColour::Dim }, hold_ms: 150 })
            .collect();
        assert!(s.violations().contains(&"flash rate"));
        // Only white and yellow: blue is modulated, red and green never go low.
        let mut s = good;
        s.steps = (0..6)
            .map(|i| LightStep {
                colour: if i % 2 == 0 { LightColour::White } else { LightColour::Yellow },
                hold_ms: 300,
            })
            .collect();
        assert!(s.violations().contains(&"channel not modulated"));
    }

    /// The fallback is valid by construction (every hold at the maximum).
    #[test]
    fn max_holds_never_exceed_the_flash_rate() {
        let mut rng = seeded(3);
        for _ in 0..2_000 {
            let mut s = LightSequence::draw("n", &mut rng);
            for st in &mut s.steps {
                st.hold_ms = MAX_HOLD_MS;
            }
            assert!(!s.violations().contains(&"flash rate"));
        }
    }

    /// Share of the most frequent value: the chance of the attacker's best single guess.
    fn guess_probability(counts: &[usize]) -> f64 {
        let n: usize = counts.iter().sum();
        counts.iter().copied().max().unwrap_or(0) as f64 / n.max(1) as f64
    }

    /// Unpredictable: the best guess of the first colour, of a hold time (10 ms bins), of the
    /// step count and of the next colour given the previous one is right hardly more often
    /// than a uniform draw would allow (the flash-rate rule rejects some sequences, so the
    /// valid ones are not exactly uniform: long holds and mid-luminance colours are a little
    /// more frequent). A generator with a fixed or strongly biased choice fails this.
    #[test]
    fn sequences_are_statistically_unpredictable() {
        let mut rng = seeded(4);
        let n = 30_000;
        let idx = |c: LightColour| LightColour::ALL.iter().position(|x| *x == c).unwrap_or(0);
        let mut first = [0usize; 8];
        let mut holds = [0usize; 20]; // 10 ms bins over 150..350
        let mut pair = [[0usize; 8]; 8];
        let mut lengths = [0usize; 5];
        for i in 0..n {
            let s = LightSequence::generate_with(&i.to_string(), &mut rng);
            first[idx(s.steps[0].colour)] += 1;
            lengths[s.steps.len() - MIN_STEPS] += 1;
            for st in s.steps.iter().filter(|st| st.hold_ms < MAX_HOLD_MS) {
                holds[((st.hold_ms - MIN_HOLD_MS) / 10) as usize] += 1;
            }
            for w in s.steps.windows(2) {
                pair[idx(w[0].colour)][idx(w[1].colour)] += 1;
            }
        }
        assert!(guess_probability(&first) < 1.4 / 8.0, "first colour {first:?}");
        assert!(guess_probability(&holds) < 1.4 / 20.0, "holds {holds:?}");
        assert!(guess_probability(&lengths) < 1.6 / 5.0, "lengths {lengths:?}");
        assert!(lengths.iter().all(|&c| c * 20 > n), "every length occurs: {lengths:?}");
        for (a, row) in pair.iter().enumerate() {
            assert_eq!(row[a], 0, "a colour never follows itself");
            assert!(guess_probability(row) < 1.4 / 7.0, "next colour after {a}: {row:?}");
        }
        // Distinct holds seen: all 201 values occur.
        let mut seen = HashSet::new();
        for _ in 0..5_000 {
            for st in LightSequence::generate_with("n", &mut rng).steps {
                seen.insert(st.hold_ms);
            }
        }
        assert_eq!(seen.len(), (MAX_HOLD_MS - MIN_HOLD_MS + 1) as usize);
    }

    /// Never reused: 200 000 sequences, no two with the same colours and holds. (The
    /// colour and hold choices carry ≥ 6 × log2(7 × 201) ≈ 64 bits before the rules
    /// reject some, so a repeat within this many draws would mean a broken generator.)
    #[test]
    fn sequences_are_not_reused() {
        let mut rng = seeded(5);
        let mut seen = HashSet::new();
        for i in 0..200_000 {
            let s = LightSequence::generate_with("n", &mut rng);
            assert!(seen.insert(s.signature()), "repeat at draw {i}");
        }
        // Two draws from the OS generator differ too.
        assert_ne!(LightSequence::generate("a").signature(), LightSequence::generate("a").signature());
    }

    #[test]
    fn sequence_round_trips_as_json() {
        let s = LightSequence::generate_with("nonce-1", &mut seeded(6));
        let json = serde_json::to_string(&s).expect("serialise");
        assert!(json.contains("\"nonce\":\"nonce-1\""));
        assert_eq!(serde_json::from_str::<LightSequence>(&json).expect("parse"), s);
        let p = LightPresentation { nonce: "nonce-1".into(), shown_at_ms: vec![1, 2], ended_at_ms: 3 };
        let json = serde_json::to_string(&p).expect("serialise");
        assert_eq!(serde_json::from_str::<LightPresentation>(&json).expect("parse"), p);
    }
}
