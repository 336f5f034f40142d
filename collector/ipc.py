"""The frames between a collector's front-end processes and its writer process.

With ``workers`` > 1 the collector runs several front ends (gRPC, auth,
validation) and one writer (the store). Each front end holds one duplex
pipe to the writer; on it travel validated groups of batches one way and
their results the other. Both ends run the same Python from the same
install, so ``marshal`` is the codec: the fastest one the standard library
has for tuples of ints, strings and bytes, and it cannot build arbitrary
objects the way pickle can. Nothing here is ever stored on disk.

A request is ``(seq, ((batch_id, region, ((day, tool_id, trigger, stage,
outcome, count), ...), token, peer), ...))``; a reply is ``(seq, error, ((duplicate,
rows_accepted, retry_after), ...))`` with ``error`` None, or ``(seq, error, ())`` when
the writer could not store the group.
"""

from __future__ import annotations

import marshal
from collections.abc import Sequence

from collector.model import Batch, IngestResult, RowTuple


def encode_request(seq: int, batches: Sequence[Batch]) -> bytes:
    """One group as a frame (rows as plain tuples: marshal refuses a TallyRow)."""
    return marshal.dumps(
        (
            seq,
            tuple(
                (b.batch_id, b.region, tuple(map(tuple, b.rows)), b.token, b.peer) for b in batches
            ),
        )
    )


def decode_request(frame: bytes) -> tuple[int, list[Batch]]:
    """The group a front end sent; rows stay plain tuples, which is all a store reads."""
    seq, items = marshal.loads(frame)  # noqa: S302 - our own frames, from our own children
    rows: tuple[RowTuple, ...]
    batches = []
    for batch_id, region, rows, token, peer in items:
        batches.append(Batch(batch_id, region, rows, token, peer))
    return seq, batches


def encode_reply(seq: int, results: Sequence[IngestResult] | None, error: str | None) -> bytes:
    """The writer's answer for one group."""
    out = (
        ()
        if results is None
        else tuple((r.duplicate, r.rows_accepted, r.retry_after) for r in results)
    )
    return marshal.dumps((seq, error, out))


def decode_reply(frame: bytes) -> tuple[int, str | None, list[IngestResult]]:
    """``(seq, error, results)``."""
    seq, error, out = marshal.loads(frame)  # noqa: S302 - from our own parent process
    return seq, error, [IngestResult(bool(d), n, w) for d, n, w in out]
