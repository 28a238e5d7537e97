//! File, folder, synthetic and recorder sources end to end, through spec strings where a CLI would use them.

use std::path::Path;
use std::time::Duration;

use image::{Rgb, RgbImage};
use realname_scan::{
    FrameSource, ImageFormat, ImageSequenceSource, Playback, QrReader, Recorder, SourceError, SourceKind, SourceSpec,
    SyntheticConfig, SyntheticSource, open_source, payload,
};

const T: Duration = Duration::from_secs(2);

fn solid(w: u32, h: u32, v: u8) -> RgbImage {
    RgbImage::from_pixel(w, h, Rgb([v, 255 - v, v / 2]))
}

fn open(spec: &str) -> anyhow::Result<Box<dyn FrameSource>> {
    Ok(open_source(&SourceSpec::parse(spec)?)?)
}

#[test]
fn image_file_once_then_end_and_closed() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("a.png");
    solid(32, 24, 10).save(&path)?;
    let mut src = open(&format!("file:{}", path.display()))?;
    let info = src.info();
    assert_eq!((info.kind, info.width, info.height, info.frame_count), (SourceKind::ImageFile, 32, 24, Some(1)));
    let f = src.next_frame(T)?;
    assert_eq!((f.sequence, f.image.dimensions()), (0, (32, 24)));
    assert!(matches!(src.next_frame(T), Err(SourceError::EndOfStream)));
    src.close()?;
    assert!(matches!(src.next_frame(T), Err(SourceError::Closed)));
    Ok(())
}

#[test]
fn image_file_loops_at_fps() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("a.jpg");
    solid(16, 16, 200).save(&path)?;
    let mut src = open(&format!("file:{}@100fps,loop", path.display()))?;
    let t0 = std::time::Instant::now();
    for i in 0..5 {
        assert_eq!(src.next_frame(T)?.sequence, i);
    }
    // Frames 0..4 are due at 0, 10, ..., 40 ms.
    assert!(t0.elapsed() >= Duration::from_millis(39), "{:?}", t0.elapsed());
    Ok(())
}

#[test]
fn missing_and_broken_files_are_typed_errors() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    assert!(matches!(open_source(&SourceSpec::parse("file:/nonexistent/x.png")?), Err(SourceError::Io { .. })));
    let bad = dir.path().join("bad.png");
    std::fs::write(&bad, b"not a png")?;
    assert!(matches!(
        open_source(&SourceSpec::parse(&format!("file:{}", bad.display()))?),
        Err(SourceError::Image { .. })
    ));
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty)?;
    assert!(matches!(
        open_source(&SourceSpec::parse(&format!("dir:{}", empty.display()))?),
        Err(SourceError::EmptyFolder { .. })
    ));
    std::fs::write(empty.join("index.json"), b"{\"version\":1,\"source\":\"x\",\"frames\":[{\"file\":\"../etc\",\"sequence\":0,\"timestamp_us\":0,\"width\":1,\"height\":1}]}")?;
    assert!(matches!(
        open_source(&SourceSpec::parse(&format!("dir:{}", empty.display()))?),
        Err(SourceError::InvalidIndex { .. })
    ));
    Ok(())
}

fn write_numbered(dir: &Path) -> anyhow::Result<()> {
    // Name order must be natural: 1, 2, 10 (not 1, 10, 2); non-images are ignored.
    for (name, v) in [("f10.png", 30u8), ("f1.png", 10), ("f2.jpg", 20)] {
        solid(20, 10, v).save(dir.join(name))?;
    }
    std::fs::write(dir.join("notes.txt"), b"ignored")?;
    Ok(())
}

#[test]
fn folder_plays_in_natural_order_once_and_looped() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    write_numbered(dir.path())?;
    let mut once = open(&format!("dir:{}/@200fps", dir.path().display()))?;
    assert_eq!(once.info().frame_count, Some(3));
    let reds: Vec<u8> =
        (0..3).map(|_| once.next_frame(T).map(|f| f.image.get_pixel(0, 0).0[0])).collect::<Result<_, _>>()?;
    // JPEG is lossy: compare roughly.
    assert!(reds[0].abs_diff(10) <= 3 && reds[1].abs_diff(20) <= 6 && reds[2].abs_diff(30) <= 3, "{reds:?}");
    assert!(matches!(once.next_frame(T), Err(SourceError::EndOfStream)));
    let mut looped = open(&format!("dir:{}/@200fps,loop", dir.path().display()))?;
    let seqs: Vec<u64> = (0..7).map(|_| looped.next_frame(T).map(|f| f.sequence)).collect::<Result<_, _>>()?;
    assert_eq!(seqs, [0, 1, 2, 3, 4, 5, 6]);
    let src = ImageSequenceSource::open(dir.path(), Some(200.0), Playback::Once)?;
    let names: Vec<_> =
        src.files().iter().filter_map(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["f1.png", "f2.jpg", "f10.png"]);
    Ok(())
}

#[test]
fn recorder_round_trips_through_folder_source() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = payload::qr_url("http://127.0.0.1:8080", &payload::test_handle(1));
    let spec = format!("synthetic:qr={url};perspective=15;noise=3;seed=5;frames=4@320x240,50fps");
    let mut source = open(&spec)?;
    let mut originals = Vec::new();
    let mut rec = Recorder::create(dir.path().join("png"), ImageFormat::Png, &source.info().name)?;
    loop {
        match source.next_frame(T) {
            Ok(f) => {
                rec.record(&f)?;
                originals.push(f);
            }
            Err(SourceError::EndOfStream) => break,
            Err(e) => return Err(e.into()),
        }
    }
    assert_eq!(rec.index().frames.len(), 4);
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("png/index.json"))?)?;
    assert_eq!(index["frames"][3]["file"], "000003.png");
    assert_eq!(index["frames"][1]["timestamp_us"], 20_000);
    // Replay without fps: recorded timing, identical pixels (PNG is lossless).
    let mut replay = open(&format!("dir:{}", dir.path().join("png").display()))?;
    for orig in &originals {
        let f = replay.next_frame(T)?;
        assert_eq!(f.timestamp, orig.timestamp);
        assert!(f.image == orig.image, "frame {} differs", orig.sequence);
    }
    assert!(matches!(replay.next_frame(T), Err(SourceError::EndOfStream)));
    // JPEG recording of a synthetic source via record_from; the QR stays readable.
    let mut rec = Recorder::create(dir.path().join("jpg"), ImageFormat::Jpeg(90), "synthetic")?;
    let mut again = open(&spec)?;
    assert_eq!(rec.record_from(&mut *again, 10, T)?, 4);
    let mut replay = open(&format!("dir:{}@1000fps", dir.path().join("jpg").display()))?;
    let reader = QrReader::default();
    let frame = replay.next_frame(T)?;
    assert_eq!(frame.image.dimensions(), (320, 240));
    let texts: Vec<String> = reader.read(&frame.image).codes.iter().map(|c| c.text()).collect();
    assert_eq!(texts, [url]);
    assert!(matches!(
        Recorder::create(dir.path().join("q"), ImageFormat::Jpeg(0), "x"),
        Err(SourceError::InvalidConfig(_))
    ));
    Ok(())
}

#[test]
fn synthetic_face_and_qr_with_corner_ground_truth() -> anyhow::Result<()> {
    let shared = crate::corpus::shared_dir()?;
    let face =
        realname_scan::synthetic::demo_face(&shared).ok_or_else(|| anyhow::anyhow!("no face image in shared data"))?;
    let url = payload::qr_url("http://127.0.0.1:8080", &payload::test_handle(9));
    let mut src = open(&format!("synthetic:qr={url};face={};perspective=20;blur=1;seed=7;frames=2", face.display()))?;
    assert_eq!(src.info().kind, SourceKind::Synthetic);
    let f = src.next_frame(T)?;
    assert_eq!(f.image.dimensions(), (640, 480));
    let synthetic = SyntheticSource::new(SyntheticConfig {
        qr_payload: Some(url.clone()),
        face: Some(face.clone()),
        perspective_deg: 20.0,
        blur_sigma: 1.0,
        seed: 7,
        ..Default::default()
    })?;
    let rendered = synthetic.render(0);
    assert!(rendered.image == f.image, "spec and config render the same frame");
    let truth = rendered.qr_corners.ok_or_else(|| anyhow::anyhow!("QR corners"))?;
    let out = QrReader::default().read(&f.image);
    let code = out.codes.first().ok_or_else(|| anyhow::anyhow!("no QR read: {out:?}"))?;
    assert_eq!(code.text(), url);
    // Every detected corner lies within 3 modules (~20 px) of a true corner.
    for (x, y) in code.corners {
        let d = truth.iter().map(|(tx, ty)| ((tx - x).powi(2) + (ty - y).powi(2)).sqrt()).fold(f32::MAX, f32::min);
        assert!(d < 20.0, "corner ({x}, {y}) is {d} px from truth {truth:?}");
    }
    src.next_frame(T)?;
    assert!(matches!(src.next_frame(T), Err(SourceError::EndOfStream)));
    let mut face_only = open(&format!("synthetic:face={}", face.display()))?;
    assert!(QrReader::default().read(&face_only.next_frame(T)?.image).codes.is_empty());
    Ok(())
}
