//! Screen capture under a private Xvfb: a window showing a QR code is found by title, captured, and decoded; the whole screen too.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use realname_scan::screen::{ScreenSource, ScreenTarget};
use realname_scan::{FrameSource, QrReader, SourceError, SourceKind, SourceSpec, open_source, payload};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    AtomEnum, ConnectionExt as _, CreateGCAux, CreateWindowAux, ImageFormat, PropMode, WindowClass,
};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

/// A private X server. Xvfb picks a free display number itself and writes it to the pipe we
/// pass as `-displayfd` once it accepts connections, so there is no polling and no clash with
/// other displays. Killed on drop.
struct Xvfb {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    display: String,
}

impl Xvfb {
    fn start() -> anyhow::Result<Self> {
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1024x768x24", "-nolisten", "tcp"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start Xvfb (apt package xvfb)")?;
        let mut stdout = BufReader::new(child.stdout.take().context("Xvfb stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let n: u32 = match line.trim().parse() {
            Ok(n) => n,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("Xvfb did not report a display number (got {line:?})");
            }
        };
        Ok(Self { child, _stdout: stdout, display: format!(":{n}") })
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The display to test on: a private Xvfb when the binary exists, else `DISPLAY`.
fn display() -> anyhow::Result<(Option<Xvfb>, String)> {
    match Xvfb::start() {
        Ok(x) => {
            let d = x.display.clone();
            Ok((Some(x), d))
        }
        Err(e) => match std::env::var("DISPLAY") {
            Ok(d) if !d.is_empty() => Ok((None, d)),
            _ => Err(e.context("no Xvfb and DISPLAY unset: screen capture cannot be tested")),
        },
    }
}

/// Opens a window titled `title` at (x, y) whose background is a QR code of `text`.
fn show_qr_window(display: &str, title: &str, text: &str, x: i16, y: i16) -> anyhow::Result<RustConnection> {
    let (conn, screen_num) = x11rb::connect(Some(display))?;
    let screen = conn.setup().roots[screen_num].clone();
    let code = qrcode::QrCode::new(text.as_bytes())?;
    let img = code.render::<image::Luma<u8>>().module_dimensions(6, 6).build();
    let (w, h) = (img.width() as u16, img.height() as u16);
    let pixmap = conn.generate_id()?;
    conn.create_pixmap(screen.root_depth, pixmap, screen.root, w, h)?;
    let gc = conn.generate_id()?;
    conn.create_gc(gc, pixmap, &CreateGCAux::new())?;
    // 32-bit BGRX rows, sent in strips well under the core request size limit.
    let rows_per_strip = (60_000 / (usize::from(w) * 4)).max(1) as u16;
    let mut y0 = 0u16;
    while y0 < h {
        let rows = rows_per_strip.min(h - y0);
        let mut data = Vec::with_capacity(usize::from(w) * usize::from(rows) * 4);
        for yy in y0..y0 + rows {
            for xx in 0..w {
                let v = img.get_pixel(u32::from(xx), u32::from(yy)).0[0];
                data.extend_from_slice(&[v, v, v, 0]);
            }
        }
        conn.put_image(ImageFormat::Z_PIXMAP, pixmap, gc, w, rows, 0, y0 as i16, 0, screen.root_depth, &data)?;
        y0 += rows;
    }
    let win = conn.generate_id()?;
    conn.create_window(
        x11rb::COPY_DEPTH_FROM_PARENT,
        win,
        screen.root,
        x,
        y,
        w,
        h,
        0,
        WindowClass::INPUT_OUTPUT,
        0,
        &CreateWindowAux::new().background_pixmap(pixmap),
    )?;
    conn.change_property8(PropMode::REPLACE, win, AtomEnum::WM_NAME, AtomEnum::STRING, title.as_bytes())?;
    conn.map_window(win)?;
    // A round trip: every request above has been processed (and the window painted) after it.
    conn.sync()?;
    Ok(conn)
}

#[test]
fn captures_window_by_title_and_whole_screen() -> anyhow::Result<()> {
    let (_xvfb, display) = display()?;
    let url = payload::qr_url("http://127.0.0.1:8080", &payload::test_handle(3));
    let _window = show_qr_window(&display, "Realname - scan me", &url, 100, 80)?;
    let reader = QrReader::default();

    let mut win = open_source(&SourceSpec::parse(&format!("screen:display={display};window=Realname@20fps"))?)?;
    let info = win.info();
    assert_eq!(info.kind, SourceKind::Screen);
    let frame = win.next_frame(Duration::from_secs(2))?;
    assert_eq!(frame.image.dimensions(), (info.width, info.height));
    let codes = reader.read(&frame.image).codes;
    assert_eq!(
        codes.iter().map(|c| c.text()).collect::<Vec<_>>(),
        std::slice::from_ref(&url),
        "QR in the window capture"
    );
    // Window capture is in window coordinates: the code's quiet zone is 4 modules of 6 px.
    let (cx, cy) = codes[0].corners[0];
    assert!(cx < 40.0 && cy < 40.0, "corner {:?}", codes[0].corners);
    win.close()?;
    assert!(matches!(win.next_frame(Duration::from_millis(10)), Err(SourceError::Closed)));

    let mut screen = ScreenSource::open(Some(&display), ScreenTarget::WholeScreen, None)?;
    let frame = screen.next_frame(Duration::from_secs(2))?;
    if _xvfb.is_some() {
        assert_eq!(frame.image.dimensions(), (1024, 768));
    }
    let codes = reader.read(&frame.image).codes;
    let code = codes.first().context("QR on the whole screen")?;
    assert_eq!(code.text(), url);
    assert!(code.corners[0].0 >= 100.0 && code.corners[0].1 >= 80.0, "screen coordinates {:?}", code.corners);
    Ok(())
}

#[test]
fn missing_window_and_bad_display_are_typed_errors() -> anyhow::Result<()> {
    let (_xvfb, display) = display()?;
    match ScreenSource::open(Some(&display), ScreenTarget::Window("no such window 1234".into()), None) {
        Err(SourceError::WindowNotFound { title }) => assert_eq!(title, "no such window 1234"),
        other => panic!("expected WindowNotFound, got {:?}", other.map(|s| s.info())),
    }
    assert!(matches!(ScreenSource::open(Some(":4321"), ScreenTarget::WholeScreen, None), Err(SourceError::Display(_))));
    // Without a display name the source reads DISPLAY; when that is unset (as under CI) the
    // error says so. (Changing the variable here would race with other tests.)
    if std::env::var_os("DISPLAY").is_none_or(|d| d.is_empty()) {
        assert!(matches!(ScreenSource::open(None, ScreenTarget::WholeScreen, None), Err(SourceError::NoDisplay)));
    }
    Ok(())
}
