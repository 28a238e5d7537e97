//! `realname-server demo enroll`: puts the face of a photo into the local identity authority as
//! a demo identity and prints what to type on the PC page (demo mode only; see `flows/face/demo.rs`).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Subcommand;
use realname_server::config::Config;
use realname_server::{demo, face, load_keys};

#[derive(Subcommand, Debug)]
pub(crate) enum DemoCommand {
    /// Enrol yourself: a demo identity with a generated, never-real ID number and your photo.
    /// Needs demo mode (`--demo` or REALNAME_DEMO=1) and the local identity authority.
    Enroll {
        /// A photo showing exactly one face (JPEG or PNG).
        #[arg(long)]
        photo: PathBuf,
        /// The name to type on the PC page (default 演示用户, "demo user").
        #[arg(long)]
        name: Option<String>,
        /// Print as JSON (`{"name", "id_number"}`).
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(command: DemoCommand, config: &Config, out: &mut impl Write) -> Result<()> {
    let DemoCommand::Enroll { photo, name, json } = command;
    if !config.demo.enabled {
        return Err(demo::DemoError::Disabled.into());
    }
    let bytes = std::fs::read(&photo).with_context(|| format!("reading {}", photo.display()))?;
    let keys = load_keys(config)?;
    let store = realname_server::store::connect(&config.database_url()).await.context("opening the database")?;
    let models = config.models_dir.clone();
    let analyzer: face::SharedAnalyzer =
        Arc::new(tokio::task::spawn_blocking(move || face::EngineAnalyzer::load(&models)).await??);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let person = demo::enroll(&config.demo, &*store, &keys, analyzer, bytes, name.as_deref(), now).await?;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&person)?)?;
    } else {
        writeln!(out, "Enrolled a demo identity (demo mode only; the ID number can never be a real person's).")?;
        writeln!(out, "On the PC page (Verify Now → Face Recognition for Verification) type:")?;
        writeln!(out, "  name:      {}", person.name)?;
        writeln!(out, "  ID number: {}", person.id_number)?;
    }
    Ok(())
}
