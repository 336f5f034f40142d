"""Regenerate the dashboard and report screenshots in docs/.

``python -m collector.dashboard.screenshots docs/`` (needs the dev extras'
Playwright and Debian's chromium at /usr/bin/chromium). Starts a collector
over the synthetic sample (collector.dashboard.sample) and a dashboard on
loopback, signs in, and photographs the overview (English at 1280x720
and Dutch at phone width) and the report of the same month.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from collector.auth import hash_token, new_token
from collector.client import Remote, StatsClient
from collector.config import from_dict
from collector.dashboard import report, sample
from collector.dashboard.answer import Answer, from_reply
from collector.dashboard.app import create_app
from collector.dashboard.filters import parse_period
from collector.dashboard.serving import DashboardServer, Listen
from collector.model import Query
from collector.periods import from_date
from collector.server import CollectorServer
from collector.sqlite_store import SqliteStore

CHROMIUM = "/usr/bin/chromium"
TODAY = dt.date(2026, 11, 21)
PERIOD = "2026-10"


def main(out: Path) -> None:
    """Write dashboard-overview.png, dashboard-phone-nl.png and report.png into ``out``."""
    from playwright.sync_api import sync_playwright

    clock = lambda: from_date(TODAY) * 86400.0 + 43200  # noqa: E731
    token = new_token()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        store = SqliteStore(data, clock=clock)
        sample.seed(store, dt.date(2025, 9, 1), TODAY - dt.timedelta(days=1))
        config = from_dict(
            {
                "collector": {"listen": "127.0.0.1:0", "data_dir": str(data)},
                "tokens": {"analyst": [hash_token(token)]},
            }
        )
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, daemon=True).start()
        collector = CollectorServer(config, clock=clock, store=store)
        address = asyncio.run_coroutine_threadsafe(collector.start(), loop).result()
        client = StatsClient(Remote(address, ""))
        server = DashboardServer(create_app(client, secure_cookies=False), Listen("127.0.0.1:0"))
        url = server.start()
        threading.Thread(target=server.serve, daemon=True).start()
        try:

            def ask(query: Query) -> Answer:
                return from_reply(query, client.reply(token, query))

            report_html = Path(tmp) / "report.html"
            report_html.write_text(
                report.build(ask, parse_period(PERIOD), "en", TODAY), encoding="utf-8"
            )
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                shots: tuple[tuple[str, Any, str], ...] = (
                    ("dashboard-overview.png", {"width": 1280, "height": 720}, "en"),
                    ("dashboard-phone-nl.png", {"width": 390, "height": 844}, "nl"),
                )
                for name, viewport, lang in shots:
                    page = browser.new_page(viewport=viewport)
                    page.goto(url + f"signin?lang={lang}")
                    page.fill("#token", token)
                    with page.expect_navigation():
                        page.click("main button[type=submit]")
                    page.goto(url + f"?period={PERIOD}&lang={lang}")
                    page.wait_for_selector("body[data-charts-ready=true]", state="attached")
                    # The first screens' worth: the filters, tools, trend and trigger mix.
                    height = min(2.2 * viewport["height"], 1600)
                    clip: Any = {"x": 0, "y": 0, "width": viewport["width"], "height": height}
                    page.screenshot(path=str(out / name), full_page=True, clip=clip)
                    page.close()
                page = browser.new_page(viewport={"width": 1000, "height": 1400})
                page.goto(report_html.as_uri())
                page.screenshot(path=str(out / "report.png"))
                browser.close()
        finally:
            server.stop()
            client.close()
            asyncio.run_coroutine_threadsafe(collector.stop(1.0), loop).result()
            loop.call_soon_threadsafe(loop.stop)
    print(f"wrote dashboard-overview.png, dashboard-phone-nl.png and report.png in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
