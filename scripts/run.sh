#!/usr/bin/env bash
# README command 1: install what is missing, fetch and check the face weights, build the
# backend and start it on the embedded SQLite default. Prints the PC page URL.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib.sh

apt_ensure pkg-config ca-certificates
scripts/fetch-models.sh
cargo build --release -p realname-server
mkdir -p .realname
export REALNAME_MODELS_DIR=${REALNAME_MODELS_DIR:-$root/models}
export DATABASE_URL=${DATABASE_URL:-sqlite://$root/.realname/realname.db?mode=rwc}
export REALNAME_LISTEN=${REALNAME_LISTEN:-127.0.0.1:8080}
export REALNAME_DATA_DIR=${REALNAME_DATA_DIR:-$root/.realname}
exec target/release/realname-server serve "$@"
