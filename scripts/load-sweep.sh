#!/usr/bin/env bash
# The load benchmark of docs/benchmarks-load.md: one release server on the embedded SQLite
# default, `realname load` at increasing concurrency. Prints one line per level and keeps the
# JSON reports.
#
#   scripts/load-sweep.sh [--levels "10 25 50 100 200"] [--users-factor 2] [--out DIR]
#
# Needs release binaries (`cargo build --release -p realname-server -p realname-cli`), the
# face weights and the public clips in ../shared/data/liveness (REALNAME_SHARED_DIR). Test
# mode pins the challenge to `open_mouth`, the action the recorded clip performs.
set -euo pipefail
cd "$(dirname "$0")/.."

levels="10 25 50 100 200" factor=2 out="" port=18460
while [ $# -gt 0 ]; do
  case "$1" in
    --levels) levels=$2; shift 2 ;;
    --users-factor) factor=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
bin=${CARGO_TARGET_DIR:-target}/release
for b in realname-server realname; do
  [ -x "$bin/$b" ] || { echo "missing $bin/$b: cargo build --release -p realname-server -p realname-cli" >&2; exit 2; }
done
clips="${REALNAME_SHARED_DIR:-../shared}/data/liveness/clips"
[ -d "$clips/lp_d5" ] || { echo "no clips in $clips (set REALNAME_SHARED_DIR)" >&2; exit 2; }
work=${out:-$(mktemp -d /tmp/realname-sweep-XXXXXX)}
mkdir -p "$work"
total=0
for c in $levels; do total=$((total + c * factor)); done

# Every virtual user comes from this one machine: the per-IP rate limits (meant for real
# clients) are off for the measurement; the per-account and per-device limits stay on.
export REALNAME_DATA_DIR="$work/data" REALNAME_LISTEN="127.0.0.1:$port" REALNAME_PUBLIC_URL="http://127.0.0.1:$port" \
  REALNAME_MODELS_DIR="${REALNAME_MODELS_DIR:-$PWD/models}" REALNAME_TEST_MODE=1 \
  REALNAME_RATE_LIMIT_SESSIONS_PER_IP=0/3600 REALNAME_RATE_LIMIT_CLAIMS_PER_IP=0/600 REALNAME_RATE_LIMIT_SIGNUPS_PER_IP=0/3600 \
  REALNAME_RATE_LIMIT_CAPTURES_PER_IP=0/600 REALNAME_RATE_LIMIT_SIGNIN_FAILURES_PER_IP=0/900 REALNAME_TEST_FIXED_CHALLENGE=open_mouth RUST_LOG=${RUST_LOG:-warn}
mkdir -p "$work/clip"
for k in $(seq 1 30); do cp "$clips/lp_d5/$(printf %04d "$k").jpg" "$work/clip/"; done
"$bin/realname" --json load-identities --count "$total" --photo "$clips/lp_d5/0001.jpg" --clip "$work/clip" \
  --out "$work/ids" --seed "$RANDOM" > /dev/null

"$bin/realname-server" serve > "$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do curl -fsS "$REALNAME_PUBLIC_URL/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
"$bin/realname-server" authority import --csv "$work/ids/authority.csv" --photos "$clips/lp_d5" --json > "$work/import.json"

echo "machine: $(nproc) cores, $(uname -r); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-12s %6s %8s %9s %10s %10s %10s %s\n' concurrency users wall_s verif/s p50_dec_ms p99_dec_ms p99_pc_ms "outcomes / errors / lost / load avg"
offset=0
for c in $levels; do
  users=$((c * factor))
  # Each level takes the next block of identities (an ID verifies one account only).
  { head -n 1 "$work/ids/people.csv"; tail -n +2 "$work/ids/people.csv" | sed -n "$((offset + 1)),$((offset + users))p"; } > "$work/people-$c.csv"
  offset=$((offset + users))
  REALNAME_TRUSTED_ORIGINS="$REALNAME_PUBLIC_URL" REALNAME_SERVER="$REALNAME_PUBLIC_URL" REALNAME_CREDENTIAL_STORE=file \
    REALNAME_CREDENTIAL_FILE="$work/credentials.json" \
    "$bin/realname" --json load --people "$work/people-$c.csv" --users "$users" --concurrency "$c" \
    --mix genuine=100 --http-timeout 1800 --sse-timeout 1800 --report "$work/load-$c.json" > /dev/null 2> "$work/load-$c.err" || true
  jq -r --arg c "$c" --arg la "$(cut -d' ' -f1 /proc/loadavg)" '[$c, .users, (.wall_s|floor), (.verifications_per_s*1000|round/1000),
      (.steps.capture_to_decision.p50_ms|round), (.steps.capture_to_decision.p99_ms|round), (.steps.decision_to_pc.p99_ms|round),
      "\(.outcomes|tostring) \(.errors_by_code|tostring) lost=\(.lost_sessions) load=\($la)"] | @tsv' "$work/load-$c.json" \
    | awk -F'\t' '{printf "%-12s %6s %8s %9s %10s %10s %10s %s\n", $1, $2, $3, $4, $5, $6, $7, $8}'
done
echo "reports: $work/load-*.json"
