//! Drawing a challenge's actions: what the server issues, and what the recorded captures of the
//! decision's measurements answer (the same draw, seeded).

use rand::Rng;
use rand::seq::SliceRandom;
use realname_protocol::api::LivenessAction;

/// Draws a challenge: `min..=max` distinct actions (clamped to 1..=3) from blink, turn left,
/// turn right and open mouth, in random order, never both turns.
pub fn random_actions(min: usize, max: usize, rng: &mut impl Rng) -> Vec<LivenessAction> {
    let max = max.clamp(1, 3);
    let n = rng.gen_range(min.clamp(1, max)..=max);
    let mut pool =
        vec![LivenessAction::Blink, LivenessAction::TurnLeft, LivenessAction::TurnRight, LivenessAction::OpenMouth];
    pool.shuffle(rng);
    let mut chosen: Vec<LivenessAction> = Vec::with_capacity(n);
    for a in pool {
        let is_turn = matches!(a, LivenessAction::TurnLeft | LivenessAction::TurnRight);
        let has_turn = chosen.iter().any(|c| matches!(c, LivenessAction::TurnLeft | LivenessAction::TurnRight));
        if chosen.len() < n && !(is_turn && has_turn) {
            chosen.push(a);
        }
    }
    chosen
}
