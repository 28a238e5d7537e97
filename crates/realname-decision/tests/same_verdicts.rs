//! The tracked analysis (detect once, follow the face) decides recorded captures as today's
//! exhaustive one does: the same outcome and reason code, on genuine captures and attacks,
//! among them the desktop end-to-end test's wrong person (`lp_d18` presented for `lp_d5`,
//! `face_mismatch`), whose open mouth the first tracked analysis lost (`action_not_seen`),
//! and uploads with a rendered light step (genuine responses and two attacks).
//! Needs the face models (`REALNAME_MODELS_DIR`) and `shared/data/liveness`.

#[path = "../../realname-liveness/examples/evaluate/harness.rs"]
mod harness;
#[allow(dead_code)]
mod support {
    pub(crate) mod captures;
}

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use realname_decision::profile::Stage;
use realname_decision::{AnalysisMode, EngineAnalyzer};
use support::captures;

#[test]
fn tracked_and_exhaustive_analyses_give_the_same_verdicts() -> anyhow::Result<()> {
    let analyzer = EngineAnalyzer::load(&harness::models_dir())?;
    let data = harness::shared_dir().join("data/liveness");
    // Genuine two-action captures of 8 clips, a person swap, a repeated still, a screen
    // replay, the desktop's wrong person.
    let mut all = captures::recorded(&data, 8)?;
    // And every labelled event as a single-action capture (the genuine cases of
    // `cargo xtask accuracy liveness`).
    all.extend(captures::single_actions(&data)?);
    // And uploads with a rendered light step (genuine responses of two clips, two attacks).
    let light = captures::with_light(&analyzer, &data, &all, 2)?;
    all.extend(light);
    let kinds: Vec<&str> = all.iter().map(|c| c.kind).collect();
    assert!(kinds.contains(&"genuine") && kinds.contains(&"wrong_person"), "{kinds:?}");
    assert!(kinds.iter().filter(|k| **k == "genuine").count() >= 3, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "genuine_light").count(), 2, "{kinds:?}");
    // Every decision is a job (capture, mode, re-sent or not); two threads take them in turn
    // (the machine has 2 cores), so the test's wall time is about half its CPU time.
    // A genuine upload re-sent without its first frame under a new nonce: the followed frames
    // analyse differently behind another first frame (lp_d18's re-sent upload passed in
    // tracked mode before `UploadAnalyzer::replay_store`).
    let resent: Vec<usize> =
        (0..all.len()).filter(|&i| all[i].kind == "genuine" && all[i].name.starts_with("lp_d18")).collect();
    assert_eq!(resent.len(), 1);
    let modes = [AnalysisMode::Exhaustive, AnalysisMode::Tracked];
    let jobs: Vec<(usize, usize, bool)> = (0..all.len())
        .map(|i| (i, false))
        .chain(resent.iter().map(|&i| (i, true)))
        .flat_map(|(i, again)| (0..2).map(move |m| (i, m, again)))
        .collect();
    let next = AtomicUsize::new(0);
    let results = Mutex::new(vec![None; jobs.len()]);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(i, m, again)) = jobs.get(k) else { break };
                    let decided = if again {
                        captures::decide_resent(&analyzer, modes[m], &all[i])
                    } else {
                        captures::decide_capture(&analyzer, modes[m], &all[i])
                    };
                    let row = decided.map(|d| (captures::outcome(&d.verdict), d.stages.calls_of(Stage::Detect)));
                    if let Ok(mut r) = results.lock() {
                        r[k] = Some(row.map_err(|e| e.to_string()));
                    }
                }
            });
        }
    });
    let results = results.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut detections = [0u32; 2];
    let mut differ = Vec::new();
    let mut table = String::new();
    for (pair, jobs) in results.chunks(2).zip(jobs.chunks(2)) {
        let [Some(old), Some(new)] = pair else { anyhow::bail!("a job did not run") };
        let ((old_o, old_ssd), (new_o, new_ssd)) =
            (old.clone().map_err(anyhow::Error::msg)?, new.clone().map_err(anyhow::Error::msg)?);
        let (i, _, again) = jobs[0];
        let c = &all[i];
        let what = if again { "re-sent".to_owned() } else { format!("{:>2} frames", c.frames.len()) };
        table += &format!("\n{:<15} {:<34} {what:<9}  exhaustive {old_o:<18} tracked {new_o}", c.kind, c.name);
        if old_o != new_o {
            differ.push(format!("{} {} {what}: exhaustive {old_o}, tracked {new_o}", c.kind, c.name));
        }
        if !again {
            detections[0] += old_ssd;
            detections[1] += new_ssd;
        }
    }
    assert!(differ.is_empty(), "different verdicts: {differ:#?}{table}");
    // The tracked path really skips the detector on most frames.
    assert!(detections[1] * 2 < detections[0], "SSD runs: exhaustive {}, tracked {}", detections[0], detections[1]);
    Ok(())
}
