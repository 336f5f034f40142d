"""The audit rule: which deployment tokens' days depart from their own recent history.

A leaked deployment token shows up as a day unlike that token's past: more
counts than its deployment sends, or the same volume pushed onto other
tools. Each token is compared only with itself, over the HISTORY_DAYS
before the day:

- **volume**: the day's count is above ``median + max(5 x 1.4826 x MAD,
  5 x sqrt(median + 1))`` of the daily counts in the history (days without
  counts are 0). Median and MAD (median absolute deviation; x 1.4826 it
  estimates a standard deviation) are robust: an attacker's own earlier
  spikes cannot drag the baseline up the way a mean would. The sqrt term is
  the Poisson floor: a small deployment's day-to-day noise is not flagged.
- **tool mix**: the total variation distance between the day's tool shares
  and the history's exceeds MIX_DISTANCE (0.3: almost a third of the day's
  counts sit on other tools than usual), when the day has at least
  MIX_MIN_DAY counts and the history MIX_MIN_HISTORY, so that a handful of
  counts cannot raise an alarm.

A token with fewer than MIN_HISTORY_DAYS days since its first count has no
history to compare with and is reported as new. Pure functions: the command
reads the volumes (Store.token_volume) and prints what this returns.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass

HISTORY_DAYS = 28
MIN_HISTORY_DAYS = 7
MAD_SCALE = 1.4826
Z = 5.0
MIX_DISTANCE = 0.3
MIX_MIN_DAY = 20
MIX_MIN_HISTORY = 100

Volumes = Mapping[tuple[str, int], Mapping[str, int]]  # (token, day) -> {tool: count}


@dataclass(frozen=True)
class Finding:
    """One flagged (token, day) and why."""

    token: str
    day: int
    reason: str  # "volume" | "tool mix" | "new"
    detail: str


def _distance(a: Mapping[str, int], b: Mapping[str, int]) -> float:
    ta, tb = sum(a.values()), sum(b.values())
    tools = set(a) | set(b)
    return 0.5 * sum(abs(a.get(t, 0) / ta - b.get(t, 0) / tb) for t in tools)


def volume_threshold(history: list[int]) -> float:
    """The count above which a day is flagged, given the daily counts before it."""
    median = statistics.median(history)
    mad = statistics.median(abs(x - median) for x in history)
    return median + max(Z * MAD_SCALE * mad, Z * math.sqrt(median + 1))


def audit(volumes: Volumes, first_day: int, last_day: int) -> list[Finding]:
    """Findings for every token on each day in ``first_day..last_day``."""
    tokens = sorted({t for t, _ in volumes})
    findings: list[Finding] = []
    for token in tokens:
        days = {d: tools for (t, d), tools in volumes.items() if t == token}
        start = min(days)
        for day in range(first_day, last_day + 1):
            today = days.get(day, {})
            count = sum(today.values())
            if day - start < MIN_HISTORY_DAYS:
                if count and day == max(first_day, start):
                    findings.append(Finding(token, day, "new", "too little history to compare"))
                continue
            span = range(max(start, day - HISTORY_DAYS), day)
            history = [sum(days.get(d, {}).values()) for d in span]
            limit = volume_threshold(history)
            if count > limit:
                findings.append(
                    Finding(
                        token,
                        day,
                        "volume",
                        f"{count} counts; its last {len(history)} days: median "
                        f"{statistics.median(history):g}, flagged above {limit:.0f}",
                    )
                )
            mix: dict[str, int] = {}
            for d in span:
                for tool, n in days.get(d, {}).items():
                    mix[tool] = mix.get(tool, 0) + n
            if count >= MIX_MIN_DAY and sum(mix.values()) >= MIX_MIN_HISTORY:
                distance = _distance(today, mix)
                if distance > MIX_DISTANCE:
                    top = max(today, key=lambda t: today[t])
                    findings.append(
                        Finding(
                            token,
                            day,
                            "tool mix",
                            f"distance {distance:.2f} from its last {len(history)} days "
                            f"(flagged above {MIX_DISTANCE}); the day's top tool: {top}",
                        )
                    )
    return findings
