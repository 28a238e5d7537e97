#!/usr/bin/env bash
# The desktop app's tests: installs what is missing (apt: WebKitGTK, its WebDriver, Xvfb;
# cargo: tauri-driver, nextest; npm ci in ui/), builds the front end and the workspace (debug;
# the app embeds ui/dist), runs the front-end unit tests (vitest) and the shell's unit tests
# (including the check that the generated TypeScript bindings are current), then the
# WebDriver end-to-end tests of the real app binary under Xvfb against the real server
# (tests/e2e/desktop.rs). Called by scripts/test.sh with REALNAME_DESKTOP_PREPARED=1, which
# skips what it has already done (apt, weights, npm ci, the front-end build, the cargo build).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib.sh

t0=$SECONDS
prepared=${REALNAME_DESKTOP_PREPARED:-0}
if [ "$prepared" != 1 ]; then
  apt_ensure pkg-config ca-certificates libclang-dev libdbus-1-dev libwebkit2gtk-4.1-dev webkit2gtk-driver \
    xvfb xauth fonts-wqy-microhei
  scripts/fetch-models.sh
  command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked
fi
command -v tauri-driver >/dev/null || cargo install tauri-driver --locked

export REALNAME_MODELS_DIR=${REALNAME_MODELS_DIR:-$root/models}
export REALNAME_SHARED_DIR=${REALNAME_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}

echo "== front end: vitest"
if [ "$prepared" != 1 ]; then
  (cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run build)
fi
(cd ui && npm test)

# Always the whole workspace: building a subset of packages resolves other feature sets and
# compiles much of the tree a second time. A no-op after scripts/test.sh's build.
cargo build --workspace --all-targets --locked
echo "== desktop shell unit tests (bindings current, preview transport, settings)"
cargo nextest run --workspace --locked -E 'package(realname-desktop)'

echo "== desktop end-to-end tests (tauri-driver + WebKitWebDriver under Xvfb)"
status=0
desktop_e2e='package(realname-e2e) & test(/^desktop::/)'
if [ -n "${DISPLAY:-}" ]; then
  cargo nextest run --workspace --locked --no-fail-fast -E "$desktop_e2e" || status=1
else
  xvfb-run -a -s "-screen 0 1280x900x24 -nolisten tcp" \
    cargo nextest run --workspace --locked --no-fail-fast -E "$desktop_e2e" || status=1
fi
echo "desktop: $((SECONDS - t0)) s"
exit $status
