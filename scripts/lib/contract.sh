# shellcheck shell=bash
# The contract fuzz run (issue 16 §6): schemathesis (PyPI, in .venv-schemathesis) over every operation of
# openapi/dataverket.yaml against `dataverket serve` on loopback, authenticated as the platform admin, in two passes
# over one server (custom formats: scripts/lib/contract_hooks.py). Both judged by scripts/lib/contract_report.py:
# - positive (schema-valid requests): no response >= 500, every response as the document says (status, content type,
#   headers, body), and fewer than 5% of any operation's schema-valid requests refused as invalid;
# - negative (requests that break the document: out-of-range values, wrong types, null, missing required fields and
#   headers, methods the path does not have): every one refused — 0 accepted, a missing credential 401 first, an
#   undeclared method 405 — and again no response >= 500 and every response as documented.
. "$(dirname "${BASH_SOURCE[0]}")/python.sh"

contract_ensure_installed() {
  py_venv .venv-schemathesis schemathesis 'schemathesis==4.32.5'
}

# contract_fuzz NAME [DATABASE_URL]: both passes against a fresh server on a free loopback port (SQLite in a temp
# directory, or the PostgreSQL database at DATABASE_URL). DV_CONTRACT_EXAMPLES sets the examples per operation of the
# positive pass, DV_CONTRACT_NEGATIVE_EXAMPLES of the negative one (which also runs schemathesis's boundary cases:
# just past every minimum, maximum and length, each required part left out).
contract_fuzz() {
  local name=$1 database_url=${2:-} dir port pid status=0
  dir=$(mktemp -d -t dv-contract.XXXXXX)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # Rate limits out of the way: the run measures the contract, not the limiter (tested on its own).
  DV_DATABASE_URL="$database_url" DV_NATS_URL="" \
    DV_RATE_LIMITS="reads=1000000/1000000,writes=1000000/1000000,destructive=1000000/1000000,anonymous=1000000/1000000,tenant-destructive=1000" \
    .build/debug/dataverket serve --listen "127.0.0.1:$port" --data-dir "$dir/data" >"$dir/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 240); do
    [ -s "$dir/data/bootstrap-token" ] && curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.5
  done
  local token
  token=$(curl -fs -X POST "http://127.0.0.1:$port/v1/identity/token" -H 'Content-Type: application/json' \
    -d "{\"grantType\":\"bootstrap\",\"token\":\"$(cat "$dir/data/bootstrap-token" 2>/dev/null)\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])') || {
    echo "contract ($name): the server did not start or refused the bootstrap credential:" >&2
    tail -n 20 "$dir/server.log" >&2
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    return 1
  }
  echo "==> contract fuzz ($name): schemathesis over every operation, ${DV_CONTRACT_EXAMPLES:-15} examples each"
  .venv-schemathesis/bin/schemathesis --config-file scripts/lib/schemathesis.toml run openapi/dataverket.yaml \
    --url "http://127.0.0.1:$port" -H "Authorization: Bearer $token" --mode positive \
    --max-examples "${DV_CONTRACT_EXAMPLES:-15}" --workers 2 --report ndjson --report-dir "$dir/report" \
    >"$dir/schemathesis.log" 2>&1 || true
  python3 scripts/lib/contract_report.py "$dir"/report/*.ndjson || status=$?
  grep -E '^Seed:' "$dir/schemathesis.log" || true
  echo "==> contract fuzz ($name): schemathesis negative pass, ${DV_CONTRACT_NEGATIVE_EXAMPLES:-10} examples each"
  # --continue-on-failure: every finding of an operation, not only its first. filter_too_much: an operation whose
  # parameters leave few ways to be wrong is tested with the ones there are, not skipped.
  .venv-schemathesis/bin/schemathesis --config-file scripts/lib/schemathesis.toml run openapi/dataverket.yaml \
    --url "http://127.0.0.1:$port" -H "Authorization: Bearer $token" --mode negative --continue-on-failure \
    --suppress-health-check filter_too_much \
    --max-examples "${DV_CONTRACT_NEGATIVE_EXAMPLES:-10}" --workers 2 --report ndjson --report-dir "$dir/report-negative" \
    >"$dir/schemathesis-negative.log" 2>&1 || true
  python3 scripts/lib/contract_report.py --negative "$dir"/report-negative/*.ndjson || status=$?
  grep -E '^Seed:' "$dir/schemathesis-negative.log" || true
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  if [ "$status" = 0 ]; then rm -rf "$dir"; else echo "contract ($name): logs in $dir" >&2; fi
  return "$status"
}
