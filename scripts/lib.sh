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
