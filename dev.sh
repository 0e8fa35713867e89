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

# npm_ci_when_stale DIR WHAT: install DIR's npm packages (WHAT, in words) from its lock file, only when
# DIR/node_modules is missing or package-lock.json is newer than the install: npm ci deletes
# node_modules first and is slow (offline: very), so a start with a current install must not run it.
npm_ci_when_stale() {
  local dir=$1 what=$2 installed=$1/node_modules
  # npm writes node_modules/.package-lock.json last, so its time is the install's when it is there.
  [[ -e $installed/.package-lock.json ]] && installed=$installed/.package-lock.json
  [[ -e $installed && ! $dir/package-lock.json -nt $installed ]] && return 0
  echo "dev.sh: installing $what into $dir (npm ci)" >&2
  npm ci --prefix "$dir" --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null
}

# The real-client tests run the Node.js driver and mongosh from tests/clients (npm registry, lock file).
# npm 11 skips install scripts by default; mongosh works without its optional native addons.
ensure_node_clients() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "dev.sh: the client tests need Node.js 20+ and npm: run 'sudo apt-get install nodejs npm'" \
      "(or install them from https://nodejs.org) and retry" >&2
    exit 1
  fi
  npm_ci_when_stale tests/clients "the Node.js driver and mongosh (about a minute)"
}

# `wif classroom` runs JupyterHub behind configurable-http-proxy, an npm package (classroom/, lock file).
ensure_classroom_proxy() {
  npm_ci_when_stale classroom configurable-http-proxy
}

# Sourced (tests/test_dev_sh.py reads the functions above): define them, run nothing.
[[ ${BASH_SOURCE[0]} == "$0" ]] || return 0

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
