//! Decode-rate floors: the public QR corpus and the synthetic screen-photo set.

use realname_scan::{QrReader, ReaderConfig};

use crate::corpus::{Ours, evaluate, load_corpus, shared_dir, synthetic_cases, table};

/// Measured 2026-11-25 without a time budget: 124/132 (default reader), 2 below as the floor
/// so that an rqrr/rxing patch release moving one image does not fail CI, while any real
/// regression of the ladder does. See docs/benchmarks-scan.md.
const CORPUS_FLOOR: usize = 122;
/// The rqrr passes alone (build without the rxing fallback): measured 108/132 without budget.
const RQRR_ONLY_FLOOR: usize = 105;

#[test]
fn public_corpus_floor() -> anyhow::Result<()> {
    let cases = load_corpus(&shared_dir()?)?;
    assert_eq!(cases.len(), 132, "the development corpus has 132 images");
    // No time budget: the decode rate must not depend on how busy the machine is.
    let reader = QrReader::new(ReaderConfig { budget: None, ..Default::default() });
    let report = evaluate(&Ours(reader, "realname-scan"), &cases);
    eprintln!("{}", table(std::slice::from_ref(&report)));
    eprintln!("not decoded: {}", report.failures.join(" "));
    // A build without the `rxing` feature is held to the rqrr ladder's floor.
    let floor = if cfg!(feature = "rxing") { CORPUS_FLOOR } else { RQRR_ONLY_FLOOR };
    assert!(report.decoded >= floor, "decoded {}/{} < floor {floor}", report.decoded, report.total);
    let rqrr_only = QrReader::new(ReaderConfig { budget: None, rxing_fallback: false, ..Default::default() });
    let report = evaluate(&Ours(rqrr_only, "realname-scan, rqrr passes only"), &cases);
    eprintln!("{}", table(std::slice::from_ref(&report)));
    assert!(
        report.decoded >= RQRR_ONLY_FLOOR,
        "rqrr ladder decoded {}/{} < {RQRR_ONLY_FLOOR}",
        report.decoded,
        report.total
    );
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

#[test]
fn decoded_synthetic_payloads_are_realname_payloads() -> anyhow::Result<()> {
    use realname_protocol::qr::QrPayload;
    let reader = QrReader::default();
    for case in synthetic_cases(5)? {
        let parsed = QrPayload::parse(&case.expected)?;
        assert_eq!(parsed.to_string(), case.expected, "our test URLs are what the server prints");
        let rgb = case.rgb.as_ref().ok_or_else(|| anyhow::anyhow!("synthetic cases carry RGB"))?;
        let out = reader.read(rgb);
        let code = out.codes.first().ok_or_else(|| anyhow::anyhow!("case {} not read", case.name))?;
        assert_eq!(QrPayload::parse(&code.text())?, parsed);
    }
    Ok(())
}

#[test]
fn time_budget_cuts_the_ladder_on_a_busy_full_hd_frame() {
    // Full-HD sensor noise with blocky texture: nothing to read, lots for rqrr to chase.
    let (w, h) = (1920usize, 1080usize);
    let mut s = 0x1234_5678_u64;
    let pixels: Vec<u8> = (0..w * h)
        .map(|i| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let block = ((i % w) / 6 + (i / w) / 6) % 2 == 0;
            if block { (s >> 58) as u8 } else { 200 + (s >> 59) as u8 }
        })
        .collect();
    let luma = realname_scan::qr::Luma::new(w, h, pixels).expect("sizes match");
    let reader =
        QrReader::new(ReaderConfig { budget: Some(std::time::Duration::from_millis(40)), ..Default::default() });
    let out = reader.read_luma(&luma);
    let unlimited = QrReader::new(ReaderConfig { budget: None, ..Default::default() }).read_luma(&luma);
    eprintln!(
        "budget 40 ms: {} passes in {:?}; no budget: {} passes in {:?}",
        out.passes_run, out.elapsed, unlimited.passes_run, unlimited.elapsed
    );
    assert!(out.codes.is_empty());
    assert!(out.budget_exhausted && out.passes_run < unlimited.passes_run, "{out:?}");
    assert!(out.elapsed < unlimited.elapsed, "the budget saves time: {:?} vs {:?}", out.elapsed, unlimited.elapsed);
}
