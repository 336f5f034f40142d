"""Microphone use on Linux from ALSA's procfs: a capture substream in state RUNNING.

Every ALSA capture stream shows up as ``/proc/asound/cardN/pcmMc/subK/status``
(``c`` = capture, ``p`` = playback). The file says ``closed`` when nobody has
it open and starts with ``state: RUNNING`` while audio is being captured.
PulseAudio and PipeWire sit on top of ALSA, so a softphone recording through
them still shows the hardware stream RUNNING (owned by the sound server, so
``owner_pid`` does not name the app; the calls sensor checks the processes).
Reading a few tiny procfs files costs microseconds; no library is needed.
"""

from __future__ import annotations

from pathlib import Path

from agent.sensors.calls.mic import MicState

ASOUND = Path("/proc/asound")


def capture_running(status_text: str) -> bool:
    """Whether one substream ``status`` file says the stream is running."""
    for line in status_text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "state":
            # DRAINING still delivers captured audio; PREPARED/SETUP/XRUN do not.
            return value.strip() in ("RUNNING", "DRAINING")
    return False


class AsoundProbe:
    """Reads capture substream states under ``root`` (``/proc/asound``; a fixture in tests)."""

    def __init__(self, root: Path = ASOUND) -> None:
        self._root = root

    def state(self) -> MicState:
        """Capturing when any capture substream of any card is running."""
        for status in sorted(self._root.glob("card*/pcm*c/sub*/status")):
            try:
                text = status.read_text(encoding="ascii", errors="replace")
            except OSError:
                continue  # the card went away (USB headset unplugged)
            if capture_running(text):
                return MicState(capturing=True)
        return MicState(capturing=False)
