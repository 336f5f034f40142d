"""``ratwatch-agent signatures check`` as a real child process."""

from __future__ import annotations

import subprocess
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "data" / "signatures"


def _run(agent_cmd: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*agent_cmd, "signatures", *args], check=False, capture_output=True, text=True, timeout=60
    )


def test_check_reports_each_mistake_with_file_and_line(agent_cmd: list[str]) -> None:
    path = DATA / "broken.yaml"
    lines = path.read_text().splitlines()
    marked = [n for n, line in enumerate(lines, 1) if "# MISTAKE" in line]
    result = _run(agent_cmd, "check", str(path))
    assert result.returncode == 1
    reported = result.stdout.splitlines()
    assert len(reported) == len(marked) == 9
    assert sorted(int(r.split(":")[1]) for r in reported) == marked
    for report in reported:
        file, line, field, message = report.split(":", 3)
        assert file == str(path)
        assert int(line) in marked
        assert field.strip() and message.strip()
    assert "9 problems in 1 file(s)" in result.stderr


def test_check_without_paths_validates_bundled_and_configured_extras(
    agent_cmd: list[str], tmp_path: Path
) -> None:
    ok = _run(agent_cmd, "check")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("ok: 3 file(s), catalogue version 20")
    assert " tools, " in ok.stdout

    extra = tmp_path / "extra.yaml"
    extra.write_text(
        "schema: 1\ntools:\n"
        "  - {id: teamviewer, name: TV, processes: {windows: [tv.exe]}, confidence: low}\n"
        "  - {id: brand_new, name: Brand New, processes: {windows: [bn.exe]}}\n"
    )
    config = tmp_path / "agent.toml"
    config.write_text(f'[signatures]\nextra_catalogues = ["{extra}"]\n')
    with_extra = _run(agent_cmd, "check", "--config", str(config), "--notes")
    assert with_extra.returncode == 0, with_extra.stdout + with_extra.stderr
    assert "ok: 4 file(s)" in with_extra.stdout
    assert "1 duplicate entries skipped" in with_extra.stdout
    assert f"note: {extra}:3: tools[teamviewer] skipped: already defined at" in with_extra.stdout

    extra.write_text("schema: 1\ntools:\n  - {id: x, name: X, processes: {mac: [x]}}\n")
    broken = _run(agent_cmd, "check", "--config", str(config))
    assert broken.returncode == 1
    assert broken.stdout.startswith(f"{extra}:3: tools[x].processes.mac: unknown key 'mac'")


def test_check_with_a_bad_config_says_so(agent_cmd: list[str], tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text("[signatures]\nextra_catalogs = []\n")
    result = _run(agent_cmd, "check", "--config", str(config))
    assert result.returncode != 0
    assert "extra_catalogs" in result.stderr


def test_check_refuses_a_tool_id_with_a_trailing_newline(
    agent_cmd: list[str], tmp_path: Path
) -> None:
    # Python's "$" matches before a final newline; the collector (fullmatch) refuses
    # such an id, so every batch carrying it would be lost.
    path = tmp_path / "evil.yaml"
    path.write_text('schema: 1\ntools:\n  - {id: "evil\\n", name: E, processes: {linux: [e]}}\n')
    result = _run(agent_cmd, "check", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith(f"{path}:3: tools[0].id: 'evil\\n' is not a valid id")
