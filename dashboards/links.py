"""Links from panels to traces in Tempo, through Grafana Explore.

A data link on a series (or table row) opens Explore on the `$traces` Tempo datasource with a
TraceQL query that matches the span attributes behind the series' labels, over the same time range.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final
from urllib.parse import quote

from dashboards import names as n
from dashboards.promql import VAR_TRACES
from genai_cost import semconv as sc

# Prometheus label -> span attribute it came from (only the ones worth filtering traces by).
SPAN_ATTRIBUTE: Final = {
    n.OPERATION: sc.GEN_AI_OPERATION_NAME,
    n.PROVIDER: sc.GEN_AI_PROVIDER_NAME,
    n.MODEL: sc.GEN_AI_REQUEST_MODEL,
    n.RESPONSE_MODEL: sc.GEN_AI_RESPONSE_MODEL,
    n.FEATURE: sc.FEATURE_NAME,
    n.USER: sc.USER_ID,
    n.ERROR_TYPE: sc.ERROR_TYPE,
}

# Every priced GenAI span carries a cost; the dashboard-level link starts from those.
PRICED_SPANS: Final = f"{{ span.{sc.GEN_AI_USAGE_COST_AMOUNT} > 0 }}"


def _explore_url(traceql: str) -> str:
    panes = {
        "traces": {
            "datasource": f"${{{VAR_TRACES}}}",
            "queries": [
                {
                    "refId": "A",
                    "datasource": {"type": "tempo", "uid": f"${{{VAR_TRACES}}}"},
                    "queryType": "traceql",
                    "query": traceql,
                    "limit": 20,
                }
            ],
            "range": {"from": "${__from}", "to": "${__to}"},
        }
    }
    # Percent-encode the JSON ourselves (TraceQL's `&&` and quotes would break the URL), but keep
    # Grafana's ${...} placeholders intact so it can interpolate them.
    encoded = quote(json.dumps(panes, separators=(",", ":")), safe="${}:,._-")
    return f"/explore?schemaVersion=1&orgId=1&panes={encoded}"


def series_traceql(labels: Sequence[str], field_ref: str) -> str:
    """TraceQL matching the spans of one series; `field_ref` is how Grafana names a label's value,
    e.g. `__field.labels.{}` on a time series or `__data.fields.{}` in a table row. Values are
    percent-encoded, since they land inside the already encoded `panes` parameter."""
    conditions = [
        f'span.{SPAN_ATTRIBUTE[label]}="${{{field_ref.format(label)}:percentencode}}"'
        for label in labels
        if label in SPAN_ATTRIBUTE
    ]
    return "{ " + " && ".join(conditions) + " }" if conditions else PRICED_SPANS


def series_traces_url(labels: Sequence[str], field_ref: str) -> str:
    return _explore_url(series_traceql(labels, field_ref))


def all_traces_url() -> str:
    return _explore_url(PRICED_SPANS)
