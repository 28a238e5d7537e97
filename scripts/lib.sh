#!/usr/bin/env bash
# Shared helpers for the set-up scripts: apt installs of what is missing, PostgreSQL start-up.
# Sourced, not run.

# Runs a command as root (directly when we are root, else through sudo).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the given Debian packages unless they are all present already.
apt_ensure() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "apt: installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Starts a private, throwaway PostgreSQL cluster for the tests (never touches the system one)
# and exports REALNAME_TEST_POSTGRES_URL. The cluster lives under $1 and listens on a Unix
# socket there plus 127.0.0.1:$2.
pg_start_private() {
  local dir=$1 port=$2
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -x "$bin/initdb" ] || { echo "postgres: initdb not found" >&2; return 1; }
  local run=()
  if [ "$(id -u)" -eq 0 ]; then
    # PostgreSQL refuses to run as root: hand the directory to the postgres system user.
    run=(runuser -u postgres --)
    mkdir -p "$dir"; chown postgres "$dir"
  else
    mkdir -p "$dir"
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    "${run[@]}" "$bin/initdb" -D "$dir/data" -U realname --auth=trust -E UTF8 >/dev/null
  fi
  if ! "${run[@]}" "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off" start >/dev/null
  fi
  export REALNAME_TEST_POSTGRES_URL="postgres://realname@127.0.0.1:$port/postgres"
  echo "postgres: private cluster on 127.0.0.1:$port ($dir)"
}

# The conditions of a load run (scripts/load-sweep.sh, scripts/scale-out.sh): exports the
# server's settings, copies the virtual users' genuine clip from the clips folder $2 into $3
# and sets `person` (the clip) and `sources` (extra `realname load` options). $1 = 1: the
# earlier test settings (test mode, challenge pinned to open_mouth, lp_d5's first 30 frames,
# every user from one address with the per-IP limits off); otherwise production settings
# (random challenges, every limit as configured, the whole lp_d12 clip with its segments.csv,
# one loopback address per user).
load_conditions() {
  local test_settings=$1 clips=$2 out=$3
  mkdir -p "$out"
  if [ "$test_settings" = 1 ]; then
    export REALNAME_TEST_MODE=1 REALNAME_TEST_FIXED_CHALLENGE=open_mouth \
      REALNAME_RATE_LIMIT_SESSIONS_PER_IP=0/3600 REALNAME_RATE_LIMIT_CLAIMS_PER_IP=0/600 \
      REALNAME_RATE_LIMIT_SIGNUPS_PER_IP=0/3600 REALNAME_RATE_LIMIT_CAPTURES_PER_IP=0/600 \
      REALNAME_RATE_LIMIT_SIGNIN_FAILURES_PER_IP=0/900
    person=lp_d5 sources=()
    for k in $(seq 1 30); do cp "$clips/lp_d5/$(printf %04d "$k").jpg" "$out/"; done
  else
    person=lp_d12 sources=(--loopback-sources)
    cp "$clips/lp_d12/"*.jpg "$out/"
    # Where the person performs each action: the clip answers any random challenge in its order.
    python3 scripts/clip-segments.py "$clips/../labels.json" lp_d12 > "$out/segments.csv"
  fi
}
