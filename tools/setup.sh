#!/usr/bin/env bash
# Installs what MedMesh needs from Debian packages (chromium for the browser tests), and the npm
# packages of tools/fhir-validate (the FHIR validator), web/ (Chart.js, embedded in the binary)
# and tests/browser (playwright-core, axe-core).
# Idempotent: does nothing when everything is present. Called by `make run`, `make test`, CI.
set -euo pipefail

PACKAGES=(
  cmake ninja-build pkg-config g++ make git clang clang-format clang-tidy valgrind ccache
  libclang-rt-14-dev lld
  libboost1.81-dev libboost-url1.81-dev libssl-dev libsodium-dev
  libsqlite3-dev libsqlitecpp-dev sqlite3 libpq-dev libpqxx-dev postgresql
  nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev libzstd-dev zlib1g-dev
  prometheus-cpp-dev libxgboost-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  chromium
)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
# Node.js runs the FHIR validator in the tests (tools/fhir-validate). A machine may already have
# a newer Node.js than Debian's (with npm inside); only when there is none, take Debian's.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi

if [[ ${#missing[@]} -gt 0 ]]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# npm packages, exactly as locked: installed (from the npm registry) only when node_modules is
# missing or package-lock.json changed since the last install, so builds and tests never need
# the network.
root="$(cd "$(dirname "$0")/.." && pwd)"
for dir in "$root/tools/fhir-validate" "$root/web" "$root/tests/browser"; do
  lock_sum=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  stamp="$dir/node_modules/.medmesh-lock-sha256"
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$lock_sum" ]]; then
    echo "setup: npm ci in ${dir#"$root"/}"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock_sum" >"$stamp"
  fi
done
