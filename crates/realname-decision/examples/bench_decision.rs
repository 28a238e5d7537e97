//! `cargo xtask bench decision`: today's exhaustive analysis (SSD and every net on every
//! frame) and the tracked one (detect once, follow the face) on the same recorded captures in
//! one run, CPU time per decision and per stage on this thread (run it with
//! `RAYON_NUM_THREADS=1`: one core, and all of a decision's work on the measured thread), the
//! ratio, and both verdicts side by side. Captures: `tests/support/captures.rs`.
#![allow(clippy::print_stdout)]

#[path = "../tests/support/captures.rs"]
mod captures;
#[path = "../../realname-liveness/examples/evaluate/harness.rs"]
mod harness;

use std::time::Duration;

use realname_decision::profile::{Stage, StageTimes};
use realname_decision::{AnalysisMode, EngineAnalyzer};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    let analyzer = EngineAnalyzer::load(&harness::models_dir())?;
    let data = harness::shared_dir().join("data/liveness");
    let captures = captures::recorded(&data, 8)?;
    let modes = [AnalysisMode::Exhaustive, AnalysisMode::Tracked];
    let mut totals = [StageTimes::default(); 2];
    let mut per_capture: Vec<[Duration; 2]> = Vec::new();
    let mut same = 0;
    println!("## Decisions ({} captures, {rounds} rounds, best round per capture)\n", captures.len());
    println!("| kind | capture | frames | exhaustive | ms CPU | tracked | ms CPU | SSD runs | same |");
    println!("|---|---|---:|---|---:|---|---:|---:|---|");
    for c in &captures {
        let mut best: [Option<captures::Decided>; 2] = [None, None];
        for _ in 0..rounds {
            for (m, mode) in modes.iter().enumerate() {
                let d = captures::decide_capture(&analyzer, *mode, c, None)?;
                if best[m].as_ref().is_none_or(|b| d.stages.total() < b.stages.total()) {
                    best[m] = Some(d);
                }
            }
        }
        let [Some(old), Some(new)] = best else { anyhow::bail!("no rounds") };
        let agree = captures::outcome(&old.verdict) == captures::outcome(&new.verdict);
        same += usize::from(agree);
        println!(
            "| {} | {} | {} | {} | {:.0} | {} | {:.0} | {} / {} | {} |",
            c.kind,
            c.name,
            c.frames.len(),
            captures::outcome(&old.verdict),
            ms(old.stages.total()),
            captures::outcome(&new.verdict),
            ms(new.stages.total()),
            new.stages.calls_of(Stage::Detect),
            old.stages.calls_of(Stage::Detect),
            if agree { "yes" } else { "**no**" },
        );
        totals[0].add(&old.stages);
        totals[1].add(&new.stages);
        per_capture.push([old.stages.total(), new.stages.total()]);
    }
    let n = captures.len().max(1) as f64;
    let frames: usize = captures.iter().map(|c| c.frames.len()).sum();
    println!(
        "\n## CPU time per decision by stage (mean over {} captures, {:.1} frames each)\n",
        captures.len(),
        frames as f64 / n
    );
    println!("| stage | exhaustive ms | calls | tracked ms | calls | ratio |");
    println!("|---|---:|---:|---:|---:|---:|");
    for stage in Stage::ALL {
        let (a, b) = (ms(totals[0].of(stage)) / n, ms(totals[1].of(stage)) / n);
        println!(
            "| {} | {a:.1} | {:.1} | {b:.1} | {:.1} | {} |",
            stage.name(),
            f64::from(totals[0].calls_of(stage)) / n,
            f64::from(totals[1].calls_of(stage)) / n,
            if b > 0.0 { format!("{:.1}×", a / b) } else { "—".into() },
        );
    }
    let (a, b) = (ms(totals[0].total()) / n, ms(totals[1].total()) / n);
    println!("| **decision** | **{a:.1}** | | **{b:.1}** | | **{:.2}×** |", a / b.max(1e-9));
    let mut worst: Vec<f64> = per_capture.iter().map(|p| ms(p[1])).collect();
    worst.sort_by(f64::total_cmp);
    println!(
        "\nTracked path: median {:.0} ms, max {:.0} ms CPU per decision. Same outcome and reason code: {same} of {}.",
        worst.get(worst.len() / 2).copied().unwrap_or_default(),
        worst.last().copied().unwrap_or_default(),
        captures.len()
    );
    println!(
        "One thread (RAYON_NUM_THREADS={}), per-thread CPU time.",
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset".into())
    );
    Ok(())
}
