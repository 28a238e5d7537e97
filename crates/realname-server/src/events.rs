//! Server push of face-session state changes: an in-process hub of broadcast channels, one per
//! session, feeding the PC page's SSE stream. (Across several PostgreSQL-backed instances the
//! same events would travel over LISTEN/NOTIFY; one instance needs only this hub.)

use std::collections::HashMap;
use std::sync::Mutex;

use realname_protocol::api::{ReasonCode, SessionState};
use serde::Serialize;
use tokio::sync::broadcast;

/// What the PC page learns about its session. Never contains personal data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionEvent {
    /// New state.
    pub state: SessionState,
    /// Name of the claiming device (`scanned` and later).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Kiosk stations: the code to type at the station.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub station_code: Option<String>,
    /// Capture attempts left.
    pub attempts_left: u32,
    /// Why the last attempt failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<ReasonCode>,
    /// Stable error code of a failure that is not a face decision (e.g. `id_already_verified`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Message for people (the seed's text on a face mismatch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Broadcast channels by session id.
#[derive(Debug, Default)]
pub struct EventHub {
    channels: Mutex<HashMap<String, broadcast::Sender<SessionEvent>>>,
}

impl EventHub {
    /// Subscribes to a session's events (subscribe before reading the current state, so that
    /// no change falls between the two).
    pub fn subscribe(&self, session_id: &str) -> broadcast::Receiver<SessionEvent> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        channels.entry(session_id.to_owned()).or_insert_with(|| broadcast::channel(32).0).subscribe()
    }

    /// Sessions somebody here is subscribed to.
    pub fn watched(&self) -> Vec<String> {
        let channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        channels.iter().filter(|(_, tx)| tx.receiver_count() > 0).map(|(id, _)| id.clone()).collect()
    }

    /// Publishes an event to the session's subscribers (if any).
    pub fn publish(&self, session_id: &str, event: SessionEvent) {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = channels.get(session_id)
            && (tx.send(event.clone()).is_err() || event.state.is_final()) {
                // No subscriber left, or nothing more will happen: drop the channel (a late
                // subscriber reads the final state from the database).
                if tx.receiver_count() == 0 || event.state.is_final() {
                    channels.remove(session_id);
                }
            }
    }
}
