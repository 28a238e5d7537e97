//! Lists the webcams nokhwa sees, with their capture modes (prints a plain "no cameras" where there are none).
//!
//! `cargo run -p realname-scan --example list_cameras`
#![allow(clippy::print_stdout)]

fn main() -> anyhow::Result<()> {
    let devices = realname_scan::webcam::list_devices()?;
    if devices.is_empty() {
        println!("no cameras found (no /dev/video* device or none the backend can open)");
    }
    for d in devices {
        println!("webcam:{}  name={:?}  {}", d.index, d.name, d.description);
        for f in d.formats {
            println!("    {}x{} @ {} fps {}", f.width, f.height, f.fps, f.pixel_format);
        }
    }
    Ok(())
}
