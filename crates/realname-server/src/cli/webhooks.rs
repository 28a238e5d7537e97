//! `realname-server webhooks …`: list the outbox, show an event's delivery log, resend.

use std::io::Write;

use anyhow::{Result, bail};
use clap::Subcommand;
use realname_server::store::Store;
use realname_server::store::webhooks::{STATUS_DEAD, STATUS_DELIVERED, STATUS_PENDING, WebhookRow};
use realname_server::webhooks;

#[derive(Subcommand, Debug)]
pub(crate) enum WebhooksCommand {
    /// Outbox rows (one per event and endpoint), newest first.
    List {
        /// Only rows in this state: pending, delivered or dead.
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The delivery attempts of one event.
    Log {
        /// The event id (`evt_…`, the `Realname-Event-Id` header).
        event_id: String,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Queue an event again for every endpoint, with the same event id and body (receivers
    /// deduplicate on the id).
    Resend {
        /// The event id.
        event_id: String,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn row_json(r: &WebhookRow) -> serde_json::Value {
    serde_json::json!({
        "event_id": r.event_id, "endpoint": r.endpoint, "type": r.event_type, "verification_id": r.verification_id,
        "status": r.status, "attempts": r.attempts, "next_attempt_ms": r.next_attempt_ms, "last_status": r.last_status,
        "last_error": r.last_error, "created_at": r.created_at, "delivered_at": r.delivered_at,
    })
}

pub(crate) async fn run(command: WebhooksCommand, store: &dyn Store, out: &mut impl Write) -> Result<()> {
    match command {
        WebhooksCommand::List { status, limit, json } => {
            if let Some(s) = status.as_deref()
                && ![STATUS_PENDING, STATUS_DELIVERED, STATUS_DEAD].contains(&s)
            {
                bail!("--status must be pending, delivered or dead (got {s:?})");
            }
            let rows = store.list_webhooks(status.as_deref(), limit.clamp(1, 10_000)).await?;
            if json {
                let v: Vec<_> = rows.iter().map(row_json).collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                for r in rows {
                    let last =
                        r.last_status.map_or_else(|| r.last_error.clone().unwrap_or_default(), |s| s.to_string());
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{}\tattempts {}\t{}",
                        r.event_id, r.endpoint, r.event_type, r.status, r.attempts, last
                    )?;
                }
            }
        }
        WebhooksCommand::Log { event_id, json } => {
            if store.webhook_event(&event_id).await?.is_empty() {
                bail!("no webhook event {event_id:?}");
            }
            let log = store.webhook_attempts(&event_id).await?;
            if json {
                let v: Vec<_> = log
                    .iter()
                    .map(|a| serde_json::json!({ "endpoint": a.endpoint, "attempt": a.attempt, "at_ms": a.at_ms, "status_code": a.status_code, "error": a.error, "duration_ms": a.duration_ms, "worker": a.worker }))
                    .collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                for a in log {
                    let result = a.status_code.map_or_else(|| a.error.clone().unwrap_or_default(), |s| s.to_string());
                    writeln!(
                        out,
                        "{}\t{}\tattempt {}\t{}\t{} ms",
                        a.at_ms, a.endpoint, a.attempt, result, a.duration_ms
                    )?;
                }
            }
        }
        WebhooksCommand::Resend { event_id, json } => {
            let n = webhooks::resend(store, &event_id).await?;
            if n == 0 {
                bail!("no webhook event {event_id:?}");
            }
            if json {
                writeln!(out, "{}", serde_json::json!({ "event_id": event_id, "requeued": n }))?;
            } else {
                writeln!(out, "queued {event_id} again for {n} endpoint(s)")?;
            }
        }
    }
    Ok(())
}
