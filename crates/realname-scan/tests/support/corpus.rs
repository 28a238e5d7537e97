//! Corpus loading and decoder comparison shared by the integration tests, the `qr_corpus` example and the benchmark.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use realname_scan::qr::Luma;
use realname_scan::{QrReader, SyntheticConfig, SyntheticSource, payload, payload_text};

/// `REALNAME_SHARED_DIR`, else `<workspace>/../shared`. Missing is an error, never a skip.
pub(crate) fn shared_dir() -> anyhow::Result<PathBuf> {
    let dir = match std::env::var_os("REALNAME_SHARED_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    if !dir.join("data/qr").is_dir() {
        bail!("shared data not found at {} (set REALNAME_SHARED_DIR)", dir.display());
    }
    Ok(dir)
}

/// One image with its expected text.
pub(crate) struct Case {
    /// Colour pixels where the set has them in a way the corpus comparison allows (synthetic).
    pub rgb: Option<image::RgbImage>,
    pub set: String,
    pub name: String,
    pub luma: Luma,
    pub expected: String,
}

/// Every `<set>/<name>.png` with a `<name>.txt` under `data/qr`, sorted by set and name.
pub(crate) fn load_corpus(shared: &Path) -> anyhow::Result<Vec<Case>> {
    let root = shared.join("data/qr");
    let mut sets: Vec<PathBuf> = std::fs::read_dir(&root)?.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    sets.sort();
    let mut cases = Vec::new();
    for set in sets {
        let mut pngs: Vec<PathBuf> = std::fs::read_dir(&set)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "png"))
            .collect();
        pngs.sort();
        for png in pngs {
            let txt = png.with_extension("txt");
            let expected = std::fs::read_to_string(&txt).with_context(|| format!("{}", txt.display()))?;
            let img = image::open(&png).with_context(|| format!("{}", png.display()))?.into_rgb8();
            cases.push(Case {
                rgb: None,
                set: set.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                name: png.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                luma: Luma::from_rgb(&img),
                expected,
            });
        }
    }
    Ok(cases)
}

/// The synthetic screen-photo set: 640x480, Realname URLs, perspective up to 30°, defocus up
/// to sigma 1.5, moiré, glare, noise — all from seeds, so the set is the same on every run.
pub(crate) fn synthetic_cases(count: u64) -> anyhow::Result<Vec<Case>> {
    let mut cases = Vec::new();
    for i in 0..count {
        let url = payload::qr_url("http://127.0.0.1:8080", &payload::test_handle(i));
        let source = SyntheticSource::new(SyntheticConfig {
            qr_payload: Some(url.clone()),
            perspective_deg: 30.0,
            blur_sigma: 1.5,
            moire: 0.6,
            glare: 0.5,
            noise: 6.0,
            seed: 1000 + i,
            ..Default::default()
        })?;
        let frame = source.render(i);
        if let Some(dir) = std::env::var_os("REALNAME_SCAN_DUMP_SYNTHETIC") {
            frame.image.save(Path::new(&dir).join(format!("synthetic-{i}.png")))?;
        }
        cases.push(Case {
            set: "synthetic".into(),
            name: i.to_string(),
            luma: Luma::from_rgb(&frame.image),
            rgb: Some(frame.image),
            expected: url,
        });
    }
    Ok(cases)
}

/// A decoder under comparison: all texts it reads from the luma pixels.
pub(crate) trait Decoder {
    fn name(&self) -> &'static str;
    fn decode(&self, luma: &Luma) -> Vec<String>;
    /// Colour input where the decoder takes it (this crate's reader); luma otherwise.
    fn decode_case(&self, case: &Case) -> Vec<String> {
        self.decode(&case.luma)
    }
}

/// This crate's reader, with a label for the table.
pub(crate) struct Ours(pub QrReader, pub &'static str);

impl Decoder for Ours {
    fn name(&self) -> &'static str {
        self.1
    }
    fn decode(&self, luma: &Luma) -> Vec<String> {
        self.0.read_luma(luma).codes.iter().map(|c| payload_text(&c.payload).0).collect()
    }
    fn decode_case(&self, case: &Case) -> Vec<String> {
        match &case.rgb {
            Some(rgb) => self.0.read(rgb).codes.iter().map(|c| payload_text(&c.payload).0).collect(),
            None => self.decode(&case.luma),
        }
    }
}

/// rqrr as its README shows it (panics contained so one image cannot end the run).
pub(crate) struct PlainRqrr;

impl Decoder for PlainRqrr {
    fn name(&self) -> &'static str {
        "rqrr (plain)"
    }
    fn decode(&self, luma: &Luma) -> Vec<String> {
        std::panic::catch_unwind(|| {
            let mut img = rqrr::PreparedImage::prepare_from_greyscale(luma.width, luma.height, |x, y| {
                luma.pixels[y * luma.width + x]
            });
            img.detect_grids()
                .iter()
                .filter_map(|g| {
                    let mut bytes = Vec::new();
                    g.decode_to(&mut bytes).ok().map(|_| payload_text(&bytes).0)
                })
                .collect()
        })
        .unwrap_or_default()
    }
}

/// rxing (ZXing port) on the same luma, QR only, its default `TryHarder`.
pub(crate) struct Rxing;

impl Decoder for Rxing {
    fn name(&self) -> &'static str {
        "rxing 0.9"
    }
    fn decode(&self, luma: &Luma) -> Vec<String> {
        std::panic::catch_unwind(|| {
            rxing::helpers::detect_in_luma(
                luma.pixels.clone(),
                luma.width as u32,
                luma.height as u32,
                Some(rxing::BarcodeFormat::QR_CODE),
            )
            .map(|r| vec![r.getText().to_owned()])
            .unwrap_or_default()
        })
        .unwrap_or_default()
    }
}

/// Per-set results of one decoder.
pub(crate) struct Report {
    pub decoder: &'static str,
    /// (set, decoded, total) in set order.
    pub sets: Vec<(String, usize, usize)>,
    pub decoded: usize,
    pub total: usize,
    pub times: Vec<Duration>,
    pub failures: Vec<String>,
}

impl Report {
    pub(crate) fn median_ms(&self) -> f64 {
        let mut t: Vec<f64> = self.times.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        t.sort_by(f64::total_cmp);
        match t.len() {
            0 => 0.0,
            n if n % 2 == 1 => t[n / 2],
            n => (t[n / 2 - 1] + t[n / 2]) / 2.0,
        }
    }
    pub(crate) fn mean_ms(&self) -> f64 {
        self.times.iter().map(|d| d.as_secs_f64() * 1000.0).sum::<f64>() / self.times.len().max(1) as f64
    }
    pub(crate) fn max_ms(&self) -> f64 {
        self.times.iter().map(|d| d.as_secs_f64() * 1000.0).fold(0.0, f64::max)
    }
}

pub(crate) fn evaluate(decoder: &dyn Decoder, cases: &[Case]) -> Report {
    let mut report = Report {
        decoder: decoder.name(),
        sets: Vec::new(),
        decoded: 0,
        total: 0,
        times: Vec::new(),
        failures: Vec::new(),
    };
    for case in cases {
        let t0 = Instant::now();
        let texts = decoder.decode_case(case);
        report.times.push(t0.elapsed());
        let ok = texts.contains(&case.expected);
        if report.sets.last().is_none_or(|s| s.0 != case.set) {
            report.sets.push((case.set.clone(), 0, 0));
        }
        if let Some(s) = report.sets.last_mut() {
            s.2 += 1;
            if ok {
                s.1 += 1;
            }
        }
        report.total += 1;
        if ok {
            report.decoded += 1;
        } else {
            report.failures.push(format!("{}/{}", case.set, case.name));
        }
    }
    report
}

/// A Markdown table row per report.
pub(crate) fn table(reports: &[Report]) -> String {
    let mut out = String::new();
    if let Some(first) = reports.first() {
        out.push_str("| decoder |");
        for (set, _, _) in &first.sets {
            out.push_str(&format!(" {set} |"));
        }
        out.push_str(" total | median ms | mean ms | max ms |\n|---|");
        for _ in &first.sets {
            out.push_str("---|");
        }
        out.push_str("---|---|---|---|\n");
    }
    for r in reports {
        out.push_str(&format!("| {} |", r.decoder));
        for (_, d, t) in &r.sets {
            out.push_str(&format!(" {d}/{t} |"));
        }
        out.push_str(&format!(
            " {}/{} | {:.2} | {:.2} | {:.1} |\n",
            r.decoded,
            r.total,
            r.median_ms(),
            r.mean_ms(),
            r.max_ms()
        ));
    }
    out
}
