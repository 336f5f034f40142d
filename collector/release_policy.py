"""What a release is made of: periods, their grids, the contribution bound, noise and threshold.

One rule each, in one place:

- **Periods.** Day, ISO week, month and quarter. A period is *closed*
  ``delay_days`` after its last day (agents upload once a day, so by then
  nearly every honest count of it has arrived).
- **Grids.** Finer periods get coarser grids: the noise added to a cell does
  not depend on its size, so a cell needs enough counts for the noise to be
  small beside it. A day holds about 1/30 of a month's counts, so a day is
  released by tool only; a week by tool and trigger; a month adds the stage
  and the outcome; only a quarter is split by region as well (a region
  divides the counts most, and a deployer may set it for a small area).
- **The unit of privacy** is one PC's counts for one UTC day. The collector
  cannot link two days of one PC (nothing identifies a PC), so a PC active
  on k days of a period is protected as k units (group privacy: k·ε).
  One PC-day adds at most one count per (day, tool, trigger) and at most
  ``PC_DAY_ROWS`` = ``ratwatch_proto.limits.ROWS_PER_DAY`` rows (issue 13's
  batch shape; the dropped tally is never released), so it changes at most
  ``PC_DAY_ROWS`` cells of a grid, each by at most 1 (by at most the number
  of triggers, in a grid without the trigger).
- **Noise and threshold.** Half of a release's ε goes to its cells: OpenDP's
  discrete Laplace with a threshold (``make_laplace_threshold``, integers,
  so none of the floating-point caveats apply); a cell is released only if
  its noisy count reaches the threshold, which is chosen so that a key one
  PC-day alone brings into the table is released with probability below δ.
  The other half buys a noisy total of the whole period, so shares have an
  honest denominator and the "suppressed" figure is that total minus the
  released cells.
- **Budget.** Each release spends ``epsilon`` per PC-day it covers. A day is
  covered by its day, week, month and quarter releases, and the days 1-15
  of a month also by that month's one provisional release: at most 5·ε per
  PC-day, whatever the analysts ask.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from ratwatch_proto.limits import ROWS_PER_DAY

from collector.model import Dimension, Trigger

KINDS = (Dimension.QUARTER, Dimension.MONTH, Dimension.WEEK, Dimension.DAY)  # coarsest first
GRIDS: dict[Dimension, tuple[Dimension, ...]] = {
    Dimension.DAY: (Dimension.TOOL,),
    Dimension.WEEK: (Dimension.TOOL, Dimension.TRIGGER),
    Dimension.MONTH: (Dimension.TOOL, Dimension.TRIGGER, Dimension.STAGE, Dimension.OUTCOME),
    Dimension.QUARTER: (
        Dimension.TOOL,
        Dimension.TRIGGER,
        Dimension.STAGE,
        Dimension.OUTCOME,
        Dimension.REGION,
    ),
}
# Rows one PC may send for one day: the contribution bound the noise is
# calibrated to. It is the wire's per-day bound (issue 13: the outbox claims
# at most ROWS_PER_DAY keys a day, each counted once, across all batches),
# so the two cannot drift apart.
PC_DAY_ROWS = ROWS_PER_DAY
PROVISIONAL_DAY = 15  # a month's one provisional release covers its days 1..15
RELEASES_PER_DAY = len(KINDS) + 1  # what one PC-day can be charged for at most
CONFIDENCE = 0.95


@dataclass(frozen=True)
class ReleaseParams:
    """The operator's choices ([releases] in the config)."""

    epsilon: float = 1.0
    delta: float = 1e-6
    delay_days: int = 2


@dataclass(frozen=True)
class Calibration:
    """The noise and threshold of one release kind, from ε, δ and the contribution bound."""

    epsilon: float  # the whole release
    delta: float
    noise_scale: float  # discrete Laplace scale of each cell
    total_scale: float  # ... of the period's noisy total
    threshold: int
    contribution: tuple[int, int, int]  # cells touched (l0), sum (l1), per cell (l∞) per PC-day


def contribution(kind: Dimension) -> tuple[int, int, int]:
    """(l0, l1, l∞) of one PC-day in ``kind``'s grid."""
    per_cell = 1 if Dimension.TRIGGER in GRIDS[kind] else min(PC_DAY_ROWS, len(Trigger))
    return PC_DAY_ROWS, PC_DAY_ROWS, per_cell


@functools.lru_cache(maxsize=64)
def calibrate(kind: Dimension, epsilon: float, delta: float) -> Calibration:
    """Scale and the smallest threshold whose OpenDP privacy map stays within (ε/2, δ)."""
    from collector.noise import threshold_delta

    l0, l1, linf = contribution(kind)
    scale = l1 / (epsilon / 2)
    lo, hi = linf, linf + 1
    while threshold_delta(scale, hi, (l0, l1, linf)) > delta:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if threshold_delta(scale, mid, (l0, l1, linf)) > delta:
            lo = mid
        else:
            hi = mid
    return Calibration(epsilon, delta, scale, l1 / (epsilon / 2), hi, (l0, l1, linf))


def _tail(k: int, scale: float) -> float:
    """P(|X| > k) for discrete Laplace noise X of ``scale``."""
    q = math.exp(-1 / scale)
    return 2 * q ** (k + 1) / (1 + q)


@functools.lru_cache(maxsize=4096)
def interval(cells: int, scale: float) -> float:
    """Half-width of a 95 % interval for the sum of ``cells`` noisy cells' noise.

    One cell: the exact quantile of the discrete Laplace. Several: their
    standard deviation times 2.12, the single Laplace's own 95 % multiple,
    which is conservative because a sum's tails are lighter (it tends to the
    normal's 1.96).
    """
    if cells <= 0:
        return 0.0
    k = 0
    while _tail(k, scale) > 1 - CONFIDENCE:
        k += 1
    if cells == 1:
        return float(k)
    q = math.exp(-1 / scale)
    sd = math.sqrt(cells * 2 * q / (1 - q) ** 2)
    return float(max(k, math.ceil(2.12 * sd)))
