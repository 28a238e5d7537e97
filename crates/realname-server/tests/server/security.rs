//! Operations and hardening: `/readyz` and `/metrics`, rate limits with 429 + `Retry-After`
//! (shared by two instances on one database), security headers and cookie attributes, session
//! rotation at sign-in, and admin endpoints refusing requests without an admin credential.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use realname_protocol::ErrorCode;
use realname_server::config::{Config, Secret};
use realname_server::face::ScriptedAnalyzer;
use realname_server::ratelimit::Limit;
use realname_server::{Services, app, build_state, store};
use tower::ServiceExt as _;

use super::support::{TestApp, TestResponse, id_number};

async fn get(app: &TestApp, path: &str) -> TestResponse {
    app.send(Request::get(path).body(Body::empty()).expect("request")).await
}

/// The value of one sample line (`name{labels} value`) of a Prometheus text body.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.parse().ok()))
}

#[tokio::test]
async fn readyz_answers_200_with_a_database_and_503_with_a_code_without_one() {
    let app = TestApp::new().await;
    assert_eq!(get(&app, "/healthz").await.status, StatusCode::OK);
    let ready = get(&app, "/readyz").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text());
    assert_eq!(ready.json()["status"], "ready");

    // The database goes away (pool closed): not ready, with a stable code; liveness stays up.
    app.state.store.close().await;
    let down = get(&app, "/readyz").await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(down.json()["code"], "not_ready");
    assert_eq!(get(&app, "/healthz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_requests_decisions_latency_and_open_sessions() {
    let app =
        TestApp::with_config(|c| c.ops.metrics_token = Some(Secret::new("scrape-me-0123456789abcdef0123456789"))).await;
    let unauthorized = get(&app, "/metrics").await;
    assert_eq!(unauthorized.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unauthorized.error().code, ErrorCode::Unauthorized);
    let scrape = || async {
        let req = Request::get("/metrics")
            .header(header::AUTHORIZATION, "Bearer scrape-me-0123456789abcdef0123456789")
            .body(Body::empty())
            .expect("request");
        let resp = app.send(req).await;
        assert_eq!(resp.status, StatusCode::OK);
        assert!(resp.headers[header::CONTENT_TYPE].to_str().unwrap_or("").starts_with("text/plain; version=0.0.4"));
        resp.text()
    };
    let before = scrape().await;
    assert_eq!(sample(&before, "realname_active_sessions"), Some(0.0), "{before}");
    assert_eq!(sample(&before, "realname_decision_duration_seconds_count"), Some(0.0));

    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut pc, phone) = app.account("metrics@example.com").await;
    let (session, handle) = pc.start_verification("张三", &id).await;
    let open = scrape().await;
    assert_eq!(sample(&open, "realname_active_sessions"), Some(1.0), "{open}");
    let claim = phone.claim(&handle).await;
    phone.confirm(&claim.session_id).await;
    let wrong = phone.perform(&claim.session_id, &claim, 2).await.expect("decision");
    let c = wrong.challenge.expect("a new challenge after a retry decision");
    phone.perform_challenge(&claim.session_id, &c.actions, &c.nonce, 1).await.expect("decision");

    let after = scrape().await;
    assert_eq!(sample(&after, "realname_active_sessions"), Some(0.0), "the session passed: {after}");
    assert_eq!(sample(&after, "realname_decisions_total{outcome=\"passed\",reason=\"none\"}"), Some(1.0), "{after}");
    assert_eq!(
        sample(&after, "realname_decisions_total{outcome=\"retry\",reason=\"face_mismatch\"}"),
        Some(1.0),
        "{after}"
    );
    assert_eq!(sample(&after, "realname_decision_duration_seconds_count"), Some(2.0), "{after}");
    assert_eq!(sample(&after, "realname_decision_duration_seconds_bucket{le=\"+Inf\"}"), Some(2.0));
    let route = "realname_http_requests_total{method=\"POST\",route=\"/api/v1/companion/sessions/{id}/capture\",status=\"2xx\"}";
    assert_eq!(sample(&after, route), Some(2.0), "route templates, never session ids: {after}");
    assert!(!after.contains(&session), "no concrete path in a label");
    let signin = "realname_http_requests_total{method=\"POST\",route=\"/api/v1/auth/login\",status=\"2xx\"}";
    assert_eq!(sample(&after, signin), Some(1.0), "{after}");
    assert!(
        sample(&after, "realname_http_requests_total{method=\"GET\",route=\"/metrics\",status=\"4xx\"}") >= Some(1.0)
    );
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_account_with_429_retry_after_and_a_stated_end() {
    let app =
        TestApp::with_config(|c| c.rate_limits.signin_failures_per_account = Limit { max: 3, window_secs: 600 }).await;
    let (_b, _d) = app.account("brute@example.com").await;
    let mut attacker = app.browser();
    for _ in 0..3 {
        let r = attacker
            .submit("/signin", "/signin", &[("email", "brute@example.com"), ("password", "wrong password")])
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.page_error_code().as_deref(), Some("invalid_credentials"));
    }
    // Now even the right password is refused until the window ends, and the page says when.
    let locked = attacker
        .submit("/signin", "/signin", &[("email", "BRUTE@example.com"), ("password", "correct horse battery")])
        .await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(locked.page_error_code().as_deref(), Some("rate_limited"));
    let retry_after: i64 = locked.headers[header::RETRY_AFTER].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=600).contains(&retry_after), "{retry_after}");
    let until = realname_server::verification::format_time(app.state.now() + retry_after);
    let text = locked.text();
    assert!(text.contains(&format!("尝试次数过多，请于 {until} 之后再试。")), "{text}");

    // The API sign-in shares the counter: JSON with retry_after.
    let api = app.device("phone");
    let r = api
        .post_json("/auth/login", serde_json::json!({ "email": "brute@example.com", "password": "correct horse battery", "device": { "name": "p", "platform": "linux", "app_version": "t" } }))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let body = r.json();
    assert_eq!(body["code"], "rate_limited");
    assert!(body["retry_after"].as_i64().is_some_and(|s| (1..=600).contains(&s)), "{body}");
    assert!(r.headers.contains_key(header::RETRY_AFTER));

    // Another account is not affected; after the window the right password works again.
    let (_other, _) = app.account("innocent@example.com").await;
    app.clock.advance(retry_after);
    let ok = attacker
        .submit("/signin", "/signin", &[("email", "brute@example.com"), ("password", "correct horse battery")])
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text());
}

#[tokio::test]
async fn limits_are_shared_by_instances_on_one_database() {
    let app =
        TestApp::with_config(|c| c.rate_limits.signin_failures_per_account = Limit { max: 2, window_secs: 600 }).await;
    let second = app.second_instance().await;
    let login = |password: &str| {
        let body = serde_json::json!({ "email": "shared@example.com", "password": password, "device": { "name": "p", "platform": "linux", "app_version": "t" } });
        Request::post("/api/v1/auth/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("request")
    };
    // One failure on each instance reaches the limit of 2; the third attempt is refused by either.
    assert_eq!(app.send(login("nope")).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(second.clone().oneshot(login("nope")).await.expect("infallible").status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.send(login("nope")).await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(second.oneshot(login("nope")).await.expect("infallible").status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn claims_per_device_and_sessions_per_id_number_are_limited() {
    let app = TestApp::with_config(|c| {
        c.rate_limits.claims_per_device = Limit { max: 2, window_secs: 60 };
        c.rate_limits.sessions_per_id_number = Limit { max: 2, window_secs: 3600 };
    })
    .await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (_pc, phone) = app.account("claims@example.com").await;
    for _ in 0..2 {
        let r = phone.post_json("/companion/claim", serde_json::json!({ "handle": "unknown-handle", "device": { "name": "p", "platform": "linux", "app_version": "t" } })).await;
        assert_eq!(r.error().code, ErrorCode::HandleUnknown);
    }
    let r = phone.post_json("/companion/claim", serde_json::json!({ "handle": "unknown-handle", "device": { "name": "p", "platform": "linux", "app_version": "t" } })).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.json()["code"], "rate_limited");
    assert!(r.json()["retry_after"].as_i64().is_some_and(|s| (1..=60).contains(&s)));

    // One account probing one ID number: its third identity form for it is refused, with the
    // input kept; the ID number is counted under a keyed hash, never stored. The count is per
    // (account, ID number): strangers' throwaway accounts cannot use up the holder's own
    // allowance (issue 14, finding 5).
    let (mut a, _) = app.account("probe-a@example.com").await;
    assert_eq!(a.submit_identity("李四", &id).await.page_error_code().as_deref(), Some("identity_mismatch"));
    assert_eq!(
        a.submit_identity("王五", &id.to_lowercase()).await.page_error_code().as_deref(),
        Some("identity_mismatch")
    );
    for stranger in ["probe-b@example.com", "probe-c@example.com"] {
        let (mut b, _) = app.account(stranger).await;
        for name in ["赵六", "钱七"] {
            assert_eq!(b.submit_identity(name, &id).await.page_error_code().as_deref(), Some("identity_mismatch"));
        }
    }
    let (mut holder, _) = app.account("holder@example.com").await;
    let ok = holder.submit_identity("张三", &id).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "the holder still has the allowance: {:?}", ok.page_error_code());
    let refused = a.submit_identity("张三", &id).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.page_error_code().as_deref(), Some("rate_limited"));
    assert!(refused.text().contains(&id), "what the person typed is kept");
    assert!(refused.headers.contains_key(header::RETRY_AFTER));
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::new().await;
    let (mut b, phone) = app.account("headers@example.com").await;
    let responses = [
        ("page", b.get("/verify").await),
        ("sign-in page", app.browser().get("/signin").await),
        ("static", get(&app, "/static/verify.js").await),
        ("API", phone.get("/me").await),
        ("API error", app.device("anon").get("/me").await),
        ("not found", get(&app, "/no/such/page").await),
        ("ops", get(&app, "/readyz").await),
    ];
    for (what, r) in &responses {
        let h = |name: &str| r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let csp = h("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{what}: {csp:?}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{what}: {csp:?}");
        assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
        assert_eq!(h("x-frame-options"), "DENY", "{what}");
        assert_eq!(h("referrer-policy"), "same-origin", "{what}");
        assert_eq!(h("strict-transport-security"), "", "{what}: no HSTS on plain http");
    }
    // No page of the flow has an inline script left (the CSP would block it).
    for page in ["/verify", "/verify/method", "/verify/identity", "/verify/mobile"] {
        let html = b.get(page).await.text();
        for (i, _) in html.match_indices("<script") {
            let tag = &html[i..html[i..].find('>').map_or(html.len(), |e| i + e)];
            assert!(tag.contains(" src=") || tag.contains("application/json"), "{page}: inline script {tag}");
        }
        assert!(!html.contains(" style=\"") && !html.contains(" onclick="), "{page}");
    }
}

#[tokio::test]
async fn https_deployments_get_hsts_and_secure_cookies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
    let db = store::connect(&format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display())).await.expect("db");
    let services =
        Services { store: Some(db), analyzer: Some(Arc::new(ScriptedAnalyzer)), authority: None, clock: None };
    let state = build_state(config, "https://verify.example.com".into(), services).await.expect("state");
    let resp =
        app(state).oneshot(Request::get("/signin").body(Body::empty()).expect("request")).await.expect("infallible");
    let hsts = resp.headers().get(header::STRICT_TRANSPORT_SECURITY).and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(hsts.starts_with("max-age=31536000"), "{hsts:?}");
    let cookies: Vec<_> = resp.headers().get_all(header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).collect();
    assert!(!cookies.is_empty());
    for c in cookies {
        assert!(c.contains("Secure") && c.contains("HttpOnly") && c.contains("SameSite=Lax"), "{c}");
    }
}

#[tokio::test]
async fn sign_in_rotates_the_session_id_and_a_planted_one_is_worthless() {
    let app = TestApp::new().await;
    let (_b, _d) = app.account("rotate@example.com").await;
    let mut victim = app.browser();
    // An attacker planted a session cookie before the victim signs in (session fixation).
    victim.cookies.insert("rn_session".into(), "rn_ws_planted-by-the-attacker".into());
    let r = victim
        .submit("/signin", "/signin", &[("email", "rotate@example.com"), ("password", "correct horse battery")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let set = r
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("rn_session="))
        .expect("a new session cookie")
        .to_owned();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && !set.contains("Secure"), "{set}");
    let first = victim.cookies["rn_session"].clone();
    assert_ne!(first, "rn_ws_planted-by-the-attacker");
    assert_eq!(victim.get("/verify").await.status, StatusCode::OK, "the new session works");

    let mut attacker = app.browser();
    attacker.cookies.insert("rn_session".into(), "rn_ws_planted-by-the-attacker".into());
    assert_eq!(attacker.get("/verify").await.status, StatusCode::SEE_OTHER, "the planted id never became a session");

    // Signing in again issues yet another id.
    let csrf = victim.csrf("/verify").await;
    let again = victim
        .post_raw("/signin", &[("csrf", &csrf), ("email", "rotate@example.com"), ("password", "correct horse battery")])
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.text());
    assert_ne!(victim.cookies["rn_session"], first);
}

/// Every `/admin/…` route registered anywhere in the server's source, except the sign-in form.
fn admin_routes_in_source() -> Vec<String> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    let mut dirs = vec![src];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("source");
                for (i, _) in text.match_indices(".route(\"/admin") {
                    let start = i + ".route(\"".len();
                    let end = start + text[start..].find('"').expect("closing quote");
                    found.push(text[start..end].to_owned());
                }
            }
        }
    }
    found.retain(|r| r != "/admin/signin");
    found.sort();
    found
}

#[tokio::test]
async fn every_admin_endpoint_refuses_requests_without_an_admin_credential() {
    let routes = admin_routes_in_source();
    assert!(routes.contains(&"/admin/sms-outbox".to_owned()), "{routes:?}");
    let app = TestApp::with_config(|c| c.admin_token = Some(Secret::new("the-admin-token-0123456789abcdef0123"))).await;
    let other_user = app.account("not-admin@example.com").await.0;
    for route in &routes {
        let path = route.replace("{id}", "x");
        for method in [Method::GET, Method::POST] {
            let send = |auth: Option<&str>, cookie: Option<String>| {
                let mut req = Request::builder()
                    .method(method.clone())
                    .uri(format!("{path}?token=the-admin-token-0123456789abcdef0123"));
                if let Some(a) = auth {
                    req = req.header(header::AUTHORIZATION, a);
                }
                if let Some(c) = cookie {
                    req = req.header(header::COOKIE, c);
                }
                req.body(Body::empty()).expect("request")
            };
            let session_cookie = format!("rn_session={}", other_user.cookies["rn_session"]);
            for (what, req) in [
                ("nothing but a query token", send(None, None)),
                ("a wrong bearer token", send(Some("Bearer not-the-token"), None)),
                ("a forged admin cookie", send(None, Some("rn_admin=99999999999.00".into()))),
                ("an ordinary user's session", send(None, Some(session_cookie))),
            ] {
                let r = app.send(req).await;
                if r.status == StatusCode::METHOD_NOT_ALLOWED {
                    continue;
                }
                assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {route} with {what}");
                assert_eq!(r.error().code, ErrorCode::Unauthorized, "{method} {route} with {what}");
            }
        }
        let ok = app
            .send(
                Request::get(&path)
                    .header(header::AUTHORIZATION, "Bearer the-admin-token-0123456789abcdef0123")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await;
        assert!(ok.status.is_success(), "{route} with the admin token: {}", ok.status);
    }
}
