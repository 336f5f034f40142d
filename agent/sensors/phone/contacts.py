"""Whether a phone ever tells contacts from strangers, remembered per phone.

KDE Connect's Android app sends a contact name only if it may read the
contacts; without that permission every caller (the person's daughter too)
arrives as a bare number, i.e. "not in the contacts". A phone that has sent
``threshold`` nameless calls in a row and never a name is taken to lack the
permission: its callers become UNVERIFIED (we cannot tell) rather than
UNKNOWN, and the log says so once. One named call clears it for good.

The file holds counts under a hash of the device id: no number, no name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path

from agent.events import CallerKind
from agent.sensors.phone.source import Contacts

log = logging.getLogger(__name__)

FILE_NAME = "phone-contacts.json"


def device_key(device_id: str) -> str:
    """A local key for a phone: stable, but not its id."""
    return hashlib.sha256(b"ratwatch-phone:" + device_id.encode()).hexdigest()[:12]


class ContactsTracker:
    """Counts nameless calls per phone; see the module docstring."""

    def __init__(self, state_dir: Path, threshold: int) -> None:
        self._path = state_dir / FILE_NAME
        self._threshold = threshold
        self._lock = threading.Lock()
        self._phones: dict[str, dict[str, int | bool]] = self._load()

    def _load(self) -> dict[str, dict[str, int | bool]]:
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        phones: dict[str, dict[str, int | bool]] = {}
        for key, value in data.items():
            if isinstance(key, str) and isinstance(value, dict):
                nameless = value.get("nameless", 0)
                phones[key] = {
                    "named": value.get("named") is True,
                    "nameless": nameless if isinstance(nameless, int) else 0,
                    "said": value.get("said") is True,
                }
        return phones

    def _save(self) -> None:
        tmp = self._path.with_name(self._path.name + ".tmp")
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self._phones), encoding="utf-8")
            os.replace(tmp, self._path)
        except OSError as exc:
            log.warning("could not save %s: %s", FILE_NAME, type(exc).__name__)

    def judge(self, device: str, caller: CallerKind, *, has_number: bool) -> CallerKind:
        """The caller kind to report for a call from ``device`` that ``classify`` judged."""
        with self._lock:
            phone = self._phones.setdefault(device, {"named": False, "nameless": 0, "said": False})
            if caller is CallerKind.KNOWN:
                phone["named"] = True
                self._save()
                return caller
            if phone["named"] or not has_number:
                # A withheld number cannot be in the contacts: it says nothing
                # about the permission, and it stays UNKNOWN.
                return caller
            phone["nameless"] = int(phone["nameless"]) + 1
            if int(phone["nameless"]) < self._threshold:
                self._save()
                return caller
            if not phone["said"]:
                phone["said"] = True
                log.warning(
                    "phone %s has never sent a contact name in %d calls: its app probably "
                    "may not read the contacts, so its callers count as unverified "
                    "(allow Contacts for KDE Connect on the phone to fix this)",
                    device,
                    phone["nameless"],
                )
            self._save()
            return CallerKind.UNVERIFIED

    def state(self, device: str) -> Contacts:
        """What is known of ``device``'s contacts permission."""
        with self._lock:
            phone = self._phones.get(device)
        if phone is None:
            return Contacts.UNKNOWN
        if phone["named"]:
            return Contacts.READABLE
        if int(phone["nameless"]) >= self._threshold:
            return Contacts.NOT_READABLE
        return Contacts.UNKNOWN
