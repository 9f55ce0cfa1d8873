#!/bin/sh
# Instructions per key of NTRU key generation under callgrind, single calls against one batch
# call of COUNT keys, for every set and build (or the sets given). Only the C API function is
# counted (--toggle-collect).
#   tools/ntru_batch_callgrind.sh [build-dir] [sets...]     (default build/release, all four sets)
set -eu
build=${1:-build/release}
[ $# -gt 0 ] && shift
sets=${*:-ntruhps2048509 ntruhps2048677 ntruhps4096821 ntruhrss701}
count=64
ops="$build/bench/ntru_ops"
run() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect="$1" \
    "$ops" "$2" "$3" "$4" "$count" 2>&1 | sed -n 's/.*Collected : *//p'
}
printf '%-16s %-9s %14s %14s %6s\n' set impl single/key "batch$count/key" ratio
for set in $sets; do
  for impl in portable avx2; do
    single=$(( $(run "medmesh_${set}_keypair_derand" "$set" "$impl" keypair) / count ))
    batch=$(( $(run "medmesh_${set}_keypair_batch" "$set" "$impl" batch) / count ))
    printf '%-16s %-9s %14d %14d %6s\n' "$set" "$impl" "$single" "$batch" \
      "$(awk "BEGIN { printf \"%.3f\", $batch / $single }")"
  done
done
