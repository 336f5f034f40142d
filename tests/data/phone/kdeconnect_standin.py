"""A stand-in for KDE Connect's daemon (kdeconnectd) on a session bus, for the tests.

It owns ``org.kde.kdeconnect`` and exports what the real daemon exports for
the parts ratwatch uses, with the same object paths, interfaces, member
names and signatures (KDE/kdeconnect-kde core/daemon.h, core/device.h,
plugins/telephony/telephonyplugin.{h,cpp}):

- ``/modules/kdeconnect`` ``org.kde.kdeconnect.daemon``: ``devices(b onlyReachable,
  b onlyPaired) -> as``; signals ``deviceAdded(s)``, ``deviceRemoved(s)``,
  ``deviceVisibilityChanged(s, b)``, ``deviceListChanged()``;
- ``/modules/kdeconnect/devices/<id>`` ``org.kde.kdeconnect.device``: properties
  ``name`` (s), ``isPaired`` (b), ``isReachable`` (b);
- ``/modules/kdeconnect/devices/<id>/telephony`` ``org.kde.kdeconnect.device.telephony``:
  signal ``callReceived(s event, s number, s contactName)``.

Only the phone is missing: the test plays it by writing one JSON command per
line on stdin; the stand-in then emits what the real daemon emits for that
packet (``contactName`` defaults to the number, "unknown number" stands in
for a withheld one), and prints one JSON line with the wall-clock time of
the emission. Debian's own kdeconnectd cannot stand in: it only emits
``callReceived`` for a packet from a paired phone over the network.
"""

import asyncio
import json
import sys
import time
from typing import Annotated, Any

from dbus_fast import BusType, PropertyAccess
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusBool, DBusSignature, DBusStr
from dbus_fast.service import ServiceInterface, dbus_property, method, signal

StrList = Annotated[list[str], DBusSignature("as")]
CallArgs = Annotated[list[Any], DBusSignature("sss")]
UNKNOWN_NUMBER = "unknown number"  # i18n("unknown number") in an English locale


class Daemon(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("org.kde.kdeconnect.daemon")
        self.paired: list[str] = []

    @method()
    def devices(self, only_reachable: DBusBool, only_paired: DBusBool) -> StrList:
        return list(self.paired)

    @signal()
    def deviceAdded(self, device_id: str) -> DBusStr:
        return device_id

    @signal()
    def deviceListChanged(self) -> None:
        return None


class Device(ServiceInterface):
    def __init__(self, name: str) -> None:
        super().__init__("org.kde.kdeconnect.device")
        self._name = name

    @dbus_property(access=PropertyAccess.READ)
    def name(self) -> DBusStr:
        return self._name

    @dbus_property(access=PropertyAccess.READ)
    def isPaired(self) -> DBusBool:
        return True

    @dbus_property(access=PropertyAccess.READ)
    def isReachable(self) -> DBusBool:
        return True


class Telephony(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("org.kde.kdeconnect.device.telephony")

    @signal()
    def callReceived(self, event: str, number: str, contact: str) -> CallArgs:
        return [event, number, contact]


async def main(address: str) -> None:
    bus = await MessageBus(bus_address=address, bus_type=BusType.SESSION).connect()
    daemon = Daemon()
    bus.export("/modules/kdeconnect", daemon)
    phones: dict[str, Telephony] = {}
    await bus.request_name("org.kde.kdeconnect")
    print(json.dumps({"ready": True}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "pair":
            dev = cmd["id"]
            bus.export(f"/modules/kdeconnect/devices/{dev}", Device(cmd.get("name", "Phone")))
            phones[dev] = Telephony()
            bus.export(f"/modules/kdeconnect/devices/{dev}/telephony", phones[dev])
            daemon.paired.append(dev)
            daemon.deviceAdded(dev)
            daemon.deviceListChanged()
            print(json.dumps({"ok": op}), flush=True)
        elif op in ("ring", "missed"):
            number = cmd.get("number") or UNKNOWN_NUMBER
            contact = cmd.get("contact") or number
            event = "callReceived" if op == "ring" else "missedCall"
            at = time.time()
            phones[cmd["id"]].callReceived(event, number, contact)
            print(json.dumps({"ok": op, "at": at}), flush=True)
        elif op == "raw":  # a malformed signal from the daemon's name (hostile input)
            phones[cmd["id"]].callReceived(cmd["event"], cmd["number"], cmd["contact"])
            print(json.dumps({"ok": op}), flush=True)
    bus.disconnect()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
