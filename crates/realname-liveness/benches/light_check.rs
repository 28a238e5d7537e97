//! Criterion benchmark of the light check's cost per capture, one thread: region measurement
//! of every frame plus the decision, on a rendered genuine capture (synthetic face image and
//! landmarks, 30 fps — the most frames a capture has). Budget: 20 ms CPU per capture.
//! `REALNAME_BENCH_CLOCK=cpu cargo bench -p realname-liveness --bench light_check`.
#![allow(clippy::print_stderr)]

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use image::RgbImage;
use rand::SeedableRng;
use rand::rngs::StdRng;
use realname_liveness::light::{
    GenerateLight, LightConfig, LightFrame, LightSequence, RenderParams, Renderer, Scenario, SourceFrame, check_light,
    synthetic_face,
};

fn bench(c: &mut Criterion) {
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
    let mut group = c.benchmark_group("light_check");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("capture_30fps_640x480", |b| b.iter(|| check_light(&seq, &pres, &light, &config)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
