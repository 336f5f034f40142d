"""When the reporter uploads: fixed slots at a per-PC random phase, plus jitter, and backoff.

Uploads happen on a fixed schedule whether or not anything was detected, so
the existence of an upload reveals nothing. The phase (by default a minute of
the day) is drawn once on first start and remembered, so this PC's uploads do
not drift towards midnight with everyone else's; per-slot jitter blurs it.
Pure arithmetic: the clock and the random source are passed in.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class UploadSchedule:
    """Slots at ``(k + phase) * interval`` seconds since the epoch, ``0 <= phase < 1``."""

    interval_seconds: float
    phase: float
    jitter_seconds: float

    @staticmethod
    def draw_phase(interval_seconds: float, rng: random.Random) -> float:
        """A random phase: a whole minute of the interval when it is at least two minutes long."""
        minutes = int(interval_seconds // 60)
        if minutes >= 2:
            return rng.randrange(minutes) * 60 / interval_seconds
        return rng.random()

    def slot_at_or_before(self, t: float) -> float:
        """The latest slot not after ``t``."""
        offset = self.phase * self.interval_seconds
        return math.floor((t - offset) / self.interval_seconds) * self.interval_seconds + offset

    def slot_after(self, t: float) -> float:
        """The first slot strictly after ``t``."""
        return self.slot_at_or_before(t) + self.interval_seconds

    def jitter(self, rng: random.Random) -> float:
        """Random delay added to one slot."""
        return rng.uniform(0.0, self.jitter_seconds) if self.jitter_seconds > 0 else 0.0


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with "equal jitter" (half fixed, half random)."""

    initial_seconds: float
    cap_seconds: float

    def delay(self, failures: int, rng: random.Random) -> float:
        """Wait before retry number ``failures`` (1 = first retry)."""
        exp = min(self.cap_seconds, self.initial_seconds * 2.0 ** max(0, min(failures - 1, 60)))
        return exp / 2 + rng.uniform(0.0, exp / 2)
