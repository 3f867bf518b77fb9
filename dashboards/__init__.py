"""Grafana dashboards for genai-cost, as code (rendered with grafana-foundation-sdk).

`python dashboards/generate.py` writes dashboards/json/*.json; `--check` fails if they are stale.
`dashboards.queries.iter_queries()` lists every PromQL expression with the labels it must return.
"""
