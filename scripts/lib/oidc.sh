# shellcheck shell=bash
# oidc-provider-mock (PyPI) as the upstream single sign-on provider in tests, on loopback.
# oidc_start PORT exports DV_TEST_OIDC_URL; oidc_stop stops it (callers trap it on EXIT).
. "$(dirname "${BASH_SOURCE[0]}")/python.sh"

oidc_start() {
  local port=$1 venv=.venv-test
  py_venv "$venv" oidc_provider_mock 'oidc-provider-mock==0.3.4'
  OIDC_LOG=$(mktemp -t dv-oidc.XXXXXX.log)
  "$venv/bin/oidc-provider-mock" --host 127.0.0.1 --port "$port" --require-nonce >"$OIDC_LOG" 2>&1 &
  OIDC_PID=$!
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      export DV_TEST_OIDC_URL="http://127.0.0.1:$port"
      return 0
    fi
    sleep 0.1
  done
  echo "oidc-provider-mock on port $port did not come up:" >&2
  cat "$OIDC_LOG" >&2
  return 1
}

oidc_stop() {
  if [ -n "${OIDC_PID:-}" ]; then
    kill "$OIDC_PID" 2>/dev/null || true
    wait "$OIDC_PID" 2>/dev/null || true
    OIDC_PID=
  fi
}
