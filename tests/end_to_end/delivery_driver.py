"""A small agent for the delivery tests: real Outbox + real Reporter, fed a fixed plan of verdicts.

Run as a child process and killed with SIGKILL at random moments. Verdict i
of the plan is a pure function of i, so after a restart the driver resumes
from its (loosely saved) progress; verdicts fed twice after a kill are
harmless because the outbox counts a (day, tool, trigger) at most once.

    python delivery_driver.py STATE_DIR COLLECTOR TOKEN TOTAL RATE BASE_DAY [--drain]

Prints "ready" once the reporter runs; with --drain it feeds the rest of the
plan, waits until everything is acknowledged, prints "drained" and exits.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

from ratwatch_proto.limits import ROWS_PER_DAY

from agent.config import TelemetrySection
from agent.telemetry.outbox import OUTBOX_FILE, Outbox
from agent.telemetry.reporter import Reporter
from agent.verdict import Level, Outcome, Resolution, Stage, Trigger, Verdict

# Six tools under five triggers, but only ROWS_PER_DAY of those 30 keys on
# any one day (what one PC may send, ratwatch_proto.limits), so nothing is
# dropped by design; the days rotate through all 30. Catalogue tools, since
# the collector holds unknown ids from analysts.
TOOLS = ["anydesk", "rustdesk", "screenconnect", "supremo", "teamviewer", "ultraviewer"]
KEYS = [(tool, trigger) for tool in TOOLS for trigger in Trigger]
DAYS_BACK = 30


def plan(i: int, base_day: int) -> Resolution:
    """Verdict ``i``: spread over 30 days, 4 of the 30 keys a day, all stages and outcomes."""
    h = hashlib.sha256(str(i).encode()).digest()
    day_offset = h[0] % DAYS_BACK
    day = base_day - day_offset
    at = day * 86_400 + 3_600 + h[1]
    tool, trigger = KEYS[(day * ROWS_PER_DAY + h[2] % ROWS_PER_DAY) % len(KEYS)]
    verdict = Verdict(
        verdict_id=str(i),
        at=float(at),
        level=Level.WARN,
        tool_id=tool,
        tool_name="x",
        trigger=trigger,
        stage=list(Stage)[h[4] % len(Stage)],
        minutes_from_trigger=1.0,
        evidence=(),
    )
    return Resolution(verdict, list(Outcome)[h[5] % len(Outcome)], float(at))


def main() -> int:
    state, collector, token, total_s, rate_s, base_s = sys.argv[1:7]
    drain = "--drain" in sys.argv
    state_dir = Path(state)
    total, rate = int(total_s), float(rate_s)
    progress_file = state_dir / "progress"
    start = int(progress_file.read_text()) if progress_file.exists() else 0
    box = Outbox(state_dir / OUTBOX_FILE)
    settings = TelemetrySection(
        collector=collector,
        token=token,
        upload_interval_hours=0.25 / 3600,
        jitter_minutes=0.0,
        retry_initial_seconds=0.05,
        max_backoff_minutes=0.5 / 60,
        deadline_seconds=2.0,
    )
    reporter = Reporter(box, settings)
    reporter.start()
    print("ready", flush=True)
    t0 = time.monotonic()
    for i in range(start, total):
        box.admit(plan(i, int(base_s)))
        if i % 20 == 19 or i == total - 1:
            tmp = progress_file.with_suffix(".tmp")
            tmp.write_text(str(i + 1))
            os.replace(tmp, progress_file)  # atomic: a kill leaves the old or the new value
        # Pace the feed so kills land all through the 10,000 verdicts.
        ahead = (i - start + 1) / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
    if drain:
        uploads = reporter.uploads
        while True:
            stats = box.stats()
            if (
                not stats.pending_rows
                and not stats.in_flight_batches
                and reporter.uploads > uploads
            ):
                break
            time.sleep(0.05)
        print("drained", flush=True)
        reporter.stop()
        box.close()
        return 0
    while True:  # keep uploading until killed
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
