//! Signed webhooks end to end: a real receiving HTTP server on port 0 gets the events of real
//! flows, retries reach it after failures, the outbox survives a restart (and a worker that
//! died holding a lease), resend repeats the event id, and two workers on one database never
//! deliver a row twice.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use realname_protocol::api::Outcome;
use realname_server::config::{Config, Secret};
use realname_server::store::webhooks::{NewWebhookRow, STATUS_DEAD, STATUS_DELIVERED, STATUS_PENDING};
use realname_server::webhooks::{self, EVENT_COMPLETED, EVENT_FAILED, WebhookEndpoint, Worker};
use realname_server::{Services, build_state, store};

use super::support::{TestApp, id_number};

const SECRET: &str = "whsec_test_0123456789abcdef";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    event_id: String,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
}

#[derive(Default)]
struct ReceiverState {
    got: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<u16>>,
    in_flight: Mutex<HashSet<String>>,
    overlaps: AtomicUsize,
    delay: Mutex<Duration>,
}

/// A receiving integrator: answers from a script of status codes (then 200), optionally slowly,
/// and notes whether one event was ever being received twice at the same time.
struct Receiver {
    url: String,
    state: Arc<ReceiverState>,
}

impl Receiver {
    async fn start(script: &[u16]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::serve(listener, script)
    }

    fn serve(listener: tokio::net::TcpListener, script: &[u16]) -> Self {
        let addr = listener.local_addr().expect("addr");
        let state =
            Arc::new(ReceiverState { script: Mutex::new(script.iter().copied().collect()), ..Default::default() });
        let shared = Arc::clone(&state);
        let app = axum::Router::new().route(
            "/hooks",
            post(move |headers: HeaderMap, body: Bytes| {
                let state = Arc::clone(&shared);
                async move {
                    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                    let event_id = h("realname-event-id");
                    if !state.in_flight.lock().expect("lock").insert(event_id.clone()) {
                        state.overlaps.fetch_add(1, Ordering::SeqCst);
                    }
                    let delay = *state.delay.lock().expect("lock");
                    tokio::time::sleep(delay).await;
                    let status = state.script.lock().expect("lock").pop_front().unwrap_or(200);
                    state.got.lock().expect("lock").push(Received {
                        event_id: event_id.clone(),
                        timestamp: h("realname-timestamp"),
                        signature: h("realname-signature"),
                        body: body.to_vec(),
                    });
                    state.in_flight.lock().expect("lock").remove(&event_id);
                    StatusCode::from_u16(status).expect("status")
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url: format!("http://{addr}/hooks"), state }
    }

    fn got(&self) -> Vec<Received> {
        self.state.got.lock().expect("lock").clone()
    }
}

fn endpoint(url: &str) -> WebhookEndpoint {
    WebhookEndpoint { name: "crm".into(), url: url.into(), secret: Secret::new(SECRET) }
}

/// Fast retries for tests: 20 ms, doubling, at most 100 ms; the worker looks every 20 ms.
fn fast(c: &mut Config, url: &str) {
    c.webhooks.endpoints = vec![endpoint(url)];
    c.webhooks.backoff_base_ms = 20;
    c.webhooks.backoff_cap_ms = 100;
    c.webhooks.poll_interval_ms = 20;
    c.webhooks.timeout_ms = 2000;
    c.limits.attempts_per_session = 1;
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A passing face verification (person 1 is who they claim to be); returns the session id.
async fn passing_flow(app: &TestApp, email: &str, id17: &str) -> String {
    let (phone, claim) = app.ready_session("张三", email, id17).await;
    let decision = phone.perform(&claim.session_id, &claim, 1).await.expect("decision");
    assert_eq!(decision.outcome, Outcome::Passed);
    claim.session_id
}

/// A face mismatch (person 2 in front of person 1's identity) on the last attempt.
async fn mismatch_flow(app: &TestApp, email: &str, id17: &str) -> String {
    let (phone, claim) = app.ready_session("李四", email, id17).await;
    let decision = phone.perform(&claim.session_id, &claim, 2).await.expect("decision");
    assert_eq!(decision.outcome, Outcome::Failed);
    claim.session_id
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).expect("ms")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passing_and_failing_verifications_reach_the_receiver_signed() {
    let receiver = Receiver::start(&[]).await;
    let app = TestApp::with_config(|c| fast(c, &receiver.url)).await;
    let passed = passing_flow(&app, "pass@example.com", "11010519900307123").await;
    let failed = mismatch_flow(&app, "fail@example.com", "11010519900307107").await;
    wait_until("two deliveries", || async { receiver.got().len() >= 2 }).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got = receiver.got();
    assert_eq!(got.len(), 2, "one event per verification: {got:?}");

    let by_session: HashMap<String, (Received, serde_json::Value)> = got
        .into_iter()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json body");
            (v["data"]["verification_id"].as_str().expect("verification id").to_owned(), (r, v))
        })
        .collect();
    let (ok, ok_body) = &by_session[&passed];
    assert_eq!(ok_body["type"], EVENT_COMPLETED);
    assert_eq!(ok_body["data"]["outcome"], "passed");
    assert_eq!(ok_body["data"]["method"], "face");
    assert_eq!(ok_body["data"]["name_masked"], "*三");
    let masked = realname_protocol::mask::mask_id_number(&id_number("11010519900307123"));
    assert_eq!(ok_body["data"]["id_number_masked"], masked.as_str());
    let (bad, bad_body) = &by_session[&failed];
    assert_eq!(bad_body["type"], EVENT_FAILED);
    assert_eq!(bad_body["data"]["outcome"], "failed");
    assert_eq!(bad_body["data"]["reason"], "face_mismatch");

    for (r, body) in [(ok, ok_body), (bad, bad_body)] {
        assert_eq!(r.event_id, body["id"].as_str().expect("id"), "the header and the body name the same event");
        assert!(r.event_id.starts_with("evt_") && r.event_id.len() == 36);
        assert!(r.signature.starts_with(&format!("t={},v1=", r.timestamp)));
        let t: i64 = r.timestamp.parse().expect("timestamp");
        webhooks::verify_signature(SECRET, &r.signature, &r.body, now(), 300).expect("the signature verifies");
        let mut tampered = r.body.clone();
        let at = tampered.iter().position(|b| *b == b'*').expect("a masked character");
        tampered[at] = b'#';
        assert_eq!(
            webhooks::verify_signature(SECRET, &r.signature, &tampered, now(), 300),
            Err(webhooks::SignatureError::Mismatch)
        );
        assert!(webhooks::verify_signature("whsec_some_other_secret_1", &r.signature, &r.body, now(), 300).is_err());
        assert!(
            webhooks::verify_signature(SECRET, &r.signature, &r.body, t + 301, 300).is_err(),
            "an old signature is refused"
        );
        let text = String::from_utf8_lossy(&r.body);
        for plain in ["张三", "李四", &id_number("11010519900307123")[..], &id_number("11010519900307107")[..]] {
            assert!(!text.contains(plain), "plaintext personal data in {text}");
        }
    }

    // The outbox and the log agree: each row delivered after one attempt with status 200.
    let rows = app.state.store.list_webhooks(Some(STATUS_DELIVERED), 10).await.expect("list");
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert_eq!(row.attempts, 1);
        let log = app.state.store.webhook_attempts(&row.event_id).await.expect("log");
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].status_code, Some(200));
        assert_eq!(log[0].error, None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_failing_twice_gets_the_same_event_on_the_third_attempt() {
    let receiver = Receiver::start(&[500, 500]).await;
    let app = TestApp::with_config(|c| fast(c, &receiver.url)).await;
    passing_flow(&app, "retry@example.com", "11010519900307123").await;
    let store = &app.state.store;
    wait_until("delivery", || async {
        !store.list_webhooks(Some(STATUS_DELIVERED), 10).await.expect("list").is_empty()
    })
    .await;
    let got = receiver.got();
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().all(|r| r.event_id == got[0].event_id), "one event id on every attempt");
    assert!(got.iter().all(|r| r.body == got[0].body), "the same bytes on every attempt");
    let log = store.webhook_attempts(&got[0].event_id).await.expect("log");
    let summary: Vec<(i64, Option<i64>, Option<&str>)> =
        log.iter().map(|a| (a.attempt, a.status_code, a.error.as_deref())).collect();
    assert_eq!(
        summary,
        vec![(1, Some(500), Some("http_status")), (2, Some(500), Some("http_status")), (3, Some(200), None)]
    );
    assert!(log.windows(2).all(|w| w[1].at_ms >= w[0].at_ms + 10), "backoff between attempts: {log:?}");
    let row = &store.webhook_event(&got[0].event_id).await.expect("row")[0];
    assert_eq!((row.status.as_str(), row.attempts, row.last_status), (STATUS_DELIVERED, 3, Some(200)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_failed_attempt_makes_the_row_dead() {
    let receiver = Receiver::start(&[503, 503, 503]).await;
    let app = TestApp::with_config(|c| {
        fast(c, &receiver.url);
        c.webhooks.max_attempts = 3;
    })
    .await;
    passing_flow(&app, "dead@example.com", "11010519900307123").await;
    let store = &app.state.store;
    wait_until("a dead row", || async { !store.list_webhooks(Some(STATUS_DEAD), 10).await.expect("list").is_empty() })
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.got().len(), 3, "no attempt after the last one");
    let event = receiver.got()[0].event_id.clone();
    assert_eq!(store.webhook_attempts(&event).await.expect("log").len(), 3);
    // Resend brings it back with the same id; the receiver now answers 200.
    assert_eq!(webhooks::resend(&**store, &event).await.expect("resend"), 1);
    wait_until("the resent delivery", || async { receiver.got().len() == 4 }).await;
    assert_eq!(receiver.got()[3].event_id, event);
    wait_until("delivered", || async { store.webhook_event(&event).await.expect("row")[0].status == STATUS_DELIVERED })
        .await;
    assert_eq!(webhooks::resend(&**store, "evt_unknown").await.expect("resend"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_survive_a_restart_and_a_dead_workers_lease_and_resend_repeats_the_id() {
    // A port with nothing listening yet: the receiver is "down".
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = reserved.local_addr().expect("addr").port();
    drop(reserved);
    let url = format!("http://127.0.0.1:{port}/hooks");
    let app = TestApp::with_config(|c| fast(c, &url)).await;
    let session = passing_flow(&app, "restart@example.com", "11010519900307123").await;
    let store = Arc::clone(&app.state.store);
    wait_until("a failed attempt", || async {
        let rows = store.list_webhooks(None, 10).await.expect("list");
        rows.len() == 1 && !store.webhook_attempts(&rows[0].event_id).await.expect("log").is_empty()
    })
    .await;
    let event = store.list_webhooks(None, 10).await.expect("list")[0].event_id.clone();

    // Stop the first server, then a worker "dies" holding the row's lease (kill -9 mid-delivery).
    app.state.shutdown.send_replace(true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let row = &store.webhook_event(&event).await.expect("row")[0];
    assert_eq!(row.status, STATUS_PENDING, "nothing delivered while the receiver was down");
    assert!(store.webhook_attempts(&event).await.expect("log").iter().all(|a| a.error.as_deref() == Some("connect")));
    wait_until("the row due again", || async {
        let rows = store.claim_webhooks("killed-worker", now_ms(), 900, 10).await.expect("claim");
        !rows.is_empty()
    })
    .await;
    let leased_at = Instant::now();

    // The receiver comes back on its port; a new server starts on the same database.
    let receiver = Receiver::serve(tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("rebind"), &[]);
    let mut config = app.state.config.as_ref().clone();
    config.data_dir = app.dir.path().to_path_buf();
    let fresh = store::connect(&app.database_url).await.expect("reopen");
    let services =
        Services { store: Some(fresh), analyzer: Some(Arc::clone(&app.state.analyzer)), authority: None, clock: None };
    let restarted = build_state(config, super::support::ORIGIN.into(), services).await.expect("restart");
    wait_until("delivery after the restart", || async { receiver.got().len() == 1 }).await;
    assert!(leased_at.elapsed() >= Duration::from_millis(850), "the dead worker's lease was respected");
    let first = receiver.got()[0].clone();
    assert_eq!(first.event_id, event, "the event written before the restart");
    let body: serde_json::Value = serde_json::from_slice(&first.body).expect("json");
    assert_eq!(body["data"]["verification_id"], session.as_str());
    let rs = &restarted.store;
    wait_until("delivered", || async { rs.webhook_event(&event).await.expect("row")[0].status == STATUS_DELIVERED })
        .await;

    // Resend: the same event id and body again.
    assert_eq!(webhooks::resend(&**rs, &event).await.expect("resend"), 1);
    wait_until("the resent delivery", || async { receiver.got().len() == 2 }).await;
    let again = receiver.got()[1].clone();
    assert_eq!((again.event_id.as_str(), again.body.as_slice()), (event.as_str(), first.body.as_slice()));
    webhooks::verify_signature(SECRET, &again.signature, &again.body, now(), 300).expect("signed");
    // The worker logs an attempt after the receiver has answered: wait for the log row.
    wait_until("the resend logged", || async {
        rs.webhook_attempts(&event).await.expect("log").iter().filter(|a| a.status_code == Some(200)).count() >= 2
    })
    .await;
    let log = rs.webhook_attempts(&event).await.expect("log");
    assert_eq!(log.iter().filter(|a| a.status_code == Some(200)).count(), 2, "{log:?}");
    restarted.shutdown.send_replace(true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_on_one_database_never_deliver_a_row_twice() {
    let receiver = Receiver::start(&[]).await;
    *receiver.state.delay.lock().expect("lock") = Duration::from_millis(15);
    let app = TestApp::with_config(|c| {
        fast(c, &receiver.url);
        c.webhooks.worker = false;
    })
    .await;
    let rows: Vec<NewWebhookRow> = (0..40)
        .map(|i| NewWebhookRow {
            event_id: webhooks::new_event_id(),
            endpoint: "crm".into(),
            event_type: EVENT_COMPLETED.into(),
            verification_id: format!("v{i}"),
            body: format!("{{\"n\":{i}}}"),
            created_at: now(),
            next_attempt_ms: 0,
        })
        .collect();
    assert_eq!(app.state.store.insert_webhook_rows(&rows).await.expect("insert"), 40);
    assert_eq!(app.state.store.insert_webhook_rows(&rows[..3]).await.expect("insert again"), 0, "idempotent");

    // Two instances: each its own connection pool on the same database, its own worker.
    let (stop, _) = tokio::sync::watch::channel(false);
    let mut workers = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let store = store::connect(&app.database_url).await.expect("connect");
        let worker = Worker::new(store, app.state.config.webhooks.clone()).expect("worker");
        ids.push(worker.id().to_owned());
        workers.push(tokio::spawn(worker.run(stop.subscribe())));
    }
    let store = &app.state.store;
    wait_until("all delivered", || async {
        store.list_webhooks(Some(STATUS_DELIVERED), 100).await.expect("list").len() == 40
    })
    .await;
    stop.send_replace(true);
    for w in workers {
        tokio::time::timeout(Duration::from_secs(10), w).await.expect("worker stops").expect("join");
    }
    let got = receiver.got();
    let distinct: HashSet<&str> = got.iter().map(|r| r.event_id.as_str()).collect();
    assert_eq!((got.len(), distinct.len()), (40, 40), "every row delivered exactly once");
    assert_eq!(receiver.state.overlaps.load(Ordering::SeqCst), 0);
    let mut by_worker: HashMap<String, usize> = HashMap::new();
    for r in &rows {
        let log = store.webhook_attempts(&r.event_id).await.expect("log");
        assert_eq!(log.len(), 1, "one attempt per row: {log:?}");
        *by_worker.entry(log[0].worker.clone()).or_default() += 1;
    }
    assert!(by_worker.keys().all(|w| ids.contains(w)), "{by_worker:?}");
}

fn cli(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_realname-server"))
        .args(args)
        .env("DATABASE_URL", &app.database_url)
        .env("REALNAME_DATA_DIR", app.dir.path())
        .env_remove("REALNAME_CONFIG")
        .env_remove("REALNAME_WEBHOOK_URL")
        .env_remove("REALNAME_WEBHOOK_SECRET")
        .output()
        .expect("run realname-server");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_cli_lists_logs_and_resends_events() {
    let receiver = Receiver::start(&[500]).await;
    let app = TestApp::with_config(|c| fast(c, &receiver.url)).await;
    passing_flow(&app, "cli@example.com", "11010519900307123").await;
    let store = &app.state.store;
    wait_until("delivery", || async {
        store.list_webhooks(Some(STATUS_DELIVERED), 10).await.expect("list").len() == 1
    })
    .await;
    let event = receiver.got()[0].event_id.clone();

    let (ok, out, err) = cli(&app, &["webhooks", "list", "--status", "delivered", "--json"]);
    assert!(ok, "{err}");
    let rows: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(rows.as_array().map(Vec::len), Some(1));
    assert_eq!(rows[0]["event_id"], event.as_str());
    assert_eq!(rows[0]["type"], EVENT_COMPLETED);
    assert_eq!(rows[0]["attempts"], 2);
    assert!(!out.contains("张三") && !out.contains("body"), "the list shows no event body: {out}");
    let (ok, out, _) = cli(&app, &["webhooks", "list", "--status", "dead", "--json"]);
    assert!(ok);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).expect("json"), serde_json::json!([]));
    let (ok, _, err) = cli(&app, &["webhooks", "list", "--status", "lost"]);
    assert!(!ok && err.contains("--status"), "{err}");

    let (ok, out, err) = cli(&app, &["webhooks", "log", &event, "--json"]);
    assert!(ok, "{err}");
    let log: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(log[0]["status_code"], 500);
    assert_eq!(log[0]["error"], "http_status");
    assert_eq!(log[1]["status_code"], 200);
    assert_eq!(log.as_array().map(Vec::len), Some(2));
    let (ok, _, err) = cli(&app, &["webhooks", "log", "evt_nope"]);
    assert!(!ok && err.contains("no webhook event"), "{err}");

    let (ok, out, err) = cli(&app, &["webhooks", "resend", &event, "--json"]);
    assert!(ok, "{err}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).expect("json")["requeued"], 1);
    wait_until("the resent delivery", || async { receiver.got().len() == 3 }).await;
    assert_eq!(receiver.got()[2].event_id, event, "resend keeps the event id");
    let (ok, _, err) = cli(&app, &["webhooks", "resend", "evt_nope"]);
    assert!(!ok && err.contains("no webhook event"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_partner_and_mobile_paths_send_completed_events_too() {
    use realname_server::mobile;
    let receiver = Receiver::start(&[]).await;
    let app = TestApp::with_config(|c| fast(c, &receiver.url)).await;

    // Partner sync: Authorize Now.
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut b, _d) = app.account("sync@example.com").await;
    super::partner_oauth::confirm_email(&app, &mut b, "sync@example.com").await;
    super::partner_oauth::import_partner(&app, "JD Mall", "sync-at-jd", "张三", &id).await;
    let resp = super::partner_oauth::partner_sync(&mut b, "JD Mall", "sync-at-jd").await;
    assert_eq!(resp.location().as_deref(), Some("/verify/details"), "{}", resp.text());

    // Mobile: the SMS code from the outbox.
    let id2 = id_number("11010519900307107");
    app.register_identity("李四", &id2, 2).await;
    let csv = format!("phone,name,id_number\n13812345678,李四,{id2}\n");
    mobile::import_carrier_records(&*app.state.store, &app.state.keys, &csv, app.state.today(), app.state.now())
        .await
        .expect("import");
    let (mut m, _d) = app.account("mobile@example.com").await;
    let resp = m
        .submit("/verify/mobile", "/verify/mobile", &[("name", "李四"), ("id_number", &id2), ("phone", "13812345678")])
        .await;
    let challenge = resp.location().expect("the code page");
    let sms = mobile::read_outbox(&*app.state.store, &app.state.keys, Some("13812345678"), 1).await.expect("outbox");
    let code = mobile::code_in(&sms[0].text).expect("code");
    let resp = m.submit(&challenge, &format!("{challenge}/code"), &[("code", &code)]).await;
    assert_eq!(resp.location().as_deref(), Some("/verify/details"));

    wait_until("two deliveries", || async { receiver.got().len() == 2 }).await;
    let mut methods: Vec<(String, String, String)> = receiver
        .got()
        .iter()
        .map(|r| {
            webhooks::verify_signature(SECRET, &r.signature, &r.body, now(), 300).expect("signed");
            let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
            (
                v["type"].as_str().unwrap_or_default().to_owned(),
                v["data"]["method"].as_str().unwrap_or_default().to_owned(),
                v["data"]["name_masked"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    methods.sort();
    assert_eq!(
        methods,
        vec![
            (EVENT_COMPLETED.to_owned(), "mobile".to_owned(), "*四".to_owned()),
            (EVENT_COMPLETED.to_owned(), "partner:JD Mall".to_owned(), "*三".to_owned()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_expired_and_abandoned_sessions_send_failed_events_and_no_endpoint_means_no_rows() {
    let receiver = Receiver::start(&[]).await;
    let app = TestApp::with_config(|c| fast(c, &receiver.url)).await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut pc, phone) = app.account("cancel@example.com").await;
    let (_s, handle) = pc.start_verification("张三", &id).await;
    let claim = phone.claim(&handle).await;
    let cancelled =
        phone.post_json(&format!("/companion/sessions/{}/cancel", claim.session_id), serde_json::json!({})).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text());
    let (mut pc2, _phone2) = app.account("expire@example.com").await;
    let (expiring, _handle) = pc2.start_verification("张三", &id).await;
    let (mut pc3, _phone3) = app.account("abandoned@example.com").await;
    let (abandoned, _handle) = pc3.start_verification("张三", &id).await;
    wait_until("the cancel event", || async { receiver.got().len() == 1 }).await;
    app.clock.advance(app.state.config.limits.session_ttl_secs + 1);
    // One expiry is noticed by its page; the other session nobody reads again: the sweep.
    assert_eq!(pc2.status(&expiring).await["state"], "expired");

    wait_until("three deliveries", || async { receiver.got().len() == 3 }).await;
    let mut outcomes: Vec<(String, String, String)> = receiver
        .got()
        .iter()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
            let d = &v["data"];
            let s = |x: &serde_json::Value| x.as_str().unwrap_or_default().to_owned();
            (s(&d["verification_id"]), s(&v["type"]), s(&d["outcome"]))
        })
        .collect();
    outcomes.sort();
    let mut expected = vec![
        (claim.session_id.clone(), EVENT_FAILED.to_owned(), "cancelled".to_owned()),
        (expiring.clone(), EVENT_FAILED.to_owned(), "expired".to_owned()),
        (abandoned.clone(), EVENT_FAILED.to_owned(), "expired".to_owned()),
    ];
    expected.sort();
    assert_eq!(outcomes, expected);
    let stored = app.state.store.face_session(&abandoned).await.expect("db").expect("session");
    assert_eq!(stored.state, realname_protocol::api::SessionState::Expired, "expired by the sweep");

    // Without endpoints nothing is written.
    let quiet = TestApp::with_config(|c| c.limits.attempts_per_session = 1).await;
    passing_flow(&quiet, "quiet@example.com", "11010519900307123").await;
    assert!(quiet.state.store.list_webhooks(None, 10).await.expect("list").is_empty());
}

#[tokio::test]
async fn an_outbox_row_commits_only_with_the_final_state_it_reports() {
    let app = TestApp::with_config(|c| fast(c, "http://127.0.0.1:9/hooks")).await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut pc, _phone) = app.account("tx@example.com").await;
    let (session, _handle) = pc.start_verification("张三", &id).await;
    let store = &app.state.store;
    let stale = store.face_session(&session).await.expect("db").expect("session");
    let mut moved = stale.clone();
    moved.handle_expires_at += 1;
    assert!(store.update_face_session(&moved).await.expect("db"), "another writer moves the session on");

    // A final state written over a stale version loses: no state change, and no event either.
    let mut lost = stale.clone();
    lost.state = realname_protocol::api::SessionState::Cancelled;
    lost.decided_at = Some(app.state.now());
    assert!(!store.update_face_session(&lost).await.expect("db"));
    assert!(store.list_webhooks(None, 10).await.expect("list").is_empty(), "no event for a state that was not stored");

    // The same write on the current version stores both.
    let mut current = store.face_session(&session).await.expect("db").expect("session");
    current.state = realname_protocol::api::SessionState::Cancelled;
    current.decided_at = Some(app.state.now());
    assert!(store.update_face_session(&current).await.expect("db"));
    let rows = store.list_webhooks(None, 10).await.expect("list");
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].verification_id.as_str(), rows[0].event_type.as_str()), (session.as_str(), EVENT_FAILED));
    // Writing the final session again adds no second event.
    current.version += 1;
    assert!(store.update_face_session(&current).await.expect("db"));
    assert_eq!(store.list_webhooks(None, 10).await.expect("list").len(), 1);
}
