//! Project tasks behind `cargo xtask`: accuracy reports and benchmarks (with their peers run
//! in the same session), so that every figure in `docs/benchmarks.md` has one command.

#![allow(clippy::print_stderr)] // a command-line tool: stderr is its output

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

mod tidy;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  accuracy        face verification accuracy on golden/pairs.csv + QR corpus decode rate
  accuracy liveness
                  liveness BPCER/APCER per attack type through the server's decision code
                  (action rules on the recorded clips, then the light step on rendered captures)
  bench face      face engine stages (criterion, one thread) and the original face-api (wasm) in the same run
  bench decision  the capture decision: today's exhaustive analysis and the tracked one on the same
                  recorded captures, CPU ms per decision and per stage, ratio, verdicts side by side
  bench scan      QR readers on the public corpus and the synthetic set (ours, plain rqrr, rxing)
  tidy            repository shape: `//!` headers, files ≤ 800 lines, crate and layer import arrows
  help            this text

Environment: REALNAME_SHARED_DIR (default ../shared), REALNAME_MODELS_DIR (default ./models).";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["accuracy"] => accuracy(),
        ["accuracy", "liveness"] => accuracy_liveness(),
        ["bench", "face"] => bench_face(),
        ["bench", "decision"] => bench_decision(),
        ["bench", "scan"] => bench_scan(),
        ["tidy"] => {
            let problems = tidy::check(&root());
            for p in &problems {
                eprintln!("{p}");
            }
            if problems.is_empty() { Ok(()) } else { bail!("{} tidy problem(s)", problems.len()) }
        }
        [] | ["help"] | ["--help"] | ["-h"] => {
            eprintln!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown task {other:?}\n\n{USAGE}"),
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn shared() -> PathBuf {
    std::env::var_os("REALNAME_SHARED_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("../shared"))
}

/// Runs a command in the workspace root, failing on a non-zero exit.
fn run(cmd: &mut Command) -> Result<()> {
    run_in(&root(), cmd)
}

/// Runs a command in `dir`, failing on a non-zero exit.
fn run_in(dir: &Path, cmd: &mut Command) -> Result<()> {
    eprintln!("$ {cmd:?}");
    let status = cmd.current_dir(dir).status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn accuracy() -> Result<()> {
    run(cargo().args(["run", "--release", "-p", "realname-face", "--example", "accuracy"]))?;
    run(cargo().args(["run", "--release", "-p", "realname-scan", "--example", "qr_corpus"]))
}

/// The server's decision on challenge responses built from `shared/data/liveness`. Dev profile:
/// the numerical dependencies are optimised there too (and `realname-decision` itself), and
/// it needs no server build.
fn accuracy_liveness() -> Result<()> {
    run(cargo().args(["run", "-p", "realname-decision", "--example", "liveness_accuracy"]))?;
    // The light step on rendered captures, decided by the same `decide` with the light check on.
    run(cargo().args(["run", "-p", "realname-decision", "--example", "light_accuracy"]))
}

fn bench_face() -> Result<()> {
    // Ours: one thread, as the original's wasm backend.
    run(cargo().args(["bench", "-p", "realname-face", "--bench", "face_stages"]).env("RAYON_NUM_THREADS", "1"))?;
    // The peer, in the same session: a temporary copy of the shared reference runner.
    let reference = shared().join("tools/face-api-reference");
    if !reference.join("bench.js").is_file() {
        bail!("the reference runner is not at {}", reference.display());
    }
    let work = std::env::temp_dir().join(format!("realname-face-peer-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    run(Command::new("cp").arg("-r").arg(reference.join(".")).arg(&work))?;
    run_in(&work, Command::new("npm").args(["ci", "--silent"]))?;
    let data = work.join("data");
    if !data.exists() {
        std::os::unix::fs::symlink(shared().join("data/faces/images"), &data)?;
    }
    let result = run_in(
        &work,
        Command::new("node").args(["bench.js", "wasm", "15", "3", "data/face_recognition/obama/obama.jpg"]),
    );
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// One thread, so that a decision's whole work is on the thread whose CPU time is read.
fn bench_decision() -> Result<()> {
    run(cargo()
        .args(["run", "--release", "-p", "realname-decision", "--example", "bench_decision"])
        .env("RAYON_NUM_THREADS", "1"))
}

fn bench_scan() -> Result<()> {
    run(cargo().args(["run", "--release", "-p", "realname-scan", "--example", "qr_corpus"]))?;
    run(cargo().args(["bench", "-p", "realname-scan", "--bench", "qr_readers"]))
}
