//! The light check on rendered captures of a synthetic face: the genuine response passes,
//! every attack the renderer models is refused with the expected reason, and malformed paint
//! reports are refused before any analysis.

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;
use realname_face::FaceAnalysis;

fn capture(scenario: &Scenario, seed: u64) -> (LightSequence, LightPresentation, Vec<MeasuredFrame>) {
    let (img, face) = synthetic_face(320, 240);
    let sources = [SourceFrame { image: &img, face: Some(&face) }];
    let mut rng = StdRng::seed_from_u64(seed);
    let seq = LightSequence::generate_with("nonce", &mut rng);
    let mut params = RenderParams::random(&mut rng);
    // A moderately lit room: the test is about the decision, not the darkest corner.
    params.display_to_ambient = params.display_to_ambient.max(0.2);
    let mut frames = Vec::new();
    let pres = Renderer::new(&sources, 10.0).render(&seq, scenario, &params, &mut rng, &mut |img, ts, _| {
        frames.push(MeasuredFrame { captured_at_ms: ts, regions: measure_regions(img, &face.landmarks) });
    });
    (seq, pres, frames)
}

fn decide(scenario: &Scenario, seed: u64) -> Result<LightMeasurement, LightRejection> {
    let (seq, pres, frames) = capture(scenario, seed);
    decide_light(&seq, &pres, &frames, &LightConfig::default())
}

#[test]
fn genuine_response_passes_with_a_plausible_latency() {
    for seed in 0..4 {
        let m = decide(&Scenario::Genuine, seed).unwrap_or_else(|e| panic!("seed {seed}: {e:?}"));
        assert!(m.lag_ms >= 30 && m.lag_ms <= 230, "seed {seed}: lag {}", m.lag_ms);
        assert!(m.correlation >= 0.9, "seed {seed}: {m:?}");
    }
}

#[test]
fn no_response_and_uniform_frame_tint_are_not_reflected() {
    for seed in 0..3 {
        for sc in [Scenario::NoResponse, Scenario::FrameTint] {
            let e = decide(&sc, seed).expect_err("must be refused");
            assert!(
                matches!(e.reason, LightReason::LightNotReflected | LightReason::LightOutOfStep),
                "{sc:?} seed {seed}: {e:?}"
            );
        }
    }
}

#[test]
fn flat_screen_and_print_are_refused() {
    for seed in 0..3 {
        for sc in [Scenario::ScreenTint, Scenario::Print] {
            let e = decide(&sc, seed).expect_err("must be refused");
            assert_ne!(e.reason, LightReason::TooBrightForLightCheck, "{sc:?} seed {seed}: {e:?}");
        }
    }
}

#[test]
fn late_or_foreign_responses_are_refused() {
    for seed in 0..3 {
        let e = decide(&Scenario::Delayed(900), seed).expect_err("delayed");
        assert_eq!(e.reason, LightReason::LightOutOfStep, "seed {seed}: {e:?}");
        let mut rng = StdRng::seed_from_u64(seed + 100);
        let other = LightSequence::generate_with("other", &mut rng);
        let e = decide(&Scenario::OtherSequence(other), seed).expect_err("other sequence");
        assert_ne!(e.reason, LightReason::TooBrightForLightCheck, "seed {seed}: {e:?}");
    }
}

#[test]
fn paint_reports_must_follow_the_issued_sequence() {
    let (seq, pres, frames) = capture(&Scenario::Genuine, 9);
    let config = LightConfig::default();
    assert!(decide_light(&seq, &pres, &frames, &config).is_ok());
    let mut wrong = pres.clone();
    wrong.nonce = "other".into();
    assert_eq!(decide_light(&seq, &wrong, &frames, &config).expect_err("nonce").detail, LightDetail::NonceMismatch);
    // A step held 120 ms longer than issued.
    let mut wrong = pres.clone();
    for t in wrong.shown_at_ms.iter_mut().skip(3) {
        *t += 120;
    }
    wrong.ended_at_ms += 120;
    assert_eq!(
        decide_light(&seq, &wrong, &frames, &config).expect_err("hold").detail,
        LightDetail::PresentationMismatch { field: 2 }
    );
    let mut wrong = pres;
    wrong.shown_at_ms.pop();
    assert!(matches!(
        decide_light(&seq, &wrong, &frames, &config).expect_err("count").detail,
        LightDetail::PresentationMismatch { .. }
    ));
}

#[test]
fn frames_without_a_face_are_not_enough() {
    let (seq, pres, mut frames) = capture(&Scenario::Genuine, 11);
    for f in frames.iter_mut().step_by(2) {
        f.regions = None;
    }
    let e = decide_light(&seq, &pres, &frames, &LightConfig::default()).expect_err("faceless");
    assert!(matches!(e.detail, LightDetail::TooFewFrames { .. }), "{e:?}");
}

#[test]
fn check_light_reads_the_frames_itself() {
    let (img, face): (_, FaceAnalysis) = synthetic_face(320, 240);
    let sources = [SourceFrame { image: &img, face: Some(&face) }];
    let mut rng = StdRng::seed_from_u64(21);
    let seq = LightSequence::generate_with("n", &mut rng);
    let mut params = RenderParams::random(&mut rng);
    params.display_to_ambient = 0.3;
    let mut frames = Vec::new();
    let pres = Renderer::new(&sources, 10.0).render(&seq, &Scenario::Genuine, &params, &mut rng, &mut |f, ts, _| {
        frames.push((f.clone(), ts));
    });
    let light: Vec<LightFrame> = frames
        .iter()
        .map(|(image, ts)| LightFrame { image, captured_at_ms: *ts, landmarks: Some(&face.landmarks) })
        .collect();
    assert!(check_light(&seq, &pres, &light, &LightConfig::default()).is_ok());
}

/// Head motion under the room's light changes the skin's brightness in every channel alike,
/// frame by frame: the full fit loses the response in it, the chromatic fit does not.
#[test]
fn achromatic_motion_is_cancelled_by_the_chromatic_fit() {
    let mut passed = 0;
    for seed in 0..4 {
        let (seq, pres, mut frames) = capture(&Scenario::Genuine, seed);
        for (i, f) in frames.iter_mut().enumerate() {
            // A ±25 % shading wobble, different every frame, equal in R, G and B.
            let k = 1.0 + 0.25 * ((i as f32 * 2.399).sin());
            if let Some(r) = f.regions.as_mut() {
                for v in [&mut r.face, &mut r.face_dark, &mut r.face_bright] {
                    *v = v.map(|c| c * k);
                }
                for p in &mut r.patches {
                    *p = p.map(|c| c * k);
                }
            }
        }
        let config = LightConfig::default();
        match decide_light(&seq, &pres, &frames, &config) {
            Ok(m) => {
                assert!(m.chroma_correlation >= config.min_chroma_correlation, "seed {seed}: {m:?}");
                assert!(m.correlation < m.chroma_correlation, "seed {seed}: {m:?}");
                passed += 1;
            }
            Err(e) => panic!("seed {seed}: {e:?}"),
        }
    }
    assert_eq!(passed, 4);
}
