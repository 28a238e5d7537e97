//! The tracked analysis (detect once, follow the face) decides recorded captures as today's
//! exhaustive one does: the same outcome and reason code, on genuine captures and attacks.
//! Needs the face models (`REALNAME_MODELS_DIR`) and `shared/data/liveness`.

#[path = "../../realname-liveness/examples/evaluate/harness.rs"]
mod harness;
#[allow(dead_code)]
mod support {
    pub mod captures;
}

use realname_decision::profile::Stage;
use realname_decision::{AnalysisMode, EngineAnalyzer};
use support::captures;

#[test]
fn tracked_and_exhaustive_analyses_give_the_same_verdicts() -> anyhow::Result<()> {
    let analyzer = EngineAnalyzer::load(&harness::models_dir())?;
    let data = harness::shared_dir().join("data/liveness");
    // The shorter captures (≤ 16 frames) keep the test to seconds: two genuine ones, a
    // repeated still, a screen replay.
    let all: Vec<_> = captures::recorded(&data, 8)?.into_iter().filter(|c| c.frames.len() <= 16).collect();
    let kinds: Vec<&str> = all.iter().map(|c| c.kind).collect();
    assert!(kinds.contains(&"genuine") && kinds.iter().any(|k| *k != "genuine"), "{kinds:?}");
    let mut detections = [0u32; 2];
    for c in &all {
        let old = captures::decide_capture(&analyzer, AnalysisMode::Exhaustive, c, None)?;
        let new = captures::decide_capture(&analyzer, AnalysisMode::Tracked, c, None)?;
        assert_eq!(captures::outcome(&new.verdict), captures::outcome(&old.verdict), "{} {}", c.kind, c.name);
        detections[0] += old.stages.calls_of(Stage::Detect);
        detections[1] += new.stages.calls_of(Stage::Detect);
    }
    // The tracked path really skips the detector on most frames.
    assert!(detections[1] * 2 < detections[0], "SSD runs: exhaustive {}, tracked {}", detections[0], detections[1]);
    Ok(())
}
