#!/usr/bin/env bash
# The desktop app in one command (README "Try it", step 4): builds it if needed (release, with
# the web front end) and starts it pointed at the local backend — that origin trusted, tester
# mode on. Its settings and credentials live in .realname/desktop/ (file credential store).
#
#   scripts/app.sh [--backend URL] [--face DIR] [--lang en|zh-CN]
#
#   --backend  the backend scripts/run.sh printed (default http://127.0.0.1:8080)
#   --face     a folder of face frames to use instead of a webcam (dir:DIR@10fps)
# Without a webcam (/dev/video*) the QR is read off this screen (source "screen": keep the
# PC page visible) and, with --face, the face comes from the folder.
#
# REALNAME_DESKTOP_BIN=<binary> skips the set-up and the build (e.g. a debug build).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib.sh

backend=http://127.0.0.1:8080 face="" lang=en
case ${LANG:-} in zh*) lang=zh-CN ;; esac
while [ $# -gt 0 ]; do
  case $1 in
    --backend) backend=${2:?--backend needs a URL}; shift ;;
    --face) face=${2:?--face needs a folder}; shift ;;
    --lang) lang=${2:?--lang needs en or zh-CN}; shift ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
  shift
done
backend=${backend%/}

if [ -n "${REALNAME_DESKTOP_BIN:-}" ]; then
  bin=$REALNAME_DESKTOP_BIN
else
  apt_ensure pkg-config ca-certificates libclang-dev libdbus-1-dev libwebkit2gtk-4.1-dev fonts-wqy-microhei
  scripts/fetch-models.sh
  if [ ! -f ui/dist/index.html ]; then
    (cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run build)
  fi
  cargo build --release -p realname-desktop
  bin=target/release/realname-desktop
fi

if compgen -G "/dev/video*" >/dev/null; then
  qr_source=webcam:0
else
  qr_source=screen
  echo "no webcam found: the app reads the QR off this screen (keep the PC page visible)"
fi
face_source=""
if [ -n "$face" ]; then
  face_source="dir:$(cd "$face" && pwd)@10fps"
elif [ "$qr_source" = screen ]; then
  echo "no webcam and no --face DIR: choose a face source in the app's Camera screen (tester mode)"
fi

dir=$root/.realname/desktop
mkdir -p "$dir"
# The app's own settings file (src-tauri/src/settings.rs): the backend is its only trusted
# origin; tester mode offers the screen, files and folders as sources.
kept=$(grep -E '^(account_masked|admin_pin) =' "$dir/desktop.toml" 2>/dev/null || true)
cat > "$dir/desktop.toml" <<EOF
backend_url = "$backend"
language = "$lang"
mode = "personal"
qr_source = "$qr_source"
face_source = "$face_source"
tester_mode = true
$kept
EOF
echo "desktop app: backend $backend (trusted), tester mode on, QR from $qr_source${face_source:+, face from $face_source}"
echo "sign in with the account you created on the PC page, then Start"
export REALNAME_DESKTOP_DIR=$dir
export REALNAME_CREDENTIAL_STORE=${REALNAME_CREDENTIAL_STORE:-file}
export REALNAME_CREDENTIAL_FILE=${REALNAME_CREDENTIAL_FILE:-$dir/credentials.json}
export REALNAME_MODELS_DIR=${REALNAME_MODELS_DIR:-$root/models}
exec "$bin"
