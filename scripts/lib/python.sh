# shellcheck shell=bash
# Python tools from PyPI in git-ignored virtual environments (python3-venv from Debian if missing).

# py_venv DIR CHECK_MODULE PIP_SPEC...: installs the packages into DIR (made if missing or broken) unless
# CHECK_MODULE already imports there.
py_venv() {
  local venv=$1 module=$2
  shift 2
  if "$venv/bin/python" -c "import $module" >/dev/null 2>&1; then return 0; fi
  echo "==> $* in $venv (PyPI)"
  # A working venv gets the package added (several tools share .venv-test); a broken one is made again.
  if [ -x "$venv/bin/pip" ] && "$venv/bin/pip" install -q --disable-pip-version-check "$@"; then return 0; fi
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
