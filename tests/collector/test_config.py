"""The collector config: defaults that start with no setup, precise errors for bad keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.auth import hash_token
from collector.config import CollectorConfig, from_dict, load, with_overrides
from collector.errors import ConfigError


def test_defaults_need_no_setup() -> None:
    c = CollectorConfig()
    assert c.collector.listen == "127.0.0.1:50051"
    assert c.collector.min_cell_count == 5
    assert c.data_dir.name == "ratwatch-collector"
    assert not c.tls_enabled


def test_loads_a_file(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text(
        '[collector]\nmin_cell_count = 1\ndata_dir = "~/tallies"\ngrace_seconds = 3\n'
        f'[tokens]\nagent = ["{hash_token("x")}"]\n'
    )
    c = load(p)
    assert c.collector.min_cell_count == 1 and c.collector.grace_seconds == 3.0
    assert c.data_dir == Path("~/tallies").expanduser()
    assert c.tokens.agent == (hash_token("x"),)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"collector": {"listne": "x"}}, "[collector].listne: unknown key; valid keys:"),
        ({"colector": {}}, "[colector]: unknown section"),
        ({"collector": {"min_cell_count": 0}}, "min_cell_count must be >= 1"),
        ({"collector": {"min_cell_count": True}}, "expected an integer, got the boolean"),
        ({"collector": {"grace_seconds": float("inf")}}, "expected a finite number, got inf"),
        ({"collector": {"listen": "nowhere"}}, "[collector].listen: expected HOST:PORT"),
        ({"collector": {"max_concurrent_rpcs": 0}}, "max_concurrent_rpcs must be in"),
        ({"collector": {"log_level": "LOUD"}}, "log_level must be"),
        ({"tokens": {"agent": ["plaintext-token"]}}, "[tokens].agent[0] must be 'sha256:'"),
        # "$" matches before a trailing newline; a hash with one is no hash.
        ({"tokens": {"agent": ["sha256:" + "0" * 64 + "\n"]}}, "[tokens].agent[0] must be"),
        ({"tokens": {"analyst": "sha256:abc"}}, "expected a list"),
        ({"tls": {"client_ca_file": "ca.pem"}}, "client_ca_file needs"),
    ],
)
def test_bad_values_name_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        from_dict(data, source="c.toml")
    assert message in str(info.value) and str(info.value).startswith("c.toml")


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[collector\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(broken)


def test_command_line_overrides_are_checked() -> None:
    c = with_overrides(CollectorConfig(), listen="127.0.0.1:0", data_dir="/tmp/x")
    assert c.collector.listen == "127.0.0.1:0" and c.data_dir == Path("/tmp/x")
    with pytest.raises(ConfigError, match=r"with command-line options: .* not a loopback address"):
        with_overrides(CollectorConfig(), listen="0.0.0.0:50051")
