//! Records any source spec into a folder that `dir:<folder>` replays, and reports QR codes seen on the way.
//!
//! `cargo run -p realname-scan --example record -- <spec> <out-dir> [frames] [--jpeg]`
//! e.g. `synthetic:qr=http://127.0.0.1:8080/v1/q/abc;perspective=25;blur=1.5;glare=0.5;seed=3 frames/ 20`
#![allow(clippy::print_stdout)]

use std::time::Duration;

use anyhow::Context;
use realname_scan::{FrameSource, ImageFormat, QrReader, Recorder, SourceError, SourceSpec, open_source};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let spec = args.first().context("usage: record <spec> <out-dir> [frames] [--jpeg]")?;
    let out = args.get(1).context("usage: record <spec> <out-dir> [frames] [--jpeg]")?;
    let frames: usize = args.get(2).map(|n| n.parse()).transpose()?.unwrap_or(10);
    let format = if args.iter().any(|a| a == "--jpeg") { ImageFormat::Jpeg(90) } else { ImageFormat::Png };
    let mut source = open_source(&SourceSpec::parse(spec)?)?;
    let info = source.info();
    println!("{} {}x{} {:?} fps", info.name, info.width, info.height, info.fps);
    let mut recorder = Recorder::create(out, format, &info.name)?;
    let reader = QrReader::default();
    for _ in 0..frames {
        let frame = match source.next_frame(Duration::from_secs(5)) {
            Ok(f) => f,
            Err(SourceError::EndOfStream) => break,
            Err(e) => return Err(e.into()),
        };
        let read = reader.read(&frame.image);
        let texts: Vec<String> = read.codes.iter().map(|c| format!("{} [{}]", c.text(), c.pass)).collect();
        println!(
            "#{:<4} {:>8.1} ms  qr: {:?} ({:.1} ms)",
            frame.sequence,
            frame.timestamp.as_secs_f64() * 1e3,
            texts,
            read.elapsed.as_secs_f64() * 1e3
        );
        recorder.record(&frame)?;
    }
    source.close()?;
    println!("wrote {} frames to {out}", recorder.index().frames.len());
    Ok(())
}
