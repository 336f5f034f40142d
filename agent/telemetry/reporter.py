"""The reporter: a runtime service that uploads the outbox to the collector on a fixed schedule.

Every slot it sends whatever is pending, or an empty batch when nothing is,
so upload traffic looks the same whether or not anything was detected. A
batch is built (with a fresh random id) and written to the outbox before its
first send, re-sent unchanged until acknowledged, and its rows leave the
outbox in the transaction that records the acknowledgement: a crash at any
moment loses nothing, and the collector's batch-id dedupe means a retry
after a lost acknowledgement is counted once. A collector that is down costs
only waiting: retries back off exponentially (with jitter, capped) while the
bounded outbox keeps the counts.

Protobuf types stop here: the outbox hands plain ``Batch`` values over and
this module converts them at the last moment. Log lines carry status codes
and row counts only, never the collector's free-text details.
"""

from __future__ import annotations

import logging
import random
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
from ratwatch_proto import telemetry_pb2 as pb
from ratwatch_proto import telemetry_pb2_grpc as pb_grpc

from agent import __version__
from agent.config import AgentConfig, TelemetrySection
from agent.errors import TelemetryError
from agent.redact import redact_home
from agent.telemetry import consent
from agent.telemetry.counts import Batch, parse_version
from agent.telemetry.outbox import OUTBOX_FILE, Outbox
from agent.telemetry.schedule import Backoff, UploadSchedule

log = logging.getLogger(__name__)

# gRPC metadata key carrying the deployment token ("Bearer <token>").
TOKEN_METADATA_KEY = "authorization"  # noqa: S105 - a header name, not a secret
RETRY_PUSHBACK_KEY = "grpc-retry-pushback-ms"  # gRFC A6: how long a refused call should wait
# One upload sends at most this many batches (10,000 rows need two; bisecting a refused
# 5,000-row batch down to one bad row takes about 26): the rest waits for the next slot.
MAX_BATCHES_PER_UPLOAD = 64
# The service re-checks consent and the clock at least this often while idle.
MAX_IDLE_WAIT_SECONDS = 30.0
META_PHASE = "schedule_phase"
META_LAST_SLOT = "last_upload_slot"


def _pushback_seconds(trailers: object) -> float:
    """The collector's ``grpc-retry-pushback-ms`` trailer in seconds (0 when absent or bad).

    Capped at a day: a wild value from a broken collector must not stop uploads for good.
    """
    for key, value in trailers or ():  # type: ignore[attr-defined]
        if key == RETRY_PUSHBACK_KEY:
            text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
            return min(86_400.0, int(text) / 1000.0) if text.isdigit() else 0.0
    return 0.0


def to_proto(batch: Batch) -> pb.CountBatch:
    """The wire form of a batch. Field by field; nothing else is ever added."""
    major, minor, patch = batch.agent_version
    return pb.CountBatch(
        batch_id=batch.batch_id,
        agent_version=pb.Version(major=major, minor=minor, patch=patch),
        catalogue_version=batch.catalogue_version,
        region=batch.region,
        rows=[
            pb.CountRow(
                utc_day=row.utc_day,
                tool_id=row.tool_id,
                trigger=pb.Trigger.Value("TRIGGER_" + row.trigger.name),
                stage=pb.Stage.Value("STAGE_" + row.stage.name),
                outcome=pb.Outcome.Value("OUTCOME_" + row.outcome.name),
                count=row.count,
            )
            for row in batch.rows
        ],
    )


def open_channel(settings: TelemetrySection) -> grpc.Channel:
    """A channel to the configured collector: TLS (optionally with a pinned CA) or plaintext."""
    if not settings.collector:
        raise TelemetryError("[telemetry].collector is empty: nowhere to send counts")
    options = [("grpc.max_send_message_length", 1024 * 1024)]
    if not settings.tls:
        host = settings.collector.rpartition(":")[0].strip("[]")
        if host not in ("localhost", "127.0.0.1", "::1"):
            log.warning("telemetry: sending to the collector without TLS ([telemetry].tls = false)")
        return grpc.insecure_channel(settings.collector, options=options)
    roots = None
    if settings.ca_file:
        try:
            roots = Path(settings.ca_file).read_bytes()
        except OSError as exc:
            raise TelemetryError(
                f"[telemetry].ca_file: cannot read {settings.ca_file}: {exc.strerror}"
            ) from exc
    creds = grpc.ssl_channel_credentials(root_certificates=roots)
    return grpc.secure_channel(settings.collector, creds, options=options)


class Reporter:
    """Uploads the outbox on schedule; ``start``/``stop`` make it a runtime service.

    ``step`` does whatever is due and says how long to wait; the service
    thread just loops over it, and tests call it directly with an injected
    clock instead of sleeping.
    """

    name = "reporter"

    def __init__(
        self,
        outbox: Outbox,
        settings: TelemetrySection,
        *,
        consent: Callable[[], bool] = lambda: True,
        catalogue_version: Callable[[], int] = lambda: 0,
        agent_version: str = __version__,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        channel_factory: Callable[[TelemetrySection], grpc.Channel] = open_channel,
    ) -> None:
        self.outbox = outbox
        self.settings = settings
        self._consent = consent
        self._catalogue_version = catalogue_version
        self._agent_version = parse_version(agent_version)
        self._clock = clock
        self._rng = rng or random.SystemRandom()
        self._channel_factory = channel_factory
        self._channel: grpc.Channel | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures = 0
        self._pushback = 0.0  # seconds the collector last asked us to wait (0: none)
        self.uploads = 0  # successful uploads since start (for tests and the demo)
        interval = settings.upload_interval_hours * 3600.0
        if interval <= 0:
            raise TelemetryError("[telemetry].upload_interval_hours must be > 0")
        self.backoff = Backoff(
            max(0.01, settings.retry_initial_seconds), settings.max_backoff_minutes * 60.0
        )
        self.schedule = UploadSchedule(
            interval, self._phase(interval), settings.jitter_minutes * 60
        )
        self._due = self._first_due()

    # --- schedule ---------------------------------------------------------------

    def _phase(self, interval: float) -> float:
        """The remembered random phase; drawn on first start (or when the interval changed)."""
        stored = self.outbox.get_meta(META_PHASE)
        if stored is not None:
            seconds, _, stored_interval = stored.partition("/")
            if stored_interval and float(stored_interval) == interval:
                return float(seconds) / interval
        phase = UploadSchedule.draw_phase(interval, self._rng)
        self.outbox.set_meta(META_PHASE, f"{phase * interval!r}/{interval!r}")
        return phase

    def _first_due(self) -> float:
        now = self._clock()
        last = self.outbox.get_meta(META_LAST_SLOT)
        if last is None:
            return self.schedule.slot_after(now) + self.schedule.jitter(self._rng)
        due = self.schedule.slot_after(float(last))
        if due > now + self.schedule.interval_seconds:
            # The clock went back (or the remembered slot is bogus): do not wait for it.
            return self.schedule.slot_after(now) + self.schedule.jitter(self._rng)
        if due <= now:
            # The PC was off (or the agent stopped) at its slot: upload soon after start.
            return now + self.schedule.jitter(self._rng)
        return due + self.schedule.jitter(self._rng)

    @property
    def due_at(self) -> float:
        """Clock time of the next upload attempt."""
        return self._due

    # --- the work -------------------------------------------------------------------

    def step(self) -> float:
        """Upload if due; return seconds until the next thing to do."""
        now = self._clock()
        if now < self._due:
            return self._due - now
        if not self._consent():
            # Nothing is sent while telemetry is off; look again at the next slot.
            self._due = self.schedule.slot_after(now) + self.schedule.jitter(self._rng)
            return self._due - now
        if self.upload():
            self._failures = 0
            slot = self.schedule.slot_at_or_before(self._clock())
            self.outbox.set_meta(META_LAST_SLOT, repr(slot))
            self._due = self.schedule.slot_after(slot) + self.schedule.jitter(self._rng)
        else:
            self._failures += 1
            # A rate-limited collector says how long to wait (gRPC retry pushback):
            # never sooner than that, so a busy office does not hammer it.
            wait = max(self.backoff.delay(self._failures, self._rng), self._pushback)
            self._due = self._clock() + wait
        return max(0.0, self._due - self._clock())

    def upload(self) -> bool:
        """Send the in-flight batch or a new one (empty when nothing is pending), then the rest.

        True when everything sent was acknowledged; False on a transient
        failure (the batch stays in flight and is re-sent unchanged later).
        """
        region = self.settings.region
        for _ in range(MAX_BATCHES_PER_UPLOAD):
            if self._stop.is_set():
                return False
            batch = self.outbox.take_batch(
                agent_version=self._agent_version,
                catalogue_version=self._catalogue_version(),
                region=region,
            )
            code = self._submit(batch)
            if code is grpc.StatusCode.OK:
                self.outbox.acknowledge(batch.batch_id)
            elif code is grpc.StatusCode.INVALID_ARGUMENT:
                # Deterministic refusal: re-sending it unchanged would fail forever.
                action = self.outbox.reject(batch.batch_id)
                log.warning(
                    "telemetry: the collector refused a batch of %d rows as invalid; %s",
                    len(batch.rows),
                    action,
                )
            else:
                self._log_failure(code)
                # A fresh channel next time: gRPC's own reconnect backoff must not
                # stretch ours (a channel in TRANSIENT_FAILURE fails fast for minutes).
                self._close_channel()
                return False
            stats = self.outbox.stats()
            if not stats.pending_rows and not stats.in_flight_batches:
                break
        self.uploads += 1
        return True

    def _log_failure(self, code: grpc.StatusCode | None) -> None:
        name = code.name if code is not None else "CANCELLED"
        if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            log.error(
                "telemetry: the collector refused the token (%s); check [telemetry].token", name
            )
        else:
            log.info("telemetry: upload failed (%s); will retry with backoff", name)

    def _metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return (
            ((TOKEN_METADATA_KEY, f"Bearer {self.settings.token}"),) if self.settings.token else ()
        )

    def _submit(self, batch: Batch) -> grpc.StatusCode | None:
        """One Submit call; returns its status code (None when cancelled by ``stop``)."""
        self._pushback = 0.0
        if self._channel is None:
            self._channel = self._channel_factory(self.settings)
        stub = pb_grpc.TelemetryStub(self._channel)
        future = stub.Submit.future(
            to_proto(batch), timeout=self.settings.deadline_seconds, metadata=self._metadata()
        )
        done = threading.Event()
        future.add_done_callback(lambda _f: done.set())
        while not done.wait(0.05):
            if self._stop.is_set():
                future.cancel()  # type: ignore[no-untyped-call]  # safe: the batch stays in flight and is re-sent later
                done.wait(1.0)
                return None
        try:
            future.result()
        except grpc.RpcError as exc:
            status = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
            if isinstance(exc, grpc.Call):
                self._pushback = _pushback_seconds(exc.trailing_metadata())
            return status
        except grpc.FutureCancelledError:
            return None
        return grpc.StatusCode.OK

    # --- service ---------------------------------------------------------------------

    def start(self) -> None:
        """Run the schedule in a background thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ratwatch-reporter", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self.step()
            except Exception:  # noqa: BLE001 - the reporter's own runtime loop: see _step_failed
                wait = self._step_failed()
            self._stop.wait(min(wait, MAX_IDLE_WAIT_SECONDS))

    def _step_failed(self) -> float:
        """Log the failure of a step being handled and schedule a retry; returns the wait.

        Nothing may end the upload thread for good: a broken outbox or CA
        file, or a bug met once, would otherwise silently stop every upload
        until the agent restarts while the agent itself looks healthy. So the
        failure is logged at error level (type and message only, the home
        directory redacted: support logs stay path-free; the traceback only
        at debug level) and retried with the same capped backoff as a failed
        upload. Whatever was in flight stays in the outbox and is re-sent
        unchanged.
        """
        exc = sys.exc_info()[1]
        self._close_channel()
        self._failures += 1
        delay = self.backoff.delay(self._failures, self._rng)
        self._due = self._clock() + delay
        detail = redact_home(f"{type(exc).__name__}: {exc}") if exc is not None else "?"
        log.error("telemetry: upload failed (%s); will retry in %.0f s", detail, delay)
        log.debug("traceback of the failure above", exc_info=True)
        return delay

    def stop(self) -> None:
        """Stop the thread (cancelling an upload in progress) and close the channel."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._close_channel()

    def _close_channel(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None


def build_telemetry(
    config: AgentConfig,
    *,
    catalogue_version: Callable[[], int] = lambda: 0,
    clock: Callable[[], float] = time.time,
) -> tuple[Outbox, Reporter] | None:
    """The outbox (resolution sink) and reporter (service) for a config; None when telemetry is off.

    Off by the deployer (or no collector) means no outbox file at all. The
    person's own "off" flag is checked live by both, so ``telemetry off``
    takes effect in a running agent without a restart.
    """
    settings = config.telemetry
    if not settings.enabled or not settings.collector:
        return None
    state_dir = config.state_dir
    outbox = Outbox(
        state_dir / OUTBOX_FILE,
        max_rows=settings.outbox_max_rows,
        max_bytes=settings.outbox_max_bytes,
        clock=clock,
        opted_out=lambda: consent.person_opted_out(state_dir),
    )
    reporter = Reporter(
        outbox,
        settings,
        consent=lambda: consent.decide(config).enabled,
        catalogue_version=catalogue_version,
        clock=clock,
    )
    return outbox, reporter
