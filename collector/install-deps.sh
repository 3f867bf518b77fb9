#!/usr/bin/env bash
# Install what the stack tests need and check what they expect to find. Idempotent; returns at once
# when everything is there.
#   - prometheus + promtool from Debian (apt). The tests start their own Prometheus on a free
#     127.0.0.1 port with a temporary data dir; the packaged service is never used, so it is kept
#     from starting (no node exporter either: --no-install-recommends).
#   - Go >= 1.26 for collector/build.sh is not installed here (Debian's golang is older); it is checked.
set -euo pipefail

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  sudo=""
  if [[ "$(id -u)" -ne 0 ]]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d exit 101 = "do not start services" while the package installs (Debian convention).
  added_policy=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    added_policy=1
  fi
  trap '[[ -n "$added_policy" ]] && $sudo rm -f /usr/sbin/policy-rc.d' EXIT
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  # On a machine with systemd the unit may still be enabled for the next boot: stop and disable it.
  if command -v systemctl >/dev/null && systemctl is-enabled --quiet prometheus 2>/dev/null; then
    $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi
echo "install-deps: $(prometheus --version 2>&1 | head -n1)" >&2

go_bin="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
if [[ ! -x "$go_bin" ]]; then
  echo "install-deps: Go not found (need >= 1.26 for collector/build.sh; set GO=/path/to/go)" >&2
  exit 1
fi
echo "install-deps: $("$go_bin" version)" >&2
