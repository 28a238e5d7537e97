//! Two server instances on one database: a claim handled by one instance reaches the PC page
//! connected to the other — pushed over PostgreSQL LISTEN/NOTIFY, or seen by polling.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt as _;

use super::support::{TestApp, id_number};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_on_another_instance_reaches_the_pc_page() {
    let app = TestApp::new().await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut pc, phone) = app.account("lb@example.com").await;
    let (session, handle) = pc.start_verification("张三", &id).await;
    let mut events = pc.events(&session).await;
    assert_eq!(events.next_state().await["state"], "waiting");

    let other = app.second_instance().await;
    let body = serde_json::json!({ "handle": handle, "device": { "name": "phone on instance B" } });
    let req = Request::post("/api/v1/companion/claim")
        .header(header::AUTHORIZATION, format!("Bearer {}", phone.token.as_deref().expect("token")))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    let resp = other.oneshot(req).await.expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK);

    if app.state.store.engine() == "postgres" {
        let pushed = events.next_state().await;
        assert_eq!(pushed["state"], "scanned", "pushed across instances");
        assert_eq!(pushed["device"], "phone on instance B");
    }
    let polled = pc.status(&session).await;
    assert_eq!(polled["state"], "scanned");
}
