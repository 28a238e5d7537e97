#!/usr/bin/env bash
# README command 2 (and .ci/run): install what the tests need (apt packages, face weights,
# a private PostgreSQL, the desktop app's WebKitGTK and tauri-driver), then run every test —
# the whole workspace against SQLite, the backend and end-to-end suites again against
# PostgreSQL, the end-to-end tests with a real browser, and the desktop app in a real webview
# (scripts/test-desktop.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib.sh
# Each stage prints the seconds since the start, so a CI log shows where the time goes.
stage() { echo "== [$SECONDS s] $*"; }

stage "set-up: apt packages, face weights, nextest, PostgreSQL"
apt_ensure pkg-config ca-certificates libclang-dev libdbus-1-dev libwebkit2gtk-4.1-dev webkit2gtk-driver \
  postgresql chromium chromium-driver fonts-wqy-microhei xvfb xauth keyutils dbus gnome-keyring
scripts/fetch-models.sh
command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked

# A one-off build gains nothing from incremental state, and it took 4.5 GB of a CI disk that
# ran full; a developer's own `cargo` keeps it.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
export REALNAME_MODELS_DIR=${REALNAME_MODELS_DIR:-$root/models}
export REALNAME_SHARED_DIR=${REALNAME_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}
pg_port=${REALNAME_TEST_PG_PORT:-55439}
pg_start_private "${TMPDIR:-/tmp}/realname-test-pg-$pg_port" "$pg_port"

# The keyring tests need a Secret Service: run the suites inside a private D-Bus session with
# an unlocked, throwaway gnome-keyring (CI has no keyring daemon of its own).
keyring_home=$(mktemp -d)
with_keyring() {
  XDG_DATA_HOME="$keyring_home" dbus-run-session -- bash -c \
    'echo -n realname-ci | gnome-keyring-daemon --unlock --components=secrets >/dev/null; exec "$@"' _ "$@"
}

# The desktop crate embeds the built front end (ui/dist) at compile time.
stage "formatting (rustfmt.toml)"
cargo fmt --all -- --check
# The store's shared SQL is `include!`d by both engines, which `cargo fmt` does not follow.
rustfmt --check --edition 2024 crates/realname-server/src/store/engine/*.rs
stage "front end and workspace build"
(cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run build)
cargo build --workspace --all-targets --locked
stage "lints (clippy, warnings are errors; research code included)"
cargo clippy --workspace --all-targets --locked --features realname-liveness/research -- -D warnings
status=0
# The desktop WebDriver tests need tauri-driver and a display: scripts/test-desktop.sh runs them.
not_desktop_e2e='not (package(realname-e2e) & test(/^desktop::/))'
stage "all tests, SQLite engine"
REALNAME_TEST_DATABASE_URL=sqlite with_keyring cargo nextest run --workspace --no-fail-fast -E "$not_desktop_e2e" || status=1
stage "backend and end-to-end tests, PostgreSQL engine"
# `--workspace` with a filter rather than `-p`: the same feature set as the build above, so
# nothing is compiled again.
REALNAME_TEST_DATABASE_URL=$REALNAME_TEST_POSTGRES_URL cargo nextest run --workspace --no-fail-fast \
  -E "(package(realname-server) | package(realname-e2e)) & $not_desktop_e2e" || status=1
stage "doc tests"
cargo test --workspace --doc || status=1
stage "desktop app"
REALNAME_DESKTOP_PREPARED=1 scripts/test-desktop.sh || status=1
echo "test.sh: $SECONDS s"
exit $status
