//! Build script: Tauri's code generation (config, capabilities, icons) with a permission per
//! app command, so the capability file grants exactly the commands the window uses. A workspace
//! build without a built front end gets a placeholder page so `cargo check --workspace` keeps
//! working; `scripts/test-desktop.sh` and the release command build the real `ui/dist` first.

const COMMANDS: &[&str] = &[
    "app_state",
    "save_settings",
    "sign_in",
    "sign_out",
    "register_station",
    "set_admin_pin",
    "kiosk_exit",
    "list_sources",
    "start_preview",
    "stop_preview",
    "start_verification",
    "answer_context",
    "answer_consent",
    "answer_station_code",
    "cancel_verification",
    "reset_session",
    "light_report",
    "rehearse_light",
];

fn main() {
    let dist = std::path::Path::new("../ui/dist");
    if !dist.join("index.html").is_file() {
        let _ = std::fs::create_dir_all(dist);
        let _ = std::fs::write(
            dist.join("index.html"),
            "<!doctype html><meta charset=utf-8><title>Realname</title><p>The front end is not built: run <code>npm ci &amp;&amp; npm run build</code> in <code>ui/</code>.</p>",
        );
    }
    println!("cargo:rerun-if-changed=../ui/dist");
    let attributes = tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attributes) {
        panic!("tauri-build: {e:#}");
    }
}
