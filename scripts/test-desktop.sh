#!/usr/bin/env bash
# The desktop app's tests: installs what is missing (apt: WebKitGTK, its WebDriver, Xvfb;
# cargo: tauri-driver, nextest; npm ci in ui/), builds the front end and the app (debug),
# runs the front-end unit tests (vitest) and the shell's unit tests (including the check that
# the generated TypeScript bindings are current), then the WebDriver end-to-end tests of the
# real app binary under Xvfb against the real server (tests/e2e/desktop.rs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib.sh

apt_ensure pkg-config ca-certificates libclang-dev libdbus-1-dev libwebkit2gtk-4.1-dev webkit2gtk-driver \
  xvfb xauth fonts-wqy-microhei
command -v tauri-driver >/dev/null || cargo install tauri-driver --locked
command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked
scripts/fetch-models.sh

export REALNAME_MODELS_DIR=${REALNAME_MODELS_DIR:-$root/models}
export REALNAME_SHARED_DIR=${REALNAME_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}

t0=$SECONDS
echo "== front end: npm ci, vitest, build"
(cd ui && npm ci --no-audit --no-fund --loglevel=error && npm test && npm run build)

echo "== desktop app and server (debug)"
cargo build --locked -p realname-desktop -p realname-server
cargo build --locked -p realname-e2e --tests
echo "== desktop shell unit tests (bindings current, preview transport, settings)"
cargo nextest run --locked -p realname-desktop

echo "== desktop end-to-end tests (tauri-driver + WebKitWebDriver under Xvfb)"
status=0
if [ -n "${DISPLAY:-}" ]; then
  cargo nextest run --locked -p realname-e2e --no-fail-fast desktop || status=1
else
  xvfb-run -a -s "-screen 0 1280x900x24 -nolisten tcp" \
    cargo nextest run --locked -p realname-e2e --no-fail-fast desktop || status=1
fi
echo "desktop: $((SECONDS - t0)) s"
exit $status
