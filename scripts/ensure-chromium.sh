#!/usr/bin/env bash
# One test needs a browser: test/viewer/browser.test.ts drives Chromium through
# playwright-core, which cannot download a browser of its own here. `npm test` runs this
# first. The browser is HBSYS_CHROMIUM when set (any Chromium or Chrome binary), else
# /usr/bin/chromium. When it is missing, this installs Debian's chromium if it can (root,
# apt-get), and otherwise says exactly what to install and how to name it.
set -euo pipefail

if [[ -n "${HBSYS_CHROMIUM:-}" ]]; then
  [[ -x "$HBSYS_CHROMIUM" ]] && exit 0
  echo "npm test: HBSYS_CHROMIUM=$HBSYS_CHROMIUM is not an executable file;" \
    "name a Chromium or Chrome binary (the browser test, test/viewer/browser.test.ts, runs it)" >&2
  exit 1
fi
[[ -x /usr/bin/chromium ]] && exit 0

if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
  echo "installing chromium from Debian for the browser test (test/viewer/browser.test.ts)…" >&2
  for attempt in 1 2 3; do
    if apt-get -o DPkg::Lock::Timeout=300 update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq chromium >/dev/null; then
      exit 0
    fi
    ((attempt == 3)) && exit 1
    sleep $((attempt * 10))
  done
fi

# It cannot be installed from here: say what to do on this system.
os_id="$(. /etc/os-release 2>/dev/null && echo "${ID:-}" || true)"
{
  echo "npm test: the browser test (test/viewer/browser.test.ts, the only test that needs a"
  echo "browser) wants Chromium at /usr/bin/chromium, or any Chromium or Chrome named by HBSYS_CHROMIUM."
  case "$(uname -s)/$os_id" in
    Darwin/*)
      echo "  macOS:  brew install --cask chromium"
      echo "          export HBSYS_CHROMIUM=/Applications/Chromium.app/Contents/MacOS/Chromium"
      ;;
    Linux/debian)
      echo "  Debian: sudo apt-get update && sudo apt-get install -y chromium"
      ;;
    Linux/ubuntu)
      echo "  Ubuntu: sudo snap install chromium"
      echo "          export HBSYS_CHROMIUM=/snap/bin/chromium"
      ;;
    Linux/fedora)
      echo "  Fedora: sudo dnf install -y chromium"
      echo "          export HBSYS_CHROMIUM=/usr/bin/chromium-browser"
      ;;
    *)
      echo "  install Chromium or Chrome, then: export HBSYS_CHROMIUM=/path/to/its/binary"
      ;;
  esac
  for found in /usr/bin/chromium-browser /snap/bin/chromium /usr/bin/google-chrome \
    /usr/bin/google-chrome-stable /Applications/Chromium.app/Contents/MacOS/Chromium \
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"; do
    if [[ -x "$found" ]]; then
      echo "  or use the browser found here: export HBSYS_CHROMIUM='$found'"
      break
    fi
  done
  echo "Then run npm test again. The other tests run without a browser:"
  echo "  npm run build && node scripts/run-tests.mjs   (only the browser test then fails)"
} >&2
exit 1
