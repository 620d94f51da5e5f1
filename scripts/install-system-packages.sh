#!/usr/bin/env bash
# What the browser tests, spoken previews and the proxy tests need from Debian:
# Chromium (driven by Playwright), npm (axe-core for their accessibility checks),
# espeak-ng and nginx (tests/test_proxy.py); or only the packages named, e.g.
# `bash scripts/install-system-packages.sh espeak-ng`. Skips what is already
# installed.
set -euo pipefail
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(chromium espeak-ng nginx npm)
missing=()
for package in "${wanted[@]}"; do
  command -v "$package" >/dev/null 2>&1 || [ -x "/usr/sbin/$package" ] || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "${missing[*]} missing, and this script installs with Debian's apt-get only:" >&2
  echo "install ${missing[*]} with your system's package manager." >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "Installing ${missing[*]} from Debian's packages..." >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
