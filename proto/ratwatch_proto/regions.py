"""Valid values of ``CountBatch.region``: part of the wire contract, shared by both ends.

The agent checks its deployer's setting against this at start-up and the
collector refuses anything else, so a typo is caught on the PC instead of
every upload being refused.
"""

from __future__ import annotations

from functools import lru_cache

# CLDR territories that are not ISO 3166-1 country codes: groupings (EU, EZ,
# UN, QO), ZZ "unknown region", the pseudo-locales XA and XB, and the codes
# ISO only "exceptionally reserves" for other organisations (Ascension, Canary
# Islands, Ceuta and Melilla, Diego Garcia, Tristan da Cunha, Clipperton,
# Sark); a deployer there uses the country's own code (SH, ES, IO, FR, GG).
_NOT_COUNTRIES = frozenset(
    {"EU", "EZ", "UN", "QO", "ZZ", "XA", "XB", "AC", "IC", "EA", "DG", "TA", "CP", "CQ"}
)


@lru_cache(maxsize=1)
def region_codes() -> frozenset[str]:
    """Two-letter ISO 3166-1 region codes (from Babel's CLDR territory list).

    XK (Kosovo) stays: deployers use it.
    """
    from babel import Locale

    return (
        frozenset(
            str(code)
            for code in Locale("en").territories
            if len(str(code)) == 2 and str(code).isalpha()
        )
        - _NOT_COUNTRIES
    )
