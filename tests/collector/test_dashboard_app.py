"""The dashboard's web app and the report against a real seeded collector (no browser).

Sign-in, CSRF, where the token may and may not appear, bad filters, and the
report command as a child process.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from collector.dashboard.filters import parse, parse_period
from collector.errors import ValidationError

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _client(dashboard: Any) -> Any:
    return dashboard.app.test_client()


def _csrf(client: Any, path: str = "/signin") -> str:
    m = CSRF.search(client.get(path).get_data(as_text=True))
    assert m, "no CSRF token on the page"
    return m.group(1)


def _sign_in(client: Any, token: str) -> Any:
    return client.post("/signin", data={"token": token, "csrf_token": _csrf(client)})


def test_sign_in_needs_the_csrf_token(dashboard: Any) -> None:
    client = _client(dashboard)
    resp = client.post("/signin", data={"token": dashboard.collector.tokens.analyst})
    assert resp.status_code == 400
    assert client.get("/").status_code == 302  # still signed out


def test_the_token_stays_out_of_cookies_urls_and_logs(
    dashboard: Any, caplog: pytest.LogCaptureFixture
) -> None:
    token = dashboard.collector.tokens.analyst
    caplog.set_level(logging.DEBUG)
    client = _client(dashboard)
    resp = _sign_in(client, token)
    assert resp.status_code == 303
    assert token not in resp.headers["Location"]
    cookie = client.get_cookie("ratwatch_session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Strict"
    assert token not in cookie.value
    page = client.get("/?period=2026-Q3")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert token not in body
    assert "Server-Timing" in page.headers
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert all(token not in r.getMessage() for r in caplog.records)


def test_sign_out_forgets_the_session(dashboard: Any) -> None:
    client = _client(dashboard)
    _sign_in(client, dashboard.collector.tokens.analyst)
    token = _csrf(client, "/?period=2026-Q3")
    assert client.post("/signout").status_code == 400  # CSRF token missing
    assert client.post("/signout", data={"csrf_token": token}).status_code == 303
    assert client.get("/").status_code == 302


def test_an_agent_token_is_refused(dashboard: Any) -> None:
    client = _client(dashboard)
    resp = _sign_in(client, dashboard.collector.tokens.agent)
    assert resp.status_code == 401
    assert "refused" in resp.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_a_bad_filter_names_the_parameter(dashboard: Any) -> None:
    client = _client(dashboard)
    _sign_in(client, dashboard.collector.tokens.analyst)
    resp = client.get("/?period=2026-13")
    assert resp.status_code == 400
    assert "period: &#39;2026-13&#39;: month must be 01..12" in resp.get_data(as_text=True)
    assert client.get("/?region=Netherlands").status_code == 400
    assert client.get("/csv/nothing?period=2026-Q3").status_code == 404


def test_periods_and_filters() -> None:
    q = parse_period("2026-Q4")
    assert (q.first, q.last) == (dt.date(2026, 10, 1), dt.date(2026, 12, 31))
    assert parse_period("2024-02").last == dt.date(2024, 2, 29)
    assert parse_period("2026-10").year_earlier().label == "2025-10"
    for bad in ("2026-1", "26-10", "2026-Q5", "2026-10-01", ""):
        with pytest.raises(ValidationError, match="period"):
            parse_period(bad)
    f = parse({"tool": "AnyDesk", "region": "nl"}, dt.date(2026, 11, 21))
    assert (f.period.label, f.tool, f.region) == ("2026-11", "anydesk", "NL")
    assert f.query_string() == "period=2026-11&tool=anydesk&region=NL&trend=month&lang=en"


def test_the_report_is_one_self_contained_file(dashboard: Any, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    subprocess.run(
        [sys.executable, "-m", "collector", "report", "--period", "2026-Q3", "--out", str(out),
         "--collector", dashboard.collector.address, "--lang", "en"],
        env={**os.environ, "RATWATCH_ANALYST_TOKEN": dashboard.collector.tokens.analyst},
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    html = out.read_text(encoding="utf-8")
    assert "<script" not in html
    assert not re.search(r'(src|href)="https?:', html)
    assert html.count("<svg") >= 6
    since = (dt.date(2026, 7, 1) - dt.date(1970, 1, 1)).days
    until = (dt.date(2026, 9, 30) - dt.date(1970, 1, 1)).days
    reply = dashboard.collector.query(1, since_day=since, until_day=until)
    counts = {r.tool_id: r.count for r in reply.rows}
    named = sum(counts.values())
    assert f"TeamViewer {counts['teamviewer']} of {named} named tools" in html


def test_the_report_prints_to_pdf(dashboard: Any, tmp_path: Path) -> None:
    out = tmp_path / "report.pdf"
    subprocess.run(
        [sys.executable, "-m", "collector", "report", "--period", "2026-Q3", "--out", str(out),
         "--collector", dashboard.collector.address, "--lang", "nl"],
        env={**os.environ, "RATWATCH_ANALYST_TOKEN": dashboard.collector.tokens.analyst},
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    data = out.read_bytes()
    assert data.startswith(b"%PDF-")
    assert len(data) > 20_000  # the six charts are drawn, not left out


def test_the_report_refuses_a_wrong_token(dashboard: Any, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    done = subprocess.run(
        [sys.executable, "-m", "collector", "report", "--period", "2026-Q3", "--out", str(out),
         "--collector", dashboard.collector.address, "--token", "not-a-token"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "UNAUTHENTICATED" in done.stderr
    assert not out.exists()
