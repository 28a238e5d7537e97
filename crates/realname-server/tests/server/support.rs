//! Test harness: an app on a fresh database (engine from `REALNAME_TEST_DATABASE_URL`), the
//! synthetic face engine, a manual clock, a cookie-keeping browser and a companion client.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use futures::StreamExt;
use realname_protocol::api::{ClaimResponse, Decision, DeviceInfo, LivenessAction, SessionStatus, TokenResponse};
use realname_protocol::{ApiError, ErrorCode, QrPayload};
use realname_server::config::Config;
use realname_server::face::{ScriptedAnalyzer, ScriptedFrame};
use realname_server::state::{AppState, Clock, ManualClock};
use realname_server::{Services, app, build_state, store};
use serde_json::Value;
use tower::ServiceExt as _;

/// The face weights: `REALNAME_MODELS_DIR` or `<workspace>/models`.
pub(crate) fn models_dir() -> std::path::PathBuf {
    std::env::var_os("REALNAME_MODELS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"))
}

/// The shared test data: `REALNAME_SHARED_DIR/data` or `<workspace>/../shared/data`.
pub(crate) fn shared_data() -> std::path::PathBuf {
    std::env::var_os("REALNAME_SHARED_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("data")
}

/// The origin the test apps pretend to serve.
pub(crate) const ORIGIN: &str = "http://127.0.0.1:8080";

/// A valid resident ID number built from 17 digits.
pub(crate) fn id_number(first17: &str) -> String {
    let c = realname_protocol::id_number::check_character(first17.as_bytes());
    format!("{first17}{c}")
}

/// The database URL for a new test: a temp SQLite file, or a fresh PostgreSQL database.
async fn fresh_database(dir: &std::path::Path) -> String {
    match std::env::var("REALNAME_TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            use sqlx::Connection as _;
            let mut admin = sqlx::PgConnection::connect(&url).await.expect("connect to the PostgreSQL test server");
            let name = format!("rn_test_{}", uuid_like());
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create test database");
            let mut parsed = url::Url::parse(&url).expect("database URL");
            parsed.set_path(&format!("/{name}"));
            parsed.to_string()
        }
        _ => format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
    }
}

fn uuid_like() -> String {
    use rand::Rng as _;
    let mut rng = rand::thread_rng();
    (0..16).map(|_| char::from(b'a' + rng.gen_range(0..26))).collect()
}

/// An application under test.
pub(crate) struct TestApp {
    pub database_url: String,
    pub state: AppState,
    pub router: Router,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
}

impl TestApp {
    /// The server's (manual) clock, ms since the Unix epoch.
    pub(crate) fn clock_ms(&self) -> i64 {
        self.clock.now() * 1000
    }

    /// Default configuration (pinned challenge: blink, turn_left).
    pub(crate) async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    /// Configuration adjusted by `f`.
    pub(crate) async fn with_config(f: impl FnOnce(&mut Config)) -> Self {
        Self::build(f, || Arc::new(ScriptedAnalyzer)).await
    }

    async fn build(
        f: impl FnOnce(&mut Config),
        analyzer: impl FnOnce() -> realname_server::face::SharedAnalyzer,
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            test: realname_server::config::TestConfig {
                test_mode: true,
                fixed_challenge: Some(vec![LivenessAction::Blink, LivenessAction::TurnLeft]),
            },
            ..Config::default()
        };
        f(&mut config);
        let url = fresh_database(dir.path()).await;
        let store = store::connect(&url).await.expect("open test database");
        let clock = Arc::new(ManualClock::default());
        let analyzer = analyzer();
        let services =
            Services { store: Some(store), analyzer: Some(analyzer), authority: None, clock: Some(clock.clone()) };
        let state = build_state(config, ORIGIN.into(), services).await.expect("build state");
        let router = app(state.clone());
        Self { database_url: url, state, router, clock, dir }
    }

    /// A claimed, confirmed session of a fresh account `email` for `name` with ID `id17` + check
    /// character, registered with the scripted person 1's reference photo.
    pub(crate) async fn ready_session(
        &self,
        name: &str,
        email: &str,
        id17: &str,
    ) -> (Device<'_>, realname_protocol::api::ClaimResponse) {
        let id = id_number(id17);
        self.register_identity(name, &id, 1).await;
        let (mut pc, phone) = self.account(email).await;
        let (_session, handle) = pc.start_verification(name, &id).await;
        let claim = phone.claim(&handle).await;
        phone.confirm(&claim.session_id).await;
        (phone, claim)
    }

    /// A second server instance on the same database (as behind a load balancer).
    pub(crate) async fn second_instance(&self) -> Router {
        self.second_instance_at(&self.database_url).await
    }

    /// A second server instance reaching the same database through `database_url` (e.g. a
    /// proxy the test can cut).
    pub(crate) async fn second_instance_at(&self, database_url: &str) -> Router {
        let store = store::connect(database_url).await.expect("open test database");
        let services = Services {
            store: Some(store),
            analyzer: Some(Arc::new(ScriptedAnalyzer)),
            authority: None,
            clock: Some(self.clock.clone()),
        };
        let state =
            build_state(self.state.config.as_ref().clone(), ORIGIN.into(), services).await.expect("build state");
        app(state)
    }

    /// With the given (real) face engine and a pinned challenge.
    pub(crate) async fn with_real_analyzer(
        analyzer: realname_server::face::SharedAnalyzer,
        challenge: Vec<LivenessAction>,
    ) -> Self {
        Self::with_real_analyzer_and(analyzer, challenge, |_| {}).await
    }

    /// [`Self::with_real_analyzer`] with more configuration.
    pub(crate) async fn with_real_analyzer_and(
        analyzer: realname_server::face::SharedAnalyzer,
        challenge: Vec<LivenessAction>,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let holder = std::sync::Mutex::new(Some(analyzer));
        Self::build(
            |c| {
                c.test.fixed_challenge = Some(challenge);
                configure(c);
            },
            move || holder.lock().expect("lock").take().expect("once"),
        )
        .await
    }

    /// Puts a person into the local registry with the given reference photo.
    pub(crate) async fn register_identity_photo(&self, name: &str, id: &str, photo: &[u8]) {
        let file = format!("ref-{}.img", self.state.now() ^ i64::from(photo.len() as u32));
        std::fs::write(self.dir.path().join(&file), photo).expect("photo");
        let csv = format!("name,id_number,photo\n{name},{id},{file}\n");
        let report = realname_server::authority::import_registry(
            &*self.state.store,
            &self.state.keys,
            self.state.analyzer.clone(),
            &csv,
            self.dir.path(),
            self.state.today(),
            self.state.now(),
        )
        .await
        .expect("import");
        assert_eq!(report.imported, 1, "{report:?}");
    }

    /// Sends a request.
    pub(crate) async fn send(&self, req: Request<Body>) -> TestResponse {
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), 64 * 1024 * 1024).await.expect("body").to_vec();
        TestResponse { status, headers, body }
    }

    /// Puts a person into the local registry with a synthetic reference photo of `person`.
    pub(crate) async fn register_identity(&self, name: &str, id: &str, person: u8) {
        let photo = format!("p{person}.png");
        std::fs::write(self.dir.path().join(&photo), ScriptedFrame::neutral(person).to_png()).expect("photo");
        let csv = format!("name,id_number,photo\n{name},{id},{photo}\n");
        let report = realname_server::authority::import_registry(
            &*self.state.store,
            &self.state.keys,
            self.state.analyzer.clone(),
            &csv,
            self.dir.path(),
            self.state.today(),
            self.state.now(),
        )
        .await
        .expect("import");
        assert_eq!(report.imported, 1, "{report:?}");
    }

    /// A new browser.
    pub(crate) fn browser(&self) -> Browser<'_> {
        Browser { app: self, cookies: HashMap::new() }
    }

    /// A companion client without credentials.
    pub(crate) fn device(&self, name: &str) -> Device<'_> {
        Device { app: self, token: None, name: name.into() }
    }

    /// Signs up a browser and a personal device for a new account.
    pub(crate) async fn account(&self, email: &str) -> (Browser<'_>, Device<'_>) {
        let mut b = self.browser();
        b.sign_up(email, "correct horse battery").await;
        let mut d = self.device(&format!("{email}'s phone"));
        d.login(email, "correct horse battery").await;
        (b, d)
    }
}

/// A response with its body read.
#[derive(Debug)]
pub(crate) struct TestResponse {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The `{code, message}` body of an error response.
    pub(crate) fn error(&self) -> ApiError {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not an API error ({e}): {}", self.text()))
    }

    pub(crate) fn location(&self) -> Option<String> {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }

    /// `data-code` of the page's error alert.
    pub(crate) fn page_error_code(&self) -> Option<String> {
        attr_after(&self.text(), "alert alert-error\" role=\"alert\" data-code=\"")
    }
}

/// The text after `marker` up to the next `"`, HTML-unescaped.
pub(crate) fn attr_after(html: &str, marker: &str) -> Option<String> {
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(unescape(&html[start..start + end]))
}

/// Undoes the template engine's HTML escaping.
pub(crate) fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A browser that keeps cookies and fills in CSRF tokens.
pub(crate) struct Browser<'a> {
    pub app: &'a TestApp,
    pub cookies: HashMap<String, String>,
}

impl Browser<'_> {
    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep_cookies(&mut self, resp: &TestResponse) {
        for v in resp.headers.get_all(header::SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let pair = v.split(';').next().unwrap_or("");
            if let Some((k, val)) = pair.split_once('=') {
                let removed = v.contains("Max-Age=0") || v.to_ascii_lowercase().contains("expires=thu, 01 jan 1970");
                if removed || val.is_empty() {
                    self.cookies.remove(k.trim());
                } else {
                    self.cookies.insert(k.trim().to_owned(), val.trim().to_owned());
                }
            }
        }
    }

    pub(crate) fn request(&self, method: Method, path: &str) -> axum::http::request::Builder {
        Request::builder().method(method).uri(path).header(header::COOKIE, self.cookie_header())
    }

    pub(crate) async fn get(&mut self, path: &str) -> TestResponse {
        let req = self.request(Method::GET, path).body(Body::empty()).expect("request");
        let resp = self.app.send(req).await;
        self.keep_cookies(&resp);
        resp
    }

    /// Posts a form as is (no CSRF added).
    pub(crate) async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> TestResponse {
        let body =
            fields.iter().map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v))).collect::<Vec<_>>().join("&");
        let req = self
            .request(Method::POST, path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .expect("request");
        let resp = self.app.send(req).await;
        self.keep_cookies(&resp);
        resp
    }

    /// The CSRF token of a page (loads `page` to get it).
    pub(crate) async fn csrf(&mut self, page: &str) -> String {
        let html = self.get(page).await.text();
        attr_after(&html, "name=\"csrf\" value=\"").expect("page has a CSRF field")
    }

    /// Posts a form with the CSRF token of `page`.
    pub(crate) async fn submit(&mut self, page: &str, action: &str, fields: &[(&str, &str)]) -> TestResponse {
        let csrf = self.csrf(page).await;
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(action, &all).await
    }

    pub(crate) async fn sign_up(&mut self, email: &str, password: &str) {
        let resp = self.submit("/signup", "/signup", &[("email", email), ("password", password)]).await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.text());
        assert!(self.cookies.contains_key("rn_session"));
    }

    /// Submits the identity form; returns the response (303 to the QR page on success).
    pub(crate) async fn submit_identity(&mut self, name: &str, id: &str) -> TestResponse {
        self.submit("/verify/identity", "/verify/identity", &[("name", name), ("id_number", id)]).await
    }

    /// Submits the identity form and opens the QR page; returns (session id, handle).
    pub(crate) async fn start_verification(&mut self, name: &str, id: &str) -> (String, String) {
        let resp = self.submit_identity(name, id).await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.text());
        let location = resp.location().expect("redirect");
        let session = location.trim_start_matches("/verify/sessions/").to_owned();
        let handle = self.qr_handle(&session).await;
        (session, handle)
    }

    /// Loads the QR page and returns the handle in its QR payload.
    pub(crate) async fn qr_handle(&mut self, session: &str) -> String {
        let page = self.get(&format!("/verify/sessions/{session}")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text());
        let payload = attr_after(&page.text(), "data-payload=\"").expect("QR payload on the page");
        let parsed = QrPayload::parse(&payload).expect("valid QR payload");
        assert_eq!(parsed.origin(), ORIGIN);
        parsed.handle().as_str().to_owned()
    }

    /// The polling status of a session.
    pub(crate) async fn status(&mut self, session: &str) -> Value {
        let resp = self.get(&format!("/verify/sessions/{session}/status")).await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
        resp.json()
    }

    /// Opens the SSE stream of a session.
    pub(crate) async fn events(&self, session: &str) -> EventStream {
        let req = self
            .request(Method::GET, &format!("/verify/sessions/{session}/events"))
            .body(Body::empty())
            .expect("request");
        let resp = self.app.router.clone().oneshot(req).await.expect("infallible");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()), Some("text/event-stream"));
        EventStream { body: resp.into_body().into_data_stream().boxed(), buf: String::new() }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An SSE stream being read.
pub(crate) struct EventStream {
    body: futures::stream::BoxStream<'static, Result<bytes::Bytes, axum::Error>>,
    buf: String,
}

impl EventStream {
    /// The next `state` event's data (keep-alive comments skipped). Waits on the stream itself.
    pub(crate) async fn next_state(&mut self) -> Value {
        let fut = async {
            loop {
                if let Some(end) = self.buf.find("\n\n") {
                    let block: String = self.buf.drain(..end + 2).collect();
                    let mut event = None;
                    let mut data = String::new();
                    for line in block.lines() {
                        if let Some(e) = line.strip_prefix("event:") {
                            event = Some(e.trim().to_owned());
                        } else if let Some(d) = line.strip_prefix("data:") {
                            data.push_str(d.trim_start());
                        }
                    }
                    if event.as_deref() == Some("state") {
                        return serde_json::from_str::<Value>(&data).expect("event JSON");
                    }
                    continue;
                }
                let chunk = self.body.next().await.expect("stream open").expect("chunk");
                self.buf.push_str(&String::from_utf8_lossy(&chunk));
            }
        };
        // A generous bound so a broken push fails the test instead of hanging it.
        tokio::time::timeout(std::time::Duration::from_secs(20), fut).await.expect("an SSE event within 20 s")
    }

    /// Whether the stream ended.
    pub(crate) async fn ended(&mut self) -> bool {
        let fut = async {
            loop {
                match self.body.next().await {
                    None => return true,
                    Some(Ok(c)) => {
                        let text = String::from_utf8_lossy(&c).into_owned();
                        if text.contains("event:") {
                            return false;
                        }
                    }
                    Some(Err(_)) => return true,
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(20), fut).await.unwrap_or(false)
    }
}

/// A companion device speaking the JSON API.
pub(crate) struct Device<'a> {
    pub app: &'a TestApp,
    pub token: Option<String>,
    pub name: String,
}

impl Device<'_> {
    fn info(&self) -> DeviceInfo {
        DeviceInfo { name: self.name.clone(), platform: "linux".into(), app_version: "test".into() }
    }

    pub(crate) fn req(&self, method: Method, path: &str) -> axum::http::request::Builder {
        let mut b = Request::builder().method(method).uri(format!("/api/v1{path}"));
        if let Some(t) = &self.token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        b
    }

    pub(crate) async fn post_json(&self, path: &str, body: Value) -> TestResponse {
        let req = self
            .req(Method::POST, path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("request");
        self.app.send(req).await
    }

    pub(crate) async fn get(&self, path: &str) -> TestResponse {
        self.app.send(self.req(Method::GET, path).body(Body::empty()).expect("request")).await
    }

    pub(crate) async fn login(&mut self, email: &str, password: &str) -> TokenResponse {
        let resp = self
            .post_json(
                "/auth/login",
                serde_json::json!({ "email": email, "password": password, "device": self.info() }),
            )
            .await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
        let tokens: TokenResponse = serde_json::from_slice(&resp.body).expect("tokens");
        self.token = Some(tokens.access_token.clone());
        tokens
    }

    pub(crate) async fn try_claim(&self, handle: &str) -> Result<ClaimResponse, ApiError> {
        let resp =
            self.post_json("/companion/claim", serde_json::json!({ "handle": handle, "device": self.info() })).await;
        if resp.status == StatusCode::OK {
            Ok(serde_json::from_slice(&resp.body).expect("claim response"))
        } else {
            Err(resp.error())
        }
    }

    pub(crate) async fn claim(&self, handle: &str) -> ClaimResponse {
        self.try_claim(handle).await.unwrap_or_else(|e| panic!("claim refused: {e:?}"))
    }

    pub(crate) async fn try_confirm(&self, session: &str, code: Option<&str>) -> Result<SessionStatus, ApiError> {
        let resp = self
            .post_json(
                &format!("/companion/sessions/{session}/confirm"),
                serde_json::json!({ "consent": true, "station_code": code }),
            )
            .await;
        if resp.status == StatusCode::OK {
            Ok(serde_json::from_slice(&resp.body).expect("status"))
        } else {
            Err(resp.error())
        }
    }

    pub(crate) async fn confirm(&self, session: &str) -> SessionStatus {
        self.try_confirm(session, None).await.unwrap_or_else(|e| panic!("confirm refused: {e:?}"))
    }

    /// Uploads frames (PNG or JPEG bytes, each with its action tag), captured 100 ms apart just
    /// before the upload by the server's (manual) clock.
    pub(crate) async fn try_capture(
        &self,
        session: &str,
        nonce: &str,
        frames: &[(Option<LivenessAction>, Vec<u8>)],
    ) -> Result<Decision, ApiError> {
        let (end_ms, n) = (self.app.clock.now() * 1000, frames.len() as i64);
        let times: Vec<i64> = (0..n).map(|i| end_ms - (n - i) * 100).collect();
        self.try_capture_at(session, nonce, frames, &times).await
    }

    /// Uploads frames with the given capture times (ms since the Unix epoch).
    pub(crate) async fn try_capture_at(
        &self,
        session: &str,
        nonce: &str,
        frames: &[(Option<LivenessAction>, Vec<u8>)],
        times: &[i64],
    ) -> Result<Decision, ApiError> {
        let meta = serde_json::json!({
            "nonce": nonce,
            "frames": frames.iter().zip(times).enumerate().map(|(i, ((a, _), t))| serde_json::json!({ "part": format!("frame{i}"), "action": a, "captured_at_ms": t })).collect::<Vec<_>>(),
        });
        let parts: Vec<&[u8]> = frames.iter().map(|(_, bytes)| bytes.as_slice()).collect();
        self.try_capture_with(session, &meta, &parts).await
    }

    /// Uploads `meta` as the metadata part and `parts` as `frame0`, `frame1`, … in order.
    pub(crate) async fn try_capture_with(
        &self,
        session: &str,
        meta: &Value,
        parts: &[&[u8]],
    ) -> Result<Decision, ApiError> {
        let boundary = "realname-test-boundary-7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n{meta}\r\n").as_bytes());
        for (i, bytes) in parts.iter().enumerate() {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"frame{i}\"; filename=\"frame{i}.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let req = self
            .req(Method::POST, &format!("/companion/sessions/{session}/capture"))
            .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
            .body(Body::from(body))
            .expect("request");
        let resp = self.app.send(req).await;
        if resp.status == StatusCode::OK {
            Ok(serde_json::from_slice(&resp.body).expect("decision"))
        } else {
            Err(resp.error())
        }
    }

    /// Performs a challenge as scripted `person`.
    pub(crate) async fn perform(&self, session: &str, claim: &ClaimResponse, person: u8) -> Result<Decision, ApiError> {
        self.perform_challenge(session, &claim.challenge.actions, &claim.challenge.nonce, person).await
    }

    pub(crate) async fn perform_challenge(
        &self,
        session: &str,
        actions: &[LivenessAction],
        nonce: &str,
        person: u8,
    ) -> Result<Decision, ApiError> {
        let mut frames = vec![(None, ScriptedFrame::neutral(person).to_png())];
        for a in actions {
            frames.push((Some(*a), ScriptedFrame::doing(person, *a).to_png()));
        }
        self.try_capture(session, nonce, &frames).await
    }
}

/// Asserts an error code.
pub(crate) fn assert_code<T: std::fmt::Debug>(r: Result<T, ApiError>, code: ErrorCode) -> ApiError {
    match r {
        Err(e) if e.code == code => e,
        other => panic!("expected {code}, got {other:?}"),
    }
}
