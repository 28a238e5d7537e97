#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets) for a fixed time and prints libFuzzer's
# figures (executions, coverage, crashes). Needs a nightly toolchain and cargo-fuzz:
#   rustup toolchain install nightly && cargo install cargo-fuzz --locked
# Usage: scripts/fuzz.sh [seconds per target, default 120] [target ...]
# Corpora grow in fuzz/corpus/<target> (seeded from fuzz/seeds/<target>); a crash leaves its
# input in fuzz/artifacts/<target>/ and makes the script exit non-zero.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"
secs=${1:-120}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(id_number name qr_payload capture_metadata image_decode)
shared=${REALNAME_SHARED_DIR:-$root/../shared}
# Release builds with AddressSanitizer and debug assertions. The text targets first (a minute);
# the image target needs the face crate and candle (feature `image`, a long first build).
fuzz_flags=(-O --debug-assertions)
features() { if [ "$1" = image_decode ]; then echo "--features=image"; fi; }
cargo +nightly fuzz build "${fuzz_flags[@]}"
for t in "${targets[@]}"; do
  if [ "$t" = image_decode ]; then cargo +nightly fuzz build "${fuzz_flags[@]}" --features=image image_decode; fi
done
status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  cp -n seeds/"$t"/* "corpus/$t/" 2>/dev/null || true
  # Real camera frames (12–30 KB JPEGs of the liveness data set) as extra image seeds.
  if [ "$t" = image_decode ] && [ -d "$shared/data/liveness/clips/lp_d18" ]; then
    cp -n "$shared"/data/liveness/clips/lp_d18/000[1-3].jpg "corpus/$t/" 2>/dev/null || true
  fi
  echo "== $t: ${secs} s"
  # -max_len: 4 KiB for the text parsers; 64 KiB for images (enough for real JPEG seeds).
  max_len=4096
  if [ "$t" = image_decode ]; then max_len=65536; fi
  log="artifacts/$t.log"
  mkdir -p artifacts
  if ! cargo +nightly fuzz run "${fuzz_flags[@]}" $(features "$t") "$t" "corpus/$t" -- -max_total_time="$secs" -max_len="$max_len" \
      -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    status=1
    echo "   CRASH: see $log and fuzz/artifacts/$t/"
  fi
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|stat::new_units_added)' "$log" | sed 's/^/   /' || true
  grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE)' "$log" | tail -n 1 | sed 's/^/   last: /' || true
  grep -E '^Done [0-9]+ runs' "$log" | sed 's/^/   /' || true
done
exit $status
