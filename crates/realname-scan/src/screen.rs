//! X11 screen capture (whole screen or one window by title) through x11rb's pure-Rust client.
//!
//! x11rb speaks the X protocol itself (no libxcb, no C toolchain), and `GetImage` on the root
//! window is all capture needs. A window is captured as the screen area it covers (from the
//! root window, so overlapping windows show as the user sees them); its position and size are
//! looked up on every frame, so moving or resizing it is followed. Wayland-only sessions are not
//! supported (XWayland windows are).

use std::time::Duration;

use image::RgbImage;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{Atom, AtomEnum, ConnectionExt, ImageFormat, ImageOrder, Window};
use x11rb::rust_connection::RustConnection;

use crate::frame::{Frame, FrameSource, Pacer, SourceError, SourceInfo, SourceKind};

/// What to capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScreenTarget {
    /// The whole first screen of the display.
    WholeScreen,
    /// The window whose title equals this text (or, failing that, contains it).
    Window(String),
}

fn x11<E: std::fmt::Display>(e: E) -> SourceError {
    SourceError::Display(e.to_string())
}

/// Captures frames from an X11 display.
#[derive(Debug)]
pub struct ScreenSource {
    conn: Option<RustConnection>,
    root: Window,
    screen_size: (u16, u16),
    target: ScreenTarget,
    window: Option<Window>,
    display: String,
    fps: Option<f64>,
    pacer: Pacer,
    sequence: u64,
    last_size: (u32, u32),
    masks: (u32, u32, u32),
    lsb_first: bool,
}

impl ScreenSource {
    /// Connects to `display` (e.g. `":99"`; `None` uses `DISPLAY`) and finds the target window.
    ///
    /// # Errors
    /// [`SourceError::NoDisplay`] without a display name, [`SourceError::Display`] when the
    /// connection fails or the screen's pixel format is not 24/32-bit true colour,
    /// [`SourceError::WindowNotFound`] when no window has the title.
    pub fn open(display: Option<&str>, target: ScreenTarget, fps: Option<f64>) -> Result<Self, SourceError> {
        let name = match display {
            Some(d) => d.to_owned(),
            None => std::env::var("DISPLAY").ok().filter(|d| !d.is_empty()).ok_or(SourceError::NoDisplay)?,
        };
        let (conn, screen_num) = x11rb::connect(Some(&name)).map_err(x11)?;
        let setup = conn.setup();
        let screen = setup.roots.get(screen_num).ok_or_else(|| x11("display has no screens"))?;
        let root = screen.root;
        let screen_size = (screen.width_in_pixels, screen.height_in_pixels);
        let bpp =
            setup.pixmap_formats.iter().find(|f| f.depth == screen.root_depth).map(|f| f.bits_per_pixel).unwrap_or(0);
        let visual = screen
            .allowed_depths
            .iter()
            .flat_map(|d| d.visuals.iter())
            .find(|v| v.visual_id == screen.root_visual)
            .ok_or_else(|| x11("root visual not found"))?;
        if bpp != 32 || !(screen.root_depth == 24 || screen.root_depth == 32) {
            return Err(x11(format!("unsupported pixel format: depth {} at {bpp} bits per pixel", screen.root_depth)));
        }
        let masks = (visual.red_mask, visual.green_mask, visual.blue_mask);
        let lsb_first = setup.image_byte_order == ImageOrder::LSB_FIRST;
        let mut source = Self {
            conn: Some(conn),
            root,
            screen_size,
            target: target.clone(),
            window: None,
            display: name,
            fps,
            pacer: Pacer::new(fps),
            sequence: 0,
            last_size: (u32::from(screen_size.0), u32::from(screen_size.1)),
            masks,
            lsb_first,
        };
        if let ScreenTarget::Window(title) = &target {
            let w = source.find_window(title)?.ok_or_else(|| SourceError::WindowNotFound { title: title.clone() })?;
            source.window = Some(w);
            let (_, _, w, h) = source.window_rect(w)?;
            source.last_size = (u32::from(w), u32::from(h));
        }
        Ok(source)
    }

    fn conn(&self) -> Result<&RustConnection, SourceError> {
        self.conn.as_ref().ok_or(SourceError::Closed)
    }

    fn atom(&self, name: &str) -> Result<Atom, SourceError> {
        Ok(self.conn()?.intern_atom(false, name.as_bytes()).map_err(x11)?.reply().map_err(x11)?.atom)
    }

    fn title(&self, w: Window, net_wm_name: Atom, utf8: Atom) -> Result<Option<String>, SourceError> {
        let conn = self.conn()?;
        for (prop, ty) in [(net_wm_name, utf8), (AtomEnum::WM_NAME.into(), AtomEnum::STRING.into())] {
            let Ok(cookie) = conn.get_property(false, w, prop, ty, 0, 1024) else { continue };
            if let Ok(reply) = cookie.reply()
                && !reply.value.is_empty()
            {
                return Ok(Some(String::from_utf8_lossy(&reply.value).into_owned()));
            }
        }
        Ok(None)
    }

    /// Depth-first search of the window tree: an exact title match wins over a substring match.
    fn find_window(&self, title: &str) -> Result<Option<Window>, SourceError> {
        let net_wm_name = self.atom("_NET_WM_NAME")?;
        let utf8 = self.atom("UTF8_STRING")?;
        let mut stack = vec![self.root];
        let mut partial = None;
        while let Some(w) = stack.pop() {
            if w != self.root
                && let Some(t) = self.title(w, net_wm_name, utf8)?
            {
                if t == title {
                    return Ok(Some(w));
                }
                if partial.is_none() && t.contains(title) {
                    partial = Some(w);
                }
            }
            if let Ok(reply) = self.conn()?.query_tree(w).map_err(x11)?.reply() {
                stack.extend(reply.children.iter().rev());
            }
        }
        Ok(partial)
    }

    /// The window's rectangle on the root window, clipped to the screen.
    fn window_rect(&self, w: Window) -> Result<(i16, i16, u16, u16), SourceError> {
        let conn = self.conn()?;
        let title_gone = || SourceError::WindowNotFound {
            title: match &self.target {
                ScreenTarget::Window(t) => t.clone(),
                ScreenTarget::WholeScreen => String::new(),
            },
        };
        let geo = conn.get_geometry(w).map_err(x11)?.reply().map_err(|_| title_gone())?;
        let pos = conn.translate_coordinates(w, self.root, 0, 0).map_err(x11)?.reply().map_err(|_| title_gone())?;
        let (sw, sh) = (i32::from(self.screen_size.0), i32::from(self.screen_size.1));
        let x0 = i32::from(pos.dst_x).clamp(0, sw);
        let y0 = i32::from(pos.dst_y).clamp(0, sh);
        let x1 = (i32::from(pos.dst_x) + i32::from(geo.width)).clamp(0, sw);
        let y1 = (i32::from(pos.dst_y) + i32::from(geo.height)).clamp(0, sh);
        if x1 <= x0 || y1 <= y0 {
            return Err(x11("window is entirely off screen"));
        }
        Ok((x0 as i16, y0 as i16, (x1 - x0) as u16, (y1 - y0) as u16))
    }

    fn grab(&self) -> Result<RgbImage, SourceError> {
        let (x, y, w, h) = match self.window {
            Some(win) => self.window_rect(win)?,
            None => (0, 0, self.screen_size.0, self.screen_size.1),
        };
        let reply = self
            .conn()?
            .get_image(ImageFormat::Z_PIXMAP, self.root, x, y, w, h, !0)
            .map_err(x11)?
            .reply()
            .map_err(x11)?;
        let (w, h) = (u32::from(w), u32::from(h));
        let need = (w as usize) * (h as usize) * 4;
        if reply.data.len() < need {
            return Err(x11(format!("short image: {} bytes for {w}x{h}", reply.data.len())));
        }
        let channel = |px: u32, mask: u32| -> u8 {
            if mask == 0 {
                return 0;
            }
            let shifted = (px & mask) >> mask.trailing_zeros();
            let bits = (mask >> mask.trailing_zeros()).count_ones();
            if bits >= 8 { (shifted >> (bits - 8)) as u8 } else { (shifted << (8 - bits)) as u8 }
        };
        let mut img = RgbImage::new(w, h);
        for (i, px) in img.pixels_mut().enumerate() {
            let b = &reply.data[i * 4..i * 4 + 4];
            let v = if self.lsb_first {
                u32::from_le_bytes([b[0], b[1], b[2], b[3]])
            } else {
                u32::from_be_bytes([b[0], b[1], b[2], b[3]])
            };
            px.0 = [channel(v, self.masks.0), channel(v, self.masks.1), channel(v, self.masks.2)];
        }
        Ok(img)
    }
}

impl FrameSource for ScreenSource {
    fn info(&self) -> SourceInfo {
        let name = match &self.target {
            ScreenTarget::WholeScreen => format!("screen {}", self.display),
            ScreenTarget::Window(t) => format!("window {t:?} on {}", self.display),
        };
        SourceInfo {
            kind: SourceKind::Screen,
            name,
            width: self.last_size.0,
            height: self.last_size.1,
            fps: self.fps,
            frame_count: None,
        }
    }

    fn next_frame(&mut self, timeout: Duration) -> Result<Frame, SourceError> {
        self.conn()?;
        self.pacer.wait(timeout)?;
        let image = self.grab()?;
        self.last_size = image.dimensions();
        let frame = Frame { image, timestamp: self.pacer.elapsed(), sequence: self.sequence };
        self.sequence += 1;
        Ok(frame)
    }

    fn close(&mut self) -> Result<(), SourceError> {
        self.conn = None;
        Ok(())
    }
}
