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

const FORMATS: [FrameFormat; 6] =
    [FrameFormat::MJPEG, FrameFormat::YUYV, FrameFormat::NV12, FrameFormat::GRAY, FrameFormat::RAWRGB, FrameFormat::RAWBGR];

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
        let formats = Camera::new(
            CameraIndex::Index(index),
            RequestedFormat::with_formats(RequestedFormatType::None, &FORMATS),
        )
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
        (Some((w, h)), fps) => {
            RequestedFormatType::Closest(CameraFormat::new(Resolution::new(w, h), FrameFormat::MJPEG, fps.unwrap_or(30)))
        }
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

fn capture_loop(index: u32, cfg: WebcamConfig, shared: Arc<Shared>, name: String) {
    let started = Instant::now();
    let mut sequence = 0u64;
    let mut first = true;
    while !shared.stop.load(Ordering::Relaxed) {
        let mut cam = match open_camera(index, &cfg) {
            Ok(cam) => cam,
            Err(e) => {
                if first {
                    let mut m = shared.mailbox.lock().unwrap_or_else(|p| p.into_inner());
                    m.opened = Some(Err(e.to_string()));
                    shared.changed.notify_all();
                    return;
                }
                tracing::debug!(error = %e, "camera reopen failed; retrying");
                let deadline = Instant::now() + cfg.reconnect_interval;
                let m = shared.mailbox.lock().unwrap_or_else(|p| p.into_inner());
                // Wait on the condvar so close() wakes us at once.
                let _ = shared.changed.wait_timeout_while(m, cfg.reconnect_interval, |_| {
                    !shared.stop.load(Ordering::Relaxed) && Instant::now() < deadline
                });
                continue;
            }
        };
        {
            let fmt = cam.camera_format();
            let mut m = shared.mailbox.lock().unwrap_or_else(|p| p.into_inner());
            m.disconnected = false;
            m.disconnect_reported = false;
            if first {
                m.opened = Some(Ok(SourceInfo {
                    kind: SourceKind::Webcam,
                    name: name.clone(),
                    width: fmt.width(),
                    height: fmt.height(),
                    fps: Some(f64::from(fmt.frame_rate())),
                    frame_count: None,
                }));
            }
            shared.changed.notify_all();
        }
        first = false;
        tracing::info!(index, "camera streaming");
        while !shared.stop.load(Ordering::Relaxed) {
            match cam.frame() {
                Ok(buf) => match to_rgb(&buf) {
                    Ok(image) => {
                        let mut m = shared.mailbox.lock().unwrap_or_else(|p| p.into_inner());
                        m.frame = Some(Frame { image, timestamp: started.elapsed(), sequence });
                        sequence += 1;
                        shared.changed.notify_all();
                    }
                    Err(e) => tracing::debug!(error = %e, "undecodable camera frame dropped"),
                },
                Err(e) => {
                    tracing::warn!(index, error = %e, "camera lost; reconnecting");
                    let mut m = shared.mailbox.lock().unwrap_or_else(|p| p.into_inner());
                    m.disconnected = true;
                    shared.changed.notify_all();
                    break;
                }
            }
        }
        let _ = cam.stop_stream();
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
        let shared = Arc::new(Shared::default());
        let name = match &cfg.device {
            DeviceSelector::Name(n) => n.clone(),
            DeviceSelector::Index(i) => format!("camera {i}"),
        };
        let open_timeout = cfg.open_timeout;
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("webcam-{index}"))
                .spawn(move || capture_loop(index, cfg, shared, name))
                .map_err(|e| SourceError::Device(format!("cannot start capture thread: {e}")))?
        };
        let mut source = Self {
            shared,
            thread: Some(thread),
            info: SourceInfo { kind: SourceKind::Webcam, name: String::new(), width: 0, height: 0, fps: None, frame_count: None },
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
