"""The one config loader (ratwatch_config): both programs read, type and report alike."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agent import config as agent_config
from agent.errors import ConfigError as AgentConfigError
from collector import config as collector_config
from collector.errors import ConfigError as CollectorConfigError
from ratwatch_config.errors import ConfigInvalid
from ratwatch_config.loader import build


@dataclass(frozen=True)
class Limits:
    """A section with optional settings, as a program may add them."""

    most: int | None = None
    ratio: float | None = None
    label: str | None = None
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sample:
    """A config with one section and the remembered source."""

    limits: Limits = field(default_factory=Limits)
    source: str = ""


def _problem(load: Callable[[Path], object], path: Path) -> str:
    """What a program says about ``path``, with the path itself cut off the front."""
    with pytest.raises((AgentConfigError, CollectorConfigError)) as info:
        load(path)
    text = str(info.value)
    assert text.startswith(f"{path}: "), text
    assert "\n" not in text
    return text[len(f"{path}: ") :]


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    directory = tmp_path / "a-directory.toml"
    directory.mkdir()
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(b'[agent]\nlanguage = "caf\xe9"\n')
    broken = tmp_path / "broken.toml"
    broken.write_text("[collector\n")
    return {
        "missing": tmp_path / "absent.toml",
        "directory": directory,
        "latin1": latin1,
        "broken": broken,
    }


def test_both_programs_report_an_unusable_file_in_the_same_words(tmp_path: Path) -> None:
    files = _bad_files(tmp_path)
    agent = {k: _problem(agent_config.load, p) for k, p in files.items()}
    collector = {k: _problem(collector_config.load, p) for k, p in files.items()}
    assert agent == collector
    assert agent["missing"] == "config file not found"
    assert agent["directory"].startswith("cannot read the config file: ")
    assert agent["latin1"] == "not valid TOML: the file is not UTF-8 text"
    assert agent["broken"].startswith("not valid TOML: ")


def test_both_programs_use_the_same_sections_and_key_errors() -> None:
    with pytest.raises(AgentConfigError) as agent:
        agent_config.from_dict({"agent": {"colour": 1}}, source="a.toml")
    with pytest.raises(CollectorConfigError) as collector:
        collector_config.from_dict({"collector": {"colour": 1}}, source="c.toml")
    assert str(agent.value).startswith("a.toml: [agent].colour: unknown key; valid keys: ")
    assert str(collector.value).startswith("c.toml: [collector].colour: unknown key; valid keys: ")
    assert "source" not in agent_config.SECTIONS and "source" not in collector_config.SECTIONS


def test_optional_settings_take_their_type_and_are_refused_in_toml_words() -> None:
    config = build(Sample, {"limits": {"most": 3, "ratio": 2, "label": "x"}}, "s.toml")
    assert config == Sample(Limits(most=3, ratio=2.0, label="x"), source="s.toml")
    assert isinstance(config.limits.ratio, float)
    assert build(Sample, {}, "s.toml").limits == Limits()
    cases = {
        "most": (True, "expected an integer, got the boolean true"),
        "ratio": ("fast", "expected a number, got the string 'fast'"),
        "label": (7, "expected a string, got the integer 7"),
        "names": ("x", "expected a list, got the string 'x'"),
    }
    for key, (value, problem) in cases.items():
        with pytest.raises(ConfigInvalid) as info:
            build(Sample, {"limits": {key: value}}, "s.toml")
        assert (info.value.source, info.value.key) == ("s.toml", f"[limits].{key}")
        assert info.value.problem == problem
        assert str(info.value) == f"s.toml: [limits].{key}: {problem}"


def test_a_long_value_is_not_echoed_whole() -> None:
    with pytest.raises(ConfigInvalid) as info:
        build(Sample, {"limits": {"most": "x" * 10_000}}, "s.toml")
    assert len(str(info.value)) < 150


def test_an_unknown_log_level_ends_run_in_one_line_like_the_collector(
    agent_cmd: list[str], collector_cmd: list[str], tmp_path: Path
) -> None:
    """It used to end in a raw ValueError traceback from logging.setLevel."""
    agent_toml = tmp_path / "agent.toml"
    agent_toml.write_text(f'[agent]\nlog_level = "LOUD"\nstate_dir = "{tmp_path / "state"}"\n')
    collector_toml = tmp_path / "collector.toml"
    collector_toml.write_text(f'[collector]\nlog_level = "LOUD"\ndata_dir = "{tmp_path}"\n')
    results = [
        subprocess.run(
            [*cmd, sub, "--config", str(path)],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        for cmd, sub, path in (
            (agent_cmd, "run", agent_toml),
            (collector_cmd, "serve", collector_toml),
        )
    ]
    for result, key, path in zip(
        results, ("[agent]", "[collector]"), (agent_toml, collector_toml), strict=True
    ):
        assert "Traceback" not in result.stderr, result.stderr
        assert result.stderr.splitlines() == [
            f"Error: {path}: {key}.log_level must be DEBUG, INFO, WARNING, ERROR (any case), "
            "got 'LOUD'"
        ]
    assert results[0].returncode == results[1].returncode == 1
