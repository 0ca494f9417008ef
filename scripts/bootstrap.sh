#!/usr/bin/env bash
# Install the locked environment: uv (pinned) into .tools/, then `uv sync --frozen` into .venv/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

UV_VERSION="0.13.8"
# BOOTSTRAP_UV: an existing uv of that version to use instead of installing one in .tools/.
UV="${BOOTSTRAP_UV:-.tools/bin/uv}"

if [[ ! -x "$UV" ]] || [[ "$("$UV" --version 2>/dev/null | awk '{print $2}')" != "$UV_VERSION" ]]; then
    echo "bootstrap: installing uv ${UV_VERSION} into .tools/"
    python3 -m venv .tools
    .tools/bin/pip install -qq --disable-pip-version-check "uv==${UV_VERSION}"
fi

echo "bootstrap: uv sync --frozen --compile-bytecode"
# uv reports progress ("Bytecode compiled ...") on stderr: shown on stdout, so stderr carries
# only real trouble on a healthy run. A failure still stops the script (set -e).
"$UV" sync --frozen --compile-bytecode 2>&1

# The project itself is an editable install: uv compiles site-packages, not this tree. Compile
# it too, so a command's first start does not pay for it (and starts stay fast where
# PYTHONDONTWRITEBYTECODE is set). Quiet; a failure here only costs speed.
VENV="${UV_PROJECT_ENVIRONMENT:-.venv}"
"$VENV/bin/python" -m compileall -q -j 0 engine tradeguard entrypoints checks tasks flows \
    deployments >/dev/null || echo "bootstrap: warning: could not compile the project's bytecode"
