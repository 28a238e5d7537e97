//! Decode-rate floors: the public QR corpus and the synthetic screen-photo set.

use realname_scan::{QrReader, ReaderConfig};

use crate::corpus::{Ours, evaluate, load_corpus, shared_dir, synthetic_cases, table};

/// Measured 2026-11-25 (see docs/benchmarks-scan.md); the floor leaves a little room for
/// timing-dependent passes under a loaded CI machine (the budget is disabled here anyway).
const CORPUS_FLOOR: usize = 100;

#[test]
fn public_corpus_floor() -> anyhow::Result<()> {
    let cases = load_corpus(&shared_dir()?)?;
    assert_eq!(cases.len(), 132, "the development corpus has 132 images");
    // No time budget: the decode rate must not depend on how busy the machine is.
    let reader = QrReader::new(ReaderConfig { budget: None, ..Default::default() });
    let report = evaluate(&Ours(reader, "realname-scan"), &cases);
    eprintln!("{}", table(std::slice::from_ref(&report)));
    eprintln!("not decoded: {}", report.failures.join(" "));
    assert!(report.decoded >= CORPUS_FLOOR, "decoded {}/{} < floor {CORPUS_FLOOR}", report.decoded, report.total);
    Ok(())
}

#[test]
fn synthetic_screen_photos_at_least_99_percent() -> anyhow::Result<()> {
    let cases = synthetic_cases(200)?;
    let reader = QrReader::new(ReaderConfig { budget: None, ..Default::default() });
    let report = evaluate(&Ours(reader, "realname-scan"), &cases);
    eprintln!("{}", table(std::slice::from_ref(&report)));
    eprintln!("not decoded: {}", report.failures.join(" "));
    assert!(report.decoded * 100 >= report.total * 99, "decoded {}/{} < 99 %", report.decoded, report.total);
    Ok(())
}
