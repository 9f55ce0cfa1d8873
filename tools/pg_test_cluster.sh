#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the test suite, from Debian's server binaries.
#
#   tools/pg_test_cluster.sh start [DIR [PORT]]   initdb (if needed) and start; waits until ready
#   tools/pg_test_cluster.sh stop  [DIR [PORT]]   stop and delete DIR
#   tools/pg_test_cluster.sh env   [DIR [PORT]]   print export MEDMESH_TEST_PG='<connection URI>'
#                                                  (for: eval "$(tools/pg_test_cluster.sh env)")
#
# DIR defaults to $MEDMESH_PG_DIR or /tmp/medmesh-pg-$UID, PORT to $MEDMESH_PG_PORT or 54329.
# The cluster listens only on a Unix socket inside DIR (no TCP), so clusters of different
# build trees never collide; PORT only names the socket. Authentication is "trust": the cluster
# is for tests only, reachable only through DIR. fsync is off: nothing here needs to survive a
# power cut.
#
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user that
# Debian's package creates (via runuser); as anyone else it runs as that user.
# The ctest fixture (src/store/CMakeLists.txt) calls start before and stop after the tests that
# need the cluster. Exit status: 0 on success, 1 on failure (with the server log's tail).
set -euo pipefail

cmd=${1:-}
dir=${2:-${MEDMESH_PG_DIR:-/tmp/medmesh-pg-$(id -u)}}
port=${3:-${MEDMESH_PG_PORT:-54329}}
bindir=${MEDMESH_PG_BINDIR:-/usr/lib/postgresql/15/bin}
data="$dir/data"
log="$dir/server.log"

die() {
  echo "pg_test_cluster: $*" >&2
  exit 1
}

[[ "$dir" = /* ]] || die "DIR must be an absolute path: $dir"
[[ "$port" =~ ^[0-9]+$ ]] || die "PORT must be a number: $port"

# Runs a server binary as the cluster's OS user.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

running() {
  [[ -f "$data/PG_VERSION" ]] && as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1
}

uri() {
  echo "postgresql:///postgres?host=$dir&port=$port&user=postgres"
}

start() {
  [[ -x "$bindir/initdb" ]] ||
    die "no PostgreSQL server binaries in $bindir (install the 'postgresql' package: tools/setup.sh)"
  if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
    die "running as root needs the 'postgres' OS user (created by Debian's postgresql package)"
  fi
  if running; then
    echo "pg_test_cluster: already running in $dir"
    return 0
  fi
  # Whatever is left of an earlier run (a crash, a reboot) is thrown away.
  rm -rf "$dir"
  mkdir -p "$dir"
  chmod 0700 "$dir"
  if [[ $(id -u) -eq 0 ]]; then chown postgres: "$dir"; fi
  if ! as_owner "$bindir/initdb" -D "$data" --auth=trust --username=postgres --encoding=UTF8 \
    --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    die "initdb failed"
  fi
  local opts="-c listen_addresses='' -c unix_socket_directories='$dir' -p $port"
  opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
  if ! as_owner "$bindir/pg_ctl" -D "$data" -l "$log" -o "$opts" -w -t 60 start >/dev/null; then
    tail -n 30 "$log" >&2 || true
    die "the server did not start"
  fi
  # Let the test user (root or the caller) reach the socket directory.
  chmod 0755 "$dir"
  echo "pg_test_cluster: running in $dir; MEDMESH_TEST_PG=$(uri)"
}

stop() {
  if running; then
    as_owner "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null ||
      die "the server did not stop (see $log)"
  fi
  rm -rf "$dir"
  echo "pg_test_cluster: stopped"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  env) echo "export MEDMESH_TEST_PG='$(uri)'" ;;
  *)
    echo "usage: $0 start|stop|env [DIR [PORT]]" >&2
    exit 2
    ;;
esac
