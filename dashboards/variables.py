"""Template variables shared by every dashboard: datasources, then service -> provider -> model -> feature.

Each filter variable lists the label values found on the duration histogram (every call records a
duration, failed and unpriced ones too) under the filters chosen before it. "All" is `.*`, so calls
without a label (e.g. untagged calls have no feature_name) still count when nothing is selected.
"""

from __future__ import annotations

from dataclasses import dataclass

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard as model

from dashboards import names as n
from dashboards.promql import (
    FILTERS,
    VAR_DATASOURCE,
    VAR_FEATURE,
    VAR_MODEL,
    VAR_PROVIDER,
    VAR_SERVICE,
    VAR_TRACES,
)

_LABELS = {VAR_SERVICE: "Service", VAR_PROVIDER: "Provider", VAR_MODEL: "Model", VAR_FEATURE: "Feature"}
_ALL = model.VariableOption(selected=True, text=["All"], value=["$__all"])


@dataclass(frozen=True)
class LabelVariable:
    name: str
    label: str  # the Prometheus label whose values it lists
    series: str  # the series selector it reads them from

    @property
    def query(self) -> str:
        return f"label_values({self.series}, {self.label})"


def label_variables() -> list[LabelVariable]:
    result = []
    for index, (label, var) in enumerate(FILTERS):
        before = ", ".join(f'{lbl}=~"${v}"' for lbl, v in FILTERS[:index])
        series = f"{n.DURATION}_count{{{before}}}" if before else f"{n.DURATION}_count"
        result.append(LabelVariable(var, label, series))
    return result


def variables() -> list[cogbuilder.Builder[model.VariableModel]]:
    datasource = (
        dash.DatasourceVariable(VAR_DATASOURCE)
        .label("Metrics")
        .type("prometheus")
        .description("Prometheus (or Mimir/Thanos) holding the genai-cost metrics.")
    )
    traces = (
        dash.DatasourceVariable(VAR_TRACES)
        .label("Traces")
        .type("tempo")
        .description("Tempo datasource that panel links open in Explore.")
    )
    result: list[cogbuilder.Builder[model.VariableModel]] = [datasource, traces]
    prom_ref = model.DataSourceRef(type_val="prometheus", uid=f"${{{VAR_DATASOURCE}}}")
    for var in label_variables():
        result.append(
            dash.QueryVariable(var.name)
            .label(_LABELS[var.name])
            .datasource(prom_ref)
            .query(var.query)
            .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(model.VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".*")
            .current(_ALL)
        )
    return result
