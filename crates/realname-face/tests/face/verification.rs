//! Verification accuracy on the public pairs must reproduce the original's 99.56 % at 0.6 (±0.3 points).

use anyhow::Result;

use super::common::{engine, faces_dir};
use super::pairs::evaluate;

#[test]
fn pair_accuracy_at_0_6_reproduces_the_original() -> Result<()> {
    let r = evaluate(&faces_dir(), engine())?;
    assert_eq!(r.pairs.len(), 900, "pairs.csv has 900 labelled pairs");
    assert!(
        (r.reference_accuracy_at_default - 99.56).abs() < 0.01,
        "reference figure {}",
        r.reference_accuracy_at_default
    );
    eprintln!(
        "accuracy at 0.6: {:.2} % (original {:.2} %), best {:.2} % at {:.3}",
        r.accuracy_at_default, r.reference_accuracy_at_default, r.best_accuracy, r.best_threshold
    );
    assert!(
        (r.accuracy_at_default - r.reference_accuracy_at_default).abs() <= 0.3,
        "accuracy {:.2} % vs original {:.2} %",
        r.accuracy_at_default,
        r.reference_accuracy_at_default
    );
    // Distances agree pair by pair with the original's (JPEG decoders differ slightly).
    let worst =
        r.pairs.iter().map(|p| p.distance.map_or(f32::INFINITY, |d| (d - p.reference).abs())).fold(0f32, f32::max);
    assert!(worst < 0.3, "largest pair-distance deviation {worst}");
    Ok(())
}
