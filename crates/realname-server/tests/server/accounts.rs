//! Accounts, browser sessions, CSRF, language, companion sign-in and tokens.

use axum::http::StatusCode;
use realname_protocol::ErrorCode;

use super::support::TestApp;

#[tokio::test]
async fn sign_up_sign_out_and_sign_in_again() {
    let app = TestApp::new().await;
    let mut b = app.browser();
    b.sign_up("alice@example.com", "correct horse battery").await;
    let page = b.get("/verify").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("a****@example.com"), "masked account in the header");

    let out = b.submit("/verify", "/signout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(!b.cookies.contains_key("rn_session"));
    assert_eq!(b.get("/verify").await.location().as_deref(), Some("/signin"));

    let wrong = b.submit("/signin", "/signin", &[("email", "alice@example.com"), ("password", "nope nope")]).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.page_error_code().as_deref(), Some("invalid_credentials"));
    assert!(wrong.text().contains("value=\"alice@example.com\""), "e-mail kept");

    let ok =
        b.submit("/signin", "/signin", &[("email", "ALICE@example.com "), ("password", "correct horse battery")]).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(b.get("/verify").await.status, StatusCode::OK);
}

#[tokio::test]
async fn session_cookie_is_http_only_and_lax() {
    let app = TestApp::new().await;
    let mut b = app.browser();
    let csrf = b.csrf("/signup").await;
    let resp = b.post_raw("/signup", &[("csrf", &csrf), ("email", "c@example.com"), ("password", "12345678")]).await;
    let cookies: Vec<String> =
        resp.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok().map(str::to_owned)).collect();
    let session = cookies.iter().find(|c| c.starts_with("rn_session=")).expect("session cookie");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax") && session.contains("Path=/"),
        "{session}"
    );
}

#[tokio::test]
async fn duplicate_accounts_and_bad_input_are_refused() {
    let app = TestApp::new().await;
    let mut b = app.browser();
    b.sign_up("bob@example.com", "correct horse battery").await;
    let mut other = app.browser();
    let dup =
        other.submit("/signup", "/signup", &[("email", "Bob@Example.com"), ("password", "another password")]).await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.page_error_code().as_deref(), Some("account_exists"));
    let short = other.submit("/signup", "/signup", &[("email", "x@example.com"), ("password", "short")]).await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(short.page_error_code().as_deref(), Some("validation_failed"));
}

#[tokio::test]
async fn every_form_needs_a_valid_csrf_token() {
    let app = TestApp::new().await;
    let mut b = app.browser();
    let _ = b.get("/signup").await;
    let forged = b.post_raw("/signup", &[("email", "eve@example.com"), ("password", "correct horse battery")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(forged.page_error_code().as_deref(), Some("csrf_invalid"));

    b.sign_up("eve@example.com", "correct horse battery").await;
    for (path, fields) in [
        ("/verify/identity", vec![("name", "张三"), ("id_number", "11010519491231002X")]),
        ("/signout", vec![]),
        ("/signin", vec![("email", "eve@example.com"), ("password", "correct horse battery")]),
    ] {
        let mut with_bad = vec![("csrf", "bm90LWEtdG9rZW4")];
        with_bad.extend(fields);
        let resp = b.post_raw(path, &with_bad).await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(resp.page_error_code().as_deref(), Some("csrf_invalid"), "{path}");
    }
    // A token from another browser does not work either.
    let mut mallory = app.browser();
    let foreign = mallory.csrf("/signin").await;
    let resp = b.post_raw("/signout", &[("csrf", &foreign)]).await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    assert!(b.cookies.contains_key("rn_session"));
}

#[tokio::test]
async fn language_is_switchable_and_remembered() {
    let app = TestApp::new().await;
    let mut b = app.browser();
    assert!(b.get("/signin").await.text().contains("登录"), "zh-CN by default");
    let resp = b.get("/lang/en?next=/signin").await;
    assert_eq!(resp.location().as_deref(), Some("/signin"));
    assert_eq!(b.cookies.get("rn_lang").map(String::as_str), Some("en"));
    let page = b.get("/signin").await.text();
    assert!(page.contains("<html lang=\"en\">") && page.contains("Sign in"));
    // No open redirect.
    assert_eq!(b.get("/lang/zh-CN?next=//evil.example").await.location().as_deref(), Some("/"));
}

#[tokio::test]
async fn device_tokens_refresh_once_and_reuse_revokes() {
    let app = TestApp::new().await;
    let (_b, mut d) = app.account("dora@example.com").await;
    let me = d.get("/me").await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["email_masked"], "d***@example.com");

    let tokens = d.login("dora@example.com", "correct horse battery").await;
    let r1 = d.post_json("/auth/refresh", serde_json::json!({ "refresh_token": tokens.refresh_token })).await;
    assert_eq!(r1.status, StatusCode::OK);
    let reuse = d.post_json("/auth/refresh", serde_json::json!({ "refresh_token": tokens.refresh_token })).await;
    assert_eq!(reuse.error().code, ErrorCode::TokenInvalid);
    // Reuse revoked the device's tokens, the fresh pair included.
    d.token = r1.json()["access_token"].as_str().map(str::to_owned);
    assert_eq!(d.get("/me").await.error().code, ErrorCode::TokenInvalid);

    let mut anon = app.device("x");
    assert_eq!(anon.get("/me").await.error().code, ErrorCode::Unauthorized);
    let bad = anon
        .post_json(
            "/auth/login",
            serde_json::json!({ "email": "dora@example.com", "password": "wrong", "device": { "name": "x" } }),
        )
        .await;
    assert_eq!(bad.error().code, ErrorCode::InvalidCredentials);
    anon.token = Some("rn_at_forged".into());
    assert_eq!(anon.get("/me").await.error().code, ErrorCode::TokenInvalid);
}

#[tokio::test]
async fn api_errors_are_code_and_message_and_openapi_is_served() {
    let app = TestApp::new().await;
    let d = app.device("x");
    let resp = d.post_json("/auth/login", serde_json::json!({ "email": 1 })).await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    assert_eq!(resp.error().code, ErrorCode::BadRequest);
    assert_eq!(d.get("/nope").await.error().code, ErrorCode::NotFound);

    let doc = d.get("/openapi.json").await;
    assert_eq!(doc.status, StatusCode::OK);
    let doc = doc.json();
    assert_eq!(doc["openapi"], "3.0.3");
    // Every documented path is routed (answers with something other than the API's 404).
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let concrete = path.replace("{id}", "some-session");
        for method in item.as_object().expect("methods").keys() {
            let resp = if method == "get" {
                d.get(&concrete).await
            } else {
                d.post_json(&concrete, serde_json::json!({})).await
            };
            let not_routed = resp.status == StatusCode::NOT_FOUND && resp.text().contains("No such API endpoint");
            assert!(!not_routed, "{method} {path} is documented but not routed");
        }
    }
}
