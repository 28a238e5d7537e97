//! The database goes away and comes back (restart, failover, network): an instance answers
//! 503 `service_unavailable` meanwhile, recovers by itself, and its pages hear about changes
//! made on other instances again (the LISTEN connection is re-established). PostgreSQL only:
//! the test cuts a TCP proxy between the second instance and the database server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt as _;

use super::support::{TestApp, id_number};

/// A TCP proxy that can drop every connection and refuse new ones until restored.
struct Proxy {
    addr: std::net::SocketAddr,
    up: Arc<AtomicBool>,
    generation: tokio::sync::watch::Sender<u64>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let up = Arc::new(AtomicBool::new(true));
        let (generation, _) = tokio::sync::watch::channel(0u64);
        let (flag, gen_tx) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !flag.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                let mut cut = gen_tx.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self { addr, up, generation }
    }

    /// Drops every open connection and refuses new ones.
    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn send(router: &axum::Router, req: Request<Body>) -> (StatusCode, serde_json::Value) {
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.expect("body");
    (status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
}

fn whoami(token: &str) -> Request<Body> {
    Request::builder()
        .method(Method::GET)
        .uri("/api/v1/me")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_answers_503_while_the_database_is_away_and_recovers_by_itself() {
    let app = TestApp::new().await;
    if app.state.store.engine() != "postgres" {
        // SQLite is a file inside the process: there is no connection to lose.
        return;
    }
    let mut url = url::Url::parse(&app.database_url).expect("database URL");
    let target = format!("{}:{}", url.host_str().expect("host"), url.port().unwrap_or(5432));
    let proxy = Proxy::start(target).await;
    url.set_host(Some("127.0.0.1")).expect("host");
    url.set_port(Some(proxy.addr.port())).expect("port");
    let b = app.second_instance_at(url.as_str()).await;

    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut pc, phone) = app.account("outage@example.com").await;
    let token = phone.token.clone().expect("token");
    let (status, me) = send(&b, whoami(&token)).await;
    assert_eq!(status, StatusCode::OK, "instance B works through the proxy: {me}");

    proxy.cut();
    let (status, body) = send(&b, whoami(&token)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "service_unavailable", "{body}");

    proxy.restore();
    let mut recovered = false;
    for _ in 0..60 {
        if send(&b, whoami(&token)).await.0 == StatusCode::OK {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recovered, "instance B answers again within 15 s of the database coming back");

    // The change listener reconnects (backoff at most 5 s): a claim made on instance A is
    // pushed to a page connected to instance B long before the 30 s safety re-check.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (session, handle) = pc.start_verification("张三", &id).await;
    let req =
        pc.request(Method::GET, &format!("/verify/sessions/{session}/events")).body(Body::empty()).expect("request");
    let resp = b.clone().oneshot(req).await.expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK);
    let mut stream = resp.into_body().into_data_stream();
    let claimed_at = std::cell::Cell::new(None);
    let read = async {
        use futures::StreamExt as _;
        let mut buf = String::new();
        let mut states = Vec::new();
        while let Some(Ok(chunk)) = stream.next().await {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                let data: String = block.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim).collect();
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&data) {
                    let state = v["state"].as_str().unwrap_or_default().to_owned();
                    if state == "waiting" && claimed_at.get().is_none() {
                        phone.claim(&handle).await;
                        claimed_at.set(Some(std::time::Instant::now()));
                    }
                    states.push(state.clone());
                    if state == "scanned" {
                        return states;
                    }
                }
            }
        }
        states
    };
    let states = tokio::time::timeout(Duration::from_secs(12), read).await.expect("the claim is pushed within 12 s");
    assert_eq!(states, ["waiting", "scanned"]);
    let waited = claimed_at.get().expect("claimed").elapsed();
    assert!(waited < Duration::from_secs(10), "pushed, not found by the 30 s re-check: {waited:?}");
}
