//! Moves a blocking [`FrameSource`] onto its own thread and hands its frames to async code
//! over a small bounded channel (back-pressure: a folder source is never skipped, a webcam
//! keeps only its newest frame itself).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use realname_scan::{Frame, FrameSource, SourceError, SourceInfo};
use tokio::sync::mpsc;

/// How long one `next_frame` call may block before the thread checks for a stop.
const POLL: Duration = Duration::from_millis(200);

/// Frames from a source running on a dedicated thread.
#[derive(Debug)]
pub struct FramePump {
    rx: mpsc::Receiver<Result<Frame, SourceError>>,
    info: SourceInfo,
    stop: Arc<AtomicBool>,
}

impl FramePump {
    /// Starts the reading thread.
    pub fn spawn(mut source: Box<dyn FrameSource>) -> Self {
        let info = source.info();
        let (tx, rx) = mpsc::channel(2);
        let stop = Arc::new(AtomicBool::new(false));
        let stop_thread = stop.clone();
        std::thread::Builder::new()
            .name("realname-frames".into())
            .spawn(move || {
                while !stop_thread.load(Ordering::Relaxed) {
                    match source.next_frame(POLL) {
                        Ok(frame) => {
                            if tx.blocking_send(Ok(frame)).is_err() {
                                break;
                            }
                        }
                        Err(SourceError::Timeout { .. } | SourceError::Disconnected) => {}
                        Err(e) => {
                            let _ = tx.blocking_send(Err(e));
                            break;
                        }
                    }
                }
                if let Err(e) = source.close() {
                    tracing::warn!(error = %e, "closing the frame source failed");
                }
            })
            .map_or_else(|e| tracing::error!(error = %e, "cannot start the frame thread"), drop);
        Self { rx, info, stop }
    }

    /// Facts about the source.
    pub fn info(&self) -> &SourceInfo {
        &self.info
    }

    /// Whether the source has a known, finite number of frames (a recording).
    pub fn is_finite(&self) -> bool {
        self.info.frame_count.is_some()
    }

    /// The next frame; `Err(EndOfStream)` once the source is exhausted.
    ///
    /// # Errors
    /// The source's error.
    pub async fn next(&mut self) -> Result<Frame, SourceError> {
        match self.rx.recv().await {
            Some(r) => r,
            None => Err(SourceError::EndOfStream),
        }
    }

    /// The newest frame available without waiting, dropping older ones (live sources).
    pub fn newest(&mut self, mut frame: Frame) -> Frame {
        while let Ok(Ok(newer)) = self.rx.try_recv() {
            frame = newer;
        }
        frame
    }
}

impl Drop for FramePump {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.rx.close();
    }
}
