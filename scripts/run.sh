#!/usr/bin/env bash
# README command 1: install what is missing, fetch and check the face weights, build the
# backend and start it on the embedded SQLite default. Prints the PC page URL and the next
# steps.
#
#   scripts/run.sh [serve options]
#   scripts/run.sh --demo [--photo FILE [--name NAME]]   demo mode (README "Try it"): demo
#       identities verify; with --photo the face in FILE is enrolled first and the name and
#       ID number to type on the PC page are printed
#   scripts/run.sh demo enroll --photo FILE [--name NAME]   enrol one more demo identity into
#       the same database (while the demo server runs, from a second terminal)
#
# REALNAME_SERVER_BIN=<binary> skips the set-up and the build and runs that binary instead
# (the end-to-end test of the README's "Try it" steps does this with its debug build).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib.sh

if [ -n "${REALNAME_SERVER_BIN:-}" ]; then
  bin=$REALNAME_SERVER_BIN
else
  apt_ensure pkg-config ca-certificates
  scripts/fetch-models.sh
  cargo build --release -p realname-server
  bin=target/release/realname-server
fi
mkdir -p .realname
export REALNAME_MODELS_DIR=${REALNAME_MODELS_DIR:-$root/models}
export DATABASE_URL=${DATABASE_URL:-sqlite://$root/.realname/realname.db?mode=rwc}
export REALNAME_LISTEN=${REALNAME_LISTEN:-127.0.0.1:8080}
export REALNAME_DATA_DIR=${REALNAME_DATA_DIR:-$root/.realname}

if [ "${1:-}" = demo ]; then
  exec "$bin" --demo "$@"
fi

demo=0 photo="" name="" serve_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --demo) demo=1 ;;
    --photo) photo=${2:?--photo needs a file}; shift ;;
    --name) name=${2:?--name needs a name}; shift ;;
    *) serve_args+=("$1") ;;
  esac
  shift
done
if [ -n "$photo" ] && [ "$demo" != 1 ]; then
  echo "--photo enrols a demo identity: use it with --demo" >&2
  exit 2
fi
if [ "$demo" = 1 ]; then
  export REALNAME_DEMO=1
  if [ -n "$photo" ]; then
    "$bin" demo enroll --photo "$photo" ${name:+--name "$name"}
  fi
fi

# What to do once the page is up (printed after the server's ready line).
next_steps() {
  local url=$1
  echo
  echo "Open $url — then:"
  if [ "$demo" = 1 ]; then
    if [ -n "$photo" ]; then
      echo "  1. Enrol yourself: done (name and ID number above; another: scripts/run.sh demo enroll --photo FILE)"
    else
      echo "  1. Enrol yourself: scripts/run.sh demo enroll --photo me.jpg   (prints the name and ID number to type)"
    fi
  else
    echo "  1. Enrol yourself: restart with scripts/run.sh --demo --photo me.jpg (a demo identity),"
    echo "     or import real reference photos: $bin authority import --csv people.csv --photos DIR"
  fi
  echo "  2. Sign up at $url/signup, then Verify Now → Face Recognition → type the name and ID number"
  echo "  3. Start the app: scripts/app.sh   (or the CLI: see README \"Try it\", headless variant)"
}

announce() {
  local line url
  while IFS= read -r line; do
    printf '%s\n' "$line"
    case $line in
      "realname-server listening on "*) url=${line#realname-server listening on }; next_steps "${url%/}" ;;
    esac
  done
}

exec "$bin" serve ${serve_args[@]+"${serve_args[@]}"} > >(announce)
