//! A small W3C WebDriver client for the browser tests (chromedriver today, tauri-driver for
//! the desktop app): keep-alive HTTP, the handful of commands the tests need, and waits that
//! poll the page for a condition with a deadline.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use serde_json::{Value, json};

/// W3C element reference key.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running WebDriver server process (killed on drop).
#[derive(Debug)]
pub struct DriverProcess {
    child: Child,
    /// Base URL, e.g. `http://127.0.0.1:9515`.
    pub url: String,
}

impl DriverProcess {
    /// Starts `chromedriver` on a free port and waits until it answers `/status`.
    pub async fn chromedriver() -> Result<Self> {
        Self::chromedriver_on(None).await
    }

    /// As [`Self::chromedriver`], with the browsers it starts on X display `display` (e.g.
    /// `:93` of an Xvfb), for tests that read the screen.
    pub async fn chromedriver_on(display: Option<&str>) -> Result<Self> {
        let port = free_port()?;
        let mut cmd = Command::new("chromedriver");
        if let Some(display) = display {
            cmd.env("DISPLAY", display);
        }
        let child = cmd
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromedriver (apt package chromium-driver)")?;
        let driver = Self { child, url: format!("http://127.0.0.1:{port}") };
        driver.wait_ready().await?;
        Ok(driver)
    }

    async fn wait_ready(&self) -> Result<()> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = client.get(format!("{}/status", self.url)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("WebDriver server at {} did not become ready", self.url);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for DriverProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A WebDriver session.
#[derive(Debug)]
pub struct Browser {
    client: reqwest::Client,
    base: String,
}

/// A found element.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Opens a headless Chromium session on `driver` with a fresh profile in `profile_dir`.
    pub async fn chromium(driver: &DriverProcess, profile_dir: &Path, lang: &str) -> Result<Self> {
        Self::chromium_with(driver, profile_dir, lang, true).await
    }

    /// A Chromium window (not headless) at the top left of the driver's display, 1280×900.
    pub async fn chromium_windowed(driver: &DriverProcess, profile_dir: &Path, lang: &str) -> Result<Self> {
        Self::chromium_with(driver, profile_dir, lang, false).await
    }

    async fn chromium_with(driver: &DriverProcess, profile_dir: &Path, lang: &str, headless: bool) -> Result<Self> {
        let mode = if headless { "--headless=new" } else { "--window-position=0,0" };
        let caps = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": "/usr/bin/chromium",
                    "args": [
                        mode, "--no-sandbox", "--disable-gpu", "--disable-quic",
                        "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync",
                        "--disable-dev-shm-usage", "--window-size=1280,900",
                        format!("--lang={lang}"),
                        format!("--user-data-dir={}", profile_dir.display()),
                    ],
                    "prefs": { "intl.accept_languages": lang }
                }
            }}
        });
        Self::new_session(&driver.url, caps).await
    }

    /// Opens a session with arbitrary capabilities (e.g. `tauri:options`).
    pub async fn new_session(driver_url: &str, capabilities: Value) -> Result<Self> {
        let client = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(300))
            .timeout(Duration::from_secs(120))
            .build()?;
        let resp: Value = client.post(format!("{driver_url}/session")).json(&capabilities).send().await?.json().await?;
        let id = resp["value"]["sessionId"].as_str().ok_or_else(|| anyhow!("no session id in {resp}"))?;
        Ok(Self { client, base: format!("{driver_url}/session/{id}") })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp: Value = req.send().await?.json().await?;
        if let Some(err) = resp["value"].get("error") {
            bail!("WebDriver {path}: {err}: {}", resp["value"]["message"]);
        }
        Ok(resp["value"].clone())
    }

    /// Navigates to `url`.
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await.map(drop)
    }

    /// The current URL.
    pub async fn current_url(&self) -> Result<String> {
        Ok(self.call(reqwest::Method::GET, "/url", None).await?.as_str().unwrap_or_default().to_owned())
    }

    /// Finds the first element matching a CSS selector.
    pub async fn find(&self, css: &str) -> Result<Element> {
        let v = self
            .call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css})))
            .await
            .with_context(|| format!("finding {css}"))?;
        Ok(Element(v[ELEMENT_KEY].as_str().ok_or_else(|| anyhow!("bad element {v}"))?.to_owned()))
    }

    /// Whether an element matching `css` exists right now.
    pub async fn exists(&self, css: &str) -> Result<bool> {
        let v =
            self.call(reqwest::Method::POST, "/elements", Some(json!({"using": "css selector", "value": css}))).await?;
        Ok(v.as_array().is_some_and(|a| !a.is_empty()))
    }

    /// Clicks an element.
    pub async fn click(&self, el: &Element) -> Result<()> {
        self.call(reqwest::Method::POST, &format!("/element/{}/click", el.0), Some(json!({}))).await.map(drop)
    }

    /// Clears an input and types `text` into it.
    pub async fn type_into(&self, el: &Element, text: &str) -> Result<()> {
        self.call(reqwest::Method::POST, &format!("/element/{}/clear", el.0), Some(json!({}))).await?;
        self.call(reqwest::Method::POST, &format!("/element/{}/value", el.0), Some(json!({"text": text})))
            .await
            .map(drop)
    }

    /// The visible text of an element.
    pub async fn text(&self, el: &Element) -> Result<String> {
        Ok(self
            .call(reqwest::Method::GET, &format!("/element/{}/text", el.0), None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// A DOM property of an element (e.g. `value`).
    pub async fn property(&self, el: &Element, name: &str) -> Result<Value> {
        self.call(reqwest::Method::GET, &format!("/element/{}/property/{name}", el.0), None).await
    }

    /// Runs synchronous JavaScript in the page and returns its result.
    pub async fn execute(&self, script: &str, args: Value) -> Result<Value> {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": args}))).await
    }

    /// Polls `script` (which must return a truthy value when the condition holds) until it
    /// holds or `timeout` passes; returns the value. Used to wait for server-pushed updates.
    pub async fn wait_for(&self, what: &str, script: &str, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.execute(script, json!([])).await?;
            let truthy = !(v.is_null() || v == json!(false) || v == json!("") || v == json!(0));
            if truthy {
                return Ok(v);
            }
            if Instant::now() > deadline {
                let url = self.current_url().await.unwrap_or_default();
                bail!("timed out waiting for {what} (page {url})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Takes a PNG screenshot of the viewport.
    pub async fn screenshot_png(&self) -> Result<Vec<u8>> {
        let v = self.call(reqwest::Method::GET, "/screenshot", None).await?;
        let b64 = v.as_str().ok_or_else(|| anyhow!("no screenshot data"))?;
        Ok(base64::engine::general_purpose::STANDARD.decode(b64)?)
    }

    /// Takes a PNG screenshot of one element.
    pub async fn element_png(&self, el: &Element) -> Result<Vec<u8>> {
        let v = self.call(reqwest::Method::GET, &format!("/element/{}/screenshot", el.0), None).await?;
        let b64 = v.as_str().ok_or_else(|| anyhow!("no screenshot data"))?;
        Ok(base64::engine::general_purpose::STANDARD.decode(b64)?)
    }

    /// Ends the session.
    pub async fn close(self) -> Result<()> {
        self.client.delete(&self.base).send().await?;
        Ok(())
    }
}

/// A TCP port that was free a moment ago.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
