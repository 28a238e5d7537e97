//! The companion API: binding rules (personal devices of the same account only, kiosk
//! stations with the PC's code), expiry, nonce and upload checks.

use axum::http::StatusCode;
use realname_protocol::ErrorCode;
use realname_protocol::api::{LivenessAction, Outcome, SessionState};
use realname_server::face::ScriptedFrame;

use super::support::{TestApp, assert_code, id_number};

#[tokio::test]
async fn a_device_of_another_account_cannot_claim() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut victim_pc, _victim_phone) = app.account("victim@example.com").await;
    let (_attacker_pc, attacker_phone) = app.account("attacker@example.com").await;
    let (session, handle) = victim_pc.start_verification("张三", &id).await;

    let refused = assert_code(attacker_phone.try_claim(&handle).await, ErrorCode::SessionWrongAccount);
    assert!(!refused.message.is_empty());
    assert_eq!(victim_pc.status(&session).await["state"], "waiting", "the refused claim changed nothing");

    let unauthenticated = app.device("anon");
    assert_code(unauthenticated.try_claim(&handle).await, ErrorCode::Unauthorized);
    let garbage = _victim_phone.try_claim("not-a-handle").await;
    assert_code(garbage, ErrorCode::HandleUnknown);
}

#[tokio::test]
async fn only_the_claiming_device_drives_the_session() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut pc, phone) = app.account("drive@example.com").await;
    let mut second_phone = app.device("second phone");
    second_phone.login("drive@example.com", "correct horse battery").await;
    let (_session, handle) = pc.start_verification("张三", &id).await;
    let claim = phone.claim(&handle).await;
    assert_code(second_phone.try_confirm(&claim.session_id, None).await, ErrorCode::NotFound);
    let resp = second_phone.get(&format!("/companion/sessions/{}", claim.session_id)).await;
    assert_eq!(resp.error().code, ErrorCode::NotFound);

    // Capture before confirming is refused; consent is required.
    assert_code(phone.perform(&claim.session_id, &claim, 1).await, ErrorCode::SessionState);
    let no_consent = phone.post_json(&format!("/companion/sessions/{}/confirm", claim.session_id), serde_json::json!({ "consent": false })).await;
    assert_eq!(no_consent.error().code, ErrorCode::ConsentRequired);
    phone.confirm(&claim.session_id).await;

    // Wrong nonce, bad frames and bad metadata are protocol errors that cost no attempt.
    assert_code(phone.perform_challenge(&claim.session_id, &claim.challenge.actions, "wrong", 1).await, ErrorCode::NonceInvalid);
    let bad = phone.try_capture(&claim.session_id, &claim.challenge.nonce, &[(None, b"not an image".to_vec())]).await;
    assert_code(bad, ErrorCode::ImageInvalid);
    assert_code(phone.try_capture(&claim.session_id, &claim.challenge.nonce, &[]).await, ErrorCode::FrameCountInvalid);
    let status = phone.get(&format!("/companion/sessions/{}", claim.session_id)).await.json();
    assert_eq!(status["state"], "in_progress");
    assert_eq!(status["attempts_left"], 3);
}

#[tokio::test]
async fn a_kiosk_station_needs_the_code_shown_on_the_pc() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (device, credential) = realname_server::api::register_station(&*app.state.store, "Lobby station 1", app.state.now())
        .await
        .expect("register");
    assert!(credential.starts_with("rn_st_"));
    let mut station = app.device("Lobby station 1");
    station.token = Some(credential);

    let (mut pc, _phone) = app.account("kiosk@example.com").await;
    let (session, handle) = pc.start_verification("张三", &id).await;
    let mut events = pc.events(&session).await;
    assert_eq!(events.next_state().await["state"], "waiting");
    let claim = station.claim(&handle).await;
    assert!(claim.context.requires_station_code);
    let scanned = events.next_state().await;
    assert_eq!(scanned["state"], "scanned");
    assert_eq!(scanned["device"], "Lobby station 1");
    let code = scanned["station_code"].as_str().expect("the PC shows the station code").to_owned();
    assert_eq!(code.len(), 6);
    assert_eq!(pc.status(&session).await["station_code"], code.as_str(), "also in the polling fallback");

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let e = assert_code(station.try_confirm(&claim.session_id, Some(wrong)).await, ErrorCode::StationCodeInvalid);
    assert_eq!(e.detail.as_deref(), Some("attempts_left=2"), "a wrong code costs an attempt");
    assert_code(station.try_confirm(&claim.session_id, None).await, ErrorCode::StationCodeInvalid);
    station.try_confirm(&claim.session_id, Some(&code)).await.expect("right code");
    // (two scanned-state updates were pushed for the wrong codes)
    loop {
        let ev = events.next_state().await;
        if ev["state"] == "in_progress" {
            break;
        }
    }
    let decision = station.perform(&claim.session_id, &claim, 1).await.expect("decision");
    assert_eq!(decision.outcome, Outcome::Passed);
    assert_eq!(events.next_state().await["state"], "passed");
    let me = station.get("/me").await;
    assert_eq!(me.error().code, ErrorCode::Forbidden, "stations have no account");
    assert_eq!(device.kind, "station");
}

#[tokio::test]
async fn an_expired_handle_cannot_be_claimed() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut pc, phone) = app.account("late@example.com").await;
    let (session, handle) = pc.start_verification("张三", &id).await;
    let mut events = pc.events(&session).await;
    assert_eq!(events.next_state().await["state"], "waiting");
    app.clock.advance(121);
    assert_code(phone.try_claim(&handle).await, ErrorCode::HandleExpired);
    assert_eq!(events.next_state().await["state"], "expired");
    let status = pc.status(&session).await;
    assert_eq!(status["state"], "expired");
    // The page offers a fresh session without retyping.
    let retry = pc.submit(&format!("/verify/sessions/{session}"), &format!("/verify/sessions/{session}/retry"), &[]).await;
    assert_eq!(retry.status, StatusCode::SEE_OTHER);
    let new_session = retry.location().expect("location").trim_start_matches("/verify/sessions/").to_owned();
    let handle = pc.qr_handle(&new_session).await;
    phone.claim(&handle).await;
}

#[tokio::test]
async fn the_challenge_deadline_ends_the_capture() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut pc, phone) = app.account("slow@example.com").await;
    let (_session, handle) = pc.start_verification("张三", &id).await;
    let claim = phone.claim(&handle).await;
    phone.confirm(&claim.session_id).await;
    app.clock.advance(181);
    let r = phone.perform(&claim.session_id, &claim, 1).await;
    assert!(matches!(r, Err(ref e) if e.code == ErrorCode::SessionExpired || e.code == ErrorCode::ChallengeExpired), "{r:?}");
    let status = phone.get(&format!("/companion/sessions/{}", claim.session_id)).await.json();
    assert_eq!(status["state"], "expired");
}

#[tokio::test]
async fn liveness_and_frame_rules_are_decided_by_the_server() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut pc, phone) = app.account("live@example.com").await;
    let (_session, handle) = pc.start_verification("张三", &id).await;
    let claim = phone.claim(&handle).await;
    phone.confirm(&claim.session_id).await;

    // Frames tagged "blink" that show open eyes: the action was not seen.
    let frames = vec![
        (None, ScriptedFrame::neutral(1).to_png()),
        (Some(LivenessAction::Blink), ScriptedFrame::neutral(1).to_png()),
        (Some(LivenessAction::TurnLeft), ScriptedFrame::doing(1, LivenessAction::TurnLeft).to_png()),
    ];
    let d1 = phone.try_capture(&claim.session_id, &claim.challenge.nonce, &frames).await.expect("decision");
    assert_eq!(d1.outcome, Outcome::Retry);
    assert_eq!(d1.reason, Some(realname_protocol::api::ReasonCode::ActionNotSeen));
    assert_eq!(d1.action, Some(LivenessAction::Blink));
    assert_eq!(d1.attempts_left, 2);
    let next = d1.challenge.expect("a fresh challenge on retry");
    assert_ne!(next.nonce, claim.challenge.nonce);
    // The old nonce is spent.
    assert_code(phone.perform(&claim.session_id, &claim, 1).await, ErrorCode::NonceInvalid);

    // Two faces in a frame.
    let two = vec![(None, ScriptedFrame { person: 1, action: None, faces: 2 }.to_png())];
    let d2 = phone.try_capture(&claim.session_id, &next.nonce, &two).await.expect("decision");
    assert_eq!(d2.reason, Some(realname_protocol::api::ReasonCode::MultipleFaces));
    let last = d2.challenge.expect("challenge");
    let d3 = phone.perform_challenge(&claim.session_id, &last.actions, &last.nonce, 1).await.expect("decision");
    assert_eq!(d3.outcome, Outcome::Passed);
    let status: realname_protocol::api::SessionStatus =
        serde_json::from_slice(&phone.get(&format!("/companion/sessions/{}", claim.session_id)).await.body).expect("status");
    assert_eq!(status.state, SessionState::Passed);
}
