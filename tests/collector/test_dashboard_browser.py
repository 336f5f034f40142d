"""The dashboard in a real browser: Debian's chromium driven by Playwright.

A real collector (gRPC, SQLite, seeded with 15 months of sample counts)
and the real dashboard server run on free loopback ports. Every request the
browser makes goes through a route that lets only 127.0.0.1 through and
records anything else, so "works offline, no CDN" is checked on every page.
Playwright never downloads a browser here: it launches /usr/bin/chromium.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from collector.periods import from_date

CHROMIUM = "/usr/bin/chromium"

if not os.path.exists(CHROMIUM) or shutil.which("chromedriver") is None:
    if os.environ.get("CI"):
        raise RuntimeError(
            f"CI needs {CHROMIUM} and chromium-driver (scripts/test.sh installs them)"
        )
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)

playwright_sync = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


class Page:
    """A browser tab whose every request must stay on 127.0.0.1."""

    def __init__(self, browser: Any, base: str, **context: Any) -> None:
        self.base = base
        self.context = browser.new_context(**context)
        self.left: list[str] = []
        self.seen: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)

    def _route(self, route: Any) -> None:
        url = route.request.url
        self.seen.append(url)
        host = urlsplit(url).hostname
        if host == "127.0.0.1" or url.startswith("data:"):
            route.continue_()
        else:
            self.left.append(url)
            route.abort()

    def sign_in(self, token: str) -> Any:
        self.page.goto(self.base + "signin")
        self.page.fill("#token", token)
        with self.page.expect_navigation():
            self.page.click("main button[type=submit]")
        return self.page

    def charts_ready(self) -> None:
        self.page.wait_for_selector("body[data-charts-ready=true]", state="attached")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser: Any, dashboard: Any) -> Iterator[Page]:
    page = Page(browser, dashboard.url, viewport={"width": 1280, "height": 720})
    yield page
    page.close()
    assert page.seen, "the route saw no request at all"
    assert page.left == [], f"requests left 127.0.0.1: {page.left}"


def _rendered(page: Any) -> dict[str, tuple[str, int]]:
    return page.eval_on_selector_all(
        "div.vega",
        "els => Object.fromEntries(els.map(e => [e.id, [e.dataset.rendered || '',"
        " e.querySelectorAll('svg path, svg rect, svg line').length]]))",
    )


def _first_row(page: Any, section: str) -> list[str]:
    return page.eval_on_selector(
        f"#section-{section} tbody tr",
        "tr => Array.from(tr.children).map(c => c.textContent.trim())",
    )


def test_sign_in_renders_every_chart_with_the_seeded_data(tab: Page, dashboard: Any) -> None:
    page = tab.sign_in(dashboard.collector.tokens.analyst)
    page.goto(dashboard.url + "?period=2026-Q3")
    tab.charts_ready()
    rendered = _rendered(page)
    assert set(rendered) == {
        f"chart-{k}" for k in ("tools", "trend", "triggers", "funnel", "outcomes", "regions")
    }
    for chart, (state, marks) in rendered.items():
        assert state == "true", chart
        assert marks > 5, f"{chart} drew {marks} marks"
    # The tool chart's table says what the collector says for the same question.
    quarter = {  # a closed quarter: its release is what the dashboard shows
        "since_day": from_date(dt.date(2026, 7, 1)),
        "until_day": from_date(dt.date(2026, 9, 30)),
    }
    reply = dashboard.collector.query(1, **quarter)
    top = reply.rows[0]
    assert top.tool_id == "teamviewer"
    first = _first_row(page, "tools")
    assert first[:2] == ["TeamViewer", str(top.count)]
    # Text alternatives: each chart has a label naming what it shows.
    label = page.get_attribute("#chart-tools", "aria-label")
    assert label is not None and f"TeamViewer was counted {top.count} times" in label


def test_a_filter_changes_the_chart_and_the_url(tab: Page, dashboard: Any) -> None:
    page = tab.sign_in(dashboard.collector.tokens.analyst)
    page.goto(dashboard.url + "?period=2026-Q3")
    tab.charts_ready()
    before = page.get_attribute("#chart-tools", "aria-label")
    trigger_rows = "#section-triggers tbody tr"
    rows_before = page.eval_on_selector_all(trigger_rows, "trs => trs.length")
    page.select_option("select[name=trigger]", "scareware_page")
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")
    tab.charts_ready()
    query = parse_qs(urlsplit(page.url).query)
    assert query["trigger"] == ["scareware_page"]
    assert query["period"] == ["2026-Q3"]
    after = page.get_attribute("#chart-tools", "aria-label")
    assert after != before
    # The trigger table now has one row where it had several (the released triggers;
    # its chart's marks depend on the axis ticks too, so the table is what is compared).
    rows = page.eval_on_selector_all(trigger_rows, "trs => trs.length")
    assert rows == 1 < rows_before
    # The shared URL shows the same view in a fresh tab of the same session.
    page.goto(page.url)
    tab.charts_ready()
    assert page.get_attribute("#chart-tools", "aria-label") == after


def test_the_csv_download_equals_the_api_answer(tab: Page, dashboard: Any) -> None:
    page = tab.sign_in(dashboard.collector.tokens.analyst)
    page.goto(dashboard.url + "?period=2026-Q3&region=NL")
    tab.charts_ready()
    href = page.get_attribute("#section-tools a.csv", "href")
    assert href is not None
    with page.expect_download() as info:
        page.click("#section-tools a.csv >> nth=0")
    downloaded = Path(info.value.path()).read_text(encoding="utf-8")
    cli = subprocess.run(
        [
            sys.executable, "-m", "collector", "stats",
            "--collector", dashboard.collector.address,
            "--by", "tool", "--since", "2026-07-01", "--until", "2026-09-30",
            "--region", "NL", "--format", "csv",
        ],
        env={**os.environ, "RATWATCH_ANALYST_TOKEN": dashboard.collector.tokens.analyst},
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert downloaded + "\n" == cli.stdout  # click.echo ends the CLI's output with a newline
    header = "tool_id,tool_name,count,share,count_ci95,share_ci95,releases,noise_scale,threshold\n"
    assert downloaded.startswith(header)  # the release view: intervals and the release ids


def test_a_wrong_token_is_refused(tab: Page, dashboard: Any) -> None:
    page = tab.page
    page.goto(dashboard.url + "signin")
    page.fill("#token", dashboard.collector.tokens.agent)  # a real token, but not an analyst's
    with page.expect_navigation():
        page.click("main button[type=submit]")
    assert "refused" in page.inner_text("#signin-error")
    page.goto(dashboard.url + "?period=2026-Q3")
    assert urlsplit(page.url).path == "/signin"
    assert dashboard.collector.tokens.agent not in page.url


def test_dutch_at_phone_width_and_keyboard_only(browser: Any, dashboard: Any) -> None:
    tab = Page(browser, dashboard.url, viewport={"width": 390, "height": 844}, locale="nl-NL")
    try:
        page = tab.page
        page.goto(dashboard.url + "signin")
        assert page.get_attribute("html", "lang") == "nl"
        # Keyboard: the token field has focus, Enter signs in.
        page.keyboard.type(dashboard.collector.tokens.analyst)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.goto(dashboard.url + "?period=2026-Q3&lang=nl")
        tab.charts_ready()
        assert "Overzicht over 2026-Q3" in page.inner_text("h1")
        # Nothing wider than the phone's screen: no sideways scrolling.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
        # The first Tab reaches the skip link.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip"
    finally:
        tab.close()
    assert tab.left == []
