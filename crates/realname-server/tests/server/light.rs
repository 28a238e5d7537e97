//! The light step on the server (issue 15): with `face.light_check` on, every challenge (at the
//! claim and on every retry) carries a fresh light sequence bound to its nonce, the upload limits
//! make room for the light step's frames, a capture without the paint report or without a
//! reflection is refused with a `light_*` reason, and malformed light parts of an upload are
//! refused before any frame is read. Whether a rendered genuine response passes runs through the
//! real face engine in the end-to-end tests; here the scripted analyzer shows no reflection.

use realname_protocol::ErrorCode;
use realname_protocol::api::{ClaimResponse, Decision, LivenessAction, Outcome, ReasonCode};
use realname_protocol::error::ApiError;
use realname_server::face::ScriptedFrame;
use serde_json::{Value, json};

use super::support::{Device, TestApp};

async fn light_app() -> TestApp {
    TestApp::with_config(|c| c.face.light_check = true).await
}

/// Uploads the scripted person 1 doing `claim`'s actions, with `light` frames of the same
/// person marked as filmed during the light step, and the metadata's `light` set to `report`.
async fn capture(
    phone: &Device<'_>,
    claim: &ClaimResponse,
    light_frames: usize,
    report: Option<Value>,
) -> Result<Decision, ApiError> {
    let mut frames: Vec<(Option<LivenessAction>, bool, Vec<u8>)> = Vec::new();
    for _ in 0..light_frames {
        frames.push((None, true, ScriptedFrame::neutral(1).to_png()));
    }
    frames.push((None, false, ScriptedFrame::neutral(1).to_png()));
    for a in &claim.challenge.actions {
        frames.push((Some(*a), false, ScriptedFrame::doing(1, *a).to_png()));
    }
    let end_ms = phone.app.clock_ms();
    let n = frames.len() as i64;
    let mut meta = json!({
        "nonce": claim.challenge.nonce,
        "frames": frames.iter().enumerate().map(|(i, (a, lit, _))| json!({
            "part": format!("frame{i}"), "action": a, "captured_at_ms": end_ms - (n - i as i64) * 100, "light": lit,
        })).collect::<Vec<_>>(),
    });
    if let Some(report) = report {
        meta["light"] = report;
    }
    let parts: Vec<&[u8]> = frames.iter().map(|(_, _, bytes)| bytes.as_slice()).collect();
    phone.try_capture_with(&claim.session_id, &meta, &parts).await
}

/// A paint report that fits `claim`'s sequence: one paint time per field, in order.
fn report_for(claim: &ClaimResponse, end_ms: i64) -> Value {
    let sequence = claim.challenge.light.as_ref().expect("a light sequence");
    let fields = sequence.fields();
    let mut t = end_ms - i64::from(sequence.total_ms()) - 500;
    let mut shown = Vec::new();
    for (_, ms) in &fields {
        shown.push(t);
        t += i64::from(*ms);
    }
    json!({ "nonce": sequence.nonce, "shown_at_ms": shown, "ended_at_ms": t })
}

#[tokio::test]
async fn every_challenge_carries_its_own_light_sequence_and_the_limits_make_room_for_it() {
    let app = light_app().await;
    let (_phone, a) = app.ready_session("张三", "light-a@example.com", "11010519900307123").await;
    let (_phone2, b) = app.ready_session("李四", "light-b@example.com", "11010519900307131").await;
    let (sa, sb) = (a.challenge.light.as_ref().expect("light"), b.challenge.light.as_ref().expect("light"));
    assert_eq!(sa.nonce, a.challenge.nonce, "the sequence is bound to its challenge's nonce");
    assert!(sa.violations().is_empty(), "{:?}", sa.violations());
    assert_ne!(sa.signature(), sb.signature(), "two challenges, two sequences");
    let face = &app.state.config.face;
    assert_eq!(a.upload_limits.max_frames, face.max_frames + face.max_light_frames);

    // Off (the default): no sequence, today's limits.
    let plain = TestApp::new().await;
    let (_phone, c) = plain.ready_session("王五", "plain@example.com", "11010519900307140").await;
    assert!(c.challenge.light.is_none());
    assert_eq!(c.upload_limits.max_frames, plain.state.config.face.max_frames);
}

#[tokio::test]
async fn a_capture_without_the_paint_report_or_without_a_reflection_fails_with_a_light_reason() {
    let app = light_app().await;
    let (phone, claim) = app.ready_session("张三", "light-c@example.com", "11010519900307123").await;
    // The actions and the face are right (scripted person 1); the paint report is missing.
    let d = capture(&phone, &claim, 8, None).await.expect("decided");
    assert_eq!((d.outcome, d.reason), (Outcome::Retry, Some(ReasonCode::LightOutOfStep)), "{}", d.message);
    let retry = d.challenge.expect("a new challenge");
    let next_light = retry.light.as_ref().expect("the retry's challenge has a sequence too");
    assert_eq!(next_light.nonce, retry.nonce);
    assert_ne!(next_light.signature(), claim.challenge.light.as_ref().expect("light").signature());

    // A well-formed report, but the lit frames show no reflection (the scripted frames do not
    // change with the screen): refused, never passed.
    let claim = ClaimResponse { challenge: retry, ..claim };
    let report = report_for(&claim, app.clock_ms() - 1_000);
    let d = capture(&phone, &claim, 8, Some(report)).await.expect("decided");
    assert_ne!(d.outcome, Outcome::Passed);
    assert!(
        matches!(
            d.reason,
            Some(ReasonCode::LightNotReflected | ReasonCode::LightOutOfStep | ReasonCode::TooBrightForLightCheck)
        ),
        "{:?}: {}",
        d.reason,
        d.message
    );
}

#[tokio::test]
async fn malformed_light_parts_are_refused_before_the_frames_are_read() {
    // Light frames or a report for a challenge without a light step.
    let plain = TestApp::new().await;
    let (phone, claim) = plain.ready_session("张三", "plain-l@example.com", "11010519900307123").await;
    let e = capture(&phone, &claim, 2, None).await.expect_err("refused");
    assert_eq!(e.code, ErrorCode::MetadataInvalid);

    let app = light_app().await;
    let (phone, claim) = app.ready_session("李四", "light-m@example.com", "11010519900307131").await;
    let good = report_for(&claim, app.clock_ms() - 1_000);
    let mut other_nonce = good.clone();
    other_nonce["nonce"] = json!("another-sequence");
    let mut short = good.clone();
    short["shown_at_ms"].as_array_mut().expect("times").pop();
    let mut backwards = good.clone();
    backwards["shown_at_ms"].as_array_mut().expect("times").reverse();
    for (what, report) in [("nonce", other_nonce), ("count", short), ("order", backwards)] {
        let e = capture(&phone, &claim, 4, Some(report)).await.expect_err(what);
        assert_eq!(e.code, ErrorCode::MetadataInvalid, "{what}: {}", e.message);
    }
    // More light frames than the limit.
    let too_many = app.state.config.face.max_light_frames as usize + 1;
    let e = capture(&phone, &claim, too_many, Some(good)).await.expect_err("too many");
    assert_eq!(e.code, ErrorCode::FrameCountInvalid);
}
