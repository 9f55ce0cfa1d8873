#!/bin/sh
# The instruction counts of `make bench` (issue 12): callgrind instructions per call of
# ntruhps2048677's keypair, encapsulation and decapsulation in both builds
# (tools/ntru_callgrind.sh), the AVX2 build's ratio to the counts issue 12 gives for the NTRU
# team's hand-vectorised code (PQClean avx2: about 631k, 97k and 169k), and batch key generation
# per key against single keypairs (tools/ntru_batch_callgrind.sh). Unlike times, instruction
# counts of one binary do not depend on how busy the machine is; they are not times either
# (the reference's verdict in time needs both in one run).
#   tools/ntru_reference_callgrind.sh [build-dir]     (default build/release)
set -eu
build=${1:-build/release}
here=$(dirname "$0")
set=ntruhps2048677
if ! command -v valgrind >/dev/null 2>&1; then
  echo "valgrind is not installed (tools/setup.sh installs it): no instruction counts"
  exit 0
fi
echo "Instructions per call (callgrind), $set:"
counts=$("$here/ntru_callgrind.sh" "$build" "$set")
echo "$counts"
echo "$counts" | awk -v set="$set" '
  $1 == set && $2 == "avx2" {
    printf "%s avx2 against the reference (issue 12: keypair ~631k, enc ~97k, dec ~169k):", set
    printf " keypair %.2fx, enc %.2fx, dec %.2fx\n", $3 / 631000, $4 / 97000, $5 / 169000
  }'
echo
echo "Batch key generation, instructions per key (callgrind):"
"$here/ntru_batch_callgrind.sh" "$build" "$set"
