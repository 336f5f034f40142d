"""TLS from config: server certificate, optional client certificates, and the plaintext rule."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import grpc
import pytest
from ratwatch_proto import telemetry_pb2 as pb

from collector.config import from_dict
from collector.errors import ConfigError


def _creds(certs: Any, *, ca: Any = None, client: bool = False) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=(ca or certs.ca).read_bytes(),
        private_key=certs.client_key.read_bytes() if client else None,
        certificate_chain=certs.client_cert.read_bytes() if client else None,
    )


def _tls(certs: Any, **extra: str) -> dict[str, str]:
    return {"cert_file": str(certs.server_cert), "key_file": str(certs.server_key), **extra}


def test_tls_server_accepts_clients_that_trust_its_ca(
    start_collector: Any, certs: Any, wire: Any
) -> None:
    running = start_collector(tls=_tls(certs))
    tele = running.telemetry(credentials=_creds(certs))
    for _ in range(5):
        reply = tele.Submit(
            wire.batch(wire.row(running.clock.today, "anydesk")),
            metadata=running.agent_md(),
            timeout=10,
        )
        assert reply.rows_accepted == 1
    # A client that trusts another CA, or speaks plaintext, gets nowhere.
    wrong = running.telemetry(credentials=_creds(certs, ca=certs.other_ca))
    with pytest.raises(grpc.RpcError) as info:
        wrong.Submit(
            wire.batch(wire.row(running.clock.today)), metadata=running.agent_md(), timeout=5
        )
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    plain = running.telemetry()
    with pytest.raises(grpc.RpcError) as info:
        plain.Submit(
            wire.batch(wire.row(running.clock.today)), metadata=running.agent_md(), timeout=5
        )
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    q = running.stats(credentials=_creds(certs)).Query(
        pb.StatsQuery(group_by=[pb.DIMENSION_TOOL]), metadata=running.analyst_md(), timeout=10
    )
    assert q.total == 0 and not q.releases  # answered over TLS; today is not released yet
    assert running.raw_counts() == {"anydesk": 5}


def test_client_certificates_required_when_a_client_ca_is_set(
    start_collector: Any, certs: Any, wire: Any, collector_cmd: list[str]
) -> None:
    running = start_collector(
        tls=_tls(certs, client_ca_file=str(certs.ca)), collector={"min_cell_count": 1}
    )
    msg = wire.batch(wire.row(running.clock.today, "rustdesk"))
    without = running.telemetry(credentials=_creds(certs))
    with pytest.raises(grpc.RpcError) as info:
        without.Submit(msg, metadata=running.agent_md(), timeout=5)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    with_cert = running.telemetry(credentials=_creds(certs, client=True))
    assert with_cert.Submit(msg, metadata=running.agent_md(), timeout=10).rows_accepted == 1
    # The analyst CLI speaks TLS with a client certificate too.
    done = subprocess.run(
        [
            *collector_cmd,
            "stats",
            "--collector",
            f"localhost:{running.port}",
            "--token",
            running.tokens.analyst,
            "--ca-file",
            str(certs.ca),
            "--client-cert",
            str(certs.client_cert),
            "--client-key",
            str(certs.client_key),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["view"] == "release"
    assert running.raw_counts() == {"rustdesk": 1}


def test_plaintext_only_on_loopback_unless_allowed(certs: Any) -> None:
    for listen in ("127.0.0.1:1", "[::1]:1", "localhost:1"):
        from_dict({"collector": {"listen": listen}})
    for listen in ("0.0.0.0:50051", "[::]:50051", "192.0.2.10:50051", "collector.example:1"):
        with pytest.raises(ConfigError, match="not a loopback address and TLS is off"):
            from_dict({"collector": {"listen": listen}})
        from_dict({"collector": {"listen": listen, "allow_insecure_remote": True}})
        from_dict({"collector": {"listen": listen}, "tls": _tls(certs)})
    with pytest.raises(ConfigError, match="must be set together"):
        from_dict({"tls": {"cert_file": str(certs.server_cert)}})
