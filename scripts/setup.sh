#!/usr/bin/env bash
# Create .venv and install what the line needs (and, with --dev, what the tests need).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "Python 3.11 or newer is needed (found $("$PYTHON" --version 2>&1))." >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
requirements=requirements.txt
[ "${1:-}" = "--dev" ] && requirements=requirements-dev.txt
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
if [ "${1:-}" = "--dev" ]; then
  # axe-core for the browser tests' accessibility checks, at the version in
  # tests/browser/axe/package-lock.json (npm ci; skipped when already there).
  axe=tests/browser/axe
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm (Node.js) is needed to install axe-core for the browser tests:" >&2
    echo "install nodejs and npm (bash scripts/install-system-packages.sh npm), then run this again." >&2
    exit 1
  fi
  wanted=$(node -p "require('./$axe/package-lock.json').packages['node_modules/axe-core'].version")
  have=$(node -p "try { require('./$axe/node_modules/axe-core/package.json').version } catch (e) { '' }")
  if [ "$wanted" != "$have" ]; then
    (cd "$axe" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
