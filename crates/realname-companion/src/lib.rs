//! The Realname companion core — the APP role without a window, shared by the `realname` CLI
//! and the Tauri desktop app: configuration with trusted servers, credentials (OS keyring or a
//! 0600 file), the companion API client, and the scan → claim → confirm → liveness → upload
//! flow as an async state machine with typed progress events and cancellation.
//!
//! Every type that crosses to a UI is `serde`-serialisable. The library never prints; it logs
//! through `tracing` without personal data.

pub mod client;
pub mod config;
pub mod credentials;
pub mod error;
pub mod flow;
pub mod i18n;
pub mod liveness;
pub mod observer;
pub mod pump;

pub use client::{ApiClient, AuthedClient};
pub use config::{CompanionConfig, CredentialStoreKind, Language, Mode, TrustedOrigins};
pub use credentials::{Credential, CredentialStore, FileStore, KeyringBackend, KeyringStore, MemoryStore, Secret};
pub use error::{CompanionError, ErrorClass, ErrorReport};
pub use flow::{
    CancellationToken, ClipSegments, Companion, ContextChoice, EventSink, FaceInput, FixedAnswers, FlowEvent,
    FlowOutcome, LightScene, PreparedClip, Prompter, QrInput, StepTimings, VerifyReport,
};
pub use liveness::{Feedback, Observation};
pub use observer::FaceObserver;
