#!/usr/bin/env bash
# Runs N backend instances on one private PostgreSQL behind nginx (round robin) and drives them
# with `realname load`; optionally kills an instance (kill -9) or restarts PostgreSQL in the
# middle of the run. Prints the load report and the checks of docs/reliability.md.
# `--capture-instances M` adds the split deployment: M more instances that nginx sends only
# the capture uploads (the face decisions) to, while the N others serve everything else.
#
#   scripts/scale-out.sh [--users 500] [--concurrency 40] [--instances 2] [--capture-instances 0]
#                        [--fault none|kill|pg-restart] [--fault-at 60] [--keep DIR] [--test-settings]
#
# A session cut off by a fault ends when its lifetime runs out (15 min by default); set
# REALNAME_SESSION_TTL_SECS lower to keep fault runs short.
# Needs release binaries (`cargo build --release -p realname-server -p realname-cli`), the
# face weights (`scripts/fetch-models.sh`), PostgreSQL and nginx from apt, and the public
# clips in ../shared/data/liveness (REALNAME_SHARED_DIR). Production settings by default
# (random challenges, rate limits as configured, nginx trusted for X-Forwarded-For): the
# virtual users answer with the whole lp_d12 clip and each connects from its own loopback
# address (as scripts/load-sweep.sh); `--test-settings`: test mode, challenge pinned to
# `open_mouth`, lp_d5's first 30 frames, per-IP limits off (the earlier runs' conditions).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

users=500 concurrency=40 instances=2 capture_instances=0 fault=none fault_at=60 keep="" pg_port=55470 base_port=18470
test_settings=0
while [ $# -gt 0 ]; do
  case "$1" in
    --users) users=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --instances) instances=$2; shift 2 ;;
    --capture-instances) capture_instances=$2; shift 2 ;;
    --fault) fault=$2; shift 2 ;;
    --fault-at) fault_at=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    --pg-port) pg_port=$2; shift 2 ;;
    --base-port) base_port=$2; shift 2 ;;
    --test-settings) test_settings=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
case "$fault" in none|kill|pg-restart) ;; *) echo "--fault must be none, kill or pg-restart" >&2; exit 2 ;; esac

bin=${CARGO_TARGET_DIR:-target}/release
for b in realname-server realname; do
  [ -x "$bin/$b" ] || { echo "missing $bin/$b: cargo build --release -p realname-server -p realname-cli" >&2; exit 2; }
done
command -v nginx >/dev/null || { echo "nginx is missing: apt-get install nginx-light" >&2; exit 2; }
shared=${REALNAME_SHARED_DIR:-../shared}
clips="$shared/data/liveness/clips"
[ -d "$clips/lp_d5" ] || { echo "no clips in $clips (set REALNAME_SHARED_DIR)" >&2; exit 2; }
models=${REALNAME_MODELS_DIR:-$PWD/models}

work=${keep:-$(mktemp -d /tmp/realname-scale-XXXXXX)}
mkdir -p "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  pg_stop_fast "$work/pg" 2>/dev/null || true
}
pg_stop_fast() { # dir
  local bin run=()
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ "$(id -u)" -eq 0 ] && run=(runuser -u postgres --)
  "${run[@]}" "$bin/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null
}
trap cleanup EXIT

echo "== work dir $work"
# Integrator side: a receiver that checks every signature and logs every delivery.
hook_port=$((base_port + 9))
hook_secret="whsec_$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
python3 scripts/webhook-receiver.py "$hook_port" "$hook_secret" "$work/webhooks.jsonl" &
pids[99]=$!
pg_start_private "$work/pg" "$pg_port" >/dev/null
db="postgres://realname@127.0.0.1:$pg_port/postgres"
od -An -tx1 -N32 /dev/urandom | tr -d " \n" > "$work/data.key"
chmod 600 "$work/data.key"
lb_port=$((base_port))
origin="http://127.0.0.1:$lb_port"

export DATABASE_URL="$db" REALNAME_DATA_KEY_FILE="$work/data.key" REALNAME_PUBLIC_URL="$origin" \
  REALNAME_MODELS_DIR="$models" RUST_LOG=${RUST_LOG:-warn} REALNAME_TRUSTED_PROXIES=127.0.0.1 \
  REALNAME_WEBHOOK_URL="http://127.0.0.1:$hook_port/hooks" REALNAME_WEBHOOK_SECRET="$hook_secret" \
  REALNAME_WEBHOOK_BACKOFF_BASE_MS=1000 REALNAME_SESSION_TTL_SECS=${REALNAME_SESSION_TTL_SECS:-900}
load_conditions "$test_settings" "$clips" "$work/clip"

# The identities of the virtual users.
"$bin/realname" --json load-identities --count "$users" --photo "$clips/$person/0001.jpg" \
  --clip "$work/clip" --out "$work/ids" --seed "$RANDOM" > "$work/identities.json"

start_instance() { # index
  local i=$1 port=$((base_port + $1))
  REALNAME_LISTEN="127.0.0.1:$port" REALNAME_DATA_DIR="$work/data-$i" \
    "$bin/realname-server" serve >>"$work/server-$i.log" 2>&1 &
  pids[$i]=$!
  for _ in $(seq 1 600); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
    kill -0 "${pids[$i]}" 2>/dev/null || { echo "instance $i died:"; tail -20 "$work/server-$i.log"; exit 3; }
    sleep 0.2
  done
  echo "instance $i did not come up" >&2; exit 3
}

upstreams="" capture_upstreams=""
for i in $(seq 1 "$instances"); do upstreams+="    server 127.0.0.1:$((base_port + i)) max_fails=1 fail_timeout=2s;"$'\n'; done
for i in $(seq $((instances + 1)) $((instances + capture_instances))); do
  capture_upstreams+="    server 127.0.0.1:$((base_port + i)) max_fails=1 fail_timeout=2s;"$'\n'
done
[ -n "$capture_upstreams" ] || capture_upstreams=$upstreams
all_instances=$((instances + capture_instances))
[ "$all_instances" -lt 9 ] || { echo "at most 8 instances (port base+9 is the webhook receiver)" >&2; exit 2; }
UPSTREAMS=$upstreams CAPTURE_UPSTREAMS=$capture_upstreams LISTEN=127.0.0.1:$lb_port PREFIX=$work python3 -c '
import os, sys
text = open(sys.argv[1]).read()
for key in ("CAPTURE_UPSTREAMS", "UPSTREAMS", "LISTEN", "PREFIX"):
    text = text.replace("@" + key + "@", os.environ[key])
open(sys.argv[2], "w").write(text)' docs/deploy/nginx-test.conf "$work/nginx.conf"

start_instance 1
"$bin/realname-server" authority import --csv "$work/ids/authority.csv" --photos "$clips/$person" --json \
  > "$work/import.json" 2>>"$work/server-1.log"
for i in $(seq 2 "$all_instances"); do start_instance "$i"; done
nginx -c "$work/nginx.conf" -p "$work" -g "pid $work/nginx.pid; error_log $work/nginx-error.log;"
echo "== $instances instances (+ $capture_instances for captures only) behind nginx at $origin, PostgreSQL on $pg_port; $(jq -r .imported "$work/import.json" 2>/dev/null || cat "$work/import.json") identities"

fault_log="$work/fault.log"
: > "$fault_log"
if [ "$fault" != none ]; then
  (
    sleep "$fault_at"
    if [ "$fault" = kill ]; then
      echo "$(date +%s.%N) kill -9 instance 1 (pid ${pids[1]})" >> "$fault_log"
      kill -9 "${pids[1]}"
      sleep 5
      echo "$(date +%s.%N) restarting instance 1" >> "$fault_log"
      REALNAME_LISTEN="127.0.0.1:$((base_port + 1))" REALNAME_DATA_DIR="$work/data-1" \
        "$bin/realname-server" serve >>"$work/server-1.log" 2>&1 &
      echo $! > "$work/restarted.pid"
      echo "$(date +%s.%N) instance 1 started again" >> "$fault_log"
    else
      echo "$(date +%s.%N) PostgreSQL stop" >> "$fault_log"
      pg_stop_fast "$work/pg"
      for _ in $(seq 1 10); do
        code=$(curl -s -o "$work/during.json" -w '%{http_code}' "$origin/readyz" || true)
        echo "$(date +%s.%N) during outage: /readyz $code $(head -c 200 "$work/during.json")" >> "$fault_log"
        code=$(curl -s -o "$work/during.json" -w '%{http_code}' "$origin/signin" || true)
        echo "$(date +%s.%N) during outage: /signin $code $(head -c 200 "$work/during.json" | tr -d '\n' | head -c 120)" >> "$fault_log"
        sleep 1
      done
      pg_start_private "$work/pg" "$pg_port" >/dev/null
      echo "$(date +%s.%N) PostgreSQL started again" >> "$fault_log"
    fi
  ) &
  fault_pid=$!
fi

echo "== load: $users users, concurrency $concurrency, fault $fault at ${fault_at}s"
set +e
REALNAME_TRUSTED_ORIGINS="$origin" REALNAME_SERVER="$origin" REALNAME_CREDENTIAL_STORE=file \
  REALNAME_CREDENTIAL_FILE="$work/credentials.json" \
  "$bin/realname" --json load --people "$work/ids/people.csv" --users "$users" --concurrency "$concurrency" \
  --ramp 10 --mix genuine=90,cancel=10 "${sources[@]}" --sse-timeout 1200 --report "$work/report.json" > "$work/load.json" 2> "$work/load.err"
load_rc=$?
set -e
[ -n "${fault_pid:-}" ] && wait "$fault_pid" || true
[ -f "$work/restarted.pid" ] && pids[1]=$(cat "$work/restarted.pid")

echo "== load exit code $load_rc"
jq '{users, started_sessions, lost_sessions, wall_s, decisions, verifications_per_s, outcomes, errors_by_code,
     p99_decision_ms: .steps.capture_to_decision.p99_ms, p50_decision_ms: .steps.capture_to_decision.p50_ms,
     p99_pc_ms: .steps.decision_to_pc.p99_ms}' "$work/report.json" 2>/dev/null || cat "$work/load.json" "$work/load.err"
[ -s "$fault_log" ] && { echo "== fault log"; cat "$fault_log"; }

echo "== database checks"
psql_q() { psql -X -A -t -h 127.0.0.1 -p "$pg_port" -U realname -d postgres -c "$1"; }
echo "sessions by state: $(psql_q "select state, count(*) from face_sessions group by state order by state" | tr '\n' ' ')"
echo "sessions not final: $(psql_q "select count(*) from face_sessions where state not in ('passed','failed','expired','cancelled')")"
echo "ID numbers passed on more than one account: $(psql_q "select count(*) from (select id_hash from face_sessions where state = 'passed' group by id_hash having count(distinct account_id) > 1) x")"
echo "passed sessions: $(psql_q "select count(*) from face_sessions where state = 'passed'"), verified identities: $(psql_q "select count(*) from verified_identities")"
# Webhooks: give the outbox up to 60 s to drain, then compare it with what the receiver got.
for _ in $(seq 1 60); do
  [ "$(psql_q "select count(*) from webhook_outbox where status = 'pending'")" = 0 ] && break
  sleep 1
done
echo "webhook outbox by status: $(psql_q "select status, count(*) from webhook_outbox group by status order by status" | tr '\n' ' ')"
echo "final sessions without an event: $(psql_q "select count(*) from face_sessions s where state in ('passed','failed','expired','cancelled') and not exists (select 1 from webhook_outbox w where w.verification_id = s.id)")"
if [ -s "$work/webhooks.jsonl" ]; then
  jq -s '{deliveries: length, bad_signatures: map(select(.signature_ok | not)) | length,
          distinct_events: (map(.event_id) | unique | length),
          verifications_with_two_event_ids: (group_by(.verification_id) | map(select((map(.event_id) | unique | length) > 1)) | length),
          redelivered_same_id: (length - (map(.event_id) | unique | length))}' "$work/webhooks.jsonl"
  echo "outbox events never received: $(comm -23 <(psql_q "select event_id from webhook_outbox order by 1" | sort -u) <(jq -r .event_id "$work/webhooks.jsonl" | sort -u) | grep -c . || true)"
fi
for i in $(seq 1 "$all_instances"); do
  echo "instance $i log: $(grep -c . "$work/server-$i.log" || true) lines, $(grep -ci 'panick' "$work/server-$i.log" || true) panics"
done
echo "== report: $work/report.json"
exit "$load_rc"
