"""Version-resource fields and Authenticode signer of PE executables, read lazily and cached.

A renamed AnyDesk is still AnyDesk: its version resource still says
``OriginalFileName AnyDesk.exe`` and its signature still names the vendor.
Reading that costs a parse (and, for the signature, a hash of the whole
file), so the process sensor asks only for candidates and ``PeCache`` keeps
the answer per (path, size, mtime).

Parsing is done by maintained libraries: pefile for the version resource,
signify for the signature (signer and chain verification). signify needs
oscrypto, whose OpenSSL detection fails on Linux with OpenSSL >= 3.0.10
(wbond/oscrypto#75, unreleased fix); there the signer's name is still read
from the PKCS#7 structure with asn1crypto (the parser signify itself uses),
and ``signer_verified`` stays False. Windows and macOS use the OS crypto
backends and are not affected.

Decision on unverified signers: ``signer`` is reported whether or not the
signature verifies, with ``signer_verified`` beside it. A self-signed
"AnyDesk Software GmbH" certificate on a renamed binary is a *claim* to be
AnyDesk, exactly as forgeable as the version resource (which we also count);
in a scam context a program pretending to be a remote tool deserves the same
warning, so identification may match on it. What verification adds is
evidence for the journal/dialog ("signed by ..., verified") and a way for the
catalogue logic to weigh the match; an unverified signer must never be
*trusted* (e.g. to whitelist a vendor).
"""

from __future__ import annotations

import logging
import os
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.events import PeInfo

log = logging.getLogger(__name__)

# Hashing a huge file for the signature check would stall the sensor thread;
# remote-tool executables are a few MB, full installers well under this.
VERIFY_MAX_BYTES = 256 * 1024 * 1024

_VERSION_KEYS = {
    "original_filename": "OriginalFilename",
    "product_name": "ProductName",
    "company_name": "CompanyName",
    "file_description": "FileDescription",
}
_WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002


def read_pe_info(path: str) -> PeInfo | None:
    """The version-resource fields and signer of the PE file at ``path``.

    None when the file is not a PE executable or cannot be read (vanished,
    access denied): both are normal when looking at other programs' files.
    """
    try:
        with open(path, "rb") as fh:
            if fh.read(2) != b"MZ":  # cheap reject of ELF, Mach-O, scripts
                return None
            size = os.fstat(fh.fileno()).st_size
    except OSError:
        return None
    import pefile

    try:
        pe = pefile.PE(path, fast_load=True)
    except (pefile.PEFormatError, OSError):
        return None
    try:
        pe.parse_data_directories(
            directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"]]
        )
        fields = _version_fields(pe)
        security = pe.OPTIONAL_HEADER.DATA_DIRECTORY[
            pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_SECURITY"]
        ]
        cert_table = (int(security.VirtualAddress), int(security.Size))
    except (pefile.PEFormatError, AttributeError, IndexError):
        # A truncated or malformed resource tree: keep what is known (nothing).
        fields, cert_table = {}, (0, 0)
    finally:
        pe.close()
    signer, verified = (None, False)
    if cert_table[0] and cert_table[1]:
        signer, verified = _read_signer(path, cert_table, size)
    return PeInfo(**fields, signer=signer, signer_verified=verified)


def _version_fields(pe: Any) -> dict[str, str | None]:
    """The first non-empty value of each field over the version resource's string tables."""
    values: dict[str, str] = {}
    for group in getattr(pe, "FileInfo", None) or ():
        for entry in group:
            if getattr(entry, "Key", b"") != b"StringFileInfo":
                continue
            for table in entry.StringTable:
                for key, raw in table.entries.items():
                    name = key.decode("utf-8", "replace")
                    text = raw.decode("utf-8", "replace").strip("\x00 \t\r\n")
                    if text and name not in values:
                        values[name] = text
    return {field: values.get(key) for field, key in _VERSION_KEYS.items()}


@dataclass(frozen=True)
class _Signify:
    """The two signify names this module uses (imported once, lazily)."""

    signed_pe_file: Any  # signify.authenticode.signed_file.SignedPEFile
    verified_ok: Any  # signify.authenticode.AuthenticodeVerificationResult.OK


_signify_lock = threading.Lock()
_signify: _Signify | None = None
_signify_checked = False


def _load_signify() -> _Signify | None:
    """Import signify once; None (and one log line) where its crypto backend cannot load."""
    global _signify, _signify_checked  # noqa: PLW0603 - one process-wide import attempt
    with _signify_lock:
        if _signify_checked:
            return _signify
        _signify_checked = True
        try:
            from oscrypto.errors import LibraryNotFoundError
        except ImportError:
            log.info("signify/oscrypto not installed: signatures are read but not verified")
            return None
        try:
            from signify.authenticode import AuthenticodeVerificationResult
            from signify.authenticode.signed_file import SignedPEFile
        except (ImportError, LibraryNotFoundError) as exc:
            log.info(
                "Authenticode verification unavailable (%s); signer names are still read",
                exc,
            )
            return None
        _signify = _Signify(SignedPEFile, AuthenticodeVerificationResult.OK)
        return _signify


def _read_signer(path: str, cert_table: tuple[int, int], size: int) -> tuple[str | None, bool]:
    """(signer name, verified) for a PE file with a certificate table."""
    signify = _load_signify()
    if signify is not None:
        return _signer_with_signify(signify, path, size)
    return _signer_from_pkcs7(path, cert_table), False


def _signer_with_signify(signify: _Signify, path: str, size: int) -> tuple[str | None, bool]:
    from signify.exceptions import SignifyError

    try:
        with open(path, "rb") as fh:
            signed = signify.signed_pe_file(fh)
            signatures = list(signed.embedded_signatures)
            if not signatures:
                return None, False
            name = _signer_name(signatures[0])
            if size > VERIFY_MAX_BYTES:
                return name, False
            # The first signature is the one reported, so it is the one that must
            # verify (as Windows' sigcheck does). explain_verify never raises: a
            # broken signature is an answer here, not an error.
            result, _error = signed.explain_verify(multi_verify_mode="first")
            return name, result is signify.verified_ok
    except (OSError, SignifyError, ValueError, KeyError):
        return None, False


def _signer_name(signed_data: Any) -> str | None:
    """Subject CN (else O) of the certificate that made ``signed_data``'s signature."""
    info = signed_data.signer_info
    try:
        cert = signed_data.certificates.find_certificate(
            issuer=info.issuer, serial_number=info.serial_number
        )
    except KeyError:
        return None
    for component in ("CN", "O"):
        for value in cert.subject.get_components(component):
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def _signer_from_pkcs7(path: str, cert_table: tuple[int, int]) -> str | None:
    """Signer subject from the first PKCS#7 WIN_CERTIFICATE, without verifying anything.

    The certificate table's "VirtualAddress" is a file offset (PE spec,
    "The Attribute Certificate Table"); entries are 8-byte aligned.
    """
    from asn1crypto import cms

    offset, length = cert_table
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            table = fh.read(length)
    except OSError:
        return None
    pos = 0
    while pos + 8 <= len(table):
        entry_len, _revision, cert_type = struct.unpack_from("<IHH", table, pos)
        if entry_len < 8:
            return None
        if cert_type == _WIN_CERT_TYPE_PKCS_SIGNED_DATA:
            blob = table[pos + 8 : pos + entry_len]
            try:
                return _pkcs7_signer(cms.ContentInfo.load(blob))
            except (ValueError, TypeError, KeyError):  # asn1crypto's parse errors
                return None
        pos += (entry_len + 7) & ~7
    return None


def _pkcs7_signer(content_info: Any) -> str | None:
    signed_data = content_info["content"]
    for signer_info in signed_data["signer_infos"]:
        sid = signer_info["sid"]
        if sid.name != "issuer_and_serial_number":
            continue
        issuer = sid.chosen["issuer"]
        serial = sid.chosen["serial_number"].native
        for choice in signed_data["certificates"]:
            if choice.name != "certificate":
                continue
            cert = choice.chosen
            if cert.issuer == issuer and cert.serial_number == serial:
                subject = cert.subject.native
                name = str(subject.get("common_name") or subject.get("organization_name") or "")
                return name.strip() or None
    return None


Reader = Callable[[str], "PeInfo | None"]


class PeCache:
    """Bounded, thread-safe cache of ``read_pe_info`` keyed by (path, size, mtime).

    A file replaced in place (same path, new size or mtime) is read again; the
    least recently used entries are dropped beyond ``max_entries``. Negative
    answers (not a PE) are cached too, so a candidate ELF is parsed once.
    """

    def __init__(self, max_entries: int = 512, reader: Reader = read_pe_info) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max = max_entries
        self._reader = reader
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, int, int], PeInfo | None] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, path: str) -> PeInfo | None:
        """PE info of ``path`` from the cache, reading the file on a miss."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = (path, st.st_size, st.st_mtime_ns)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]
            self.misses += 1
        # Read outside the lock: a slow file must not block other lookups. Two
        # threads missing on the same key both read it; the result is the same.
        info = self._reader(path)
        with self._lock:
            self._entries[key] = info
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return info

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
