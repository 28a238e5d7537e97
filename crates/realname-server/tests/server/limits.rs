//! Attempts per session, failures per account and per ID number per day, lockouts with an end.

use axum::http::StatusCode;
use realname_protocol::ErrorCode;
use realname_protocol::api::{Outcome, ReasonCode};

use super::support::{TestApp, assert_code, id_number};

#[tokio::test]
async fn attempts_decrement_then_the_session_fails_with_the_seed_message() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut pc, phone) = app.account("tries@example.com").await;
    let (session, handle) = pc.start_verification("张三", &id).await;
    let mut events = pc.events(&session).await;
    assert_eq!(events.next_state().await["state"], "waiting");
    let claim = phone.claim(&handle).await;
    phone.confirm(&claim.session_id).await;
    assert_eq!(events.next_state().await["state"], "scanned");
    assert_eq!(events.next_state().await["state"], "in_progress");

    let (mut actions, mut nonce) = (claim.challenge.actions.clone(), claim.challenge.nonce.clone());
    for expected_left in [2u32, 1, 0] {
        // Person 2 is not the ID holder (person 1).
        let d = phone.perform_challenge(&claim.session_id, &actions, &nonce, 2).await.expect("decision");
        assert_eq!(d.reason, Some(ReasonCode::FaceMismatch));
        assert!(d.message.contains("the ID number must belong to the person doing the face scan"), "{}", d.message);
        assert_eq!(d.attempts_left, expected_left);
        let ev = events.next_state().await;
        assert_eq!(ev["attempts_left"], expected_left);
        if expected_left == 0 {
            assert_eq!(d.outcome, Outcome::Failed);
            assert!(d.challenge.is_none());
            assert_eq!(ev["state"], "failed");
            assert_eq!(ev["reason"], "face_mismatch");
        } else {
            assert_eq!(d.outcome, Outcome::Retry);
            assert_eq!(ev["state"], "in_progress");
            let c = d.challenge.expect("challenge");
            (actions, nonce) = (c.actions, c.nonce);
        }
    }
    assert_code(phone.perform_challenge(&claim.session_id, &actions, &nonce, 1).await, ErrorCode::AttemptsExhausted);
    let page = pc.get(&format!("/verify/sessions/{session}")).await.text();
    assert!(page.contains("retry-form"), "the page offers to try again");
}

#[tokio::test]
async fn too_many_failures_lock_the_account_until_a_stated_time() {
    let app = TestApp::with_config(|c| {
        c.limits.failures_per_account_per_day = 2;
        c.limits.attempts_per_session = 5;
        c.limits.web_session_ttl_secs = 7 * 24 * 3600;
    })
    .await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut pc, phone) = app.account("lock@example.com").await;
    let (_session, handle) = pc.start_verification("张三", &id).await;
    let claim = phone.claim(&handle).await;
    phone.confirm(&claim.session_id).await;
    let d = phone.perform(&claim.session_id, &claim, 2).await.expect("decision");
    let c = d.challenge.expect("challenge");
    let d2 = phone.perform_challenge(&claim.session_id, &c.actions, &c.nonce, 2).await.expect("decision");
    let c = d2.challenge.expect("challenge");
    // Two failures today: locked.
    let locked = phone.perform_challenge(&claim.session_id, &c.actions, &c.nonce, 1).await;
    let e = assert_code(locked, ErrorCode::LockedOut);
    assert!(e.message.contains("locked until") && e.message.contains("UTC"), "{}", e.message);
    let form = pc.submit_identity("张三", &id).await;
    assert_eq!(form.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(form.page_error_code().as_deref(), Some("locked_out"));
    // A day later the lock is over.
    app.clock.advance(24 * 3600 + 1);
    let again = pc.submit_identity("张三", &id).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.text());
}

#[tokio::test]
async fn only_face_failures_lock_an_id_number_for_every_account() {
    let app = TestApp::with_config(|c| {
        c.limits.failures_per_id_per_day = 2;
    })
    .await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    // Strangers mistype the holder's name from throwaway accounts (issue 14, finding 5): that
    // needs no face, so it counts against their accounts only and locks nobody else out.
    for email in ["m1@example.com", "m2@example.com", "m3@example.com"] {
        let (mut pc, _d) = app.account(email).await;
        let r = pc.submit_identity("李四", &id).await;
        assert_eq!(r.page_error_code().as_deref(), Some("identity_mismatch"));
    }
    let (mut holder, _d) = app.account("holder@example.com").await;
    let r = holder.submit_identity("张三", &id).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "the holder is not locked out: {:?}", r.page_error_code());

    // Failed face decisions do lock the number, whichever account made them.
    for email in ["f1@example.com", "f2@example.com"] {
        let (mut pc, phone) = app.account(email).await;
        let (_session, handle) = pc.start_verification("张三", &id).await;
        let claim = phone.claim(&handle).await;
        phone.confirm(&claim.session_id).await;
        let d = phone.perform(&claim.session_id, &claim, 2).await.expect("decision");
        assert_eq!(d.reason, Some(ReasonCode::FaceMismatch));
    }
    let (mut pc, _d) = app.account("m4@example.com").await;
    let r = pc.submit_identity("张三", &id).await;
    assert_eq!(r.page_error_code().as_deref(), Some("locked_out"));
}
