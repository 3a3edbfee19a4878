# shellcheck shell=bash
# PowerDNS (Debian: pdns-server + pdns-backend-sqlite3) as the authoritative DNS server Nett pushes records to, on
# loopback: its HTTP API and a DNS listener, a throwaway SQLite database, no outside lookups.
#
# pdns_ensure_installed        installs pdns-server, pdns-backend-sqlite3, sqlite3 and bind9-dnsutils (dig) if missing.
# pdns_start API_PORT DNS_PORT starts it and exports DV_TEST_PDNS_URL, DV_TEST_PDNS_API_KEY, DV_TEST_PDNS_DNS_PORT.
# pdns_stop                    stops what pdns_start started (callers trap it on EXIT).

pdns_ensure_installed() {
  if ! command -v pdns_server >/dev/null 2>&1 && ! [ -x /usr/sbin/pdns_server ] \
    || ! [ -f /usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql ] || ! command -v sqlite3 >/dev/null 2>&1 \
    || ! command -v dig >/dev/null 2>&1; then
    echo "==> installing pdns-server, pdns-backend-sqlite3, sqlite3 and bind9-dnsutils (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # The package's post-install would start a system-wide pdns; there is no init system here, and nothing else
    # should listen on port 53: policy-rc.d keeps it from starting.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    apt-get install -y -qq --no-install-recommends pdns-server pdns-backend-sqlite3 sqlite3 bind9-dnsutils >/dev/null
    rm -f /usr/sbin/policy-rc.d
  fi
}

pdns_start() {
  local api_port=$1 dns_port=$2
  PDNS_DIR=$(mktemp -d -t dv-pdns.XXXXXX)
  local key
  key=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  sqlite3 "$PDNS_DIR/pdns.sqlite3" </usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql
  cat >"$PDNS_DIR/pdns.conf" <<CONF
launch=gsqlite3
gsqlite3-database=$PDNS_DIR/pdns.sqlite3
local-address=127.0.0.1
local-port=$dns_port
api=yes
api-key=$key
webserver=yes
webserver-address=127.0.0.1
webserver-port=$api_port
webserver-allow-from=127.0.0.1
daemon=no
guardian=no
security-poll-suffix=
socket-dir=$PDNS_DIR
CONF
  /usr/sbin/pdns_server --config-dir="$PDNS_DIR" >"$PDNS_DIR/pdns.log" 2>&1 &
  PDNS_PID=$!
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$api_port") 2>/dev/null; then
      export DV_TEST_PDNS_URL="http://127.0.0.1:$api_port" DV_TEST_PDNS_API_KEY="$key" DV_TEST_PDNS_DNS_PORT="$dns_port"
      echo "==> PowerDNS $(/usr/sbin/pdns_server --version 2>&1 | grep -o '[0-9][0-9.]*' | head -1) on 127.0.0.1:$dns_port (API :$api_port)"
      return 0
    fi
    sleep 0.1
  done
  echo "pdns_server on port $api_port did not come up:" >&2
  cat "$PDNS_DIR/pdns.log" >&2
  return 1
}

pdns_stop() {
  if [ -n "${PDNS_PID:-}" ]; then
    kill "$PDNS_PID" 2>/dev/null || true
    wait "$PDNS_PID" 2>/dev/null || true
    PDNS_PID=
  fi
  if [ -n "${PDNS_DIR:-}" ]; then rm -rf "$PDNS_DIR"; PDNS_DIR=; fi
}
