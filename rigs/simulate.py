"""Start the simulators a rig file asks for (``simulator = {kind = ...}`` on a device).

The demo school and vendors' CI describe simulated devices in the rig itself; this
module starts one simulator per such device on loopback and tells the harness the
address it really listens on (a rig may say port 0 for "any free port").

Kinds:
- ``pjlink``: :class:`classcert.rigs.simulators.pjlink_sim.PjlinkSimulator`; the other keys
  of the table are its state and fault knobs.
- ``refuse``: a port that is bound but never listens, so a connection is refused, exactly
  like a device that is switched off or has its network service disabled.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field
from typing import Any

from classcert.model import Device, Rig

SIMULATOR_KINDS = ("pjlink", "refuse")


class SimulatorError(Exception):
    """A simulator described in the rig could not be started."""


def _split_host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


@dataclass
class _RefusingPort:
    """A bound, never-listening TCP socket: connecting to it is refused."""

    host: str
    port: int
    sock: socket.socket = field(init=False)

    def start(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((self.host, self.port))
        self.port = self.sock.getsockname()[1]

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        self.sock.close()


class SimulatorPool:
    """All simulators of one rig. Use as a context manager."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self._running: dict[tuple[str, int], Any] = {}

    @staticmethod
    def is_simulated(device: Device) -> bool:
        return device.simulator is not None

    def start(self) -> None:
        try:
            for room in self.rig.rooms:
                for index, device in enumerate(room.devices):
                    if device.simulator is not None:
                        self._running[(room.id, index)] = self._start_one(device)
        except Exception:
            self.stop()
            raise

    def _start_one(self, device: Device) -> Any:
        spec = dict(device.simulator or {})
        kind = spec.pop("kind", None)
        host, port = _split_host_port(device.address)
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise SimulatorError(
                f"{self.rig.path}:{device.line}: simulated device {device.label} must use a "
                f"loopback address (127.0.0.1), got {host} / 模拟设备只能使用本机回环地址"
            )
        if kind == "refuse":
            sim: Any = _RefusingPort(host, port)
        elif kind == "pjlink":
            from classcert.rigs.simulators.pjlink_sim import PjlinkSimulator

            password = None
            if device.password_env:
                # The simulator's own secret: the harness made it, so it may set it.
                password = os.environ.setdefault(device.password_env, secrets.token_hex(8))
            sim = PjlinkSimulator(host=host, port=port, password=password, **spec)
        else:
            raise SimulatorError(
                f"{self.rig.path}:{device.line}: unknown simulator kind {kind!r}; known: "
                f"{', '.join(SIMULATOR_KINDS)} / 未知的模拟器类型"
            )
        sim.start()
        return sim

    def address(self, room_id: str, index: int, device: Device) -> str:
        """The address to connect to: the simulator's real one, or the rig's."""
        sim = self._running.get((room_id, index))
        return sim.address if sim is not None else device.address

    def stop(self) -> None:
        for sim in self._running.values():
            try:
                sim.stop()
            except Exception:  # noqa: BLE001 - stopping must not mask the run's own outcome
                pass
        self._running.clear()

    def __enter__(self) -> SimulatorPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
