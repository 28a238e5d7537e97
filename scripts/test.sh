#!/usr/bin/env bash
# README command 2 (and .ci/run): install what the tests need (apt packages, face weights,
# a private PostgreSQL), then run every test — the backend suite against SQLite and then
# against PostgreSQL, the end-to-end tests with a real browser.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib.sh

apt_ensure pkg-config ca-certificates libclang-dev libdbus-1-dev \
  postgresql chromium chromium-driver fonts-wqy-microhei xvfb xauth keyutils dbus gnome-keyring
scripts/fetch-models.sh
command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked

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

cargo build --workspace --all-targets --locked
status=0
echo "== all tests, SQLite engine"
REALNAME_TEST_DATABASE_URL=sqlite with_keyring cargo nextest run --workspace --no-fail-fast || status=1
echo "== backend and end-to-end tests, PostgreSQL engine"
REALNAME_TEST_DATABASE_URL=$REALNAME_TEST_POSTGRES_URL \
  cargo nextest run -p realname-server -p realname-e2e --no-fail-fast || status=1
cargo test --workspace --doc || status=1
exit $status
