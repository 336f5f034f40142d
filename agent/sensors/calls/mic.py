"""Is the microphone capturing right now, and (where the OS says) for which app?

One small interface, ``MicProbe.state() -> MicState``, with one module per OS
picked from ``MIC_PROBES`` and imported only on its OS:
- Linux: ALSA's ``/proc/asound/card*/pcm*c/sub*/status`` (``state: RUNNING``
  on a capture substream), ``agent.sensors.calls.mic_linux``;
- Windows: the privacy "consent store" in the registry, where Windows marks
  each app using the microphone (``LastUsedTimeStop`` = 0 while in use),
  ``agent.sensors.calls.mic_windows``;
- macOS: not supported yet (see ``UnsupportedProbe``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class MicState:
    """What the OS tells about microphone use."""

    # True / False; None = this OS gives us no way to tell.
    capturing: bool | None
    # Apps the OS names as using the microphone now (Windows: exe file names or
    # package names, lower case); empty when the OS does not say.
    apps: tuple[str, ...] = ()


class MicProbe(Protocol):
    """Reads the microphone state; cheap enough to call every few seconds."""

    def state(self) -> MicState:
        """The state now."""


class UnsupportedProbe:
    """For an OS where ratwatch cannot yet see microphone use.

    macOS would need CoreAudio's ``kAudioDevicePropertyDeviceIsRunningSomewhere``
    on the default input device (through PyObjC) — the same fact the orange
    microphone dot shows. Until that is built the calls sensor stays idle
    there and says so once; the companion-app intake still works.
    """

    def __init__(self, reason: str = "not supported on this OS") -> None:
        self.reason = reason

    def state(self) -> MicState:
        """Always "cannot tell"."""
        return MicState(capturing=None)


def _linux() -> MicProbe:
    from agent.sensors.calls.mic_linux import AsoundProbe

    return AsoundProbe()


def _windows() -> MicProbe:
    from agent.sensors.calls.mic_windows import ConsentStoreProbe

    return ConsentStoreProbe()


# OS name -> lazy factory of its MicProbe (the OS module is imported only on its OS).
MIC_PROBES: dict[str, Callable[[], MicProbe]] = {
    "linux": _linux,
    "windows": _windows,
    "macos": UnsupportedProbe,
}


def probe_for(os_name: str) -> MicProbe:
    """The microphone probe of ``os_name`` (an UnsupportedProbe for an unknown OS)."""
    factory = MIC_PROBES.get(os_name)
    return UnsupportedProbe() if factory is None else factory()
