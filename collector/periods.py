"""Calendar arithmetic on UTC day numbers (days since 1970-01-01) and period labels.

Tallies are stored per day and per month; queries group them into the
labels analysts read: ``2017-02-03``, ``2017-W06`` (ISO week), ``2017-02``,
``2017-Q1``. Months are kept as one integer, ``year * 12 + month - 1``, so
month ranges are plain integer ranges in SQL.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

EPOCH = dt.date(1970, 1, 1)
_EPOCH_ORDINAL = EPOCH.toordinal()


def to_date(day: int) -> dt.date:
    """Day number -> date."""
    return dt.date.fromordinal(_EPOCH_ORDINAL + day)


def from_date(date: dt.date) -> int:
    """Date -> day number."""
    return date.toordinal() - _EPOCH_ORDINAL


@lru_cache(maxsize=4096)
def month_of_day(day: int) -> int:
    """The month index (year * 12 + month - 1) a day falls in."""
    d = to_date(day)
    return d.year * 12 + d.month - 1


def first_day_of_month(month: int) -> int:
    """Day number of the first day of a month index."""
    return from_date(dt.date(month // 12, month % 12 + 1, 1))


def last_day_of_month(month: int) -> int:
    """Day number of the last day of a month index."""
    return first_day_of_month(month + 1) - 1


def week_start_sql(column: str) -> str:
    """SQL expression: the Monday of the ISO week containing day ``column``.

    1970-01-01 was a Thursday, so (day + 3) % 7 is 0 on Mondays; pure
    integer arithmetic keeps the GROUP BY inside SQLite.
    """
    return f"({column} - (({column} + 3) % 7))"


def day_label(day: int) -> str:
    """``2017-02-03``."""
    return to_date(day).isoformat()


@lru_cache(maxsize=4096)
def week_label(monday: int) -> str:
    """``2017-W06`` for the ISO week starting on day ``monday``."""
    year, week, _ = to_date(monday).isocalendar()
    return f"{year}-W{week:02d}"


def month_label(month: int) -> str:
    """``2017-02``."""
    return f"{month // 12:04d}-{month % 12 + 1:02d}"


def quarter_label(month: int) -> str:
    """``2017-Q1``."""
    return f"{month // 12:04d}-Q{(month % 12) // 3 + 1}"
