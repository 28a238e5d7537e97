//! Unit tests of the challenge decision on synthetic analysed faces.

use super::*;
use LivenessAction::*;
use realname_face::{BoundingBox, Descriptor, Detection, FaceAnalysis, FaceSignals, Landmarks68};
use realname_protocol::api::{LivenessAction, LivenessChallenge, ReasonCode};

use crate::evidence::FaceImageEvidence;

const T0: i64 = 1_700_000_000_000;

/// A synthetic face: landmarks on a jittered grid (so frames differ), descriptor of person `who`.
fn face(who: u8, k: usize, f: impl FnOnce(&mut FaceSignals)) -> AnalyzedFace {
    let mut signals = FaceSignals {
        face_width_px: 200.0,
        face_fraction: 0.1,
        sharpness: 100.0,
        brightness: 0.5,
        yaw_deg: 0.0,
        pitch_deg: 0.0,
        roll_deg: 0.0,
        ear_left: 0.32,
        ear_right: 0.32,
        mouth_aspect_ratio: 0.05,
    };
    f(&mut signals);
    let mut points = [(0.0f32, 0.0f32); 68];
    for (i, p) in points.iter_mut().enumerate() {
        let j = ((i * 7 + k * 13) % 11) as f32 * 0.4;
        *p = (100.0 + (i % 9) as f32 * 20.0 + j, 100.0 + (i / 9) as f32 * 20.0 + j * 0.5);
    }
    let mut d = [0.0f32; 128];
    d[who as usize] = 1.0;
    d[127] = 0.001 * k as f32;
    let thumb: Vec<f32> = (0..576).map(|i| (((i * 31 + k * 17) % 23) as f32 - 11.0) / 6.6).collect();
    AnalyzedFace {
        analysis: FaceAnalysis {
            detection: Detection {
                bbox: BoundingBox { x: 100.0 + k as f32, y: 100.0, width: 200.0, height: 220.0 },
                score: 0.9,
            },
            landmarks: Landmarks68 { points },
            descriptor: Descriptor(d),
            signals,
        },
        evidence: Some(FaceImageEvidence {
            thumb,
            eye_contrast: 0.3,
            eye_darkness: 0.1,
            eye_edges: 0.08,
            passive: None,
            light: None,
        }),
    }
}

fn frame(action: Option<LivenessAction>, k: usize, face: AnalyzedFace) -> AnalyzedFrame {
    AnalyzedFrame { action, captured_at_ms: T0 + 100 * k as i64, faces: vec![face], light: false }
}

fn challenge(actions: &[LivenessAction]) -> LivenessChallenge {
    LivenessChallenge {
        actions: actions.to_vec(),
        nonce: "n1".into(),
        deadline: time::OffsetDateTime::from_unix_timestamp((T0 + 60_000) / 1000).expect("time"),
        light: None,
    }
}

fn run(ch: &LivenessChallenge, frames: &[AnalyzedFrame]) -> Result<LivenessPass, Rejection> {
    let store = MemoryReplayStore::default();
    evaluate(
        IssuedChallenge { challenge: ch, issued_at_ms: T0 - 1000 },
        Upload { nonce: "n1", frames, received_at_ms: T0 + 5000 },
        &store,
        &LivenessConfig::default(),
    )
}

fn genuine() -> Vec<AnalyzedFrame> {
    vec![
        frame(None, 0, face(1, 0, |_| {})),
        frame(Some(OpenMouth), 1, face(1, 1, |s| s.mouth_aspect_ratio = 0.6)),
        frame(Some(TurnLeft), 2, face(1, 2, |s| s.yaw_deg = 30.0)),
    ]
}

#[test]
fn a_performed_challenge_passes_and_names_the_frontal_frame() {
    let pass = run(&challenge(&[OpenMouth, TurnLeft]), &genuine()).expect("genuine passes");
    assert_eq!(pass.best_frame, 0);
}

#[test]
fn turns_are_relative_to_the_neutral_yaw_and_signed() {
    let mut frames = genuine();
    frames[2] = frame(Some(TurnLeft), 2, face(1, 2, |s| s.yaw_deg = -30.0));
    let r = run(&challenge(&[OpenMouth, TurnLeft]), &frames).expect_err("turned the other way");
    assert_eq!((r.reason, r.action), (ReasonCode::ActionNotSeen, Some(TurnLeft)));
    frames[2] = frame(Some(TurnRight), 2, face(1, 2, |s| s.yaw_deg = -30.0));
    assert!(run(&challenge(&[OpenMouth, TurnRight]), &frames).is_ok());
}

#[test]
fn blink_is_a_dip_against_the_persons_own_open_eyes_by_ear_or_eye_darkness() {
    let open = || face(1, 0, |_| {});
    let mut by_ear =
        vec![frame(None, 0, open()), frame(Some(Blink), 1, face(1, 1, |s| (s.ear_left, s.ear_right) = (0.29, 0.29)))];
    assert!(run(&challenge(&[Blink]), &by_ear).is_ok());
    // Landmark noise of 2 % is not a blink …
    by_ear[1] = frame(Some(Blink), 1, face(1, 1, |s| (s.ear_left, s.ear_right) = (0.315, 0.315)));
    let r = run(&challenge(&[Blink]), &by_ear).expect_err("noise");
    assert_eq!(r.reason, ReasonCode::ActionNotSeen);
    // … but the eye region getting lighter (lid over the iris) is.
    let mut closed = face(1, 1, |s| (s.ear_left, s.ear_right) = (0.315, 0.315));
    if let Some(e) = closed.evidence.as_mut() {
        e.eye_darkness = 0.07;
    }
    by_ear[1] = frame(Some(Blink), 1, closed);
    assert!(run(&challenge(&[Blink]), &by_ear).is_ok());
    // … and so are the eyes' edges fading (light iris: darkness barely moves) …
    let mut lid = face(1, 1, |s| (s.ear_left, s.ear_right) = (0.315, 0.315));
    if let Some(e) = lid.evidence.as_mut() {
        e.eye_edges = 0.08 * (1.0 - BLINK_EDGE_DROP) - 0.002;
    }
    by_ear[1] = frame(Some(Blink), 1, lid);
    assert!(run(&challenge(&[Blink]), &by_ear).is_ok());
    // … but not an edge dip smaller than the threshold.
    let mut half = face(1, 1, |s| (s.ear_left, s.ear_right) = (0.315, 0.315));
    if let Some(e) = half.evidence.as_mut() {
        e.eye_edges = 0.08 * (1.0 - BLINK_EDGE_DROP) + 0.002;
    }
    by_ear[1] = frame(Some(Blink), 1, half);
    let r = run(&challenge(&[Blink]), &by_ear).expect_err("small edge dip");
    assert_eq!(r.reason, ReasonCode::ActionNotSeen);
}

#[test]
fn an_upload_without_a_neutral_frame_is_refused() {
    let frames = [frame(Some(OpenMouth), 1, face(1, 1, |s| s.mouth_aspect_ratio = 0.6))];
    assert_eq!(run(&challenge(&[OpenMouth]), &frames).map_err(|r| r.detail), Err(RejectionDetail::NoNeutralFrame));
}

#[test]
fn an_open_mouth_needs_a_closed_one_elsewhere() {
    let frames = [
        frame(None, 0, face(1, 0, |s| s.mouth_aspect_ratio = 0.6)),
        frame(Some(OpenMouth), 1, face(1, 1, |s| s.mouth_aspect_ratio = 0.6)),
    ];
    let r = run(&challenge(&[OpenMouth]), &frames).expect_err("never closed");
    assert_eq!(r.reason, ReasonCode::ActionNotSeen);
}

#[test]
fn wrong_order_is_named_whether_tagged_or_performed_out_of_order() {
    // Tags in the wrong order.
    let frames = genuine();
    let r = run(&challenge(&[TurnLeft, OpenMouth]), &frames).expect_err("tags reversed");
    assert_eq!(r.reason, ReasonCode::ActionOrder);
    // Tags right, performances swapped.
    let swapped = [
        frame(None, 0, face(1, 0, |_| {})),
        frame(Some(OpenMouth), 1, face(1, 1, |s| s.yaw_deg = 30.0)),
        frame(Some(TurnLeft), 2, face(1, 2, |s| s.mouth_aspect_ratio = 0.6)),
    ];
    let r = run(&challenge(&[OpenMouth, TurnLeft]), &swapped).expect_err("performed swapped");
    assert_eq!(r.reason, ReasonCode::ActionOrder);
    // A missing action.
    let r = run(&challenge(&[OpenMouth, TurnLeft, Blink]), &frames).expect_err("missing");
    assert_eq!((r.reason, r.action), (ReasonCode::ActionNotSeen, Some(Blink)));
}

#[test]
fn timestamps_must_increase_plausibly_inside_the_challenge_window() {
    let ch = challenge(&[OpenMouth, TurnLeft]);
    let mut frames = genuine();
    frames[2].captured_at_ms = frames[1].captured_at_ms;
    assert_eq!(run(&ch, &frames).map_err(|r| r.detail), Err(RejectionDetail::TimestampsNotIncreasing { frame: 2 }));
    let mut frames = genuine();
    frames[2].captured_at_ms = frames[1].captured_at_ms + 5;
    assert_eq!(run(&ch, &frames).map_err(|r| r.reason), Err(ReasonCode::TimestampsInvalid));
    let mut frames = genuine();
    for f in &mut frames {
        f.captured_at_ms -= 3_600_000; // frames from an hour ago
    }
    assert_eq!(run(&ch, &frames).map_err(|r| r.detail), Err(RejectionDetail::OutsideChallengeWindow { frame: 0 }));
    // Received after the deadline.
    let store = MemoryReplayStore::default();
    let late = evaluate(
        IssuedChallenge { challenge: &ch, issued_at_ms: T0 - 1000 },
        Upload { nonce: "n1", frames: &genuine(), received_at_ms: T0 + 61_000 },
        &store,
        &LivenessConfig::default(),
    );
    assert!(matches!(late.map_err(|r| r.detail), Err(RejectionDetail::DeadlinePassed { late_ms: 1000 })));
}

#[test]
fn one_face_per_frame_and_one_person_throughout() {
    let ch = challenge(&[OpenMouth, TurnLeft]);
    let mut frames = genuine();
    frames[1].faces.push(face(2, 1, |_| {}));
    assert_eq!(run(&ch, &frames).map_err(|r| r.reason), Err(ReasonCode::MultipleFaces));
    frames[1].faces.clear();
    assert_eq!(run(&ch, &frames).map_err(|r| r.reason), Err(ReasonCode::NoFace));
    // One faceless frame in a segment that keeps a face elsewhere is left out.
    let mut frames = genuine();
    let mut lost = frame(Some(OpenMouth), 3, face(1, 3, |s| s.mouth_aspect_ratio = 0.5));
    lost.faces.clear();
    frames.insert(2, lost);
    frames[3].captured_at_ms += 200;
    assert!(run(&ch, &frames).is_ok());
    // Person 2 does the turn.
    let mut frames = genuine();
    frames[2] = frame(Some(TurnLeft), 2, face(2, 2, |s| s.yaw_deg = 30.0));
    let r = run(&ch, &frames).expect_err("swap");
    assert_eq!(r.reason, ReasonCode::PersonChanged);
    assert!(matches!(r.detail, RejectionDetail::DifferentPerson { frame: 2, .. }), "{r:?}");
    // Same descriptor but the face jumps across the picture between frames.
    let mut frames = genuine();
    frames[2].faces[0].analysis.detection.bbox.x += 400.0;
    assert!(matches!(run(&ch, &frames).map_err(|r| r.detail), Err(RejectionDetail::TrackBroken { frame: 2, .. })));
}

#[test]
fn a_repeated_still_and_a_replayed_upload_are_duplicates() {
    let ch = challenge(&[OpenMouth, TurnLeft]);
    let mut frames = genuine();
    frames[1].faces[0] = frames[0].faces[0].clone();
    frames[1].faces[0].analysis.detection.bbox.x += 2.0;
    assert_eq!(run(&ch, &frames).map_err(|r| r.reason), Err(ReasonCode::FramesDuplicated));
    // Same thumbnail (a warped still), landmarks moved only by the warp → still duplicate.
    let mut frames = genuine();
    let mut warped = frames[0].faces[0].clone();
    for p in warped.analysis.landmarks.points.iter_mut() {
        *p = (p.0 * 1.02 + 3.0, p.1 * 1.02 - 2.0);
    }
    warped.analysis.signals.mouth_aspect_ratio = 0.6;
    frames[1].faces[0] = warped;
    assert!(matches!(
        run(&ch, &frames).map_err(|r| r.detail),
        Err(RejectionDetail::DuplicateFrames { first: 0, second: 1, .. })
    ));

    let store = MemoryReplayStore::default();
    let frames = genuine();
    let go = |nonce: &str, ch: &LivenessChallenge| {
        evaluate(
            IssuedChallenge { challenge: ch, issued_at_ms: T0 - 1000 },
            Upload { nonce, frames: &frames, received_at_ms: T0 + 5000 },
            &store,
            &LivenessConfig::default(),
        )
    };
    assert!(go("n1", &ch).is_ok());
    assert_eq!(go("n1", &ch).map_err(|r| r.detail), Err(RejectionDetail::NonceReused));
    let mut fresh = ch.clone();
    fresh.nonce = "n2".into();
    assert_eq!(go("n2", &fresh).map_err(|r| r.detail), Err(RejectionDetail::FramesReplayed));
    assert_eq!(go("n3", &fresh).map_err(|r| r.detail), Err(RejectionDetail::NonceMismatch));
}

#[test]
fn the_passive_score_rejects_only_when_configured() {
    let mut frames = genuine();
    for f in &mut frames {
        if let Some(e) = f.faces[0].evidence.as_mut() {
            e.passive = Some(crate::PassiveScores { antispoof: 0.1, liveness: 0.5 });
        }
    }
    let ch = challenge(&[OpenMouth, TurnLeft]);
    assert!(run(&ch, &frames).is_ok());
    let store = MemoryReplayStore::default();
    let cfg = LivenessConfig { antispoof_min: Some(0.5), ..LivenessConfig::default() };
    let r = evaluate(
        IssuedChallenge { challenge: &ch, issued_at_ms: T0 - 1000 },
        Upload { nonce: "n1", frames: &frames, received_at_ms: T0 + 5000 },
        &store,
        &cfg,
    )
    .expect_err("low passive score");
    assert_eq!(r.reason, ReasonCode::PresentationAttack);
}
