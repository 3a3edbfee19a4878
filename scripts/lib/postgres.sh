# shellcheck shell=bash
# PostgreSQL for tests and benchmarks: installed from Debian packages if missing, run as a throwaway
# cluster on loopback, owned by this shell (stopped by pg_stop, which the callers trap on EXIT).

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && echo "$dir"
}

pg_ensure_installed() {
  if [ -z "$(pg_bin)" ]; then
    echo "==> installing PostgreSQL (Debian package postgresql)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
  fi
  [ -n "$(pg_bin)" ] || { echo "PostgreSQL binaries not found after install" >&2; return 1; }
}

# pg_start PORT: initdb a cluster in a temp dir and start it on 127.0.0.1:PORT, superuser 'dataverket',
# trust auth on loopback only. Exports DV_PG_ADMIN_URL, and for restarting it under a test (the chaos test's
# `pg_ctl restart -m immediate`): DV_PG_BIN (the directory of pg_ctl), DV_PG_DATA (the data directory),
# DV_PG_LOG (the server log) and DV_PG_OS_USER (the system user pg_ctl must run as; empty: the caller's).
pg_start() {
  local port=$1 bin run_as=()
  bin=$(pg_bin)
  PG_DATA_DIR=$(mktemp -d /tmp/dv-pg.XXXXXX)
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$PG_DATA_DIR"
    run_as=(runuser -u postgres --)
  fi
  "${run_as[@]}" "$bin/initdb" -D "$PG_DATA_DIR/data" -U dataverket --auth=trust -E UTF8 --no-sync >/dev/null
  # Fast but not forgetful: without fsync (and full-page writes) an OS crash could lose data, which a throwaway
  # cluster does not mind; synchronous_commit stays on, so a commit's WAL is written before it is acknowledged
  # and a crash of the server process (the chaos test's `pg_ctl restart -m immediate`) loses no committed
  # transaction — with it off, the last few hundred milliseconds of commits vanish and no client could cope.
  "${run_as[@]}" "$bin/pg_ctl" -D "$PG_DATA_DIR/data" -l "$PG_DATA_DIR/log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$PG_DATA_DIR -c fsync=off -c synchronous_commit=on -c full_page_writes=off -c max_connections=300" \
    start >/dev/null
  PG_RUN_AS=("${run_as[@]}")
  export DV_PG_ADMIN_URL="postgres://dataverket@127.0.0.1:$port/postgres"
  export DV_PG_BIN="$bin" DV_PG_DATA="$PG_DATA_DIR/data" DV_PG_LOG="$PG_DATA_DIR/log"
  if [ ${#run_as[@]} -gt 0 ]; then export DV_PG_OS_USER=postgres; else export DV_PG_OS_USER=; fi
  echo "==> PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
}

pg_stop() {
  [ -n "${PG_DATA_DIR:-}" ] || return 0
  "${PG_RUN_AS[@]}" "$(pg_bin)/pg_ctl" -D "$PG_DATA_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_DATA_DIR"
  PG_DATA_DIR=
}
