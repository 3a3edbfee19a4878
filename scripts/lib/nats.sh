# shellcheck shell=bash
# nats-server for tests: installed from Debian packages if missing, started on loopback in a temp state dir.
# nats_start_all starts four servers (JetStream, user/password, token, TLS) and exports DV_TEST_NATS_* for
# the tests; nats_start_js starts one JetStream server (benchmarks); nats_stop stops what either started (the
# callers trap it on EXIT).

nats_ensure_installed() {
  local missing=()
  command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing ${missing[*]} (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

_nats_wait_port() {
  local port=$1
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nats-server on port $port did not come up" >&2
  return 1
}

_nats_start() {
  local name=$1 port=$2
  shift 2
  nats-server -a 127.0.0.1 -p "$port" "$@" >"$NATS_STATE_DIR/$name.log" 2>&1 &
  echo $! >"$NATS_STATE_DIR/$name.pid"
  _nats_wait_port "$port"
}

# nats_start_all BASE_PORT: JetStream on BASE, user/password on BASE+1, token on BASE+2, TLS on BASE+4;
# BASE+3 is left free for the restart test's own server.
nats_start_all() {
  local base=$1
  NATS_STATE_DIR=$(mktemp -d /tmp/dv-nats.XXXXXX)
  mkdir -p "$NATS_STATE_DIR/js" "$NATS_STATE_DIR/tls"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$NATS_STATE_DIR/tls/key.pem" -out "$NATS_STATE_DIR/tls/cert.pem" \
    -days 2 -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1
  _nats_start js "$base" -js -sd "$NATS_STATE_DIR/js"
  _nats_start auth "$((base + 1))" --user u --pass p
  _nats_start token "$((base + 2))" --auth s3cr3t
  _nats_start tls "$((base + 4))" --tls --tlscert "$NATS_STATE_DIR/tls/cert.pem" --tlskey "$NATS_STATE_DIR/tls/key.pem"
  export DV_TEST_NATS_URL="nats://127.0.0.1:$base"
  export DV_TEST_NATS_AUTH_URL="nats://127.0.0.1:$((base + 1))"
  export DV_TEST_NATS_TOKEN_URL="nats://127.0.0.1:$((base + 2))"
  export DV_TEST_NATS_RESTART_PORT="$((base + 3))"
  export DV_TEST_NATS_TLS_URL="nats://localhost:$((base + 4))"
  export DV_TEST_NATS_TLS_CA="$NATS_STATE_DIR/tls/cert.pem"
  echo "==> $(nats-server --version) on 127.0.0.1:$base (+auth, token, TLS)"
}

# nats_start_js PORT: one JetStream server on 127.0.0.1:PORT with its own store under NATS_STATE_DIR.
# Exports DV_NATS_JS_URL.
nats_start_js() {
  local port=$1 pid
  NATS_STATE_DIR=${NATS_STATE_DIR:-$(mktemp -d /tmp/dv-nats.XXXXXX)}
  mkdir -p "$NATS_STATE_DIR/js-$port"
  _nats_start "js-$port" "$port" -js -sd "$NATS_STATE_DIR/js-$port"
  pid=$(cat "$NATS_STATE_DIR/js-$port.pid")
  if ! kill -0 "$pid" 2>/dev/null; then
    # Something else answered on the port and ours exited (address in use?).
    echo "nats-server on port $port exited:" >&2
    cat "$NATS_STATE_DIR/js-$port.log" >&2
    return 1
  fi
  export DV_NATS_JS_URL="nats://127.0.0.1:$port"
  echo "==> $(nats-server --version) with JetStream on 127.0.0.1:$port"
}

nats_stop() {
  [ -n "${NATS_STATE_DIR:-}" ] || return 0
  local pid
  for f in "$NATS_STATE_DIR"/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
  done
  sleep 0.2
  rm -rf "$NATS_STATE_DIR"
  NATS_STATE_DIR=
}
