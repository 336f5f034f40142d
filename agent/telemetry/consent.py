"""Whether anonymised counts may be kept and sent: the deployer's config and the person's veto.

The deployer turns telemetry on or off in ``[telemetry]``; the person at the PC
can always turn it off with ``ratwatch-agent telemetry off``, which writes a
flag file into the state dir. The flag wins over ``enabled = true`` and is
checked on every admission and before every upload, so it takes effect in a
running agent at once, without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent.config import AgentConfig

# Presence of this file in the state dir means "the person said no".
OPT_OUT_FILE = "telemetry-off"


@dataclass(frozen=True)
class Consent:
    """The effective telemetry decision and the reason for it, in plain words."""

    enabled: bool
    reason: str


def opt_out_path(state_dir: Path) -> Path:
    """The flag file that records the person's "no"."""
    return state_dir / OPT_OUT_FILE


def person_opted_out(state_dir: Path) -> bool:
    """True when the person turned telemetry off on this PC."""
    return opt_out_path(state_dir).exists()


def decide(config: AgentConfig) -> Consent:
    """Combine the deployer's config with the person's choice."""
    if not config.telemetry.enabled:
        return Consent(False, "turned off by the deployer ([telemetry].enabled = false)")
    if not config.telemetry.collector:
        return Consent(False, "no collector configured ([telemetry].collector is empty)")
    if person_opted_out(config.state_dir):
        return Consent(False, "turned off on this PC (ratwatch-agent telemetry off)")
    return Consent(True, f"counts are sent to {config.telemetry.collector}")


def set_opt_out(state_dir: Path, off: bool) -> None:
    """Record (``off=True``) or withdraw the person's "no"."""
    flag = opt_out_path(state_dir)
    if off:
        state_dir.mkdir(parents=True, exist_ok=True)
        flag.write_text(
            "Telemetry was turned off on this PC with `ratwatch-agent telemetry off`.\n"
            "Delete this file or run `ratwatch-agent telemetry on` to allow anonymised counts.\n",
            encoding="utf-8",
        )
    else:
        flag.unlink(missing_ok=True)
