//! Tester mode: an independent check of the light step's paint report. While a rehearsal
//! runs, a thread reads one pixel of the app's window area on the X display (`GetImage`, the pixels
//! the display actually holds) as fast as the server answers, and records when each field's
//! colour first appeared there. Compared with the web view's paint times this measures how
//! exact they are (docs/benchmarks-desktop.md). X11 only; assumes a 24/32-bit true-colour
//! screen with the usual masks (Xvfb's and every common desktop's).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, ImageFormat};

/// One change of the centre pixel: when it was seen (the read was sent at `before` and its
/// answer arrived at `after`, ms since the epoch) and its colour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Just before the read was sent.
    pub before: f64,
    /// When its answer arrived.
    pub after: f64,
    /// The colour.
    pub rgb: [u8; 3],
}

/// A running watch; [`ScreenWatch::finish`] stops it.
#[derive(Debug)]
pub struct ScreenWatch {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<(Vec<Sample>, u64)>,
}

impl ScreenWatch {
    /// Starts watching the pixel at (`x`, `y`) of `DISPLAY`'s first screen (clamped to it).
    ///
    /// # Errors
    /// A message when there is no X display.
    pub fn start(x: i32, y: i32) -> Result<Self, String> {
        let (conn, n) = x11rb::connect(None).map_err(|e| e.to_string())?;
        let screen = conn.setup().roots.get(n).ok_or("no screen")?;
        let (root, w, h) = (screen.root, i32::from(screen.width_in_pixels), i32::from(screen.height_in_pixels));
        let clamp = |v: i32, max: i32| i16::try_from(v.clamp(0, max - 1)).unwrap_or(0);
        let (x, y) = (clamp(x, w), clamp(y, h));
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut samples: Vec<Sample> = Vec::new();
            let mut reads = 0u64;
            while !flag.load(Ordering::SeqCst) {
                let before = crate::light::now_ms_f64();
                let Ok(cookie) = conn.get_image(ImageFormat::Z_PIXMAP, root, x, y, 1, 1, !0) else { break };
                let Ok(reply) = cookie.reply() else { break };
                let after = crate::light::now_ms_f64();
                reads += 1;
                // 32 bits per pixel, least significant byte first: B, G, R, pad.
                let Some(px) = reply.data.get(..3) else { continue };
                let rgb = [px[2], px[1], px[0]];
                if samples.last().is_none_or(|s| s.rgb != rgb) {
                    samples.push(Sample { before, after, rgb });
                }
            }
            (samples, reads)
        });
        Ok(Self { stop, thread })
    }

    /// Stops and returns the colour changes seen and the number of reads.
    pub fn finish(self) -> (Vec<Sample>, u64) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap_or_default()
    }
}

/// `#rrggbb` → RGB.
fn parse(colour: &str) -> Option<[u8; 3]> {
    let h = colour.strip_prefix('#')?;
    let v = u32::from_str_radix(h, 16).ok()?;
    Some([(v >> 16) as u8, (v >> 8) as u8, v as u8])
}

/// When each field's colour first appeared on the screen (in order: each field is looked for
/// after the previous one was found; the change's answer time, ms since the epoch), `None`
/// where it was never seen. A channel may differ by `tolerance` (colour management).
pub fn first_seen(fields: &[String], samples: &[Sample], tolerance: u8) -> Vec<Option<f64>> {
    let mut from = 0;
    fields
        .iter()
        .map(|c| {
            let want = parse(c)?;
            let close = |s: &Sample| s.rgb.iter().zip(want).all(|(a, b)| a.abs_diff(b) <= tolerance);
            let i = samples[from..].iter().position(close)? + from;
            from = i + 1;
            Some(samples[i].after)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_in_order() {
        let s = |t: f64, rgb: [u8; 3]| Sample { before: t - 1.0, after: t, rgb };
        let samples =
            [s(1.0, [244, 246, 250]), s(5.0, [128, 128, 128]), s(9.0, [255, 255, 255]), s(12.0, [129, 128, 127])];
        let fields = ["#808080", "#ffffff", "#808080", "#4060ff"].map(String::from);
        assert_eq!(first_seen(&fields, &samples, 2), vec![Some(5.0), Some(9.0), Some(12.0), None]);
        // Out of tolerance: not the colour.
        assert_eq!(first_seen(&fields[..1], &samples[..1], 2), vec![None]);
    }
}
