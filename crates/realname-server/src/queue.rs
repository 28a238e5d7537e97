//! The bounded queue in front of the face engine: at most `workers` captures are analysed at
//! once, at most `capacity` wait, and the rest are refused at once with a 503 instead of
//! holding their frames in memory without bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use realname_protocol::ErrorCode;

use crate::error::ServerError;

/// Seconds a refused client is asked to wait before trying again.
pub const RETRY_AFTER_SECS: u64 = 5;

/// Admission control for face decisions (cheap to clone).
#[derive(Debug, Clone)]
pub struct DecisionQueue {
    workers: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    capacity: usize,
    size: usize,
}

/// A worker slot; the capture may use the face engine while it is held.
#[derive(Debug)]
pub struct DecisionSlot {
    _permit: OwnedSemaphorePermit,
}

impl DecisionQueue {
    /// `workers` = 0 means one per available CPU core.
    pub fn new(workers: usize, capacity: usize) -> Self {
        let size = if workers == 0 {
            std::thread::available_parallelism().map(std::num::NonZeroUsize::get).unwrap_or(1)
        } else {
            workers
        };
        Self { workers: Arc::new(Semaphore::new(size)), waiting: Arc::new(AtomicUsize::new(0)), capacity, size }
    }

    /// Number of worker slots.
    pub fn workers(&self) -> usize {
        self.size
    }

    /// Captures waiting for a slot right now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Captures holding a worker slot right now.
    pub fn in_flight(&self) -> usize {
        self.size.saturating_sub(self.workers.available_permits())
    }

    /// Threads the face engine may use for one capture's next step
    /// ([`realname_face::with_threads`]): all cores while it is the only capture in flight and
    /// none waits, one otherwise — beside another decision the parallel kernels only add
    /// synchronisation (server CPU per verification 822 / 694 ms at 10 / 50 users with parallel
    /// kernels, 567 / 536 ms with one thread each; docs/benchmarks-load.md).
    pub fn analysis_threads(&self) -> usize {
        if self.in_flight() <= 1 && self.waiting() == 0 { usize::MAX } else { 1 }
    }

    /// Waits for a worker slot, or refuses when `capacity` captures are already waiting.
    pub async fn admit(&self) -> Result<DecisionSlot, ServerError> {
        if let Ok(permit) = Arc::clone(&self.workers).try_acquire_owned() {
            return Ok(DecisionSlot { _permit: permit });
        }
        let before = self.waiting.fetch_add(1, Ordering::AcqRel);
        let _leave = Leave(&self.waiting);
        if before >= self.capacity {
            return Err(busy());
        }
        let permit = Arc::clone(&self.workers).acquire_owned().await.map_err(|_| busy())?;
        Ok(DecisionSlot { _permit: permit })
    }
}

/// Decrements the waiting count however `admit` ends (also when its future is dropped).
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn busy() -> ServerError {
    ServerError::new(
        ErrorCode::ServiceUnavailable,
        format!("Too many face scans are being checked right now. Please try again in {RETRY_AFTER_SECS} seconds."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slots_are_bounded_and_the_queue_refuses_beyond_capacity() {
        let q = DecisionQueue::new(2, 1);
        assert_eq!(q.workers(), 2);
        assert_eq!(q.analysis_threads(), usize::MAX, "idle: all cores");
        let a = q.admit().await.expect("slot 1");
        assert_eq!((q.in_flight(), q.analysis_threads()), (1, usize::MAX), "alone: all cores");
        let _b = q.admit().await.expect("slot 2");
        assert_eq!((q.in_flight(), q.analysis_threads()), (2, 1), "two at once: one thread each");
        // The third waits (capacity 1) ...
        let q2 = q.clone();
        let waiter = tokio::spawn(async move { q2.admit().await.map(|_| ()) });
        tokio::task::yield_now().await;
        for _ in 0..100 {
            if q.waiting() == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert_eq!(q.waiting(), 1);
        // ... the fourth is refused at once with a stable code.
        let refused = q.admit().await.expect_err("queue full");
        assert_eq!(refused.code, ErrorCode::ServiceUnavailable);
        assert_eq!(q.waiting(), 1, "a refused request does not stay counted");
        drop(a);
        waiter.await.expect("join").expect("the waiter gets the freed slot");
        assert_eq!(q.waiting(), 0);
    }

    #[tokio::test]
    async fn zero_workers_means_one_per_core() {
        assert!(DecisionQueue::new(0, 4).workers() >= 1);
    }
}
