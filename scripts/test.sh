#!/usr/bin/env bash
# Set up and run every test: the prompt check, the linter, and the test suite
# on the embedded SQLite database, then again on PostgreSQL when
# IVR_TEST_POSTGRES_URL names a server (the pass creates its own database there
# and drops only that one; the database in the URL must exist, as `postgres`
# does). The server is checked first, so a wrong URL stops the run at once.
# Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-packages.sh
bash scripts/setup.sh --dev
export FLASK_APP=wsgi
if [ -n "${IVR_TEST_POSTGRES_URL:-}" ]; then
  echo "== PostgreSQL for the second pass ($IVR_TEST_POSTGRES_URL)"
  .venv/bin/python scripts/check_postgres.py
fi
echo "== prompts check"
.venv/bin/flask ivr prompts check
echo "== mypy (the Stripe backend, against the stripe package's own request types)"
.venv/bin/mypy --strict --follow-imports=silent ivr/billing/stripe_backend.py ivr/billing/stripe_webhook.py
echo "== ruff"
.venv/bin/ruff check .
echo "== tests on SQLite"
env -u IVR_TEST_POSTGRES_URL .venv/bin/python -m pytest -q "$@"
if [ -n "${IVR_TEST_POSTGRES_URL:-}" ]; then
  echo "== tests on PostgreSQL ($IVR_TEST_POSTGRES_URL)"
  .venv/bin/python -m pytest -q "$@"
fi
