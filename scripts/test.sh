#!/usr/bin/env bash
# The one test command (make test, .ci/run): install, then ruff, mypy (engine strict), pytest.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/bootstrap.sh

VENV="${UV_PROJECT_ENVIRONMENT:-.venv}"

# The Prefect UI screenshot test needs a browser; it skips with a reason when there is none.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
        echo "test: installing chromium (Debian) for the Prefect UI screenshot test"
        if ! { DEBIAN_FRONTEND=noninteractive apt-get update \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }; then
            echo "test: warning: chromium could not be installed; the UI screenshot test will skip"
        fi
    else
        echo "test: chromium not found (not root or no apt-get); the UI screenshot test will skip"
    fi
fi

PREFECT_HOME="$(mktemp -d -t tradeguard-prefect-XXXXXX)"
trap 'rm -rf "$PREFECT_HOME"' EXIT
export PREFECT_HOME
export PREFECT_SERVER_ANALYTICS_ENABLED=false

echo "test: ruff check"
"$VENV/bin/ruff" check .

echo "test: mypy --strict (every package)"
"$VENV/bin/mypy"

echo "test: pytest"
status=0
"$VENV/bin/python" -m pytest "$@" || status=$?
if [[ "$status" -eq 5 ]]; then
    echo "test: error: pytest collected no tests" >&2
    exit 1
fi
exit "$status"
