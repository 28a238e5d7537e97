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
const PURE: &[&str] =
    &["realname-protocol", "realname-face", "realname-scan", "realname-liveness", "realname-decision"];

/// What a pure library must not depend on.
const IMPURE_DEPS: &[&str] = &["axum", "sqlx", "reqwest", "tower", "tower-http", "hyper"];

/// Layers inside a crate: files under `dir` may name `crate::<module>` only for the listed
/// modules (their own layer and the ones below).
const LAYERS: &[(&str, &[&str])] = &[(
    // The storage layer knows SQL and its own types, nothing of the flows or the web.
    "crates/realname-server/src/store/",
    &["store"],
)];

/// Every broken rule, one line each (empty when the tree is tidy).
pub fn check(root: &Path) -> Vec<String> {
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
        if !text.starts_with("//!") {
            problems.push(format!("{rel}: does not open with a `//!` line saying what it is for"));
        }
        let lines = text.lines().count();
        if lines > MAX_LINES {
            problems.push(format!("{rel}: {lines} lines (more than {MAX_LINES}): split it by what it holds"));
        }
        for (dir, allowed) in LAYERS {
            if rel.starts_with(dir) {
                for module in crate_paths(&text) {
                    if !allowed.contains(&module.as_str()) {
                        problems
                            .push(format!("{rel}: imports `crate::{module}`, above its layer (allowed: {allowed:?})"));
                    }
                }
            }
        }
    }
    problems.extend(check_crate_levels(root));
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
    fn only_runtime_dependencies_count() {
        let manifest = "[package]\nname = \"a\"\n[dependencies]\nrealname-face.workspace = true\nserde = \"1\"\n[dev-dependencies]\nrealname-server.workspace = true\n";
        assert_eq!(runtime_dependencies(manifest), ["realname-face", "serde"]);
        assert_eq!(package_name(manifest).as_deref(), Some("a"));
    }
}
