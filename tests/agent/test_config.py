"""The agent's TOML config: defaults, types, and errors that name the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import AgentConfig, load
from agent.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_no_file_means_documented_defaults() -> None:
    config = load(None)
    assert config == AgentConfig()
    assert config.sensors.poll_hz == 4.0 and config.dialog.countdown_seconds == 30
    assert config.telemetry.outbox_max_rows == 10_000


def test_values_are_read_and_lists_become_tuples(tmp_path: Path) -> None:
    config = load(
        write(
            tmp_path,
            '[sensors]\nenabled = ["processes", "intake"]\npoll_hz = 2\n'
            '[telemetry]\nregion = "NL"\ncollector = "127.0.0.1:50051"\n'
            f'[agent]\nstate_dir = "{tmp_path / "state"}"\n',
        )
    )
    assert config.sensors.enabled == ("processes", "intake")
    assert config.sensors.poll_hz == 2.0 and isinstance(config.sensors.poll_hz, float)
    assert config.telemetry.region == "NL"
    assert config.state_dir == tmp_path / "state"
    assert config.source == str(tmp_path / "agent.toml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[sensor]\n", "[sensor]: unknown section; valid sections: [agent]"),
        ("[sensors]\npol_hz = 2\n", "[sensors].pol_hz: unknown key; valid keys: call_poll"),
        ('source = "elsewhere"\n', "[source]: unknown section"),
        ("agent = 1\n", "[agent]: expected a table, got the integer 1"),
        ('[sensors]\nenabled = "processes"\n', "[sensors].enabled: expected a list"),
        ("[sensors]\nenabled = [1]\n", "[sensors].enabled[0]: expected a string, got the integer"),
        ("[dialog]\ncountdown_seconds = true\n", "expected an integer, got the boolean true"),
        ("[dialog]\ncountdown_seconds = 2.5\n", "expected an integer, got the number 2.5"),
        ('[telemetry]\nenabled = "yes"\n', "[telemetry].enabled: expected true or false"),
        ("[sensors]\npoll_hz = nan\n", "[sensors].poll_hz: expected a finite number, got nan"),
        ('[agent]\nlog_level = "LOUD"\n', "[agent].log_level must be DEBUG, INFO, WARNING, ERROR"),
        ("[sensors]\npoll_hz = 0\n", "[sensors].poll_hz must be in (0, 100]"),
        ('[sensors]\nprocess_events = "ebpf"\n', "must be auto, netlink or poll"),
        ('[dialog]\nbackend = "gtk"\n', "must be auto, tk, console or log"),
        ('[agent]\nlanguage = "de"\n', "[agent].language must be nl, en or empty"),
        ('[telemetry]\nregion = "nl"\n', "[telemetry].region must be an ISO 3166-1"),
        ('[telemetry]\nregion = "EU"\n', "not a grouping like EU"),
        ("[sensors\n", "not valid TOML"),
    ],
)
def test_bad_values_name_the_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(info.value).startswith(str(path)), info.value
    assert expected in str(info.value), info.value


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load(tmp_path / "absent.toml")


def test_phone_section_is_checked() -> None:
    import pytest

    from agent.config import from_dict
    from agent.errors import ConfigError

    assert from_dict({"phone": {"sources": ["kdeconnect"]}}).phone.sources == ("kdeconnect",)
    with pytest.raises(ConfigError, match=r"\[phone\]\.sources: unknown source 'skype'"):
        from_dict({"phone": {"sources": ["skype"]}})
    with pytest.raises(ConfigError, match=r"no_contacts_after_calls must be in \[1, 100\]"):
        from_dict({"phone": {"no_contacts_after_calls": 0}})
