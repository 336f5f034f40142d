"""The gRPC servicers: Telemetry.Submit for agents, Stats.Query for analysts.

Protobuf types stop here: requests are validated into collector.model types,
answers are built from collector.queries reports.

The handlers are registered by hand (not with the generated
``add_*_to_server``) for one reason: the generated code parses requests with
``FromString``, and grpc answers a parse failure with INTERNAL, which tells
a client "our bug" when it is theirs. ``_lenient`` hands the handler a
``Malformed`` marker instead, and the handler answers INVALID_ARGUMENT.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import DecodeError, Message
from ratwatch_proto import telemetry_pb2 as pb
from ratwatch_proto.limits import BATCH_ID_BYTES

from collector import metrics, queries
from collector.auth import Role, TokenCheck
from collector.errors import AuthError, StoreError, ValidationError
from collector.group_commit import GroupCommit
from collector.model import Dimension, Release
from collector.ratelimit import PeerKeys, RateLimiter
from collector.report import Report
from collector.store import MAX_GROUP, Store
from collector.validate import BatchValidator, validate_query

TELEMETRY = "ratwatch.telemetry.v1.Telemetry"
# Trailing metadata with the milliseconds a refused caller should wait (gRFC A6).
RETRY_PUSHBACK_KEY = "grpc-retry-pushback-ms"
STATS = "ratwatch.telemetry.v1.Stats"

M = TypeVar("M", bound=Message)


class Malformed:
    """Stands in for a request whose bytes did not parse."""

    __slots__ = ("error",)

    def __init__(self, error: str) -> None:
        self.error = error


def _lenient(cls: type[M]) -> Callable[[bytes], M | Malformed]:
    parse = cls.FromString

    def deserialize(data: bytes) -> M | Malformed:
        try:
            return parse(data)
        except DecodeError as exc:
            return Malformed(str(exc))

    return deserialize


_REASONS = {
    grpc.StatusCode.UNAUTHENTICATED: "unauthenticated",
    grpc.StatusCode.PERMISSION_DENIED: "permission_denied",
    grpc.StatusCode.INVALID_ARGUMENT: "invalid",
    grpc.StatusCode.DEADLINE_EXCEEDED: "deadline",
    grpc.StatusCode.UNAVAILABLE: "unavailable",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "rate_limited",
}


async def _abort(
    context: grpc.aio.ServicerContext[Any, Any], code: grpc.StatusCode, details: str
) -> NoReturn:
    metrics.REJECTED.labels(_REASONS.get(code, "other")).inc()
    await context.abort(code, details)
    raise AssertionError("unreachable: abort raises")  # pragma: no cover


async def _rate_limited(context: grpc.aio.ServicerContext[Any, Any], wait: float) -> NoReturn:
    """RESOURCE_EXHAUSTED with the wait as gRPC's retry pushback (gRFC A6) in the trailers."""
    ms = max(1000, math.ceil(wait * 1000))
    context.set_trailing_metadata(((RETRY_PUSHBACK_KEY, str(ms)),))
    await _abort(
        context,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        f"rate limit of this address or token reached; retry in {ms / 1000:.0f} s",
    )


class Access:
    """Checks a call's bearer token against the role its method needs."""

    def __init__(self, tokens: TokenCheck) -> None:
        self._tokens = tokens

    async def require(self, context: grpc.aio.ServicerContext[Any, Any], role: Role) -> str:
        """Abort with UNAUTHENTICATED or PERMISSION_DENIED unless the caller has ``role``.

        Returns the caller's token id (collector.auth.token_id).
        """
        try:
            got, token = self._tokens.identify(context.invocation_metadata())
        except AuthError as exc:
            hint = ""
            if not self._tokens.has(role):
                hint = (
                    f"; no {role.value} token is configured on this collector "
                    f"(ratwatch-collector token add --role {role.value})"
                )
            await _abort(context, grpc.StatusCode.UNAUTHENTICATED, f"{exc}{hint}")
        if got is not role:
            await _abort(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                f"an {got.value} token cannot call this method (it needs an {role.value} token)",
            )
        return token


class TelemetryService:
    """Accepts count batches: validate all-or-nothing, then wait until durable."""

    def __init__(
        self,
        store: Store,
        access: Access,
        validator: BatchValidator,
        limiter: RateLimiter,
        peer_keys: PeerKeys,
    ) -> None:
        self._store = store
        self._access = access
        self._validator = validator
        self._limiter = limiter
        self._peer_keys = peer_keys
        self._commits: GroupCommit | None = None

    async def submit(
        self, request: pb.CountBatch | Malformed, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.SubmitReply:
        """Telemetry.Submit."""
        started = time.perf_counter()
        token = await self._access.require(context, Role.AGENT)
        if isinstance(request, Malformed):
            await _abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, f"not a CountBatch: {request.error}"
            )
        peer = self._peer_keys.key(context.peer())
        try:
            batch = self._validator.validate(request, token, peer)
        except ValidationError as exc:
            # A retry of a batch we acknowledged (the ack was lost) may have
            # rows that aged out since: it was counted, so acknowledge it
            # again instead of refusing. Only on this error path, so the
            # hot path pays nothing for the lookup.
            if await self._known(request.batch_id):
                metrics.BATCHES.labels("duplicate").inc()
                return pb.SubmitReply(duplicate=True, rows_accepted=0)
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        wait = self._limiter.admit(peer, token, max(1, len(batch.rows)))
        if wait:
            await _rate_limited(context, wait)
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            await _abort(context, grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed before write")
        if self._commits is None:
            self._commits = GroupCommit(self._store, asyncio.get_running_loop(), MAX_GROUP)
        try:
            result = await self._commits.write(batch)
        except StoreError as exc:
            await _abort(context, grpc.StatusCode.UNAVAILABLE, f"not stored, retry later: {exc}")
        if result.retry_after:  # the writer's limiter, over every front end (serve --workers)
            await _rate_limited(context, result.retry_after)
        if result.duplicate:
            metrics.BATCHES.labels("duplicate").inc()
        elif result.rows_accepted:
            metrics.BATCHES.labels("new").inc()
            metrics.ROWS.inc(result.rows_accepted)
        else:
            metrics.BATCHES.labels("empty").inc()
        metrics.CALL_SECONDS.labels("submit").observe(time.perf_counter() - started)
        return pb.SubmitReply(duplicate=result.duplicate, rows_accepted=result.rows_accepted)

    async def _known(self, batch_id: bytes) -> bool:
        if len(batch_id) != BATCH_ID_BYTES:
            return False
        try:
            return await asyncio.to_thread(self._store.seen, batch_id)
        except StoreError:
            return False

    def handler(self) -> grpc.GenericRpcHandler[Any, Any]:
        """The method table for this service."""
        return grpc.method_handlers_generic_handler(
            TELEMETRY,
            {
                "Submit": grpc.unary_unary_rpc_method_handler(
                    self.submit,
                    request_deserializer=_lenient(pb.CountBatch),
                    response_serializer=pb.SubmitReply.SerializeToString,
                )
            },
        )


_PERIOD_DIMS = (Dimension.DAY, Dimension.WEEK, Dimension.MONTH, Dimension.QUARTER)


def release_to_proto(rel: Release, out: pb.Release) -> None:
    """A release's public header (never its source checksum or total: those are the operator's)."""
    out.release_id = rel.release_id
    out.kind = int(rel.kind)  # type: ignore[assignment]
    out.period = rel.period
    out.first_day = rel.first_day
    out.last_day = rel.last_day
    out.provisional = rel.provisional
    out.grid.extend(int(d) for d in rel.grid)  # type: ignore[misc]
    out.noise_scale = rel.noise_scale
    out.threshold = rel.threshold
    out.epsilon = rel.epsilon
    out.delta = rel.delta
    out.noisy_total = rel.noisy_total
    out.cells_checksum = rel.cells_checksum


def report_to_proto(report: Report) -> pb.StatsReply:
    """Build the wire reply from a release report."""
    reply = pb.StatsReply(
        total=report.total,
        suppressed=report.suppressed,
        release_total=report.release_total,
        noise_scale=report.noise_scale,
        threshold=report.threshold,
        uncovered_days=report.uncovered_days,
    )
    for rel in report.releases:
        release_to_proto(rel, reply.releases.add())
    for row in report.rows:
        out = reply.rows.add()
        for dim, value in zip(report.group_by, row.key, strict=True):
            if dim is Dimension.TOOL:
                out.tool_id = str(value)
            elif dim in _PERIOD_DIMS:
                out.period = str(value)
            elif dim is Dimension.TRIGGER:
                out.trigger = int(value)  # type: ignore[assignment]
            elif dim is Dimension.STAGE:
                out.stage = int(value)  # type: ignore[assignment]
            elif dim is Dimension.OUTCOME:
                out.outcome = int(value)  # type: ignore[assignment]
            elif dim is Dimension.REGION:
                out.region = str(value)
        out.count = row.count or 0
        out.share = row.share or 0.0
        out.count_ci95 = row.count_ci95 or 0.0
        out.share_ci95 = row.share_ci95 or 0.0
    return reply


class StatsService:
    """Answers analysts' grouped queries from releases only (collector.queries)."""

    def __init__(self, store: Store, access: Access, visible: frozenset[str]) -> None:
        self._store = store
        self._access = access
        self._visible = visible  # collector.known_tools: held and denied ids are in no answer

    async def query(
        self, request: pb.StatsQuery | Malformed, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.StatsReply:
        """Stats.Query."""
        started = time.perf_counter()
        await self._access.require(context, Role.ANALYST)
        if isinstance(request, Malformed):
            await _abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, f"not a StatsQuery: {request.error}"
            )
        try:
            query = validate_query(request)
        except ValidationError as exc:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(
            None, functools.partial(queries.run, self._store, query, visible=self._visible)
        )
        try:
            report = await asyncio.wait_for(work, timeout=context.time_remaining())
        except asyncio.TimeoutError:
            await _abort(context, grpc.StatusCode.DEADLINE_EXCEEDED, "query took too long")
        except StoreError as exc:
            await _abort(context, grpc.StatusCode.UNAVAILABLE, str(exc))
        metrics.CALL_SECONDS.labels("query").observe(time.perf_counter() - started)
        return report_to_proto(report)

    def handler(self) -> grpc.GenericRpcHandler[Any, Any]:
        """The method table for this service."""
        return grpc.method_handlers_generic_handler(
            STATS,
            {
                "Query": grpc.unary_unary_rpc_method_handler(
                    self.query,
                    request_deserializer=_lenient(pb.StatsQuery),
                    response_serializer=pb.StatsReply.SerializeToString,
                )
            },
        )
