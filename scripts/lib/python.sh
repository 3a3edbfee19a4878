# shellcheck shell=bash
# Python tools from PyPI in git-ignored virtual environments (python3-venv from Debian if missing).

# py_venv DIR CHECK_MODULE PIP_SPEC...: makes DIR with the packages unless CHECK_MODULE already imports there.
py_venv() {
  local venv=$1 module=$2
  shift 2
  if "$venv/bin/python" -c "import $module" >/dev/null 2>&1; then return 0; fi
  echo "==> $* in $venv (PyPI)"
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    rm -rf "$venv"
    echo "==> installing python3-venv (Debian package)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check "$@"
}
