//! Partner sync and the mobile phone path in a real browser (headless Chromium through
//! chromedriver): sign-up, the confirmation link read on the admin e-mail outbox page, the
//! popup after *Verify Now*, *Authorize Now* through the partner's sign-in and consent pages
//! (OAuth with PKCE) to the details page, *Not
//! Authorized…* to the method choice, the mobile form, the code read on the admin outbox page
//! in the same browser, and the details page.

use std::time::Duration;

use anyhow::Result;
use realname_e2e::server::ServerSetup;
use realname_e2e::webdriver::{Browser, DriverProcess};
use realname_e2e::{clip_frame, id_number, workspace_root};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);
const ADMIN_TOKEN: &str = "e2e-admin-token-4b1d-0123456789abcdef";
const PHONE: &str = "13712345678";

fn save(name: &str, png: &[u8]) -> Result<()> {
    let dir = workspace_root().join("docs/screenshots");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(name), png)?;
    Ok(())
}

async fn sign_up(browser: &Browser, base: &str, email: &str) -> Result<()> {
    browser.goto(&format!("{base}/signup")).await?;
    browser.type_into(&browser.find("#email").await?, email).await?;
    browser.type_into(&browser.find("#password").await?, "correct horse battery").await?;
    browser.click(&browser.find("form[action='/signup'] button[type=submit]").await?).await?;
    browser.wait_for("the verification page", "return document.querySelector('#verify-now')", WAIT).await?;
    Ok(())
}

async fn sign_out(browser: &Browser) -> Result<()> {
    browser.click(&browser.find("form[action='/signout'] button").await?).await?;
    browser.wait_for("the sign-in page", "return document.querySelector('form[action=\"/signin\"]')", WAIT).await?;
    Ok(())
}

#[tokio::test]
async fn partner_popup_and_mobile_path_in_a_real_browser() -> Result<()> {
    let setup = ServerSetup::new(&[("REALNAME_TEST_MODE", "1"), ("REALNAME_ADMIN_TOKEN", ADMIN_TOKEN)]).await?;
    let (id1, id2) = (id_number(31), id_number(32));
    setup.register_person("张三", &id1, &clip_frame("lp_d5", 1)?).await?;
    setup.register_person("李四", &id2, &clip_frame("lp_d18", 1)?).await?;
    crate::paths::import_csv(
        &setup,
        "partners",
        &format!(
            "partner,login,password,name,id_number\nJD Mall,zhangsan-jd,{pw},张三,{id1}\nJD Finance,lisi-jd,{pw},李四,{id2}\n",
            pw = crate::paths::PARTNER_PASSWORD
        ),
    )
    .await?;
    crate::paths::import_csv(&setup, "carrier", &format!("phone,name,id_number\n{PHONE},李四,{id2}\n")).await?;
    let server = setup.serve().await?;
    let base = &server.url;

    let driver = DriverProcess::chromedriver().await?;
    let profile = tempfile::tempdir()?;
    let browser = Browser::chromium(&driver, profile.path(), "zh-CN").await?;

    // Account 1: sign up → the "confirm your e-mail" notice → the link from the e-mail outbox
    // (QA signs in as admin; the token is typed once, never a query parameter) → Verify Now →
    // the popup (no person's data) → Authorize Now → the partner's sign-in and consent pages
    // → back, verified.
    sign_up(&browser, base, "sync-user@example.com").await?;
    let notice = browser.text(&browser.find("#email-notice").await?).await?;
    assert!(notice.contains(&realname_protocol::mask::mask_email("sync-user@example.com")), "{notice}");
    browser.goto(&format!("{base}/admin/signin")).await?;
    browser.wait_for("the admin sign-in", "return document.querySelector('#admin-signin #token')", WAIT).await?;
    browser.type_into(&browser.find("#token").await?, ADMIN_TOKEN).await?;
    browser.click(&browser.find("#admin-signin button[type=submit]").await?).await?;
    browser.wait_for("the admin sign-in to finish", "return location.pathname !== '/admin/signin'", WAIT).await?;
    browser.goto(&format!("{base}/admin/email-outbox?to=sync-user@example.com")).await?;
    browser
        .wait_for("the e-mail outbox", "return document.querySelector('#email-outbox [data-field=link]')", WAIT)
        .await?;
    let link = browser
        .execute("return document.querySelector('#email-outbox [data-field=link]').getAttribute('href')", json!([]))
        .await?;
    let link = link.as_str().unwrap_or_default().to_owned();
    assert!(link.starts_with(&format!("{base}/account/confirm-email?token=")), "{link}");
    browser.goto(&link).await?;
    browser.wait_for("the confirmation", "return document.querySelector('#email-confirmed')", WAIT).await?;
    browser.click(&browser.find("#continue-verify").await?).await?;
    browser.wait_for("the verification page", "return document.querySelector('#verify-now')", WAIT).await?;
    assert!(!browser.exists("#email-notice").await?, "no notice once confirmed");
    browser.click(&browser.find("#verify-now").await?).await?;
    browser
        .wait_for(
            "the partner popup",
            "var p = document.querySelector('#partner-popup'); return p && p.getBoundingClientRect().width > 0",
            WAIT,
        )
        .await?;
    let popup = browser.text(&browser.find("#partner-popup").await?).await?;
    assert!(popup.contains("立即授权") && popup.contains("暂不授权，手动认证") && popup.contains("JD Mall"), "{popup}");
    assert!(
        !popup.contains("*三") && !popup.contains("*四"),
        "no person's data before the partner is authorized: {popup}"
    );
    save("pc-partner-popup.png", &browser.screenshot_png().await?)?;
    // One Authorize Now per partner: this person's partner is JD Mall.
    browser.click(&browser.find("#partner-popup a[data-partner='JD Mall']").await?).await?;
    browser.wait_for("the partner's sign-in", "return document.querySelector('#partner-signin #login')", WAIT).await?;
    browser.type_into(&browser.find("#login").await?, "zhangsan-jd").await?;
    browser.type_into(&browser.find("#password").await?, crate::paths::PARTNER_PASSWORD).await?;
    browser.click(&browser.find("#partner-sign-in").await?).await?;
    browser.wait_for("the partner's consent page", "return document.querySelector('#partner-approve')", WAIT).await?;
    save("partner-consent.png", &browser.screenshot_png().await?)?;
    browser.click(&browser.find("#partner-approve").await?).await?;
    browser.wait_for("the details page", "return document.querySelector('[data-field=method]')", WAIT).await?;
    let method = browser.text(&browser.find("[data-field=method]").await?).await?;
    assert_eq!(method.trim(), "同步自JD Mall");
    save("pc-partner-details.png", &browser.screenshot_png().await?)?;
    sign_out(&browser).await?;

    // Account 2: the popup → Not Authorized → method choice → mobile → SMS code → details.
    sign_up(&browser, base, "mobile-user@example.com").await?;
    browser.click(&browser.find("#verify-now").await?).await?;
    browser.wait_for("the partner popup", "return document.querySelector('#partner-popup')", WAIT).await?;
    browser.click(&browser.find("#not-authorized").await?).await?;
    browser
        .wait_for(
            "the method choice",
            "return location.search === '?manual=1' && document.querySelector('#method-mobile')",
            WAIT,
        )
        .await?;
    assert!(!browser.exists("#partner-popup").await?, "no popup on the manual choice");
    browser.click(&browser.find("#method-mobile").await?).await?;
    browser.click(&browser.find("#next-step").await?).await?;
    browser.wait_for("the mobile form", "return document.querySelector('#phone')", WAIT).await?;
    browser.type_into(&browser.find("#name").await?, "李四").await?;
    browser.type_into(&browser.find("#id_number").await?, &id2).await?;
    browser.type_into(&browser.find("#phone").await?, PHONE).await?;
    browser.click(&browser.find("#send-code").await?).await?;
    browser.wait_for("the code page", "return document.querySelector('#sms-challenge')", WAIT).await?;
    let challenge_url = browser.current_url().await?;
    let shown = browser.text(&browser.find("[data-field=phone]").await?).await?;
    assert_eq!(shown.trim(), "137****5678");
    let wait = browser.execute("return document.querySelector('#resend-code').dataset.wait", json!([])).await?;
    assert_ne!(wait, json!("0"), "resend waits");
    save("pc-mobile-code.png", &browser.screenshot_png().await?)?;

    // QA signs in as admin (the token typed once; it is never a query parameter) and reads
    // the code on the admin outbox page.
    browser.goto(&format!("{base}/admin/signin")).await?;
    browser.wait_for("the admin sign-in", "return document.querySelector('#admin-signin #token')", WAIT).await?;
    browser.type_into(&browser.find("#token").await?, ADMIN_TOKEN).await?;
    browser.click(&browser.find("#admin-signin button[type=submit]").await?).await?;
    browser
        .wait_for("the outbox after admin sign-in", "return location.pathname === '/admin/sms-outbox'", WAIT)
        .await?;
    browser.goto(&format!("{base}/admin/sms-outbox?phone={PHONE}")).await?;
    browser.wait_for("the outbox", "return document.querySelector('#outbox [data-field=code]')", WAIT).await?;
    let code = browser.text(&browser.find("#outbox [data-field=code]").await?).await?;
    assert_eq!(code.trim().len(), 6, "{code}");

    browser.goto(&challenge_url).await?;
    browser.wait_for("the code page", "return document.querySelector('#code')", WAIT).await?;
    browser.type_into(&browser.find("#code").await?, code.trim()).await?;
    browser.click(&browser.find("#verify-code").await?).await?;
    browser.wait_for("the details page", "return document.querySelector('[data-field=method]')", WAIT).await?;
    let method = browser.text(&browser.find("[data-field=method]").await?).await?;
    assert_eq!(method.trim(), "手机号实名认证（短信）");
    save("pc-mobile-details.png", &browser.screenshot_png().await?)?;

    browser.close().await?;
    server.stop().await
}
