#!/bin/sh
# The official postgres image's start-up contract, in brief: an empty $PGDATA is
# initialised with $POSTGRES_USER / $POSTGRES_PASSWORD (scram-sha-256 for TCP,
# trust on the local socket) and $POSTGRES_DB is created; then the server runs
# in the foreground, listening on every address.
set -eu
if [ "${1:-postgres}" = postgres ]; then
  shift || true
  user=${POSTGRES_USER:-postgres}
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    [ -n "${POSTGRES_PASSWORD:-}" ] || { echo "POSTGRES_PASSWORD is required" >&2; exit 1; }
    mkdir -p "$PGDATA" && chmod 700 "$PGDATA"
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
    printf 'host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    db=${POSTGRES_DB:-$user}
    if [ "$db" != postgres ]; then
      pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
      psql -v ON_ERROR_STOP=1 --username "$user" --dbname postgres -c "CREATE DATABASE \"$db\"" >/dev/null
      pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    fi
  fi
  exec postgres "$@"
fi
exec "$@"
