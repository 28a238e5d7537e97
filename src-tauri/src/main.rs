//! The `realname-desktop` binary: starts the Tauri app (see the library crate).

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    realname_desktop::run();
}
