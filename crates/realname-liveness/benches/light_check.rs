//! Criterion benchmark of the light check's CPU cost per capture: region measurement of every
//! frame plus the decision, on a rendered genuine capture (synthetic face image and landmarks,
//! 30 fps — the most frames a capture has). Budget (issue 15): 20 ms CPU per capture.
//!
//! Measured in **CPU time of the calling thread** (`cpu_time::ThreadTime`), not wall time: the
//! check runs on one thread (no rayon, no candle), so its thread time is its whole CPU cost,
//! and on the shared, oversubscribed machine wall time mostly measures the other processes.
//! `cargo bench -p realname-liveness --bench light_check --profile dev`.
#![allow(clippy::print_stderr)]

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use image::RgbImage;
use rand::SeedableRng;
use rand::rngs::StdRng;
use realname_liveness::light::{
    GenerateLight, LightConfig, LightFrame, LightSequence, MeasuredFrame, RenderParams, Renderer, Scenario,
    SourceFrame, check_light, decide_light, measure_regions, synthetic_face,
};

#[path = "../../realname-face/benches/support/thread_cpu.rs"]
mod thread_cpu;
use thread_cpu::ThreadCpu;

fn bench(c: &mut Criterion<ThreadCpu>) {
    let (img, analysis) = synthetic_face(640, 480);
    let sources = [SourceFrame { image: &img, face: Some(&analysis) }];
    let mut rng = StdRng::seed_from_u64(7);
    let seq = LightSequence::generate_with("bench", &mut rng);
    let mut params = RenderParams::random(&mut rng);
    params.fps = 30.0;
    let mut frames: Vec<(RgbImage, i64)> = Vec::new();
    let pres = Renderer::new(&sources, 10.0).render(&seq, &Scenario::Genuine, &params, &mut rng, &mut |f, ts, _| {
        frames.push((f.clone(), ts));
    });
    let config = LightConfig::default();
    let light: Vec<LightFrame> = frames
        .iter()
        .map(|(image, ts)| LightFrame { image, captured_at_ms: *ts, landmarks: Some(&analysis.landmarks) })
        .collect();
    eprintln!("{} frames per capture", light.len());
    let mut group = c.benchmark_group("light_check_cpu");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("capture_30fps_640x480", |b| b.iter(|| check_light(&seq, &pres, &light, &config)));
    // The decision alone, on the region means (what the server does once the analysis stored
    // them in each face's evidence).
    let measured: Vec<MeasuredFrame> = light
        .iter()
        .map(|f| MeasuredFrame {
            captured_at_ms: f.captured_at_ms,
            regions: f.landmarks.and_then(|lm| measure_regions(f.image, lm)),
        })
        .collect();
    group.bench_function("decide_on_region_means", |b| b.iter(|| decide_light(&seq, &pres, &measured, &config)));
    group.bench_function("measure_regions_one_frame", |b| {
        b.iter(|| measure_regions(light[0].image, &analysis.landmarks))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = bench
}
criterion_main!(benches);
