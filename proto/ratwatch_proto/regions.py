"""Valid values of ``CountBatch.region``: part of the wire contract, shared by both ends.

The agent checks its deployer's setting against this at start-up and the
collector refuses anything else, so a typo is caught on the PC instead of
every upload being refused.
"""

from __future__ import annotations

from functools import lru_cache

# CLDR groupings that are not countries, and ZZ "unknown region".
_NOT_COUNTRIES = frozenset({"EU", "EZ", "UN", "QO", "ZZ"})


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
