//! Capture uploads in two steps: the `metadata` part (it comes first) is read and checked —
//! the session is this device's, in progress, the nonce current, the account not locked out,
//! the frame count allowed — before a single frame byte is read; and a gate caps the uploads
//! being read at once, per device and in total, so free device tokens cannot tie the server
//! up with slow 30 MiB bodies. Right before the decision, the face attempt reserves its place
//! under the daily lockouts, so parallel captures over several sessions cannot record more
//! failures than the lockout allows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use realname_protocol::ErrorCode;
use realname_protocol::api::{CaptureMetadata, SessionState};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{ServerError, ServerResult};
use crate::state::AppState;
use crate::store::FaceSession;
use crate::store::hardening::HardeningStore;
use crate::verification::Caller;

/// Uploads one device may have in flight at once (a phone sends one capture at a time; two
/// leave room for a retry while the first is still closing).
pub const UPLOADS_PER_DEVICE: usize = 2;

/// Uploads in flight at once on this instance.
pub const UPLOADS_TOTAL: usize = 64;

/// Counts the capture uploads being read.
#[derive(Debug)]
pub struct UploadGate {
    total: Arc<Semaphore>,
    per_device: Arc<Mutex<HashMap<String, usize>>>,
}

impl Default for UploadGate {
    fn default() -> Self {
        Self { total: Arc::new(Semaphore::new(UPLOADS_TOTAL)), per_device: Arc::default() }
    }
}

/// One upload in flight; dropping it frees its places.
#[derive(Debug)]
pub struct UploadPermit {
    _total: OwnedSemaphorePermit,
    device: String,
    per_device: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for UploadPermit {
    fn drop(&mut self) {
        let mut map = self.per_device.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.device) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.device);
            }
        }
    }
}

fn busy(message: &str, detail: &str) -> ServerError {
    ServerError::new(ErrorCode::RateLimited, message).with_detail(detail)
}

impl UploadGate {
    /// A place for one upload of `device_id`, or 429 `rate_limited` (detail
    /// `concurrent_uploads_device` or `concurrent_uploads_total`) at once, without waiting.
    pub fn enter(&self, device_id: &str) -> ServerResult<UploadPermit> {
        let mut map = self.per_device.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(device_id.to_owned()).or_insert(0);
        if *n >= UPLOADS_PER_DEVICE {
            return Err(busy(
                "This device is already sending captures. Wait for the answer, then try again.",
                "concurrent_uploads_device",
            ));
        }
        let Ok(total) = Arc::clone(&self.total).try_acquire_owned() else {
            if *n == 0 {
                map.remove(device_id);
            }
            return Err(busy(
                "The server is receiving too many captures. Please try again in a moment.",
                "concurrent_uploads_total",
            ));
        };
        *n += 1;
        Ok(UploadPermit { _total: total, device: device_id.to_owned(), per_device: Arc::clone(&self.per_device) })
    }

    /// Uploads in flight (tests, metrics).
    pub fn in_flight(&self) -> usize {
        UPLOADS_TOTAL - self.total.available_permits()
    }
}

impl AppState {
    /// The checks a capture passes before its frames are read (the decision repeats them on
    /// the stored session, which may have changed meanwhile).
    pub async fn capture_precheck(
        &self,
        caller: &Caller,
        session_id: &str,
        metadata: &CaptureMetadata,
    ) -> ServerResult<FaceSession> {
        let s = self.session_for_device(caller, session_id).await?;
        if s.state != SessionState::InProgress {
            return Err(Self::state_error(&s));
        }
        let Some(challenge) = &s.challenge else {
            return Err(ServerError::new(ErrorCode::SessionState, "No challenge was issued."));
        };
        if challenge.nonce != metadata.nonce {
            return Err(ServerError::new(ErrorCode::NonceInvalid, "The challenge nonce is not the current one."));
        }
        if self.now() >= challenge.deadline.unix_timestamp() {
            return Err(ServerError::new(ErrorCode::ChallengeExpired, "The time for the face scan has run out."));
        }
        if let Some(until) = self.lockout_until(&s.account_id, &s.id_hash).await? {
            return Err(Self::locked_out_error(until));
        }
        let max = self.config.face.max_frames as usize;
        if metadata.frames.is_empty() || metadata.frames.len() > max {
            return Err(ServerError::new(ErrorCode::FrameCountInvalid, format!("A capture has 1 to {max} frames.")));
        }
        Ok(s)
    }

    /// Reserves this capture's place under the daily failure lockouts of its account and ID
    /// number (counting the other attempts being decided), or 429 `rate_limited` (detail
    /// `face_attempts_in_flight`) when the attempts in flight could go past a lockout.
    pub async fn reserve_face_attempt(&self, s: &FaceSession) -> ServerResult<FaceAttempt> {
        let limits = &self.config.limits;
        let since = self.now() - crate::verification::FAILURE_WINDOW_SECS;
        let reserved = HardeningStore::reserve_face_attempt(
            &*self.store,
            &s.account_id,
            &s.id_hash,
            since,
            self.now(),
            i64::from(limits.failures_per_account_per_day),
            i64::from(limits.failures_per_id_per_day),
        )
        .await?;
        match reserved {
            Some(id) => Ok(FaceAttempt { store: Arc::clone(&self.store), id: Some(id) }),
            None => {
                if let Some(until) = self.lockout_until(&s.account_id, &s.id_hash).await? {
                    return Err(Self::locked_out_error(until));
                }
                Err(busy(
                    "Other face scans of this account or ID number are being decided. Try again in a moment.",
                    "face_attempts_in_flight",
                ))
            }
        }
    }
}

/// A face attempt's place under the lockouts; dropping it gives the place back (the decision,
/// if it failed, has recorded its own failure by then).
#[derive(Debug)]
pub struct FaceAttempt {
    store: Arc<dyn crate::store::Store>,
    id: Option<i64>,
}

impl FaceAttempt {
    /// Gives the place back now (the decision is stored).
    pub async fn release(mut self) {
        if let Some(id) = self.id.take()
            && let Err(e) = HardeningStore::release_face_attempt(&*self.store, id).await
        {
            tracing::warn!(error = %e, "could not release a face attempt reservation");
        }
    }
}

impl Drop for FaceAttempt {
    fn drop(&mut self) {
        // Only when the request ended before `release` (the client went away mid-decision).
        let Some(id) = self.id.take() else { return };
        let store = Arc::clone(&self.store);
        // A reservation left behind (no runtime, database down) counts as a failure until it
        // ages out of the day's window: stricter, never looser.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Err(e) = HardeningStore::release_face_attempt(&*store, id).await {
                    tracing::warn!(error = %e, "could not release a face attempt reservation");
                }
            });
        }
    }
}
