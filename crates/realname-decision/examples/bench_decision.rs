//! `cargo xtask bench decision`: today's exhaustive analysis (SSD and every net on every
//! frame) and the tracked one (detect once, follow the face) on the same recorded captures in
//! one run, CPU time per decision and per stage on this thread (run it with
//! `RAYON_NUM_THREADS=1`: one core, and all of a decision's work on the measured thread), the
//! ratio, and both verdicts side by side. Captures: `tests/support/captures.rs`.
#![allow(clippy::print_stdout)]

#[allow(dead_code)]
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

/// The machine's load average (`/proc/loadavg`, 1/5/15 min), to judge the figures by.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn main() -> anyhow::Result<()> {
    // RUST_LOG=realname_decision=debug names why each followed frame went back to the detector.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    }
    let load_before = load_average();
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    let analyzer = EngineAnalyzer::load(&harness::models_dir())?;
    let data = harness::shared_dir().join("data/liveness");
    // BENCH_SECTIONS=recorded,random,light,singles picks sections (default: all).
    let sections = std::env::var("BENCH_SECTIONS").unwrap_or_else(|_| "recorded,random,light,singles".into());
    let wanted = |name: &str| sections.split(',').any(|s| s.trim() == name);
    let recorded = captures::recorded(&data, 8)?;
    if wanted("recorded") {
        section("Decisions", &analyzer, &recorded, rounds)?;
    }
    if wanted("random") {
        // Random challenges as the server draws them (2–3 actions), answered from lp_d12.
        let random = captures::random_challenges(&data, 12, 16)?;
        section("Random 2–3 action challenges (lp_d12)", &analyzer, &random, rounds)?;
    }
    if wanted("light") {
        // Uploads with a rendered light step (the light check on).
        let light = captures::with_light(&analyzer, &data, &recorded, 3)?;
        section("Uploads with a light step (rendered)", &analyzer, &light, 1)?;
    }
    if !wanted("singles") {
        return Ok(());
    }
    // Every labelled event as a single-action capture, one round each.
    let singles = captures::single_actions(&data)?;
    let (mut same_one, mut passed, mut ssd) = (0, [0usize; 2], 0u32);
    let mut sums = [0f64; 2];
    let mut tracked_ms: Vec<f64> = Vec::new();
    for c in &singles {
        let old = captures::decide_capture(&analyzer, AnalysisMode::Exhaustive, c)?;
        let new = captures::decide_capture(&analyzer, AnalysisMode::Tracked, c)?;
        same_one += usize::from(captures::outcome(&old.verdict) == captures::outcome(&new.verdict));
        for (k, d) in [&old, &new].into_iter().enumerate() {
            passed[k] += usize::from(d.verdict.reason().is_none());
            sums[k] += ms(d.stages.total());
        }
        ssd += new.stages.calls_of(Stage::Detect);
        tracked_ms.push(ms(new.stages.total()));
    }
    tracked_ms.sort_by(f64::total_cmp);
    let k = singles.len().max(1) as f64;
    println!(
        "\n## Single-action genuine captures ({} labelled events, 1 round)\n\nexhaustive {:.0} ms, tracked {:.0} ms \
         per decision ({:.2}×); tracked median {:.0}, max {:.0} ms; SSD runs {:.2} per capture; passed {} / {}; \
         same outcome and reason code: {same_one} of {}.",
        singles.len(),
        sums[0] / k,
        sums[1] / k,
        sums[0] / sums[1].max(1e-9),
        tracked_ms.get(tracked_ms.len() / 2).copied().unwrap_or_default(),
        tracked_ms.last().copied().unwrap_or_default(),
        f64::from(ssd) / k,
        passed[0],
        passed[1],
        singles.len(),
    );
    println!(
        "One thread (RAYON_NUM_THREADS={}), per-thread CPU time. Load average {load_before} before, {} after \
         ({} cores).",
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset".into()),
        load_average(),
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    Ok(())
}

/// Decides `captures` in both modes (`rounds` rounds, the best per capture and mode) and
/// prints a row per capture and the CPU time per stage.
fn section(
    title: &str,
    analyzer: &EngineAnalyzer,
    captures: &[captures::RecordedCapture],
    rounds: usize,
) -> anyhow::Result<()> {
    let modes = [AnalysisMode::Exhaustive, AnalysisMode::Tracked];
    let mut totals = [StageTimes::default(); 2];
    let mut per_capture: Vec<[Duration; 2]> = Vec::new();
    let mut same = 0;
    println!("## {title} ({} captures, {rounds} rounds, best round per capture)\n", captures.len());
    println!("| kind | capture | frames | exhaustive | ms CPU | tracked | ms CPU | SSD runs | same |");
    println!("|---|---|---:|---|---:|---|---:|---:|---|");
    for c in captures {
        tracing::debug!(capture = %c.name, "capture");
        let mut best: [Option<captures::Decided>; 2] = [None, None];
        for _ in 0..rounds {
            for (m, mode) in modes.iter().enumerate() {
                let d = captures::decide_capture(analyzer, *mode, c)?;
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
        "\n### CPU time per decision by stage (mean over {} captures, {:.1} frames each)\n",
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
        "\nTracked path: median {:.0} ms, max {:.0} ms CPU per decision. Same outcome and reason code: {same} of {}.\n",
        worst.get(worst.len() / 2).copied().unwrap_or_default(),
        worst.last().copied().unwrap_or_default(),
        captures.len()
    );
    Ok(())
}
