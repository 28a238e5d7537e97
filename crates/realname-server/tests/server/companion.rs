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
    let no_consent = phone
        .post_json(
            &format!("/companion/sessions/{}/confirm", claim.session_id),
            serde_json::json!({ "consent": false }),
        )
        .await;
    assert_eq!(no_consent.error().code, ErrorCode::ConsentRequired);
    phone.confirm(&claim.session_id).await;

    // Wrong nonce, bad frames and bad metadata are protocol errors that cost no attempt.
    assert_code(
        phone.perform_challenge(&claim.session_id, &claim.challenge.actions, "wrong", 1).await,
        ErrorCode::NonceInvalid,
    );
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
    let (device, credential) =
        realname_server::api::register_station(&*app.state.store, "Lobby station 1", app.state.now())
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
    let retry =
        pc.submit(&format!("/verify/sessions/{session}"), &format!("/verify/sessions/{session}/retry"), &[]).await;
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
    assert!(
        matches!(r, Err(ref e) if e.code == ErrorCode::SessionExpired || e.code == ErrorCode::ChallengeExpired),
        "{r:?}"
    );
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
        serde_json::from_slice(&phone.get(&format!("/companion/sessions/{}", claim.session_id)).await.body)
            .expect("status");
    assert_eq!(status.state, SessionState::Passed);
}

/// A claimed, confirmed session of a fresh account for the scripted person 1.
async fn ready_session<'a>(
    app: &'a TestApp,
    email: &str,
    id17: &str,
) -> (super::support::Device<'a>, realname_protocol::api::ClaimResponse) {
    app.ready_session("张三", email, id17).await
}

#[tokio::test]
async fn each_liveness_rejection_has_its_reason_code() {
    use LivenessAction::{Blink, TurnLeft};
    use realname_protocol::api::ReasonCode;
    let app = TestApp::new().await; // pinned challenge: blink, turn_left
    let (phone, claim) = ready_session(&app, "codes@example.com", "11010519900307123").await;
    let sid = claim.session_id.clone();
    let doing = |a| ScriptedFrame::doing(1, a).to_png();

    // Performed and tagged in the reverse order.
    let reversed = vec![
        (None, ScriptedFrame::neutral(1).to_png()),
        (Some(TurnLeft), doing(TurnLeft)),
        (Some(Blink), doing(Blink)),
    ];
    let d = phone.try_capture(&sid, &claim.challenge.nonce, &reversed).await.expect("decision");
    assert_eq!((d.outcome, d.reason), (Outcome::Retry, Some(ReasonCode::ActionOrder)), "{d:?}");
    let next = d.challenge.expect("fresh challenge");

    // The same image twice in one upload (a repeated still).
    let still = ScriptedFrame::neutral(1).to_png();
    let repeated = vec![
        (None, ScriptedFrame::neutral(1).to_png()),
        (Some(Blink), doing(Blink)),
        (Some(Blink), doing(Blink)),
        (Some(TurnLeft), still.clone()),
        (Some(TurnLeft), still),
    ];
    let d = phone.try_capture(&sid, &next.nonce, &repeated).await.expect("decision");
    assert_eq!((d.outcome, d.reason), (Outcome::Retry, Some(ReasonCode::FramesDuplicated)), "{d:?}");
    let next = d.challenge.expect("fresh challenge");

    // Capture times from an hour before the challenge.
    let frames = vec![
        (None, ScriptedFrame::neutral(1).to_png()),
        (Some(Blink), doing(Blink)),
        (Some(TurnLeft), doing(TurnLeft)),
    ];
    let old = app.clock_ms() - 3_600_000;
    let d = phone.try_capture_at(&sid, &next.nonce, &frames, &[old, old + 100, old + 200]).await.expect("decision");
    assert_eq!(
        (d.outcome, d.reason, d.attempts_left),
        (Outcome::Failed, Some(ReasonCode::TimestampsInvalid), 0),
        "{d:?}"
    );
}

#[tokio::test]
async fn an_upload_replayed_into_another_session_is_refused() {
    use realname_protocol::api::ReasonCode;
    let app = TestApp::new().await;
    let (phone, claim) = ready_session(&app, "first@example.com", "11010519900307123").await;
    let frames = vec![
        (None, ScriptedFrame::neutral(1).to_png()),
        (Some(LivenessAction::Blink), ScriptedFrame::doing(1, LivenessAction::Blink).to_png()),
        (Some(LivenessAction::TurnLeft), ScriptedFrame::doing(1, LivenessAction::TurnLeft).to_png()),
    ];
    let d = phone.try_capture(&claim.session_id, &claim.challenge.nonce, &frames).await.expect("decision");
    assert_eq!(d.outcome, Outcome::Passed, "{d:?}");
    // The intercepted upload, submitted by another account for the same person's ID: same
    // frames, fresh nonce.
    let (phone2, claim2) = ready_session(&app, "second@example.com", "31010119851120456").await;
    let d2 = phone2.try_capture(&claim2.session_id, &claim2.challenge.nonce, &frames).await.expect("decision");
    assert_eq!((d2.outcome, d2.reason), (Outcome::Retry, Some(ReasonCode::ChallengeReplayed)), "{d2:?}");
    // Fresh frames of the same person pass the new challenge.
    let next = d2.challenge.expect("fresh challenge");
    let d3 = phone2.perform_challenge(&claim2.session_id, &next.actions, &next.nonce, 1).await.expect("decision");
    assert_eq!(d3.reason, None, "{d3:?}");
}

#[tokio::test]
async fn the_replay_store_spends_nonces_and_remembers_frames() {
    let app = TestApp::new().await;
    let store = &app.state.store;
    assert!(store.claim_nonce("n-1", 10).await.expect("db"));
    assert!(!store.claim_nonce("n-1", 11).await.expect("db"), "a nonce is single-use");
    assert!(store.claim_nonce("n-2", 12).await.expect("db"));
    // Full 64-bit range, duplicates inside one upload are one print.
    assert!(store.claim_frame_prints(&[1, u64::MAX, u64::MAX, 1 << 63], 10).await.expect("db"));
    assert!(!store.claim_frame_prints(&[7, u64::MAX], 11).await.expect("db"), "a print seen before");
    assert!(!store.claim_frame_prints(&[7], 12).await.expect("db"), "recorded even when refused");
    assert!(store.claim_frame_prints(&[8, 9], 13).await.expect("db"));
}

#[tokio::test]
async fn challenges_have_min_to_max_distinct_actions() {
    let app = TestApp::with_config(|c| {
        c.test.fixed_challenge = None;
        c.face.min_actions = 2;
        c.face.max_actions = 3;
    })
    .await;
    let mut sizes = std::collections::BTreeSet::new();
    for i in 0..12u32 {
        let (_phone, claim) =
            ready_session(&app, &format!("c{i}@example.com"), &format!("110105199003{:05}", 7000 + i)).await;
        let a = &claim.challenge.actions;
        sizes.insert(a.len());
        let distinct: std::collections::BTreeSet<_> = a.iter().map(|x| x.as_str()).collect();
        assert_eq!(distinct.len(), a.len(), "{a:?}");
        assert!(!(a.contains(&LivenessAction::TurnLeft) && a.contains(&LivenessAction::TurnRight)), "{a:?}");
        assert!(!a.contains(&LivenessAction::Nod), "{a:?}");
    }
    assert!(sizes.iter().all(|n| (2..=3).contains(n)), "{sizes:?}");
}

/// A capture refused before its body is read closes its connection after the answer, so the
/// client does not reuse a connection the server drops for the unread body (under load the next
/// request on it failed with "broken pipe"). A decided capture keeps the connection.
#[tokio::test]
async fn a_refused_upload_closes_its_connection() {
    use axum::body::Body;
    use axum::http::{Method, header};

    let app = TestApp::new().await;
    let (phone, claim) = ready_session(&app, "close@example.com", "11010519900307123").await;
    let req = phone
        .req(Method::POST, &format!("/companion/sessions/{}/capture", claim.session_id))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .expect("request");
    let refused = app.send(req).await;
    assert_eq!(refused.error().code, ErrorCode::UnsupportedMediaType);
    assert_eq!(refused.headers.get(header::CONNECTION).map(|v| v.as_bytes()), Some(&b"close"[..]));
    let decided = phone.perform(&claim.session_id, &claim, 1).await.expect("decided");
    assert_eq!(decided.outcome, Outcome::Passed);
}
