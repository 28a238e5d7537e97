//! Decodes the shared QR corpus and the synthetic screen-photo set with this crate's reader, plain rqrr and rxing; prints decoded/total per set and timings.
//!
//! `cargo run --release -p realname-scan --example qr_corpus [-- --ours-only] [-- --failures]`
#![allow(clippy::print_stdout)]

#[path = "../tests/support/corpus.rs"]
mod corpus;

use corpus::{Decoder, Ours, PlainRqrr, Rxing, evaluate, table};
use realname_scan::QrReader;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ours_only = args.iter().any(|a| a == "--ours-only");
    let show_failures = args.iter().any(|a| a == "--failures");
    let shared = corpus::shared_dir()?;
    let cases = corpus::load_corpus(&shared)?;
    let synthetic = corpus::synthetic_cases(200)?;
    let ours = Ours(QrReader::default());
    let decoders: Vec<&dyn Decoder> = if ours_only { vec![&ours] } else { vec![&ours, &PlainRqrr, &Rxing] };
    println!("QR corpus {} ({} images), one thread, same luma pixels for every decoder\n", shared.join("data/qr").display(), cases.len());
    let reports: Vec<_> = decoders.iter().map(|d| evaluate(*d, &cases)).collect();
    print!("{}", table(&reports));
    println!("\nSynthetic screen photos (640x480, Realname URL, perspective <= 30 deg, blur, moire, glare, noise): {} images\n", synthetic.len());
    let synth: Vec<_> = decoders.iter().map(|d| evaluate(*d, &synthetic)).collect();
    print!("{}", table(&synth));
    if show_failures {
        for r in reports.iter().chain(synth.iter()) {
            println!("\n{} failed: {}", r.decoder, r.failures.join(" "));
        }
    }
    Ok(())
}
