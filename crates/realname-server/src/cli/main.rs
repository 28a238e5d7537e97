//! `realname-server`: the backend binary — `serve` plus the admin commands. Logs go to stderr
//! (`RUST_LOG` filter); stdout carries only command output (and `serve`'s one ready line).
#![allow(clippy::print_stdout)]

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use realname_server::config::Config;
use realname_server::store::{self, Store};
use realname_server::{api, authority, face, load_keys, mobile, partner, verification};
use tracing_subscriber::EnvFilter;

mod demo;
mod webhooks;

#[derive(Parser, Debug)]
#[command(name = "realname-server", version, about = "Realname verification backend and admin commands")]
struct Cli {
    /// TOML configuration file (overridden by the environment).
    #[arg(long, global = true, env = "REALNAME_CONFIG")]
    config: Option<PathBuf>,
    /// Demo mode (also REALNAME_DEMO=1): demo identities may be enrolled and verify. Refused
    /// with an HTTP identity authority.
    #[arg(long, global = true)]
    demo: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the HTTP server.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Identity authority (local registry) administration.
    Authority {
        #[command(subcommand)]
        command: AuthorityCommand,
    },
    /// Companion devices (kiosk stations).
    Devices {
        #[command(subcommand)]
        command: DevicesCommand,
    },
    /// Accounts.
    Accounts {
        #[command(subcommand)]
        command: ListCommand,
    },
    /// Partner sync: the local partner directory.
    Partners {
        #[command(subcommand)]
        command: CsvImportCommand,
    },
    /// Mobile verification: the local carrier directory.
    Carrier {
        #[command(subcommand)]
        command: CsvImportCommand,
    },
    /// Mobile verification: the local SMS outbox (how testers read codes).
    Sms {
        #[command(subcommand)]
        command: SmsCommand,
    },
    /// E-mail confirmation: the local e-mail outbox (how testers read confirmation links).
    Email {
        #[command(subcommand)]
        command: EmailCommand,
    },
    /// Completed verifications.
    Verifications {
        #[command(subcommand)]
        command: ListCommand,
    },
    /// Webhook outbox: events, their delivery log, resending.
    Webhooks {
        #[command(subcommand)]
        command: webhooks::WebhooksCommand,
    },
    /// Delete what is past its retention time: audit frames, old liveness nonces and
    /// fingerprints, expired browser sessions and companion tokens.
    Purge {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Demo identities for trying Realname out (demo mode only).
    Demo {
        #[command(subcommand)]
        command: demo::DemoCommand,
    },
    /// Data key administration.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Re-encrypt every encrypted column under the key in a new key file (generated if the
    /// file does not exist). Stop every server instance first; start them with the new file.
    Rotate {
        /// The new key file (64 hex characters; completed with the ID hash key).
        #[arg(long)]
        new_key_file: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum AuthorityCommand {
    /// Import reference photos listed in a CSV (`name,id_number,photo`).
    Import {
        /// The CSV file.
        #[arg(long)]
        csv: PathBuf,
        /// Folder the photo paths are relative to.
        #[arg(long)]
        photos: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum CsvImportCommand {
    /// Import rows from a CSV (partners: `partner,login,password,name,id_number[,verified_at]`;
    /// carrier: `phone,name,id_number`).
    Import {
        /// The CSV file.
        #[arg(long)]
        csv: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum SmsCommand {
    /// Messages in the local outbox, newest first.
    Outbox {
        /// Only messages to this number.
        #[arg(long)]
        phone: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// Print as JSON (with the code found in each message).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum EmailCommand {
    /// Messages in the local e-mail outbox, newest first.
    Outbox {
        /// Only messages to this address.
        #[arg(long)]
        to: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// Print as JSON (with the confirmation link found in each message).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum DevicesCommand {
    /// Register a kiosk station; prints its credential once.
    Register {
        /// Station name shown on PC pages.
        #[arg(long)]
        name: String,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List devices.
    List {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a device (a station's credential, or a personal device's tokens) at once.
    Revoke {
        /// The device id (`devices list`). Ids are random base64url and may start with `-`.
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
}

#[derive(Subcommand, Debug)]
enum ListCommand {
    /// List entries (newest first).
    List {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let mut config = Config::load(cli.config.as_deref()).context("loading the configuration")?;
    if cli.demo {
        config.demo.enabled = true;
        config.validate().context("loading the configuration")?;
    }
    tracing::debug!(?config, "configuration");
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(run(cli.command, config))
}

async fn open_store(config: &Config) -> Result<Arc<dyn Store>> {
    store::connect(&config.database_url()).await.context("opening the database")
}

fn time_str(secs: i64) -> String {
    verification::format_time(secs)
}

async fn run(command: Command, config: Config) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match command {
        Command::Demo { command } => demo::run(command, &config, &mut out).await?,
        Command::Webhooks { command } => {
            let store = open_store(&config).await?;
            webhooks::run(command, &*store, &mut out).await?;
        }
        Command::Serve => {
            let server = realname_server::start(config).await.context("starting the server")?;
            writeln!(out, "realname-server listening on {}", server.url())?;
            out.flush()?;
            drop(out);
            shutdown_signal().await;
            tracing::info!("shutting down");
            server.shutdown().await.context("server stopped with an error")?;
        }
        Command::Purge { json } => {
            let store = open_store(&config).await?;
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let report = realname_server::retention::purge_store(
                &*store,
                &config.retention,
                config.limits.session_ttl_secs,
                now,
            )
            .await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            } else {
                writeln!(out, "purged: {report:?}")?;
            }
        }
        Command::Keys { command: KeysCommand::Rotate { new_key_file, json } } => {
            let keys = load_keys(&config)?;
            let store = open_store(&config).await?;
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let report = realname_server::key_rotation::rotate(&*store, &keys, &new_key_file, now).await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            } else {
                writeln!(
                    out,
                    "re-encrypted {} value(s) under key {} (was {})",
                    report.values, report.new_key_id, report.old_key_id
                )?;
                writeln!(
                    out,
                    "configure the key file {} (REALNAME_DATA_KEY_FILE) and start the servers",
                    new_key_file.display()
                )?;
            }
        }
        Command::Migrate => {
            let store = open_store(&config).await?;
            writeln!(out, "migrations applied ({})", store.engine())?;
        }
        Command::Authority { command: AuthorityCommand::Import { csv, photos, json } } => {
            let keys = load_keys(&config)?;
            let store = open_store(&config).await?;
            let models = config.models_dir.clone();
            let analyzer: face::SharedAnalyzer =
                Arc::new(tokio::task::spawn_blocking(move || face::EngineAnalyzer::load(&models)).await??);
            let text = std::fs::read_to_string(&csv).with_context(|| format!("reading {}", csv.display()))?;
            let now = time::OffsetDateTime::now_utc();
            let today = now.to_offset(time::macros::offset!(+8)).date();
            let report =
                authority::import_registry(&*store, &keys, analyzer, &text, &photos, today, now.unix_timestamp())
                    .await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            } else {
                writeln!(out, "imported {} record(s)", report.imported)?;
                for (line, reason) in &report.rejected {
                    writeln!(out, "  line {line}: {reason}")?;
                }
            }
            if report.imported == 0 && !report.rejected.is_empty() {
                bail!("no record imported");
            }
        }
        Command::Partners { command: CsvImportCommand::Import { csv, json } } => {
            let keys = load_keys(&config)?;
            let store = open_store(&config).await?;
            let text = std::fs::read_to_string(&csv).with_context(|| format!("reading {}", csv.display()))?;
            let now = time::OffsetDateTime::now_utc();
            let today = now.to_offset(time::macros::offset!(+8)).date();
            let report = partner::import_partner_records(&*store, &keys, &text, today, now.unix_timestamp()).await?;
            print_report(&mut out, &report, json)?;
        }
        Command::Carrier { command: CsvImportCommand::Import { csv, json } } => {
            let keys = load_keys(&config)?;
            let store = open_store(&config).await?;
            let text = std::fs::read_to_string(&csv).with_context(|| format!("reading {}", csv.display()))?;
            let now = time::OffsetDateTime::now_utc();
            let today = now.to_offset(time::macros::offset!(+8)).date();
            let report = mobile::import_carrier_records(&*store, &keys, &text, today, now.unix_timestamp()).await?;
            print_report(&mut out, &report, json)?;
        }
        Command::Sms { command: SmsCommand::Outbox { phone, limit, json } } => {
            let keys = load_keys(&config)?;
            let store = open_store(&config).await?;
            let entries = mobile::read_outbox(&*store, &keys, phone.as_deref(), limit.clamp(1, 1000)).await?;
            if json {
                let v: Vec<_> = entries
                    .iter()
                    .map(|e| serde_json::json!({ "id": e.id, "phone": e.phone, "text": e.text, "code": mobile::code_in(&e.text), "created_at": e.created_at }))
                    .collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                for e in entries {
                    writeln!(out, "{}\t{}\t{}", time_str(e.created_at), e.phone, e.text)?;
                }
            }
        }
        Command::Email { command: EmailCommand::Outbox { to, limit, json } } => {
            let keys = load_keys(&config)?;
            let store = open_store(&config).await?;
            let entries =
                realname_server::email::read_email_outbox(&*store, &keys, to.as_deref(), limit.clamp(1, 1000)).await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&entries)?)?;
            } else {
                for e in entries {
                    writeln!(out, "{}\t{}\t{}", time_str(e.created_at), e.to, e.link.unwrap_or_default())?;
                }
            }
        }
        Command::Devices { command: DevicesCommand::Register { name, json } } => {
            let store = open_store(&config).await?;
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let (device, credential) = api::register_station(&*store, &name, now).await?;
            if json {
                let v = serde_json::json!({ "id": device.id, "name": device.name, "kind": device.kind, "credential": credential });
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                writeln!(out, "registered station {} ({})", device.name, device.id)?;
                writeln!(out, "credential (shown once; configure the station with it): {credential}")?;
            }
        }
        Command::Devices { command: DevicesCommand::List { json } } => {
            let store = open_store(&config).await?;
            let devices = store.list_devices().await?;
            if json {
                let v: Vec<_> = devices
                    .iter()
                    .map(|d| serde_json::json!({ "id": d.id, "kind": d.kind, "name": d.name, "account_id": d.account_id, "created_at": d.created_at, "revoked": d.revoked_at.is_some() }))
                    .collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                for d in devices {
                    let revoked = if d.revoked_at.is_some() { "\trevoked" } else { "" };
                    writeln!(out, "{}\t{}\t{}\t{}{revoked}", d.id, d.kind, d.name, time_str(d.created_at))?;
                }
            }
        }
        Command::Devices { command: DevicesCommand::Revoke { id } } => {
            let store = open_store(&config).await?;
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            if !store::hardening::HardeningStore::revoke_device(&*store, &id, now).await? {
                anyhow::bail!("no unrevoked device {id:?} (see `devices list`)");
            }
            writeln!(out, "revoked device {id}")?;
        }
        Command::Accounts { command: ListCommand::List { json, limit } } => {
            let store = open_store(&config).await?;
            let accounts = store.list_accounts(limit).await?;
            if json {
                let v: Vec<_> = accounts
                    .iter()
                    .map(|a| serde_json::json!({ "id": a.id, "email": a.email, "created_at": a.created_at, "verified": a.verified_at.is_some(), "verified_at": a.verified_at }))
                    .collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                for a in accounts {
                    let verified = a
                        .verified_at
                        .map_or_else(|| "not verified".to_owned(), |t| format!("verified {}", time_str(t)));
                    writeln!(out, "{}\t{}\t{}", a.id, a.email, verified)?;
                }
            }
        }
        Command::Verifications { command: ListCommand::List { json, limit } } => {
            let keys = load_keys(&config)?;
            let store = open_store(&config).await?;
            let list = store.list_verified_identities(limit).await?;
            let mut rows = Vec::new();
            for v in list {
                let name = keys
                    .decrypt_string(&v.name_enc)
                    .map(|n| realname_protocol::mask::mask_name(&n))
                    .unwrap_or_else(|_| "?".into());
                let id = keys
                    .decrypt_string(&v.id_enc)
                    .map(|n| realname_protocol::mask::mask_id_number(&n))
                    .unwrap_or_else(|_| "?".into());
                rows.push(serde_json::json!({ "account_id": v.account_id, "session_id": v.session_id, "name": name, "id_number": id, "method": v.method, "verified_at": v.verified_at }));
            }
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
            } else {
                for r in rows {
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{}\t{}",
                        r["account_id"].as_str().unwrap_or(""),
                        r["name"].as_str().unwrap_or(""),
                        r["id_number"].as_str().unwrap_or(""),
                        r["method"].as_str().unwrap_or(""),
                        time_str(r["verified_at"].as_i64().unwrap_or(0))
                    )?;
                }
            }
        }
    }
    Ok(())
}

fn print_report(out: &mut impl std::io::Write, report: &authority::ImportReport, json: bool) -> Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(report)?)?;
    } else {
        writeln!(out, "imported {} record(s)", report.imported)?;
        for (line, reason) in &report.rejected {
            writeln!(out, "  line {line}: {reason}")?;
        }
    }
    if report.imported == 0 && !report.rejected.is_empty() {
        bail!("no record imported");
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command, DevicesCommand};

    #[test]
    fn a_device_id_starting_with_a_hyphen_is_an_id_not_an_option() {
        // One id in 64 starts with `-` (base64url); CI once drew one and the revoke failed.
        let cli = Cli::try_parse_from(["realname-server", "devices", "revoke", "-s3xQ9"]).expect("parses");
        assert!(
            matches!(cli.command, Command::Devices { command: DevicesCommand::Revoke { ref id } } if id == "-s3xQ9"),
            "{cli:?}"
        );
    }
}
