"""An answer as the renderers and the wire see it: rows, totals, and which view it is.

Two views share this shape. ``release`` (every analyst answer, local or over
gRPC) is added up from releases and says which ones, with their noise and
threshold; cells below the threshold are not listed at all. ``raw`` is the
operator's view of the tallies on the collector's own machine, not for
publication, with the old small-cell suppression as a courtesy.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.model import CellKey, Dimension, Release

RELEASE_VIEW = "release"
RAW_VIEW = "raw"


@dataclass(frozen=True)
class ReportRow:
    """One listed row: its key in group_by order and its count (None = suppressed, raw only)."""

    key: CellKey
    count: int | None
    share: float | None
    count_ci95: float | None = None  # release view: half-width of the 95 % interval
    share_ci95: float | None = None

    @property
    def suppressed(self) -> bool:
        """Raw view: the cell is below the minimum and its value is withheld."""
        return self.count is None


@dataclass(frozen=True)
class Report:
    """A query's answer, ready for a table, CSV, JSON or the wire."""

    group_by: tuple[Dimension, ...]
    rows: tuple[ReportRow, ...]
    total: int  # sum of the listed counts
    view: str = RELEASE_VIEW
    # release view
    suppressed: int = 0  # counts in cells below the threshold, over the releases used
    release_total: int = 0  # the releases' noisy totals: the denominator of shares
    releases: tuple[Release, ...] = ()
    noise_scale: float = 0.0
    threshold: int = 0
    uncovered_days: int = 0
    # raw view
    suppressed_cells: int = 0
    min_cell_count: int = 0
