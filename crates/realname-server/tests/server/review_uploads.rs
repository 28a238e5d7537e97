//! Regression tests of the security review (issue 14) for capture uploads: the metadata part
//! is checked before any frame is read (finding 9), concurrent uploads are capped, and parallel
//! captures over several sessions stay under the daily face-failure lockout (finding 10). Each
//! failed on the code before its fix.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use futures::StreamExt as _;
use realname_protocol::ErrorCode;
use tower::ServiceExt as _;

use super::support::{TestApp, id_number};

// ---- finding 9: capture metadata checked before the frames are read; concurrent uploads ----

const BOUNDARY: &str = "review-boundary-7f3a";

/// A capture body produced lazily: the metadata part, then a frame part of `frame_chunks`
/// chunks of 64 KiB; `pulled` counts the chunks the server read.
fn counting_capture_body(
    nonce: &str,
    frame_chunks: usize,
    pulled: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> Body {
    let meta = serde_json::json!({ "nonce": nonce, "frames": [{ "part": "frame0", "captured_at_ms": 1 }] });
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n{meta}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"frame0\"; filename=\"f.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
    );
    let chunks = std::iter::once(bytes::Bytes::from(head))
        .chain((0..frame_chunks).map(|_| bytes::Bytes::from(vec![0xAB; 64 * 1024])));
    // Each chunk arrives after a pause (as from a network): a reader that wants the next one
    // has to wait for it, so what was pulled is what the server asked for.
    let stream = futures::stream::iter(chunks).then(move |c| {
        let pulled = pulled.clone();
        async move {
            tokio::task::yield_now().await;
            pulled.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, std::io::Error>(c)
        }
    });
    Body::from_stream(stream)
}

fn capture_request(token: &str, session: &str, body: Body) -> Request<Body> {
    Request::post(format!("/api/v1/companion/sessions/{session}/capture"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(body)
        .expect("request")
}

#[tokio::test]
async fn a_capture_for_another_devices_session_is_refused_before_its_frames_are_read() {
    let app = TestApp::new().await;
    let (_owner, claim) = app.ready_session("张三", "owner@example.com", "11010519900307123").await;
    let (_pc, stranger) = app.account("stranger@example.com").await;
    let pulled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // 40 MiB of frame, more than the body limit: refused for ownership, nearly nothing read.
    let body = counting_capture_body(&claim.challenge.nonce, 640, pulled.clone());
    let resp = app.send(capture_request(stranger.token.as_deref().expect("token"), &claim.session_id, body)).await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND, "{}", resp.text());
    assert_eq!(resp.error().code, ErrorCode::NotFound);
    let read = pulled.load(std::sync::atomic::Ordering::SeqCst);
    assert!(read < 20, "{read} chunks of 64 KiB read for a session that is not the device's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uploads_per_device_are_capped() {
    let app = TestApp::new().await;
    let (owner, claim) = app.ready_session("张三", "uploads@example.com", "11010519900307123").await;
    let token = owner.token.clone().expect("token");
    // Two uploads that stall in the middle of their frame (the sender keeps them open).
    let mut senders = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let (tx, rx) = futures::channel::mpsc::unbounded::<Result<bytes::Bytes, std::io::Error>>();
        let meta = serde_json::json!({ "nonce": claim.challenge.nonce, "frames": [{ "part": "frame0", "captured_at_ms": 1 }] });
        let head = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n{meta}\r\n\
             --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"frame0\"; filename=\"f.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
        );
        tx.unbounded_send(Ok(bytes::Bytes::from(head))).expect("send");
        senders.push(tx);
        let router = app.router.clone();
        let req = capture_request(&token, &claim.session_id, Body::from_stream(rx));
        tasks.push(tokio::spawn(async move { router.oneshot(req).await.expect("infallible").status() }));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.state.uploads.in_flight() < 2 {
        assert!(std::time::Instant::now() < deadline, "the two uploads never started");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let pulled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let third = app
        .send(capture_request(&token, &claim.session_id, counting_capture_body(&claim.challenge.nonce, 1, pulled)))
        .await;
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS, "{}", third.text());
    assert_eq!(third.error().code, ErrorCode::RateLimited);
    drop(senders);
    for t in tasks {
        let _ = t.await.expect("task");
    }
    assert_eq!(app.state.uploads.in_flight(), 0, "places are given back");
}

// ---- finding 10: parallel captures stay under the daily face-failure lockout ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_failing_captures_over_several_sessions_stay_under_the_lockout() {
    let app = TestApp::with_config(|c| {
        c.limits.failures_per_account_per_day = 2;
        c.limits.failures_per_id_per_day = 2;
    })
    .await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut pc, phone) = app.account("parallel@example.com").await;
    let mut claims = Vec::new();
    for _ in 0..6 {
        let (_session, handle) = pc.start_verification("张三", &id).await;
        let claim = phone.claim(&handle).await;
        phone.confirm(&claim.session_id).await;
        claims.push(claim);
    }
    // Person 2 is not the holder: every capture that is decided fails.
    let results = futures::future::join_all(claims.iter().map(|c| phone.perform(&c.session_id, c, 2))).await;
    let decided = results.iter().filter(|r| r.is_ok()).count();
    let account = app.state.store.account_by_email("parallel@example.com").await.expect("db").expect("account");
    let failures = app.state.store.failures_of_account(&account.id, 0).await.expect("db").len();
    assert!(failures <= 2, "{failures} failures recorded for a lockout of 2 ({decided} decided): {results:?}");
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(matches!(r.code, ErrorCode::RateLimited | ErrorCode::LockedOut), "{r:?}");
    }
    // And the account is now locked.
    let form = pc.submit_identity("张三", &id).await;
    assert_eq!(
        form.page_error_code().as_deref(),
        Some("locked_out"),
        "{failures} failures recorded, {decided} decided: {results:?}"
    );
}
