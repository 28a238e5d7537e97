//! Partner sync's trust chain (issue 14, finding 1), in-process on SQLite and PostgreSQL: an
//! account signed up with a partner-verified person's e-mail gets neither the person's data
//! nor their verification; the OAuth 2.0 round trip with PKCE against the local partner
//! stand-in verifies the right person; state, code reuse, expiry, verifier, redirect URI and
//! client checks each refuse with their code; e-mail confirmation (single use, lifetime, bound
//! to the account, resend wait) gates partner sync.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use realname_server::partner;

use super::support::{Browser, ORIGIN, TestApp, TestResponse, attr_after, id_number};

/// The partner login password every test import uses.
pub(super) const PARTNER_PASSWORD: &str = "partner pass 8x";

/// Imports one partner user (`login` at `partner_name`) who completed verification there.
pub(super) async fn import_partner(app: &TestApp, partner_name: &str, login: &str, name: &str, id: &str) {
    let csv = format!("partner,login,password,name,id_number\n{partner_name},{login},{PARTNER_PASSWORD},{name},{id}\n");
    let report =
        partner::import_partner_records(&*app.state.store, &app.state.keys, &csv, app.state.today(), app.state.now())
            .await
            .expect("import");
    assert_eq!(report.imported, 1, "{report:?}");
}

/// The newest confirmation link sent to `email`, as a path on the test origin.
pub(super) async fn confirmation_link(app: &TestApp, email: &str) -> String {
    let mails = realname_server::email::read_email_outbox(&*app.state.store, &app.state.keys, Some(email), 1)
        .await
        .expect("outbox");
    let link = mails.first().and_then(|m| m.link.clone()).expect("a confirmation mail with a link");
    link.strip_prefix(ORIGIN).expect("a link on the server's origin").to_owned()
}

/// Opens the account's confirmation link in its own browser.
pub(super) async fn confirm_email(app: &TestApp, b: &mut Browser<'_>, email: &str) {
    let link = confirmation_link(app, email).await;
    let page = b.get(&link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert!(page.text().contains("id=\"email-confirmed\""), "confirmed");
}

fn path_of(url: &str) -> String {
    url.strip_prefix(ORIGIN).unwrap_or_else(|| panic!("a URL on the test origin: {url}")).to_owned()
}

fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url).expect("URL").query_pairs().into_owned().collect()
}

/// *Authorize Now* → the partner's sign-in page; returns its URL.
pub(super) async fn authorize_now(b: &mut Browser<'_>, partner_name: &str) -> String {
    let resp = b.submit("/verify/method", "/verify/partner/authorize", &[("partner", partner_name)]).await;
    assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.text());
    resp.location().expect("redirect to the partner")
}

/// Signs in at the stand-in and approves; returns the redirect back (the callback URL).
pub(super) async fn approve_at_partner(
    b: &mut Browser<'_>,
    authorize_url: &str,
    login: &str,
    password: &str,
) -> TestResponse {
    let sign_in_path = path_of(authorize_url);
    let page = b.get(&sign_in_path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let oauth = query_of(authorize_url);
    let mut fields: Vec<(&str, &str)> = oauth.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    fields.extend([("login", login), ("password", password)]);
    let consent = b.submit(&sign_in_path, &sign_in_path, &fields).await;
    if consent.status != StatusCode::OK {
        return consent;
    }
    let html = consent.text();
    let ticket = attr_after(&html, "name=\"ticket\" value=\"").expect("a consent ticket");
    let expires = attr_after(&html, "name=\"expires\" value=\"").expect("expiry");
    let consent_path = sign_in_path.split('?').next().unwrap_or_default().replace("/oauth/authorize", "/oauth/consent");
    let mut fields: Vec<(&str, &str)> = oauth.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    fields.extend([
        ("login", login),
        ("ticket", ticket.as_str()),
        ("expires", expires.as_str()),
        ("decision", "approve"),
    ]);
    let csrf = attr_after(&html, "name=\"csrf\" value=\"").expect("csrf");
    fields.push(("csrf", csrf.as_str()));
    b.post_raw(&consent_path, &fields).await
}

/// The whole round trip; returns the callback's response.
pub(super) async fn partner_sync(b: &mut Browser<'_>, partner_name: &str, login: &str) -> TestResponse {
    let authorize = authorize_now(b, partner_name).await;
    let back = approve_at_partner(b, &authorize, login, PARTNER_PASSWORD).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.text());
    let callback = back.location().expect("redirect back");
    b.get(&path_of(&callback)).await
}

fn masked_forms(name: &str, id: &str) -> [String; 2] {
    [realname_protocol::mask::mask_name(name), realname_protocol::mask::mask_id_number(id)]
}

#[tokio::test]
async fn an_account_with_a_verified_persons_email_gets_neither_their_data_nor_their_verification() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    // The victim is verified at JD Mall, where their login is their e-mail address.
    import_partner(&app, "JD Mall", "victim@example.com", "张三", &id).await;

    // The attacker signs up on Realname with the victim's e-mail address.
    let (mut attacker, _d) = app.account("victim@example.com").await;
    let method = attacker.get("/verify/method").await.text();
    for shown in masked_forms("张三", &id) {
        assert!(!method.contains(&shown), "the popup shows none of the victim's data ({shown})");
    }
    let authorize = attacker.submit("/verify/method", "/verify/partner/authorize", &[("partner", "JD Mall")]).await;
    assert_ne!(authorize.location().as_deref(), Some("/verify/details"), "no verification from the e-mail text");
    assert_eq!(authorize.page_error_code().as_deref(), Some("email_unconfirmed"));
    for shown in masked_forms("张三", &id) {
        assert!(!authorize.text().contains(&shown), "no victim data on the refusal either");
    }
    assert_eq!(attacker.get("/verify/details").await.location().as_deref(), Some("/verify"), "not verified");

    // The confirmation link went to the victim's mailbox: clicked without a sign-in, or while
    // signed in to another account, it confirms nothing.
    let link = confirmation_link(&app, "victim@example.com").await;
    let anonymous = app.browser().get(&link).await;
    assert!(anonymous.text().contains("id=\"email-signin-needed\""));
    let (mut other, _) = app.account("someone-else@example.com").await;
    assert_eq!(other.get(&link).await.page_error_code().as_deref(), Some("email_token_invalid"));
    let account = app.state.store.account_by_email("victim@example.com").await.expect("db").expect("account");
    assert_eq!(app.state.store.email_confirmed_at(&account.id).await.expect("db"), None);

    // Even with a confirmed e-mail of its own, an account must sign in at the partner as the
    // person: without the partner password there is no code, and no verification.
    let (mut own, _) = app.account("attacker@example.com").await;
    confirm_email(&app, &mut own, "attacker@example.com").await;
    let to_partner = authorize_now(&mut own, "JD Mall").await;
    let refused = approve_at_partner(&mut own, &to_partner, "victim@example.com", "guessed password").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.page_error_code().as_deref(), Some("invalid_credentials"));
    for shown in masked_forms("张三", &id) {
        assert!(!refused.text().contains(&shown));
    }
    assert_eq!(own.get("/verify/details").await.location().as_deref(), Some("/verify"));
    assert!(app.state.store.verified_identity_by_id_hash(&app.state.keys.id_hash(&id)).await.expect("db").is_none());
}

#[tokio::test]
async fn the_consent_round_trip_verifies_the_person_the_partner_asserts() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    // The partner login has nothing to do with the Realname e-mail.
    import_partner(&app, "JD Mall", "zhangsan-jd", "张三", &id).await;
    let (mut b, _d) = app.account("sync@example.com").await;
    confirm_email(&app, &mut b, "sync@example.com").await;

    let method = b.get("/verify/method").await.text();
    assert!(method.contains("id=\"partner-popup\"") && method.contains("data-partner=\"JD Mall\""), "popup offered");
    assert!(method.contains("立即授权") && method.contains("暂不授权，手动认证"), "the seed's two choices");

    let authorize = authorize_now(&mut b, "JD Mall").await;
    let q = query_of(&authorize);
    assert!(authorize.starts_with(&format!("{ORIGIN}/partner/JD%20Mall/oauth/authorize?")), "{authorize}");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "realname");
    assert_eq!(q["redirect_uri"], format!("{ORIGIN}/verify/partner/callback"));
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["state"].len() >= 40);

    let wrong = approve_at_partner(&mut b, &authorize, "zhangsan-jd", "not the password").await;
    assert_eq!(wrong.page_error_code().as_deref(), Some("invalid_credentials"));
    let back = approve_at_partner(&mut b, &authorize, "zhangsan-jd", PARTNER_PASSWORD).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.text());
    let callback = back.location().expect("redirect");
    let cq = query_of(&callback);
    assert!(callback.starts_with(&format!("{ORIGIN}/verify/partner/callback?")));
    assert_eq!(cq["state"], q["state"], "the state comes back unchanged");
    let done = b.get(&path_of(&callback)).await;
    assert_eq!(done.location().as_deref(), Some("/verify/details"), "{}", done.text());
    let details = b.get("/verify/details").await.text();
    assert!(details.contains("同步自JD Mall") && details.contains("*三"));

    let account = app.state.store.account_by_email("sync@example.com").await.expect("db").expect("account");
    let v = app.state.store.verified_identity_of_account(&account.id).await.expect("db").expect("verified");
    assert_eq!((v.method.as_str(), v.id_hash.clone()), ("partner:JD Mall", app.state.keys.id_hash(&id)));
    let consents = app.state.store.partner_consents_of(&account.id).await.expect("db");
    assert_eq!(consents.len(), 1);
    assert_eq!(
        (consents[0].partner.as_str(), consents[0].shared.as_str(), consents[0].decision.as_str()),
        ("JD Mall", "name,id_number", "authorized")
    );

    // The callback cannot be replayed: its state is used up.
    let replay = b.get(&path_of(&callback)).await;
    assert_eq!(replay.page_error_code().as_deref(), Some("partner_state_invalid"));
}

#[tokio::test]
async fn denying_at_the_partner_records_a_decline_and_verifies_nothing() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    import_partner(&app, "JD Finance", "li-jd", "张三", &id).await;
    let (mut b, _d) = app.account("deny@example.com").await;
    confirm_email(&app, &mut b, "deny@example.com").await;
    let authorize = authorize_now(&mut b, "JD Finance").await;
    let q = query_of(&authorize);
    let back = b.get(&format!("/verify/partner/callback?error=access_denied&state={}", q["state"])).await;
    assert_eq!(back.status, StatusCode::FORBIDDEN);
    assert_eq!(back.page_error_code().as_deref(), Some("partner_denied"));
    let account = app.state.store.account_by_email("deny@example.com").await.expect("db").expect("account");
    let consents = app.state.store.partner_consents_of(&account.id).await.expect("db");
    assert_eq!(consents.iter().map(|c| c.decision.as_str()).collect::<Vec<_>>(), ["declined"]);
    assert!(app.state.store.verified_identity_of_account(&account.id).await.expect("db").is_none());
}

#[tokio::test]
async fn a_state_from_another_browser_session_is_refused() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    import_partner(&app, "JD Mall", "zhangsan-jd", "张三", &id).await;
    let (mut victim, _) = app.account("state-victim@example.com").await;
    confirm_email(&app, &mut victim, "state-victim@example.com").await;
    let (mut attacker, _) = app.account("state-attacker@example.com").await;
    confirm_email(&app, &mut attacker, "state-attacker@example.com").await;

    // The attacker completes the partner side and hands the callback URL to the victim (login
    // CSRF): the victim's browser session never started that request.
    let authorize = authorize_now(&mut attacker, "JD Mall").await;
    let back = approve_at_partner(&mut attacker, &authorize, "zhangsan-jd", PARTNER_PASSWORD).await;
    let callback = path_of(&back.location().expect("redirect"));
    let planted = victim.get(&callback).await;
    assert_eq!(planted.status, StatusCode::BAD_REQUEST);
    assert_eq!(planted.page_error_code().as_deref(), Some("partner_state_invalid"));
    let made_up = victim.get("/verify/partner/callback?code=abc&state=made-up").await;
    assert_eq!(made_up.page_error_code().as_deref(), Some("partner_state_invalid"));
    assert_eq!(victim.get("/verify/details").await.location().as_deref(), Some("/verify"));

    // An expired request is refused too, even in the right browser.
    let authorize = authorize_now(&mut victim, "JD Mall").await;
    let back = approve_at_partner(&mut victim, &authorize, "zhangsan-jd", PARTNER_PASSWORD).await;
    app.clock.advance(601);
    let late = victim.get(&path_of(&back.location().expect("redirect"))).await;
    assert_eq!(late.page_error_code().as_deref(), Some("partner_state_invalid"));
}

/// A client of the stand-in speaking to its routes directly, with its own PKCE pair.
struct Client {
    verifier: String,
    challenge: String,
}

impl Client {
    fn new(seed: u8) -> Self {
        use base64::Engine as _;
        let verifier = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([seed; 32]);
        let challenge = partner::pkce_challenge(&verifier);
        Self { verifier, challenge }
    }

    fn authorize_url(&self, redirect_uri: &str) -> String {
        let mut url = url::Url::parse(&format!("{ORIGIN}/partner/JD%20Mall/oauth/authorize")).expect("url");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", "realname")
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", partner::SCOPE)
            .append_pair("state", "client-state-123")
            .append_pair("code_challenge", &self.challenge)
            .append_pair("code_challenge_method", "S256");
        url.into()
    }

    /// A fresh code for `zhangsan-jd`.
    async fn code(&self, b: &mut Browser<'_>) -> String {
        let back = approve_at_partner(b, &self.authorize_url(&callback()), "zhangsan-jd", PARTNER_PASSWORD).await;
        assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.text());
        query_of(&back.location().expect("redirect"))["code"].clone()
    }
}

fn callback() -> String {
    format!("{ORIGIN}/verify/partner/callback")
}

/// `POST /partner/JD%20Mall/oauth/token`, signed with `secret`.
async fn token(app: &TestApp, secret: &str, code: &str, verifier: &str, redirect_uri: &str) -> TestResponse {
    let path = "/partner/JD%20Mall/oauth/token";
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("client_id", "realname")
        .append_pair("code_verifier", verifier)
        .finish();
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(partner::TIMESTAMP_HEADER, ts.to_string())
        .header(partner::SIGNATURE_HEADER, partner::sign_request(secret, ts, "POST", path, body.as_bytes()))
        .body(Body::from(body))
        .expect("request");
    app.send(req).await
}

fn refusal(resp: &TestResponse) -> (StatusCode, String, String) {
    let v = resp.json();
    (resp.status, v["error"].as_str().unwrap_or_default().to_owned(), v["code"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn the_token_endpoint_refuses_reuse_expiry_wrong_verifier_redirect_and_client() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    import_partner(&app, "JD Mall", "zhangsan-jd", "张三", &id).await;
    let secret = realname_server::partner_local::client_secret(&app.state.partner);
    let mut b = app.browser();
    let client = Client::new(7);

    // The right code + verifier: the person the partner user is; a second exchange is refused.
    let code = client.code(&mut b).await;
    let ok = token(&app, &secret, &code, &client.verifier, &callback()).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    let person = ok.json();
    assert_eq!(
        (person["partner"].as_str(), person["name"].as_str(), person["id_number"].as_str()),
        (Some("JD Mall"), Some("张三"), Some(id.as_str()))
    );
    let again = token(&app, &secret, &code, &client.verifier, &callback()).await;
    assert_eq!(refusal(&again), (StatusCode::BAD_REQUEST, "invalid_grant".into(), "partner_code_used".into()));

    // A wrong verifier is refused, and burns the code.
    let code = client.code(&mut b).await;
    let wrong = token(&app, &secret, &code, &Client::new(8).verifier, &callback()).await;
    assert_eq!(refusal(&wrong), (StatusCode::BAD_REQUEST, "invalid_grant".into(), "partner_verifier_invalid".into()));
    let after = token(&app, &secret, &code, &client.verifier, &callback()).await;
    assert_eq!(refusal(&after).2, "partner_code_used");

    // Another redirect URI than the code's.
    let code = client.code(&mut b).await;
    let moved = token(&app, &secret, &code, &client.verifier, "http://evil.example/cb").await;
    assert_eq!(refusal(&moved), (StatusCode::BAD_REQUEST, "invalid_grant".into(), "partner_redirect_invalid".into()));

    // An expired code (lifetime 60 s).
    let code = client.code(&mut b).await;
    app.clock.advance(61);
    let late = token(&app, &secret, &code, &client.verifier, &callback()).await;
    assert_eq!(refusal(&late), (StatusCode::BAD_REQUEST, "invalid_grant".into(), "partner_code_expired".into()));

    // An unknown code, and a request not signed with the client secret.
    assert_eq!(
        refusal(&token(&app, &secret, "no-such-code", &client.verifier, &callback()).await).2,
        "partner_code_invalid"
    );
    let code = client.code(&mut b).await;
    let forged = token(&app, "not the client secret", &code, &client.verifier, &callback()).await;
    assert_eq!(refusal(&forged), (StatusCode::UNAUTHORIZED, "invalid_client".into(), "partner_client_invalid".into()));
    let still_good = token(&app, &secret, &code, &client.verifier, &callback()).await;
    assert_eq!(still_good.status, StatusCode::OK, "an unauthenticated request does not use the code up");
}

#[tokio::test]
async fn the_authorization_endpoint_never_redirects_to_an_unregistered_uri() {
    let app = TestApp::new().await;
    import_partner(&app, "JD Mall", "zhangsan-jd", "张三", &id_number("11010519900307123")).await;
    let mut b = app.browser();
    let client = Client::new(9);
    let evil = b.get(&path_of(&client.authorize_url("http://evil.example/cb"))).await;
    assert_eq!(evil.status, StatusCode::BAD_REQUEST);
    assert_eq!(evil.location(), None, "no redirect to an unregistered URI");
    assert_eq!(evil.page_error_code().as_deref(), Some("partner_redirect_invalid"));
    let plain = path_of(&client.authorize_url(&callback()))
        .replace("code_challenge_method=S256", "code_challenge_method=plain");
    assert_eq!(b.get(&plain).await.page_error_code().as_deref(), Some("bad_request"), "PKCE S256 only");
    let unknown = path_of(&client.authorize_url(&callback())).replace("client_id=realname", "client_id=other");
    assert_eq!(b.get(&unknown).await.page_error_code().as_deref(), Some("partner_client_invalid"));
}

#[tokio::test]
async fn an_expired_code_at_the_callback_is_refused_with_its_code() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    import_partner(&app, "JD Mall", "zhangsan-jd", "张三", &id).await;
    let (mut b, _d) = app.account("late@example.com").await;
    confirm_email(&app, &mut b, "late@example.com").await;
    let authorize = authorize_now(&mut b, "JD Mall").await;
    let back = approve_at_partner(&mut b, &authorize, "zhangsan-jd", PARTNER_PASSWORD).await;
    app.clock.advance(61);
    let late = b.get(&path_of(&back.location().expect("redirect"))).await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST);
    assert_eq!(late.page_error_code().as_deref(), Some("partner_code_expired"));
    assert!(late.text().contains("id=\"method-mobile\""), "the manual methods stay open");
}

#[tokio::test]
async fn email_confirmation_works_once_expires_is_bound_to_the_account_and_gates_partner_sync() {
    // A 1 h link lifetime, so the browser session (12 h) outlives it in the test.
    let app = TestApp::with_config(|c| c.email.confirm_ttl_secs = 3600).await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    import_partner(&app, "JD Mall", "zhangsan-jd", "张三", &id).await;
    let (mut b, _d) = app.account("confirm@example.com").await;

    // Before confirmation: the notice, and partner sync refused (face and mobile stay open).
    let verify = b.get("/verify").await.text();
    assert!(
        verify.contains("id=\"email-notice\"")
            && verify.contains(&realname_protocol::mask::mask_email("confirm@example.com")),
        "notice with the masked address"
    );
    let method = b.get("/verify/method").await.text();
    assert!(method.contains("id=\"partner-email-needed\"") && !method.contains("id=\"authorize-now\""));
    let refused = b.submit("/verify/method", "/verify/partner/authorize", &[("partner", "JD Mall")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.page_error_code().as_deref(), Some("email_unconfirmed"));
    assert_eq!(b.get("/verify/identity").await.status, StatusCode::OK, "face verification needs no confirmation");

    // Resend waits 60 s between links.
    let early = b.submit("/verify", "/account/confirm-email/resend", &[]).await;
    assert_eq!(early.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(early.page_error_code().as_deref(), Some("email_resend_too_early"));
    let first = confirmation_link(&app, "confirm@example.com").await;

    // The link expires; a new one works, once.
    app.clock.advance(3601);
    assert_eq!(b.get(&first).await.page_error_code().as_deref(), Some("email_token_expired"));
    let resent = b.submit("/verify", "/account/confirm-email/resend", &[]).await;
    assert_eq!(resent.location().as_deref(), Some("/verify?email_sent=1"), "{}", resent.text());
    let second = confirmation_link(&app, "confirm@example.com").await;
    assert_ne!(first, second);
    // Another account cannot use it; a forged token neither.
    let (mut other, _) = app.account("other@example.com").await;
    assert_eq!(other.get(&second).await.page_error_code().as_deref(), Some("email_token_invalid"));
    assert_eq!(
        other.get("/account/confirm-email?token=rn_ec_forged").await.page_error_code().as_deref(),
        Some("email_token_invalid")
    );
    confirm_email(&app, &mut b, "confirm@example.com").await;
    assert_eq!(b.get(&second).await.page_error_code().as_deref(), Some("email_token_invalid"), "single use");
    let other_account = app.state.store.account_by_email("other@example.com").await.expect("db").expect("account");
    assert_eq!(app.state.store.email_confirmed_at(&other_account.id).await.expect("db"), None);

    // After confirmation: no notice, and partner sync goes through.
    assert!(!b.get("/verify").await.text().contains("id=\"email-notice\""));
    let done = partner_sync(&mut b, "JD Mall", "zhangsan-jd").await;
    assert_eq!(done.location().as_deref(), Some("/verify/details"), "{}", done.text());
}

#[tokio::test]
async fn the_admin_email_outbox_lists_the_links_for_testers() {
    let app = TestApp::with_config(|c| {
        c.admin_token = Some(realname_server::config::Secret::new("admin-token-1234567890abcdefghijkl"))
    })
    .await;
    let (_b, _d) = app.account("outbox-mail@example.com").await;
    assert_eq!(app.browser().get("/admin/email-outbox").await.status, StatusCode::UNAUTHORIZED);
    let req = Request::get("/admin/email-outbox?format=json&to=outbox-mail@example.com")
        .header(header::AUTHORIZATION, "Bearer admin-token-1234567890abcdefghijkl")
        .body(Body::empty())
        .expect("request");
    let list = app.send(req).await.json();
    assert_eq!(list[0]["to"], "outbox-mail@example.com");
    assert!(
        list[0]["link"]
            .as_str()
            .is_some_and(|l| l.starts_with(&format!("{ORIGIN}/account/confirm-email?token=rn_ec_")))
    );
}
