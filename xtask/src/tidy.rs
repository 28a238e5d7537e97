//! `cargo xtask tidy`: the repository's shape rules, checked from the files themselves — every
//! Rust module opens with a `//!` line, no file passes 800 lines, crate dependencies point only
//! downward, and the layers inside a crate import only what lies below them.
//!
//! The same check runs as a unit test, so the test suite fails when a rule is broken.

use std::fs;
use std::path::{Path, PathBuf};

/// Longest Rust file allowed (lines).
const MAX_LINES: usize = 800;

/// The folders whose Rust files are checked (relative to the workspace root).
const SOURCE_ROOTS: &[&str] = &["crates", "src-tauri/src", "src-tauri/build.rs", "tests", "xtask", "fuzz/fuzz_targets"];

/// Workspace crates by level: a crate may depend (in `[dependencies]`) only on crates of a
/// lower level. Shared types at the bottom, pure engines above them, then the decision, then
/// the two front-end cores, then the binaries and test harnesses.
const LEVELS: &[(&str, u8)] = &[
    ("realname-protocol", 0),
    ("realname-settings", 0),
    ("realname-face", 1),
    ("realname-scan", 1),
    ("realname-liveness", 2),
    ("realname-decision", 3),
    ("realname-companion", 4),
    ("realname-server", 4),
    ("realname-cli", 5),
    ("realname-desktop", 5),
    ("realname-e2e", 6),
    ("xtask", 6),
];

/// Crates that are pure libraries: no HTTP framework, HTTP client or database.
const PURE: &[&str] = &[
    "realname-protocol",
    "realname-settings",
    "realname-face",
    "realname-scan",
    "realname-liveness",
    "realname-decision",
];

/// What a pure library must not depend on.
const IMPURE_DEPS: &[&str] = &["axum", "sqlx", "reqwest", "tower", "tower-http", "hyper"];

/// What the files of a layer may name after `crate::`.
enum May {
    /// Only these modules (their own layer and the ones below).
    Only(&'static [&'static str]),
    /// Anything but the modules of these lists (the layers above).
    Not(&'static [&'static [&'static str]]),
}

impl May {
    fn allows(&self, module: &str) -> bool {
        match self {
            May::Only(allowed) => allowed.contains(&module),
            May::Not(above) => !above.iter().any(|list| list.contains(&module)),
        }
    }
}

/// The server's HTTP layer, also under the old names `lib.rs` re-exports.
const HTTP: &[&str] = &["http", "web", "api", "security", "ops"];
/// The flows, also under their old names.
const FLOWS: &[&str] = &["flows", "verification", "authority", "demo", "mobile", "partner", "partner_local"];
/// The configuration that gathers the features' sections.
const CONFIG: &[&str] = &["config"];
/// The composition (`AppState`): services and flows are handed their parts, never the whole.
const STATE: &[&str] = &["state"];

/// The server's layers, top to bottom: `http/` → `flows/` → the services (`state`, `ratelimit`,
/// `retention`, `webhooks`, `email`, `events`, `metrics`, `queue`, `upload_gate`, `qr`, `error`,
/// `key_rotation`) → `directories/` →
/// `store/` → `crypto`/`settings`. A file under the prefix may name `crate::<module>` only as
/// its rule says (docs/ARCHITECTURE.md, "Inside the server").
const LAYERS: &[(&str, May)] = &[
    // The bottom: keys, keyed hashes, secrets and the configuration's building blocks.
    ("crates/realname-server/src/settings.rs", May::Only(&["settings"])),
    ("crates/realname-server/src/crypto", May::Only(&["crypto", "settings"])),
    // The storage layer knows SQL and its own types, nothing of the flows or the web.
    ("crates/realname-server/src/store/", May::Only(&["store", "crypto", "settings"])),
    // The outside services' interfaces: above the store (their errors carry a `StoreError`).
    ("crates/realname-server/src/directories/", May::Only(&["directories", "store", "crypto", "settings", "face"])),
    // The composition holds the flows and the services; it knows nothing of HTTP.
    ("crates/realname-server/src/state.rs", May::Not(&[HTTP])),
    // Services under the flows: no page, no route, no flow.
    ("crates/realname-server/src/clock.rs", May::Only(&["clock"])),
    ("crates/realname-server/src/ratelimit.rs", May::Not(&[HTTP, FLOWS, CONFIG, STATE])),
    ("crates/realname-server/src/retention.rs", May::Not(&[HTTP, FLOWS, CONFIG])),
    ("crates/realname-server/src/webhooks.rs", May::Not(&[HTTP, FLOWS, CONFIG])),
    ("crates/realname-server/src/email.rs", May::Not(&[HTTP, FLOWS, CONFIG, STATE])),
    ("crates/realname-server/src/events.rs", May::Only(&["events"])),
    ("crates/realname-server/src/metrics.rs", May::Only(&["metrics"])),
    ("crates/realname-server/src/queue.rs", May::Only(&["queue", "error"])),
    ("crates/realname-server/src/upload_gate.rs", May::Only(&["upload_gate", "error"])),
    ("crates/realname-server/src/qr.rs", May::Only(&["qr", "error"])),
    ("crates/realname-server/src/error.rs", May::Only(&["error", "queue", "store", "crypto", "settings"])),
    ("crates/realname-server/src/key_rotation.rs", May::Only(&["key_rotation", "crypto", "store", "settings"])),
    // The flows use the services, the directories and the store; never the HTTP layer (also
    // not through the old top-level names `lib.rs` re-exports for other crates).
    ("crates/realname-server/src/flows/", May::Not(&[HTTP, STATE])),
    // `config.rs` gathers the sections defined beside their features; those features take
    // `Secret` and `ConfigError` from `settings`, never `config` back (no import circle).
    ("crates/realname-server/src/http/security.rs", May::Not(&[CONFIG])),
    ("crates/realname-server/src/http/ops.rs", May::Not(&[CONFIG])),
    ("crates/realname-server/src/flows/face/authority.rs", May::Not(&[CONFIG])),
    ("crates/realname-server/src/flows/face/demo.rs", May::Not(&[CONFIG])),
    ("crates/realname-server/src/flows/partner/", May::Not(&[CONFIG])),
];

/// Every broken rule, one line each (empty when the tree is tidy).
pub(crate) fn check(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    for r in SOURCE_ROOTS {
        collect_rust_files(&root.join(r), &mut files);
    }
    files.sort();
    for file in &files {
        let rel = file.strip_prefix(root).unwrap_or(file).to_string_lossy().replace('\\', "/");
        let Ok(text) = fs::read_to_string(file) else {
            problems.push(format!("{rel}: not readable as UTF-8"));
            continue;
        };
        // `include!`d text (the store's shared SQL) cannot hold inner doc comments: it opens
        // with a plain comment naming who includes it.
        let included = rel.contains("/src/store/engine/") && text.starts_with("// Included by");
        if !text.starts_with("//!") && !included {
            problems.push(format!("{rel}: does not open with a `//!` line saying what it is for"));
        }
        let lines = text.lines().count();
        if lines > MAX_LINES {
            problems.push(format!("{rel}: {lines} lines (more than {MAX_LINES}): split it by what it holds"));
        }
        problems.extend(layer_problems(&rel, &text));
    }
    problems.extend(check_crate_levels(root));
    problems
}

/// The imports of one file that reach above its layer.
fn layer_problems(rel: &str, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (prefix, rule) in LAYERS {
        if rel.starts_with(prefix) {
            for module in crate_paths(text) {
                if !rule.allows(&module) {
                    problems.push(format!("{rel}: imports `crate::{module}`, above its layer ({prefix})"));
                }
            }
        }
    }
    problems
}

fn collect_rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_file() {
        if path.extension().is_some_and(|e| e == "rs") {
            out.push(path.to_path_buf());
        }
        return;
    }
    let Ok(entries) = fs::read_dir(path) else { return };
    for entry in entries.flatten() {
        let p = entry.path();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        collect_rust_files(&p, out);
    }
}

/// The first segment after each `crate::` outside comments (`crate::store::x` → `store`).
fn crate_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            // `realname_crate::` or `$crate::` are other paths.
            let before = rest[..i].chars().next_back();
            rest = &rest[i + "crate::".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            if let Some(inner) = rest.strip_prefix('{') {
                // `crate::{a, b::c}`: every first segment in the group.
                let group = inner.split('}').next().unwrap_or("");
                for part in group.split(',') {
                    let seg: String = part.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    if !seg.is_empty() {
                        out.push(seg);
                    }
                }
            } else {
                let seg: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !seg.is_empty() {
                    out.push(seg);
                }
            }
        }
    }
    out
}

/// The `[dependencies]` (not dev- or build-) names of a manifest.
fn runtime_dependencies(manifest: &str) -> Vec<String> {
    let mut deps = Vec::new();
    let mut in_deps = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && let Some((name, _)) = line.split_once('=') {
            let name = name.trim().split('.').next().unwrap_or("").trim();
            if !name.is_empty() && !name.starts_with('#') {
                deps.push(name.to_owned());
            }
        }
    }
    deps
}

fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if in_package && let Some(v) = line.strip_prefix("name") {
            return Some(v.trim_start().trim_start_matches('=').trim().trim_matches('"').to_owned());
        }
    }
    None
}

fn level(name: &str) -> Option<u8> {
    LEVELS.iter().find(|(n, _)| *n == name).map(|(_, l)| *l)
}

fn check_crate_levels(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let mut manifests =
        vec![root.join("src-tauri/Cargo.toml"), root.join("tests/Cargo.toml"), root.join("xtask/Cargo.toml")];
    if let Ok(entries) = fs::read_dir(root.join("crates")) {
        manifests.extend(entries.flatten().map(|e| e.path().join("Cargo.toml")).filter(|p| p.is_file()));
    }
    manifests.sort();
    for manifest in manifests {
        let Ok(text) = fs::read_to_string(&manifest) else { continue };
        let Some(name) = package_name(&text) else { continue };
        let Some(own) = level(&name) else {
            problems.push(format!("{name}: not in the crate levels of xtask/src/tidy.rs: give it its place"));
            continue;
        };
        for dep in runtime_dependencies(&text) {
            if let Some(l) = level(&dep)
                && l >= own
            {
                problems.push(format!("{name} depends on {dep}: arrows between crates must point down a level"));
            }
            if PURE.contains(&name.as_str()) && IMPURE_DEPS.contains(&dep.as_str()) {
                problems.push(format!("{name} depends on {dep}: a pure library has no HTTP and no database"));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_is_tidy() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
        let problems = check(root);
        assert!(problems.is_empty(), "cargo xtask tidy:\n{}", problems.join("\n"));
    }

    #[test]
    fn crate_paths_are_read_from_code_not_comments() {
        let text = "use crate::store::Store;\nuse crate::{web::Page, flows};\n// crate::http is only a comment\nlet x = realname_crate::y; $crate::z;";
        assert_eq!(crate_paths(text), ["store", "web", "flows"]);
    }

    #[test]
    fn an_import_from_above_the_layer_is_caught() {
        let server = "crates/realname-server/src";
        let up = "use crate::http::web::PageCtx;\n";
        assert_eq!(layer_problems(&format!("{server}/flows/face/mod.rs"), up).len(), 1);
        assert_eq!(layer_problems(&format!("{server}/store/sql.rs"), up).len(), 1);
        assert_eq!(layer_problems(&format!("{server}/directories/mobile.rs"), up).len(), 1);
        assert_eq!(layer_problems(&format!("{server}/state.rs"), up).len(), 1);
        assert_eq!(layer_problems(&format!("{server}/ratelimit.rs"), "use crate::web::PageCtx;").len(), 1);
        assert_eq!(
            layer_problems(&format!("{server}/webhooks.rs"), "let x = crate::flows::face::demo::is_demo_id(id);").len(),
            1
        );
        // The sections `config.rs` gathers never import `config` back.
        let back = "use crate::config::AuthorityKind;\n";
        for f in ["webhooks.rs", "retention.rs", "http/ops.rs", "flows/face/demo.rs", "flows/partner/mod.rs"] {
            assert_eq!(layer_problems(&format!("{server}/{f}"), back).len(), 1, "{f}");
        }
        assert!(layer_problems(&format!("{server}/lib.rs"), back).is_empty());
        let flows = "use crate::flows::mobile::MobileNumber;\n";
        assert_eq!(layer_problems(&format!("{server}/store/mod.rs"), flows).len(), 1);
        assert_eq!(layer_problems(&format!("{server}/directories/mod.rs"), flows).len(), 1);
        assert_eq!(layer_problems(&format!("{server}/crypto/mac.rs"), "use crate::store::Store;").len(), 1);
        // Downward imports pass.
        assert!(layer_problems(&format!("{server}/http/web/mod.rs"), flows).is_empty());
        assert!(
            layer_problems(&format!("{server}/flows/mobile/mod.rs"), "use crate::directories::SmsGateway;").is_empty()
        );
        assert!(layer_problems(&format!("{server}/store/sql.rs"), "use crate::store::StoreError;").is_empty());
    }

    #[test]
    fn only_runtime_dependencies_count() {
        let manifest = "[package]\nname = \"a\"\n[dependencies]\nrealname-face.workspace = true\nserde = \"1\"\n[dev-dependencies]\nrealname-server.workspace = true\n";
        assert_eq!(runtime_dependencies(manifest), ["realname-face", "serde"]);
        assert_eq!(package_name(manifest).as_deref(), Some("a"));
    }
}
