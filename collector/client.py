"""The analyst's side of Stats.Query: ask a running collector, get a Report back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc
from ratwatch_proto import telemetry_pb2 as pb
from ratwatch_proto import telemetry_pb2_grpc as pb_grpc

from collector.auth import METADATA_KEY, SCHEME
from collector.errors import CollectorError
from collector.model import PERIODS, CellKey, Dimension, Query, Release
from collector.report import RELEASE_VIEW, Report, ReportRow
from collector.server import MAX_REPLY_BYTES


@dataclass(frozen=True)
class Remote:
    """How to reach a collector."""

    address: str
    token: str
    tls: bool = False
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    timeout: float = 30.0


def query_to_proto(query: Query) -> pb.StatsQuery:
    """The wire form of a query."""
    msg = pb.StatsQuery(
        group_by=[int(d) for d in query.group_by],  # type: ignore[misc]
        tool_ids=sorted(query.tool_ids),
        triggers=sorted(query.triggers),  # type: ignore[arg-type]
        stages=sorted(query.stages),  # type: ignore[arg-type]
        outcomes=sorted(query.outcomes),  # type: ignore[arg-type]
        regions=sorted(query.regions),
    )
    if query.since_day is not None:
        msg.since_day = query.since_day
    if query.until_day is not None:
        msg.until_day = query.until_day
    return msg


def _key(group_by: tuple[Dimension, ...], row: pb.StatsRow) -> CellKey:
    values: list[str | int] = []
    for dim in group_by:
        if dim is Dimension.TOOL:
            values.append(row.tool_id)
        elif dim in PERIODS:
            values.append(row.period)
        elif dim is Dimension.TRIGGER:
            values.append(int(row.trigger))
        elif dim is Dimension.STAGE:
            values.append(int(row.stage))
        elif dim is Dimension.OUTCOME:
            values.append(int(row.outcome))
        else:
            values.append(row.region)
    return tuple(values)


def _release(r: pb.Release) -> Release:
    return Release(
        release_id=r.release_id,
        kind=Dimension(r.kind),
        period=r.period,
        first_day=r.first_day,
        last_day=r.last_day,
        provisional=r.provisional,
        grid=tuple(Dimension(d) for d in r.grid),
        epsilon=r.epsilon,
        delta=r.delta,
        noise_scale=r.noise_scale,
        threshold=r.threshold,
        noisy_total=r.noisy_total,
        cells_checksum=r.cells_checksum,
        source_checksum="",  # the operator's, never sent
        source_total=0,
        created_at=0,
    )


def reply_to_report(query: Query, reply: pb.StatsReply) -> Report:
    """A wire reply as the same Report a local query gives."""
    rows = tuple(
        ReportRow(_key(query.group_by, r), r.count, r.share, r.count_ci95, r.share_ci95)
        for r in reply.rows
    )
    return Report(
        group_by=query.group_by,
        rows=rows,
        total=reply.total,
        view=RELEASE_VIEW,
        suppressed=reply.suppressed,
        release_total=reply.release_total,
        releases=tuple(_release(r) for r in reply.releases),
        noise_scale=reply.noise_scale,
        threshold=reply.threshold,
        uncovered_days=reply.uncovered_days,
    )


def _read(path: Path | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CollectorError(f"{what} {path}: {exc.strerror}") from exc


def channel(remote: Remote) -> grpc.Channel:
    """A channel to the collector, with TLS when asked (or when any TLS file is given)."""
    options = [("grpc.max_receive_message_length", MAX_REPLY_BYTES)]
    if remote.tls or remote.ca_file or remote.client_cert:
        creds = grpc.ssl_channel_credentials(
            root_certificates=_read(remote.ca_file, "CA file"),
            private_key=_read(remote.client_key, "client key"),
            certificate_chain=_read(remote.client_cert, "client certificate"),
        )
        return grpc.secure_channel(remote.address, creds, options=options)
    return grpc.insecure_channel(remote.address, options=options)


class AccessRefused(CollectorError):
    """The collector refused the token (UNAUTHENTICATED or PERMISSION_DENIED)."""


_REFUSED = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


def ask(
    stub: pb_grpc.StatsStub, address: str, token: str, query: Query, timeout: float
) -> pb.StatsReply:
    """One Stats.Query call; AccessRefused or CollectorError with the gRPC status on failure."""
    try:
        reply: pb.StatsReply = stub.Query(
            query_to_proto(query),
            timeout=timeout,
            metadata=((METADATA_KEY, SCHEME + token),),
        )
    except grpc.RpcError as exc:
        code = exc.code() if isinstance(exc, grpc.Call) else None
        name = code.name if code is not None else "error"
        details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
        error = AccessRefused if code in _REFUSED else CollectorError
        raise error(f"{address}: {name}: {details}") from exc
    return reply


def remote_query(remote: Remote, query: Query) -> Report:
    """Run ``query`` on the collector; CollectorError with the gRPC status on failure."""
    with channel(remote) as ch:
        reply = ask(pb_grpc.StatsStub(ch), remote.address, remote.token, query, remote.timeout)
    return reply_to_report(query, reply)


class StatsClient:
    """One long-lived channel to a collector, shared by many analysts' calls.

    The dashboard asks several questions per page on behalf of whoever is
    signed in; a channel per call would pay a TCP (and TLS) handshake each
    time. gRPC channels are thread-safe, so one serves every request thread.
    The token is per call: each analyst is checked by the collector itself.
    """

    def __init__(self, remote: Remote) -> None:
        self.remote = remote
        self._channel = channel(remote)
        self._stub = pb_grpc.StatsStub(self._channel)

    def reply(self, token: str, query: Query) -> pb.StatsReply:
        """The collector's wire answer to ``query``, asked with ``token``."""
        return ask(self._stub, self.remote.address, token, query, self.remote.timeout)

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()
