//! Runs the real `realname-server` binary for end-to-end tests: a fresh database (SQLite temp
//! file, or a new PostgreSQL database when `REALNAME_TEST_DATABASE_URL=postgres://…`), port 0,
//! the ready line read from stdout, stderr kept in a log file for inspection.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Fixed data key for tests (64 hex chars); production generates its own.
pub const TEST_DATA_KEY: &str = "6b1f0a3c9d2e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c";

/// The `realname-server` binary next to this test executable, checked to be newer than the
/// server's sources so that a stale build cannot pass for the current code.
/// `REALNAME_SERVER_BIN` overrides the location.
pub fn server_binary() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("REALNAME_SERVER_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/e2e-<hash> → target/<profile>/realname-server
    let profile_dir = exe.parent().and_then(Path::parent).context("test executable location")?;
    let bin = profile_dir.join("realname-server");
    if !bin.is_file() {
        bail!(
            "{} not found: build it first (`cargo build -p realname-server`, done by scripts/test.sh)",
            bin.display()
        );
    }
    let built = bin.metadata()?.modified()?;
    // What the binary is built from (its own tests, API.md and snapshots are not).
    let krate = crate::workspace_root().join("crates/realname-server");
    let mut newest_source = SystemTime::UNIX_EPOCH;
    for file in ["Cargo.toml", "openapi.json"] {
        newest_source = newest_source.max(krate.join(file).metadata()?.modified()?);
    }
    for dir in ["src", "migrations", "static", "templates"] {
        newest_source = newest_source.max(newest_mtime(&krate.join(dir))?);
    }
    if newest_source > built {
        bail!("{} is older than its sources: rebuild it (`cargo build -p realname-server`)", bin.display());
    }
    Ok(bin)
}

fn newest_mtime(dir: &Path) -> Result<SystemTime> {
    let mut newest = SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let t = if entry.file_type()?.is_dir() { newest_mtime(&path)? } else { entry.metadata()?.modified()? };
        newest = newest.max(t);
    }
    Ok(newest)
}

/// A database for one test.
#[derive(Debug, Clone)]
pub struct TestDb {
    /// The `DATABASE_URL` to give the server.
    pub url: String,
}

impl TestDb {
    /// A new SQLite file in `dir`, or a new PostgreSQL database on the server named by
    /// `REALNAME_TEST_DATABASE_URL`.
    pub async fn fresh(dir: &Path) -> Result<Self> {
        match std::env::var("REALNAME_TEST_DATABASE_URL") {
            Ok(url) if url.starts_with("postgres") => {
                use sqlx::Connection as _;
                let mut admin =
                    sqlx::PgConnection::connect(&url).await.context("connecting to the PostgreSQL test server")?;
                let name = format!("rn_e2e_{}", rand_suffix());
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await?;
                let mut parsed = url::Url::parse(&url)?;
                parsed.set_path(&format!("/{name}"));
                Ok(Self { url: parsed.to_string() })
            }
            _ => Ok(Self { url: format!("sqlite://{}?mode=rwc", dir.join("realname.db").display()) }),
        }
    }

    /// `sqlite` or `postgres`.
    pub fn engine(&self) -> &'static str {
        if self.url.starts_with("postgres") { "postgres" } else { "sqlite" }
    }
}

fn rand_suffix() -> String {
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{:x}{:x}", nanos, std::process::id())
}

/// Everything a server of one test shares: its folder, database and environment.
#[derive(Debug)]
pub struct ServerSetup {
    /// Temp folder (data dir, logs, photos).
    pub dir: tempfile::TempDir,
    /// The database.
    pub db: TestDb,
    /// Extra environment for `serve` and the admin commands.
    pub env: Vec<(String, String)>,
}

impl ServerSetup {
    /// A fresh folder and database; test mode on, the given extra environment.
    pub async fn new(extra_env: &[(&str, &str)]) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let db = TestDb::fresh(dir.path()).await?;
        let mut env: Vec<(String, String)> = vec![
            ("DATABASE_URL".into(), db.url.clone()),
            ("REALNAME_DATA_DIR".into(), dir.path().join("data").display().to_string()),
            ("REALNAME_MODELS_DIR".into(), crate::models_dir()?.display().to_string()),
            ("REALNAME_DATA_KEY".into(), TEST_DATA_KEY.into()),
            ("REALNAME_LISTEN".into(), "127.0.0.1:0".into()),
            ("RUST_LOG".into(), "info".into()),
        ];
        env.extend(extra_env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        Ok(Self { dir, db, env })
    }

    fn command(&self) -> Result<Command> {
        let mut cmd = Command::new(server_binary()?);
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd.env_remove("REALNAME_CONFIG");
        cmd.kill_on_drop(true);
        Ok(cmd)
    }

    /// Runs an admin command to completion; returns stdout, fails on a non-zero exit.
    pub async fn admin(&self, args: &[&str]) -> Result<String> {
        let out = self.command()?.args(args).stdin(Stdio::null()).output().await?;
        if !out.status.success() {
            bail!(
                "realname-server {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8(out.stdout)?)
    }

    /// Imports one reference photo for (name, id) into the local authority registry.
    pub async fn register_person(&self, name: &str, id: &str, photo: &Path) -> Result<()> {
        let photos = self.dir.path().join("photos");
        std::fs::create_dir_all(&photos)?;
        let file = format!("p{}.jpg", rand_suffix());
        std::fs::copy(photo, photos.join(&file))?;
        let csv = self.dir.path().join(format!("{file}.csv"));
        std::fs::write(&csv, format!("name,id_number,photo\n{name},{id},{file}\n"))?;
        let out = self
            .admin(&[
                "authority",
                "import",
                "--csv",
                &csv.display().to_string(),
                "--photos",
                &photos.display().to_string(),
                "--json",
            ])
            .await?;
        let report: serde_json::Value = serde_json::from_str(&out).with_context(|| format!("import report {out:?}"))?;
        if report["imported"] != 1 {
            bail!("reference photo not imported: {report}");
        }
        Ok(())
    }

    /// Starts `serve` and waits for its ready line.
    pub async fn serve(&self) -> Result<ServerProcess> {
        let log_path = self.dir.path().join(format!("server-{}.log", rand_suffix()));
        let log = std::fs::File::create(&log_path)?;
        let mut child = self.command()?.arg("serve").stdout(Stdio::piped()).stderr(log).spawn()?;
        let stdout = child.stdout.take().context("server stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("realname-server listening on ") {
                    return Ok::<_, anyhow::Error>(url.trim_end_matches('/').to_owned());
                }
            }
            bail!("server exited before it was ready")
        })
        .await;
        let url = match ready {
            Ok(Ok(url)) => url,
            Ok(Err(e)) => bail!("{e}; log: {}", std::fs::read_to_string(&log_path).unwrap_or_default()),
            Err(_) => {
                bail!("server not ready within 120 s; log: {}", std::fs::read_to_string(&log_path).unwrap_or_default())
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(ServerProcess { child, url, log_path })
    }
}

/// A running server process (killed on drop).
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub url: String,
    /// Where its stderr (the log) goes.
    pub log_path: PathBuf,
}

impl ServerProcess {
    /// The log written so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Stops the process.
    pub async fn stop(mut self) -> Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}
