"""The one guarded sensor loop: backoff, log lines by exception type, a dead thread reported."""

from __future__ import annotations

import logging
import threading

import pytest

from agent.sensors.base import SensorThread, backoff_seconds


def test_backoff_doubles_per_failure_up_to_the_cap() -> None:
    assert [backoff_seconds(1.0, n) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert backoff_seconds(1.0, 50) == 30.0
    assert backoff_seconds(60.0, 3) == 60.0  # a long period is never shortened


def test_an_exception_costs_one_line_and_a_backoff_never_the_thread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = threading.Event()
    waits: list[float] = []
    runs = 0

    def body() -> None:
        nonlocal runs
        runs += 1
        if runs <= 3:
            raise ValueError("/home/anna/private.txt is odd")
        stop.set()

    def wait(seconds: float) -> None:
        waits.append(seconds)

    caplog.set_level(logging.DEBUG, logger="agent.sensors.base")
    thread = SensorThread(
        "demo", "demo step", body, stopped=stop.is_set, wait=wait, period=0.5
    )
    assert thread.name == "ratwatch-sensor-demo"
    thread.start()
    thread.join(5)
    assert not thread.is_alive() and thread.failure is None
    assert runs == 4 and waits == [1.0, 2.0, 4.0]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        f"demo step failed (ValueError, {n} in a row); retrying in {w:.1f} s"
        for n, w in ((1, 1.0), (2, 2.0), (3, 4.0))
    ]


def test_a_thread_that_dies_is_reported_as_failed(caplog: pytest.LogCaptureFixture) -> None:
    reported: list[tuple[str, str]] = []

    def body() -> None:
        raise SystemExit(3)  # not an Exception: the guard cannot keep the loop going

    thread = SensorThread(
        "demo",
        "demo step",
        body,
        stopped=lambda: False,
        wait=lambda s: None,
        period=1.0,
        failed=lambda name, kind: reported.append((name, kind)),
    )
    thread.start()
    thread.join(5)
    assert not thread.is_alive()
    assert thread.failure == "SystemExit"
    assert reported == [("demo", "SystemExit")]
    assert "sensor demo failed: its thread ended (SystemExit)" in caplog.text
