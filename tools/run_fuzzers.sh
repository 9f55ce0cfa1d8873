#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build for a fixed time each, starting from its seed
# corpus, and fails if any of them finds a crash, a leak, undefined behaviour or a timeout.
#
# Usage: tools/run_fuzzers.sh [BUILD_DIR] [NAME...]
#   BUILD_DIR  the fuzz preset's build directory (default: build/fuzz); every executable in it
#              whose name ends in _fuzzer is a target.
#   NAME...    run only these targets (e.g. ntru_decaps_fuzzer).
# Environment:
#   FUZZ_SECONDS  time per target in seconds (default 60)
#   FUZZ_TIMEOUT  seconds one input may take before it counts as a hang (default 25)
#
# The seed corpus of foo_fuzzer is src/<module>/fuzz_corpus/foo/ (and an optional libFuzzer
# dictionary src/<module>/fuzz_corpus/foo.dict). It is copied to a temporary directory first, so
# the inputs libFuzzer adds never land in the repository. Crash inputs are kept in
# BUILD_DIR/fuzz_artifacts/<target>/ with the command that reproduces them.
#
# Exit status: 0 if every target ran its time without a finding, 1 otherwise (also when no
# target exists, so that a broken fuzz build cannot pass silently), 2 on a usage error.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${1:-$repo/build/fuzz}
shift || true
seconds=${FUZZ_SECONDS:-60}
timeout=${FUZZ_TIMEOUT:-25}

check_seconds() {
  if ! [[ $2 =~ ^[1-9][0-9]*$ ]]; then
    echo "run_fuzzers: $1 must be a positive whole number of seconds, got '$2'" >&2
    exit 2
  fi
}
check_seconds FUZZ_SECONDS "$seconds"
check_seconds FUZZ_TIMEOUT "$timeout"
if [[ ! -d $build_dir ]]; then
  echo "run_fuzzers: no build directory '$build_dir' (build it with: make fuzz)" >&2
  exit 2
fi
build_dir=$(cd "$build_dir" && pwd)

# The fuzz preset does not pass -fno-sanitize-recover, so make UBSan findings fatal here;
# otherwise libFuzzer would print them and carry on as if nothing happened.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}halt_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"

mapfile -t targets < <(find "$build_dir" -type f -name '*_fuzzer' -perm -u+x | sort)
if [[ $# -gt 0 ]]; then
  wanted=("$@")
  selected=()
  for t in "${targets[@]}"; do
    for w in "${wanted[@]}"; do
      if [[ $(basename "$t") == "$w" ]]; then selected+=("$t"); fi
    done
  done
  targets=("${selected[@]}")
fi
if [[ ${#targets[@]} -eq 0 ]]; then
  echo "run_fuzzers: no *_fuzzer executables in $build_dir${1:+ matching $*}" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/medmesh-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

failed=()
for bin in "${targets[@]}"; do
  name=$(basename "$bin")
  short=${name%_fuzzer}
  corpus="$work/$name/corpus"
  artifacts="$build_dir/fuzz_artifacts/$name"
  mkdir -p "$corpus" "$artifacts"

  seeds=""
  dict_args=()
  for d in "$repo"/src/*/fuzz_corpus/"$short"; do
    if [[ -d $d ]]; then
      seeds=$d
      break
    fi
  done
  if [[ -n $seeds ]]; then
    cp -R "$seeds"/. "$corpus"/
    if [[ -f $seeds.dict ]]; then dict_args=("-dict=$seeds.dict"); fi
    echo "== $name: ${seconds}s from $(find "$corpus" -type f | wc -l) seeds in ${seeds#"$repo"/}"
  else
    echo "== $name: ${seconds}s with no seed corpus (expected src/<module>/fuzz_corpus/$short/)"
  fi

  log="$work/$name/fuzz.log"
  started="$work/$name/started"
  touch "$started"
  status=0
  "$bin" -max_total_time="$seconds" -timeout="$timeout" -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "${dict_args[@]}" "$corpus" >"$log" 2>&1 || status=$?
  if [[ $status -eq 0 ]]; then
    grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
  else
    echo "!! $name failed (exit $status); the end of its log:" >&2
    tail -n 60 "$log" >&2
    mapfile -t found < <(find "$artifacts" -type f -newer "$started" | sort)
    for a in "${found[@]}"; do
      echo "!! reproduce with: $bin $a" >&2
    done
    failed+=("$name")
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "run_fuzzers: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "run_fuzzers: ${#targets[@]} target(s) ran ${seconds}s each without a finding"
