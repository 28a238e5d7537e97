//! Live preview transport: frames from the Rust-side camera reach the web view as raw JPEG
//! bytes over the `preview://` URI scheme (no base64, no JSON). The newest frame sits in a
//! watch channel; a request `preview://localhost/frame?after=N` waits for a frame newer than
//! `N` (long poll, bounded) and answers with the JPEG and its sequence number in `X-Frame-Seq`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use image::RgbImage;
use realname_scan::{Frame, FrameSource, SourceError, SourceInfo};
use tokio::sync::watch;

/// Longest side of a preview frame: enough for a window, cheap to encode.
const PREVIEW_MAX_SIDE: u32 = 640;
/// JPEG quality of preview frames.
const PREVIEW_QUALITY: u8 = 70;

/// One encoded preview frame.
#[derive(Debug)]
pub struct PreviewFrame {
    /// Increases with every published frame.
    pub seq: u64,
    /// JPEG bytes.
    pub jpeg: Vec<u8>,
    /// Width of the source frame (QR corners are in these pixels).
    pub width: u32,
    /// Height of the source frame.
    pub height: u32,
    /// Time to downscale and encode, microseconds.
    pub encode_us: u64,
}

/// The newest preview frame, shared by the camera threads and the URI scheme handler.
#[derive(Debug, Clone)]
pub struct PreviewHub {
    tx: Arc<watch::Sender<Option<Arc<PreviewFrame>>>>,
}

impl Default for PreviewHub {
    fn default() -> Self {
        Self::new()
    }
}

impl PreviewHub {
    /// An empty hub.
    pub fn new() -> Self {
        Self { tx: Arc::new(watch::channel(None).0) }
    }

    /// Downscales, encodes and publishes `image`.
    pub fn publish(&self, image: &RgbImage) {
        let t = Instant::now();
        let (w, h) = image.dimensions();
        let scaled;
        let small = if w.max(h) > PREVIEW_MAX_SIDE {
            scaled = realname_scan::jpeg::downscale(image.clone(), PREVIEW_MAX_SIDE);
            &scaled
        } else {
            image
        };
        let jpeg = match realname_scan::jpeg::encode(small, PREVIEW_QUALITY) {
            Ok(jpeg) => jpeg,
            Err(e) => {
                tracing::warn!(error = %e, "preview frame not encoded");
                return;
            }
        };
        let encode_us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
        let seq = self.tx.borrow().as_ref().map_or(0, |f| f.seq) + 1;
        self.tx.send_replace(Some(Arc::new(PreviewFrame { seq, jpeg, width: w, height: h, encode_us })));
    }

    /// Forgets the frame (kiosk: nothing is kept between people).
    pub fn clear(&self) {
        self.tx.send_replace(None);
    }

    /// Waits up to `wait` for a frame newer than `after`.
    pub async fn newer_than(&self, after: u64, wait: Duration) -> Option<Arc<PreviewFrame>> {
        let mut rx = self.tx.subscribe();
        let fresh = |f: &Option<Arc<PreviewFrame>>| f.as_ref().is_some_and(|f| f.seq > after);
        let r = tokio::time::timeout(wait, rx.wait_for(fresh)).await;
        match r {
            Ok(Ok(f)) => f.clone(),
            _ => None,
        }
    }
}

/// A frame source that also publishes every frame it delivers to the preview.
pub struct PreviewTap {
    inner: Box<dyn FrameSource>,
    hub: PreviewHub,
}

impl std::fmt::Debug for PreviewTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PreviewTap({})", self.inner.info().name)
    }
}

impl PreviewTap {
    /// Wraps `inner`.
    pub fn new(inner: Box<dyn FrameSource>, hub: PreviewHub) -> Self {
        Self { inner, hub }
    }
}

impl FrameSource for PreviewTap {
    fn info(&self) -> SourceInfo {
        self.inner.info()
    }

    fn next_frame(&mut self, timeout: Duration) -> Result<Frame, SourceError> {
        let frame = self.inner.next_frame(timeout)?;
        self.hub.publish(&frame.image);
        Ok(frame)
    }

    fn close(&mut self) -> Result<(), SourceError> {
        self.inner.close()
    }
}

/// Answers one `preview://` request.
pub async fn respond(hub: &PreviewHub, uri: &str) -> tauri::http::Response<Vec<u8>> {
    let after = uri
        .split_once('?')
        .and_then(|(_, q)| q.split('&').find_map(|kv| kv.strip_prefix("after=")))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    let builder = tauri::http::Response::builder()
        .header("Access-Control-Allow-Origin", "*")
        .header("Access-Control-Expose-Headers", "X-Frame-Seq, X-Frame-Size, X-Encode-Us")
        .header("Cache-Control", "no-store");
    let response = match hub.newer_than(after, Duration::from_millis(1500)).await {
        Some(f) => builder
            .status(200)
            .header("Content-Type", "image/jpeg")
            .header("X-Frame-Seq", f.seq.to_string())
            .header("X-Frame-Size", format!("{}x{}", f.width, f.height))
            .header("X-Encode-Us", f.encode_us.to_string())
            .body(f.jpeg.clone()),
        None => builder.status(204).body(Vec::new()),
    };
    response.unwrap_or_else(|_| tauri::http::Response::new(Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiting_request_gets_the_next_frame_as_jpeg() {
        let hub = PreviewHub::new();
        assert!(hub.newer_than(0, Duration::from_millis(10)).await.is_none());
        let h2 = hub.clone();
        let waiter = tokio::spawn(async move { respond(&h2, "preview://localhost/frame?after=0").await });
        hub.publish(&RgbImage::from_pixel(1280, 720, image::Rgb([200, 10, 10])));
        let r = waiter.await.expect("join");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["X-Frame-Seq"], "1");
        assert_eq!(r.headers()["X-Frame-Size"], "1280x720");
        assert_eq!(&r.body()[..2], &[0xFF, 0xD8], "JPEG start-of-image");
        let decoded = image::load_from_memory(r.body()).expect("decodes");
        assert_eq!((decoded.width(), decoded.height()), (640, 360));
        hub.clear();
        assert_eq!(respond(&hub, "preview://localhost/frame?after=1").await.status(), 204);
    }
}
