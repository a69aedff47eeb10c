#!/usr/bin/env bash
# The browser test drives Debian's chromium (playwright cannot download a browser here).
# `npm test` runs this first: it installs chromium from Debian when it is missing, as root,
# and otherwise says what to do.
set -euo pipefail
[[ -x /usr/bin/chromium ]] && exit 0
if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
  echo "the browser test needs /usr/bin/chromium: sudo apt-get update && sudo apt-get install -y chromium" >&2
  exit 1
fi
echo "installing chromium from Debian for the browser test…" >&2
for attempt in 1 2 3; do
  if apt-get -o DPkg::Lock::Timeout=300 update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq chromium >/dev/null; then
    exit 0
  fi
  ((attempt == 3)) && exit 1
  sleep $((attempt * 10))
done
