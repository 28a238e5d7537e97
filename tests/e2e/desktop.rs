//! The desktop app end to end: the real `realname-desktop` binary driven through `tauri-driver`
//! and WebKitWebDriver (under Xvfb in CI), against the real server on port 0. The QR comes from
//! the app's synthetic source carrying the payload the PC page shows; the face from a folder of
//! real labelled frames. Every main screen is saved to `docs/screenshots/app-*.png`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use realname_e2e::flow::{PcBrowser, QrPage, wait_for_event, wait_for_state};
use realname_e2e::server::{ServerProcess, ServerSetup};
use realname_e2e::webdriver::{Browser, free_port};
use realname_e2e::{clip_frame, clip_frames, id_number, models_dir, workspace_root};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";
const PERSON_CLIP: &str = "lp_d5";
const OTHER_CLIP: &str = "lp_d18";
const SEED_MESSAGE: &str = "the ID number must belong to the person doing the face scan";
/// Flows run the real face engine on 2 shared cores: generous, but bounded.
const FLOW: Duration = Duration::from_secs(120);
const UI: Duration = Duration::from_secs(30);

/// `realname-desktop` next to this test executable (or `REALNAME_DESKTOP_BIN`).
fn app_binary() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("REALNAME_DESKTOP_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let exe = std::env::current_exe()?;
    let profile_dir = exe.parent().and_then(Path::parent).context("test executable location")?;
    let bin = profile_dir.join("realname-desktop");
    if !bin.is_file() {
        bail!("{} not found: build it first (scripts/test-desktop.sh)", bin.display());
    }
    Ok(bin)
}

/// A running app under `tauri-driver` with its own settings folder.
struct App {
    driver: Child,
    browser: Option<Browser>,
    _dir: tempfile::TempDir,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl App {
    /// Starts tauri-driver (own ports) with the app's environment and opens a session.
    async fn launch(settings: Option<&str>) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        if let Some(toml) = settings {
            std::fs::write(dir.path().join("desktop.toml"), toml)?;
        }
        let (port, native) = (free_port()?, free_port()?);
        let driver = Command::new("tauri-driver")
            .args(["--port", &port.to_string(), "--native-port", &native.to_string()])
            .env("REALNAME_DESKTOP_DIR", dir.path())
            .env("REALNAME_CREDENTIAL_STORE", "file")
            .env("REALNAME_CREDENTIAL_FILE", dir.path().join("credentials.json"))
            .env("REALNAME_MODELS_DIR", models_dir()?)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting tauri-driver (cargo install tauri-driver --locked)")?;
        let url = format!("http://127.0.0.1:{port}");
        let mut app = Self { driver, browser: None, _dir: dir };
        wait_ready(&url).await?;
        let caps = json!({"capabilities": {"alwaysMatch": {"tauri:options": {"application": app_binary()?}}}});
        let browser = Browser::new_session(&url, caps).await?;
        browser.wait_for("the UI to start", "return document.body.dataset.ready === '1'", UI).await?;
        app.browser = Some(browser);
        Ok(app)
    }

    fn b(&self) -> &Browser {
        self.browser.as_ref().expect("session")
    }

    async fn click(&self, id: &str) -> Result<()> {
        let el = self.b().find(&format!("#{id}")).await?;
        self.b().click(&el).await
    }

    async fn type_into(&self, id: &str, text: &str) -> Result<()> {
        let el = self.b().find(&format!("#{id}")).await?;
        self.b().type_into(&el, text).await
    }

    async fn text(&self, id: &str) -> Result<String> {
        let v = self.b().execute(&format!("return document.getElementById('{id}').textContent"), json!([])).await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    async fn wait_screen(&self, screen: &str, timeout: Duration) -> Result<()> {
        let script = format!("return window.__realname && window.__realname.screen() === '{screen}'");
        self.b().wait_for(&format!("screen {screen}"), &script, timeout).await.map(drop)
    }

    async fn screenshot(&self, name: &str) -> Result<()> {
        let png = self.b().screenshot_png().await?;
        let dir = workspace_root().join("docs/screenshots");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("app-{name}.png")), png)?;
        Ok(())
    }

    async fn view(&self) -> Result<Value> {
        self.b().execute("return window.__realname.view()", json!([])).await
    }
}

async fn wait_ready(url: &str) -> Result<()> {
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("{url}/status")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            bail!("tauri-driver at {url} did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn server() -> Result<(ServerSetup, ServerProcess)> {
    let env = [("REALNAME_TEST_MODE", "1"), ("REALNAME_TEST_FIXED_CHALLENGE", "open_mouth")];
    let setup = ServerSetup::new(&env).await?;
    let server = setup.serve().await?;
    Ok((setup, server))
}

/// A folder of the clip's labelled frames answering "open mouth": 4 neutral frames, then the
/// labelled mouth-open range (as in `face_flow.rs`).
fn face_folder(clip: &str, dir: &Path) -> Result<PathBuf> {
    let mouth = if clip == PERSON_CLIP { (23, 30) } else { (22, 29) };
    let folder = dir.join(format!("face-{clip}"));
    std::fs::create_dir_all(&folder)?;
    let frames = clip_frames(clip, 1, 4)?.into_iter().chain(clip_frames(clip, mouth.0, mouth.1)?);
    for (i, jpeg) in frames.enumerate() {
        std::fs::write(folder.join(format!("{:04}.jpg", i + 1)), jpeg)?;
    }
    Ok(folder)
}

/// The synthetic source a tester uses to "show" the PC's QR to the app.
fn qr_source(qr: &QrPage) -> String {
    format!("synthetic:qr={}@1280x720,30fps", qr.payload)
}

/// A personal-mode app set up through its UI: first run, sign in, camera chooser.
async fn personal_app(server: &ServerProcess, email: &str, qr: &str, face: &Path, shots: bool) -> Result<App> {
    let app = App::launch(None).await?;
    app.wait_screen("first-run", UI).await?;
    if shots {
        app.screenshot("first-run").await?;
    }
    app.type_into("fr-backend", &server.url).await?;
    app.b()
        .execute(
            "const s = document.getElementById('fr-language'); s.value = 'en'; s.dispatchEvent(new Event('change'));",
            json!([]),
        )
        .await?;
    app.click("fr-save").await?;
    app.wait_screen("sign-in", UI).await?;
    app.type_into("si-email", email).await?;
    app.type_into("si-password", "not the password").await?;
    app.click("si-submit").await?;
    app.b().wait_for("a sign-in error", "return document.getElementById('si-error').textContent", UI).await?;
    assert_eq!(app.text("si-error").await?, "E-mail or password is wrong.");
    app.type_into("si-password", PASSWORD).await?;
    if shots {
        app.screenshot("sign-in").await?;
    }
    app.click("si-submit").await?;
    app.wait_screen("home", UI).await?;
    assert!(app.text("home-account").await?.contains('*'), "masked account on the home screen");

    app.click("nav-settings").await?;
    app.wait_screen("settings", UI).await?;
    app.click("set-tester").await?;
    app.click("set-save").await?;
    app.b().wait_for("settings saved", "return document.getElementById('set-ok').textContent", UI).await?;
    if shots {
        app.screenshot("settings").await?;
    }
    app.click("nav-camera").await?;
    app.wait_screen("camera", UI).await?;
    app.type_into("cam-qr", qr).await?;
    app.type_into("cam-face", &format!("dir:{}@5fps", face.display())).await?;
    app.click("cam-preview").await?;
    app.b()
        .wait_for(
            "preview frames",
            "return window.__realname.previewStats().kbPerFrame > 0 && window.__realname.previewStats().fps > 0",
            UI,
        )
        .await?;
    if shots {
        app.screenshot("camera").await?;
        // Transport figures for docs/benchmarks-desktop.md: 60 frames of a 640×480 source.
        let sixty = app.b().wait_for("60 preview frames", "return window.__realname.previewFrames() >= 60", UI).await;
        if let Err(e) = sixty {
            let stats = app.b().execute("return window.__realname.previewStats()", json!([])).await?;
            bail!("{e}; preview so far: {stats}");
        }
        if let Some(path) = std::env::var_os("REALNAME_PREVIEW_STATS") {
            let stats = app.b().execute("return window.__realname.previewStats()", json!([])).await?;
            std::fs::write(path, stats.to_string())?;
        }
    }
    app.click("cam-save").await?;
    app.wait_screen("home", UI).await?;
    if shots {
        app.screenshot("home").await?;
        app.click("nav-about").await?;
        app.wait_screen("about", UI).await?;
        assert_eq!(app.text("about-version").await?, env!("CARGO_PKG_VERSION"));
        app.screenshot("about").await?;
        app.click("nav-home").await?;
        app.wait_screen("home", UI).await?;
    }
    Ok(app)
}

async fn account(server: &ServerProcess, email: &str) -> Result<PcBrowser> {
    let pc = PcBrowser::new(&server.url)?;
    pc.sign_up(email, PASSWORD).await?;
    Ok(pc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desktop_happy_path_verifies_and_the_pc_sees_it() -> Result<()> {
    let (setup, server) = server().await?;
    let id = id_number(601);
    setup.register_person("张三", &id, &clip_frame(PERSON_CLIP, 1)?).await?;
    let pc = account(&server, "desk-alice@example.com").await?;
    let qr = pc.start_face_verification("张三", &id).await?;
    let mut events = qr.events(&pc).await?;
    let tmp = tempfile::tempdir()?;
    let face = face_folder(PERSON_CLIP, tmp.path())?;
    let app = personal_app(&server, "desk-alice@example.com", &qr_source(&qr), &face, true).await?;

    // A QR that is not a Realname code is outlined and ignored (scan screen).
    app.click("nav-camera").await?;
    app.wait_screen("camera", UI).await?;
    app.type_into("cam-qr", "synthetic:qr=https://example.com/not-realname;perspective=12;seed=3@640x480").await?;
    app.click("cam-save").await?;
    app.wait_screen("home", UI).await?;
    app.click("home-start").await?;
    app.wait_screen("scan", UI).await?;
    app.b()
        .wait_for(
            "an outlined foreign QR",
            "const v = window.__realname.view(); return v.qr && v.qr.realname === false",
            UI,
        )
        .await?;
    app.b().wait_for("a drawn preview", "return window.__realname.previewStats().fps > 0", UI).await?;
    app.screenshot("scan").await?;
    assert_eq!(app.text("scan-status").await?, "This QR code is not a Realname code");
    app.click("scan-cancel").await?;
    app.wait_screen("result", UI).await?;
    app.click("res-done").await?;
    app.wait_screen("home", UI).await?;

    // The real QR.
    app.click("nav-camera").await?;
    app.wait_screen("camera", UI).await?;
    app.type_into("cam-qr", &qr_source(&qr)).await?;
    app.click("cam-save").await?;
    app.wait_screen("home", UI).await?;
    app.click("home-start").await?;
    app.wait_screen("context", FLOW).await?;
    assert_eq!(app.text("ctx-name").await?, "*三");
    assert_eq!(app.text("ctx-id").await?, format!("1{}{}", "*".repeat(16), &id[17..]));
    assert!(app.text("ctx-account").await?.contains('*'));
    assert!(!app.text("ctx-time").await?.is_empty());
    wait_for_state(&mut events, "scanned").await?;
    app.screenshot("context").await?;
    app.click("ctx-confirm").await?;
    app.wait_screen("consent", UI).await?;
    app.screenshot("consent").await?;
    app.click("consent-accept").await?;
    app.b()
        .wait_for(
            "a liveness prompt",
            "const v = window.__realname.view(); return v.prompt !== null || v.screen !== 'liveness'",
            FLOW,
        )
        .await?;
    if app.view().await?["screen"] == "liveness" {
        app.screenshot("liveness").await?;
        assert_eq!(app.text("lv-prompt").await?, "Open your mouth");
    }
    app.wait_screen("result", FLOW).await?;
    let view = app.view().await?;
    assert_eq!(view["result"]["outcome"], "passed", "{view:#}");
    assert_eq!(app.text("res-title").await?, "Verified");
    app.screenshot("result-verified").await?;
    // The PC side sees it.
    wait_for_state(&mut events, "passed").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desktop_wrong_person_shows_the_failure_and_attempts_left() -> Result<()> {
    let (setup, server) = server().await?;
    let id = id_number(602);
    setup.register_person("李四", &id, &clip_frame(PERSON_CLIP, 1)?).await?;
    let pc = account(&server, "desk-bob@example.com").await?;
    let qr = pc.start_face_verification("李四", &id).await?;
    let mut events = qr.events(&pc).await?;
    let tmp = tempfile::tempdir()?;
    let face = face_folder(OTHER_CLIP, tmp.path())?;
    let app = personal_app(&server, "desk-bob@example.com", &qr_source(&qr), &face, false).await?;
    app.click("home-start").await?;
    app.wait_screen("context", FLOW).await?;
    let before: u32 = app.text("ctx-attempts").await?.parse()?;
    app.click("ctx-confirm").await?;
    app.wait_screen("consent", UI).await?;
    app.click("consent-accept").await?;
    app.wait_screen("result", FLOW).await?;
    let view = app.view().await?;
    assert_ne!(view["result"]["outcome"], "passed", "{view:#}");
    assert_eq!(view["result"]["reason"], "face_mismatch", "{view:#}");
    assert!(app.text("res-message").await?.contains(SEED_MESSAGE), "{view:#}");
    assert_eq!(app.text("res-attempts").await?, format!("Attempts left: {}", before - 1));
    app.screenshot("result-failed").await?;
    let left = before - 1;
    wait_for_event(&mut events, "one attempt less on the PC", |ev| ev["attempts_left"] == left).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desktop_cancel_at_the_context_screen_cancels_on_the_pc() -> Result<()> {
    let (setup, server) = server().await?;
    let id = id_number(603);
    setup.register_person("王五", &id, &clip_frame(PERSON_CLIP, 1)?).await?;
    let pc = account(&server, "desk-carol@example.com").await?;
    let qr = pc.start_face_verification("王五", &id).await?;
    let mut events = qr.events(&pc).await?;
    let tmp = tempfile::tempdir()?;
    let face = face_folder(PERSON_CLIP, tmp.path())?;
    let app = personal_app(&server, "desk-carol@example.com", &qr_source(&qr), &face, false).await?;
    app.click("home-start").await?;
    app.wait_screen("context", FLOW).await?;
    app.click("ctx-cancel").await?;
    app.wait_screen("result", FLOW).await?;
    assert_eq!(app.view().await?["result"]["outcome"], "cancelled");
    app.screenshot("result-cancelled").await?;
    wait_for_state(&mut events, "cancelled").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desktop_kiosk_verifies_with_the_pc_code_and_resets_itself() -> Result<()> {
    let (setup, server) = server().await?;
    let id = id_number(604);
    setup.register_person("赵六", &id, &clip_frame(PERSON_CLIP, 1)?).await?;
    let registered: Value =
        serde_json::from_str(&setup.admin(&["devices", "register", "--name", "Front desk", "--json"]).await?)?;
    let credential = registered["credential"].as_str().context("station credential")?.to_owned();
    let pc = account(&server, "desk-dave@example.com").await?;
    let qr = pc.start_face_verification("赵六", &id).await?;
    let mut events = qr.events(&pc).await?;
    let tmp = tempfile::tempdir()?;
    let face = face_folder(PERSON_CLIP, tmp.path())?;
    // The operator's provisioning: backend, kiosk mode, Chinese UI, the tester stand-ins.
    let settings = format!(
        "backend_url = {url:?}\nlanguage = \"zh-CN\"\nmode = \"kiosk\"\nqr_source = {qr:?}\nface_source = {face:?}\ntester_mode = true\nkiosk_reset_secs = 3\n",
        url = server.url,
        qr = qr_source(&qr),
        face = format!("dir:{}@5fps", face.display()),
    );
    let app = App::launch(Some(&settings)).await?;
    app.wait_screen("station", UI).await?;
    app.type_into("st-token", &credential).await?;
    app.type_into("st-pin", "4711").await?;
    app.screenshot("station").await?;
    app.click("st-submit").await?;
    app.wait_screen("attract", UI).await?;
    app.screenshot("attract").await?;

    app.click("attract-start").await?;
    app.wait_screen("context", FLOW).await?;
    let scanned =
        wait_for_event(&mut events, "the station code on the PC", |ev| ev["station_code"].is_string()).await?;
    let code = scanned["station_code"].as_str().context("code")?.to_owned();
    app.type_into("ctx-code", &code).await?;
    app.screenshot("context-kiosk").await?;
    app.click("ctx-confirm").await?;
    app.wait_screen("consent", UI).await?;
    app.click("consent-accept").await?;
    app.wait_screen("result", FLOW).await?;
    assert_eq!(app.view().await?["result"]["outcome"], "passed");
    assert_eq!(app.text("res-title").await?, "认证成功");
    app.screenshot("result-kiosk").await?;
    wait_for_state(&mut events, "passed").await?;

    // Automatic reset: back to the attract screen with nothing of the last person left.
    app.wait_screen("attract", Duration::from_secs(20)).await?;
    assert_eq!(app.text("ctx-name").await?, "");
    assert_eq!(app.view().await?["context"], Value::Null);

    // Leaving the kiosk needs the admin PIN.
    app.b()
        .execute(
            "window.dispatchEvent(new KeyboardEvent('keydown', {key: 'Q', ctrlKey: true, shiftKey: true}))",
            json!([]),
        )
        .await?;
    app.wait_screen("exit", UI).await?;
    app.type_into("ex-pin", "0000").await?;
    app.click("ex-confirm").await?;
    app.b().wait_for("a PIN error", "return document.getElementById('ex-error').textContent", UI).await?;
    assert_eq!(app.text("ex-error").await?, "PIN 错误或无效。");
    Ok(())
}

#[path = "desktop_light.rs"]
mod light;
