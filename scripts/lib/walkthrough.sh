# shellcheck shell=bash
# The README's five-minute walkthrough, run as written (issue 16 §7): the server started with the README's first
# command (`swift run dataverket serve`, state in ./.dataverket), then every command of the walkthrough's first
# code block, in order, failing on the first that fails. The one placeholder, `<task-id>`, becomes the id of the
# newest task; the server's port and the saved session are the test's own (DV_SERVER, HOME), so nothing collides.

walkthrough_run() {
  local port home log pid status=0 script
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  home=$(mktemp -d -t dv-walkthrough.XXXXXX)
  log="$home/server.log"
  # A developer's own ./.dataverket is put aside for the run and put back after it.
  [ -e .dataverket ] && mv .dataverket "$home/dataverket-before"
  swift run dataverket serve --listen "127.0.0.1:$port" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    [ -s .dataverket/bootstrap-token ] && curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.5
  done
  script=$(awk '/^## Five minutes with `dv`/{f=1} f&&/^```sh/{c++; if(c==1){p=1; next}} p&&/^```/{exit} p' README.md |
    sed 's/<task-id>/"$(dv task list -o json | python3 -c "import json,sys; print(json.load(sys.stdin)[0][\\"id\\"])")"/')
  echo "==> the README's walkthrough, as written ($(printf '%s\n' "$script" | grep -c '^dv') dv commands)"
  HOME="$home" DV_SERVER="http://127.0.0.1:$port" bash -euo pipefail -c "$script" >"$home/walkthrough.log" 2>&1 || status=$?
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rm -rf .dataverket
  [ -e "$home/dataverket-before" ] && mv "$home/dataverket-before" .dataverket
  if [ "$status" != 0 ]; then
    echo "the README's walkthrough failed (exit $status); its output and the server's log are in $home:" >&2
    tail -n 20 "$home/walkthrough.log" >&2
    return "$status"
  fi
  rm -rf "$home"
}
