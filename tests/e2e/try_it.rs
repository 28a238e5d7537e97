//! The README's "Try it", headless variant, run literally: the commands are parsed out of the
//! README block after `<!-- try-it:headless -->` and executed — `scripts/run.sh` (with this
//! build's server binary instead of set-up + release build, a temp database, port 0), the
//! sign-up and identity form in a real Chromium window on a private Xvfb display, then the
//! `realname` CLI reading the QR off that screen and the face from a recorded clip of the
//! enrolled person. Ends on the verified details page marked *Demo*. If the README's commands
//! change without this test, it fails.
//!
//! Enrolment photo: no photo in `data/faces` shows a person of the liveness clips, so frame 1
//! of the genuine clip `lp_d5` is the photo and frames 1–30 (mouth open 23–31) the face.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use realname_e2e::server::{ServerSetup, TestDb, server_binary};
use realname_e2e::webdriver::{Browser, DriverProcess};
use realname_e2e::{clip_frame, clip_frames, models_dir, workspace_root};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const WAIT: Duration = Duration::from_secs(60);
const README_URL: &str = "http://127.0.0.1:8080";
const PASSWORD: &str = "correct horse battery";
const CLIP: &str = "lp_d5";

/// One command line of the README block: `VAR=value …` assignments, program, arguments.
#[derive(Debug, Clone)]
struct Line {
    env: Vec<(String, String)>,
    program: String,
    args: Vec<String>,
}

/// The command lines of the fenced block that follows `marker` in the README.
fn readme_block(marker: &str) -> Result<Vec<Line>> {
    let readme = std::fs::read_to_string(workspace_root().join("README.md"))?;
    let after = &readme[readme.find(marker).with_context(|| format!("README has no {marker}"))?..];
    let body = after.split_once("```sh\n").context("no ```sh block after the marker")?.1;
    let body = body.split_once("\n```").context("unterminated block")?.0;
    let mut lines = Vec::new();
    for raw in body.lines() {
        let text = raw.split(" #").next().unwrap_or("").trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let mut words = text.split_whitespace().map(str::to_owned).peekable();
        let mut env = Vec::new();
        while let Some((k, v)) = words
            .peek()
            .and_then(|w| w.split_once('='))
            .filter(|(k, _)| k.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        {
            env.push((k.to_owned(), v.to_owned()));
            words.next();
        }
        let program = words.next().context("a line without a program")?;
        lines.push(Line { env, program, args: words.collect() });
    }
    Ok(lines)
}

/// The value after `flag` in `args`.
fn flag<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).map(String::as_str)
}

/// A private X server (killed on drop) for the browser window the CLI reads the QR from.
struct Xvfb {
    child: std::process::Child,
    display: String,
}

impl Xvfb {
    async fn start() -> Result<Self> {
        let n = (90..400)
            .find(|n| {
                !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
            })
            .context("no free X display number")?;
        let child = std::process::Command::new("Xvfb")
            .args([
                format!(":{n}"),
                "-screen".into(),
                "0".into(),
                "1280x900x24".into(),
                "-nolisten".into(),
                "tcp".into(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting Xvfb (apt package xvfb)")?;
        let x = Self { child, display: format!(":{n}") };
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
            if std::time::Instant::now() > deadline {
                bail!("Xvfb :{n} did not start");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(x)
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `realname` CLI binary of this build (next to the test executable).
fn cli_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = exe.parent().and_then(Path::parent).context("test executable location")?.join("realname");
    ensure!(bin.is_file(), "{} not found: build it first (`cargo build -p realname-cli`)", bin.display());
    Ok(bin)
}

/// `scripts/run.sh` as the README line says, with this build's server, a temp database and
/// port 0. Extra environment as given.
fn run_sh(line: &Line, args: &[String], setup_dir: &Path, db: &TestDb, extra: &[(&str, &str)]) -> Result<Command> {
    let mut cmd = Command::new("bash");
    cmd.arg(workspace_root().join(&line.program))
        .args(args)
        .current_dir(workspace_root())
        .envs(line.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("REALNAME_SERVER_BIN", server_binary()?)
        .env("REALNAME_LISTEN", "127.0.0.1:0")
        .env("DATABASE_URL", &db.url)
        .env("REALNAME_DATA_DIR", setup_dir.join("data"))
        .env("REALNAME_MODELS_DIR", models_dir()?)
        .env("RUST_LOG", "info")
        .env_remove("REALNAME_CONFIG")
        .env_remove("REALNAME_DEMO")
        .env_remove("REALNAME_AUTHORITY_URL")
        .envs(extra.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    Ok(cmd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_try_it_steps_end_on_a_verified_demo_identity() -> Result<()> {
    let lines = readme_block("<!-- try-it:headless -->")?;
    let [server_line, build_line, login_line, verify_line] = lines.as_slice() else {
        bail!("the README's headless Try-it block changed: expected 4 commands, found {lines:#?}");
    };
    ensure!(
        server_line.program == "scripts/run.sh" && server_line.args.iter().any(|a| a == "--demo"),
        "{server_line:?}"
    );
    ensure!(build_line.program == "cargo" && build_line.args.iter().any(|a| a == "realname-cli"), "{build_line:?}");
    for line in [login_line, verify_line] {
        ensure!(
            line.program == "target/release/realname" && flag(&line.args, "--server") == Some(README_URL),
            "{line:?}"
        );
    }
    ensure!(login_line.args.iter().any(|a| a == "login"), "{login_line:?}");
    ensure!(
        verify_line.args.iter().any(|a| a == "verify") && flag(&verify_line.args, "--source") == Some("screen"),
        "{verify_line:?}"
    );
    let email = flag(&login_line.args, "--email").context("login without --email")?.to_owned();

    let setup = ServerSetup::new(&[]).await?;
    let tmp = setup.dir.path();
    let frames = tmp.join("frames");
    std::fs::create_dir_all(&frames)?;
    for (i, jpeg) in clip_frames(CLIP, 1, 30)?.into_iter().enumerate() {
        std::fs::write(frames.join(format!("{:04}.jpg", i + 1)), jpeg)?;
    }

    // Line 1: the demo server, enrolling the photo; it prints the name, the ID number, the URL
    // and the next three steps.
    let photo = clip_frame(CLIP, 1)?.display().to_string();
    let photo_arg = flag(&server_line.args, "--photo").context("run.sh without --photo")?.to_owned();
    let args: Vec<String> =
        server_line.args.iter().map(|a| if *a == photo_arg { photo.clone() } else { a.clone() }).collect();
    let log = std::fs::File::create(tmp.join("run.log"))?;
    let mut server = run_sh(server_line, &args, tmp, &setup.db, &[])?.stdout(Stdio::piped()).stderr(log).spawn()?;
    let mut out = BufReader::new(server.stdout.take().context("stdout")?).lines();
    let (mut name, mut id, mut url, mut steps) = (None, None, None, Vec::new());
    let read = tokio::time::timeout(Duration::from_secs(180), async {
        while let Some(line) = out.next_line().await? {
            if let Some(v) = line.strip_prefix("  name:      ") {
                name = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("  ID number: ") {
                id = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("realname-server listening on ") {
                url = Some(v.trim_end_matches('/').to_owned());
            } else if line.starts_with("  1. ") || line.starts_with("  2. ") || line.starts_with("  3. ") {
                steps.push(line.clone());
                if line.starts_with("  3. ") {
                    return Ok::<_, anyhow::Error>(());
                }
            }
        }
        bail!("run.sh ended early")
    })
    .await;
    let run_log = || std::fs::read_to_string(tmp.join("run.log")).unwrap_or_default();
    match read {
        Ok(Ok(())) => {}
        Ok(Err(e)) => bail!("{e}; log: {}", run_log()),
        Err(_) => bail!("run.sh printed no next steps within 180 s; log: {}", run_log()),
    }
    tokio::spawn(async move { while let Ok(Some(_)) = out.next_line().await {} });
    let (name, id, url) =
        (name.context("no name printed")?, id.context("no ID number printed")?, url.context("no URL printed")?);
    assert!(id.starts_with("7100001900"), "a demo-range number: {id}");
    assert!(
        steps[0].contains("Enrol yourself") && steps[1].contains("Sign up") && steps[2].contains("scripts/app.sh"),
        "{steps:#?}"
    );

    // Line 2 builds the CLI: the test runner has built it (debug) already.
    let cli = cli_binary()?;

    // Steps 2–3 in a real browser window on the display the CLI will read.
    let x = Xvfb::start().await?;
    let driver = DriverProcess::chromedriver_on(Some(&x.display)).await?;
    let profile = tempfile::tempdir()?;
    let browser = Browser::chromium_windowed(&driver, profile.path(), "zh-CN").await?;
    browser.goto(&format!("{url}/signup")).await?;
    browser.type_into(&browser.find("#email").await?, &email).await?;
    browser.type_into(&browser.find("#password").await?, PASSWORD).await?;
    browser.click(&browser.find("form[action='/signup'] button[type=submit]").await?).await?;
    browser.wait_for("the verification page", "return document.querySelector('#verify-now')", WAIT).await?;
    browser.click(&browser.find("#verify-now").await?).await?;
    browser.wait_for("the method page", "return document.querySelector('#next-step')", WAIT).await?;
    browser.click(&browser.find("#next-step").await?).await?;
    browser.wait_for("the identity form", "return document.querySelector('#id_number')", WAIT).await?;
    browser.type_into(&browser.find("#name").await?, &name).await?;
    browser.type_into(&browser.find("#id_number").await?, &id).await?;
    browser.click(&browser.find("form[action='/verify/identity'] button[type=submit]").await?).await?;
    browser
        .wait_for(
            "the QR image",
            "var i = document.querySelector('#qr'); return i && i.complete && i.naturalWidth > 0",
            WAIT,
        )
        .await?;

    // Lines 3–4: the CLI signs in and verifies, QR off the screen, face from the clip.
    let cli_home = tmp.join("home");
    std::fs::create_dir_all(&cli_home)?;
    for (line, what) in [(login_line, "login"), (verify_line, "verify")] {
        let args: Vec<String> = line
            .args
            .iter()
            .map(|a| {
                if a == README_URL {
                    url.clone()
                } else {
                    a.replace("dir:frames/", &format!("dir:{}/", frames.display()))
                }
            })
            .collect();
        let output = Command::new(&cli)
            .args(&args)
            .envs(line.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("HOME", &cli_home)
            .env("DISPLAY", &x.display)
            .env("REALNAME_PASSWORD", PASSWORD)
            .env("REALNAME_MODELS_DIR", models_dir()?)
            .env_remove("REALNAME_COMPANION_CONFIG")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(180), output)
            .await
            .with_context(|| format!("{what} timed out"))??;
        ensure!(
            output.status.success(),
            "realname {what} failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    // Step 5: the page turned to verified by itself; the details are marked Demo.
    browser
        .wait_for("the verified state", "return document.querySelector('#session').dataset.state === 'passed'", WAIT)
        .await?;
    browser.goto(&format!("{url}/verify/details")).await?;
    let mark = browser.text(&browser.find("[data-field=demo]").await?).await?;
    assert_eq!(mark.trim(), "演示");
    if let Some(path) = std::env::var_os("REALNAME_TRY_IT_SCREENSHOT") {
        browser.goto(&format!("{url}/lang/en?next=/verify/details")).await?;
        browser.wait_for("the English page", "return document.documentElement.lang === 'en'", WAIT).await?;
        std::fs::write(path, browser.screenshot_png().await?)?;
    }
    let shown = browser
        .execute("return document.querySelector('[data-field=id_number]').textContent.trim()", json!([]))
        .await?;
    assert_eq!(shown, json!(format!("7{}{}", "*".repeat(16), &id[17..])), "masked ID number");
    browser.close().await?;
    server.kill().await?;
    Ok(())
}

#[tokio::test]
async fn demo_mode_with_an_http_authority_is_refused_by_run_sh() -> Result<()> {
    let lines = readme_block("<!-- try-it:headless -->")?;
    let server_line = lines.first().context("empty block")?;
    let setup = ServerSetup::new(&[]).await?;
    let args = vec!["--demo".to_owned()];
    let out = run_sh(
        server_line,
        &args,
        setup.dir.path(),
        &setup.db,
        &[("REALNAME_AUTHORITY_URL", "https://authority.example")],
    )?
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .output()
    .await?;
    assert!(!out.status.success(), "started: {}", String::from_utf8_lossy(&out.stdout));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("demo mode (--demo / REALNAME_DEMO=1) is refused with an HTTP identity authority"),
        "{stderr}"
    );
    Ok(())
}
