"""The dashboard's and report's texts in English and Dutch, from gettext catalogues.

Texts live in ``collector/dashboard/locales/<lang>/LC_MESSAGES/dashboard.po``
with symbolic ids ("tools-title"), compiled in memory with Babel on first use,
as the agent's warning does; Dutch falls back to English for an id it lacks.
"""

from __future__ import annotations

import functools
import gettext
import io
from importlib import resources

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DOMAIN = "dashboard"
LANGUAGES = ("en", "nl")
DEFAULT = "en"


@functools.cache
def translations(lang: str) -> gettext.GNUTranslations:
    """The compiled catalogue of ``lang`` (English as fallback)."""
    lang = lang if lang in LANGUAGES else DEFAULT
    ref = resources.files("collector.dashboard") / "locales" / lang / "LC_MESSAGES"
    text = (ref / f"{DOMAIN}.po").read_text(encoding="utf-8")
    buf = io.BytesIO()
    write_mo(buf, read_po(io.StringIO(text), locale=lang, domain=DOMAIN))
    buf.seek(0)
    trans = gettext.GNUTranslations(buf)
    if lang != DEFAULT:
        trans.add_fallback(translations(DEFAULT))
    return trans


class Texts:
    """Formatted texts of one language: ``t("tools-summary", tool="TeamViewer", ...)``."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT
        self._trans = translations(self.lang)

    def __call__(self, msgid: str, **params: object) -> str:
        text = self._trans.gettext(msgid)
        return text.format(**params) if params else text

    def has(self, msgid: str) -> bool:
        """True when the catalogue (or English) defines ``msgid``."""
        return self._trans.gettext(msgid) != msgid


def best_language(accept_language: str) -> str:
    """The first supported language in an Accept-Language header, else English."""
    for part in accept_language.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT
