//! The QR page, the QR image, handle rotation, server push (SSE) and the polling fallback.

use axum::http::StatusCode;
use realname_protocol::ErrorCode;
use realname_protocol::api::LivenessAction;

use super::support::{TestApp, assert_code, attr_after, id_number};

#[tokio::test]
async fn the_qr_page_shows_a_fresh_single_handle_with_a_png() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut b, _d) = app.account("qr@example.com").await;
    let (session, handle) = b.start_verification("张三", &id).await;
    assert_eq!(handle.len(), 32, "24 random bytes, base64url");

    let page = b.get(&format!("/verify/sessions/{session}")).await.text();
    assert!(page.contains("*三") && page.contains("1****************"), "masked subject only");
    assert!(!page.contains(&id), "the full ID number never reaches the page");
    let src = attr_after(&page, "<img id=\"qr\" src=\"").expect("QR image").replace("&amp;", "&");
    let png = b.get(&src).await;
    assert_eq!(png.status, StatusCode::OK);
    assert_eq!(png.headers.get("content-type").and_then(|v| v.to_str().ok()), Some("image/png"));
    assert_eq!(&png.body[..4], b"\x89PNG");

    // Reloading the page rotated the handle: the first one is dead.
    let d = app.device("stranger");
    let mut d = d;
    d.login("qr@example.com", "correct horse battery").await;
    assert_code(d.try_claim(&handle).await, ErrorCode::HandleUnknown);
    let old_png = b.get(&format!("/verify/sessions/{session}/qr.png?h={handle}")).await;
    assert_eq!(old_png.error().code, ErrorCode::HandleExpired);

    // The page's refresh call gives a new handle (CSRF header required).
    let refresh = b
        .app
        .send(
            b.request(axum::http::Method::POST, &format!("/verify/sessions/{session}/qr"))
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(refresh.error().code, ErrorCode::CsrfInvalid);
    let csrf = attr_after(&page, "data-csrf=\"").expect("csrf");
    let refresh = b
        .app
        .send(
            b.request(axum::http::Method::POST, &format!("/verify/sessions/{session}/qr"))
                .header("x-csrf-token", csrf)
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(refresh.status, StatusCode::OK, "{}", refresh.text());
    let payload = refresh.json()["qr_payload"].as_str().expect("payload").to_owned();
    let fresh = realname_protocol::QrPayload::parse(&payload).expect("payload");
    d.claim(fresh.handle().as_str()).await;
}

#[tokio::test]
async fn another_browser_cannot_see_the_session() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut b, _d) = app.account("owner@example.com").await;
    let (session, _handle) = b.start_verification("张三", &id).await;
    let (mut other, _d2) = app.account("other@example.com").await;
    assert_eq!(other.get(&format!("/verify/sessions/{session}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(other.get(&format!("/verify/sessions/{session}/status")).await.error().code, ErrorCode::NotFound);
    // Same account, other browser session: not its session either.
    let mut same_account = app.browser();
    let _ = same_account
        .submit("/signin", "/signin", &[("email", "owner@example.com"), ("password", "correct horse battery")])
        .await;
    assert_eq!(same_account.get(&format!("/verify/sessions/{session}/events")).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sse_pushes_every_state_change_until_passed() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut b, d) = app.account("sse@example.com").await;
    let (session, handle) = b.start_verification("张三", &id).await;
    let mut events = b.events(&session).await;
    let first = events.next_state().await;
    assert_eq!(first["state"], "waiting");
    assert_eq!(first["attempts_left"], 3);

    let claim = d.claim(&handle).await;
    let scanned = events.next_state().await;
    assert_eq!(scanned["state"], "scanned");
    assert_eq!(scanned["device"], "sse@example.com's phone");
    assert!(scanned.get("station_code").is_none(), "personal devices need no code");
    assert_eq!(
        claim.challenge.actions,
        [LivenessAction::Blink, LivenessAction::TurnLeft],
        "pinned by the test setting"
    );
    assert_eq!(claim.context.name, "*三");
    assert_eq!(claim.context.account, "s**@example.com");

    d.confirm(&claim.session_id).await;
    assert_eq!(events.next_state().await["state"], "in_progress");

    let decision = d.perform(&claim.session_id, &claim, 1).await.expect("decision");
    assert_eq!(decision.outcome, realname_protocol::api::Outcome::Passed);
    let passed = events.next_state().await;
    assert_eq!(passed["state"], "passed");
    assert!(events.ended().await, "the stream ends after a final state");
    assert_eq!(b.status(&session).await["state"], "passed");

    let details = b.get("/verify/details").await;
    assert_eq!(details.status, StatusCode::OK);
    let html = details.text();
    assert!(html.contains("data-field=\"name\">*三<"), "{html}");
    assert!(html.contains(&format!("data-field=\"id_number\">{}{}{}<", &id[..1], "*".repeat(16), &id[17..])));
    assert!(html.contains("人脸识别") && html.contains("UTC"));
    assert!(!html.contains(&id));
}

#[tokio::test]
async fn cancel_on_the_device_is_pushed_and_final() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut b, d) = app.account("cancel@example.com").await;
    let (session, handle) = b.start_verification("张三", &id).await;
    let mut events = b.events(&session).await;
    assert_eq!(events.next_state().await["state"], "waiting");
    let claim = d.claim(&handle).await;
    assert_eq!(events.next_state().await["state"], "scanned");
    let resp = d.post_json(&format!("/companion/sessions/{}/cancel", claim.session_id), serde_json::json!({})).await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(events.next_state().await["state"], "cancelled");
    assert_code(d.try_confirm(&claim.session_id, None).await, ErrorCode::SessionCancelled);
    // Try again without retyping: a new session for the same subject.
    let retry =
        b.submit(&format!("/verify/sessions/{session}"), &format!("/verify/sessions/{session}/retry"), &[]).await;
    assert_eq!(retry.status, StatusCode::SEE_OTHER, "{}", retry.text());
    assert_ne!(retry.location(), Some(format!("/verify/sessions/{session}")));
}
