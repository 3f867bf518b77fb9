"""Errors inside genai-cost never reach the app: they are caught here and logged.

Our own test suite flips ``RAISE_INTERNAL_ERRORS`` on (tests/conftest.py), so a telemetry bug fails a
test instead of hiding in a log line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger("genai_cost")

RAISE_INTERNAL_ERRORS = False
_reported: set[str] = set()


def log_internal_error(where: str) -> None:
    """Call from an ``except`` block. Logs once per place with the traceback, then at debug."""
    if RAISE_INTERNAL_ERRORS:
        raise
    if where in _reported:
        logger.debug("genai-cost internal error in %s (app unaffected)", where, exc_info=True)
        return
    _reported.add(where)
    logger.warning(
        "genai-cost internal error in %s; the app call is unaffected, its telemetry may be incomplete",
        where,
        exc_info=True,
    )


@contextmanager
def swallow(where: str) -> Iterator[None]:
    try:
        yield
    except Exception:
        log_internal_error(where)
