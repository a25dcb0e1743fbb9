#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) into build-fuzz and runs
# each for a bounded time on a copy of its seed corpus. Exits non-zero if any target crashed,
# hit a sanitizer report, a timeout, an out-of-memory or an invariant violation; the input that
# did it is saved as build-fuzz/crashes/<target>/<kind>-<sha1>.
#
#   bash tests/fuzz/run.sh [seconds_per_target]     # default 60
#
# Reproduce a crash:   build-fuzz/bin/<target> build-fuzz/crashes/<target>/crash-...
# Environment: HPO_FUZZ_BUILD_DIR (build-fuzz), HPO_JOBS (2), HPO_FUZZ_TARGETS (a subset, space
# separated), HPO_FUZZ_TIMEOUT (seconds one input may take, 10), HPO_FUZZ_RSS_MB (2048),
# HPO_FUZZ_MAX_LEN (largest generated input in bytes, 8192).
set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_PER_TARGET="${1:-60}"
BUILD_DIR="${HPO_FUZZ_BUILD_DIR:-build-fuzz}"
JOBS="${HPO_JOBS:-2}"
read -r -a TARGETS <<<"${HPO_FUZZ_TARGETS:-spec_yaml_fuzzer spec_json_fuzzer validation_fuzzer service_fuzzer http_fuzzer command_fuzzer}"
TIMEOUT="${HPO_FUZZ_TIMEOUT:-10}"
RSS_MB="${HPO_FUZZ_RSS_MB:-2048}"
MAX_LEN="${HPO_FUZZ_MAX_LEN:-8192}"

if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ is missing (bash deploy/install-deps.sh installs clang and libclang-rt-14-dev)" >&2
  exit 1
fi

CC=clang CXX=clang++ cmake -S tests/fuzz -B "$BUILD_DIR" -DHPO_FUZZ=ON >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" --target "${TARGETS[@]}"

# Symbolized stack traces (llvm-symbolizer comes with llvm-14).
for symbolizer in "$(command -v llvm-symbolizer || true)" /usr/lib/llvm-14/bin/llvm-symbolizer; do
  if [ -n "$symbolizer" ] && [ -x "$symbolizer" ]; then
    export ASAN_SYMBOLIZER_PATH="${ASAN_SYMBOLIZER_PATH:-$symbolizer}"
    export UBSAN_SYMBOLIZER_PATH="${UBSAN_SYMBOLIZER_PATH:-$symbolizer}"
    break
  fi
done
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

status=0
summary=()
for target in "${TARGETS[@]}"; do
  name="${target%_fuzzer}"
  corpus="$BUILD_DIR/corpus/$name"      # a working copy: libFuzzer adds what it finds here
  crashes="$BUILD_DIR/crashes/$target"
  log="$BUILD_DIR/logs/$target.log"
  rm -rf "$corpus"
  mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
  cp tests/fuzz/corpus/"$name"/* "$corpus"/
  before=$(find "$crashes" -type f | wc -l)
  echo "fuzz: $target for ${SECONDS_PER_TARGET}s (log: $log)"
  rc=0
  "$BUILD_DIR/bin/$target" "$corpus" \
    -max_total_time="$SECONDS_PER_TARGET" -timeout="$TIMEOUT" -rss_limit_mb="$RSS_MB" \
    -max_len="$MAX_LEN" -dict=tests/fuzz/hpo.dict -artifact_prefix="$crashes/" \
    -print_final_stats=1 >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  found=$(( $(find "$crashes" -type f | wc -l) - before ))
  size=$(find "$corpus" -type f | wc -l)
  summary+=("$(printf '%-20s execs %10s  corpus %6s  crashes %s' "$target" "${execs:-?}" "$size" "$found")")
  if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
    status=1
    echo "fuzz: $target FAILED (exit $rc); input saved under $crashes/:" >&2
    grep -E -A25 'ERROR: |runtime error|fuzz invariant violated' "$log" | head -60 >&2 || tail -40 "$log" >&2
  fi
done

echo "fuzz: summary (${SECONDS_PER_TARGET}s per target)"
printf '  %s\n' "${summary[@]}"
exit "$status"
