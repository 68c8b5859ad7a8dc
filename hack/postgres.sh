#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests and `make up` when DATABASE_URL is unset.
# Uses the Debian server binaries (installed with apt when missing), runs as the
# `postgres` user when invoked as root (initdb refuses root), listens on
# 127.0.0.1:$PG_PORT only, trust auth, data under $PG_DIR
# (default: $TMPDIR/chronoverse-postgres-<port>).
# Usage: hack/postgres.sh up|stop|down|url|status
#   stop: stops the server and keeps its data (`up` starts it again), as a
#   restart test needs; down: stops it and removes the data.
set -euo pipefail
port=${PG_PORT:-55432}
# Outside the checkout: the server runs as `postgres` when we are root, and a
# checkout under a private home folder would be out of its reach.
dir=${PG_DIR:-${TMPDIR:-/tmp}/chronoverse-postgres-$port}
url="postgres://postgres@127.0.0.1:$port/postgres"

log() { printf '[postgres] %s\n' "$*" >&2; }

pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$d" ] || [ ! -x "$d/initdb" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      log "installing the Debian postgresql server package"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null; }
      d=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    else
      log "PostgreSQL server binaries not found: install the postgresql package or set DATABASE_URL"; exit 1
    fi
  fi
  echo "$d"
}

# as_owner CMD... -> run as the postgres user when we are root
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

status() { "$(pg_bindir)/pg_isready" -q -h 127.0.0.1 -p "$port"; }

up() {
  local b; b=$(pg_bindir)
  if status; then echo "$url"; return; fi
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  if [ ! -f "$dir/PG_VERSION" ]; then
    as_owner "$b/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
  fi
  as_owner "$b/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k /tmp -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null
  log "running on 127.0.0.1:$port"
  echo "$url"
}

stop() {
  local b; b=$(pg_bindir)
  if [ -f "$dir/postmaster.pid" ]; then as_owner "$b/pg_ctl" -D "$dir" -m fast -w stop >/dev/null; fi
}

down() {
  local b; b=$(pg_bindir)
  if [ -f "$dir/postmaster.pid" ]; then as_owner "$b/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || true; fi
  rm -rf "$dir"
}

case ${1:-} in
  up) up ;;
  stop) stop ;;
  down) down ;;
  url) echo "$url" ;;
  status) status ;;
  *) echo "usage: $0 up|stop|down|url|status" >&2; exit 2 ;;
esac
