#!/bin/sh
# Instructions per call of the NTRU KEM operations under callgrind, for every set, build and
# operation (or those given): ntru_ops runs each operation COUNT and 2*COUNT times with only the
# C API function counted (--toggle-collect); the difference divided by COUNT leaves out one-time
# costs (OpenSSL's first SHA3 fetch).
#   tools/ntru_callgrind.sh [build-dir] [sets...]     (default build/release, all four sets)
# NTRU_OPS=path/to/ntru_ops counts another build's binary (an A/B comparison of two commits).
set -eu
build=${1:-build/release}
[ $# -gt 0 ] && shift
sets=${*:-ntruhps2048509 ntruhps2048677 ntruhps4096821 ntruhrss701}
count=10
ops="${NTRU_OPS:-$build/bench/ntru_ops}"
run() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect="$1" \
    "$ops" "$2" "$3" "$4" "$5" 2>&1 | sed -n 's/.*Collected : *//p'
}
printf '%-16s %-9s %12s %12s %12s\n' set impl keypair enc dec
for set in $sets; do
  for impl in portable avx2; do
    line=$(printf '%-16s %-9s' "$set" "$impl")
    for op in keypair enc dec; do
      fn="medmesh_${set}_${op}"
      [ "$op" = keypair ] && fn="${fn}_derand"
      [ "$op" = enc ] && fn="${fn}_derand"
      t1=$(run "$fn" "$set" "$impl" "$op" "$count")
      t2=$(run "$fn" "$set" "$impl" "$op" $((2 * count)))
      line="$line $(printf '%12d' $(((t2 - t1) / count)))"
    done
    echo "$line"
  done
done
