#!/usr/bin/env bash
# Set up, load the demo data into the embedded SQLite database, and place a
# call on the line from the terminal (no Twilio account, no phone needed).
# Any arguments go to the simulator, e.g. --from +15550100004 or --speak,
# except these two:
#   --reset     restore the demo customers first (seed-demo --reset)
#   --no-reset  leave them as earlier calls left them, without asking
# When the demo caller has nothing left to cancel (an earlier call cancelled
# it), the reset is offered: asked on a terminal; otherwise said and done.
set -euo pipefail
cd "$(dirname "$0")/.."

reset=offer
caller=+15550100001
speak=no
args=()
expect_from=no
for arg in "$@"; do
  if [ "$expect_from" = yes ]; then
    caller=$arg
    expect_from=no
  fi
  case "$arg" in
    --reset) reset=yes; continue ;;
    --no-reset) reset=no; continue ;;
    --from) expect_from=yes ;;
    --from=*) caller=${arg#--from=} ;;
    --speak) speak=yes ;;
  esac
  args+=("$arg")
done

bash scripts/setup.sh
if [ "$speak" = yes ] && ! command -v espeak-ng >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "--speak speaks with espeak-ng, which is not installed: installing it." >&2
    bash scripts/install-system-packages.sh espeak-ng
  else
    echo "--speak speaks with espeak-ng, which is not installed, so the words are only" >&2
    echo "printed. Install it (macOS: brew install espeak-ng; Fedora: sudo dnf install" >&2
    echo "espeak-ng) and run this again." >&2
  fi
fi
export FLASK_APP=wsgi
.venv/bin/flask ivr init-db
case "$reset" in
  yes) .venv/bin/flask ivr seed-demo --reset ;;
  no) .venv/bin/flask ivr seed-demo ;;
  offer) .venv/bin/flask ivr seed-demo --offer-reset "$caller" ;;
esac
echo
echo "Demo callers: Ada +15550100001 (PIN 1234), Grace +15550100002 (5678),"
echo "Alan +15550100003 (4321), Juana +15550100004 (2468, Spanish). Default: Ada."
echo "Type keys (1234), words (too expensive), an empty line for silence, or hangup."
echo
exec .venv/bin/flask ivr call ${args[@]+"${args[@]}"}
