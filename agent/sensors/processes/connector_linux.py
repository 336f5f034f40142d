"""Linux kernel process events (exec / exit) through the netlink process connector.

The kernel multicasts an event for every fork, exec and exit to listeners on
NETLINK_CONNECTOR / CN_IDX_PROC. Who may listen depends on the kernel: older
kernels require CAP_NET_ADMIN (root), recent ones (6.x) let any user listen,
and inside a container with its own pid namespace it is refused (the events
carry the host's pids). The kernel answers the subscription with an ack
carrying an errno, so "not permitted" is known at once rather than by silence.

Only the stdlib ``socket`` module is used. Layouts (all native-endian, from
<linux/netlink.h>, <linux/connector.h>, <linux/cn_proc.h>)::

    nlmsghdr   u32 len, u16 type, u16 flags, u32 seq, u32 pid          16 bytes
    cn_msg     u32 idx, u32 val, u32 seq, u32 ack, u16 len, u16 flags  20 bytes
    proc_event u32 what, u32 cpu, u64 timestamp_ns, then event_data    16 bytes
      exec: u32 process_pid, process_tgid
      exit: u32 process_pid, process_tgid, exit_code, exit_signal
      none (ack): u32 err

If the socket's receive buffer overflows (an exec storm), the kernel drops
events and the next ``recv`` fails with ENOBUFS: ``read`` raises
``EventsLost`` so the caller can resynchronise from a process listing.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import struct
import time
from dataclasses import dataclass

from agent.errors import EventsLost, SensorError

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
PROC_CN_MCAST_LISTEN = 1
PROC_CN_MCAST_IGNORE = 2

PROC_EVENT_NONE = 0x00000000
PROC_EVENT_EXEC = 0x00000002
PROC_EVENT_EXIT = 0x80000000

_NLMSGHDR = struct.Struct("=IHHII")
_CN_MSG = struct.Struct("=IIIIHH")
_PROC_EVENT = struct.Struct("=IIQ")
_TWO_U32 = struct.Struct("=II")
_U32 = struct.Struct("=I")
_DATA_AT = _NLMSGHDR.size + _CN_MSG.size + _PROC_EVENT.size  # 52

# Large enough for a burst of a few thousand events between two reads.
RECV_BUFFER_BYTES = 4 * 1024 * 1024
ACK_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class ProcEvent:
    """One process event: ``kind`` is "exec" or "exit"; ``pid`` is the process id (tgid)."""

    kind: str
    pid: int


class ProcConnector:
    """A subscribed process-connector socket. Raises SensorError when refused or unavailable."""

    def __init__(self, *, ack_timeout: float = ACK_TIMEOUT_SECONDS) -> None:
        if not hasattr(socket, "AF_NETLINK"):
            raise SensorError("kernel process events need Linux (no AF_NETLINK here)")
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
        except OSError as exc:
            raise SensorError(f"cannot open a netlink connector socket: {exc.strerror}") from exc
        self._sock = sock
        self._pending: list[ProcEvent] = []
        try:
            self._grow_buffer()
            # Port id 0: the kernel assigns a unique one, so several listeners
            # (tests, a second sensor) can coexist in one process.
            sock.bind((0, CN_IDX_PROC))
            self._port = sock.getsockname()[0]
            self._control(PROC_CN_MCAST_LISTEN)
            self._await_ack(ack_timeout)
        except OSError as exc:
            sock.close()
            raise SensorError(f"cannot subscribe to kernel process events: {exc.strerror}") from exc
        except SensorError:
            sock.close()
            raise

    def _grow_buffer(self) -> None:
        # SO_RCVBUFFORCE passes rmem_max when privileged; otherwise take what we get.
        force = getattr(socket, "SO_RCVBUFFORCE", 33)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, force, RECV_BUFFER_BYTES)
        except OSError:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER_BYTES)

    def _control(self, op: int) -> None:
        payload = _U32.pack(op)
        cn = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(payload), 0) + payload
        header = _NLMSGHDR.pack(_NLMSGHDR.size + len(cn), NLMSG_DONE, 0, 0, self._port)
        self._sock.send(header + cn)

    def _await_ack(self, timeout: float) -> None:
        """Wait for the kernel's answer to LISTEN; events arriving first are kept."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SensorError("the kernel did not acknowledge the process-event subscription")
            ready, _, _ = select.select([self._sock], [], [], left)
            if not ready:
                continue
            data = self._sock.recv(65536)
            for what, body in _messages(data):
                if what == PROC_EVENT_NONE:
                    err = _U32.unpack_from(body)[0] if len(body) >= 4 else 0
                    if err:
                        raise SensorError(
                            "kernel refused process events: "
                            f"{os.strerror(err)} (needs CAP_NET_ADMIN on older kernels and "
                            "the host's pid namespace)"
                        )
                    return
                event = _decode(what, body)
                if event is not None:
                    self._pending.append(event)

    def fileno(self) -> int:
        """The socket's descriptor, for ``select``."""
        return self._sock.fileno()

    def read(self) -> list[ProcEvent]:
        """Every event queued now (non-blocking; [] when none). Raises EventsLost, OSError."""
        events, self._pending = self._pending, []
        while True:
            try:
                data = self._sock.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return events
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    raise EventsLost(exc.errno, "kernel process events were dropped") from exc
                raise
            for what, body in _messages(data):
                event = _decode(what, body)
                if event is not None:
                    events.append(event)

    def close(self) -> None:
        """Unsubscribe and close (safe to call twice)."""
        if self._sock.fileno() < 0:
            return
        with contextlib.suppress(OSError):  # closing unsubscribes anyway
            self._control(PROC_CN_MCAST_IGNORE)
        self._sock.close()


def _messages(data: bytes) -> list[tuple[int, bytes]]:
    """(proc_event.what, event_data) for each connector message in one datagram."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos + _NLMSGHDR.size <= len(data):
        length, msg_type = _NLMSGHDR.unpack_from(data, pos)[:2]
        if length < _NLMSGHDR.size or pos + length > len(data):
            break
        if msg_type not in (NLMSG_NOOP, NLMSG_ERROR) and length >= _DATA_AT:
            idx, val = _CN_MSG.unpack_from(data, pos + _NLMSGHDR.size)[:2]
            if (idx, val) == (CN_IDX_PROC, CN_VAL_PROC):
                what = _PROC_EVENT.unpack_from(data, pos + _NLMSGHDR.size + _CN_MSG.size)[0]
                out.append((what, data[pos + _DATA_AT : pos + length]))
        pos += (length + 3) & ~3  # NLMSG_ALIGN
    return out


def _decode(what: int, body: bytes) -> ProcEvent | None:
    """Exec and exit of whole processes; threads' exits and every other event are skipped."""
    if what == PROC_EVENT_EXEC and len(body) >= _TWO_U32.size:
        _pid, tgid = _TWO_U32.unpack_from(body)
        return ProcEvent("exec", tgid)
    if what == PROC_EVENT_EXIT and len(body) >= _TWO_U32.size:
        pid, tgid = _TWO_U32.unpack_from(body)
        # Every thread's exit is reported; the process ends with its leader.
        return ProcEvent("exit", tgid) if pid == tgid else None
    return None  # fork, uid, gid, sid, comm, ptrace, coredump: not needed
