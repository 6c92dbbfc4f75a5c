"""Screen-casting receivers advertised over mDNS on loopback, for simulated displays.

A simulated display whose rig table says ``casting = ["airplay", "lebo"]`` is announced as
those receivers (``_airplay._tcp``, ``_leboremote._tcp``, ...) with the room id in the
instance name, so the mobile-OS suite's discovery finds them the way it finds a real panel.
Multicast stays on 127.0.0.1. Nothing listens on the advertised port: discovery only reads
the announcement.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable

from zeroconf import IPVersion, ServiceInfo, Zeroconf

from classcert.device_drivers.casting import SERVICE_TYPES

PROTOCOL_TYPES = {protocol: stype for stype, protocol in SERVICE_TYPES.items()}
MAX_SERVICES = 32


class CastingAdvertiser:
    """One loopback mDNS responder for every simulated receiver of a simulator pool."""

    def __init__(self) -> None:
        self._zc: Zeroconf | None = None
        self._infos: list[ServiceInfo] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.errors: list[str] = []

    def add(self, room_id: str, label: str, protocols: Iterable[str], port: int) -> None:
        """Announce ``label`` in room ``room_id`` as each of ``protocols`` (in the background)."""
        names = list(protocols)
        unknown = [p for p in names if p not in PROTOCOL_TYPES]
        if unknown:
            raise ValueError(f"unknown casting protocol(s) {unknown}; use "
                             f"{', '.join(sorted(PROTOCOL_TYPES))}")
        if len(self._infos) + len(names) > MAX_SERVICES:
            raise ValueError(f"at most {MAX_SERVICES} simulated casting receivers")
        if self._zc is None:
            self._zc = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
        for protocol in names:
            stype = PROTOCOL_TYPES[protocol]
            host = f"classcert-{room_id.lower()}-{protocol}.local."
            info = ServiceInfo(
                stype, f"{room_id} {label}.{stype}", addresses=[socket.inet_aton("127.0.0.1")],
                port=max(1, port), server=host,
                properties={"model": "classcert-sim", "fn": f"{room_id} {label}"})
            self._infos.append(info)
            thread = threading.Thread(target=self._register, args=(info,), daemon=True,
                                      name=f"casting-sim-{protocol}")
            self._threads.append(thread)
            thread.start()

    def _register(self, info: ServiceInfo) -> None:
        try:
            assert self._zc is not None
            self._zc.register_service(info, allow_name_change=True)
        except Exception as exc:  # noqa: BLE001 - reported by wait(), never fatal to the pool
            with self._lock:
                self.errors.append(f"{info.name}: {exc}")

    def wait(self, timeout_s: float = 10.0) -> list[str]:
        """Wait for the announcements to be registered; returns the errors, if any."""
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads = []
        return list(self.errors)

    def stop(self) -> None:
        self.wait(5.0)
        zc, self._zc = self._zc, None
        if zc is not None:
            try:
                zc.unregister_all_services()
            finally:
                zc.close()
        self._infos = []
