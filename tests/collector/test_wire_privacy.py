"""The wire schema is the privacy promise: no free-form field can be added unnoticed.

Walks the descriptors of CountBatch and every message nested in it. The only
string or bytes fields allowed are the tool slug, the region code and the
random batch id — each checked by the collector against a strict pattern or
length. A new string/bytes field anywhere in an upload fails this test; so
does a new field of any type, so that a reviewer looks at it.
"""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from ratwatch_proto import telemetry_pb2 as pb

ALLOWED_TEXT = {
    "ratwatch.telemetry.v1.CountBatch.batch_id",
    "ratwatch.telemetry.v1.CountBatch.region",
    "ratwatch.telemetry.v1.CountRow.tool_id",
}
# Every field an agent can send today, reviewed against DESIGN.md's privacy list.
REVIEWED = ALLOWED_TEXT | {
    "ratwatch.telemetry.v1.CountBatch.agent_version",
    "ratwatch.telemetry.v1.CountBatch.catalogue_version",
    "ratwatch.telemetry.v1.CountBatch.rows",
    "ratwatch.telemetry.v1.Version.major",
    "ratwatch.telemetry.v1.Version.minor",
    "ratwatch.telemetry.v1.Version.patch",
    "ratwatch.telemetry.v1.CountRow.utc_day",
    "ratwatch.telemetry.v1.CountRow.trigger",
    "ratwatch.telemetry.v1.CountRow.stage",
    "ratwatch.telemetry.v1.CountRow.outcome",
    "ratwatch.telemetry.v1.CountRow.count",
}
TEXT_TYPES = (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES)


def _walk(message: Descriptor, seen: set[str]) -> list[FieldDescriptor]:
    if message.full_name in seen:
        return []
    seen.add(message.full_name)
    fields = list(message.fields)
    for f in message.fields:
        if f.type == FieldDescriptor.TYPE_MESSAGE and f.message_type is not None:
            fields += _walk(f.message_type, seen)
    return fields


def test_upload_has_no_free_text_field() -> None:
    fields = _walk(pb.CountBatch.DESCRIPTOR, set())
    text = {f.full_name for f in fields if f.type in TEXT_TYPES}
    assert text == ALLOWED_TEXT, f"new string/bytes field on the wire: {text - ALLOWED_TEXT}"


def test_every_upload_field_was_reviewed() -> None:
    names = {f.full_name for f in _walk(pb.CountBatch.DESCRIPTOR, set())}
    assert names == REVIEWED, (
        f"unreviewed wire fields {names - REVIEWED}: check them against the privacy promise in "
        "telemetry.proto, then list them here"
    )


def test_no_extensions_or_any_loopholes() -> None:
    for f in _walk(pb.CountBatch.DESCRIPTOR, set()):
        if f.type == FieldDescriptor.TYPE_MESSAGE:
            assert f.message_type is not None, f.full_name
            assert f.message_type.full_name.startswith("ratwatch."), f.full_name
        assert f.type != FieldDescriptor.TYPE_GROUP
    assert not pb.CountBatch.DESCRIPTOR.extension_ranges
