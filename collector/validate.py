"""All-or-nothing validation of wire messages into the collector's plain types.

A batch is accepted whole or not at all: the first bad row or field raises
ValidationError naming it (``rows[3].tool_id``) and what would be valid, and
nothing of that batch reaches the store. This is the point where protobuf
types turn into collector.model types. The clock is injected so tests can
pin "today" instead of sleeping.

A busy collector validates ~100,000 rows a second, so a batch's fields are
read once and checked a column at a time (see ``BatchValidator.validate``).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import NoReturn

from ratwatch_proto import limits
from ratwatch_proto import telemetry_pb2 as pb
from ratwatch_proto.limits import (
    BATCH_ID_BYTES,
    MAX_AGE_DAYS,
    MAX_BATCH_ROWS,
    SLUG,
    SLUG_PATTERN,
)
from ratwatch_proto.regions import region_codes

from collector.errors import ValidationError
from collector.model import PERIODS, Batch, Dimension, Outcome, Query, Stage, Trigger

_KNOWN_SLUGS_MAX = 10_000
MAX_QUERY_VALUES = 1000  # per filter list; a bound on query cost, far above any real need

_TRIGGERS = frozenset(int(v) for v in Trigger)
_STAGES = frozenset(int(v) for v in Stage)
_OUTCOMES = frozenset(int(v) for v in Outcome)


DROPPED = limits.DROPPED_TOOL_ID
_DROPPED_SHAPE = (int(Trigger.NONE), int(Stage.REMOTE_TOOL_STARTED), int(Outcome.NO_WARNING_SHOWN))


def _count_ok(tool_id: str, trigger: int, stage: int, outcome: int, count: int) -> bool:
    """A row's count: 1, or the reserved dropped row in its one shape and bounded."""
    if tool_id == DROPPED:
        return (trigger, stage, outcome) == _DROPPED_SHAPE and (
            limits.MIN_ROW_COUNT <= count <= limits.MAX_ROW_COUNT
        )
    return count == limits.ROW_COUNT


def _dropped_ok(rows: Sequence[tuple[int, str, int, int, int, int]]) -> bool:
    """The slow path of the count check: only taken by a batch with a count other than 1."""
    return all(_count_ok(t, tr, s, o, c) for _, t, tr, s, o, c in rows)


def _check_shape(
    days: tuple[int, ...], tool_ids: tuple[str, ...], triggers: tuple[int, ...]
) -> None:
    """Raise unless the batch has the shape of one PC's outbox (ratwatch_proto.limits).

    One row per (day, tool, trigger), at most ROWS_PER_DAY keys per day (the
    dropped row aside), at most one dropped row.
    """
    keys = set(zip(days, tool_ids, triggers, strict=True))
    if len(keys) != len(days):
        seen: set[tuple[int, str, int]] = set()
        for i, k in enumerate(zip(days, tool_ids, triggers, strict=True)):
            if k in seen:
                raise ValidationError(
                    f"rows[{i}]: a second row for day {k[0]} ({day_label(k[0])}), tool "
                    f"{_show(k[1])}, trigger {k[2]}; at most one row per (day, tool, trigger)"
                )
            seen.add(k)
    if tool_ids.count(DROPPED) > 1:
        raise ValidationError(f"rows: more than one {DROPPED} row; an outbox reports one a batch")
    per_day = Counter(days)
    if max(per_day.values()) > limits.ROWS_PER_DAY:
        if DROPPED in tool_ids:
            per_day[days[tool_ids.index(DROPPED)]] -= 1
        day, n = per_day.most_common(1)[0]
        if n > limits.ROWS_PER_DAY:
            raise ValidationError(
                f"rows: {n} rows for day {day} ({day_label(day)}); one PC counts at most "
                f"{limits.ROWS_PER_DAY} (tool, trigger) keys a day"
            )


def _show(value: object) -> str:
    """repr() cut short: error messages must not echo a megabyte back."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def day_label(day: int) -> str:
    """Days since the epoch as an ISO date (a uint32 on the wire can lie past year 9999)."""
    try:
        return (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()
    except OverflowError:
        return "after 9999-12-31"


def _enum_choices(enum_type: type[Trigger] | type[Stage] | type[Outcome], prefix: str) -> str:
    return ", ".join(f"{prefix}_{m.name} ({int(m)})" for m in enum_type)


def check_region(region: str, where: str) -> str:
    """Return ``region`` if empty or a known ISO 3166-1 alpha-2 code, else raise."""
    if region and region not in region_codes():
        raise ValidationError(
            f"{where}: {_show(region)} is not a region code; valid: an ISO 3166-1 "
            "alpha-2 code like 'NL', or empty for none"
        )
    return region


class BatchValidator:
    """Turns a ``CountBatch`` into a ``Batch`` or raises ValidationError."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._known_slugs: set[str] = set()

    def today(self) -> int:
        """Today's UTC day number according to the injected clock."""
        return int(self._clock() // 86400)

    def validate(self, msg: pb.CountBatch, token: str = "", peer: bytes = b"") -> Batch:
        """Validate every field and row; the whole batch or nothing (from ``token``, ``peer``)."""
        batch_id = msg.batch_id
        if len(batch_id) != BATCH_ID_BYTES:
            what = "missing" if not batch_id else f"{len(batch_id)} bytes"
            raise ValidationError(f"batch_id: {what}; expected {BATCH_ID_BYTES} random bytes")
        region = check_region(msg.region, "region")
        rows_in = msg.rows
        if len(rows_in) > MAX_BATCH_ROWS:
            raise ValidationError(
                f"rows: {len(rows_in)} rows; at most {MAX_BATCH_ROWS} rows per batch"
            )
        if not rows_in:
            return Batch(bytes(batch_id), region, (), token, peer)
        today = self.today()
        oldest = today - MAX_AGE_DAYS
        # Each field is read once, then each column is checked whole by C code
        # (min, max, set containment); only a bad batch is walked row by row,
        # to name the first bad row and field.
        rows = [(r.utc_day, r.tool_id, r.trigger, r.stage, r.outcome, r.count) for r in rows_in]
        days, tool_ids, triggers, stages, outcomes, counts = zip(*rows, strict=True)
        if not (
            oldest <= min(days)
            and max(days) <= today
            and _TRIGGERS.issuperset(triggers)
            and _STAGES.issuperset(stages)
            and _OUTCOMES.issuperset(outcomes)
            and (min(counts) == max(counts) == limits.ROW_COUNT or _dropped_ok(rows))
            and self._slugs_ok(tool_ids)
        ):
            self._explain_first(rows_in, oldest, today)
        _check_shape(days, tool_ids, triggers)
        return Batch(bytes(batch_id), region, tuple(rows), token, peer)

    def _slugs_ok(self, tool_ids: tuple[str, ...]) -> bool:
        """Whether every id is a slug; good ones are remembered (bounded) to skip the regex."""
        known = self._known_slugs
        if known.issuperset(tool_ids):
            return True
        for tool_id in set(tool_ids) - known:
            if SLUG.fullmatch(tool_id) is None:
                return False
            if len(known) >= _KNOWN_SLUGS_MAX:
                known.clear()  # a flood of distinct ids must not grow memory
            known.add(tool_id)
        return True

    @classmethod
    def _explain_first(cls, rows: Sequence[pb.CountRow], oldest: int, today: int) -> NoReturn:
        """Raise the ValidationError naming the first bad field of the first bad row."""
        for i, r in enumerate(rows):
            if not (
                oldest <= r.utc_day <= today
                and SLUG.fullmatch(r.tool_id) is not None
                and r.trigger in _TRIGGERS
                and r.stage in _STAGES
                and r.outcome in _OUTCOMES
                and _count_ok(r.tool_id, r.trigger, r.stage, r.outcome, r.count)
            ):
                cls._explain(i, r, oldest, today)
        raise AssertionError("a column failed its check but no row did")  # pragma: no cover

    @classmethod
    def _explain(cls, i: int, r: pb.CountRow, oldest: int, today: int) -> NoReturn:
        """Raise the ValidationError naming the first bad field of row ``i``."""
        if not oldest <= r.utc_day <= today:
            cls._bad_day(i, r.utc_day, oldest, today)
        if SLUG.fullmatch(r.tool_id) is None:
            raise ValidationError(
                f"rows[{i}].tool_id: {_show(r.tool_id)} is not a catalogue slug; "
                f"valid: {SLUG_PATTERN}"
            )
        if r.trigger not in _TRIGGERS:
            raise ValidationError(
                f"rows[{i}].trigger: {r.trigger} is not a known Trigger; valid: "
                + _enum_choices(Trigger, "TRIGGER")
            )
        if r.stage not in _STAGES:
            raise ValidationError(
                f"rows[{i}].stage: {r.stage} is not a known Stage; valid: "
                + _enum_choices(Stage, "STAGE")
            )
        if r.outcome not in _OUTCOMES:
            raise ValidationError(
                f"rows[{i}].outcome: {r.outcome} is not a known Outcome; valid: "
                + _enum_choices(Outcome, "OUTCOME")
            )
        if r.tool_id == DROPPED:
            raise ValidationError(
                f"rows[{i}]: the reserved {DROPPED} row (count {r.count}) is not valid; valid: "
                "trigger NONE, stage REMOTE_TOOL_STARTED, outcome NO_WARNING_SHOWN and a count "
                f"in 1..{limits.MAX_ROW_COUNT}"
            )
        raise ValidationError(
            f"rows[{i}].count: {r.count}; valid: exactly {limits.ROW_COUNT} "
            "(one PC, one day, one tool, one trigger)"
        )

    @staticmethod
    def _bad_day(i: int, day: int, oldest: int, today: int) -> NoReturn:
        valid = f"valid: {oldest}..{today} ({day_label(oldest)} .. {day_label(today)})"
        if day > today:
            raise ValidationError(f"rows[{i}].utc_day: {day} is in the future; {valid}")
        shown = f"{day} ({day_label(day)})" if day else "0 (unset)"
        raise ValidationError(
            f"rows[{i}].utc_day: {shown} is older than {MAX_AGE_DAYS} days; {valid}"
        )


def _enum_filter(values: object, allowed: frozenset[int], field: str, name: str) -> frozenset[int]:
    out = frozenset(int(v) for v in values)  # type: ignore[attr-defined]
    bad = sorted(out - allowed)
    if bad:
        raise ValidationError(f"{field}: {bad[0]} is not a known {name}")
    return out


def validate_query(msg: pb.StatsQuery) -> Query:
    """Turn a ``StatsQuery`` into a ``Query`` or raise ValidationError."""
    group_by: list[Dimension] = []
    for i, d in enumerate(msg.group_by):
        try:
            dim = Dimension(d)
        except ValueError:
            valid = ", ".join(f"DIMENSION_{m.name}" for m in Dimension)
            raise ValidationError(
                f"group_by[{i}]: {d} is not a Dimension; valid: {valid}"
            ) from None
        if dim in group_by:
            raise ValidationError(f"group_by[{i}]: DIMENSION_{dim.name} is listed twice")
        group_by.append(dim)
    periods = [d for d in group_by if d in PERIODS]
    if len(periods) > 1:
        raise ValidationError(
            "group_by: at most one of DAY, WEEK, MONTH, QUARTER; got "
            + ", ".join(d.name for d in periods)
        )
    since = msg.since_day if msg.HasField("since_day") else None
    until = msg.until_day if msg.HasField("until_day") else None
    if since is not None and until is not None and since > until:
        raise ValidationError(
            f"since_day {since} ({day_label(since)}) is after until_day {until} "
            f"({day_label(until)})"
        )
    for field in ("tool_ids", "triggers", "stages", "outcomes", "regions"):
        if len(getattr(msg, field)) > MAX_QUERY_VALUES:
            raise ValidationError(f"{field}: at most {MAX_QUERY_VALUES} values")
    for i, t in enumerate(msg.tool_ids):
        if SLUG.fullmatch(t) is None:
            raise ValidationError(f"tool_ids[{i}]: {_show(t)} is not a catalogue slug")
    for i, r in enumerate(msg.regions):
        check_region(r, f"regions[{i}]")
    return Query(
        group_by=tuple(group_by),
        since_day=since,
        until_day=until,
        tool_ids=frozenset(msg.tool_ids),
        triggers=_enum_filter(
            msg.triggers, frozenset(int(v) for v in Trigger), "triggers", "Trigger"
        ),
        stages=_enum_filter(msg.stages, frozenset(int(v) for v in Stage), "stages", "Stage"),
        outcomes=_enum_filter(
            msg.outcomes, frozenset(int(v) for v in Outcome), "outcomes", "Outcome"
        ),
        regions=frozenset(msg.regions),
    )
