//! Regression tests of the security review (issue 14, findings 3–10 and test mode): each one
//! failed on the code before its fix.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use realname_protocol::ErrorCode;
use realname_server::config::Secret;
use realname_server::ratelimit::{Limit, Scope};
use realname_server::store::hardening::HardeningStore;
use realname_server::store::methods::PathsStore;
use tower::ServiceExt as _;

use super::paths::{enter_code, import_carrier, latest_code, start_mobile};
use super::support::{Browser, TestApp, id_number};

const PHONE: &str = "13812345678";

async fn outbox_len(app: &TestApp, phone: &str) -> usize {
    realname_server::mobile::read_outbox(&*app.state.store, &app.state.keys, Some(phone), 100)
        .await
        .expect("outbox")
        .len()
}

// ---- finding 3: open redirect on /lang/{code}?next= ----

#[tokio::test]
async fn the_language_switch_redirects_only_to_a_path_on_this_server() {
    let app = TestApp::new().await;
    let mut b = app.browser();
    // Query values as they arrive on the wire (percent-encoded), and what a browser would do.
    for next in [
        "/%09/evil.example",     // tab, stripped by browsers: //evil.example
        "/%0A/evil.example",     // newline
        "/%0D%0A/evil.example",  // CR LF
        "/%5Cevil.example",      // backslash, read as /
        "%5C%5Cevil.example",    // \\evil.example
        "/%252F/evil.example",   // encoded slash (decodes to /%2F/…)
        "/%2F/evil.example",     // decodes to ///evil.example
        "//evil.example",        // scheme-relative
        "%2F%2Fevil.example",    // same, encoded
        "https://evil.example/", // absolute
        "javascript:alert(1)",   // scheme
        "/%20/evil.example",     // space
    ] {
        let resp = b.get(&format!("/lang/en?next={next}")).await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{next}");
        assert_eq!(resp.location().as_deref(), Some("/"), "next={next} must not leave the site");
    }
    // Local paths (with a query) still work.
    let resp = b.get("/lang/en?next=/verify/method%3Fmanual%3D1").await;
    assert_eq!(resp.location().as_deref(), Some("/verify/method?manual=1"));
}

// ---- finding 4: the SSE channel table ----

#[tokio::test]
async fn event_streams_of_made_up_ids_leave_no_channels_behind() {
    let app = TestApp::new().await;
    let (mut pc, _phone) = app.account("sse@example.com").await;
    for i in 0..3000 {
        let id = if i % 100 == 0 { "x".repeat(10_000) } else { format!("bogus-session-{i}") };
        let req =
            pc.request(Method::GET, &format!("/verify/sessions/{id}/events")).body(Body::empty()).expect("request");
        let resp = app.router.clone().oneshot(req).await.expect("infallible");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(app.state.events.channel_count(), 0, "bogus ids must not create channels");

    // A real stream has its channel while it is open, and takes it away when it closes.
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (session, _handle) = pc.start_verification("张三", &id).await;
    let mut stream = pc.events(&session).await;
    let first = stream.next_state().await;
    assert_eq!(first["state"], "waiting");
    assert_eq!(app.state.events.channel_count(), 1);
    drop(stream);
    assert_eq!(app.state.events.channel_count(), 0, "the last receiver leaving drops the channel");
}

// ---- helpers: many requests at once ----

/// A form POST carrying the browser's cookies and the given CSRF token.
fn form_request(b: &Browser<'_>, path: &str, csrf: &str, fields: &[(&str, &str)]) -> Request<Body> {
    let mut body = url::form_urlencoded::Serializer::new(String::new());
    body.append_pair("csrf", csrf);
    for (k, v) in fields {
        body.append_pair(k, v);
    }
    b.request(Method::POST, path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.finish()))
        .expect("request")
}

/// Sends every request at once; the statuses, in order.
async fn all_at_once(app: &TestApp, requests: Vec<Request<Body>>) -> Vec<StatusCode> {
    let futures = requests.into_iter().map(|r| {
        let router = app.router.clone();
        tokio::spawn(async move { router.oneshot(r).await.expect("infallible").status() })
    });
    futures::future::join_all(futures).await.into_iter().map(|r| r.expect("task")).collect()
}

fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

fn login_request(email: &str, password: &str, peer: Option<&str>) -> Request<Body> {
    let body = serde_json::json!({ "email": email, "password": password, "device": { "name": "p", "platform": "linux", "app_version": "t" } });
    let mut req = Request::post("/api/v1/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    if let Some(p) = peer {
        req.extensions_mut().insert(ConnectInfo(p.parse::<SocketAddr>().expect("addr")));
    }
    req
}

// ---- finding 6: SMS races ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_code_guesses_get_no_more_than_the_allowed_tries() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    import_carrier(&app, PHONE, "张三", &id).await;
    let (mut b, _d) = app.account("guess@example.com").await;
    let path = start_mobile(&mut b, "张三", &id, PHONE).await;
    let code = latest_code(&app, PHONE).await;
    let challenge_id = path.trim_start_matches("/verify/mobile/");
    // Every guess works from a copy loaded before any try was spent (as concurrent requests do).
    let stale = PathsStore::sms_challenge(&*app.state.store, challenge_id).await.expect("load").expect("challenge");
    let wrong: Vec<String> =
        (0..199).map(|i| format!("{:06}", (code.parse::<u32>().expect("digits") + 1 + i) % 1_000_000)).collect();
    let results = futures::future::join_all(wrong.iter().map(|w| app.state.mobile.enter_mobile_code(&stale, w))).await;
    let codes: Vec<ErrorCode> = results.into_iter().map(|r| r.expect_err("wrong code").code).collect();
    let wrong_answers = codes.iter().filter(|c| **c == ErrorCode::SmsCodeWrong).count();
    assert_eq!(wrong_answers, 4, "5 tries: 4 'wrong' answers, then exhausted");
    assert!(codes.iter().all(|c| matches!(c, ErrorCode::SmsCodeWrong | ErrorCode::SmsCodeExhausted)), "{codes:?}");
    // The 200th guess is the right code: the tries are spent, so it must not verify.
    let right = app.state.mobile.enter_mobile_code(&stale, &code).await;
    assert_eq!(right.expect_err("no try left").code, ErrorCode::SmsCodeExhausted);
    assert!(
        PathsStore::sms_challenge(&*app.state.store, challenge_id).await.expect("load").expect("c").state != "verified"
    );
}

#[tokio::test]
async fn code_entries_are_rate_limited_per_account() {
    let app =
        TestApp::with_config(|c| c.rate_limits.sms_code_entries_per_account = Limit { max: 3, window_secs: 3600 })
            .await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    import_carrier(&app, PHONE, "张三", &id).await;
    let (mut b, _d) = app.account("entries@example.com").await;
    let path = start_mobile(&mut b, "张三", &id, PHONE).await;
    for _ in 0..3 {
        assert_eq!(enter_code(&mut b, &path, "999999x").await.page_error_code().as_deref(), Some("sms_code_wrong"));
    }
    let limited = enter_code(&mut b, &path, &latest_code(&app, PHONE).await).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.page_error_code().as_deref(), Some("rate_limited"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_submissions_send_one_code_and_reserve_the_hourly_limits() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    import_carrier(&app, PHONE, "张三", &id).await;
    let (mut b, _d) = app.account("bomb@example.com").await;
    let csrf = b.csrf("/verify/mobile").await;
    let fields = [("name", "张三"), ("id_number", id.as_str()), ("phone", PHONE)];
    let requests = (0..200).map(|_| form_request(&b, "/verify/mobile", &csrf, &fields)).collect();
    let statuses = all_at_once(&app, requests).await;
    assert_eq!(count(&statuses, StatusCode::SEE_OTHER), 1, "one code sent: {statuses:?}");
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 199, "{statuses:?}");
    assert_eq!(outbox_len(&app, PHONE).await, 1, "one SMS for 200 concurrent submissions");
    // At most per_phone_per_hour (5) submissions got as far as the carrier look-up.
    let phone_key = hex::encode(realname_server::mobile::phone_hash(
        &app.state.keys,
        &realname_server::mobile::MobileNumber::parse(PHONE).expect("phone"),
    ));
    let reserved = app.state.limiter.rate_count(Scope::SmsPhone, &phone_key).await.expect("count");
    assert!(reserved <= 5, "{reserved} reservations");
}

// ---- finding 7: sign-in and sign-up limits ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_passwords_are_checked_no_more_than_the_limit() {
    let app = TestApp::with_config(|c| {
        c.rate_limits.signin_failures_per_account = Limit { max: 10, window_secs: 900 };
        c.rate_limits.signin_failures_per_ip = Limit { max: 0, window_secs: 900 }; // only the account limit here
    })
    .await;
    let _ = app.account("victim@example.com").await;
    let requests = (0..200).map(|i| login_request("victim@example.com", &format!("guess {i}"), None)).collect();
    let statuses = all_at_once(&app, requests).await;
    assert!(count(&statuses, StatusCode::UNAUTHORIZED) <= 10, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::UNAUTHORIZED) + count(&statuses, StatusCode::TOO_MANY_REQUESTS), 200);
    // The count stays at the passwords actually checked (old code: one per request, 200).
    let checked = app.state.limiter.rate_count(Scope::SigninAccount, "victim@example.com").await.expect("count");
    assert_eq!(checked, 10, "passwords checked");
    // The right password is refused now too, and a success does not use up the allowance.
    assert_eq!(
        app.send(login_request("victim@example.com", "correct horse battery", None)).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn a_right_password_gives_its_count_back_and_ipv6_counts_per_64() {
    let app = TestApp::with_config(|c| {
        c.rate_limits.signin_failures_per_account = Limit { max: 2, window_secs: 900 };
        c.rate_limits.signin_failures_per_ip = Limit { max: 3, window_secs: 900 };
    })
    .await;
    let _ = app.account("ok@example.com").await;
    for _ in 0..5 {
        assert_eq!(
            app.send(login_request("ok@example.com", "correct horse battery", None)).await.status,
            StatusCode::OK
        );
    }
    // Addresses of one /64 share the per-IP count (different accounts, so only the IP limit bites).
    for (i, peer) in
        ["[2001:db8:1:2::1]:1000", "[2001:db8:1:2::2]:1000", "[2001:db8:1:2:ffff::9]:1000"].iter().enumerate()
    {
        let r = app.send(login_request(&format!("nobody{i}@example.com"), "x", Some(peer))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = app.send(login_request("nobody9@example.com", "x", Some("[2001:db8:1:2:abcd::1]:1000"))).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "same /64");
    let r = app.send(login_request("nobody9@example.com", "x", Some("[2001:db8:1:3::1]:1000"))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "another /64");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_ups_are_limited_per_ip() {
    let app = TestApp::with_config(|c| c.rate_limits.signups_per_ip = Limit { max: 5, window_secs: 3600 }).await;
    let mut b = app.browser();
    let csrf = b.csrf("/signup").await;
    let requests = (0..50)
        .map(|i| {
            form_request(
                &b,
                "/signup",
                &csrf,
                &[("email", &format!("new{i}@example.com")), ("password", "correct horse battery")],
            )
        })
        .collect();
    let statuses = all_at_once(&app, requests).await;
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 45, "{statuses:?}");
    assert_eq!(app.state.store.list_accounts(100).await.expect("accounts").len(), 5);
}

// ---- finding 8: admin and metrics bearer tokens ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_admin_and_metrics_tokens_count_against_the_admin_limit() {
    const ADMIN: &str = "review-admin-token-0123456789abcdef";
    const METRICS: &str = "review-metrics-token-0123456789abcdef";
    let app = TestApp::with_config(|c| {
        c.admin_token = Some(Secret::new(ADMIN));
        c.ops.metrics_token = Some(Secret::new(METRICS));
        c.rate_limits.admin_signin_failures_per_ip = Limit { max: 3, window_secs: 900 };
    })
    .await;
    let bearer = |path: &str, token: &str| {
        Request::get(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request")
    };
    // Right tokens do not use the allowance up.
    for _ in 0..5 {
        assert_eq!(app.send(bearer("/admin/sms-outbox?format=json", ADMIN)).await.status, StatusCode::OK);
        assert_eq!(app.send(bearer("/metrics", METRICS)).await.status, StatusCode::OK);
    }
    let guesses = (0..100)
        .map(|i| bearer(if i % 2 == 0 { "/admin/sms-outbox" } else { "/metrics" }, &format!("guess-{i}")))
        .collect();
    let statuses = all_at_once(&app, guesses).await;
    assert_eq!(count(&statuses, StatusCode::UNAUTHORIZED), 3, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 97);
    // Locked for this client now, right token or not.
    assert_eq!(app.send(bearer("/admin/sms-outbox?format=json", ADMIN)).await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.send(bearer("/metrics", METRICS)).await.status, StatusCode::TOO_MANY_REQUESTS);
}

// ---- finding 10: station credentials can be revoked ----

#[tokio::test]
async fn a_revoked_station_credential_is_refused() {
    let app = TestApp::new().await;
    let (device, credential) =
        realname_server::api::register_station(&*app.state.store, "Lobby", app.state.now()).await.expect("register");
    let mut station = app.device("Lobby");
    station.token = Some(credential);
    let before = station.post_json("/companion/claim", serde_json::json!({ "handle": "unknown-handle", "device": { "name": "Lobby", "platform": "kiosk", "app_version": "t" } })).await;
    assert_eq!(before.error().code, ErrorCode::HandleUnknown, "the credential works");
    assert!(HardeningStore::revoke_device(&*app.state.store, &device.id, app.state.now()).await.expect("revoke"));
    let after = station.post_json("/companion/claim", serde_json::json!({ "handle": "unknown-handle", "device": { "name": "Lobby", "platform": "kiosk", "app_version": "t" } })).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.error().code, ErrorCode::TokenInvalid);
    assert!(
        !HardeningStore::revoke_device(&*app.state.store, &device.id, app.state.now()).await.expect("revoke"),
        "once"
    );
}

// ---- finding 10: CSRF tokens bound to the sign-in session, __Host- cookies on https ----

#[tokio::test]
async fn a_csrf_token_from_another_session_is_refused_even_with_its_cookie_planted() {
    let app = TestApp::new().await;
    let (mut attacker, _) = app.account("attacker@example.com").await;
    let attacker_token = attacker.csrf("/verify/identity").await;
    let attacker_cookie = attacker.cookies["rn_csrf"].clone();
    let (mut victim, _) = app.account("victim-csrf@example.com").await;
    // The attacker planted their CSRF cookie in the victim's browser and sends their token.
    victim.cookies.insert("rn_csrf".into(), attacker_cookie);
    let id = id_number("11010519900307123");
    let forged =
        victim.post_raw("/verify/identity", &[("csrf", &attacker_token), ("name", "张三"), ("id_number", &id)]).await;
    assert_eq!(forged.page_error_code().as_deref(), Some("csrf_invalid"), "{}", forged.status);
    // The victim's own form still works.
    assert!(victim.get("/verify/identity").await.status.is_success());
}

#[tokio::test]
async fn https_cookies_carry_the_host_prefix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = realname_server::config::Config { data_dir: dir.path().to_path_buf(), ..Default::default() };
    let db = realname_server::store::connect(&format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display()))
        .await
        .expect("db");
    let services = realname_server::Services {
        store: Some(db),
        analyzer: Some(std::sync::Arc::new(realname_server::face::ScriptedAnalyzer)),
        authority: None,
        clock: None,
    };
    let state =
        realname_server::build_state(config, "https://verify.example.com".into(), services).await.expect("state");
    let router = realname_server::app(state);
    let resp = router
        .clone()
        .oneshot(Request::get("/signup").body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let set: Vec<String> =
        resp.headers().get_all(header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect();
    let csrf = set.iter().find(|c| c.starts_with("__Host-rn_csrf=")).unwrap_or_else(|| panic!("{set:?}"));
    assert!(csrf.contains("Secure") && csrf.contains("Path=/") && !csrf.contains("Domain"), "{csrf}");
    // The cookie works under its prefixed name: the sign-up form is accepted and signs in.
    let value = csrf.split(';').next().and_then(|p| p.split_once('=')).map(|(_, v)| v.to_owned()).expect("value");
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
    let html = String::from_utf8_lossy(&body);
    let token = super::support::attr_after(&html, "name=\"csrf\" value=\"").expect("csrf field");
    let form = format!("csrf={token}&email=host%40example.com&password=correct+horse+battery");
    let req = Request::post("/signup")
        .header(header::COOKIE, format!("__Host-rn_csrf={value}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .expect("request");
    let resp = router.oneshot(req).await.expect("infallible");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(
        resp.headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .any(|v| v.to_str().unwrap_or("").starts_with("__Host-rn_session="))
    );
}

// ---- finding 10: no "ID already verified" before the name is checked ----

#[tokio::test]
async fn a_wrong_name_learns_nothing_about_whether_the_id_is_verified() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    let (holder, claim) = app.ready_session("张三", "verified-holder@example.com", "11010519900307123").await;
    let d = holder.perform(&claim.session_id, &claim, 1).await.expect("decision");
    assert_eq!(d.outcome, realname_protocol::api::Outcome::Passed);
    let (mut prober, _) = app.account("prober@example.com").await;
    let probe = prober.submit_identity("李四", &id).await;
    assert_eq!(probe.page_error_code().as_deref(), Some("identity_mismatch"), "the name is checked first");
    let right = prober.submit_identity("张三", &id).await;
    assert_eq!(right.page_error_code().as_deref(), Some("id_already_verified"));
}
