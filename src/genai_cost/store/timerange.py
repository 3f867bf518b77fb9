"""Turn ``--since/--days/--from/--to`` into a half-open UTC interval ``[start, end)``.

All times are UTC: the store records span start times in UTC and days are UTC days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

_DURATION = re.compile(r"^\s*(\d+)\s*(m|min|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}
SINCE_HELP = "a duration like 90m, 24h, 7d or 2w, or 'today' or 'month' (UTC)"
_TOO_FAR_BACK = "too far back (the earliest date is 0001-01-01)"


class TimeRangeError(ValueError):
    """Bad time-range input; the message is meant for the user as is."""


@dataclass(frozen=True, slots=True)
class TimeRange:
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive

    def describe(self) -> str:
        if self.start is None and self.end is None:
            return "all time"
        start = _show(self.start) if self.start else "the beginning"
        end = _show(self.end) if self.end else "now"
        return f"{start} to {end} UTC"


def _show(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def parse_since(text: str, now: datetime) -> datetime:
    word = text.strip().lower()
    if word == "today":
        return _midnight(now.date())
    if word == "month":
        return _midnight(now.date().replace(day=1))
    match = _DURATION.match(text)
    if not match:
        raise TimeRangeError(f"--since {text!r}: expected {SINCE_HELP}")
    try:
        return now - timedelta(**{_UNITS[match.group(2).lower()]: int(match.group(1))})
    except (OverflowError, ValueError):  # beyond datetime's range (or int's digit limit)
        raise TimeRangeError(f"--since {text!r}: {_TOO_FAR_BACK}") from None


def parse_instant(text: str, option: str, *, end: bool = False) -> datetime:
    """A date or date-time; naive means UTC. A bare date as an end bound includes that whole day."""
    raw = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            moment = _midnight(date.fromisoformat(raw))
            return moment + timedelta(days=1) if end else moment
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except OverflowError:  # the day after 9999-12-31, or before year 1 in UTC
        raise TimeRangeError(
            f"{option} {text!r}: out of range (use a date from 0001-01-01 to 9999-12-30)"
        ) from None
    except ValueError:
        raise TimeRangeError(
            f"{option} {text!r}: expected a date YYYY-MM-DD or a date-time YYYY-MM-DDTHH:MM[:SS]"
        ) from None


def resolve(
    *,
    since: str | None = None,
    days: int | None = None,
    from_: str | None = None,
    to: str | None = None,
    now: datetime | None = None,
) -> TimeRange:
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if since is not None and days is not None:
        raise TimeRangeError("use either --since or --days, not both")
    if (since is not None or days is not None) and from_ is not None:
        raise TimeRangeError("use either --since/--days or --from, not both")
    start: datetime | None = None
    end: datetime | None = None
    if since is not None:
        start = parse_since(since, now)
    elif days is not None:
        if days < 1:
            raise TimeRangeError(f"--days {days}: expected a whole number of days, 1 or more")
        # Calendar days: --days 1 is today, --days 30 is today and the 29 days before it.
        try:
            start = _midnight(now.date()) - timedelta(days=days - 1)
        except OverflowError:
            raise TimeRangeError(f"--days {days}: {_TOO_FAR_BACK}") from None
    if from_ is not None:
        start = parse_instant(from_, "--from")
    if to is not None:
        end = parse_instant(to, "--to", end=True)
    if start is not None and end is not None and start >= end:
        raise TimeRangeError(f"the range is empty: {_show(start)} is not before {_show(end)}")
    return TimeRange(start, end)
