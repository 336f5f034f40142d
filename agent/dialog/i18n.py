"""The warning's language: which one, and its texts from the gettext catalogues.

Texts live in ``agent/locales/<lang>/LC_MESSAGES/ratwatch.po`` with symbolic
message ids ("headline-warn"), so no sentence is written in code and a missing
translation is visible at once. The .po files are the single source: they are
compiled in memory with Babel on first use (a few milliseconds), so there is no
.mo file that can fall out of date. Every language falls back to English for
an id it lacks.
"""

from __future__ import annotations

import functools
import gettext
import io
import locale
import os
import sys
from collections.abc import Mapping
from importlib import resources

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DOMAIN = "ratwatch"
LANGUAGES: tuple[str, ...] = ("en", "nl")
DEFAULT_LANGUAGE = "en"
_ENV_KEYS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
# Windows reports locale names like "Dutch_Netherlands"; map the English names.
_WINDOWS_NAMES = {"dutch": "nl", "english": "en", "flemish": "nl"}


def _normalise(name: str | None) -> str | None:
    """A locale name as a supported language: nl_NL.UTF-8, nl-BE, Dutch_Netherlands -> nl."""
    if not name:
        return None
    head = name.split(":")[0].split(".")[0].split("@")[0].replace("-", "_")
    lang = head.split("_")[0].lower()
    lang = _WINDOWS_NAMES.get(lang, lang)
    return lang if lang in LANGUAGES else None


def detect_language(configured: str = "", environ: Mapping[str, str] | None = None) -> str:
    """``[agent].language`` if set, else the OS locale, else English.

    POSIX desktops set LANGUAGE / LC_ALL / LC_MESSAGES / LANG (in that order
    of precedence, as gettext reads them); Windows and macOS programs started
    at login often have none of them, so the OS is asked last.
    """
    if configured:
        return _normalise(configured) or DEFAULT_LANGUAGE
    env = os.environ if environ is None else environ
    for key in _ENV_KEYS:
        value = env.get(key, "")
        if not value:
            continue
        # LANGUAGE may list several ("nl:en"); the first supported one wins.
        for part in value.split(":"):
            found = _normalise(part)
            if found:
                return found
        if key != "LANGUAGE":
            return DEFAULT_LANGUAGE  # set but unsupported (e.g. "de_DE"): English
    if environ is None:
        found = _normalise(_os_ui_language())
        if found:
            return found
    return DEFAULT_LANGUAGE


# Windows primary language ids (LANGID & 0x3FF) of the languages we ship.
_WINDOWS_PRIMARY = {0x13: "nl", 0x09: "en"}


def _os_ui_language() -> str | None:
    """The desktop's display language where no environment variable says it.

    Windows: the user's UI language (GetUserDefaultUILanguage). macOS: the
    first of AppleLanguages (a LaunchAgent gets no LANG). Elsewhere the C
    library's locale, which Python sets from the user's preference at start.
    """
    if sys.platform == "win32":
        import ctypes

        langid = int(ctypes.windll.kernel32.GetUserDefaultUILanguage())
        return _WINDOWS_PRIMARY.get(langid & 0x3FF)
    if sys.platform == "darwin":
        import subprocess

        try:
            out = subprocess.run(
                ["defaults", "read", "-g", "AppleLanguages"],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        # Printed as an old-style plist array: ( "nl-NL", "en-NL" )
        first = out.strip().strip("()").split(",")[0].strip().strip('"')
        if first:
            return first
    try:
        return locale.getlocale(locale.LC_CTYPE)[0]
    except ValueError:
        return None


def catalogue_text(lang: str) -> str:
    """The .po source of ``lang`` as installed with the package."""
    ref = resources.files("agent") / "locales" / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    return ref.read_text(encoding="utf-8")


@functools.cache
def translations(lang: str) -> gettext.GNUTranslations:
    """The compiled catalogue of ``lang`` with English as fallback."""
    if lang not in LANGUAGES:
        lang = DEFAULT_LANGUAGE
    catalog = read_po(io.StringIO(catalogue_text(lang)), locale=lang, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    trans = gettext.GNUTranslations(buf)
    if lang != DEFAULT_LANGUAGE:
        trans.add_fallback(translations(DEFAULT_LANGUAGE))
    return trans


class Texts:
    """Formatted texts of one language: ``texts("paused-note", tool="AnyDesk")``."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
        self._trans = translations(self.lang)

    def __call__(self, msgid: str, **params: object) -> str:
        text = self._trans.gettext(msgid)
        return text.format(**params) if params else text

    def plural(self, msgid: str, n: int, **params: object) -> str:
        """A text whose wording depends on the count ``n`` (also passed as {n})."""
        return self._trans.ngettext(msgid, msgid, n).format(n=n, **params)

    def has(self, msgid: str) -> bool:
        """True when the catalogue (or its English fallback) defines ``msgid``."""
        return self._trans.gettext(msgid) != msgid
