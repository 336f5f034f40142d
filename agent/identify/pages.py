"""Match a browser page (title + URL) against the catalogue's page patterns.

A page is one of: a scareware pop-up ("Your computer is blocked, call ..."),
online banking, a payment page, or a gift-card / phone-credit shop. The
patterns are data in ``signatures/scam_context.yaml`` (``pages:``); this
module only knows how to apply them.

Precedence is by kind, not by file order: a page on a bank's, payment
provider's or shop's own host is that, even if its title happens to contain
a scary word; scareware is tried last. Within a kind the file order decides,
so the most specific pattern should come first.

A host entry ``"ing.nl"`` matches exactly that host; ``"*.ing.nl"`` matches
``ing.nl`` itself and every subdomain. Title phrases are case-insensitive
substrings after Unicode normalisation (NFKC, case-folded, whitespace
collapsed), so ``"Windows  Defender"`` and ``"WINDOWS DEFENDER"`` are the same;
a space at a phrase's start or end is kept and means a word boundary there
(``" my "`` matches "find my" and "on my PC", not "economy").
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from agent.catalogue.model import Catalogue, PagePattern
from agent.identify.hosts import host_matches

# Kinds in the order they are tried (see the module docstring).
KIND_ORDER: tuple[str, ...] = ("banking", "payment", "gift_card", "scareware")
KINDS: frozenset[str] = frozenset(KIND_ORDER)

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class _Page:
    title: str  # normalised
    url: str
    host: str  # lower case, no trailing dot; "" when the URL has none


def normalise_title(title: str) -> str:
    """Fold a title for phrase matching: NFKC, case-folded, single spaces."""
    folded = unicodedata.normalize("NFKC", title).casefold()
    return _SPACE.sub(" ", folded).strip()


def url_host(url: str) -> str:
    """The lower-case host of ``url`` ("" for none or an unparsable URL)."""
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return ""
    return (host or "").rstrip(".").lower()


@functools.lru_cache(maxsize=4096)
def _regex(pattern: str) -> re.Pattern[str]:
    # The loader has already rejected invalid expressions; the cache keeps the
    # per-visit cost to a dictionary lookup.
    return re.compile(pattern, re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def _phrase(phrase: str) -> str:
    # A space at either end of a phrase is kept: it means a word boundary there
    # (" my " is not in "economy", "hoe " not in "shoe"); the title is searched
    # with a space added at both ends, so such a phrase still matches at its edges.
    core = normalise_title(phrase)
    if not core:
        return ""
    lead = " " if phrase[:1].isspace() else ""
    trail = " " if phrase[-1:].isspace() else ""
    return f"{lead}{core}{trail}"


def _has_phrase(phrases: tuple[str, ...], title: str) -> bool:
    padded = f" {title} "
    return any((ph := _phrase(p)) and ph in padded for p in phrases)


def _excluded(pattern: PagePattern, page: _Page) -> bool:
    if host_matches(page.host, pattern.exclude_hosts):
        return True
    return _has_phrase(pattern.exclude_phrases, page.title)


def _matches(pattern: PagePattern, page: _Page) -> bool:
    hit = (
        host_matches(page.host, pattern.hosts)
        or any(_regex(r).search(page.url) for r in pattern.url_regexes)
        or (bool(page.title) and _has_phrase(pattern.title_phrases, page.title))
        or (bool(page.title) and any(_regex(r).search(page.title) for r in pattern.title_regexes))
    )
    return hit and not _excluded(pattern, page)


def match_page(catalogue: Catalogue, *, title: str, url: str) -> PagePattern | None:
    """The first page pattern this page matches, by kind precedence; None if none does."""
    page = _Page(title=normalise_title(title), url=url.strip(), host=url_host(url))
    if not page.title and not page.url:
        return None
    for kind in KIND_ORDER:
        for pattern in catalogue.pages:
            if pattern.kind == kind and _matches(pattern, page):
                return pattern
    return None
