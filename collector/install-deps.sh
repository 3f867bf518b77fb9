#!/usr/bin/env bash
# Install what the tests need on a Debian or Ubuntu machine, and check it. Idempotent: returns at once
# when everything is there. Needs root or sudo only for apt, and only when something is missing.
#   - python3-venv (Debian's python3 has no venv module without it);
#   - prometheus + promtool from Debian (apt). The tests start their own Prometheus on a free
#     127.0.0.1 port with a temporary data dir; the packaged service is never used, so it is kept
#     from starting (no node exporter either: --no-install-recommends);
#   - postgresql (server binaries only: the budget ledger tests run initdb in a temporary directory);
#   - Go >= 1.26 for collector/build.sh. Used as found ($GO, go on PATH, /usr/local/go/bin/go);
#     otherwise the Go $GO_TOOLCHAIN toolchain is fetched from the Go module proxy as the module
#     golang.org/toolchain (what GOTOOLCHAIN does; `go mod download` checks it against sum.golang.org),
#     bootstrapped with any Go at hand, else Debian's golang-go (1.19: too old to build, enough to fetch),
#     and cached in $GENAI_COST_CACHE_DIR (default ~/.cache/genai-cost).
# The last line on stdout is the Go binary to use; everything else goes to stderr.
set -euo pipefail

GO_TOOLCHAIN="${GO_TOOLCHAIN:-1.26.8}"
GO_MINIMUM="1.26"
cache_root="${GENAI_COST_CACHE_DIR:-$HOME/.cache/genai-cost}"

sudo=""
if [[ "$(id -u)" -ne 0 ]]; then sudo="sudo"; fi
apt_updated=""
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [[ -z "$apt_updated" ]]; then
    $sudo apt-get update -qq
    apt_updated=1
  fi
  $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- python3-venv ------------------------------------------------------------------------------------
if ! "${PYTHON:-python3}" -c 'import ensurepip, venv' 2>/dev/null; then
  echo "install-deps: installing python3-venv" >&2
  apt_install python3-venv
fi

# --- prometheus ----------------------------------------------------------------------------------------
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  # policy-rc.d exit 101 = "do not start services" while the package installs (Debian convention).
  added_policy=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    added_policy=1
  fi
  trap '[[ -n "$added_policy" ]] && $sudo rm -f /usr/sbin/policy-rc.d' EXIT
  apt_install prometheus
  # On a machine with systemd the unit may still be enabled for the next boot: stop and disable it.
  if command -v systemctl >/dev/null && systemctl is-enabled --quiet prometheus 2>/dev/null; then
    $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi
echo "install-deps: $(prometheus --version 2>&1 | head -n1)" >&2

# --- postgresql (the usage store's and budget ledger's tests start their own server in a temp dir) ------
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && ! command -v initdb >/dev/null; then
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then  # do not start the packaged cluster while installing
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt_install postgresql
fi

# --- go --------------------------------------------------------------------------------------------------
go_version() { # "1.26.8" for a go binary, empty if it does not run
  GOTOOLCHAIN=local "$1" env GOVERSION 2>/dev/null | sed -n 's/^go\([0-9][0-9.]*\).*/\1/p'
}
at_least() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]; }

case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "install-deps: no Go toolchain known for $(uname -m); set GO=/path/to/go (>= $GO_MINIMUM)" >&2; exit 1 ;;
esac
module="golang.org/toolchain@v0.0.1-go$GO_TOOLCHAIN.linux-$arch"
toolchain_cache="$cache_root/go"
cached="$toolchain_cache/$module/bin/go"

found=""
for candidate in "${GO:-}" "$(command -v go || true)" /usr/local/go/bin/go "$cached"; do
  if [[ -n "$candidate" && -x "$candidate" ]] && at_least "$(go_version "$candidate")" "$GO_MINIMUM"; then
    found="$candidate"
    break
  fi
done

if [[ -z "$found" ]]; then
  bootstrap="${GO:-$(command -v go || true)}"
  if [[ -z "$bootstrap" || -z "$(go_version "$bootstrap")" ]]; then
    echo "install-deps: no Go here; installing Debian's golang-go to fetch Go $GO_TOOLCHAIN with it" >&2
    apt_install golang-go ca-certificates
    bootstrap="$(command -v go)"
  fi
  echo "install-deps: fetching Go $GO_TOOLCHAIN from the Go module proxy (with Go $(go_version "$bootstrap"))" >&2
  mkdir -p "$toolchain_cache"
  (cd "$toolchain_cache" &&
    GO111MODULE=on GOTOOLCHAIN=local GOFLAGS=-modcacherw GOMODCACHE="$toolchain_cache" \
      "$bootstrap" mod download "$module" >&2)
  # Module zips carry no file modes: make the toolchain's programs executable, as GOTOOLCHAIN does.
  chmod +x "$toolchain_cache/$module/bin/"* "$toolchain_cache/$module/pkg/tool/"*/*
  found="$cached"
fi
echo "install-deps: go $(go_version "$found") at $found" >&2
echo "$found"
