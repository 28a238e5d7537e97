//! The application state shared by every handler, and the injectable clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;

use crate::config::Config;
use crate::crypto::DataKeys;
use crate::directories::{CarrierDirectory, IdentityAuthority, PartnerDirectory, SmsGateway};
use crate::events::EventHub;
use crate::face::SharedAnalyzer;
use crate::store::Store;

/// Wall-clock time, injectable so tests can move past an expiry without sleeping.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, Unix seconds.
    fn now(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        OffsetDateTime::now_utc().unix_timestamp()
    }
}

/// A clock that starts at the system time and moves only when told (tests).
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl Default for ManualClock {
    fn default() -> Self {
        Self(AtomicI64::new(SystemClock.now()))
    }
}

impl ManualClock {
    /// Moves the clock forward.
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Everything a handler needs; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState(pub(crate) Arc<Inner>);

/// The shared parts.
#[derive(Debug)]
pub struct Inner {
    /// Configuration.
    pub config: Config,
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Data keys.
    pub keys: DataKeys,
    /// Face engine.
    pub analyzer: SharedAnalyzer,
    /// Identity authority.
    pub authority: Arc<dyn IdentityAuthority>,
    /// Partner directory (partner sync).
    pub partners: Arc<dyn PartnerDirectory>,
    /// Carrier directory (three-element check of the mobile method).
    pub carrier: Arc<dyn CarrierDirectory>,
    /// SMS gateway (one-time codes of the mobile method).
    pub sms: Arc<dyn SmsGateway>,
    /// Mailer (e-mail confirmation links).
    pub mailer: Arc<dyn crate::email::Mailer>,
    /// Session event hub.
    pub events: EventHub,
    /// Clock.
    pub clock: Arc<dyn Clock>,
    /// The origin put into QR codes (`scheme://host:port`).
    pub origin: String,
    /// Whether cookies get the `Secure` attribute.
    pub secure_cookies: bool,
    /// Set to `true` on shutdown: long-lived responses (SSE) end so the server can stop.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// Random id of this server instance (for cross-instance notifications).
    pub instance: String,
    /// Bounded queue in front of the face engine.
    pub decisions: crate::queue::DecisionQueue,
    /// This instance's request and decision figures (`/metrics`).
    pub metrics: crate::metrics::Metrics,
    /// Capture uploads being read (capped per device and in total).
    pub uploads: crate::upload_gate::UploadGate,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Now, Unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Today's date (UTC+8, the ID numbers' civil calendar), for "birth date in the future".
    pub fn today(&self) -> time::Date {
        OffsetDateTime::from_unix_timestamp(self.now())
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
            .to_offset(time::macros::offset!(+8))
            .date()
    }
}
