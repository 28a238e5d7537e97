#!/usr/bin/env bash
# The load benchmark of docs/benchmarks-load.md: one release server on the embedded SQLite
# default, `realname load` at increasing concurrency. Prints one line per level (with the
# server process's CPU time per verification) and keeps the JSON reports.
#
#   scripts/load-sweep.sh [--levels "10 25 50 100 200"] [--users-factor 2] [--out DIR] [--test-settings]
#
# Production settings by default: random 2-3 action challenges, every rate limit as
# configured, no test mode. The virtual users answer with the whole lp_d12 clip (the public
# clip holding blink, both head turns and an open mouth; scripts/clip-segments.py writes where,
# and the companion composes each response in the challenge's order) and each connects from
# its own loopback address, so the per-IP limits count each user as a real client.
# `--test-settings` runs the earlier conditions instead (test mode, challenge pinned to
# open_mouth, lp_d5's first 30 frames, per-IP limits off) for comparison with older figures.
# Both: `load_conditions` in scripts/lib.sh.
#
# Needs release binaries (`cargo build --release -p realname-server -p realname-cli`), the
# face weights and the public clips in ../shared/data/liveness (REALNAME_SHARED_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

levels="10 25 50 100 200" factor=2 out="" port=18460 test_settings=0
while [ $# -gt 0 ]; do
  case "$1" in
    --levels) levels=$2; shift 2 ;;
    --users-factor) factor=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --test-settings) test_settings=1; shift ;;
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

export REALNAME_DATA_DIR="$work/data" REALNAME_LISTEN="127.0.0.1:$port" REALNAME_PUBLIC_URL="http://127.0.0.1:$port" \
  REALNAME_MODELS_DIR="${REALNAME_MODELS_DIR:-$PWD/models}" RUST_LOG=${RUST_LOG:-warn}
load_conditions "$test_settings" "$clips" "$work/clip"
"$bin/realname" --json load-identities --count "$total" --photo "$clips/$person/0001.jpg" --clip "$work/clip" \
  --out "$work/ids" --seed "$RANDOM" > /dev/null

"$bin/realname-server" serve > "$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do curl -fsS "$REALNAME_PUBLIC_URL/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
"$bin/realname-server" authority import --csv "$work/ids/authority.csv" --photos "$clips/$person" --json > "$work/import.json"

echo "machine: $(nproc) cores, $(uname -r); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "settings: $([ "$test_settings" = 1 ] && echo "test (open_mouth pinned, per-IP limits off, $person)" || echo "production (random challenges, limits as configured, $person, one address per user)")"
tick=$(getconf CLK_TCK)
server_cpu_ms() { awk -v t="$tick" '{print ($14 + $15) * 1000 / t}' "/proc/$server/stat"; }
printf '%-12s %6s %8s %9s %10s %10s %10s %12s %9s %s\n' concurrency users wall_s verif/s p50_dec_ms p99_dec_ms p99_pc_ms srv_cpu_ms/v attempts "outcomes / errors / lost / load avg"
offset=0
for c in $levels; do
  users=$((c * factor))
  # Each level takes the next block of identities (an ID verifies one account only).
  { head -n 1 "$work/ids/people.csv"; tail -n +2 "$work/ids/people.csv" | sed -n "$((offset + 1)),$((offset + users))p"; } > "$work/people-$c.csv"
  offset=$((offset + users))
  cpu_before=$(server_cpu_ms)
  REALNAME_TRUSTED_ORIGINS="$REALNAME_PUBLIC_URL" REALNAME_SERVER="$REALNAME_PUBLIC_URL" REALNAME_CREDENTIAL_STORE=file \
    REALNAME_CREDENTIAL_FILE="$work/credentials.json" \
    "$bin/realname" --json load --people "$work/people-$c.csv" --users "$users" --concurrency "$c" \
    --mix genuine=100 "${sources[@]}" --http-timeout 1800 --sse-timeout 1800 --report "$work/load-$c.json" > /dev/null 2> "$work/load-$c.err" || true
  cpu_ms=$(awk -v a="$cpu_before" -v b="$(server_cpu_ms)" 'BEGIN {print b - a}')
  jq -r --arg c "$c" --arg la "$(cut -d' ' -f1 /proc/loadavg)" --argjson cpu "$cpu_ms" '[$c, .users, (.wall_s|floor), (.verifications_per_s*1000|round/1000),
      (.steps.capture_to_decision.p50_ms|round), (.steps.capture_to_decision.p99_ms|round), (.steps.decision_to_pc.p99_ms|round),
      (if .decisions > 0 then ($cpu / .decisions | round) else "-" end), (.attempts_per_decision*100|round/100),
      "\(.outcomes|tostring) \(.errors_by_code|tostring) lost=\(.lost_sessions) load=\($la)"] | @tsv' "$work/load-$c.json" \
    | awk -F'\t' '{printf "%-12s %6s %8s %9s %10s %10s %10s %12s %9s %s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10}'
done
echo "srv_cpu_ms/v: the server process's CPU time (user + system) during the level over its decisions;"
echo "the server alone would serve about $(nproc) x 1000 / srv_cpu_ms/v verifications per second on these cores;"
echo "attempts: capture attempts the server decided per decided verification (retries after a refused attempt)."
echo "reports: $work/load-*.json"
