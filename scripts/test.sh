#!/usr/bin/env bash
# Everything CI runs, from a fresh clone: a virtualenv with the pinned SDKs, Prometheus from Debian
# packages, the OpenTelemetry Collector built from Go modules (cached between runs), lint, types, tests.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS"; }

step "python environment"
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[all,test]' -r tests/requirements.latest.txt

step "system packages (prometheus, promtool)"
bash collector/install-deps.sh

step "collector (built once, then cached)"
GENAI_COST_OTELCOL=$(bash collector/build.sh | tail -n 1)
export GENAI_COST_OTELCOL
echo "collector: $GENAI_COST_OTELCOL"

step "lint and types"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy

step "tests"
.venv/bin/python -m pytest -q "$@"
