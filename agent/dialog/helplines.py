"""National fraud helplines shown under "Pause and call someone I trust", as data.

``[dialog].helpline_country`` picks a row; ``helpline_name`` / ``helpline_phone``
override it per deployment (a bank may prefer its own fraud line). Only lines
whose number we could confirm are listed; a country without a row shows the
deployer's override or no helpline at all, never a guess.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from agent.config import DialogSection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Helpline:
    """A fraud helpline: its proper name (not translated) and phone number."""

    name: str
    phone: str


HELPLINES: dict[str, Helpline] = {
    "NL": Helpline("Fraudehelpdesk", "088-786 73 72"),
    "GB": Helpline("Action Fraud", "0300 123 2040"),
    "US": Helpline("FTC", "1-877-382-4357"),
}
# Common aliases of the same rows.
ALIASES: dict[str, str] = {"UK": "GB"}


def helpline_for(section: DialogSection) -> Helpline | None:
    """The helpline to show for this deployment, or None."""
    country = section.helpline_country.strip().upper()
    base = HELPLINES.get(ALIASES.get(country, country))
    name = section.helpline_name.strip() or (base.name if base else "")
    phone = section.helpline_phone.strip() or (base.phone if base else "")
    if not name and not phone:
        return None
    return Helpline(name, phone)


def check_helpline(section: DialogSection) -> None:
    """Tell the deployer (once, at start) when the warning will show no helpline."""
    if helpline_for(section) is None:
        log.warning(
            "no fraud helpline known for [dialog].helpline_country = %r; set "
            "[dialog].helpline_name and helpline_phone so the warning can show one",
            section.helpline_country,
        )
