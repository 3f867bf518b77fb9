#!/usr/bin/env bash
# Build the genai-cost collector from Go modules with the OpenTelemetry Collector Builder (OCB), or reuse
# the cached binary. The cache key is the collector version plus a hash of builder-config.yaml, so an
# edited manifest rebuilds and an unchanged one never does. The last line on stdout is the binary path;
# everything else goes to stderr.
#
#   GENAI_COST_CACHE_DIR  cache root (default: $HOME/.cache/genai-cost)
#   GO                    go binary (default: go on PATH, else /usr/local/go/bin/go)
#   GOMODCACHE, GOCACHE, GOFLAGS, GOPROXY are honoured as usual, so Go's own caches are reused too.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
manifest="$here/builder-config.yaml"
version="$(sed -n 's/^  version: *\([0-9][0-9.]*\).*/\1/p' "$manifest" | head -n1)"
[[ -n "$version" ]] || { echo "build.sh: no dist.version in $manifest" >&2; exit 2; }
hash="$(sha256sum "$manifest" | cut -c1-12)"
cache_root="${GENAI_COST_CACHE_DIR:-$HOME/.cache/genai-cost}/otelcol"
out_dir="$cache_root/$version-$hash"
binary="$out_dir/otelcol-genai-cost"

if [[ -x "$binary" ]]; then
  echo "build.sh: using cached $binary" >&2
  echo "$binary"
  exit 0
fi

go_bin="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
[[ -x "$go_bin" ]] || { echo "build.sh: Go not found (set GO= or install Go >= 1.26)" >&2; exit 2; }

mkdir -p "$cache_root"
# One build at a time per cache root: parallel test runs wait for the first build instead of racing.
exec 9>"$cache_root/.lock"
flock 9
if [[ -x "$binary" ]]; then
  echo "$binary"
  exit 0
fi

# The builder itself is cached next to the binaries, per version.
builder="$cache_root/ocb-$version/builder"
if [[ ! -x "$builder" ]]; then
  echo "build.sh: installing OCB v$version" >&2
  GOBIN="$cache_root/ocb-$version" "$go_bin" install "go.opentelemetry.io/collector/cmd/builder@v$version" >&2
fi

work="$(mktemp -d "$cache_root/.build-XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp "$manifest" "$work/builder-config.yaml"
start=$SECONDS
echo "build.sh: building otelcol-genai-cost $version (cold builds take several minutes)" >&2
# OCB strips symbols by default (-ldflags "-s -w", -trimpath); CGO off gives a static binary.
(cd "$work" && PATH="$(dirname "$go_bin"):$PATH" CGO_ENABLED=0 "$builder" --config builder-config.yaml >&2)
mkdir -p "$out_dir"
# Move into place last, so an interrupted build never leaves a binary that looks complete.
mv "$work/_build/otelcol-genai-cost" "$binary.tmp"
mv "$binary.tmp" "$binary"
echo "build.sh: built in $((SECONDS - start))s" >&2
echo "$binary"
