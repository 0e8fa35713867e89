#!/usr/bin/env bash
# The two entry points of the kit (README.md):
#   ./dev.sh lab    install what is needed, start the IdP and the test mongod, open JupyterLab on the lessons
#                   (Ctrl-C ends JupyterLab and stops the services this started)
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

# install_debian PACKAGE TESTS NEED: as root, install Debian's PACKAGE for TESTS ("the browser tests");
# otherwise say that TESTS need NEED and how to install it, and stop.
install_debian() {
  local package=$1 tests=$2 need=$3
  if [[ $(id -u) -eq 0 ]]; then
    echo "dev.sh: installing Debian's $package for $tests" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
  else
    echo "dev.sh: $tests need $need: run 'sudo apt-get install $package' and retry" >&2
    exit 1
  fi
}

# Browser tests drive Debian's Chromium through Playwright (never a browser download).
ensure_chromium() {
  [[ -x /usr/bin/chromium ]] || install_debian chromium "the browser tests" "Debian's chromium"
}

# The exported shell scripts (wif export) are checked with Debian's shellcheck.
ensure_shellcheck() {
  command -v shellcheck >/dev/null || install_debian shellcheck "the export tests" shellcheck
}

# The real-client tests run the Node.js driver and mongosh from tests/clients (npm registry, lock file).
# npm 11 skips install scripts by default; mongosh works without its optional native addons.
ensure_node_clients() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "dev.sh: the client tests need Node.js 20+ and npm: run 'sudo apt-get install nodejs npm'" \
      "(or install them from https://nodejs.org) and retry" >&2
    exit 1
  fi
  # npm ci starts from scratch; skip it while the installed tree is newer than the lock file.
  [[ tests/clients/node_modules/.package-lock.json -nt tests/clients/package-lock.json ]] && return 0
  echo "dev.sh: installing the Node.js driver and mongosh into tests/clients (npm ci, about a minute)" >&2
  npm ci --prefix tests/clients --no-audit --no-fund --loglevel=error >/dev/null
}

# `wif classroom` runs JupyterHub behind configurable-http-proxy, an npm package (classroom/, lock file).
ensure_classroom_proxy() {
  [[ classroom/node_modules/.package-lock.json -nt classroom/package-lock.json ]] && return 0
  echo "dev.sh: installing configurable-http-proxy into classroom/ (npm ci)" >&2
  npm ci --prefix classroom --no-audit --no-fund --loglevel=error >/dev/null
}

cmd=${1:-}
shift || true
case "$cmd" in
  lab)
    setup
    # Only `wif classroom` needs it: a failure here does not stop the lab.
    ensure_classroom_proxy || echo "dev.sh: configurable-http-proxy not installed; wif classroom will say how" >&2
    # The kit's own .venv: no news or update toasts in a workshop (binder/postBuild does the same).
    settings="$VENV/share/jupyter/lab/settings"
    if [[ ! -f "$settings/overrides.json" ]]; then
      mkdir -p "$settings"
      echo '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}' \
        > "$settings/overrides.json"
    fi
    # Kit options go to `wif up`: --idp-port P, --port P (mongod), --state-dir D (exported as
    # WIF_STATE_DIR, so JupyterLab's panel and the kernels use the same kit); WIF_UP_ARGS adds more.
    # Everything after `--`, and any other option, goes to jupyter lab. Without ports the kit keeps
    # the ones it chose for this state directory (the defaults if they were free).
    up_args=()
    lab_args=()
    while [[ $# -gt 0 ]]; do
      case "$1" in
        --) shift; lab_args+=("$@"); break ;;
        --idp-port|--port|--state-dir)
          [[ $# -ge 2 ]] || { echo "dev.sh: $1 needs a value" >&2; exit 2; }
          if [[ $1 == --state-dir ]]; then export WIF_STATE_DIR="$2"; else up_args+=("$1" "$2"); fi
          shift 2 ;;
        --idp-port=*|--port=*) up_args+=("$1"); shift ;;
        --state-dir=*) export WIF_STATE_DIR="${1#--state-dir=}"; shift ;;
        *) lab_args+=("$1"); shift ;;
      esac
    done
    # `wif lab` starts the IdP and the test mongod, runs JupyterLab here, and when it ends (Ctrl-C)
    # stops the services it started and says so.
    # shellcheck disable=SC2086  # WIF_UP_ARGS is a list of options, split on purpose
    exec "$VENV/bin/wif" lab "${up_args[@]}" ${WIF_UP_ARGS:-} -- --notebook-dir=notebooks "${lab_args[@]}"
    ;;
  test)
    setup
    ensure_chromium
    ensure_shellcheck
    ensure_node_clients
    ensure_classroom_proxy
    echo "== ruff" && "$VENV/bin/ruff" check .
    echo "== mypy" && "$VENV/bin/mypy"
    echo "== pytest" && "$VENV/bin/python" -m pytest -q "$@"
    ;;
  *)
    echo "usage: ./dev.sh lab [--idp-port P] [--port P] [--state-dir D] [-- jupyter lab options]" \
      "| ./dev.sh test [pytest options]" >&2
    exit 2
    ;;
esac
