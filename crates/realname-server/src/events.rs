//! Server push of face-session state changes: an in-process hub of broadcast channels, one per
//! session, feeding the PC page's SSE stream. (Across several PostgreSQL-backed instances the
//! same events would travel over LISTEN/NOTIFY; one instance needs only this hub.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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

/// Longest session id the hub accepts (ids are 22 characters of URL-safe base64); a longer
/// one is no session, and is not given a channel.
pub const MAX_SESSION_ID_LEN: usize = 64;

type Channels = Arc<Mutex<HashMap<String, broadcast::Sender<SessionEvent>>>>;

/// Broadcast channels by session id. A channel lives while somebody listens: the last
/// [`Subscription`] to go removes it, so the table holds at most one entry per open stream.
#[derive(Debug, Default)]
pub struct EventHub {
    channels: Channels,
}

/// A receiver of one session's events; dropping the last one of a session removes its channel.
#[derive(Debug)]
pub struct Subscription {
    rx: Option<broadcast::Receiver<SessionEvent>>,
    id: String,
    channels: Channels,
}

impl Subscription {
    /// The next event (as [`broadcast::Receiver::recv`]).
    pub async fn recv(&mut self) -> Result<SessionEvent, broadcast::error::RecvError> {
        match self.rx.as_mut() {
            Some(rx) => rx.recv().await,
            None => Err(broadcast::error::RecvError::Closed),
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Drop the receiver first, then look under the lock: a subscriber arriving at the same
        // time holds the lock while it subscribes, so the count seen here is exact.
        drop(self.rx.take());
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if channels.get(&self.id).is_some_and(|tx| tx.receiver_count() == 0) {
            channels.remove(&self.id);
        }
    }
}

impl EventHub {
    /// Subscribes to a session's events (subscribe before reading the current state, so that
    /// no change falls between the two). Callers check that the session exists and is the
    /// caller's first; `None` for an id longer than [`MAX_SESSION_ID_LEN`].
    pub fn subscribe(&self, session_id: &str) -> Option<Subscription> {
        if session_id.len() > MAX_SESSION_ID_LEN {
            return None;
        }
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        let rx = channels.entry(session_id.to_owned()).or_insert_with(|| broadcast::channel(32).0).subscribe();
        Some(Subscription { rx: Some(rx), id: session_id.to_owned(), channels: self.channels.clone() })
    }

    /// Number of channels in the table (tests and metrics: it must stay bounded).
    pub fn channel_count(&self) -> usize {
        self.channels.lock().unwrap_or_else(|p| p.into_inner()).len()
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
            && (tx.send(event.clone()).is_err() || event.state.is_final())
        {
            // No subscriber left, or nothing more will happen: drop the channel (a late
            // subscriber reads the final state from the database).
            if tx.receiver_count() == 0 || event.state.is_final() {
                channels.remove(session_id);
            }
        }
    }
}
