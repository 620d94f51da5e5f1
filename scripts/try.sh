#!/usr/bin/env bash
# Set up, load the demo data into the embedded SQLite database, and place a
# call on the line from the terminal (no Twilio account, no phone needed).
# Any arguments go to the simulator, e.g. --from +15550100004 or --speak.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export FLASK_APP=wsgi
.venv/bin/flask ivr init-db
.venv/bin/flask ivr seed-demo
echo
echo "Demo callers: Ada +15550100001 (PIN 1234), Grace +15550100002 (5678),"
echo "Alan +15550100003 (4321), Juana +15550100004 (2468, Spanish). Default: Ada."
echo "Type keys (1234), words (too expensive), an empty line for silence, or hangup."
echo
exec .venv/bin/flask ivr call "$@"
