"""The collector's plain data types: what a validated batch and a query are inside.

Protobuf types stop at collector.service; the store and the queries work on
these. The enum numbers equal the wire enums' numbers (a test checks both
names and numbers), so converting is a plain ``int``. A batch's rows are
plain tuples in TallyRow's field order (``RowTuple``) rather than dataclasses
or even NamedTuples, because the service builds up to 100,000 of them a
second and a tuple is the cheapest immutable value Python has.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NamedTuple


class Trigger(enum.IntEnum):
    """What came before the remote-access tool started (wire enum ``Trigger``)."""

    NONE = 1
    UNKNOWN_CALL = 2
    SCAREWARE_PAGE = 3
    INSTALLER_DOWNLOAD = 4
    UNVERIFIED_CALL = 5


class Stage(enum.IntEnum):
    """The furthest step of the scam journey observed (wire enum ``Stage``)."""

    REMOTE_TOOL_STARTED = 1
    SESSION_ACTIVE = 2
    SCARE_TACTICS = 3
    BANKING_DURING_SESSION = 4
    PAYMENT_DURING_SESSION = 5


class Outcome(enum.IntEnum):
    """What the person did with the warning (wire enum ``Outcome``)."""

    USER_STOPPED = 1
    USER_PAUSED = 2
    USER_TRUSTED = 3
    IGNORED = 4
    NO_WARNING_SHOWN = 5


class Dimension(enum.IntEnum):
    """What a query can group by (wire enum ``Dimension``)."""

    TOOL = 1
    DAY = 2
    WEEK = 3
    MONTH = 4
    QUARTER = 5
    TRIGGER = 6
    STAGE = 7
    OUTCOME = 8
    REGION = 9


PERIODS = frozenset({Dimension.DAY, Dimension.WEEK, Dimension.MONTH, Dimension.QUARTER})


class TallyRow(NamedTuple):
    """One validated row of a batch: a count for one cell on one UTC day."""

    day: int  # days since 1970-01-01 (UTC)
    tool_id: str
    trigger: int
    stage: int
    outcome: int
    count: int  # type: ignore[assignment]  # shadows tuple.count(), which nothing here calls


# A TallyRow's fields as a plain tuple: what validation builds (cheaper than a
# NamedTuple) and what crosses process boundaries. Stores unpack rows by position.
RowTuple = tuple[int, str, int, int, int, int]


@dataclass(frozen=True, slots=True)
class Batch:
    """A validated batch: all rows share the batch's region."""

    batch_id: bytes
    region: str  # "" = none
    rows: tuple[RowTuple, ...]  # TallyRows, or plain tuples in TallyRow's field order
    token: str = ""  # the deployment token's id (collector.auth.token_id); "" = unattributed
    # The caller's rate-limit key (collector.ratelimit.PeerKeys: a keyed hash,
    # never an address); travels to the writer process, never stored.
    peer: bytes = b""


class IngestResult(NamedTuple):
    """What the store did with a batch."""

    duplicate: bool  # the batch id had been acknowledged before; nothing was added
    rows_accepted: int
    retry_after: float = 0.0  # > 0: refused by the rate limit, nothing added; retry then


@dataclass(frozen=True)
class Query:
    """An analyst's question: group by these dimensions, within these filters."""

    group_by: tuple[Dimension, ...] = (Dimension.TOOL,)
    since_day: int | None = None  # inclusive
    until_day: int | None = None  # inclusive
    tool_ids: frozenset[str] = frozenset()
    triggers: frozenset[int] = frozenset()
    stages: frozenset[int] = frozenset()
    outcomes: frozenset[int] = frozenset()
    regions: frozenset[str] = frozenset()

    @property
    def period(self) -> Dimension | None:
        """The time dimension grouped by, if any (at most one is allowed)."""
        for d in self.group_by:
            if d in PERIODS:
                return d
        return None


CellKey = tuple[str | int, ...]  # values in group_by order; periods as labels like "2017-02"


class Cell(NamedTuple):
    """One grouped count, before small-cell suppression."""

    key: CellKey
    count: int  # type: ignore[assignment]  # shadows tuple.count(), which nothing here calls


@dataclass(frozen=True)
class Release:
    """One stored release. ``cells`` may be left empty when only the header was read."""

    release_id: str
    kind: Dimension
    period: str
    first_day: int
    last_day: int
    provisional: bool
    grid: tuple[Dimension, ...]
    epsilon: float
    delta: float
    noise_scale: float
    threshold: int
    noisy_total: int
    cells_checksum: str
    source_checksum: str  # operator only: never sent to analysts
    source_total: int  # operator only
    created_at: int
    cells: tuple[tuple[CellKey, int], ...] = field(default=(), compare=False)

    @property
    def released_total(self) -> int:
        """Sum of the released cells (needs the cells)."""
        return sum(count for _, count in self.cells)
