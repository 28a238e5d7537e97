//! The two other paths in-process, on SQLite and PostgreSQL: partner sync (popup only with a
//! partner, Authorize Now → the partner's consent → every rule, Not Authorized → method choice)
//! and mobile phone verification (SMS code via the outbox, wrong / expired / resent codes,
//! phone of another person, rate limits, the admin outbox page).

use axum::http::StatusCode;
use realname_server::mobile;

use super::partner_oauth::{confirm_email, import_partner, partner_sync};
use super::support::{Browser, TestApp, attr_after, id_number};

const PHONE: &str = "13812345678";
const OTHER_PHONE: &str = "13987654321";

pub(super) async fn import_carrier(app: &TestApp, phone: &str, name: &str, id: &str) {
    let csv = format!("phone,name,id_number\n{phone},{name},{id}\n");
    let report =
        mobile::import_carrier_records(&*app.state.store, &app.state.keys, &csv, app.state.today(), app.state.now())
            .await
            .expect("import");
    assert_eq!(report.imported, 1, "{report:?}");
}

/// The code of the newest outbox message to `phone`.
pub(super) async fn latest_code(app: &TestApp, phone: &str) -> String {
    let list = mobile::read_outbox(&*app.state.store, &app.state.keys, Some(phone), 1).await.expect("outbox");
    let first = list.first().expect("a message to the phone");
    mobile::code_in(&first.text).expect("a code in the message")
}

async fn outbox_len(app: &TestApp, phone: &str) -> usize {
    mobile::read_outbox(&*app.state.store, &app.state.keys, Some(phone), 100).await.expect("outbox").len()
}

/// Submits the mobile form; returns the response.
async fn send_code(b: &mut Browser<'_>, name: &str, id: &str, phone: &str) -> super::support::TestResponse {
    b.submit("/verify/mobile", "/verify/mobile", &[("name", name), ("id_number", id), ("phone", phone)]).await
}

/// Submits the mobile form and expects the code page; returns the challenge path.
pub(super) async fn start_mobile(b: &mut Browser<'_>, name: &str, id: &str, phone: &str) -> String {
    let resp = send_code(b, name, id, phone).await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.text());
    let path = resp.location().expect("redirect");
    assert!(path.starts_with("/verify/mobile/"), "{path}");
    path
}

pub(super) async fn enter_code(b: &mut Browser<'_>, challenge: &str, code: &str) -> super::support::TestResponse {
    b.submit(challenge, &format!("{challenge}/code"), &[("code", code)]).await
}

fn detail(resp: &super::support::TestResponse) -> Option<String> {
    attr_after(&resp.text(), "data-detail=\"")
}

#[tokio::test]
async fn the_partner_popup_appears_only_with_a_partner_and_authorize_now_verifies() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut b, _d) = app.account("sync@example.com").await;
    confirm_email(&app, &mut b, "sync@example.com").await;

    let without = b.get("/verify/method").await.text();
    assert!(!without.contains("id=\"partner-popup\""), "no popup without a partner");
    import_partner(&app, "JD Mall", "sync-at-jd", "张三", &id).await;

    let method = b.get("/verify/method").await.text();
    assert!(method.contains("id=\"partner-popup\"") && method.contains("data-partner=\"JD Mall\""), "popup shown");
    assert!(method.contains("立即授权") && method.contains("暂不授权，手动认证"), "the seed's two choices");
    assert!(
        !method.contains("*三") && !method.contains(&realname_protocol::mask::mask_id_number(&id)),
        "no person's data before the partner is authorized"
    );

    let resp = partner_sync(&mut b, "JD Mall", "sync-at-jd").await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.text());
    assert_eq!(resp.location().as_deref(), Some("/verify/details"));
    let details = b.get("/verify/details").await.text();
    assert!(details.contains("同步自JD Mall"), "method names the partner");
    let _ = b.get("/lang/en?next=/verify/details").await;
    assert!(b.get("/verify/details").await.text().contains("Synchronized from JD Mall"));

    let account = app.state.store.account_by_email("sync@example.com").await.expect("db").expect("account");
    let consents = app.state.store.partner_consents_of(&account.id).await.expect("db");
    assert_eq!(consents.len(), 1);
    assert_eq!(
        (consents[0].partner.as_str(), consents[0].shared.as_str(), consents[0].decision.as_str()),
        ("JD Mall", "name,id_number", "authorized")
    );
    let v = app.state.store.verified_identity_of_account(&account.id).await.expect("db").expect("verified");
    assert_eq!(v.method, "partner:JD Mall");
    assert_eq!(v.id_hash, app.state.keys.id_hash(&id));
}

#[tokio::test]
async fn not_authorized_leads_to_the_method_choice_and_is_recorded() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    let (mut b, _d) = app.account("decline@example.com").await;
    import_partner(&app, "JD Finance", "decline@example.com", "张三", &id).await;
    let resp = b.submit("/verify/method", "/verify/partner/decline", &[("partner", "JD Finance")]).await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER);
    let next = resp.location().expect("redirect");
    let page = b.get(&next).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(!html.contains("id=\"partner-popup\""), "no popup on the manual choice");
    assert!(
        html.contains("value=\"face\"") && html.contains("value=\"mobile\" id=\"method-mobile\""),
        "both methods, mobile enabled"
    );
    let account = app.state.store.account_by_email("decline@example.com").await.expect("db").expect("account");
    assert!(app.state.store.verified_identity_of_account(&account.id).await.expect("db").is_none());
    let consents = app.state.store.partner_consents_of(&account.id).await.expect("db");
    assert_eq!(consents.iter().map(|c| c.decision.as_str()).collect::<Vec<_>>(), ["declined"]);
}

#[tokio::test]
async fn partner_data_must_pass_the_authority_check() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut b, _d) = app.account("mismatch@example.com").await;
    confirm_email(&app, &mut b, "mismatch@example.com").await;
    import_partner(&app, "JD Mall", "mismatch-at-jd", "李四", &id).await;
    let resp = partner_sync(&mut b, "JD Mall", "mismatch-at-jd").await;
    assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(resp.page_error_code().as_deref(), Some("identity_mismatch"));
    let unknown = b.submit("/verify/method", "/verify/partner/authorize", &[("partner", "Nobody")]).await;
    assert_eq!(unknown.page_error_code().as_deref(), Some("partner_not_verified"));
    assert_eq!(b.get("/verify/details").await.location().as_deref(), Some("/verify"), "not verified");
}

#[tokio::test]
async fn mobile_path_verifies_with_the_code_from_the_outbox() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    import_carrier(&app, PHONE, "张三", &id).await;
    let (mut b, _d) = app.account("mobile@example.com").await;

    assert_eq!(b.get("/verify/identity?method=mobile").await.location().as_deref(), Some("/verify/mobile"));
    let challenge = start_mobile(&mut b, "张三", &id, "+86 138 1234 5678").await;
    let page = b.get(&challenge).await.text();
    assert!(page.contains("138****5678") && !page.contains(PHONE), "phone masked on the page");
    let code = latest_code(&app, PHONE).await;
    assert_eq!(code.len(), 6);

    let ok = enter_code(&mut b, &challenge, &code).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text());
    assert_eq!(ok.location().as_deref(), Some("/verify/details"));
    let details = b.get("/verify/details").await.text();
    assert!(details.contains("手机号实名认证（短信）"));
    let account = app.state.store.account_by_email("mobile@example.com").await.expect("db").expect("account");
    let v = app.state.store.verified_identity_of_account(&account.id).await.expect("db").expect("verified");
    assert_eq!(v.method, "mobile");
    // The code is stored only as a keyed hash.
    let c = app
        .state
        .store
        .sms_challenge(challenge.trim_start_matches("/verify/mobile/"))
        .await
        .expect("db")
        .expect("challenge");
    assert!(!String::from_utf8_lossy(&c.code_hash).contains(&code) && c.code_hash.len() == 32);
}

#[tokio::test]
async fn wrong_codes_count_down_and_then_exhaust() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    import_carrier(&app, PHONE, "张三", &id).await;
    let (mut b, _d) = app.account("wrong@example.com").await;
    let challenge = start_mobile(&mut b, "张三", &id, PHONE).await;
    let code = latest_code(&app, PHONE).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for left in (1..=4).rev() {
        let resp = enter_code(&mut b, &challenge, wrong).await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(resp.page_error_code().as_deref(), Some("sms_code_wrong"));
        assert_eq!(detail(&resp), Some(format!("tries_left={left}")));
        assert!(resp.text().contains(&format!("还可尝试 {left} 次")), "the tries left are named");
    }
    let fifth = enter_code(&mut b, &challenge, "12ab").await;
    assert_eq!(fifth.page_error_code().as_deref(), Some("sms_code_exhausted"));
    let even_right = enter_code(&mut b, &challenge, &code).await;
    assert_eq!(even_right.page_error_code().as_deref(), Some("sms_code_exhausted"), "no more entries for this code");
}

#[tokio::test]
async fn codes_expire_and_resend_waits() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    import_carrier(&app, PHONE, "张三", &id).await;
    let (mut b, _d) = app.account("expire@example.com").await;
    let challenge = start_mobile(&mut b, "张三", &id, PHONE).await;
    let first = latest_code(&app, PHONE).await;

    let early = b.submit(&challenge, &format!("{challenge}/resend"), &[]).await;
    assert_eq!(early.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(early.page_error_code().as_deref(), Some("sms_resend_too_early"));
    assert_eq!(detail(&early), Some("retry_after=60".into()));
    // Nor is a new form a way around the wait.
    let again = send_code(&mut b, "张三", &id, PHONE).await;
    assert_eq!(again.page_error_code().as_deref(), Some("sms_resend_too_early"));
    assert_eq!(outbox_len(&app, PHONE).await, 1);

    app.clock.advance(301);
    let expired = enter_code(&mut b, &challenge, &first).await;
    assert_eq!(expired.status, StatusCode::GONE);
    assert_eq!(expired.page_error_code().as_deref(), Some("sms_code_expired"));

    let resent = b.submit(&challenge, &format!("{challenge}/resend"), &[]).await;
    assert_eq!(resent.status, StatusCode::SEE_OTHER, "{}", resent.text());
    assert_eq!(outbox_len(&app, PHONE).await, 2);
    let second = latest_code(&app, PHONE).await;
    if second != first {
        let old = enter_code(&mut b, &challenge, &first).await;
        assert_eq!(old.page_error_code().as_deref(), Some("sms_code_wrong"), "the old code is replaced");
    }
    let ok = enter_code(&mut b, &challenge, &second).await;
    assert_eq!(ok.location().as_deref(), Some("/verify/details"));
}

#[tokio::test]
async fn the_phone_must_belong_to_the_person() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    let other_id = id_number("31010119851120456");
    app.register_identity("张三", &id, 1).await;
    import_carrier(&app, OTHER_PHONE, "李四", &other_id).await;
    let (mut b, _d) = app.account("phone@example.com").await;

    let other = send_code(&mut b, "张三", &id, OTHER_PHONE).await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(other.page_error_code().as_deref(), Some("phone_mismatch"));
    assert_eq!(detail(&other).as_deref(), Some("phone_other_person"));
    let html = other.text();
    assert!(html.contains("value=\"张三\"") && html.contains(&format!("value=\"{OTHER_PHONE}\"")), "input kept");
    assert!(html.contains("id=\"phone\" name=\"phone\"") && html.contains("aria-invalid=\"true\""));

    let unknown = send_code(&mut b, "张三", &id, PHONE).await;
    assert_eq!(detail(&unknown).as_deref(), Some("phone_unknown"));
    let invalid = send_code(&mut b, "张三", &id, "12345").await;
    assert_eq!(invalid.page_error_code().as_deref(), Some("phone_invalid"));
    assert_eq!(detail(&invalid).as_deref(), Some("phone_format"));
    let bad_id = send_code(&mut b, "张三", "110105199003071230", PHONE).await;
    assert_eq!(bad_id.page_error_code().as_deref(), Some("id_number_invalid"), "same ID validation as the face path");
    assert_eq!(
        outbox_len(&app, OTHER_PHONE).await + outbox_len(&app, PHONE).await,
        0,
        "no SMS to a number that is not the person's"
    );
}

#[tokio::test]
async fn an_id_verified_elsewhere_is_refused_on_every_path() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    import_carrier(&app, PHONE, "张三", &id).await;
    let (mut first, _) = app.account("first@example.com").await;
    let challenge = start_mobile(&mut first, "张三", &id, PHONE).await;
    let code = latest_code(&app, PHONE).await;
    assert_eq!(enter_code(&mut first, &challenge, &code).await.location().as_deref(), Some("/verify/details"));

    let (mut second, _) = app.account("second@example.com").await;
    confirm_email(&app, &mut second, "second@example.com").await;
    import_partner(&app, "JD Mall", "second-at-jd", "张三", &id).await;
    let partner = partner_sync(&mut second, "JD Mall", "second-at-jd").await;
    assert_eq!(partner.status, StatusCode::CONFLICT);
    assert_eq!(partner.page_error_code().as_deref(), Some("id_already_verified"));
    app.clock.advance(61);
    let mobile = send_code(&mut second, "张三", &id, PHONE).await;
    assert_eq!(mobile.page_error_code().as_deref(), Some("id_already_verified"));
    let face = second.submit_identity("张三", &id).await;
    assert_eq!(face.page_error_code().as_deref(), Some("id_already_verified"));
}

#[tokio::test]
async fn a_code_already_sent_cannot_verify_an_id_that_verified_meanwhile() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    import_carrier(&app, PHONE, "张三", &id).await;
    let (mut a, _) = app.account("a@example.com").await;
    let (mut b, _) = app.account("b@example.com").await;
    let ca = start_mobile(&mut a, "张三", &id, PHONE).await;
    let code_a = latest_code(&app, PHONE).await;
    app.clock.advance(61);
    let cb = start_mobile(&mut b, "张三", &id, PHONE).await;
    let code_b = latest_code(&app, PHONE).await;
    assert_eq!(enter_code(&mut b, &cb, &code_b).await.location().as_deref(), Some("/verify/details"));
    let late = enter_code(&mut a, &ca, &code_a).await;
    assert_eq!(late.page_error_code().as_deref(), Some("id_already_verified"));
}

#[tokio::test]
async fn sending_is_rate_limited_per_account() {
    let app = TestApp::with_config(|c| c.sms.per_account_per_hour = 1).await;
    // The limit counts in windows aligned on the hour: both sends must fall into one (the
    // manual clock starts at the wall clock, and a run in an hour's last minute crossed into
    // the next window and was allowed the second send).
    let into_hour = realname_server::clock::Clock::now(app.clock.as_ref()).rem_euclid(3600);
    if into_hour > 3600 - 120 {
        app.clock.advance(3600 - into_hour + 1);
    }
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    import_carrier(&app, PHONE, "张三", &id).await;
    let (mut b, _d) = app.account("limit@example.com").await;
    let _ = start_mobile(&mut b, "张三", &id, PHONE).await;
    app.clock.advance(61);
    let again = send_code(&mut b, "张三", &id, PHONE).await;
    assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(again.page_error_code().as_deref(), Some("rate_limited"));
    assert_eq!(detail(&again).as_deref(), Some("limit=account"));
}

#[tokio::test]
async fn the_admin_outbox_page_needs_the_admin_token() {
    let closed = TestApp::new().await;
    assert_eq!(closed.browser().get("/admin/sms-outbox").await.status, StatusCode::NOT_FOUND);

    let app = TestApp::with_config(|c| {
        c.admin_token = Some(realname_server::config::Secret::new("admin-token-123-0123456789abcdef0123"))
    })
    .await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    import_carrier(&app, PHONE, "张三", &id).await;
    let (mut b, _d) = app.account("outbox@example.com").await;
    let _ = start_mobile(&mut b, "张三", &id, PHONE).await;
    let code = latest_code(&app, PHONE).await;

    let mut admin = app.browser();
    // The token in the query string is no longer a credential (it ends up in logs and history).
    let by_query = admin.get("/admin/sms-outbox?token=admin-token-123-0123456789abcdef0123").await;
    assert_eq!(by_query.status, StatusCode::UNAUTHORIZED);
    assert_eq!(by_query.error().code, realname_protocol::ErrorCode::Unauthorized);
    let bearer = |path: &str, token: &str| {
        admin
            .request(axum::http::Method::GET, path)
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .expect("request")
    };
    assert_eq!(app.send(bearer("/admin/sms-outbox", "wrong")).await.status, StatusCode::UNAUTHORIZED);
    let page =
        app.send(bearer(&format!("/admin/sms-outbox?phone={PHONE}"), "admin-token-123-0123456789abcdef0123")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains(&code), "the code is readable for testers");
    let json = app.send(bearer("/admin/sms-outbox?format=json", "admin-token-123-0123456789abcdef0123")).await.json();
    assert_eq!(json[0]["phone"], PHONE);

    // A browser types the token once into /admin/signin and gets the admin cookie.
    let wrong = admin.submit("/admin/signin", "/admin/signin", &[("token", "wrong")]).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.page_error_code().as_deref(), Some("unauthorized"));
    let signed_in =
        admin.submit("/admin/signin", "/admin/signin", &[("token", "admin-token-123-0123456789abcdef0123")]).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.text());
    let set_cookie = signed_in.headers.get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(
        set_cookie.starts_with("rn_admin=")
            && set_cookie.contains("HttpOnly")
            && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let page = admin.get(&format!("/admin/sms-outbox?phone={PHONE}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains(&code));
}

#[tokio::test]
async fn an_unreachable_partner_never_blocks_manual_verification() {
    // A port that was free a moment ago: connection refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let app = TestApp::with_config(|c| {
        c.partners.kind = realname_server::config::PartnerKind::Http;
        c.partners.name = "JD Mall".into();
        c.partners.authorize_url = Some(format!("http://127.0.0.1:{port}/oauth/authorize"));
        c.partners.token_url = Some(format!("http://127.0.0.1:{port}/oauth/token"));
        c.partners.secret = Some(realname_server::config::Secret::new("shared"));
        c.partners.timeout_ms = 300;
        c.partners.retries = 0;
    })
    .await;
    let (mut b, _d) = app.account("down@example.com").await;
    confirm_email(&app, &mut b, "down@example.com").await;
    let method = b.get("/verify/method").await;
    assert_eq!(method.status, StatusCode::OK);
    assert!(method.text().contains("data-partner=\"JD Mall\""), "the configured partner is offered");
    let authorize = b.submit("/verify/method", "/verify/partner/authorize", &[("partner", "JD Mall")]).await;
    let to_partner = authorize.location().expect("redirect to the partner");
    assert!(to_partner.starts_with(&format!("http://127.0.0.1:{port}/oauth/authorize?")), "{to_partner}");
    // The partner answered (somehow) but its token endpoint is down.
    let state: String = url::Url::parse(&to_partner)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");
    let back = b.get(&format!("/verify/partner/callback?code=c0de&state={state}")).await;
    assert_eq!(back.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(back.page_error_code().as_deref(), Some("partner_unavailable"));
    assert!(back.text().contains("id=\"method-mobile\""), "the method choice stays open");
}
