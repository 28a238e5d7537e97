//! Helpers shared by the end-to-end tests: locating test data and models, picking labelled
//! frames from the liveness clips, making valid ID numbers, and a browser driver.

pub mod flow;
pub mod light;
pub mod server;
pub mod webdriver;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The workspace root (this package lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// `../shared` next to the workspace, or `REALNAME_SHARED_DIR`. Fails loudly when missing:
/// these tests never skip silently.
pub fn shared_dir() -> Result<PathBuf> {
    let dir = std::env::var_os("REALNAME_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared"));
    if !dir.join("data").is_dir() {
        bail!("test data not found at {} (set REALNAME_SHARED_DIR)", dir.display());
    }
    Ok(dir)
}

/// The checked face weights (`REALNAME_MODELS_DIR` or `<root>/models`).
pub fn models_dir() -> Result<PathBuf> {
    let dir =
        std::env::var_os("REALNAME_MODELS_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("models"));
    if !dir.join("face_recognition_model.bin").is_file() {
        bail!("face weights not found at {} (run scripts/fetch-models.sh)", dir.display());
    }
    Ok(dir)
}

/// Frame `n` (1-based, as in `labels.json`) of a liveness clip.
pub fn clip_frame(clip: &str, n: u32) -> Result<PathBuf> {
    let path = shared_dir()?.join(format!("data/liveness/clips/{clip}/{n:04}.jpg"));
    if !path.is_file() {
        bail!("no frame {n} in clip {clip}");
    }
    Ok(path)
}

/// Reads frames `from..=to` of a clip as JPEG bytes.
pub fn clip_frames(clip: &str, from: u32, to: u32) -> Result<Vec<Vec<u8>>> {
    (from..=to)
        .map(|n| {
            let path = clip_frame(clip, n)?;
            std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
        })
        .collect()
}

/// A valid resident ID number (GB 11643-1999) distinct for each `seed`.
pub fn id_number(seed: u32) -> String {
    let first17 = format!("110105{:04}0101{:03}", 1960 + seed % 50, seed % 1000);
    let check = realname_protocol::id_number::check_character(first17.as_bytes());
    format!("{first17}{check}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_id_numbers_are_valid() {
        let today = time::macros::date!(2026 - 01 - 01);
        for seed in 0..100 {
            let id = id_number(seed);
            assert!(realname_protocol::ResidentId::parse(&id, today).is_ok(), "{id}");
        }
    }
}
