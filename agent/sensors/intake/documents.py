"""Context intake: the versioned JSON documents other programs drop into the agent's inbox.

A companion phone app (knows whether the caller is in the contacts), a
softphone plug-in or a browser extension tells the agent about context by
writing one small JSON file per fact into ``<state_dir>/inbox/``; so does
``ratwatch-agent signal``. The schema (``ratwatch.intake/1``, documented in
docs/intake.md) is strict: unknown keys and bad values are errors that name
the field and what would be valid, never echoing the value (it could be a
phone number), so the sensor's log line stays free of personal data.

Writers must create the file under a name that does not end in ``.json`` and
rename it into place (``write_inbox_file`` does), so the agent never reads a
half-written file.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from agent.errors import IntakeError
from agent.events import (
    CallEnded,
    CallerKind,
    CallStarted,
    Event,
    PageKind,
    ScarewarePage,
    SensitivePage,
)

SCHEMA = "ratwatch.intake/1"
INBOX = "inbox"
REJECTED = "rejected"
MAX_FILE_BYTES = 64 * 1024
# How far in the future ``at`` may be: the phone's clock and the PC's differ a little.
MAX_FUTURE_SKEW_SECONDS = 120.0

KINDS: dict[str, str] = {
    "call-started": "a phone call began; needs caller (unknown | known | unverified)",
    "call-ended": "the phone call ended",
    "scareware": "a page claiming the PC is infected or blocked was shown",
    "banking": "an online-banking page was opened",
    "payment": "a payment page (iDEAL, PayPal, ...) was opened",
    "gift-card": "a gift-card or phone-credit shop was opened",
}
_PAGE_KINDS = {
    "banking": PageKind.BANKING,
    "payment": PageKind.PAYMENT,
    "gift-card": PageKind.GIFT_CARD,
}
_COMMON_KEYS = {"schema", "kind", "at", "source"}
_KEYS: dict[str, set[str]] = {
    "call-started": _COMMON_KEYS | {"caller"},
    "call-ended": _COMMON_KEYS,
    "scareware": _COMMON_KEYS | {"pattern", "title", "url"},
    "banking": _COMMON_KEYS | {"pattern", "title", "url"},
    "payment": _COMMON_KEYS | {"pattern", "title", "url"},
    "gift-card": _COMMON_KEYS | {"pattern", "title", "url"},
}
_TOKEN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_MAX_TEXT = 2048
_FIELD_NAME = re.compile(r"[A-Za-z_-]{1,40}")


def _token(doc: dict[str, Any], key: str, default: str) -> str:
    value = doc.get(key, default)
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise IntakeError(
            f"'{key}' must be a short lower-case identifier (a-z, 0-9, '.', '_', '-', "
            "at most 64 characters)"
        )
    return value


def _text(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key, "")
    if not isinstance(value, str) or len(value) > _MAX_TEXT:
        raise IntakeError(f"'{key}' must be a string of at most {_MAX_TEXT} characters")
    return value


def parse_time(value: str) -> float:
    """An ISO 8601 time with a timezone ("2026-11-21T14:00:00Z") as epoch seconds."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise IntakeError(
            "'at' must be an ISO 8601 time with a timezone, e.g. 2026-11-21T14:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise IntakeError("'at' must include a timezone (Z or +01:00), e.g. 2026-11-21T14:00:00Z")
    return moment.timestamp()


def format_time(ts: float) -> str:
    """Epoch seconds as the schema's UTC form (second precision is enough for context)."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _load(data: bytes) -> dict[str, Any]:
    """The JSON object in ``data`` with a valid schema, kind and key set."""
    if len(data) > MAX_FILE_BYTES:
        raise IntakeError(f"file is larger than {MAX_FILE_BYTES} bytes")
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise IntakeError("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise IntakeError(f"not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(doc, dict):
        raise IntakeError("the document must be a JSON object")
    if doc.get("schema") != SCHEMA:
        raise IntakeError(f"'schema' must be \"{SCHEMA}\"")
    kind = doc.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise IntakeError(f"'kind' must be one of: {', '.join(KINDS)}")
    unknown = sorted(set(doc) - _KEYS[kind])
    if unknown:
        allowed = ", ".join(sorted(_KEYS[kind]))
        # Name the key only if it looks like a field name: a key can be any
        # text (a phone number, even), and this message reaches the log.
        key = repr(unknown[0]) if _FIELD_NAME.fullmatch(unknown[0]) else "(not a field name)"
        raise IntakeError(f"unknown key for kind {kind}: {key}; allowed: {allowed}")
    return doc


def _at(doc: dict[str, Any], now: float) -> float:
    if "at" not in doc:
        return now
    if not isinstance(doc["at"], str):
        raise IntakeError("'at' must be a string like 2026-11-21T14:00:00Z")
    at = parse_time(doc["at"])
    if at > now + MAX_FUTURE_SKEW_SECONDS:
        raise IntakeError(
            f"'at' is more than {MAX_FUTURE_SKEW_SECONDS:g} s in the future (check the clock)"
        )
    return at


def parse(data: bytes, *, now: float) -> Event:
    """Turn one intake document into an event; raises IntakeError naming the field."""
    doc = _load(data)
    kind = doc["kind"]
    at = _at(doc, now)
    source = _token(doc, "source", "intake")
    if kind == "call-started":
        caller = doc.get("caller")
        valid = [c.value for c in CallerKind]
        if not isinstance(caller, str) or caller not in valid:
            raise IntakeError(f"'caller' must be one of: {', '.join(valid)}")
        return CallStarted(at=at, caller=CallerKind(caller), source=source)
    if kind == "call-ended":
        return CallEnded(at=at, source=source)
    pattern = _token(doc, "pattern", "intake")
    title, url = _text(doc, "title"), _text(doc, "url")
    if kind == "scareware":
        return ScarewarePage(at=at, pattern_id=pattern, source=source, title=title, url=url)
    return SensitivePage(
        at=at, pattern_id=pattern, kind=_PAGE_KINDS[kind], source=source, title=title, url=url
    )


def document(kind: str, *, at: float | None = None, **fields: str) -> dict[str, Any]:
    """Build an intake document (what ``signal`` writes); validated by ``parse``."""
    doc: dict[str, Any] = {"schema": SCHEMA, "kind": kind}
    if at is not None:
        doc["at"] = format_time(at)
    doc.update({k: v for k, v in fields.items() if v})
    parse(json.dumps(doc).encode(), now=time.time())
    return doc


def inbox_dir(state_dir: Path) -> Path:
    """Where intake files go."""
    return Path(state_dir) / INBOX


def write_inbox_file(state_dir: Path, doc: dict[str, Any]) -> Path:
    """Write ``doc`` into the inbox atomically (temp file, fsync, rename); returns the path.

    The name starts with the UTC time so files sort in the order they were written.
    """
    inbox = inbox_dir(state_dir)
    inbox.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    final = inbox / f"{stamp}-{uuid.uuid4().hex[:12]}.json"
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=inbox)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(json.dumps(doc, ensure_ascii=False).encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return final
