"""PE version resources and Authenticode signers, on real PE files (tests/data/pe/build.sh)."""

from __future__ import annotations

import os
import shutil
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.events import PeInfo
from agent.identify import pe as pe_module
from agent.identify.pe import PeCache, read_pe_info

PE_DIR = Path(__file__).resolve().parents[2] / "data" / "pe"
RENAMED = PE_DIR / "renamed_tool.exe"
SIGNED = PE_DIR / "signed_vendor.exe"
FAKE_SIGNED = PE_DIR / "fake_signed_anydesk.exe"
PLAIN = PE_DIR / "plain.exe"


def test_version_resource_of_a_renamed_anydesk() -> None:
    info = read_pe_info(str(RENAMED))
    assert info == PeInfo(
        original_filename="AnyDesk.exe",
        product_name="AnyDesk",
        company_name="AnyDesk Software GmbH",
        file_description="AnyDesk",
        signer=None,
        signer_verified=False,
    )


def test_signer_of_a_self_signed_file_is_named_but_not_verified() -> None:
    info = read_pe_info(str(SIGNED))
    assert info is not None
    assert info.signer == "TeamViewer Germany GmbH"
    assert info.signer_verified is False  # the throwaway root is trusted by nobody
    assert info.original_filename is None and info.product_name is None


def test_forged_vendor_signature_on_a_renamed_tool() -> None:
    info = read_pe_info(str(FAKE_SIGNED))
    assert info is not None
    assert (info.original_filename, info.signer, info.signer_verified) == (
        "AnyDesk.exe",
        "AnyDesk Software GmbH",
        False,
    )


def test_plain_pe_has_no_fields() -> None:
    assert read_pe_info(str(PLAIN)) == PeInfo()


def test_tampered_signed_file_still_names_the_signer_unverified(tmp_path: Path) -> None:
    data = bytearray(SIGNED.read_bytes())
    data[0x200] ^= 0xFF  # inside the first section: the file digest no longer matches
    path = tmp_path / "tampered.exe"
    path.write_bytes(bytes(data))
    info = read_pe_info(str(path))
    assert info is not None
    assert info.signer == "TeamViewer Germany GmbH"
    assert info.signer_verified is False


def test_signer_without_signify_reads_the_pkcs7_structure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Where signify's crypto backend cannot load (oscrypto and OpenSSL >= 3.0.10),
    # the name still comes from the signature; it is never reported as verified.
    monkeypatch.setattr(pe_module, "_load_signify", lambda: None)
    info = read_pe_info(str(FAKE_SIGNED))
    assert info is not None
    assert (info.signer, info.signer_verified) == ("AnyDesk Software GmbH", False)


@pytest.fixture
def signify_loaded(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """signify importable here, with a stub for oscrypto's native backend if it cannot load.

    Seam: oscrypto cannot load this machine's OpenSSL (wbond/oscrypto#75), so its
    two native modules are replaced by stubs whose every call fails; signify's
    parsing, the API agent.identify.pe uses and the verification-failure path stay real.
    Where oscrypto loads (Windows, macOS, older OpenSSL) nothing is replaced.
    """
    monkeypatch.setattr(pe_module, "_signify", None)
    monkeypatch.setattr(pe_module, "_signify_checked", False)
    if pe_module._load_signify() is not None:
        yield
        return
    monkeypatch.setattr(pe_module, "_signify_checked", False)
    import oscrypto

    def unavailable(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError("oscrypto's native backend is stubbed in this test")

    before = set(sys.modules)
    for name in ("asymmetric", "trust_list"):
        stub = types.ModuleType(f"oscrypto.{name}")
        stub.__getattr__ = lambda _attr: unavailable  # type: ignore[method-assign]
        monkeypatch.setitem(sys.modules, f"oscrypto.{name}", stub)
        monkeypatch.setattr(oscrypto, name, stub, raising=False)
    yield
    for name in set(sys.modules) - before:  # forget the stub-bound signify modules
        del sys.modules[name]


def test_signify_names_the_signer_and_rejects_the_untrusted_root(signify_loaded: None) -> None:
    assert pe_module._load_signify() is not None
    info = read_pe_info(str(FAKE_SIGNED))
    assert info is not None
    assert (info.original_filename, info.signer, info.signer_verified) == (
        "AnyDesk.exe",
        "AnyDesk Software GmbH",
        False,
    )
    other = read_pe_info(str(SIGNED))
    assert other is not None and other.signer == "TeamViewer Germany GmbH"
    assert read_pe_info(str(PLAIN)) == PeInfo()


@pytest.mark.parametrize(
    "content",
    [
        b"\x7fELF\x02\x01\x01" + b"\x00" * 100,  # a Linux executable
        b"MZ" + b"\x00" * 10,  # starts like a PE, then nothing
        b"MZ" + os.urandom(4096),  # garbage behind the magic
        b"",
    ],
    ids=["elf", "truncated-header", "garbage", "empty"],
)
def test_not_a_pe_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.exe"
    path.write_bytes(content)
    assert read_pe_info(str(path)) is None


def test_truncated_pe_does_not_raise(tmp_path: Path) -> None:
    data = RENAMED.read_bytes()
    for cut in (64, 200, 600, 1024, len(data) - 100):
        path = tmp_path / f"cut{cut}.exe"
        path.write_bytes(data[:cut])
        info = read_pe_info(str(path))
        assert info is None or isinstance(info, PeInfo)


def test_missing_unreadable_and_directory(tmp_path: Path) -> None:
    assert read_pe_info(str(tmp_path / "gone.exe")) is None
    assert read_pe_info(str(tmp_path)) is None


def test_real_elf_binary_is_not_pe() -> None:
    sleep = shutil.which("sleep")
    assert sleep is not None
    assert read_pe_info(sleep) is None


class CountingReader:
    def __init__(self) -> None:
        self.paths: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, path: str) -> PeInfo | None:
        with self.lock:
            self.paths.append(path)
        return read_pe_info(path)


def test_cache_reads_each_file_version_once(tmp_path: Path) -> None:
    path = tmp_path / "tool.exe"
    shutil.copyfile(RENAMED, path)
    reader = CountingReader()
    cache = PeCache(reader=reader)
    first = cache.get(str(path))
    assert first is not None and first.product_name == "AnyDesk"
    assert cache.get(str(path)) is first
    assert reader.paths == [str(path)]
    assert (cache.hits, cache.misses) == (1, 1)

    # Replaced in place by another file (new size and mtime): read again.
    shutil.copyfile(SIGNED, path)
    second = cache.get(str(path))
    assert second is not None and second.signer == "TeamViewer Germany GmbH"
    assert len(reader.paths) == 2

    # Same size, new mtime (e.g. re-downloaded): read again.
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    cache.get(str(path))
    assert len(reader.paths) == 3


def test_cache_caches_negative_answers_and_skips_missing(tmp_path: Path) -> None:
    elf = tmp_path / "elf.exe"
    elf.write_bytes(b"\x7fELF" + b"\x00" * 64)
    reader = CountingReader()
    cache = PeCache(reader=reader)
    assert cache.get(str(elf)) is None
    assert cache.get(str(elf)) is None
    assert reader.paths == [str(elf)]
    assert cache.get(str(tmp_path / "vanished.exe")) is None
    assert reader.paths == [str(elf)]  # nothing to read


def test_cache_is_bounded_least_recently_used(tmp_path: Path) -> None:
    paths = []
    for i in range(3):
        p = tmp_path / f"t{i}.exe"
        shutil.copyfile(PLAIN, p)
        paths.append(str(p))
    reader = CountingReader()
    cache = PeCache(max_entries=2, reader=reader)
    cache.get(paths[0])
    cache.get(paths[1])
    cache.get(paths[0])  # 0 is now the most recent
    cache.get(paths[2])  # evicts 1
    assert len(cache) == 2
    cache.get(paths[0])
    assert reader.paths.count(paths[0]) == 1
    cache.get(paths[1])
    assert reader.paths.count(paths[1]) == 2


def test_cache_rejects_a_zero_bound() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        PeCache(max_entries=0)


def test_cache_from_many_threads(tmp_path: Path) -> None:
    paths = []
    for i in range(8):
        p = tmp_path / f"t{i}.exe"
        shutil.copyfile(RENAMED if i % 2 else SIGNED, p)
        paths.append(str(p))
    cache = PeCache(max_entries=4)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                for p in paths:
                    info = cache.get(p)
                    assert info is not None
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(cache) == 4
