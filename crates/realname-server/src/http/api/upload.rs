//! Capture uploads in two steps: the `metadata` part (it comes first) is read and checked —
//! the session is this device's, in progress, the nonce current, the account not locked out,
//! the frame count allowed — before a single frame byte is read; and a gate caps the uploads
//! being read at once, per device and in total, so free device tokens cannot tie the server
//! up with slow 30 MiB bodies. Right before the decision, the face attempt reserves its place
//! under the daily lockouts, so parallel captures over several sessions cannot record more
//! failures than the lockout allows.

pub use crate::upload_gate::{UPLOADS_PER_DEVICE, UPLOADS_TOTAL, UploadGate, UploadPermit};

pub use crate::flows::face::admission::FaceAttempt;
