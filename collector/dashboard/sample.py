"""Synthetic counts for the dashboard's screenshots, tests and benchmark.

Written straight into a store (not through Telemetry.Submit, which accepts
only the last 35 days), so a year and the year before it can be seeded.
Deterministic for a given seed. The shape follows the 2017 police analysis:
TeamViewer far ahead, then AnyDesk, ShowMyPC and a long tail.
"""

from __future__ import annotations

import datetime as dt
import os
import random
from collections.abc import Iterator

from collector.model import Batch, Outcome, Stage, TallyRow, Trigger
from collector.periods import from_date
from collector.store import MAX_GROUP, Store

# (tool id, relative weight)
TOOLS = (
    ("teamviewer", 179),
    ("anydesk", 30),
    ("showmypc", 12),
    ("quick_assist", 10),
    ("screenconnect", 8),
    ("ultraviewer", 6),
    ("windows_remote_assistance", 3),
    ("supremo", 2),
)
TRIGGERS = (
    (Trigger.UNKNOWN_CALL, 50),
    (Trigger.SCAREWARE_PAGE, 25),
    (Trigger.UNVERIFIED_CALL, 10),
    (Trigger.INSTALLER_DOWNLOAD, 10),
    (Trigger.NONE, 5),
)
STAGES = (
    (Stage.REMOTE_TOOL_STARTED, 30),
    (Stage.SESSION_ACTIVE, 35),
    (Stage.SCARE_TACTICS, 25),
    (Stage.BANKING_DURING_SESSION, 7),
    (Stage.PAYMENT_DURING_SESSION, 3),
)
OUTCOMES = (
    (Outcome.USER_STOPPED, 55),
    (Outcome.USER_PAUSED, 15),
    (Outcome.USER_TRUSTED, 15),
    (Outcome.IGNORED, 10),
    (Outcome.NO_WARNING_SHOWN, 5),
)
REGIONS = (("NL", 70), ("BE", 30))


def _pick(rng: random.Random, table: tuple[tuple[object, int], ...]) -> object:
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


def days(first: dt.date, last: dt.date) -> Iterator[int]:
    """Day numbers from ``first`` to ``last`` inclusive."""
    yield from range(from_date(first), from_date(last) + 1)


def seed(
    store: Store,
    first: dt.date,
    last: dt.date,
    *,
    per_day: int = 12,
    tools: tuple[tuple[str, int], ...] = TOOLS,
    rng_seed: int = 2017,
) -> int:
    """Add about ``per_day`` journeys a day from ``first`` to ``last``; returns the total."""
    rng = random.Random(rng_seed)
    total = 0
    batches: list[Batch] = []
    for day in days(first, last):
        by_region: dict[str, list[TallyRow]] = {}
        for _ in range(per_day):
            row = TallyRow(
                day,
                str(_pick(rng, tools)),
                int(_pick(rng, TRIGGERS)),  # type: ignore[call-overload]
                int(_pick(rng, STAGES)),  # type: ignore[call-overload]
                int(_pick(rng, OUTCOMES)),  # type: ignore[call-overload]
                1,
            )
            by_region.setdefault(str(_pick(rng, REGIONS)), []).append(row)
            total += 1
        batches += [Batch(os.urandom(16), r, tuple(rows)) for r, rows in by_region.items()]
    futures = [
        store.submit_group(batches[i : i + MAX_GROUP]) for i in range(0, len(batches), MAX_GROUP)
    ]
    for future in futures:
        future.result()
    return total
