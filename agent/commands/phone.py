"""``ratwatch-agent phone status``: what the agent can hear of the person's phone.

For the person and their helper: which phone programs this PC has, which
phone is paired, whether the phone lets its app read the contacts (without
that every caller counts as unverified), and the last call the agent saw.
Never a number: the agent does not keep one.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from agent.commands.statedir import load, options

_TITLES = {
    "kdeconnect": "KDE Connect",
    "phonelink": "Phone Link",
    "callhistory": "Mac call history",
}
_CALLERS = {
    "unknown": "a number that is not in your contacts",
    "known": "one of your contacts",
    "unverified": "a caller the phone could not check against your contacts",
}
_CONTACTS = {
    "readable": "yes, the phone tells contacts from strangers",
    "not_readable": (
        "no: the phone never sent a contact name, so every caller counts as unverified. "
        "On the phone, allow Contacts for the KDE Connect app"
    ),
    "unknown": "not known yet (the agent has seen too few calls)",
}


@click.group()
def phone() -> None:
    """The person's phone, as KDE Connect, Phone Link or the Mac's call history bring it."""


@phone.command()
@options
def status(config_path: Path | None, state_dir: Path | None) -> None:
    """Which phone sources this PC has, the paired phone, contacts, and the last call seen."""
    from agent.catalogue.loader import load_catalogue
    from agent.sensors.base import SensorContext
    from agent.sensors.phone.contacts import ContactsTracker
    from agent.sensors.phone.sensor import SOURCES, default_sources, read_status

    config = load(config_path, state_dir)
    catalogue = load_catalogue()
    ctx = SensorContext(config, lambda: catalogue, time.time, config.state_dir)
    tracker = ContactsTracker(config.state_dir, config.phone.no_contacts_after_calls)
    if "phone" not in config.sensors.enabled:
        click.echo("The phone sensor is switched off ([sensors].enabled has no \"phone\").")
    click.echo("Phone sources on this PC:")
    for name in config.phone.sources or default_sources():
        found = SOURCES[name](ctx, tracker).status()
        mark = "yes" if found.available else "no "
        click.echo(f"  [{mark}] {_TITLES[name]}: {found.detail}")
        if found.phones:
            click.echo(f"        paired: {', '.join(found.phones)}")
        if found.available and name != "callhistory":
            click.echo(f"        contacts readable: {_CONTACTS[found.contacts.value]}")
    last = read_status(config.state_dir).get("last_call")
    if not isinstance(last, dict) or not isinstance(last.get("at"), (int, float)):
        click.echo("Last call seen: none yet.")
        return
    minutes = max(0, round((time.time() - float(last["at"])) / 60))
    who = _CALLERS.get(str(last.get("caller")), "a caller")
    source = _TITLES.get(str(last.get("source")), str(last.get("source")))
    ago = "just now" if minutes < 1 else f"{minutes} minute{'s' if minutes != 1 else ''} ago"
    click.echo(f"Last call seen: from {who}, {ago} ({source}).")
