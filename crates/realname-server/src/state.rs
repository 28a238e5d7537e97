//! The application state shared by every handler, and the injectable clock.

use std::sync::Arc;

use crate::config::Config;
use crate::crypto::DataKeys;
use crate::directories::{CarrierDirectory, IdentityAuthority, PartnerDirectory, SmsGateway};
use crate::events::EventHub;
use crate::face::SharedAnalyzer;
use crate::store::Store;

pub use crate::clock::{Clock, ManualClock, SystemClock};

/// Everything a handler needs; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState(pub(crate) Arc<Inner>);

/// The shared parts.
#[derive(Debug)]
pub struct Inner {
    /// Configuration.
    pub config: Arc<Config>,
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
    pub events: Arc<EventHub>,
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
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Capture uploads being read (capped per device and in total).
    pub uploads: crate::upload_gate::UploadGate,
    /// The face-verification flow.
    pub face: crate::flows::face::FaceFlow,
    /// The partner-sync path.
    pub partner: crate::flows::partner::PartnerFlow,
    /// The mobile path.
    pub mobile: crate::flows::mobile::MobileFlow,
    /// Rate limits.
    pub limiter: crate::ratelimit::RateLimiter,
    /// E-mail confirmations.
    pub email: crate::email::Confirmations,
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
        crate::clock::today(self.now())
    }
}
