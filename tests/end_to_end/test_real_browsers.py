"""Real Chromium and Firefox (Debian's packages), headless, watched by a running agent.

Each test starts the real browser with a fresh profile against pages this test
serves on 127.0.0.1, and the real ``ratwatch-agent run`` child process with
only the browser sensor, pointed at that profile's history database through
``[browser].history_paths``. The browser walks through a scareware pop-up, a
bank's page, a page that sets its scareware title 1.5 s after load, and two
ordinary pages (one with a phone number in its title); the journal must hold
the first three and nothing for the ordinary ones. The time from each page
(or its late title) to its journal record is printed per browser.

The bank page has the bank's real host name: both browsers are pointed at
this test's HTTP server as their proxy, so no request ever leaves the machine
(the server answers every other host with 404), and loopback pages are never
proxied. Headless browsers on a loaded machine are slow: every wait is generous.

Without the browsers (not root, not installed) the tests are skipped; under CI
(``CI`` set) a missing browser fails the run: scripts/test.sh installs them.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agent.journal.journal import read_records

SCARY = "Windows Defender Security Warning"
LATE = "Your computer has been blocked"
BANK_URL = "http://mijn.ing.nl/login/"
APPLE_PIE = "Best apple pie recipe - call us 0800 123 4567 for catering"
TITLE_DELAY = 1.5  # seconds after load the late page sets its scareware title
STEP = 2.0  # seconds each page stays before the next navigation


def _page(title: str, script: str = "") -> bytes:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><p>{title}</p><script>{script}</script></body></html>"
    ).encode()


@dataclass
class Site:
    """The pages, the proxy, and when each page was served (monotonic seconds)."""

    port: int = 0
    go: threading.Event = field(default_factory=threading.Event)
    served: dict[str, float] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def sequence(self) -> list[str]:
        """The walk after the start page: each page moves on to the next after STEP."""
        return [
            self.url("/recipes/apple-pie"),
            BANK_URL,
            self.url("/alert/"),
            self.url("/loading/"),
            self.url("/news/"),
        ]


def _serve(site: Site) -> http.server.ThreadingHTTPServer:
    walk: list[str] = []  # filled once the port is known: the URLs name it

    def next_script(url: str) -> str:
        i = walk.index(url)
        if i + 1 == len(walk):
            return ""
        return (
            f"setTimeout(function(){{location.href={json.dumps(walk[i + 1])};}},{STEP * 1000:.0f});"
        )

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            # A proxied request names the whole URL; a direct one only the path.
            # Firefox proxies loopback too (network.proxy.allow_hijacking_localhost):
            # match the whole URL, never the raw request path.
            url = self.path if self.path.startswith("http") else site.url(self.path)
            if url == site.url("/go"):
                body = b"go" if site.go.wait(timeout=0.5) else b"wait"
                return self._send(200, body, "text/plain")
            pages = {
                site.url("/start"): _page(
                    "Welcome",
                    "function poll(){fetch('/go').then(r=>r.text()).then(t=>{"
                    f"if(t==='go'){{location.href={json.dumps(walk[0])};}}"
                    "else{setTimeout(poll,200);}}).catch(()=>setTimeout(poll,500));}poll();",
                ),
                walk[0]: _page(APPLE_PIE, next_script(walk[0])),
                BANK_URL: _page("Inloggen - Mijn ING", next_script(BANK_URL)),
                walk[2]: _page(SCARY, next_script(walk[2])),
                walk[3]: _page(
                    "Loading\u2026",
                    f"setTimeout(function(){{document.title={json.dumps(LATE)};}},"
                    f"{TITLE_DELAY * 1000:.0f});" + next_script(walk[3]),
                ),
                walk[4]: _page("Weather forecast for Utrecht", ""),
            }
            page = pages.get(url)
            if page is None:
                return self._send(404, b"not here", "text/plain")
            site.served.setdefault(url, time.monotonic())
            self._send(200, page, "text/html; charset=utf-8")

        def do_CONNECT(self) -> None:
            self._send(405, b"no tunnels", "text/plain")  # HTTPS never leaves either

        def _send(self, code: int, body: bytes, kind: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            try:
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the browser moved on (or was stopped) before the answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    site.port = server.server_address[1]
    walk.extend(site.sequence())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    server = _serve(s)
    try:
        yield s
    finally:
        server.shutdown()
        server.server_close()


def _require(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{program} is missing; scripts/test.sh installs it under CI")
        pytest.skip(f"{program} is not installed")
    return path


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def chromium(exe: str, profile: Path, site: Site, home: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--password-store=basic",
            # Plain-HTTP pages stay plain HTTP (the bank's host goes to our proxy).
            "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable",
            f"--proxy-server=http://127.0.0.1:{site.port}",
            f"--user-data-dir={profile}",
            site.url("/start"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HOME": str(home)},
    )


FIREFOX_PREFS = {
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.aboutwelcome.enabled": False,
    "browser.newtabpage.enabled": False,
    "app.update.enabled": False,
    "app.update.auto": False,
    "app.normandy.enabled": False,
    "toolkit.telemetry.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.update.enabled": False,
    "extensions.update.enabled": False,
    "services.settings.server": "http://127.0.0.1:9/",
    "dom.security.https_first": False,
    "dom.security.https_only_mode": False,
    "network.stricttransportsecurity.preloadlist": False,
}


def firefox(exe: str, profile: Path, site: Site, home: Path) -> subprocess.Popen[bytes]:
    prefs = {
        **FIREFOX_PREFS,
        "network.proxy.type": 1,
        "network.proxy.http": "127.0.0.1",
        "network.proxy.http_port": site.port,
        "network.proxy.ssl": "127.0.0.1",
        "network.proxy.ssl_port": site.port,
    }
    profile.mkdir(parents=True)
    (profile / "user.js").write_text(
        "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items())
    )
    return subprocess.Popen(
        [exe, "--headless", "--no-remote", "-profile", str(profile), site.url("/start")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HOME": str(home), "MOZ_HEADLESS": "1"},
    )


BROWSERS: dict[str, tuple[str, Callable[..., subprocess.Popen[bytes]], str]] = {
    "chromium": ("chromium", chromium, "Default/History"),
    "firefox": ("firefox-esr", firefox, "places.sqlite"),
}


def _start_agent(agent_cmd: list[str], root: Path, history: Path) -> subprocess.Popen[str]:
    config = root / "agent.toml"
    config.write_text(
        f"[agent]\nstate_dir = {json.dumps(str(root / 'state'))}\n"
        '[sensors]\nenabled = ["browser"]\n'
        f"[browser]\nhistory_paths = [{json.dumps(str(history))}]\ndefault_profiles = false\n"
        '[dialog]\nbackend = "log"\n[telemetry]\nenabled = false\n'
    )
    proc = subprocess.Popen(
        [*agent_cmd, "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("Stop with Ctrl+C"):
            break
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return proc


def _stop(proc: subprocess.Popen[Any], timeout: float = 20.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("name", sorted(BROWSERS))
def test_a_real_browser_s_pages_reach_the_journal(
    name: str, agent_cmd: list[str], site: Site, tmp_path: Path
) -> None:
    program, launch, relative = BROWSERS[name]
    exe = _require(program)
    home = tmp_path / "home"
    home.mkdir()
    profile = tmp_path / "profile"
    history = profile / relative
    browser = launch(exe, profile, site, home)
    agent: subprocess.Popen[str] | None = None
    try:
        # The browser creates its history file at start; the agent is started
        # once it exists (it is configured by path), then the walk begins.
        wait_for(history.is_file, 90, f"{name} to create {relative}")
        agent = _start_agent(agent_cmd, tmp_path, history)
        site.go.set()
        journal = tmp_path / "state" / "journal.jsonl"
        seen: dict[str, float] = {}

        def pages() -> list[dict[str, Any]]:
            found = [
                r
                for r in read_records(journal)
                if r["type"] == "context" and r["event"] in ("ScarewarePage", "SensitivePage")
            ]
            for r in found:
                seen.setdefault(r["url"] + "|" + r["title"], time.monotonic())
            return found

        def has(url: str, title: str | None = None) -> bool:
            return any(r["url"] == url and title in (None, r["title"]) for r in pages())

        scare, late = site.url("/alert/"), site.url("/loading/")
        wait_for(lambda: has(scare, SCARY), 120, f"the scareware visit in {name}")
        wait_for(lambda: has(BANK_URL), 60, f"the bank page in {name}")
        wait_for(lambda: has(late, LATE), 60, f"the late title in {name}")
        # The last ordinary page was visited and has been read by the agent:
        # wait until its visit is in the history file, then a little longer.
        wait_for(lambda: site.url("/news/") in site.served, 60, "the last page")
        time.sleep(12.0 if name == "chromium" else 3.0)  # Chromium commits about every 10 s
        records = pages()
        benign = {site.url("/recipes/apple-pie"), site.url("/news/"), site.url("/start")}
        assert [r for r in records if r["url"] in benign] == []
        kinds = {(r["url"], r["event"], r.get("kind")) for r in records}
        assert (scare, "ScarewarePage", None) in kinds
        assert (BANK_URL, "SensitivePage", "banking") in kinds
        bank = next(key for key in seen if key.startswith(BANK_URL + "|"))
        latency = {
            "scareware": seen[f"{scare}|{SCARY}"] - site.served[scare],
            "bank": seen[bank] - site.served[BANK_URL],
            "late title": seen[f"{late}|{LATE}"] - site.served[late] - TITLE_DELAY,
        }
        print(
            f"\n{name}: page -> journal latency "
            + ", ".join(f"{k} {v:.1f} s" for k, v in latency.items())
        )
    finally:
        _stop(browser)
        if agent is not None:
            _stop(agent)
            err = agent.stderr.read() if agent.stderr else ""
            # Privacy: log lines carry pattern ids, never titles, URLs or paths.
            for secret in (SCARY, "mijn.ing.nl", "127.0.0.1", str(tmp_path)):
                assert secret not in err
