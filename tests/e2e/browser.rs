//! The PC pages in a real browser (Debian's Chromium, headless, through chromedriver): sign up,
//! Verify Now, an inline validation error that keeps the input, the QR — read off the screen
//! — and the page turning to *verified* when the companion side completes. Screenshots land in
//! `docs/screenshots/` for the README.

use std::time::Duration;

use anyhow::{Context, Result};
use realname_e2e::flow::{Device, decode_qr_png};
use realname_e2e::server::ServerSetup;
use realname_e2e::webdriver::{Browser, DriverProcess};
use realname_e2e::{clip_frame, id_number, workspace_root};
use realname_protocol::api::Outcome;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);

fn save(name: &str, png: &[u8]) -> Result<()> {
    let dir = workspace_root().join("docs/screenshots");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(name), png)?;
    Ok(())
}

#[tokio::test]
async fn pc_pages_walk_to_verified_in_a_real_browser() -> Result<()> {
    let setup =
        ServerSetup::new(&[("REALNAME_TEST_MODE", "1"), ("REALNAME_TEST_FIXED_CHALLENGE", "open_mouth")]).await?;
    let id = id_number(11);
    setup.register_person("张三", &id, &clip_frame("lp_d5", 1)?).await?;
    let server = setup.serve().await?;

    let driver = DriverProcess::chromedriver().await?;
    let profile = tempfile::tempdir()?;
    let browser = Browser::chromium(&driver, profile.path(), "zh-CN").await?;
    let base = &server.url;

    // Sign up through the form.
    browser.goto(&format!("{base}/signup")).await?;
    browser.type_into(&browser.find("#email").await?, "pc-user@example.com").await?;
    browser.type_into(&browser.find("#password").await?, "correct horse battery").await?;
    browser.click(&browser.find("form[action='/signup'] button[type=submit]").await?).await?;
    browser.wait_for("the verification page", "return document.querySelector('#verify-now')", WAIT).await?;
    save("pc-verify.png", &browser.screenshot_png().await?)?;

    // Verify Now → method (face is the default) → identity form.
    browser.click(&browser.find("#verify-now").await?).await?;
    browser.wait_for("the method page", "return document.querySelector('#next-step')", WAIT).await?;
    save("pc-method.png", &browser.screenshot_png().await?)?;
    browser.click(&browser.find("#next-step").await?).await?;
    browser.wait_for("the identity form", "return document.querySelector('#id_number')", WAIT).await?;

    // A wrong check digit: the error is shown inline and the input is kept.
    let mut wrong = id.clone().into_bytes();
    wrong[17] = if wrong[17] == b'1' { b'2' } else { b'1' };
    let wrong = String::from_utf8(wrong)?;
    browser.type_into(&browser.find("#name").await?, "张三").await?;
    browser.type_into(&browser.find("#id_number").await?, &wrong).await?;
    browser.click(&browser.find("form[action='/verify/identity'] button[type=submit]").await?).await?;
    let code = browser
        .wait_for("an inline error", "var a = document.querySelector('.alert-error'); return a && a.dataset.code", WAIT)
        .await?;
    assert_eq!(code, json!("id_number_invalid"));
    let kept = browser.property(&browser.find("#id_number").await?, "value").await?;
    assert_eq!(kept, json!(wrong), "the form keeps the typed ID number");
    let invalid =
        browser.execute("return document.querySelector('#id_number').getAttribute('aria-invalid')", json!([])).await?;
    assert_eq!(invalid, json!("true"));
    save("pc-identity-error.png", &browser.screenshot_png().await?)?;

    // Corrected: the QR page.
    browser.type_into(&browser.find("#id_number").await?, &id).await?;
    browser.click(&browser.find("form[action='/verify/identity'] button[type=submit]").await?).await?;
    browser
        .wait_for(
            "the QR image",
            "var i = document.querySelector('#qr'); return i && i.complete && i.naturalWidth > 0",
            WAIT,
        )
        .await?;
    save("pc-qr.png", &browser.screenshot_png().await?)?;

    // The companion scans the QR straight off the screen.
    let qr_png = browser.element_png(&browser.find("#qr").await?).await?;
    let payload = decode_qr_png(&qr_png).context("reading the QR from a screenshot")?;
    let device = Device::sign_in(base, "pc-user@example.com", "correct horse battery", "QA laptop").await?;
    let claim = device.claim(&payload).await?.map_err(anyhow::Error::new)?;
    browser
        .wait_for("the scanned state", "return document.querySelector('#session').dataset.state === 'scanned'", WAIT)
        .await?;
    device.confirm(&claim.session_id).await?.map_err(anyhow::Error::new)?;
    let frames = crate::face_flow::challenge_frames("lp_d5")?;
    let decision =
        device.capture(&claim.session_id, &claim.challenge.nonce, &frames).await?.map_err(anyhow::Error::new)?;
    assert_eq!(decision.outcome, Outcome::Passed, "{decision:?}");

    // The page turns to verified by itself (server push).
    browser
        .wait_for("the verified state", "return document.querySelector('#session').dataset.state === 'passed'", WAIT)
        .await?;
    save("pc-verified.png", &browser.screenshot_png().await?)?;

    browser.goto(&format!("{base}/verify/details")).await?;
    let name = browser.text(&browser.find("[data-field=name]").await?).await?;
    assert_eq!(name.trim(), "*三");
    let masked = browser.text(&browser.find("[data-field=id_number]").await?).await?;
    assert_eq!(masked.trim(), format!("1{}{}", "*".repeat(16), &id[17..]));
    save("pc-details.png", &browser.screenshot_png().await?)?;
    browser.goto(&format!("{base}/lang/en?next=/verify/details")).await?;
    browser.wait_for("the English page", "return document.documentElement.lang === 'en'", WAIT).await?;
    save("pc-details-en.png", &browser.screenshot_png().await?)?;

    browser.close().await?;
    Ok(())
}
