//! Harness: a real server on port 0 (SQLite temp file, fixed test challenge), identities in its
//! local authority registry, a "PC browser" that signs up and starts a verification, and the
//! `realname` binary run with `--json`.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context as _, Result, bail};
use realname_protocol::api::LivenessAction;
use realname_server::RunningServer;
use tempfile::TempDir;

/// The shared test data folder (`REALNAME_SHARED_DIR`, default `<workspace>/../shared`).
pub(crate) fn shared_dir() -> PathBuf {
    std::env::var_os("REALNAME_SHARED_DIR").map(PathBuf::from).unwrap_or_else(|| workspace().join("..").join("shared"))
}

/// The face models (`REALNAME_MODELS_DIR`, default `<workspace>/models`).
pub(crate) fn models_dir() -> PathBuf {
    std::env::var_os("REALNAME_MODELS_DIR").map(PathBuf::from).unwrap_or_else(|| workspace().join("models"))
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

/// A clip folder of the liveness data.
pub(crate) fn clip(name: &str) -> Result<PathBuf> {
    let dir = shared_dir().join("data/liveness/clips").join(name);
    if !dir.is_dir() {
        bail!("test data missing: {} (set REALNAME_SHARED_DIR)", dir.display());
    }
    Ok(dir)
}

/// Copies frames `first..=last` (1-based, as in labels.json) of a clip into a new folder
/// under `into` (test data is never copied into the repository, only into temp folders).
pub(crate) fn clip_frames(name: &str, first: usize, last: usize, into: &Path) -> Result<PathBuf> {
    let src = clip(name)?;
    let dst = into.join(format!("{name}-{first}-{last}"));
    std::fs::create_dir_all(&dst)?;
    for k in first..=last {
        let file = format!("{k:04}.jpg");
        std::fs::copy(src.join(&file), dst.join(&file)).with_context(|| format!("{name}/{file}"))?;
    }
    Ok(dst)
}

/// A valid resident ID number for test identity `i` (region 110101).
pub(crate) fn test_id(seed: u64, i: usize) -> String {
    let body = format!("1101011990{:02}{:02}{:03}", 1 + (seed % 12), 1 + (i % 28), (seed * 31 + i as u64) % 1000);
    let check = realname_protocol::id_number::check_character(body.as_bytes());
    format!("{body}{check}")
}

/// A running server plus a temp folder for everything the test writes.
pub(crate) struct Harness {
    pub server: RunningServer,
    pub origin: String,
    pub tmp: TempDir,
}

impl Harness {
    /// Starts a server with the face models and a fixed liveness challenge.
    pub(crate) async fn start(challenge: &[LivenessAction]) -> Result<Self> {
        Self::start_with(challenge, false).await
    }

    /// Like [`Harness::start`]; `light`: every challenge carries a light sequence and the
    /// decision checks its reflection (`face.light_check`).
    pub(crate) async fn start_with(challenge: &[LivenessAction], light: bool) -> Result<Self> {
        Self::start_configured(challenge, |c| c.face.light_check = light).await
    }

    /// Like [`Harness::start`], with `configure` applied to the server's configuration last.
    pub(crate) async fn start_configured(
        challenge: &[LivenessAction],
        configure: impl FnOnce(&mut realname_server::ServerConfig),
    ) -> Result<Self> {
        let tmp = tempfile::tempdir()?;
        let models = models_dir();
        if !models.join("tiny_face_detector_model-weights_manifest.json").is_file() {
            bail!(
                "face models missing in {} (run scripts/fetch-models.sh or set REALNAME_MODELS_DIR)",
                models.display()
            );
        }
        let mut config = realname_server::ServerConfig::default();
        config.listen = "127.0.0.1:0".parse()?;
        config.data_dir = tmp.path().join("server");
        config.database_url = Some(realname_server::config::Secret::new(format!(
            "sqlite://{}?mode=rwc",
            tmp.path().join("server.db").display()
        )));
        config.models_dir = models;
        config.test.test_mode = true;
        config.test.fixed_challenge = Some(challenge.to_vec());
        configure(&mut config);
        std::fs::create_dir_all(&config.data_dir)?;
        let server = realname_server::start(config).await.context("start server")?;
        let origin = server.url().trim_end_matches('/').to_owned();
        Ok(Self { server, origin, tmp })
    }

    /// Registers identities with a reference photo in the local authority registry.
    pub(crate) async fn register(&self, people: &[(String, String)], photo: &Path) -> Result<()> {
        let photos = photo.parent().context("photo folder")?;
        let file = photo.file_name().context("photo name")?.to_string_lossy().into_owned();
        let csv: String = people.iter().map(|(name, id)| format!("{name},{id},{file}\n")).collect();
        let state = self.server.state();
        let now = time::OffsetDateTime::now_utc();
        let report = realname_server::authority::import_registry(
            state.store.as_ref(),
            &state.keys,
            state.analyzer.clone(),
            &csv,
            photos,
            now.date(),
            now.unix_timestamp(),
        )
        .await?;
        if report.imported != people.len() {
            bail!("authority import: {report:?}");
        }
        Ok(())
    }

    /// `realname load-identities` for `count` virtual users answering with the frames in
    /// `clip_dir` (reference photo: lp_d5's first frame), registered with the authority;
    /// returns the folder with `people.csv`.
    pub(crate) async fn load_identities(&self, count: usize, seed: u64, clip_dir: &Path) -> Result<PathBuf> {
        self.load_identities_with(count, seed, clip_dir, &clip("lp_d5")?.join("0001.jpg")).await
    }

    /// [`Harness::load_identities`] with `photo` as every identity's reference photo.
    pub(crate) async fn load_identities_with(
        &self,
        count: usize,
        seed: u64,
        clip_dir: &Path,
        photo: &Path,
    ) -> Result<PathBuf> {
        let out = self.tmp.path().join("identities");
        let photo = photo.to_path_buf();
        let (code, json) = run_json(
            &mut self.cli(&[
                "load-identities",
                "--count",
                &count.to_string(),
                "--photo",
                &photo.display().to_string(),
                "--clip",
                &clip_dir.display().to_string(),
                "--out",
                &out.display().to_string(),
                "--seed",
                &seed.to_string(),
            ]),
            None,
        )
        .await?;
        if code != 0 {
            bail!("load-identities exited with {code}: {json}");
        }
        let people: Vec<(String, String)> = std::fs::read_to_string(out.join("authority.csv"))?
            .lines()
            .skip(1)
            .map(|l| {
                let mut f = l.split(',');
                (f.next().unwrap_or_default().to_owned(), f.next().unwrap_or_default().to_owned())
            })
            .collect();
        self.register(&people, &photo).await?;
        Ok(out)
    }

    /// Environment for the CLI: file credential store in the temp folder, this server trusted.
    pub(crate) fn cli(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_realname"));
        cmd.arg("--json")
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.tmp.path())
            .env("REALNAME_TRUSTED_ORIGINS", &self.origin)
            .env("REALNAME_SERVER", &self.origin)
            .env("REALNAME_CREDENTIAL_STORE", "file")
            .env("REALNAME_CREDENTIAL_FILE", self.tmp.path().join("credentials.json"))
            .env("REALNAME_MODELS_DIR", models_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }
}

/// Runs a command, returns its exit code and the JSON document it printed.
/// `realname --json verify --source file:QR --face dir:FRAMES@10fps --yes`: the whole APP role
/// with a recorded clip, confirming the context as automation does.
pub(crate) async fn verify_with_clip(h: &Harness, qr: &Path, frames: &Path) -> Result<(i32, serde_json::Value)> {
    let source = format!("file:{}", qr.display());
    let face = format!("dir:{}@10fps", frames.display());
    run_json(&mut h.cli(&["verify", "--source", &source, "--face", &face, "--yes"]), None).await
}

pub(crate) async fn run_json(
    cmd: &mut tokio::process::Command,
    stdin: Option<&str>,
) -> Result<(i32, serde_json::Value)> {
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().context("spawn realname")?;
    if let Some(input) = stdin {
        use tokio::io::AsyncWriteExt as _;
        let mut pipe = child.stdin.take().context("stdin")?;
        pipe.write_all(input.as_bytes()).await?;
        drop(pipe);
    }
    let out = child.wait_with_output().await?;
    let code = out.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout).with_context(|| {
        format!("exit {code}: stdout is not JSON:\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr))
    })?;
    Ok((code, json))
}

/// A PC browser: cookie jar, forms with CSRF.
pub(crate) struct Browser {
    http: reqwest::Client,
    origin: String,
}

fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/").replace("&#x2F;", "/").replace("&#x3d;", "=").replace("&quot;", "\"").replace("&amp;", "&")
}

/// `attr="…"` of the tag containing `anchor`.
pub(crate) fn attr(html: &str, anchor: &str, name: &str) -> Option<String> {
    let at = html.find(anchor)?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    let tag = &html[start..end];
    let key = format!("{name}=\"");
    let v = tag.find(&key)? + key.len();
    let len = tag[v..].find('"')?;
    Some(unescape(&tag[v..v + len]))
}

impl Browser {
    pub(crate) fn new(origin: &str) -> Result<Self> {
        Ok(Self { http: reqwest::Client::builder().cookie_store(true).build()?, origin: origin.to_owned() })
    }

    async fn csrf(&self, path: &str) -> Result<String> {
        let html = self.http.get(format!("{}{path}", self.origin)).send().await?.text().await?;
        attr(&html, "name=\"csrf\"", "value").with_context(|| format!("no csrf on {path}"))
    }

    /// Signs up (and is then signed in).
    pub(crate) async fn signup(&self, email: &str, password: &str) -> Result<()> {
        let csrf = self.csrf("/signup").await?;
        let resp = self
            .http
            .post(format!("{}/signup", self.origin))
            .form(&[("csrf", csrf.as_str()), ("email", email), ("password", password)])
            .send()
            .await?;
        if resp.url().path() != "/verify" {
            bail!("signup ended on {} ({})", resp.url(), resp.status());
        }
        Ok(())
    }

    /// Submits the identity form; returns the session id and the QR PNG saved into `dir`.
    pub(crate) async fn start_verification(
        &self,
        name: &str,
        id_number: &str,
        dir: &Path,
    ) -> Result<(String, PathBuf)> {
        let csrf = self.csrf("/verify/identity?method=face").await?;
        let resp = self
            .http
            .post(format!("{}/verify/identity", self.origin))
            .form(&[("csrf", csrf.as_str()), ("name", name), ("id_number", id_number)])
            .send()
            .await?;
        let path = resp.url().path().to_owned();
        let html = resp.text().await?;
        let session =
            path.strip_prefix("/verify/sessions/").with_context(|| format!("identity form ended on {path}: {html}"))?;
        let src = attr(&html, "id=\"qr\"", "src").context("no QR on the page")?;
        let png = self.http.get(format!("{}{src}", self.origin)).send().await?.error_for_status()?.bytes().await?;
        let file = dir.join(format!("qr-{session}.png"));
        std::fs::write(&file, &png)?;
        Ok((session.to_owned(), file))
    }

    /// The PC page's view of the session (`/status`, the SSE fallback).
    pub(crate) async fn session_state(&self, session: &str) -> Result<serde_json::Value> {
        Ok(self
            .http
            .get(format!("{}/verify/sessions/{session}/status", self.origin))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }
}

/// Signs a new account up in a browser and signs the CLI in to it.
pub(crate) async fn account(h: &Harness, email: &str) -> Result<Browser> {
    let browser = Browser::new(&h.origin)?;
    browser.signup(email, "correct horse battery").await?;
    let (code, json) =
        run_json(&mut h.cli(&["login", "--email", email, "--password-stdin"]), Some("correct horse battery\n")).await?;
    if code != 0 {
        bail!("login failed: {json}");
    }
    Ok(browser)
}
