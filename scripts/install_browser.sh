#!/usr/bin/env bash
# Headless Chromium and its WebDriver from Debian, for the report's browser test
# (tests/test_report.py). Does nothing when both are there; on a machine without apt-get it
# says so and the browser test is skipped. Log: /tmp/apt-chromium.log.
set -euo pipefail
if command -v chromium > /dev/null && command -v chromedriver > /dev/null; then
  exit 0
fi
if ! command -v apt-get > /dev/null; then
  echo "note: no chromium/chromedriver and no apt-get: the report's browser test will be skipped"
  exit 0
fi
echo "installing chromium and chromium-driver (apt; log: /tmp/apt-chromium.log)"
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
if ! { $sudo apt-get update -qq \
    && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      chromium chromium-driver; } > /tmp/apt-chromium.log 2>&1; then
  tail -n 40 /tmp/apt-chromium.log
  echo "ERROR: could not install chromium and chromium-driver (SKIP_BROWSER=1 skips this)" >&2
  exit 1
fi
chromium --version
