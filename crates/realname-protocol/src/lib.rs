//! Types shared by every Realname part: companion API shapes, stable error codes, QR payloads,
//! resident ID numbers and names, and the masking rules for showing them.
//!
//! This crate sits at the bottom of the dependency graph: it does no I/O, knows no HTTP
//! framework and no database. The server, the companion core, the CLI and the desktop app all
//! speak through these types, so a change here is a change of the wire format.

pub mod api;
pub mod error;
pub mod id_number;
pub mod light;
pub mod mask;
pub mod name;
pub mod qr;

pub use error::{ApiError, ErrorCode};
pub use id_number::{IdNumberError, ResidentId};
pub use name::{NameError, PersonName};
pub use qr::{QrHandle, QrPayload, QrPayloadError};
