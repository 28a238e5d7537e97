//! The seed's two other paths end to end over HTTP against the real server binary: partner
//! sync (partner users imported, the confirmation link and the SMS outbox read with the admin
//! commands; the OAuth round trip through the local partner's sign-in and consent pages) and real-name
//! mobile phone verification — and the ways they must refuse.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use realname_e2e::flow::{Page, PcBrowser, attr_after, page_error_code};
use realname_e2e::server::{ServerProcess, ServerSetup};
use realname_e2e::{clip_frame, id_number};

const PASSWORD: &str = "correct horse battery";
const PHONE: &str = "13812345678";
const OTHER_PHONE: &str = "13987654321";

async fn server(extra_env: &[(&str, &str)]) -> Result<(ServerSetup, ServerProcess)> {
    let mut env = vec![("REALNAME_TEST_MODE", "1")];
    env.extend_from_slice(extra_env);
    let setup = ServerSetup::new(&env).await?;
    let server = setup.serve().await?;
    Ok((setup, server))
}

/// Runs `<what> import --csv` with the given CSV text.
pub(crate) async fn import_csv(setup: &ServerSetup, what: &str, csv: &str) -> Result<()> {
    let path = setup.dir.path().join(format!("{what}-{}.csv", std::process::id() ^ csv.len() as u32));
    std::fs::write(&path, csv)?;
    let out = setup.admin(&[what, "import", "--csv", &path.display().to_string(), "--json"]).await?;
    let report: serde_json::Value = serde_json::from_str(&out).with_context(|| format!("report {out:?}"))?;
    if report["rejected"].as_array().is_some_and(|r| !r.is_empty()) || report["imported"] == 0 {
        bail!("{what} import refused rows: {report}");
    }
    Ok(())
}

/// The code of the newest outbox message to `phone`, read with `sms outbox --json`.
pub(crate) async fn outbox_code(setup: &ServerSetup, phone: &str) -> Result<String> {
    let out = setup.admin(&["sms", "outbox", "--phone", phone, "--limit", "1", "--json"]).await?;
    let list: serde_json::Value = serde_json::from_str(&out)?;
    list[0]["code"].as_str().map(str::to_owned).with_context(|| format!("no code for the phone in {out}"))
}

async fn outbox_count(setup: &ServerSetup, phone: &str) -> Result<usize> {
    let out = setup.admin(&["sms", "outbox", "--phone", phone, "--limit", "100", "--json"]).await?;
    Ok(serde_json::from_str::<Vec<serde_json::Value>>(&out)?.len())
}

fn detail(page: &Page) -> Option<String> {
    attr_after(&page.html, "alert-error", "data-detail")
}

async fn send_code(b: &PcBrowser, name: &str, id: &str, phone: &str) -> Result<Page> {
    b.submit("/verify/mobile", "/verify/mobile", &[("name", name), ("id_number", id), ("phone", phone)]).await
}

/// The mobile form, expecting the code page; returns its path.
async fn start_mobile(b: &PcBrowser, name: &str, id: &str, phone: &str) -> Result<String> {
    let page = send_code(b, name, id, phone).await?;
    let path = url::Url::parse(&page.url)?.path().to_owned();
    if !path.starts_with("/verify/mobile/") {
        bail!("mobile form refused ({}): {:?} {:?}", page.status, page_error_code(&page.html), detail(&page));
    }
    Ok(path)
}

async fn enter_code(b: &PcBrowser, challenge: &str, code: &str) -> Result<Page> {
    b.submit(challenge, &format!("{challenge}/code"), &[("code", code)]).await
}

/// The partner login password of the test imports.
pub(crate) const PARTNER_PASSWORD: &str = "partner pass 8x";

/// The newest confirmation link to `email`, read with `email outbox --json`.
pub(crate) async fn confirmation_link(setup: &ServerSetup, email: &str) -> Result<String> {
    let out = setup.admin(&["email", "outbox", "--to", email, "--limit", "1", "--json"]).await?;
    let list: serde_json::Value = serde_json::from_str(&out)?;
    list[0]["link"].as_str().map(str::to_owned).with_context(|| format!("no confirmation link in {out}"))
}

/// Opens the account's confirmation link in its browser.
async fn confirm_email(setup: &ServerSetup, b: &PcBrowser, email: &str) -> Result<()> {
    let link = confirmation_link(setup, email).await?;
    let path = link.strip_prefix(&b.base).context("link on the server's origin")?;
    let page = b.get(path).await?;
    if !page.html.contains("id=\"email-confirmed\"") {
        bail!("e-mail not confirmed ({}): {:?}", page.status, page_error_code(&page.html));
    }
    Ok(())
}

/// *Authorize Now* → sign in at the local partner stand-in → approve → back; the final page.
async fn partner_sync(b: &PcBrowser, partner: &str, login: &str) -> Result<Page> {
    let signin = b.submit("/verify/method", "/verify/partner/authorize", &[("partner", partner)]).await?;
    let url = url::Url::parse(&signin.url)?;
    if !url.path().ends_with("/oauth/authorize") {
        bail!("not at the partner's sign-in ({}): {:?}", signin.status, page_error_code(&signin.html));
    }
    let oauth: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let at = format!("{}?{}", url.path(), url.query().unwrap_or_default());
    let mut fields: Vec<(&str, &str)> = oauth.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    fields.extend([("login", login), ("password", PARTNER_PASSWORD)]);
    let consent = b.submit(&at, &at, &fields).await?;
    let ticket = attr_after(&consent.html, "name=\"ticket\"", "value").context("no consent page")?;
    let expires = attr_after(&consent.html, "name=\"expires\"", "value").context("no expiry")?;
    let csrf = attr_after(&consent.html, "name=\"csrf\"", "value").context("no CSRF field")?;
    let mut body: Vec<(&str, &str)> = oauth.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    body.extend([
        ("csrf", csrf.as_str()),
        ("login", login),
        ("ticket", ticket.as_str()),
        ("expires", expires.as_str()),
        ("decision", "approve"),
    ]);
    let consent_url = format!("{}{}", b.base, url.path().replace("/oauth/authorize", "/oauth/consent"));
    let resp = b.http.post(consent_url).form(&body).send().await?;
    Ok(Page { url: resp.url().to_string(), status: resp.status().as_u16(), html: resp.text().await? })
}

async fn signed_up(base: &str, email: &str) -> Result<PcBrowser> {
    let b = PcBrowser::new(base)?;
    b.sign_up(email, PASSWORD).await?;
    Ok(b)
}

#[tokio::test]
async fn partner_popup_only_with_a_partner_decline_then_authorize_at_the_partner() -> Result<()> {
    let (setup, server) = server(&[]).await?;
    let id = id_number(21);
    setup.register_person("张三", &id, &clip_frame("lp_d5", 1)?).await?;

    let plain = signed_up(&server.url, "plain@example.com").await?;
    let page = plain.get("/verify/method").await?;
    assert!(!page.html.contains("id=\"partner-popup\""), "no popup without a partner");
    import_csv(
        &setup,
        "partners",
        &format!("partner,login,password,name,id_number\nJD Mall,zhangsan-jd,{PARTNER_PASSWORD},张三,{id}\n"),
    )
    .await?;

    let b = signed_up(&server.url, "synced@example.com").await?;
    let refused = b.submit("/verify/method", "/verify/partner/authorize", &[("partner", "JD Mall")]).await?;
    assert_eq!(page_error_code(&refused.html).as_deref(), Some("email_unconfirmed"), "sync needs a confirmed e-mail");
    confirm_email(&setup, &b, "synced@example.com").await?;
    let method = b.get("/verify/method").await?;
    assert!(
        method.html.contains("id=\"partner-popup\"") && method.html.contains("立即授权"),
        "popup with Authorize Now"
    );
    assert!(method.html.contains("暂不授权，手动认证"), "and Not Authorized Temporarily and Manual Verification");

    let declined = b.submit("/verify/method", "/verify/partner/decline", &[("partner", "JD Mall")]).await?;
    assert!(declined.url.ends_with("/verify/method?manual=1"), "{}", declined.url);
    assert!(!declined.html.contains("id=\"partner-popup\""), "the method choice, without the popup");
    assert!(declined.html.contains("id=\"method-mobile\"") && declined.html.contains("value=\"face\""));

    let authorized = partner_sync(&b, "JD Mall", "zhangsan-jd").await?;
    assert!(authorized.url.ends_with("/verify/details"), "{} {:?}", authorized.url, page_error_code(&authorized.html));
    assert!(authorized.html.contains("同步自JD Mall"), "method names the partner");
    let list = setup.admin(&["verifications", "list", "--json"]).await?;
    let list: serde_json::Value = serde_json::from_str(&list)?;
    assert_eq!(list[0]["method"], "partner:JD Mall");
    assert!(!server.log().contains(&id), "the ID number never appears in the log");
    server.stop().await
}

#[tokio::test]
async fn mobile_path_with_the_code_from_the_outbox_wrong_code_and_resend_too_early() -> Result<()> {
    let (setup, server) = server(&[]).await?;
    let id = id_number(22);
    setup.register_person("张三", &id, &clip_frame("lp_d5", 1)?).await?;
    import_csv(&setup, "carrier", &format!("phone,name,id_number\n{PHONE},张三,{id}\n")).await?;
    let b = signed_up(&server.url, "mobile@example.com").await?;

    let method = b.get("/verify/method").await?;
    assert!(method.html.contains("value=\"mobile\" id=\"method-mobile\">"), "mobile method enabled");
    let form = b.get("/verify/identity?method=mobile").await?;
    assert!(form.url.ends_with("/verify/mobile") && form.html.contains("id=\"phone\""));

    let challenge = start_mobile(&b, "张三", &id, PHONE).await?;
    let code = outbox_code(&setup, PHONE).await?;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let miss = enter_code(&b, &challenge, wrong).await?;
    assert_eq!(miss.status, 422);
    assert_eq!(page_error_code(&miss.html).as_deref(), Some("sms_code_wrong"));
    assert_eq!(detail(&miss).as_deref(), Some("tries_left=4"));

    let early = b.submit(&challenge, &format!("{challenge}/resend"), &[]).await?;
    assert_eq!(early.status, 429);
    assert_eq!(page_error_code(&early.html).as_deref(), Some("sms_resend_too_early"));
    assert_eq!(outbox_count(&setup, PHONE).await?, 1, "no second SMS");

    let ok = enter_code(&b, &challenge, &code).await?;
    assert!(ok.url.ends_with("/verify/details"), "{} {:?}", ok.url, page_error_code(&ok.html));
    assert!(ok.html.contains("手机号实名认证"));
    let log = server.log();
    assert!(!log.contains(PHONE) && !log.contains(&code) && !log.contains(&id), "no phone, code or ID in the log");
    server.stop().await
}

#[tokio::test]
async fn an_expired_code_is_refused_with_its_cause() -> Result<()> {
    // Test mode allows a 1-second code lifetime, so expiry is reached without a fake clock in
    // the server process.
    let (setup, server) = server(&[("REALNAME_SMS_CODE_TTL_SECS", "1")]).await?;
    let id = id_number(23);
    setup.register_person("张三", &id, &clip_frame("lp_d5", 1)?).await?;
    import_csv(&setup, "carrier", &format!("phone,name,id_number\n{PHONE},张三,{id}\n")).await?;
    let b = signed_up(&server.url, "expired@example.com").await?;
    let challenge = start_mobile(&b, "张三", &id, PHONE).await?;
    let code = outbox_code(&setup, PHONE).await?;
    // The only way past a wall-clock deadline in a separate process is to let it pass.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let late = enter_code(&b, &challenge, &code).await?;
    assert_eq!(late.status, 410);
    assert_eq!(page_error_code(&late.html).as_deref(), Some("sms_code_expired"));
    server.stop().await
}

#[tokio::test]
async fn phone_of_another_person_and_an_id_verified_elsewhere_are_refused_on_every_path() -> Result<()> {
    let (setup, server) = server(&[]).await?;
    let id = id_number(24);
    let other_id = id_number(25);
    setup.register_person("张三", &id, &clip_frame("lp_d5", 1)?).await?;
    import_csv(&setup, "carrier", &format!("phone,name,id_number\n{PHONE},张三,{id}\n{OTHER_PHONE},李四,{other_id}\n"))
        .await?;
    import_csv(
        &setup,
        "partners",
        &format!("partner,login,password,name,id_number\nJD Finance,second-jd,{PARTNER_PASSWORD},张三,{id}\n"),
    )
    .await?;

    let first = signed_up(&server.url, "first@example.com").await?;
    let mismatch = send_code(&first, "张三", &id, OTHER_PHONE).await?;
    assert_eq!(mismatch.status, 422);
    assert_eq!(page_error_code(&mismatch.html).as_deref(), Some("phone_mismatch"));
    assert_eq!(detail(&mismatch).as_deref(), Some("phone_other_person"));
    assert_eq!(outbox_count(&setup, OTHER_PHONE).await?, 0, "no SMS to somebody else's phone");

    let challenge = start_mobile(&first, "张三", &id, PHONE).await?;
    let code = outbox_code(&setup, PHONE).await?;
    assert!(enter_code(&first, &challenge, &code).await?.url.ends_with("/verify/details"));

    let second = signed_up(&server.url, "second@example.com").await?;
    confirm_email(&setup, &second, "second@example.com").await?;
    let partner = partner_sync(&second, "JD Finance", "second-jd").await?;
    assert_eq!(page_error_code(&partner.html).as_deref(), Some("id_already_verified"), "partner path");
    let mobile = send_code(&second, "张三", &id, PHONE).await?;
    assert_eq!(page_error_code(&mobile.html).as_deref(), Some("id_already_verified"), "mobile path");
    let face = second.submit_identity("张三", &id).await?;
    assert_eq!(page_error_code(&face.html).as_deref(), Some("id_already_verified"), "face path");
    server.stop().await
}
