#!/usr/bin/env bash
# The two entry points of the kit (README.md):
#   ./dev.sh lab    install what is needed, start the IdP and the test mongod, open JupyterLab on the lessons
#   ./dev.sh test   install what is needed and run the whole test suite (ruff, mypy, pytest)
# Everything installs into .venv (override with WIF_VENV) from PyPI; nothing is downloaded at run time.
set -euo pipefail
cd "$(dirname "$0")"
VENV=${WIF_VENV:-.venv}
PY=${PYTHON:-python3}

setup() {
  if [[ ! -x "$VENV/bin/python" ]]; then
    echo "dev.sh: creating $VENV" >&2
    "$PY" -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[test]"
}

cmd=${1:-}
shift || true
case "$cmd" in
  lab)
    setup
    "$VENV/bin/wif" up
    exec "$VENV/bin/jupyter" lab --notebook-dir=notebooks "$@"
    ;;
  test)
    setup
    echo "== ruff" && "$VENV/bin/ruff" check .
    echo "== mypy" && "$VENV/bin/mypy"
    echo "== pytest" && "$VENV/bin/python" -m pytest -q "$@"
    ;;
  *)
    echo "usage: ./dev.sh lab [jupyter lab options] | ./dev.sh test [pytest options]" >&2
    exit 2
    ;;
esac
