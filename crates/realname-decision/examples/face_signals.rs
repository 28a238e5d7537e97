//! Prints the face engine's liveness signals for every image in a folder (tuning aid for
//! `src/liveness.rs`): `cargo run -p realname-decision --example face_signals -- DIR [MODELS]`.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;

use realname_decision::face::{EngineAnalyzer, FaceAnalyzer};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or_else(|| anyhow::anyhow!("usage: face_signals DIR [MODELS]"))?);
    let models = PathBuf::from(args.next().unwrap_or_else(|| "models".into()));
    let engine = EngineAnalyzer::load(&models)?;
    let mut files: Vec<_> = std::fs::read_dir(&dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    for f in files {
        let bytes = std::fs::read(&f)?;
        let Ok(img) = realname_face::decode_image(&bytes, &realname_face::ImageLimits::default()) else { continue };
        let faces = engine.analyze(&img)?;
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match faces.first() {
            Some(face) => {
                let s = face.signals;
                println!(
                    "{name}\tfaces {}\tear {:.3} {:.3}\tmar {:.3}\tyaw {:6.1}\tpitch {:6.1}\twidth {:.0}\tbright {:.2}",
                    faces.len(),
                    s.ear_left,
                    s.ear_right,
                    s.mouth_aspect_ratio,
                    s.yaw_deg,
                    s.pitch_deg,
                    s.face_width_px,
                    s.brightness
                );
            }
            None => println!("{name}\tno face"),
        }
    }
    Ok(())
}
