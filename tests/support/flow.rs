//! The two sides of a verification as a test drives them over HTTP: the PC browser (forms with
//! CSRF, the QR page, the server-sent event stream) and the companion device (the JSON API).

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use realname_protocol::api::{
    ClaimRequest, ClaimResponse, ConfirmRequest, Decision, DeviceInfo, LivenessAction, LivenessChallenge, LoginRequest,
    SessionStatus, TokenResponse,
};
use realname_protocol::{ApiError, QrPayload};
use serde_json::Value;
use tokio::sync::mpsc;

/// The value of the first `attr="…"` after `marker` in `html`.
pub fn attr_after(html: &str, marker: &str, attr: &str) -> Option<String> {
    let start = html.find(marker)?;
    let rest = &html[start..];
    let key = format!("{attr}=\"");
    let at = rest.find(&key)? + key.len();
    let end = rest[at..].find('"')?;
    Some(html_unescape(&rest[at..at + end]))
}

fn html_unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#x2f;", "/")
        .replace("&#47;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

/// The `data-code` of the first error alert on a page, if any.
pub fn page_error_code(html: &str) -> Option<String> {
    attr_after(html, "alert-error", "data-code")
}

/// A PC browser without JavaScript: a cookie jar and the forms.
#[derive(Debug, Clone)]
pub struct PcBrowser {
    /// The HTTP client (cookie store on).
    pub http: reqwest::Client,
    /// Server base URL (no trailing slash).
    pub base: String,
}

/// A page as the browser got it.
#[derive(Debug)]
pub struct Page {
    /// Final URL after redirects.
    pub url: String,
    /// HTTP status.
    pub status: u16,
    /// The HTML.
    pub html: String,
}

impl PcBrowser {
    /// A fresh browser (no cookies).
    pub fn new(base: &str) -> Result<Self> {
        let http = reqwest::Client::builder().cookie_store(true).timeout(Duration::from_secs(120)).build()?;
        Ok(Self { http, base: base.trim_end_matches('/').to_owned() })
    }

    /// GET a path.
    pub async fn get(&self, path: &str) -> Result<Page> {
        let resp = self.http.get(format!("{}{path}", self.base)).send().await?;
        Ok(Page { url: resp.url().to_string(), status: resp.status().as_u16(), html: resp.text().await? })
    }

    /// GETs the form page `form_path`, then POSTs `fields` plus its CSRF token to `action`.
    pub async fn submit(&self, form_path: &str, action: &str, fields: &[(&str, &str)]) -> Result<Page> {
        let form = self.get(form_path).await?;
        let csrf = attr_after(&form.html, "name=\"csrf\"", "value").context("no CSRF field on the form")?;
        let mut body: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        body.extend_from_slice(fields);
        let resp = self.http.post(format!("{}{action}", self.base)).form(&body).send().await?;
        Ok(Page { url: resp.url().to_string(), status: resp.status().as_u16(), html: resp.text().await? })
    }

    /// Signs up (and is then signed in).
    pub async fn sign_up(&self, email: &str, password: &str) -> Result<()> {
        let page = self.submit("/signup", "/signup", &[("email", email), ("password", password)]).await?;
        if !page.url.ends_with("/verify") {
            bail!("sign-up did not land on /verify (status {}, {:?})", page.status, page_error_code(&page.html));
        }
        Ok(())
    }

    /// Fills in the identity form for the face method; returns the resulting page.
    pub async fn submit_identity(&self, name: &str, id_number: &str) -> Result<Page> {
        self.submit("/verify/identity?method=face", "/verify/identity", &[("name", name), ("id_number", id_number)])
            .await
    }

    /// Walks Verify Now → method → identity form and expects the QR page.
    pub async fn start_face_verification(&self, name: &str, id_number: &str) -> Result<QrPage> {
        let verify = self.get("/verify").await?;
        verify.html.contains("id=\"verify-now\"").then_some(()).context("no Verify Now button")?;
        let method = self.get("/verify/method").await?;
        method.html.contains("value=\"face\"").then_some(()).context("no face method")?;
        let page = self.submit_identity(name, id_number).await?;
        if !page.url.contains("/verify/sessions/") {
            bail!("identity form refused ({}): {:?}", page.status, page_error_code(&page.html));
        }
        QrPage::from_page(self, page).await
    }
}

/// The QR page of a face session.
#[derive(Debug)]
pub struct QrPage {
    /// `/verify/sessions/{id}` path.
    pub path: String,
    /// The payload decoded from the QR PNG the page shows.
    pub payload: QrPayload,
    /// The page HTML.
    pub html: String,
}

impl QrPage {
    async fn from_page(browser: &PcBrowser, page: Page) -> Result<Self> {
        let path = url::Url::parse(&page.url)?.path().to_owned();
        let src = attr_after(&page.html, "id=\"qr\"", "src").context("no QR image on the page")?;
        let png = browser.http.get(format!("{}{src}", browser.base)).send().await?.error_for_status()?.bytes().await?;
        let payload = decode_qr_png(&png)?;
        Ok(Self { path, payload, html: page.html })
    }

    /// Subscribes to the page's server-sent events; returns a receiver of `SessionEvent` JSON.
    pub async fn events(&self, browser: &PcBrowser) -> Result<mpsc::UnboundedReceiver<Value>> {
        let resp = browser
            .http
            .get(format!("{}{}/events", browser.base, self.path))
            .header("accept", "text/event-stream")
            .send()
            .await?
            .error_for_status()?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut resp = resp;
            let mut buf = String::new();
            while let Ok(Some(chunk)) = resp.chunk().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let event: String = buf.drain(..end + 2).collect();
                    for line in event.lines() {
                        if let Some(data) = line.strip_prefix("data:")
                            && let Ok(v) = serde_json::from_str::<Value>(data.trim())
                        {
                            let _ = tx.send(v);
                        }
                    }
                }
            }
        });
        Ok(rx)
    }
}

/// Waits on an event stream for the first event whose `state` is `state`.
pub async fn wait_for_state(rx: &mut mpsc::UnboundedReceiver<Value>, state: &str) -> Result<Value> {
    wait_for_event(rx, state, |ev| ev["state"] == state).await
}

/// Waits on an event stream for the first event that satisfies `pred` (60 s at most).
pub async fn wait_for_event(
    rx: &mut mpsc::UnboundedReceiver<Value>,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Result<Value> {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(ev) = rx.recv().await {
            if pred(&ev) {
                return Some(ev);
            }
            seen.push(ev);
        }
        None
    })
    .await;
    match found {
        Ok(Some(ev)) => Ok(ev),
        Ok(None) => bail!("event stream ended without {what}; saw {seen:?}"),
        Err(_) => bail!("no {what} event within 60 s; saw {seen:?}"),
    }
}

/// Decodes a QR PNG with rqrr (exactly one code expected).
pub fn decode_qr_png(png: &[u8]) -> Result<QrPayload> {
    let img = image::load_from_memory(png)?.to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    let [grid] = grids.as_slice() else { bail!("expected one QR code, found {}", grids.len()) };
    let (_, text) = grid.decode().map_err(|e| anyhow!("QR decode: {e:?}"))?;
    Ok(QrPayload::parse(&text)?)
}

/// A companion device speaking the JSON API.
#[derive(Debug, Clone)]
pub struct Device {
    http: reqwest::Client,
    base: String,
    token: String,
    /// Device name shown on the PC page.
    pub name: String,
}

/// An API answer: success body or the `{code, message}` error.
pub type ApiResult<T> = std::result::Result<T, ApiError>;

impl Device {
    /// Signs a personal device in to an account.
    pub async fn sign_in(base: &str, email: &str, password: &str, name: &str) -> Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(180)).build()?;
        let base = base.trim_end_matches('/').to_owned();
        let req = LoginRequest { email: email.into(), password: password.into(), device: device_info(name) };
        let resp = http.post(format!("{base}/api/v1/auth/login")).json(&req).send().await?;
        if !resp.status().is_success() {
            bail!("login failed: {}", resp.text().await?);
        }
        let tokens: TokenResponse = resp.json().await?;
        Ok(Self { http, base, token: tokens.access_token, name: name.into() })
    }

    async fn answer<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> Result<ApiResult<T>> {
        let status = resp.status();
        let text = resp.text().await?;
        if status.is_success() {
            Ok(Ok(serde_json::from_str(&text).with_context(|| format!("body {text}"))?))
        } else {
            Ok(Err(serde_json::from_str(&text).with_context(|| format!("error body {status}: {text}"))?))
        }
    }

    /// Claims a handle.
    pub async fn claim(&self, payload: &QrPayload) -> Result<ApiResult<ClaimResponse>> {
        let req = ClaimRequest { handle: payload.handle().as_str().into(), device: device_info(&self.name) };
        let resp = self
            .http
            .post(format!("{}/api/v1/companion/claim", self.base))
            .bearer_auth(&self.token)
            .json(&req)
            .send()
            .await?;
        Self::answer(resp).await
    }

    /// Confirms the context with consent.
    pub async fn confirm(&self, session: &str) -> Result<ApiResult<SessionStatus>> {
        let req = ConfirmRequest { consent: true, station_code: None };
        let resp = self
            .http
            .post(format!("{}/api/v1/companion/sessions/{session}/confirm", self.base))
            .bearer_auth(&self.token)
            .json(&req)
            .send()
            .await?;
        Self::answer(resp).await
    }

    /// Cancels ("I did not start this").
    pub async fn cancel(&self, session: &str) -> Result<ApiResult<SessionStatus>> {
        let resp = self
            .http
            .post(format!("{}/api/v1/companion/sessions/{session}/cancel", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        Self::answer(resp).await
    }

    /// Uploads frames: each `(action, jpeg)`; timestamps 100 ms apart (10 fps clips); no light
    /// step (see [`CompanionDevice::capture_for`]).
    pub async fn capture(
        &self,
        session: &str,
        nonce: &str,
        frames: &[(Option<LivenessAction>, Vec<u8>)],
    ) -> Result<ApiResult<Decision>> {
        let challenge = LivenessChallenge {
            actions: Vec::new(),
            nonce: nonce.into(),
            deadline: time::OffsetDateTime::now_utc(),
            light: None,
        };
        self.capture_for(session, &challenge, frames, None, usize::MAX).await
    }

    /// Uploads frames for `challenge` as the companion app would: with a light sequence,
    /// `scene`'s rendered response first (marked `light`, with the paint report), thinned to
    /// what `max_frames` (the claim's upload limit) leaves after the action frames.
    pub async fn capture_for(
        &self,
        session: &str,
        challenge: &LivenessChallenge,
        frames: &[(Option<LivenessAction>, Vec<u8>)],
        scene: Option<&realname_companion::LightScene>,
        max_frames: usize,
    ) -> Result<ApiResult<Decision>> {
        let start = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
        let upload = crate::light::build_upload(challenge, frames, scene, max_frames, start)?;
        let mut form = reqwest::multipart::Form::new().part(
            "metadata",
            reqwest::multipart::Part::text(serde_json::to_string(&upload.metadata)?).mime_str("application/json")?,
        );
        for (i, jpeg) in upload.jpegs.into_iter().enumerate() {
            form = form.part(
                format!("frame{i}"),
                reqwest::multipart::Part::bytes(jpeg).file_name(format!("frame{i}.jpg")).mime_str("image/jpeg")?,
            );
        }
        let resp = self
            .http
            .post(format!("{}/api/v1/companion/sessions/{session}/capture", self.base))
            .bearer_auth(&self.token)
            .multipart(form)
            .send()
            .await?;
        Self::answer(resp).await
    }

    /// Session status as the device sees it.
    pub async fn status(&self, session: &str) -> Result<ApiResult<SessionStatus>> {
        let resp = self
            .http
            .get(format!("{}/api/v1/companion/sessions/{session}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        Self::answer(resp).await
    }
}

fn device_info(name: &str) -> DeviceInfo {
    DeviceInfo { name: name.into(), platform: std::env::consts::OS.into(), app_version: "e2e".into() }
}
