"""Only known tools reach analysts: unknown and URL-like ids are held until allowed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from agent.catalogue.lolrmm.convert import convert
from collector import releases
from collector.config import load
from collector.known_tools import ToolPolicy, bundled_ids, lolrmm_ids
from collector.model import Dimension
from collector.release_policy import ReleaseParams
from collector.sqlite_store import SqliteStore

HELD = ("support-microsoft.com.example", "invented-rat")


def _run(cmd: list[str], *args: str) -> str:
    done = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_unknown_ids_never_appear_in_stats_until_allowed(
    start_collector: Any, wire: Any, collector_cmd: list[str], tmp_path: Path
) -> None:
    running = start_collector(collector={"min_cell_count": 1})
    today = running.clock.today
    running.submit_from(3, wire.row(today, "teamviewer"), *(wire.row(today, t) for t in HELD))
    config = tmp_path / "collector.toml"
    data_dir = running.config.data_dir
    config.write_text(f'[collector]\ndata_dir = "{data_dir}"\nmin_cell_count = 1\n')
    local = ["stats", "--config", str(config), "--raw", "--format", "json"]

    def table(*args: str) -> Any:
        return json.loads(_run(collector_cmd, *local, *args))

    assert {r["tool"]: r["count"] for r in table()["rows"]} == {"teamviewer": 3}
    # Held ids are in no total, share or other grouping either.
    by_trigger = table("--by", "trigger")
    assert by_trigger["total"] == 3 and [r["count"] for r in by_trigger["rows"]] == [3]
    assert table("--tool", HELD[0], "--tool", HELD[1])["rows"] == []
    running.stop()

    pending = _run(collector_cmd, "tools", "pending", "--config", str(config))
    assert all(t in pending for t in HELD) and "teamviewer" not in pending
    _run(collector_cmd, "tools", "allow", "invented-rat", "--config", str(config))
    _run(collector_cmd, "tools", "deny", "support-microsoft.com.example", "--config", str(config))
    assert {r["tool"]: r["count"] for r in table()["rows"]} == {"teamviewer": 3, "invented-rat": 3}
    assert "no tool ids are waiting" in _run(
        collector_cmd, "tools", "pending", "--config", str(config)
    )
    # A release is made over the visible ids only: its source holds teamviewer and
    # the allowed id, never the denied one (analysts' answers are sums of releases).
    store = SqliteStore(data_dir, clock=running.clock)
    try:
        visible = ToolPolicy.from_config(load(config)).visible
        releases.make_due(store, ReleaseParams(), lambda: (today + 10) * 86400.0, visible=visible)
        rid = releases.release_id(Dimension.DAY, today, today, provisional=False)
        day = next(h for h in store.release_headers() if h.release_id == rid)
    finally:
        store.close()
    assert day.source_total == 6


def test_a_bad_tool_id_is_refused_before_the_config_is_touched(
    collector_cmd: list[str], tmp_path: Path
) -> None:
    config = tmp_path / "collector.toml"
    config.write_text("# mine\n")
    done = subprocess.run(
        [*collector_cmd, "tools", "allow", "Bad Tool", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0 and "'Bad Tool' is not a tool id" in done.stderr
    assert config.read_text() == "# mine\n"


def test_every_id_the_agents_lolrmm_import_gives_is_known(shared_dir: Path) -> None:
    """The collector reads the snapshot where it lies and knows every id an agent can send."""
    tools, _report = convert(shared_dir / "lolrmm")
    imported = {t["id"] for t in tools}
    known = lolrmm_ids(shared_dir / "lolrmm")
    assert imported and imported <= known
    assert {"teamviewer", "anydesk"} <= bundled_ids()
