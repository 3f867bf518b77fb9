"""What ``genai-cost reprice`` and ``genai-cost prices`` print: aligned text tables.

Feature names are tag values from the app, so they are shown through ``render.visible`` (control
characters escaped), as in the report.
"""

from __future__ import annotations

from collections.abc import Sequence

from genai_cost.store import render
from genai_cost.store.reprice import Group, Repricing, changed_models, unpriced_models


def _name(value: str | None) -> str:
    return render.NONE_KEY if value is None else render.visible(value)


def _signed(value: float) -> str:
    if value == 0:
        return "$0"
    return ("+" if value > 0 else "-") + render.money(abs(value))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        # The two name columns left-aligned, numbers right-aligned.
        cells = [
            v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *map(line, rows)])


def repricing(result: Repricing, *, dry_run: bool, written: int | None = None) -> str:
    """The difference by feature and model, the total, and what was (or would be) written."""
    rows = [
        [
            _name(g.feature),
            _name(g.model),
            f"{g.calls:,}",
            f"{g.changed:,}",
            render.money(g.before),
            render.money(g.after),
            _signed(g.difference),
        ]
        for g in result.groups
    ]
    rows.append(
        [
            "all calls",
            "",
            f"{result.calls:,}",
            f"{result.changed:,}",
            render.money(result.before),
            render.money(result.after),
            _signed(result.after - result.before),
        ]
    )
    out = [table(("feature", "model", "calls", "changed", "before", "after", "difference"), rows)]
    newly = sum(g.newly_priced for g in result.groups)
    kept = sum(g.no_price for g in result.groups)
    verb = "would change" if dry_run else "changed"
    out.append(f"{render.plural(result.changed, 'call')} {verb} ({newly:,} newly priced).")
    if kept:
        out.append(
            f"{render.plural(kept, 'call')} have no price with these prices: their stored cost is kept."
        )
    if dry_run:
        out.append("Dry run: nothing was written. Run again without --dry-run to update the store.")
    elif written is not None:
        out.append(f"Store updated: {render.plural(written, 'call')} re-priced; recorded in reprice_runs.")
    return "\n".join(out) + "\n"


def _models(groups: Sequence[Group], with_costs: bool) -> str:
    headers: tuple[str, ...]
    if with_costs:
        rows = [
            [
                _name(g.provider),
                _name(g.model),
                f"{g.changed:,}",
                ", ".join(sorted(g.versions)) or "-",
                render.money(g.before),
                render.money(g.after),
                _signed(g.difference),
            ]
            for g in groups
        ]
        headers = ("provider", "model", "calls", "recorded with", "stored", "now", "difference")
    else:
        rows = [[_name(g.provider), _name(g.model), f"{g.calls:,}"] for g in groups]
        headers = ("provider", "model", "calls")
    return table(headers, rows)


def prices(
    version: str,
    result: Repricing,
    stored: Sequence[tuple[str | None, int]],
    runs: Sequence[tuple[str, str, int, float | None, float | None]],
) -> str:
    """Price version in use, the versions stored, unpriced models, and models whose price changed."""
    out = [f"Prices in use: {version}"]
    if stored:
        out.append("Stored calls were priced with:")
        out += [
            f"  {v or '(not recorded: written before genai-cost kept it)'}: {render.plural(n, 'call')}"
            for v, n in stored
        ]
    missing = unpriced_models(result.groups)
    out.append("")
    if missing:
        out.append("Models in the store with no price (add them to a price override file):")
        out.append(_models(missing, with_costs=False))
    else:
        out.append("Every model in the store has a price.")
    changed = changed_models(result.groups)
    out.append("")
    if changed:
        out.append(
            "Models whose price changed since their calls were recorded (genai-cost reprice updates them):"
        )
        out.append(_models(changed, with_costs=True))
    else:
        out.append("No stored cost differs from these prices.")
    if runs:
        run_at, run_version, calls, _before, _after = runs[-1]
        out.append("")
        out.append(f"Last reprice: {run_at} with {run_version}, {render.plural(calls, 'call')} changed.")
    return "\n".join(out) + "\n"
