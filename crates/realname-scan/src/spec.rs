//! Source spec strings for command lines (`webcam:0@1280x720`, `dir:frames/@10fps,loop`, ...) and opening them.
//!
//! # Syntax
//!
//! ```text
//! spec      = kind [ ":" body ] [ "@" modifiers ]
//! modifiers = modifier { "," modifier }          (may be empty: a trailing "@" ends the body)
//! modifier  = <W>x<H> | <N>fps | loop | once
//! ```
//!
//! The body ends at the **last** `@`; a path or name that itself contains `@` is written with
//! a trailing `@` (`file:me@home.png@`). Every kind accepts only the modifiers listed for it,
//! keys may not repeat, and numbers are range-checked; anything else is a [`SpecError`].
//!
//! | kind | body | modifiers | example |
//! |---|---|---|---|
//! | `webcam` | none (camera 0), `<index>`, or `name=<device name>` | `WxH`, `Nfps` (integer) | `webcam:0@1280x720,30fps`, `webcam:name=HD Camera` |
//! | `screen` | none, or `;`-separated `window=<title>`, `display=<X display>` | `Nfps` | `screen`, `screen:window=Realname@5fps` |
//! | `file` | path of a PNG/JPEG | `Nfps`, `loop`, `once` (default: the image once) | `file:a.png`, `file:a.png@2fps,loop` |
//! | `dir` | folder of PNG/JPEG played in name order, or as a recorder's `index.json` says | `Nfps`, `loop`, `once` | `dir:frames/@10fps,loop` |
//! | `synthetic` | `;`-separated `key=value` (below) | `WxH` (default 640x480), `Nfps` | `synthetic:qr=<payload>;face=<path>;perspective=20;blur=1.5;seed=7` |
//!
//! Synthetic keys: `qr` (payload text; `%`-encode `;`, `@`, `%` as `%3B`, `%40`, `%25`),
//! `face` (image path), `perspective` (max tilt in degrees, 0–30), `blur` (defocus sigma in
//! px, 0–8), `moire` (0–1), `glare` (0–1), `noise` (sigma in grey levels, 0–64), `seed`
//! (u64), `frames` (stop after N frames). At least one of `qr` and `face` is required.
//!
//! Without `Nfps` a folder replays a recorder's timestamps when it has an `index.json` and
//! otherwise plays at 10 fps; a file and the synthetic source deliver frames as fast as asked.

use std::fmt;
use std::path::PathBuf;

use crate::file::{ImageFileSource, ImageSequenceSource, Playback};
use crate::frame::{FrameSource, SourceError};
use crate::synthetic::{SyntheticConfig, SyntheticSource};

/// Which camera a `webcam` spec means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSelector {
    /// The n-th camera the backend lists.
    Index(u32),
    /// The camera whose name equals this (or, failing that, contains it).
    Name(String),
}

impl fmt::Display for DeviceSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Index(i) => write!(f, "index {i}"),
            Self::Name(n) => write!(f, "name {n:?}"),
        }
    }
}

/// A parsed source spec; [`open_source`] opens it.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    /// A camera.
    Webcam {
        /// Which camera.
        device: DeviceSelector,
        /// Wanted resolution (the closest the camera offers is used).
        resolution: Option<(u32, u32)>,
        /// Wanted frame rate.
        fps: Option<u32>,
    },
    /// The X11 screen or one window.
    Screen {
        /// X display such as `:99`; `None` uses `DISPLAY`.
        display: Option<String>,
        /// Capture only the window with this title.
        window: Option<String>,
        /// Capture rate (default 10).
        fps: Option<f64>,
    },
    /// One image file.
    File {
        /// The image.
        path: PathBuf,
        /// Frame rate when looping.
        fps: Option<f64>,
        /// Repeat forever instead of delivering the image once.
        looping: bool,
    },
    /// A folder of images.
    Dir {
        /// The folder.
        path: PathBuf,
        /// Playback rate; `None` replays recorded timestamps or uses 10 fps.
        fps: Option<f64>,
        /// Start again after the last image.
        looping: bool,
    },
    /// Generated frames.
    Synthetic(SyntheticConfig),
}

/// Why a spec string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The string is empty.
    #[error("empty source spec")]
    Empty,
    /// The part before `:` is not a known kind.
    #[error("unknown source kind {0:?} (expected webcam, screen, file, dir or synthetic)")]
    UnknownKind(String),
    /// `file:` or `dir:` without a path.
    #[error("{kind}: missing path")]
    MissingPath {
        /// The kind.
        kind: &'static str,
    },
    /// A modifier after `@` is malformed or not accepted by this kind.
    #[error("{kind}: modifier {modifier:?} not accepted here")]
    InvalidModifier {
        /// The kind.
        kind: &'static str,
        /// The modifier text.
        modifier: String,
    },
    /// A modifier or key appears twice (or `loop` together with `once`).
    #[error("{0:?} given twice")]
    Duplicate(String),
    /// A `key=value` body has an unknown key, or a part without `=`.
    #[error("{kind}: unknown key {key:?}")]
    UnknownKey {
        /// The kind.
        kind: &'static str,
        /// The key.
        key: String,
    },
    /// A value does not parse or lies outside its range.
    #[error("{key}: invalid value {value:?} (expected {expected})")]
    InvalidValue {
        /// The key or modifier.
        key: String,
        /// The text given.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// A synthetic spec with neither `qr` nor `face`.
    #[error("synthetic: give qr=<payload> and/or face=<path>")]
    NothingToRender,
}

#[derive(Default)]
struct Modifiers {
    resolution: Option<(u32, u32)>,
    fps: Option<f64>,
    looping: Option<bool>,
}

fn invalid(key: &str, value: &str, expected: &'static str) -> SpecError {
    SpecError::InvalidValue { key: key.to_owned(), value: value.to_owned(), expected }
}

fn parse_modifiers(kind: &'static str, text: &str, allowed: &[&str]) -> Result<Modifiers, SpecError> {
    let mut m = Modifiers::default();
    if text.is_empty() {
        return Ok(m);
    }
    for raw in text.split(',') {
        let item = raw.trim();
        let reject = || SpecError::InvalidModifier { kind, modifier: item.to_owned() };
        if let Some(n) = item.strip_suffix("fps") {
            if !allowed.contains(&"fps") {
                return Err(reject());
            }
            let fps: f64 = n.parse().map_err(|_| invalid("fps", n, "a number of frames per second"))?;
            if !(fps.is_finite() && fps > 0.0 && fps <= 1000.0) {
                return Err(invalid("fps", n, "0 < fps <= 1000"));
            }
            if m.fps.replace(fps).is_some() {
                return Err(SpecError::Duplicate("fps".into()));
            }
        } else if item == "loop" || item == "once" {
            if !allowed.contains(&"loop") {
                return Err(reject());
            }
            if m.looping.replace(item == "loop").is_some() {
                return Err(SpecError::Duplicate(item.into()));
            }
        } else if let Some((w, h)) = item.split_once('x') {
            if !allowed.contains(&"size") {
                return Err(reject());
            }
            let parse = |s: &str| -> Result<u32, SpecError> {
                match s.parse::<u32>() {
                    Ok(v) if (16..=16384).contains(&v) => Ok(v),
                    _ => Err(invalid("resolution", item, "<W>x<H> with sides 16..=16384")),
                }
            };
            let res = (parse(w)?, parse(h)?);
            if m.resolution.replace(res).is_some() {
                return Err(SpecError::Duplicate("resolution".into()));
            }
        } else {
            return Err(reject());
        }
    }
    Ok(m)
}

/// Splits `a=1;b=2` into pairs, rejecting duplicates and parts without `=`.
fn key_values<'a>(kind: &'static str, body: &'a str) -> Result<Vec<(&'a str, &'a str)>, SpecError> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for part in body.split(';').filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(SpecError::UnknownKey { kind, key: part.to_owned() });
        };
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(SpecError::Duplicate(k.to_owned()));
        }
        out.push((k, v));
    }
    Ok(out)
}

fn percent_decode(key: &str, s: &str) -> Result<String, SpecError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
            match byte {
                Some(b) => out.push(b),
                None => return Err(invalid(key, s, "%XX escapes with two hex digits")),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| invalid(key, s, "UTF-8 text after %-decoding"))
}

fn ranged_f32(key: &str, v: &str, lo: f32, hi: f32, expected: &'static str) -> Result<f32, SpecError> {
    match v.parse::<f32>() {
        Ok(x) if x.is_finite() && (lo..=hi).contains(&x) => Ok(x),
        _ => Err(invalid(key, v, expected)),
    }
}

impl SourceSpec {
    /// Parses a spec string (syntax in the module documentation).
    ///
    /// # Errors
    /// A [`SpecError`] naming the offending part.
    pub fn parse(spec: &str) -> Result<Self, SpecError> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(SpecError::Empty);
        }
        let (head, modifiers) = match spec.rsplit_once('@') {
            Some((h, m)) => (h, m),
            None => (spec, ""),
        };
        let (kind, body) = match head.split_once(':') {
            Some((k, b)) => (k, Some(b)),
            None => (head, None),
        };
        match kind {
            "webcam" => {
                let m = parse_modifiers("webcam", modifiers, &["size", "fps"])?;
                let device = match body {
                    None | Some("") => DeviceSelector::Index(0),
                    Some(b) => match b.strip_prefix("name=") {
                        Some("") => return Err(invalid("name", "", "a non-empty device name")),
                        Some(name) => DeviceSelector::Name(name.to_owned()),
                        None => DeviceSelector::Index(
                            b.parse().map_err(|_| invalid("webcam", b, "a camera index or name=<name>"))?,
                        ),
                    },
                };
                let fps = match m.fps {
                    None => None,
                    Some(f) if f.fract() == 0.0 => Some(f as u32),
                    Some(f) => return Err(invalid("fps", &f.to_string(), "a whole number for a webcam")),
                };
                Ok(Self::Webcam { device, resolution: m.resolution, fps })
            }
            "screen" => {
                let m = parse_modifiers("screen", modifiers, &["fps"])?;
                let (mut display, mut window) = (None, None);
                for (k, v) in key_values("screen", body.unwrap_or(""))? {
                    if v.is_empty() {
                        return Err(invalid(k, v, "a non-empty value"));
                    }
                    match k {
                        "window" => window = Some(v.to_owned()),
                        "display" => display = Some(v.to_owned()),
                        _ => return Err(SpecError::UnknownKey { kind: "screen", key: k.to_owned() }),
                    }
                }
                Ok(Self::Screen { display, window, fps: m.fps })
            }
            "file" | "dir" => {
                let kind: &'static str = if kind == "file" { "file" } else { "dir" };
                let m = parse_modifiers(kind, modifiers, &["fps", "loop"])?;
                let path = match body {
                    Some(p) if !p.is_empty() => PathBuf::from(p),
                    _ => return Err(SpecError::MissingPath { kind }),
                };
                let looping = m.looping.unwrap_or(false);
                Ok(if kind == "file" {
                    Self::File { path, fps: m.fps, looping }
                } else {
                    Self::Dir { path, fps: m.fps, looping }
                })
            }
            "synthetic" => {
                let m = parse_modifiers("synthetic", modifiers, &["size", "fps"])?;
                let mut c = SyntheticConfig::default();
                if let Some((w, h)) = m.resolution {
                    c.width = w;
                    c.height = h;
                }
                c.fps = m.fps;
                for (k, v) in key_values("synthetic", body.unwrap_or(""))? {
                    match k {
                        "qr" => {
                            let text = percent_decode(k, v)?;
                            if text.is_empty() || text.len() > 2000 {
                                return Err(invalid(k, v, "1 to 2000 bytes of payload"));
                            }
                            c.qr_payload = Some(text);
                        }
                        "face" if !v.is_empty() => c.face = Some(PathBuf::from(v)),
                        "face" => return Err(invalid(k, v, "an image path")),
                        "perspective" => c.perspective_deg = ranged_f32(k, v, 0.0, 30.0, "degrees 0..=30")?,
                        "blur" => c.blur_sigma = ranged_f32(k, v, 0.0, 8.0, "sigma in pixels 0..=8")?,
                        "moire" => c.moire = ranged_f32(k, v, 0.0, 1.0, "strength 0..=1")?,
                        "glare" => c.glare = ranged_f32(k, v, 0.0, 1.0, "strength 0..=1")?,
                        "noise" => c.noise = ranged_f32(k, v, 0.0, 64.0, "sigma in grey levels 0..=64")?,
                        "seed" => c.seed = v.parse().map_err(|_| invalid(k, v, "an unsigned 64-bit integer"))?,
                        "frames" => match v.parse::<u64>() {
                            Ok(n) if n > 0 => c.frames = Some(n),
                            _ => return Err(invalid(k, v, "a frame count > 0")),
                        },
                        _ => return Err(SpecError::UnknownKey { kind: "synthetic", key: k.to_owned() }),
                    }
                }
                if c.qr_payload.is_none() && c.face.is_none() {
                    return Err(SpecError::NothingToRender);
                }
                Ok(Self::Synthetic(c))
            }
            other => Err(SpecError::UnknownKind(other.to_owned())),
        }
    }
}

impl std::str::FromStr for SourceSpec {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Opens the source a spec describes.
///
/// # Errors
/// Whatever the source's constructor reports, e.g. [`SourceError::NoSuchDevice`] for a webcam
/// on a machine without cameras, [`SourceError::NoDisplay`] for `screen` without X11, or
/// [`SourceError::FeatureDisabled`] when this build lacks the `webcam`/`screen` feature.
pub fn open_source(spec: &SourceSpec) -> Result<Box<dyn FrameSource>, SourceError> {
    match spec {
        #[cfg(feature = "webcam")]
        SourceSpec::Webcam { device, resolution, fps } => {
            let cfg = crate::webcam::WebcamConfig {
                device: device.clone(),
                resolution: *resolution,
                fps: *fps,
                ..Default::default()
            };
            Ok(Box::new(crate::webcam::WebcamSource::open(cfg)?))
        }
        #[cfg(not(feature = "webcam"))]
        SourceSpec::Webcam { .. } => Err(SourceError::FeatureDisabled("webcam")),
        #[cfg(feature = "screen")]
        SourceSpec::Screen { display, window, fps } => {
            let target = match window {
                Some(t) => crate::screen::ScreenTarget::Window(t.clone()),
                None => crate::screen::ScreenTarget::WholeScreen,
            };
            Ok(Box::new(crate::screen::ScreenSource::open(display.as_deref(), target, fps.or(Some(10.0)))?))
        }
        #[cfg(not(feature = "screen"))]
        SourceSpec::Screen { .. } => Err(SourceError::FeatureDisabled("screen")),
        SourceSpec::File { path, fps, looping } => {
            let playback = if *looping { Playback::Loop } else { Playback::Once };
            Ok(Box::new(ImageFileSource::open(path, *fps, playback)?))
        }
        SourceSpec::Dir { path, fps, looping } => {
            let playback = if *looping { Playback::Loop } else { Playback::Once };
            Ok(Box::new(ImageSequenceSource::open(path, *fps, playback)?))
        }
        SourceSpec::Synthetic(c) => Ok(Box::new(SyntheticSource::new(c.clone())?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_from_the_brief_parse() {
        assert_eq!(
            SourceSpec::parse("webcam:0@1280x720"),
            Ok(SourceSpec::Webcam { device: DeviceSelector::Index(0), resolution: Some((1280, 720)), fps: None })
        );
        assert_eq!(
            SourceSpec::parse("webcam:name=HD Camera@640x480,30fps"),
            Ok(SourceSpec::Webcam {
                device: DeviceSelector::Name("HD Camera".into()),
                resolution: Some((640, 480)),
                fps: Some(30)
            })
        );
        assert_eq!(SourceSpec::parse("screen"), Ok(SourceSpec::Screen { display: None, window: None, fps: None }));
        assert_eq!(
            SourceSpec::parse("screen:window=Realname"),
            Ok(SourceSpec::Screen { display: None, window: Some("Realname".into()), fps: None })
        );
        assert_eq!(
            SourceSpec::parse("file:a.png"),
            Ok(SourceSpec::File { path: "a.png".into(), fps: None, looping: false })
        );
        assert_eq!(
            SourceSpec::parse("dir:frames/@10fps,loop"),
            Ok(SourceSpec::Dir { path: "frames/".into(), fps: Some(10.0), looping: true })
        );
        assert_eq!(
            SourceSpec::parse("file:me@home.png@"),
            Ok(SourceSpec::File { path: "me@home.png".into(), fps: None, looping: false })
        );
        let Ok(SourceSpec::Synthetic(c)) = SourceSpec::parse(
            "synthetic:qr=http://127.0.0.1:8080/v1/q/a%3Bb;face=f.png;perspective=20;blur=1.5;seed=7",
        ) else {
            panic!("synthetic spec should parse");
        };
        assert_eq!(c.qr_payload.as_deref(), Some("http://127.0.0.1:8080/v1/q/a;b"));
        assert_eq!(c.face, Some(PathBuf::from("f.png")));
        assert_eq!((c.perspective_deg, c.blur_sigma, c.seed), (20.0, 1.5, 7));
    }

    #[test]
    fn strict_rejections() {
        use SpecError as E;
        assert_eq!(SourceSpec::parse(""), Err(E::Empty));
        assert!(matches!(SourceSpec::parse("camera:0"), Err(E::UnknownKind(_))));
        assert!(matches!(SourceSpec::parse("file:"), Err(E::MissingPath { .. })));
        assert!(matches!(SourceSpec::parse("dir"), Err(E::MissingPath { .. })));
        assert!(matches!(SourceSpec::parse("webcam:0@loop"), Err(E::InvalidModifier { .. })));
        assert!(matches!(SourceSpec::parse("screen@640x480"), Err(E::InvalidModifier { .. })));
        assert!(matches!(SourceSpec::parse("dir:x@10fps,5fps"), Err(E::Duplicate(_))));
        assert!(matches!(SourceSpec::parse("dir:x@loop,once"), Err(E::Duplicate(_))));
        assert!(matches!(SourceSpec::parse("dir:x@0fps"), Err(E::InvalidValue { .. })));
        assert!(matches!(SourceSpec::parse("webcam:0@0x720"), Err(E::InvalidValue { .. })));
        assert!(matches!(SourceSpec::parse("webcam:abc"), Err(E::InvalidValue { .. })));
        assert!(matches!(SourceSpec::parse("webcam:0@29.97fps"), Err(E::InvalidValue { .. })));
        assert!(matches!(SourceSpec::parse("synthetic:qr=x;perspective=31"), Err(E::InvalidValue { .. })));
        assert!(matches!(SourceSpec::parse("synthetic:qr=x;qr=y"), Err(E::Duplicate(_))));
        assert!(matches!(SourceSpec::parse("synthetic:qr=x;colour=red"), Err(E::UnknownKey { .. })));
        assert!(matches!(SourceSpec::parse("synthetic:qr=%zz"), Err(E::InvalidValue { .. })));
        assert!(matches!(SourceSpec::parse("synthetic:seed=1"), Err(E::NothingToRender)));
        assert!(matches!(SourceSpec::parse("screen:title=x"), Err(E::UnknownKey { .. })));
    }
}
