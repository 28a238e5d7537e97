//! Snapshots of rendered pages (`insta`): the identity form with an error, in both languages,
//! and the method choice. Random values (CSRF tokens) are redacted.

use super::support::{TestApp, attr_after};

fn redact(html: &str) -> String {
    match attr_after(html, "name=\"csrf\" value=\"") {
        // One browser, one token: every form carries the same value.
        Some(token) => html.replace(&token, "[csrf]"),
        None => html.to_owned(),
    }
}

#[tokio::test]
async fn identity_form_with_an_error() {
    let app = TestApp::new().await;
    let (mut b, _d) = app.account("snap@example.com").await;
    let zh = b.submit_identity("张三", "11010519491231002").await;
    insta::assert_snapshot!("identity_form_error_zh", redact(&zh.text()));
    let _ = b.get("/lang/en?next=/verify").await;
    let en = b.submit_identity("Zhang San", "11010519491231002Y").await;
    insta::assert_snapshot!("identity_form_error_en", redact(&en.text()));
}

#[tokio::test]
async fn method_choice() {
    let app = TestApp::new().await;
    let (mut b, _d) = app.account("snap@example.com").await;
    let _ = b.get("/lang/en?next=/verify").await;
    insta::assert_snapshot!("method_choice_en", redact(&b.get("/verify/method").await.text()));
}
