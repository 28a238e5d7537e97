//! Criterion benchmark of the face engine stages, one thread (run with `RAYON_NUM_THREADS=1`):
//! tiny detector at 416, SSD, landmarks per face, descriptor per face, the whole pipeline on a
//! one-face 640×480 frame. Compare with the original via the reference runner's `bench.js`
//! (see docs/benchmarks-face.md).
#![allow(clippy::print_stderr, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::measurement::Measurement;
use criterion::{Criterion, criterion_group, criterion_main};
use realname_face::{DetectOptions, EngineConfig, FaceEngine, ImageLimits, LandmarkNet, RgbImage, decode_image};

fn dirs() -> (PathBuf, PathBuf) {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let models = std::env::var_os("REALNAME_MODELS_DIR").map(PathBuf::from).unwrap_or_else(|| ws.join("models"));
    let shared = std::env::var_os("REALNAME_SHARED_DIR").map(PathBuf::from).unwrap_or_else(|| ws.join("../shared"));
    (models, shared.join("data/faces/images"))
}

fn load(path: &Path) -> RgbImage {
    decode_image(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())), &ImageLimits::default())
        .unwrap()
}

/// One-face 640×480 frame: the centre of `obama-480p.jpg` (853×480), or `REALNAME_BENCH_FRAME`.
fn frame(images: &Path) -> RgbImage {
    if let Some(p) = std::env::var_os("REALNAME_BENCH_FRAME") {
        return load(Path::new(&p));
    }
    let src = load(&images.join("face_recognition/obama/obama-480p.jpg"));
    let x0 = (src.width() - 640) / 2;
    image::imageops::crop_imm(&src, x0, 0, 640, 480).to_image()
}

// Criterion measurement of the calling thread's CPU time (`REALNAME_BENCH_CLOCK=cpu`).
#[path = "support/thread_cpu.rs"]
mod thread_cpu;
use thread_cpu::ThreadCpu;

/// Multiply-adds ×2 of every conv and the FC of the recognition net (150×150 input).
fn recognition_flops() -> f64 {
    let conv = |o: usize, k: usize, ci: usize, co: usize| 2.0 * (o * o * k * k * ci * co) as f64;
    let mut f = conv(72, 7, 3, 32);
    f += 6.0 * conv(35, 3, 32, 32);
    f += conv(17, 3, 32, 64) + conv(17, 3, 64, 64) + 6.0 * conv(17, 3, 64, 64);
    f += conv(8, 3, 64, 128) + conv(8, 3, 128, 128) + 4.0 * conv(8, 3, 128, 128);
    f += conv(3, 3, 128, 256) + conv(3, 3, 256, 256) + 4.0 * conv(4, 3, 256, 256);
    f += conv(1, 3, 256, 256) + conv(1, 3, 256, 256);
    f + 2.0 * 256.0 * 128.0
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn stages_cpu(c: &mut Criterion<ThreadCpu>) {
    if std::env::var("REALNAME_BENCH_CLOCK").as_deref() == Ok("cpu") {
        run(c, "face_cpu");
    }
}

fn stages(c: &mut Criterion) {
    if std::env::var("REALNAME_BENCH_CLOCK").as_deref() != Ok("cpu") {
        run(c, "face");
    }
}

fn run<M: Measurement>(c: &mut Criterion<M>, group: &str) {
    if std::env::var("RAYON_NUM_THREADS").as_deref() != Ok("1") {
        eprintln!("warning: RAYON_NUM_THREADS is not 1: candle's matmul may use several threads");
    }
    let (models, images) = dirs();
    let engine = FaceEngine::load(&models, EngineConfig::default()).unwrap();
    eprintln!("peak RSS after loading all models: {:.1} MiB", peak_rss_kib().unwrap_or(0) as f64 / 1024.0);
    eprintln!("recognition net: {:.3} GFLOP per descriptor", recognition_flops() / 1e9);
    let tiny_lm = FaceEngine::load(
        &models,
        EngineConfig {
            ssd: false,
            tiny: false,
            recognition: false,
            landmarks: Some(LandmarkNet::Tiny),
            ..EngineConfig::default()
        },
    )
    .unwrap();
    let obama = load(&images.join("face_recognition/obama/obama.jpg"));
    let frame = frame(&images);
    let ssd = DetectOptions::default();
    let tiny = DetectOptions::tiny(416);
    let face = engine.analyze(&obama, &ssd).unwrap().remove(0);
    let frame_faces = engine.analyze(&frame, &tiny).unwrap();
    assert_eq!(frame_faces.len(), 1, "the 640x480 bench frame must hold one face");

    let mut g = c.benchmark_group(group);
    g.sample_size(20).warm_up_time(Duration::from_secs(2)).measurement_time(Duration::from_secs(6));
    g.bench_function("tiny416_detect (obama.jpg 910x1137)", |b| b.iter(|| engine.detect(&obama, &tiny).unwrap()));
    g.bench_function("ssd_detect (obama.jpg 910x1137)", |b| b.iter(|| engine.detect(&obama, &ssd).unwrap()));
    g.bench_function("landmarks68_per_face", |b| b.iter(|| engine.landmarks(&obama, &face.detection).unwrap()));
    g.bench_function("landmarks68_tiny_per_face", |b| b.iter(|| tiny_lm.landmarks(&obama, &face.detection).unwrap()));
    g.bench_function("descriptor_per_face", |b| b.iter(|| engine.descriptor(&obama, &face.landmarks).unwrap()));
    g.bench_function("pipeline_tiny416 (640x480, 1 face)", |b| b.iter(|| engine.analyze(&frame, &tiny).unwrap()));
    g.bench_function("pipeline_ssd (640x480, 1 face)", |b| b.iter(|| engine.analyze(&frame, &ssd).unwrap()));
    g.bench_function("pipeline_tiny416 (obama.jpg, 1 face)", |b| b.iter(|| engine.analyze(&obama, &tiny).unwrap()));
    g.finish();
}

criterion_group!(benches, stages);
criterion_group! {
    name = benches_cpu;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = stages_cpu
}
criterion_main!(benches, benches_cpu);
