"""Render dashboard specs to Grafana JSON with grafana-foundation-sdk."""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import bargauge, stat, table, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from dashboards import links, spec
from dashboards.promql import VAR_DATASOURCE
from dashboards.variables import variables

_DATASOURCE = model.DataSourceRef(type_val="prometheus", uid=f"${{{VAR_DATASOURCE}}}")
_REF_IDS = "ABCDEFGHIJ"
_TIME_SERIES_LABEL = "__field.labels.{}"
_TABLE_FIELD = "__data.fields.{}"

_VALUE_COLUMN = {"usd": "Cost", "usd_per_call": "Average cost per call", "calls": "Calls"}

PanelBuilder = stat.Panel | timeseries.Panel | table.Panel | bargauge.Panel


def _target(query: spec.Query, ref_id: str, kind: spec.PanelKind) -> prom.Dataquery:
    target = prom.Dataquery().expr(query.expr).ref_id(ref_id).datasource(_DATASOURCE)
    if query.legend:
        target = target.legend_format(query.legend)
    if query.instant:
        target = target.instant()
        if kind == "table":
            target = target.format(PromQueryFormat.TABLE)
    else:
        target = target.range()
        # Exemplars (trace ids on histogram buckets) show as dots that open the trace in Tempo when
        # the Prometheus datasource has an exemplar trace-id destination (see dashboards/README.md).
        if "_bucket" in query.expr:
            target = target.exemplar(True)
    return target


def _thresholds(steps: tuple[tuple[float | None, str], ...]) -> dash.ThresholdsConfig:
    # A step without a value is the base colour; green unless the spec gives one.
    base = [] if steps[0][0] is None else [model.Threshold(value=None, color="green")]
    rest = [model.Threshold(value=value, color=color) for value, color in steps]
    return dash.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps([*base, *rest])


def _new_builder(panel: spec.Panel) -> PanelBuilder:
    reduce_last = common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False)
    if panel.kind == "stat":
        return (
            stat.Panel()
            .reduce_options(reduce_last)
            .graph_mode(common.BigValueGraphMode.NONE)
            .color_mode(common.BigValueColorMode.VALUE)
        )
    if panel.kind == "bargauge":
        return (
            bargauge.Panel()
            .reduce_options(reduce_last)
            .orientation(common.VizOrientation.HORIZONTAL)
            .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        )
    if panel.kind == "table":
        # One row per label combination, largest first: drop the instant query's timestamp column
        # and name the value column after what it measures.
        column = _VALUE_COLUMN[panel.queries[0].measure]
        organize = model.DataTransformerConfig(
            id_val="organize",
            options={"excludeByName": {"Time": True}, "renameByName": {"Value": column}},
        )
        return (
            table.Panel()
            .with_transformation(organize)
            .sort_by([common_builders.TableSortByFieldState().display_name(column).desc(True)])
        )
    builder = (
        timeseries.Panel()
        .fill_opacity(25 if panel.stacked else 10)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["mean", "max"])
        )
        .tooltip(common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI))
    )
    if panel.stacked:
        builder = builder.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
    return builder


def _trace_link(panel: spec.Panel) -> dash.DashboardLink:
    labels = panel.queries[0].labels
    field_ref = _TABLE_FIELD if panel.kind == "table" else _TIME_SERIES_LABEL
    return (
        dash.DashboardLink("Traces of this series in Tempo")
        .url(links.series_traces_url(labels, field_ref))
        .target_blank(True)
    )


def render_panel(panel: spec.Panel, panel_id: int) -> PanelBuilder:
    builder = (
        _new_builder(panel)
        .id(panel_id)
        .title(panel.title)
        .datasource(_DATASOURCE)
        .unit(panel.unit)
        .span(panel.width)
        .height(panel.height)
        .targets([_target(q, _REF_IDS[i], panel.kind) for i, q in enumerate(panel.queries)])
    )
    if panel.description:
        builder = builder.description(panel.description)
    if panel.time_from:
        builder = builder.time_from(panel.time_from)
    if panel.no_value is not None:
        builder = builder.no_value(panel.no_value)
    if panel.decimals is not None:
        builder = builder.decimals(panel.decimals)
    if panel.max_value is not None:
        builder = builder.min(0).max(panel.max_value)
    if panel.thresholds:
        builder = builder.thresholds(_thresholds(panel.thresholds))
    if panel.trace_link:
        builder = builder.data_links([_trace_link(panel)])
    return builder


def _dashboard_links() -> list[cogbuilder.Builder[model.DashboardLink]]:
    related = (
        dash.DashboardLink("GenAI cost dashboards")
        .type(model.DashboardLinkType.DASHBOARDS)
        .tags(["genai-cost"])
        .as_dropdown(True)
        .include_vars(True)
        .keep_time(True)
    )
    traces = (
        dash.DashboardLink("Priced GenAI traces (Tempo)")
        .type(model.DashboardLinkType.LINK)
        .icon("external link")
        .url(links.all_traces_url())
        .target_blank(True)
    )
    return [related, traces]


def render(board: spec.Dashboard) -> dash.Dashboard:
    builder = (
        dash.Dashboard(board.title)
        .uid(board.uid)
        .description(board.description)
        .tags(list(board.tags))
        .time(board.time_from, "now")
        .refresh("1m")
        # UTC, so "today" and "this month" are the days and months the budget rules count.
        .timezone(common.TimeZoneUtc)
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .variables(variables())
        .links(_dashboard_links())
    )
    panel_id = 0
    for row in board.rows:
        panel_id += 1
        builder = builder.with_row(dash.Row(row.title).id(panel_id))
        for panel in row.panels:
            panel_id += 1
            builder = builder.with_panel(render_panel(panel, panel_id))
    return builder


def to_json(board: spec.Dashboard) -> str:
    return JSONEncoder(sort_keys=True, indent=2).encode(render(board).build()) + "\n"


def to_dict(board: spec.Dashboard) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(to_json(board))
    return result
