#!/usr/bin/env bash
# Everything CI runs, from a fresh clone on Debian or Ubuntu: system packages (python3-venv, Prometheus,
# PostgreSQL; Go >= 1.26, fetched from the Go module proxy when missing; see collector/install-deps.sh), a
# virtualenv with the pinned SDKs, the OpenTelemetry Collector built from Go modules (cached between
# runs), lint, types, tests. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS"; }

python=${PYTHON:-python3}
export PYTHON=$python

step "system packages (python3-venv, prometheus, postgresql, go)"
GO=$(bash collector/install-deps.sh | tail -n 1)
export GO

step "python environment"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[all,test]' -r tests/requirements.latest.txt
# genai-cost is the OpenTelemetry distro here; a second one (left by an older genai-cost[all]) would be
# picked by file order. tests/test_first_run.py checks a fresh virtualenv from the wheel.
if .venv/bin/python -m pip show -q opentelemetry-distro 2>/dev/null; then
  .venv/bin/python -m pip uninstall -q -y opentelemetry-distro
fi

step "collector (built once, then cached)"
GENAI_COST_OTELCOL=$(bash collector/build.sh | tail -n 1)
export GENAI_COST_OTELCOL
echo "collector: $GENAI_COST_OTELCOL"

step "lint, types, generated dashboards"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python dashboards/generate.py --check

step "tests (latest SDKs)"
.venv/bin/python -m pytest -q "$@"

step "provider tests (oldest supported SDKs)"
# The lowest SDK releases shadow the latest ones through PYTHONPATH; their own dependencies are
# satisfied by the virtualenv.
rm -rf .venv/oldest-sdks
.venv/bin/python -m pip install -q --no-deps --target .venv/oldest-sdks -r tests/requirements.oldest.txt
PYTHONPATH=.venv/oldest-sdks .venv/bin/python -m pytest -q -p no:cacheprovider \
  tests/test_openai.py tests/test_anthropic.py tests/test_groq.py tests/test_google_genai.py tests/test_context.py \
  tests/test_streams.py tests/test_stream_contract.py tests/test_hardening.py tests/test_patching.py \
  tests/test_budget_guard.py tests/test_units.py tests/test_served.py tests/test_compatible_providers.py
