#!/usr/bin/env bash
# Installs what MedMesh needs from Debian packages (and later npm for the web UI).
# Idempotent: does nothing when everything is present. Called by `make run`, `make test`, CI.
set -euo pipefail

PACKAGES=(
  cmake ninja-build pkg-config g++ make git clang clang-format clang-tidy valgrind ccache
  libclang-rt-14-dev
  libboost1.81-dev libboost-url1.81-dev libssl-dev libsodium-dev
  libsqlite3-dev libsqlitecpp-dev sqlite3 libpq-dev libpqxx-dev postgresql
  nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev libzstd-dev zlib1g-dev
  prometheus-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
