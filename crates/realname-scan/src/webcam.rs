//! Webcam capture through nokhwa (V4L2 on Linux): device listing, selection by index or name, resolution/fps, and reconnection.
//!
//! nokhwa's `Camera` is not `Send`, so a capture thread owns it and publishes the newest frame
//! into a one-slot mailbox; `next_frame` waits on that slot. A live preview therefore always
//! gets the latest picture (older unread frames are dropped; `Frame::sequence` shows the gap).
//! When the device disappears the thread reports [`SourceError::Disconnected`] once and keeps
//! reopening it every `reconnect_interval` until it is back or the source is closed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use image::RgbImage;
use nokhwa::Camera;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType, Resolution,
};

use crate::frame::{Frame, FrameSource, SourceError, SourceInfo, SourceKind};
use crate::spec::DeviceSelector;

/// One capture mode a camera offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebcamFormat {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Pixel format (`MJPEG`, `YUYV`, `NV12`, `GRAY`, `RAWRGB`, `RAWBGR`).
    pub pixel_format: String,
}

/// A camera the backend lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebcamDevice {
    /// Index to open it by.
    pub index: u32,
    /// Human-readable name (what `webcam:name=` matches).
    pub name: String,
    /// Backend description.
    pub description: String,
    /// Capture modes; empty when the camera could not be opened to ask.
    pub formats: Vec<WebcamFormat>,
}

const FORMATS: [FrameFormat; 6] = [
    FrameFormat::MJPEG,
    FrameFormat::YUYV,
    FrameFormat::NV12,
    FrameFormat::GRAY,
    FrameFormat::RAWRGB,
    FrameFormat::RAWBGR,
];

fn device_err(e: nokhwa::NokhwaError) -> SourceError {
    SourceError::Device(e.to_string())
}

/// Whether the platform has any V4L2 device node (Linux); other platforms answer `true` and
/// let the backend decide.
fn any_device_node() -> bool {
    if cfg!(target_os = "linux") {
        std::fs::read_dir("/dev")
            .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with("video")))
            .unwrap_or(false)
    } else {
        true
    }
}

fn query_devices() -> Result<Vec<(u32, String, String)>, SourceError> {
    if !any_device_node() {
        tracing::debug!("no /dev/video* nodes: no cameras");
        return Ok(Vec::new());
    }
    let infos = nokhwa::query(ApiBackend::Auto).map_err(device_err)?;
    Ok(infos
        .iter()
        .enumerate()
        .map(|(i, info)| {
            let index = info.index().as_index().unwrap_or(i as u32);
            (index, info.human_name(), info.description().to_owned())
        })
        .collect())
}

/// Lists the cameras with their capture modes.
///
/// # Errors
/// [`SourceError::Device`] when the backend cannot be queried. A machine without cameras gives
/// `Ok` with an empty list.
pub fn list_devices() -> Result<Vec<WebcamDevice>, SourceError> {
    let mut out = Vec::new();
    for (index, name, description) in query_devices()? {
        let formats =
            Camera::new(CameraIndex::Index(index), RequestedFormat::with_formats(RequestedFormatType::None, &FORMATS))
                .and_then(|mut cam| cam.compatible_camera_formats())
                .map(|fs| {
                    fs.iter()
                        .map(|f| WebcamFormat {
                            width: f.width(),
                            height: f.height(),
                            fps: f.frame_rate(),
                            pixel_format: f.format().to_string(),
                        })
                        .collect()
                })
                .unwrap_or_else(|e| {
                    tracing::debug!(index, error = %e, "could not list formats");
                    Vec::new()
                });
        out.push(WebcamDevice { index, name, description, formats });
    }
    Ok(out)
}

/// How to open a camera.
#[derive(Debug, Clone, PartialEq)]
pub struct WebcamConfig {
    /// Which camera.
    pub device: DeviceSelector,
    /// Wanted resolution; the closest mode is used.
    pub resolution: Option<(u32, u32)>,
    /// Wanted frame rate.
    pub fps: Option<u32>,
    /// Pause between reopen attempts after a disconnect.
    pub reconnect_interval: Duration,
    /// How long `open` waits for the first successful open.
    pub open_timeout: Duration,
}

impl Default for WebcamConfig {
    fn default() -> Self {
        Self {
            device: DeviceSelector::Index(0),
            resolution: None,
            fps: None,
            reconnect_interval: Duration::from_millis(500),
            open_timeout: Duration::from_secs(10),
        }
    }
}

/// What the capture thread tells the consumer.
#[derive(Debug, Default)]
struct Mailbox {
    frame: Option<Frame>,
    opened: Option<Result<SourceInfo, String>>,
    disconnected: bool,
    disconnect_reported: bool,
}

#[derive(Debug, Default)]
struct Shared {
    mailbox: Mutex<Mailbox>,
    changed: Condvar,
    stop: AtomicBool,
}

/// A camera as a [`FrameSource`].
#[derive(Debug)]
pub struct WebcamSource {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    info: SourceInfo,
}

fn resolve(selector: &DeviceSelector) -> Result<u32, SourceError> {
    let devices = query_devices()?;
    let found = match selector {
        DeviceSelector::Index(i) => devices.iter().find(|d| d.0 == *i),
        DeviceSelector::Name(n) => {
            devices.iter().find(|d| d.1 == *n).or_else(|| devices.iter().find(|d| d.1.contains(n.as_str())))
        }
    };
    found
        .map(|d| d.0)
        .ok_or_else(|| SourceError::NoSuchDevice { selector: selector.to_string(), available: devices.len() })
}

fn open_camera(index: u32, cfg: &WebcamConfig) -> Result<Camera, nokhwa::NokhwaError> {
    let wanted = match (cfg.resolution, cfg.fps) {
        (Some((w, h)), fps) => RequestedFormatType::Closest(CameraFormat::new(
            Resolution::new(w, h),
            FrameFormat::MJPEG,
            fps.unwrap_or(30),
        )),
        (None, Some(fps)) => RequestedFormatType::HighestFrameRate(fps),
        (None, None) => RequestedFormatType::AbsoluteHighestFrameRate,
    };
    let mut cam = Camera::new(CameraIndex::Index(index), RequestedFormat::with_formats(wanted, &FORMATS))?;
    cam.open_stream()?;
    Ok(cam)
}

fn to_rgb(buf: &nokhwa::Buffer) -> Result<RgbImage, String> {
    let res = buf.resolution();
    let (w, h) = (res.width(), res.height());
    let data = buf.buffer();
    let rgb = match buf.source_frame_format() {
        FrameFormat::MJPEG => {
            return image::load_from_memory_with_format(data, image::ImageFormat::Jpeg)
                .map(|i| i.into_rgb8())
                .map_err(|e| e.to_string());
        }
        FrameFormat::YUYV => nokhwa::utils::yuyv422_to_rgb(data, false).map_err(|e| e.to_string())?,
        FrameFormat::NV12 => nokhwa::utils::nv12_to_rgb(res, data, false).map_err(|e| e.to_string())?,
        FrameFormat::GRAY => data.iter().flat_map(|&g| [g, g, g]).collect(),
        FrameFormat::RAWRGB => data.to_vec(),
        FrameFormat::RAWBGR => data.chunks_exact(3).flat_map(|p| [p[2], p[1], p[0]]).collect(),
    };
    RgbImage::from_raw(w, h, rgb).ok_or_else(|| format!("frame buffer does not match {w}x{h}"))
}

/// What the capture thread needs from an open camera: nokhwa's `Camera` in production, a
/// fake in the tests of reconnection.
trait CaptureDevice {
    /// Width, height, frames per second of the running stream.
    fn format(&self) -> (u32, u32, u32);
    /// The next frame; `Err(Lost)` means the device is gone and must be reopened.
    fn grab(&mut self) -> Result<RgbImage, GrabError>;
}

#[derive(Debug)]
enum GrabError {
    /// This frame could not be decoded; the stream goes on.
    BadFrame(String),
    /// The device stopped delivering.
    Lost(String),
}

struct NokhwaDevice(Camera);

impl CaptureDevice for NokhwaDevice {
    fn format(&self) -> (u32, u32, u32) {
        let f = self.0.camera_format();
        (f.width(), f.height(), f.frame_rate())
    }
    fn grab(&mut self) -> Result<RgbImage, GrabError> {
        let buf = self.0.frame().map_err(|e| GrabError::Lost(e.to_string()))?;
        to_rgb(&buf).map_err(GrabError::BadFrame)
    }
}

impl Drop for NokhwaDevice {
    fn drop(&mut self) {
        let _ = self.0.stop_stream();
    }
}

fn capture_loop<D: CaptureDevice>(
    mut open: impl FnMut() -> Result<D, String>,
    reconnect_interval: Duration,
    shared: Arc<Shared>,
    name: String,
) {
    let started = Instant::now();
    let mut sequence = 0u64;
    let mut first = true;
    while !shared.stop.load(Ordering::Relaxed) {
        let mut device = match open() {
            Ok(device) => device,
            Err(e) => {
                if first {
                    let mut m = shared.mailbox.lock().unwrap_or_else(|p| p.into_inner());
                    m.opened = Some(Err(e));
                    shared.changed.notify_all();
                    return;
                }
                tracing::debug!(error = %e, "camera reopen failed; retrying");
                let deadline = Instant::now() + reconnect_interval;
                let m = shared.mailbox.lock().unwrap_or_else(|p| p.into_inner());
                // Wait on the condvar so close() wakes us at once.
                let _ = shared.changed.wait_timeout_while(m, reconnect_interval, |_| {
                    !shared.stop.load(Ordering::Relaxed) && Instant::now() < deadline
                });
                continue;
            }
        };
        {
            let (width, height, fps) = device.format();
            let mut m = shared.mailbox.lock().unwrap_or_else(|p| p.into_inner());
            m.disconnected = false;
            m.disconnect_reported = false;
            if first {
                m.opened = Some(Ok(SourceInfo {
                    kind: SourceKind::Webcam,
                    name: name.clone(),
                    width,
                    height,
                    fps: Some(f64::from(fps)),
                    frame_count: None,
                }));
            }
            shared.changed.notify_all();
        }
        first = false;
        tracing::info!(camera = %name, "camera streaming");
        while !shared.stop.load(Ordering::Relaxed) {
            match device.grab() {
                Ok(image) => {
                    let mut m = shared.mailbox.lock().unwrap_or_else(|p| p.into_inner());
                    m.frame = Some(Frame { image, timestamp: started.elapsed(), sequence });
                    sequence += 1;
                    shared.changed.notify_all();
                }
                Err(GrabError::BadFrame(e)) => tracing::debug!(error = %e, "undecodable camera frame dropped"),
                Err(GrabError::Lost(e)) => {
                    tracing::warn!(camera = %name, error = %e, "camera lost; reconnecting");
                    let mut m = shared.mailbox.lock().unwrap_or_else(|p| p.into_inner());
                    m.disconnected = true;
                    shared.changed.notify_all();
                    break;
                }
            }
        }
    }
}

impl WebcamSource {
    /// Finds the camera, opens it on a capture thread and waits until it streams.
    ///
    /// # Errors
    /// [`SourceError::NoSuchDevice`] when no camera matches (always so on a machine without
    /// `/dev/video*`), [`SourceError::Device`] when opening fails, [`SourceError::Timeout`]
    /// when it does not stream within `open_timeout`.
    pub fn open(cfg: WebcamConfig) -> Result<Self, SourceError> {
        let index = resolve(&cfg.device)?;
        let name = match &cfg.device {
            DeviceSelector::Name(n) => n.clone(),
            DeviceSelector::Index(i) => format!("camera {i}"),
        };
        let (interval, open_timeout) = (cfg.reconnect_interval, cfg.open_timeout);
        let opener = move || open_camera(index, &cfg).map(NokhwaDevice).map_err(|e| e.to_string());
        Self::start(opener, interval, open_timeout, name)
    }

    /// Runs the capture thread with any device opener (the seam the reconnection tests use).
    fn start<D: CaptureDevice + 'static>(
        opener: impl FnMut() -> Result<D, String> + Send + 'static,
        reconnect_interval: Duration,
        open_timeout: Duration,
        name: String,
    ) -> Result<Self, SourceError> {
        let shared = Arc::new(Shared::default());
        let thread = {
            let shared = Arc::clone(&shared);
            let name = name.clone();
            std::thread::Builder::new()
                .name("webcam-capture".into())
                .spawn(move || capture_loop(opener, reconnect_interval, shared, name))
                .map_err(|e| SourceError::Device(format!("cannot start capture thread: {e}")))?
        };
        let mut source = Self {
            shared,
            thread: Some(thread),
            info: SourceInfo { kind: SourceKind::Webcam, name, width: 0, height: 0, fps: None, frame_count: None },
        };
        let opened = {
            let m = source.shared.mailbox.lock().unwrap_or_else(|p| p.into_inner());
            let (mut m, _) = source
                .shared
                .changed
                .wait_timeout_while(m, open_timeout, |m| m.opened.is_none())
                .unwrap_or_else(|p| p.into_inner());
            m.opened.take()
        };
        match opened {
            Some(Ok(info)) => {
                source.info = info;
                Ok(source)
            }
            Some(Err(e)) => {
                let _ = source.close();
                Err(SourceError::Device(e))
            }
            None => {
                let _ = source.close();
                Err(SourceError::Timeout { waited: open_timeout })
            }
        }
    }
}

impl FrameSource for WebcamSource {
    fn info(&self) -> SourceInfo {
        self.info.clone()
    }

    fn next_frame(&mut self, timeout: Duration) -> Result<Frame, SourceError> {
        if self.thread.is_none() {
            return Err(SourceError::Closed);
        }
        let m = self.shared.mailbox.lock().unwrap_or_else(|p| p.into_inner());
        let (mut m, _) = self
            .shared
            .changed
            .wait_timeout_while(m, timeout, |m| m.frame.is_none() && (!m.disconnected || m.disconnect_reported))
            .unwrap_or_else(|p| p.into_inner());
        if let Some(frame) = m.frame.take() {
            return Ok(frame);
        }
        if m.disconnected && !m.disconnect_reported {
            m.disconnect_reported = true;
            return Err(SourceError::Disconnected);
        }
        Err(SourceError::Timeout { waited: timeout })
    }

    fn close(&mut self) -> Result<(), SourceError> {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            t.join().map_err(|_| SourceError::Device("capture thread panicked".into()))?;
        }
        Ok(())
    }
}

impl Drop for WebcamSource {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A camera that delivers `frames` frames, then is lost; `opens` counts (re)opens.
    struct FakeCamera {
        left: usize,
        shade: u8,
    }

    impl CaptureDevice for FakeCamera {
        fn format(&self) -> (u32, u32, u32) {
            (8, 6, 30)
        }
        fn grab(&mut self) -> Result<RgbImage, GrabError> {
            std::thread::sleep(Duration::from_millis(2));
            if self.left == 0 {
                return Err(GrabError::Lost("unplugged".into()));
            }
            self.left -= 1;
            if self.left == 1 {
                return Err(GrabError::BadFrame("corrupt JPEG".into()));
            }
            Ok(RgbImage::from_pixel(8, 6, image::Rgb([self.shade; 3])))
        }
    }

    #[test]
    fn reconnects_after_the_device_disappears() -> Result<(), SourceError> {
        let opens = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&opens);
        // Open 1 works, opens 2 and 3 fail (device still gone), open 4 works again.
        let opener = move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            match n {
                0 => Ok(FakeCamera { left: 5, shade: 10 }),
                1 | 2 => Err("No such file or directory".to_owned()),
                _ => Ok(FakeCamera { left: usize::MAX, shade: 200 }),
            }
        };
        let mut cam = WebcamSource::start(opener, Duration::from_millis(5), Duration::from_secs(5), "fake".into())?;
        assert_eq!((cam.info().width, cam.info().height, cam.info().fps), (8, 6, Some(30.0)));
        let mut saw_disconnect = false;
        let mut after = None;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match cam.next_frame(Duration::from_secs(1)) {
                Ok(f) if saw_disconnect && f.image.get_pixel(0, 0).0[0] == 200 => {
                    after = Some(f);
                    break;
                }
                Ok(_) => {}
                Err(SourceError::Disconnected) => {
                    assert!(!saw_disconnect, "a disconnect is reported once");
                    saw_disconnect = true;
                }
                Err(SourceError::Timeout { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let after = after.expect("frames resume after reconnecting");
        assert!(saw_disconnect);
        assert!(opens.load(Ordering::SeqCst) >= 4, "retried until the device came back");
        assert!(after.sequence >= 3, "sequence continues across reconnects: {}", after.sequence);
        cam.close()?;
        assert!(matches!(cam.next_frame(Duration::from_millis(1)), Err(SourceError::Closed)));
        Ok(())
    }

    #[test]
    fn first_open_failure_is_a_device_error() {
        let opener = || -> Result<FakeCamera, String> { Err("Could not open device 0".into()) };
        match WebcamSource::start(opener, Duration::from_millis(5), Duration::from_secs(5), "fake".into()) {
            Err(SourceError::Device(m)) => assert!(m.contains("Could not open"), "{m}"),
            other => panic!("expected a device error, got {:?}", other.map(|s| s.info())),
        }
    }

    #[test]
    fn raw_formats_convert_to_rgb() {
        use nokhwa::Buffer;
        let res = Resolution::new(2, 1);
        let bgr = Buffer::new(res, &[1, 2, 3, 4, 5, 6], FrameFormat::RAWBGR);
        assert_eq!(to_rgb(&bgr).map(|i| i.into_raw()), Ok(vec![3, 2, 1, 6, 5, 4]));
        let gray = Buffer::new(res, &[7, 9], FrameFormat::GRAY);
        assert_eq!(to_rgb(&gray).map(|i| i.into_raw()), Ok(vec![7, 7, 7, 9, 9, 9]));
        // YUYV: one macro-pixel, mid-grey (Y=128, U=V=128).
        let yuyv = Buffer::new(res, &[128, 128, 128, 128], FrameFormat::YUYV);
        let rgb = to_rgb(&yuyv).map(|i| i.into_raw()).unwrap_or_default();
        assert_eq!(rgb.len(), 6);
        assert!(rgb.iter().all(|v| v.abs_diff(128) <= 3), "{rgb:?}");
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
            .encode_image(&RgbImage::from_pixel(16, 8, image::Rgb([200, 40, 40])))
            .unwrap_or_default();
        let mjpeg = Buffer::new(Resolution::new(16, 8), &jpeg, FrameFormat::MJPEG);
        let img = to_rgb(&mjpeg).unwrap_or_default();
        assert_eq!(img.dimensions(), (16, 8));
        assert!(img.get_pixel(3, 3).0[0] > 150, "{:?}", img.get_pixel(3, 3));
        let short = Buffer::new(res, &[1, 2], FrameFormat::RAWRGB);
        assert!(to_rgb(&short).is_err());
    }
}
