//! The identity form: local validation (errors name the problem and keep the input), the
//! identity authority check, the one-ID-one-account pre-check.

use axum::http::StatusCode;

use super::support::{TestApp, attr_after, id_number};

#[tokio::test]
async fn validation_errors_name_the_problem_and_keep_the_input() {
    let app = TestApp::new().await;
    let (mut b, _d) = app.account("val@example.com").await;
    let good = id_number("11010519900307123");
    let mut bad_check = good.clone();
    let last = if bad_check.ends_with('0') { '1' } else { '0' };
    bad_check.pop();
    bad_check.push(last);

    let cases = [
        ("张三", bad_check.as_str(), "id_number_invalid", "id_number_check_digit", "id_number"),
        ("张三", "1101051990030712", "id_number_invalid", "id_number_length", "id_number"),
        ("张三", "110105199002301234", "id_number_invalid", "id_number_birth_date", "id_number"),
        ("张三", "990105199003071234", "id_number_invalid", "id_number_region", "id_number"),
        ("", good.as_str(), "name_invalid", "name_empty", "name"),
        ("张三3", good.as_str(), "name_invalid", "name_character", "name"),
    ];
    for (name, id, code, detail, field) in cases {
        let resp = b.submit_identity(name, id).await;
        assert_eq!(resp.status, StatusCode::UNPROCESSABLE_ENTITY, "{name} {id}: {}", resp.text());
        let html = resp.text();
        assert_eq!(resp.page_error_code().as_deref(), Some(code), "{name} {id}");
        assert_eq!(attr_after(&html, "data-detail=\"").as_deref(), Some(detail), "{name} {id}");
        assert!(html.contains(&format!("value=\"{name}\"")), "name kept: {name}");
        assert!(html.contains(&format!("value=\"{id}\"")), "ID kept: {id}");
        assert!(html.contains(&format!("id=\"{field}\" name=\"{field}\"")), "field present");
        assert!(html.contains("aria-invalid=\"true\""), "the wrong field is marked");
    }
    let check = b.submit_identity("张三", &bad_check).await.text();
    assert!(check.contains("身份证号校验码不正确"), "the message says what is wrong, in the page language");
    let _ = b.get("/lang/en?next=/verify").await;
    let check = b.submit_identity("张三", &bad_check).await.text();
    assert!(check.contains("check digit does not match"), "the message says what is wrong");
}

#[tokio::test]
async fn the_authority_must_confirm_name_and_number() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut b, _d) = app.account("auth@example.com").await;

    let mismatch = b.submit_identity("李四", &id).await;
    assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(mismatch.page_error_code().as_deref(), Some("identity_mismatch"));
    assert!(mismatch.text().contains("value=\"李四\""));

    let unknown = b.submit_identity("张三", &id_number("31010119851120456")).await;
    assert_eq!(unknown.page_error_code().as_deref(), Some("identity_unknown"));

    // Full-width digits and a lower-case x are normalised, not refused.
    let ok = b.submit_identity(" 张三 ", &id).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text());
    assert!(ok.location().unwrap_or_default().starts_with("/verify/sessions/"));
}

#[tokio::test]
async fn pages_of_the_flow_render_for_signed_in_users_only() {
    let app = TestApp::new().await;
    let mut anon = app.browser();
    for path in ["/verify", "/verify/method", "/verify/identity", "/verify/details"] {
        assert_eq!(anon.get(path).await.location().as_deref(), Some("/signin"), "{path}");
    }
    let (mut b, _d) = app.account("pages@example.com").await;
    let verify = b.get("/verify").await.text();
    assert!(verify.contains("个人实名认证") && verify.contains("立即认证"), "tab and Verify Now");
    let method = b.get("/verify/method").await.text();
    assert!(method.contains("人脸识别认证"));
    assert!(method.contains("value=\"mobile\" id=\"method-mobile\">"), "mobile method present and enabled");
    let form = b.get("/verify/identity").await.text();
    assert!(form.contains("name=\"id_number\""));
    let _ = b.get("/lang/en?next=/verify").await;
    let en = b.get("/verify").await.text();
    assert!(en.contains("Personal Verification") && en.contains("Verify Now"));
}
