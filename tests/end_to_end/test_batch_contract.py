"""Every batch the real outbox can build is one the collector's validator accepts.

The agent's outbox and the collector's validator both follow
ratwatch_proto.limits; this checks they agree on the worst honest cases: a
month offline with every key of every day counted, a full outbox whose loss
is reported in the dropped row, a loss larger than one dropped row may carry,
and the splits after a refusal. The collector's clock is the PC's.
"""

from __future__ import annotations

import random
from pathlib import Path

from ratwatch_proto import limits

from agent.telemetry.counts import Batch
from agent.telemetry.outbox import OUTBOX_FILE, Outbox
from agent.telemetry.reporter import to_proto
from agent.verdict import Level, Outcome, Resolution, Stage, Trigger, Verdict
from collector.validate import BatchValidator

NOW = 1_790_000_000.0
DAY = 86_400.0
V = (0, 1, 0)


def _resolution(tool: str, at: float, trigger: Trigger, rng: random.Random) -> Resolution:
    verdict = Verdict(
        verdict_id="local-only",
        at=at,
        level=Level.WARN,
        tool_id=tool,
        tool_name=tool,
        trigger=trigger,
        stage=rng.choice(list(Stage)),
        minutes_from_trigger=1.0,
        evidence=(),
    )
    return Resolution(verdict=verdict, outcome=rng.choice(list(Outcome)), at=at)


def _drain(box: Outbox, validator: BatchValidator) -> list[Batch]:
    sent = []
    while True:
        batch = box.take_batch(agent_version=V, catalogue_version=1, region="NL")
        validated = validator.validate(to_proto(batch))  # raises if the collector would refuse
        assert len(validated.rows) == len(batch.rows)
        box.acknowledge(batch.batch_id)
        sent.append(batch)
        stats = box.stats()
        if not batch.rows or (not stats.pending_rows and not stats.dropped_unreported):
            return sent


def test_a_month_offline_with_every_key_counted_is_accepted(tmp_path: Path) -> None:
    rng = random.Random(13)
    clock = [NOW]
    box = Outbox(tmp_path / OUTBOX_FILE, clock=lambda: clock[0])
    # Every day of the agent's window, far more distinct keys than a day may hold,
    # some repeated (merged), a few too old (dropped and counted).
    tools = [f"tool-{i:02d}" for i in range(40)]
    for day in range((limits.MAX_AGE_DAYS - 2) + 3):
        for _ in range(120):
            at = NOW - day * DAY + rng.uniform(0, DAY - 1)
            box.admit(_resolution(rng.choice(tools), min(at, NOW), rng.choice(list(Trigger)), rng))
    validator = BatchValidator(clock=lambda: clock[0])
    sent = _drain(box, validator)
    rows = [r for b in sent for r in b.rows]
    assert (
        sum(r.count for r in rows if r.tool_id != limits.DROPPED_TOOL_ID)
        == ((limits.MAX_AGE_DAYS - 2) + 1) * limits.ROWS_PER_DAY
    )  # every day full
    assert max(len(b.rows) for b in sent) <= limits.MAX_BATCH_ROWS
    box.close()


def test_a_full_outbox_and_a_huge_loss_are_accepted(tmp_path: Path) -> None:
    rng = random.Random(7)
    clock = [NOW]
    box = Outbox(tmp_path / OUTBOX_FILE, clock=lambda: clock[0], max_rows=50)
    for i in range(5000):  # fills and overflows: most of it becomes the dropped tally
        day = i % ((limits.MAX_AGE_DAYS - 2) + 1)
        box.admit(_resolution(f"t{i % 997}", NOW - day * DAY, rng.choice(list(Trigger)), rng))
    lost = box.stats().dropped_unreported
    assert lost > limits.MAX_ROW_COUNT  # more than one dropped row may carry
    sent = _drain(box, BatchValidator(clock=lambda: clock[0]))
    reported = sum(r.count for b in sent for r in b.rows if r.tool_id == limits.DROPPED_TOOL_ID)
    assert reported == lost  # over several batches, nothing of the loss forgotten
    box.close()


def test_the_splits_after_a_refusal_are_accepted(tmp_path: Path) -> None:
    rng = random.Random(3)
    box = Outbox(tmp_path / OUTBOX_FILE, clock=lambda: NOW)
    for i in range(limits.ROWS_PER_DAY):
        box.admit(_resolution(f"t{i}", NOW, Trigger.UNKNOWN_CALL, rng))
    validator = BatchValidator(clock=lambda: NOW)
    first = box.take_batch(agent_version=V, catalogue_version=1, region="")
    box.reject(first.batch_id)  # say the collector had refused it: the outbox splits it
    for _ in range(2):
        half = box.take_batch(agent_version=V, catalogue_version=1, region="")
        validator.validate(to_proto(half))
        box.acknowledge(half.batch_id)
    box.close()
