"""The overview's filters, as kept in the page's URL so that a view can be shared.

``?period=2026-10&tool=anydesk&trigger=unknown_call&region=NL&trend=week&lang=nl``.
A period is a month (``2026-10``), a quarter (``2026-Q4``) or a year (``2026``).
Bad values are refused with a message naming the parameter and what is
valid; the page then shows that message instead of charts.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from ratwatch_proto.limits import is_slug

from collector.errors import ValidationError
from collector.model import Trigger
from collector.periods import from_date

PERIOD = re.compile(r"^(?P<year>\d{4})(?:-(?:(?P<month>\d\d)|Q(?P<quarter>[1-4])))?$")
REGION = re.compile(r"^[A-Z]{2}$")
TRENDS = ("week", "month")
LANGUAGES = ("en", "nl")
TRIGGERS = tuple(t.name.lower() for t in Trigger)


@dataclass(frozen=True)
class Period:
    """A calendar period as an inclusive range of UTC day numbers."""

    label: str
    first: dt.date
    last: dt.date

    @property
    def since_day(self) -> int:
        """First day number."""
        return from_date(self.first)

    @property
    def until_day(self) -> int:
        """Last day number (inclusive)."""
        return from_date(self.last)

    def year_earlier(self) -> Period:
        """The same period one year earlier."""
        return parse_period(_shift_label(self.label, -1))


def _shift_label(label: str, years: int) -> str:
    return f"{int(label[:4]) + years:04d}{label[4:]}"


def _month_end(year: int, month: int) -> dt.date:
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def parse_period(text: str) -> Period:
    """``2026-10``, ``2026-Q4`` or ``2026`` as a Period; ValidationError otherwise."""
    m = PERIOD.match(text)
    if not m or not 1970 <= int(m["year"]) <= 9998:
        raise ValidationError(
            f"period: {text!r} is not a month (2026-10), quarter (2026-Q4) or year (2026)"
        )
    year = int(m["year"])
    if m["month"]:
        month = int(m["month"])
        if not 1 <= month <= 12:
            raise ValidationError(f"period: {text!r}: month must be 01..12")
        return Period(text, dt.date(year, month, 1), _month_end(year, month))
    if m["quarter"]:
        q = int(m["quarter"])
        return Period(text, dt.date(year, 3 * q - 2, 1), _month_end(year, 3 * q))
    return Period(text, dt.date(year, 1, 1), dt.date(year, 12, 31))


def current_month(today: dt.date) -> str:
    """The label of the month ``today`` is in."""
    return f"{today.year:04d}-{today.month:02d}"


@dataclass(frozen=True)
class Filters:
    """What the analyst is looking at."""

    period: Period
    tool: str = ""
    trigger: str = ""
    region: str = ""
    trend: str = "month"
    lang: str = "en"

    def params(self, **changes: str) -> dict[str, str]:
        """The URL parameters of this view (empty filters left out), with ``changes``."""
        values = {
            "period": self.period.label,
            "tool": self.tool,
            "trigger": self.trigger,
            "region": self.region,
            "trend": self.trend,
            "lang": self.lang,
            **changes,
        }
        return {k: v for k, v in values.items() if v}

    def query_string(self, **changes: str) -> str:
        """``period=...&lang=...`` for links that keep this view."""
        return urlencode(self.params(**changes))

    def with_period(self, period: Period) -> Filters:
        """The same view over another period."""
        return replace(self, period=period)


def parse(args: Mapping[str, str], today: dt.date, default_lang: str = "en") -> Filters:
    """Filters from URL parameters; ValidationError naming the parameter on a bad value."""
    period = parse_period(args.get("period") or current_month(today))
    tool = args.get("tool", "").strip().lower()
    if tool and not is_slug(tool):
        raise ValidationError(f"tool: {tool!r} is not a tool id (like anydesk)")
    trigger = args.get("trigger", "").strip().lower()
    if trigger and trigger not in TRIGGERS:
        raise ValidationError(f"trigger: {trigger!r}; valid: {', '.join(TRIGGERS)}")
    region = args.get("region", "").strip().upper()
    if region and not REGION.match(region):
        raise ValidationError(f"region: {region!r} is not a two-letter region code (like NL)")
    trend = args.get("trend", "month")
    if trend not in TRENDS:
        raise ValidationError(f"trend: {trend!r}; valid: week, month")
    lang = args.get("lang") or default_lang
    if lang not in LANGUAGES:
        raise ValidationError(f"lang: {lang!r}; valid: en, nl")
    return Filters(period, tool, trigger, region, trend, lang)
