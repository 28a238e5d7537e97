//! The gate in front of capture uploads: caps the uploads being read at once, per device and in
//! total, so free device tokens cannot tie the server up with slow 30 MiB bodies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use realname_protocol::ErrorCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{ServerError, ServerResult};

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

pub(crate) fn busy(message: &str, detail: &str) -> ServerError {
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
