//! Decodes the shared QR corpus and the synthetic screen-photo set with this crate's reader, plain rqrr and rxing; prints decoded/total per set and timings.
//!
//! `cargo run --release -p realname-scan --example qr_corpus [-- --ours-only] [-- --failures]`
#![allow(clippy::print_stdout)]

#[path = "../tests/support/corpus.rs"]
mod corpus;

use corpus::{Decoder, Ours, PlainRqrr, Rxing, evaluate, table};
use realname_scan::{QrReader, ReaderConfig};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ours_only = args.iter().any(|a| a == "--ours-only");
    let show_failures = args.iter().any(|a| a == "--failures");
    let shared = corpus::shared_dir()?;
    let cases = corpus::load_corpus(&shared)?;
    let synthetic = corpus::synthetic_cases(200)?;
    let ours = Ours(QrReader::default(), "realname-scan (default: rxing pass first)");
    let rqrr_first = Ours(
        QrReader::new(ReaderConfig { rxing_first: false, ..Default::default() }),
        "realname-scan (rqrr pass first)",
    );
    let rqrr_only = Ours(
        QrReader::new(ReaderConfig { rxing_fallback: false, ..Default::default() }),
        "realname-scan (rqrr passes only)",
    );
    let decoders: Vec<&dyn Decoder> =
        if ours_only { vec![&ours] } else { vec![&ours, &rqrr_first, &rqrr_only, &PlainRqrr, &Rxing] };
    println!(
        "QR corpus {} ({} images), one thread, same luma pixels for every decoder\n",
        shared.join("data/qr").display(),
        cases.len()
    );
    let reports: Vec<_> = decoders.iter().map(|d| evaluate(*d, &cases)).collect();
    print!("{}", table(&reports));
    println!(
        "\nSynthetic screen photos (640x480, Realname URL, perspective <= 30 deg, blur, moire, glare, noise): {} images\n",
        synthetic.len()
    );
    let synth: Vec<_> = decoders.iter().map(|d| evaluate(*d, &synthetic)).collect();
    print!("{}", table(&synth));
    if args.iter().any(|a| a == "--dump") {
        let reader = QrReader::new(realname_scan::ReaderConfig { budget: None, find_all: true, ..Default::default() });
        for case in &cases {
            let out = reader.read_luma(&case.luma);
            let got: Vec<String> = out.codes.iter().map(|c| format!("{} {:?}", c.pass, c.text())).collect();
            let ok = out.codes.iter().any(|c| c.text() == case.expected);
            println!(
                "{}/{} ok={ok} passes={} {:.1}ms got={got:?}{}",
                case.set,
                case.name,
                out.passes_run,
                out.elapsed.as_secs_f64() * 1e3,
                if ok {
                    String::new()
                } else {
                    format!(" expected={:?}", case.expected.chars().take(60).collect::<String>())
                }
            );
        }
    }
    if show_failures {
        for r in reports.iter().chain(synth.iter()) {
            println!("\n{} failed: {}", r.decoder, r.failures.join(" "));
        }
    }
    Ok(())
}
