//! Hostile input over HTTP: oversize, truncated, empty and non-image frames, too many parts,
//! malformed or huge JSON, wrong content types, invalid UTF-8. Each is answered with the right
//! 4xx and a stable `{code}`, costs no attempt, and the server stays healthy afterwards.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use realname_protocol::ErrorCode;
use realname_protocol::api::LivenessAction;
use realname_server::face::ScriptedFrame;

use super::support::{Device, TestApp, TestResponse, id_number};

const BOUNDARY: &str = "hostile-boundary-5Wq0Jx";

/// One multipart part: name, content type, bytes.
type Part = (String, &'static str, Vec<u8>);

fn multipart_body(parts: &[Part]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, content_type, bytes) in parts {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\nContent-Type: {content_type}\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn metadata(nonce: &str, frames: usize) -> Part {
    let frames: Vec<_> = (0..frames)
        .map(|i| serde_json::json!({ "part": format!("frame{i}"), "captured_at_ms": 1_700_000_000_000_i64 + i as i64 }))
        .collect();
    (
        "metadata".into(),
        "application/json",
        serde_json::json!({ "nonce": nonce, "frames": frames }).to_string().into_bytes(),
    )
}

fn frame(i: usize, bytes: Vec<u8>) -> Part {
    (format!("frame{i}"), "image/jpeg", bytes)
}

fn jpeg() -> Vec<u8> {
    let png = ScriptedFrame::doing(1, LivenessAction::Blink).to_png();
    let img = image::load_from_memory(&png).expect("decode png").to_rgb8();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80).encode_image(&img).expect("encode jpeg");
    out
}

/// A confirmed session ready for a capture: (device, session id, nonce).
async fn in_progress(app: &TestApp) -> (Device<'_>, String, String) {
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut pc, phone) = app.account("hostile@example.com").await;
    let (_session, handle) = pc.start_verification("张三", &id).await;
    let claim = phone.claim(&handle).await;
    phone.confirm(&claim.session_id).await;
    (phone, claim.session_id, claim.challenge.nonce)
}

async fn send_raw(
    app: &TestApp,
    device: &Device<'_>,
    method: Method,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> TestResponse {
    let mut req =
        Request::builder().method(method).uri(format!("/api/v1{path}")).header(header::CONTENT_TYPE, content_type);
    if let Some(t) = &device.token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    app.send(req.body(Body::from(body)).expect("request")).await
}

async fn capture(app: &TestApp, device: &Device<'_>, session: &str, parts: &[Part]) -> TestResponse {
    let path = format!("/companion/sessions/{session}/capture");
    send_raw(
        app,
        device,
        Method::POST,
        &path,
        &format!("multipart/form-data; boundary={BOUNDARY}"),
        multipart_body(parts),
    )
    .await
}

#[track_caller]
fn assert_refused(resp: &TestResponse, status: StatusCode, code: ErrorCode) {
    assert_eq!(resp.status, status, "{}", resp.text());
    let body: serde_json::Value =
        serde_json::from_slice(&resp.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", resp.text()));
    assert_eq!(body["code"], code.as_str(), "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

/// The session is untouched (no attempt spent) and the server answers health checks.
async fn still_healthy(app: &TestApp, device: &Device<'_>, session: &str) {
    let status = device.get(&format!("/companion/sessions/{session}")).await.json();
    assert_eq!(status["state"], "in_progress", "{status}");
    assert_eq!(status["attempts_left"], 3, "{status}");
    let health = app.send(Request::get("/healthz").body(Body::empty()).expect("request")).await;
    assert_eq!(health.status, StatusCode::OK);
}

#[tokio::test]
async fn hostile_frames_are_refused_with_stable_codes() {
    let app = TestApp::with_config(|c| {
        c.face.max_frame_bytes = 64 * 1024;
        c.face.max_frames = 4;
    })
    .await;
    let (phone, session, nonce) = in_progress(&app).await;
    let good = jpeg();
    assert!(good.starts_with(&[0xFF, 0xD8, 0xFF]) && good.len() > 400, "{} bytes", good.len());

    // A frame part over the per-frame limit.
    let big = capture(&app, &phone, &session, &[metadata(&nonce, 1), frame(0, vec![0xAB; 64 * 1024 + 1])]).await;
    assert_refused(&big, StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::ImageTooLarge);
    // A body over the whole capture limit (4 × 64 KiB + 256 KiB of overhead): the metadata
    // part comes first and is read within that limit too.
    let huge = [metadata(&"n".repeat(600 * 1024), 1), frame(0, good.clone())];
    let too_big = capture(&app, &phone, &session, &huge).await;
    assert_refused(&too_big, StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge);
    // A JPEG cut off half-way, and one cut off right after its header.
    for cut in [good.len() / 2, 200] {
        let truncated = capture(&app, &phone, &session, &[metadata(&nonce, 1), frame(0, good[..cut].to_vec())]).await;
        assert_refused(&truncated, StatusCode::BAD_REQUEST, ErrorCode::ImageInvalid);
    }
    // Bytes that are no image, or an image format the server does not take, labelled image/jpeg.
    let not_images: [&[u8]; 4] = [
        b"<html><body>not a jpeg</body></html>",
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        b"\xFF\xD8\xFF",
        &[0u8; 4096],
    ];
    for bytes in not_images {
        let resp = capture(&app, &phone, &session, &[metadata(&nonce, 1), frame(0, bytes.to_vec())]).await;
        assert_refused(&resp, StatusCode::BAD_REQUEST, ErrorCode::ImageInvalid);
    }
    // A zero-byte frame.
    let empty = capture(&app, &phone, &session, &[metadata(&nonce, 1), frame(0, Vec::new())]).await;
    assert_refused(&empty, StatusCode::BAD_REQUEST, ErrorCode::ImageInvalid);
    // A PNG whose header declares 100000 × 100000 pixels (a decompression bomb's header).
    let mut bomb = ScriptedFrame::neutral(1).to_png();
    bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let resp = capture(&app, &phone, &session, &[metadata(&nonce, 1), frame(0, bomb)]).await;
    assert_refused(&resp, StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::ImageTooLarge);
    // More frame parts than allowed, and more frames named in the metadata than allowed.
    let mut five: Vec<Part> = vec![metadata(&nonce, 5)];
    five.extend((0..5).map(|i| frame(i, good.clone())));
    assert_refused(
        &capture(&app, &phone, &session, &five).await,
        StatusCode::BAD_REQUEST,
        ErrorCode::FrameCountInvalid,
    );
    // No frames at all.
    assert_refused(
        &capture(&app, &phone, &session, &[metadata(&nonce, 0)]).await,
        StatusCode::BAD_REQUEST,
        ErrorCode::FrameCountInvalid,
    );
    still_healthy(&app, &phone, &session).await;

    // After all that, a genuine capture still gets a decision.
    let d = phone.perform_challenge(&session, &[LivenessAction::Blink, LivenessAction::TurnLeft], &nonce, 1).await;
    assert!(d.is_ok(), "{d:?}");
}

#[tokio::test]
async fn hostile_capture_metadata_is_refused_with_stable_codes() {
    let app = TestApp::new().await;
    let (phone, session, nonce) = in_progress(&app).await;
    let good = jpeg();
    let bad_metadata: [&[u8]; 7] = [
        b"{\"nonce\": \"abc\", \"frames\": [",
        b"not json at all",
        b"{\"nonce\": 5, \"frames\": []}",
        b"{\"frames\": [{\"part\": \"frame0\", \"captured_at_ms\": 1}]}",
        b"{\"nonce\": \"\xFF\xFE\", \"frames\": []}",
        b"{\"nonce\": \"n\", \"frames\": [{\"part\": \"frame0\", \"action\": \"dance\", \"captured_at_ms\": 1}]}",
        b"",
    ];
    for meta in bad_metadata {
        let parts = [("metadata".to_owned(), "application/json", meta.to_vec()), frame(0, good.clone())];
        let resp = capture(&app, &phone, &session, &parts).await;
        assert_refused(&resp, StatusCode::BAD_REQUEST, ErrorCode::MetadataInvalid);
    }
    // The metadata names a part that is not there; a part is not named; no metadata at all.
    let missing = capture(&app, &phone, &session, &[metadata(&nonce, 2), frame(0, good.clone())]).await;
    assert_refused(&missing, StatusCode::BAD_REQUEST, ErrorCode::MetadataInvalid);
    let extra =
        capture(&app, &phone, &session, &[metadata(&nonce, 1), frame(0, good.clone()), frame(1, good.clone())]).await;
    assert_refused(&extra, StatusCode::BAD_REQUEST, ErrorCode::MetadataInvalid);
    let none = capture(&app, &phone, &session, &[frame(0, good.clone())]).await;
    assert_refused(&none, StatusCode::BAD_REQUEST, ErrorCode::MetadataInvalid);
    // A huge nonce string (under the body limit) is just a wrong nonce.
    let long_nonce = "n".repeat(512 * 1024);
    let resp = capture(&app, &phone, &session, &[metadata(&long_nonce, 1), frame(0, good.clone())]).await;
    assert_refused(&resp, StatusCode::CONFLICT, ErrorCode::NonceInvalid);
    // Not multipart at all, and a multipart body that breaks off in the middle of a part.
    let path = format!("/companion/sessions/{session}/capture");
    let json = send_raw(&app, &phone, Method::POST, &path, "application/json", b"{}".to_vec()).await;
    assert_refused(&json, StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorCode::UnsupportedMediaType);
    let mut cut = multipart_body(&[metadata(&nonce, 1), frame(0, good.clone())]);
    cut.truncate(cut.len() - 300);
    let resp =
        send_raw(&app, &phone, Method::POST, &path, &format!("multipart/form-data; boundary={BOUNDARY}"), cut).await;
    assert_refused(&resp, StatusCode::BAD_REQUEST, ErrorCode::BadRequest);
    still_healthy(&app, &phone, &session).await;
}

#[tokio::test]
async fn hostile_json_bodies_are_refused_with_stable_codes() {
    let app = TestApp::new().await;
    let (phone, session, _nonce) = in_progress(&app).await;
    let anonymous = app.device("anonymous");
    let json = "application/json";
    // Malformed JSON, invalid UTF-8, wrong types, an empty body.
    let malformed: [&[u8]; 5] = [
        b"{\"email\": \"a@example.com\", \"password\": ",
        b"{\"email\": \"\xC3\x28@example.com\", \"password\": \"x\"}",
        b"[1, 2, 3]",
        b"{\"email\": 42, \"password\": true}",
        b"",
    ];
    for body in malformed {
        let resp = send_raw(&app, &anonymous, Method::POST, "/auth/login", json, body.to_vec()).await;
        assert_refused(&resp, StatusCode::BAD_REQUEST, ErrorCode::BadRequest);
    }
    // Wrong content types for a JSON endpoint.
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let body = br#"{"email": "a@example.com", "password": "x"}"#.to_vec();
        let resp = send_raw(&app, &anonymous, Method::POST, "/auth/login", content_type, body).await;
        assert_refused(&resp, StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorCode::UnsupportedMediaType);
    }
    // A body over the 64 KiB JSON limit, and huge string fields under it.
    let over = serde_json::json!({ "email": "a".repeat(70 * 1024), "password": "x" }).to_string().into_bytes();
    let resp = send_raw(&app, &anonymous, Method::POST, "/auth/login", json, over).await;
    assert_refused(&resp, StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge);
    let device =
        serde_json::json!({ "name": "d".repeat(20 * 1024), "platform": "p".repeat(20 * 1024), "app_version": "1" });
    let login =
        serde_json::json!({ "email": "hostile@example.com", "password": "w".repeat(16 * 1024), "device": device });
    let resp = send_raw(&app, &anonymous, Method::POST, "/auth/login", json, login.to_string().into_bytes()).await;
    assert_refused(&resp, StatusCode::UNAUTHORIZED, ErrorCode::InvalidCredentials);
    let claim = serde_json::json!({ "handle": "h".repeat(60 * 1024), "device": { "name": "x", "platform": "y", "app_version": "1" } });
    let resp = send_raw(&app, &phone, Method::POST, "/companion/claim", json, claim.to_string().into_bytes()).await;
    assert_refused(&resp, StatusCode::NOT_FOUND, ErrorCode::HandleUnknown);
    let confirm = br#"{"consent": "yes please"}"#.to_vec();
    let resp =
        send_raw(&app, &phone, Method::POST, &format!("/companion/sessions/{session}/confirm"), json, confirm).await;
    assert_refused(&resp, StatusCode::BAD_REQUEST, ErrorCode::BadRequest);
    still_healthy(&app, &phone, &session).await;
}
