#!/usr/bin/env bash
# A throw-away PostgreSQL cluster on 127.0.0.1 for tests and local clusters.
#   scripts/pg-cluster.sh install        install Debian's postgresql package when missing (root)
#   scripts/pg-cluster.sh start DIR PORT  initdb (if needed) and start a cluster in DIR on PORT
#   scripts/pg-cluster.sh stop DIR        stop it
# PostgreSQL refuses to run as root, so as root the cluster runs as the postgres user.
set -euo pipefail

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$dir" ] && [ -x "$dir/pg_ctl" ] && echo "$dir"
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
  install)
    if pg_bin >/dev/null; then exit 0; fi
    if [ "$(id -u)" != 0 ]; then
      echo "PostgreSQL is not installed and this is not root: install Debian's 'postgresql' package" >&2
      exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q postgresql >/dev/null
    pg_bin >/dev/null
    ;;
  start)
    dir=$2; port=$3
    bin=$(pg_bin) || { echo "PostgreSQL binaries not found" >&2; exit 1; }
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$dir"; chmod 700 "$dir"; fi
    if [ ! -f "$dir/PG_VERSION" ]; then
      as_pg "$bin/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    fi
    as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off -c max_connections=200" \
      start >/dev/null
    ;;
  stop)
    dir=$2
    bin=$(pg_bin) || exit 0
    [ -f "$dir/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || true
    ;;
  *)
    echo "usage: $0 install | start DIR PORT | stop DIR" >&2
    exit 2
    ;;
esac
