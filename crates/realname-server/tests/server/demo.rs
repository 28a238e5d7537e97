//! Demo identities (issue 17): enrolled only in demo mode, verified and marked as demo there
//! (database, details page in both languages, webhook body), never passing outside demo mode —
//! neither at the identity form nor at the capture of a session begun in demo mode — and demo
//! mode refused with an HTTP identity authority.

use std::sync::Arc;

use axum::http::StatusCode;
use realname_protocol::api::Outcome;
use realname_server::config::{AuthorityKind, Config, Secret};
use realname_server::demo::{self, DemoConfig, DemoError};
use realname_server::face::{ScriptedAnalyzer, ScriptedFrame};
use realname_server::webhooks::WebhookEndpoint;
use realname_server::{Services, app, build_state, store};

use super::support::{ORIGIN, TestApp};

async fn demo_app() -> TestApp {
    TestApp::with_config(|c| {
        c.demo.enabled = true;
        c.webhooks.endpoints = vec![WebhookEndpoint {
            name: "crm".into(),
            url: "http://127.0.0.1:9/hooks".into(),
            secret: Secret::new("whsec_demo_0123456789"),
        }];
        c.webhooks.worker = false;
    })
    .await
}

async fn enroll(app: &TestApp, name: Option<&str>) -> demo::DemoIdentity {
    let s = &app.state;
    demo::enroll(
        &s.config.demo,
        &*s.store,
        &s.keys,
        s.analyzer.clone(),
        ScriptedFrame::neutral(1).to_png(),
        name,
        s.now(),
    )
    .await
    .expect("demo enrolment")
}

#[tokio::test]
async fn a_demo_identity_verifies_in_demo_mode_and_is_marked_everywhere() {
    let app = demo_app().await;
    let person = enroll(&app, None).await;
    assert_eq!(person.name, demo::DEFAULT_DEMO_NAME);
    assert!(demo::is_demo_id(&person.id_number), "generated in the demo range");
    let named = enroll(&app, Some("张三")).await;
    assert_eq!(named.name, "张三");
    assert_ne!(named.id_number, person.id_number, "every enrolment draws a new number");

    let (mut pc, phone) = app.account("demo@example.com").await;
    let (session, handle) = pc.start_verification(&person.name, &person.id_number).await;
    let claim = phone.claim(&handle).await;
    phone.confirm(&claim.session_id).await;
    let decision = phone.perform(&session, &claim, 1).await.expect("decision");
    assert_eq!(decision.outcome, Outcome::Passed, "{decision:?}");

    let account = app.state.store.account_by_email("demo@example.com").await.expect("store").expect("account");
    assert_eq!(
        app.state.store.verification_is_demo(&account.id).await.expect("store"),
        Some(true),
        "marked in the database"
    );

    let zh = pc.get("/verify/details").await;
    assert_eq!(zh.status, StatusCode::OK);
    assert!(zh.text().contains("data-field=\"demo\">演示<"), "{}", zh.text());
    pc.get("/lang/en?next=/verify/details").await;
    let en = pc.get("/verify/details").await;
    assert!(en.text().contains("data-field=\"demo\">Demo<"), "{}", en.text());
    assert!(en.text().contains("proves nothing about a real person"), "{}", en.text());

    let rows = app.state.store.list_webhooks(None, 10).await.expect("outbox");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let body: serde_json::Value = serde_json::from_str(&rows[0].body).expect("json");
    assert_eq!(body["type"], "verification.completed");
    assert_eq!(body["data"]["demo"], true, "{body}");
}

#[tokio::test]
async fn an_ordinary_verification_is_not_marked_demo() {
    let app = demo_app().await;
    let (phone, claim) = app.ready_session("李四", "real@example.com", "11010519800101123").await;
    let decision = phone.perform(&claim.session_id, &claim, 1).await.expect("decision");
    assert_eq!(decision.outcome, Outcome::Passed, "{decision:?}");
    let account = app.state.store.account_by_email("real@example.com").await.expect("store").expect("account");
    assert_eq!(app.state.store.verification_is_demo(&account.id).await.expect("store"), Some(false));
    let mut pc = app.browser();
    pc.submit("/signin", "/signin", &[("email", "real@example.com"), ("password", "correct horse battery")]).await;
    let page = pc.get("/verify/details").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.text().contains("data-field=\"demo\""), "{}", page.text());
    let rows = app.state.store.list_webhooks(None, 10).await.expect("outbox");
    let body: serde_json::Value = serde_json::from_str(&rows[0].body).expect("json");
    assert_eq!(body["data"]["demo"], false, "{body}");
}

/// The same database served without demo mode (a restarted server).
async fn without_demo(served: &TestApp) -> TestApp {
    let mut config = served.state.config.as_ref().clone();
    config.demo.enabled = false;
    let store = store::connect(&served.database_url).await.expect("open test database");
    let services = Services {
        store: Some(store),
        analyzer: Some(Arc::new(ScriptedAnalyzer)),
        authority: None,
        clock: Some(served.clock.clone()),
    };
    let state = build_state(config, ORIGIN.into(), services).await.expect("build state");
    TestApp {
        database_url: served.database_url.clone(),
        router: app(state.clone()),
        state,
        clock: served.clock.clone(),
        dir: tempfile::tempdir().expect("tempdir"),
    }
}

#[tokio::test]
async fn demo_identities_never_pass_outside_demo_mode() {
    let demo_server = demo_app().await;
    let person = enroll(&demo_server, None).await;
    // A session begun (identity form passed, QR shown) while the server was in demo mode ...
    let (mut pc, _) = demo_server.account("late@example.com").await;
    let (session, handle) = pc.start_verification(&person.name, &person.id_number).await;

    // ... then the server restarts without demo mode: the face scan does not pass.
    let plain = without_demo(&demo_server).await;
    let mut phone = plain.device("late phone");
    phone.login("late@example.com", "correct horse battery").await;
    let claim = phone.claim(&handle).await;
    phone.confirm(&claim.session_id).await;
    let decision = phone.perform(&session, &claim, 1).await.expect("decision");
    assert_ne!(decision.outcome, Outcome::Passed, "{decision:?}");
    let account = plain.state.store.account_by_email("late@example.com").await.expect("store").expect("account");
    assert_eq!(plain.state.store.verification_is_demo(&account.id).await.expect("store"), None, "not verified");

    // A new attempt is refused at the identity form: the authority does not know the number.
    let (mut pc2, _) = plain.account("other@example.com").await;
    let resp = pc2.submit_identity(&person.name, &person.id_number).await;
    assert_eq!(resp.page_error_code().as_deref(), Some("identity_unknown"), "{}", resp.text());

    // Enrolment itself is refused, and the CSV import never creates a demo-range entry.
    let s = &plain.state;
    let refused = demo::enroll(
        &s.config.demo,
        &*s.store,
        &s.keys,
        s.analyzer.clone(),
        ScriptedFrame::neutral(1).to_png(),
        None,
        s.now(),
    )
    .await;
    assert!(matches!(refused, Err(DemoError::Disabled)), "{refused:?}");
    std::fs::write(plain.dir.path().join("p.png"), ScriptedFrame::neutral(1).to_png()).expect("photo");
    let csv = "name,id_number,photo\n演示用户,710000190001010006,p.png\n";
    let report = realname_server::authority::import_registry(
        &*s.store,
        &s.keys,
        s.analyzer.clone(),
        csv,
        plain.dir.path(),
        s.today(),
        s.now(),
    )
    .await
    .expect("import");
    assert_eq!(report.imported, 0, "{report:?}");
    assert!(report.rejected[0].1.starts_with("id_number_demo_range"), "{report:?}");
}

#[tokio::test]
async fn demo_mode_with_an_http_authority_is_refused_at_start() {
    let mut config = Config { demo: DemoConfig { enabled: true }, ..Config::default() };
    config.authority.kind = AuthorityKind::Http;
    config.authority.url = Some("http://127.0.0.1:9".into());
    let err = config.validate().expect_err("refused");
    assert!(
        err.to_string().contains("demo mode (--demo / REALNAME_DEMO=1) is refused with an HTTP identity authority"),
        "{err}"
    );

    let mut env = Config::default();
    env.apply_env(|k| match k {
        "REALNAME_DEMO" => Some("1".into()),
        "REALNAME_AUTHORITY_URL" => Some("https://authority.example".into()),
        _ => None,
    })
    .expect("env");
    assert!(env.validate().is_err(), "the same from the environment");
}
