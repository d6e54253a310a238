#!/usr/bin/env bash
# A throwaway PostgreSQL for the store's tests on PostgreSQL (issue 18): a cluster of our
# own in a temporary directory (a fresh CI machine runs no database service), on
# 127.0.0.1:55432 and a private unix socket, never the system's 5432 cluster.
#
#   .ci/postgres.sh start   start it (or find it running), create role eceprobe and database
#                           eceprobe_test (UTF8, LC_COLLATE C); print the test URL on stdout:
#                           postgres://eceprobe:PASSWORD@127.0.0.1:55432/eceprobe_test
#   .ci/postgres.sh stop    stop it and delete its directory
#
# Progress goes to stderr, so `url=$(.ci/postgres.sh start)` keeps the password off logs.
# Run as root, the cluster is owned by the user postgres (initdb refuses root); run as anyone
# else, by that user. Both commands can be repeated.
# Environment: ECEPROBE_PG_DIR (default ${TMPDIR:-/tmp}/eceprobe-ci-postgres),
# ECEPROBE_PG_PORT (default 55432).
set -euo pipefail

dir=${ECEPROBE_PG_DIR:-${TMPDIR:-/tmp}/eceprobe-ci-postgres}
port=${ECEPROBE_PG_PORT:-55432}
data=$dir/data
sock=$dir/sock
say() { echo "postgres.sh: $*" >&2; }
die() { say "$*"; exit 1; }

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$bindir" ] && [ -x "$bindir/initdb" ] \
  || die "PostgreSQL is not installed: no /usr/lib/postgresql/*/bin/initdb. Install Debian's package: apt-get install postgresql"

if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || die "no user postgres to own the cluster (Debian's postgresql package creates it)"
  owner=postgres
  as_owner() { runuser -u postgres -- "$@"; }
else
  owner=$(id -un)
  as_owner() { "$@"; }
fi

running() { [ -f "$data/PG_VERSION" ] && as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; }

# The cluster's superuser, over the private socket (only its owner can reach the socket).
superuser_sql() { as_owner "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres -d postgres "$@"; }

start() {
  if running; then
    say "already running: $data on 127.0.0.1:$port (socket $sock)"
  else
    if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" 2>/dev/null; then
      die "port $port on 127.0.0.1 is taken by another server: stop it, or set ECEPROBE_PG_PORT"
    fi
    rm -rf "$dir"
    mkdir -p "$data" "$sock"
    chmod 700 "$dir" "$sock"
    [ "$owner" = postgres ] && chown -R postgres "$dir"
    say "initdb $data ($("$bindir/postgres" --version), owner $owner)"
    # Local socket: trust, the socket directory being private. TCP: a password, as a real
    # deployment connects.
    as_owner "$bindir/initdb" -D "$data" -U postgres --encoding=UTF8 --locale=C \
      --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 \
      || die "initdb failed; its output: $(tail -n 20 "$dir/initdb.log")"
    say "starting it on 127.0.0.1:$port, socket $sock, log $dir/server.log"
    as_owner "$bindir/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$sock -c unix_socket_permissions=0700" \
      start >/dev/null \
      || die "the server did not start; its log: $(tail -n 20 "$dir/server.log" 2>/dev/null)"
  fi
  if [ ! -s "$dir/password" ]; then
    (umask 077; openssl rand -hex 16 >"$dir/password") || die "could not write $dir/password"
  fi
  local password
  password=$(cat "$dir/password")
  say "role eceprobe, database eceprobe_test (template0, UTF8, LC_COLLATE C)"
  # Through stdin, so the password is on no command line.
  superuser_sql <<SQL || die "creating role eceprobe or database eceprobe_test failed (log: $dir/server.log)"
SELECT 'CREATE ROLE eceprobe' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'eceprobe') \gexec
ALTER ROLE eceprobe LOGIN PASSWORD '$password';
SELECT 'CREATE DATABASE eceprobe_test OWNER eceprobe TEMPLATE template0 ENCODING ''UTF8'' LC_COLLATE ''C'' LC_CTYPE ''C'''
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'eceprobe_test') \gexec
SQL
  echo "postgres://eceprobe:$password@127.0.0.1:$port/eceprobe_test"
}

stop() {
  if running; then
    say "stopping $data"
    as_owner "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null \
      || die "the server at $data did not stop; its log: $dir/server.log"
  else
    say "not running ($data)"
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) die "usage: .ci/postgres.sh start|stop" ;;
esac
