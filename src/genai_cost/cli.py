"""The ``genai-cost`` command. Each subcommand registers itself in COMMANDS; ``main`` dispatches.

Bad input ends with one ``genai-cost: error: ...`` line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeAlias

from genai_cost import config
from genai_cost.budget.command import add_budgets
from genai_cost.store import render
from genai_cost.store.db import GROUP_BY, UsageStore, resolve_db
from genai_cost.store.dialect import is_postgres
from genai_cost.store.errors import StoreError
from genai_cost.store.report import DEFAULT_SECTIONS, report_table, sections_top
from genai_cost.store.timerange import SINCE_HELP, TimeRange, TimeRangeError, parse_since, resolve
from genai_cost.version import __version__

EXIT_OK = 0
EXIT_USAGE = 2


if TYPE_CHECKING:
    from genai_cost.pricing.book import PriceBook

    # A subcommand's register function gets this: ``sub.add_parser(...)``, then ``set_defaults(func=...)``.
    SubParsers: TypeAlias = argparse._SubParsersAction[Any]


class UsageError(Exception):
    """Bad input from the user: shown on one line, exit code 2."""


# --- report ----------------------------------------------------------------------------------------


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def add_report(sub: SubParsers) -> None:
    parser = sub.add_parser(
        "report",
        help="cost and usage from the local store",
        description=(
            "Totals and breakdowns of the GenAI calls recorded by the genai_cost traces exporter "
            "(OTEL_TRACES_EXPORTER=genai_cost). Times are UTC. Without --by: a summary, then by "
            "feature and by model."
        ),
    )
    parser.add_argument("--by", choices=sorted(GROUP_BY), help="one breakdown instead of the default three")
    when = parser.add_argument_group("time range (default: all time)")
    when.add_argument("--since", metavar="WHEN", help=f"from this long ago: {SINCE_HELP}")
    when.add_argument("--days", metavar="N", type=int, help="the last N calendar days, today included")
    when.add_argument("--from", dest="from_", metavar="DATE", help="start: YYYY-MM-DD or YYYY-MM-DDTHH:MM")
    when.add_argument("--to", metavar="DATE", help="end (a bare date includes that day)")
    parser.add_argument("--top", metavar="N", type=_positive, help="only the N most expensive groups")
    parser.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="csv and json: one record per row, every column. CSV cells that start with = + - @ or a "
        "tab or carriage return get a leading ' so a spreadsheet shows them as text; JSON is exact",
    )
    parser.add_argument(
        "--wide", action="store_true", help="every column (the default table fits the terminal)"
    )
    parser.add_argument(
        "--cache",
        action="store_true",
        help="prompt-cache economics per feature and model instead: hit rate, what caching saved "
        "(cost without cache - cost with cache, at the prices in use), cache writes never read",
    )
    parser.add_argument(
        "-d",
        "--database",
        metavar="PATH_OR_URL",
        help=f"store file or postgresql:// URL (default: ${config.DB_PATH}, else "
        "$XDG_DATA_HOME/genai-cost/usage.db or ~/.local/share/genai-cost/usage.db)",
    )
    parser.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    try:
        time_range = resolve(since=args.since, days=args.days, from_=args.from_, to=args.to)
    except TimeRangeError as exc:
        raise UsageError(str(exc)) from None
    if args.cache:
        return _cache_report(args, time_range)
    sections = (args.by,) if args.by else DEFAULT_SECTIONS
    if args.format == "table":
        report_table(args.database, sections, time_range, top=args.top, wide=args.wide)
        return EXIT_OK
    with UsageStore.open(resolve_db(args.database), readonly=True) as store:
        rows = [
            row for by in sections for row in store.report(by, time_range, top=sections_top(by, args.top))
        ]
    sys.stdout.write(render.to_json(rows) + "\n" if args.format == "json" else render.to_csv(rows))
    return EXIT_OK


def _cache_report(args: argparse.Namespace, time_range: TimeRange) -> int:
    from genai_cost.store import cache, cache_text

    book = _price_book(None)
    path = _sqlite_store(args.database, "report --cache")
    with UsageStore.open(path, readonly=True) as store:
        rows = cache.cache_economics(store, book, time_range)
    if args.format == "json":
        sys.stdout.write(cache_text.to_json(rows))
    elif args.format == "csv":
        sys.stdout.write(cache_text.to_csv(rows))
    else:
        sys.stdout.write(f"genai-cost report: {path}, {time_range.describe()}\n" + cache_text.to_table(rows))
    return EXIT_OK


def _sqlite_store(database: str | None, command: str) -> str:
    """The store's path for commands whose SQL is SQLite's only (for now)."""
    where = resolve_db(database)
    if is_postgres(where):
        raise UsageError(f"{command} works on a SQLite store only, not yet on PostgreSQL")
    return where


# --- prune -----------------------------------------------------------------------------------------

DEFAULT_RETENTION = "90d"


def add_prune(sub: SubParsers) -> None:
    parser = sub.add_parser(
        "prune",
        help="delete old calls from the store",
        description=(
            "Delete the calls of the whole UTC days that ended longer ago than --older-than (default "
            f"{DEFAULT_RETENTION}). The store keeps every call until you prune it; run this from cron "
            "(or a scheduled job) to keep a fixed window. Safe while apps write to the store."
        ),
    )
    parser.add_argument(
        "--older-than",
        metavar="AGE",
        default=DEFAULT_RETENTION,
        help=f"a duration like 90d, 12w or 36h (default {DEFAULT_RETENTION})",
    )
    parser.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    parser.add_argument(
        "-d",
        "--database",
        metavar="PATH_OR_URL",
        help=f"store file or postgresql:// URL (default: ${config.DB_PATH}, else the report's default file)",
    )
    parser.set_defaults(func=run_prune)


def run_prune(args: argparse.Namespace) -> int:
    if args.older_than.strip().lower() in ("today", "month"):
        raise UsageError(f"--older-than {args.older_than!r}: expected a duration like 90d")
    now = datetime.now(UTC)
    try:
        before = parse_since(args.older_than, now)
    except TimeRangeError as exc:
        raise UsageError(str(exc).replace("--since", "--older-than")) from None
    with UsageStore.open(resolve_db(args.database), create=False) as store:
        count, cutoff_day = store.prune(before, dry_run=args.dry_run)
        where = store.path
    verb = "would delete" if args.dry_run else "deleted"
    cutoff = cutoff_day.strftime("%Y-%m-%d %H:%M")
    sys.stdout.write(
        f"genai-cost prune: {verb} {render.plural(count, 'call')} that started before {cutoff} UTC from {where}\n"
    )
    return EXIT_OK


# --- demo ------------------------------------------------------------------------------------------


def add_demo(sub: SubParsers) -> None:
    parser = sub.add_parser(
        "demo",
        help="run the example apps against a built-in fake provider, then report",
        description=(
            "Starts a fake OpenAI/Anthropic/Groq/Gemini server on 127.0.0.1, runs the example apps unchanged "
            "under opentelemetry-instrument with the local store, prints the report and checks it against "
            "what the fake server billed. No API key or network needed."
        ),
    )
    parser.add_argument(
        "-d",
        "--database",
        metavar="PATH",
        help="the demo's store, replaced on each run (default: demo.db beside the usage store)",
    )
    parser.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from genai_cost import demo

    return demo.main(args.database)


# --- reprice and prices ------------------------------------------------------------------------------


def _database_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-d",
        "--database",
        metavar="PATH",
        help=f"store file (default: ${config.DB_PATH}, else $XDG_DATA_HOME/genai-cost/usage.db "
        "or ~/.local/share/genai-cost/usage.db)",
    )


def _prices_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prices",
        metavar="FILE",
        help=f"price override file to use instead of ${config.PRICES_FILE} (same format)",
    )


def _price_book(prices_file: str | None) -> PriceBook:
    """A fresh price book: the override file given, else the environment's. A bad file is a usage error."""
    from genai_cost.pricing.book import PriceBook
    from genai_cost.pricing.overrides import PriceOverrideError

    settings = config.Settings.from_env()
    try:
        return PriceBook(prices_file or settings.prices_file, refresh=settings.prices_refresh)
    except PriceOverrideError as exc:
        raise UsageError(str(exc)) from None


def add_reprice(sub: SubParsers) -> None:
    parser = sub.add_parser(
        "reprice",
        help="price stored calls again with the current prices (or a new override file)",
        description=(
            "Prices the calls in the local store again from their stored token counts, with the price data "
            "in use (or --prices FILE), and prints the difference by feature and model. Without --dry-run "
            "the store is updated (cost, price version) and the run is recorded. Calls the prices do not "
            "cover keep their stored cost; costs a provider reported are never changed."
        ),
    )
    _prices_argument(parser)
    when = parser.add_argument_group("time range (default: all time)")
    when.add_argument("--since", metavar="WHEN", help=f"from this long ago: {SINCE_HELP}")
    when.add_argument("--from", dest="from_", metavar="DATE", help="start: YYYY-MM-DD or YYYY-MM-DDTHH:MM")
    when.add_argument("--to", metavar="DATE", help="end (a bare date includes that day)")
    parser.add_argument("--dry-run", action="store_true", help="show the difference, write nothing")
    _database_argument(parser)
    parser.set_defaults(func=run_reprice)


def run_reprice(args: argparse.Namespace) -> int:
    from genai_cost.store import reprice, reprice_text

    try:
        time_range = resolve(since=args.since, days=None, from_=args.from_, to=args.to)
    except TimeRangeError as exc:
        raise UsageError(str(exc)) from None
    book = _price_book(args.prices)
    path = _sqlite_store(args.database, "reprice")
    with UsageStore.open(path, readonly=args.dry_run, create=False) as store:
        result = reprice.plan(store, book, time_range)
        written = None if args.dry_run else reprice.apply(store, result, time_range)
    sys.stdout.write(f"genai-cost reprice: {path}, {time_range.describe()}; prices: {result.version}\n")
    sys.stdout.write(reprice_text.repricing(result, dry_run=args.dry_run, written=written))
    return EXIT_OK


def add_prices(sub: SubParsers) -> None:
    parser = sub.add_parser(
        "prices",
        help="the price version in use, unpriced models and changed prices in the store",
        description=(
            "Shows which prices genai-cost applies (genai-prices release and override file), the versions "
            "the stored calls were priced with, the models in the store that have no price, and the "
            "models whose stored cost differs from what these prices give (genai-cost reprice updates them)."
        ),
    )
    _prices_argument(parser)
    _database_argument(parser)
    parser.set_defaults(func=run_prices)


def run_prices(args: argparse.Namespace) -> int:
    from genai_cost.store import reprice, reprice_text

    book = _price_book(args.prices)
    with UsageStore.open(_sqlite_store(args.database, "prices"), readonly=True) as store:
        result = reprice.plan(store, book)
        text = reprice_text.prices(
            book.price_version(), result, reprice.stored_versions(store), reprice.runs(store)
        )
    sys.stdout.write(text)
    return EXIT_OK


# --- dispatch ----------------------------------------------------------------------------------------

Register = Callable[["SubParsers"], None]
COMMANDS: list[Register] = [add_report, add_prune, add_budgets, add_reprice, add_prices, add_demo]


class _Parser(argparse.ArgumentParser):
    """Bad options end with one line (and a pointer to --help) instead of the whole usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"genai-cost: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="genai-cost", description="LLM cost monitoring on OpenTelemetry.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in COMMANDS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and on bad options (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        status = int(args.func(args))
        sys.stdout.flush()  # here, so a closed pipe is seen inside this try
        return status
    except (UsageError, StoreError) as exc:
        print(f"genai-cost: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader stopped reading (`genai-cost report | head`): it has what it wanted. Point stdout
        # at /dev/null so the interpreter's last flush does not fail on the closed pipe again.
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
