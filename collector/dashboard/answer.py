"""The one adapter from a Stats reply to what the dashboard's pages need.

Everything the pages show of an answer passes through ``from_reply``: the
rows (as the same Report the CLI prints, so the CSV download is the CLI's
CSV byte for byte) and the notes on how the answer was made. The notes are
read from the reply's own fields beyond the four the first wire version
has: when the collector's replies carry release ids, the period, the noise
scale, the threshold or a suppressed figure, they appear on the page
without a change here, named by their wire field (the page translates the
names it knows).
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.descriptor import FieldDescriptor
from ratwatch_proto import telemetry_pb2 as pb

from collector.client import reply_to_report
from collector.model import Query
from collector.names import display_name
from collector.render import as_csv
from collector.report import Report

# The reply fields that are shown as such; every other set field is a note.
_FIRST_VERSION = frozenset({"rows", "total"})


@dataclass(frozen=True)
class Note:
    """One fact about how an answer was made, e.g. ("noise_scale", "2.5")."""

    field: str  # the wire field's name
    value: str


@dataclass(frozen=True)
class Answer:
    """A Stats answer as the pages use it."""

    query: Query
    report: Report
    notes: tuple[Note, ...]

    def csv(self) -> str:
        """The answer as ``ratwatch-collector stats --format csv`` prints it."""
        return as_csv(self.report, display_name)

    def counts(self) -> dict[tuple[str | int, ...], int]:
        """Published counts by key (suppressed cells left out)."""
        return {r.key: r.count for r in self.report.rows if r.count is not None}


def _text(field: FieldDescriptor, value: object) -> str:
    if field.type == FieldDescriptor.TYPE_ENUM:
        enum = field.enum_type
        assert enum is not None
        return enum.values_by_number[int(value)].name.lower()  # type: ignore[call-overload]
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def notes_of(reply: pb.StatsReply) -> tuple[Note, ...]:
    """The reply's fields beyond the first version's, as notes (unset ones left out)."""
    notes: list[Note] = []
    for field in reply.DESCRIPTOR.fields:
        if field.name in _FIRST_VERSION or field.type == FieldDescriptor.TYPE_MESSAGE:
            continue
        value = getattr(reply, field.name)
        if field.is_repeated:
            if value:
                notes.append(Note(field.name, ", ".join(_text(field, v) for v in value)))
        elif value:
            notes.append(Note(field.name, _text(field, value)))
    if reply.releases:
        notes.insert(0, Note("release_ids", ", ".join(r.release_id for r in reply.releases)))
    if not reply.suppressed:
        notes.append(Note("suppressed", "0"))
    return tuple(notes)


def from_reply(query: Query, reply: pb.StatsReply) -> Answer:
    """Map the collector's wire reply to an Answer."""
    return Answer(query, reply_to_report(query, reply), notes_of(reply))
