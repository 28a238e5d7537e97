//! Drawing the light sequence the server issues with a challenge: random colours from the
//! skin-separable, photosensitivity-safe palette with random hold times, from a CSPRNG, bound to
//! the challenge nonce. The wire types (and the rules every sequence meets) are
//! `realname_protocol::light`, re-exported here.

use rand::{CryptoRng, Rng, RngCore};

pub use realname_protocol::light::*;

/// Drawing a [`LightSequence`] (an extension trait: the type lives in the protocol crate).
pub trait GenerateLight: Sized {
    /// Draws a new sequence for `nonce` from the operating system's CSPRNG.
    fn generate(nonce: &str) -> Self;
    /// Draws a new sequence from `rng` (a CSPRNG; tests pass a seeded one).
    fn generate_with<R: RngCore + CryptoRng>(nonce: &str, rng: &mut R) -> Self;
}

impl GenerateLight for LightSequence {
    /// Draws a new sequence for `nonce` from the operating system's CSPRNG.
    fn generate(nonce: &str) -> Self {
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
    fn generate_with<R: RngCore + CryptoRng>(nonce: &str, rng: &mut R) -> Self {
        let mut last = None;
        for _ in 0..1_000 {
            let candidate = draw(nonce, rng);
            if candidate.violations().is_empty() {
                return candidate;
            }
            last = Some(candidate);
        }
        let mut fallback = last.unwrap_or_else(|| draw(nonce, rng));
        for s in &mut fallback.steps {
            s.hold_ms = MAX_HOLD_MS;
        }
        fallback
    }
}

fn draw<R: RngCore + CryptoRng>(nonce: &str, rng: &mut R) -> LightSequence {
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
            let mut s = draw("n", &mut rng);
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
