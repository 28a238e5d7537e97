//! Property tests: the reader and the spec parser never panic, whatever they are given.

use proptest::prelude::*;
use realname_scan::qr::Luma;
use realname_scan::{QrReader, ReaderConfig, SourceSpec};

fn reader() -> QrReader {
    QrReader::new(ReaderConfig { budget: None, ..Default::default() })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn reader_survives_random_luma(w in 0usize..96, h in 0usize..96, seed in any::<u64>(), blocky in any::<bool>()) {
        let mut s = seed;
        let pixels: Vec<u8> = (0..w * h).map(|i| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            // Blocky content makes finder-pattern-like runs, which reach rqrr's deeper code.
            let v = (s >> 56) as u8;
            if blocky { if ((i % w.max(1)) / 3 + (i / w.max(1)) / 3 + (v as usize & 1)).is_multiple_of(2) { 0 } else { 255 } } else { v }
        }).collect();
        if let Some(luma) = Luma::new(w, h, pixels) {
            let out = reader().read_luma(&luma);
            prop_assert!(out.codes.len() <= 16);
        }
    }

    #[test]
    fn reader_survives_inconsistent_sizes(w in 0usize..5000, h in 0usize..5000, len in 0usize..4096) {
        let luma = Luma { width: w, height: h, pixels: vec![128; len] };
        prop_assert!(reader().read_luma(&luma).codes.is_empty());
    }

    #[test]
    fn spec_parser_never_panics(s in "\\PC{0,80}") {
        let _ = SourceSpec::parse(&s);
    }

    #[test]
    fn spec_parser_never_panics_on_near_misses(
        kind in prop::sample::select(vec!["webcam", "screen", "file", "dir", "synthetic", "x"]),
        body in "[a-z0-9=;:%@./ ]{0,30}",
        mods in "[a-z0-9x,.@-]{0,16}",
    ) {
        let _ = SourceSpec::parse(&format!("{kind}:{body}@{mods}"));
        let _ = SourceSpec::parse(&format!("{kind}@{mods}"));
    }
}
