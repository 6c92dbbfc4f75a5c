"""Start the simulators a rig file asks for (``simulator = {kind = ...}`` on a device).

The demo school and vendors' CI describe simulated devices in the rig itself; this
module starts one simulator per such device on loopback and tells the harness the
address it really listens on (a rig may say port 0 for "any free port").

Kinds:
- ``pjlink``: :class:`classcert.rigs.simulators.pjlink_sim.PjlinkSimulator`; the other keys
  of the table are its state and fault knobs.
- ``samsung-mdc``: :class:`classcert.rigs.simulators.mdc_sim.MdcSimulator`.
- ``refuse``: a port that is bound but never listens, so a connection is refused, exactly
  like a device that is switched off or has its network service disabled.

A ``crowd = {devices = 24, ...}`` sub-table (the CrowdSim knobs) on any simulated device
gives its room an emulated crowd for the Wi-Fi crowd test (:meth:`SimulatorPool.crowd`); a
Wi-Fi controller simulator (unifi, omada, snmp-wireless) then *follows* it: it reports the
crowd's stations as its associated clients.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from classcert.model import Device, Rig
from classcert.rigs.simulators.wifi_population import crowd_station_provider


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


def _pjlink(host: str, port: int, password: str | None, spec: dict[str, Any]) -> Any:
    from classcert.rigs.simulators.pjlink_sim import PjlinkSimulator

    return PjlinkSimulator(host=host, port=port, password=password, **spec)


def _mdc(host: str, port: int, password: str | None, spec: dict[str, Any]) -> Any:
    from classcert.rigs.simulators.mdc_sim import MdcSimulator

    return MdcSimulator(host=host, port=port, password=password, **spec)


def _lg(host: str, port: int, password: str | None, spec: dict[str, Any]) -> Any:
    from classcert.rigs.simulators.lg_sim import LgSimulator

    return LgSimulator(host=host, port=port, **spec)


def _nec(host: str, port: int, password: str | None, spec: dict[str, Any]) -> Any:
    from classcert.rigs.simulators.nec_sim import NecSimulator

    return NecSimulator(host=host, port=port, **spec)


def _table(host: str, port: int, password: str | None, spec: dict[str, Any]) -> Any:
    from classcert.rigs.simulators.table_sim import TableSimulator

    return TableSimulator(host=host, port=port, password=password, **spec)


def _alsa_room(host: str, port: int, password: str | None, spec: dict[str, Any]) -> Any:
    from classcert.rigs.simulators.alsa_room import AlsaRoomSim

    return AlsaRoomSim(host, port, password, **spec)


def _http_device(host: str, port: int, password: str | None, spec: dict[str, Any]) -> Any:
    from classcert.rigs.simulators.http_device_sim import HttpDeviceSim

    return HttpDeviceSim(host, port, password, **spec)


def _rtsp(host: str, port: int, password: str | None, spec: dict[str, Any]) -> Any:
    from classcert.rigs.simulators.rtsp_sim import RtspSimulator

    pattern = spec.pop("pattern", None)
    if pattern is not None:  # serve the harness's own test pattern, as the device delivers it
        from classcert.rigs.simulators.pattern_clips import pattern_clip

        spec["clip"] = str(pattern_clip(str(pattern), float(spec.pop("pattern_seconds", 4))))
    return RtspSimulator(host=host, port=port, password=password, **spec)


def _onvif(host: str, port: int, password: str | None, spec: dict[str, Any]) -> Any:
    from classcert.rigs.simulators.onvif_sim import OnvifSimulator

    return OnvifSimulator(host=host, port=port, password=password, **spec)


def _live_pattern(host: str, port: int, password: str | None, spec: dict[str, Any]) -> Any:
    from classcert.rigs.simulators.live_pattern_sim import LivePatternSimulator

    return LivePatternSimulator(host=host, port=port, password=password, **spec)


def _http_recorder(host: str, port: int, password: str | None, spec: dict[str, Any]) -> Any:
    from classcert.rigs.simulators.http_recorder_sim import HttpRecorderSim

    return HttpRecorderSim(host, port, password, **spec)


def _unifi(host: str, port: int, password: str | None, spec: dict[str, Any]) -> Any:
    from classcert.rigs.simulators.unifi_sim import UnifiSim

    return UnifiSim(host, port, password, **spec)


def _omada(host: str, port: int, password: str | None, spec: dict[str, Any]) -> Any:
    from classcert.rigs.simulators.omada_sim import OmadaSim

    return OmadaSim(host, port, password, **spec)


def _snmp_wireless(host: str, port: int, password: str | None, spec: dict[str, Any]) -> Any:
    from classcert.rigs.simulators.snmp_wireless_sim import SnmpWirelessSim

    return SnmpWirelessSim(host, port, password, **spec)


def _crowd(host: str, port: int, password: str | None, spec: dict[str, Any]) -> Any:
    from classcert.rigs.simulators.crowd_sim import CrowdSim

    return CrowdSim(host=host, port=port, password=password, **spec)


def _refuse(host: str, port: int, password: str | None, spec: dict[str, Any]) -> Any:
    if spec:
        raise TypeError(f"'refuse' takes no knobs, got {', '.join(spec)}")
    return _RefusingPort(host, port)


def _touch_panel(spec: dict[str, Any]) -> Any:
    from classcert.rigs.simulators.touch_panel_sim import TouchPanelSim

    return TouchPanelSim(**spec)


_FACTORIES = {"pjlink": _pjlink, "samsung-mdc": _mdc, "lg": _lg, "nec": _nec,
              "table": _table, "alsa-room": _alsa_room, "http-device": _http_device,
              "rtsp": _rtsp, "onvif": _onvif,
              "live-pattern": _live_pattern, "http-recorder": _http_recorder,
              "unifi": _unifi, "omada": _omada,
              "snmp-wireless": _snmp_wireless, "crowd": _crowd, "refuse": _refuse}
# Simulators that are not network peers: their "address" is whatever they say it is.
_NOT_NETWORK = {"alsa-room", "crowd"}
_ALSA_SHARED = ("sample_rate", "ambient_s", "signal_s", "signal_kind", "signal_dbfs", "seed")
SIMULATOR_KINDS = tuple(_FACTORIES)


class _PtyPair:
    """Two linked pseudo-terminals made by socat: the simulator serves one end, the
    harness opens the other with pyserial, exactly as it opens /dev/ttyUSB0."""

    def __init__(self) -> None:
        if shutil.which("socat") is None:
            raise SimulatorError("a simulated serial device needs socat (apt-get install socat) "
                                 "/ 模拟串口设备需要 socat")
        self._dir = tempfile.mkdtemp(prefix="classcert-pty-")
        self.sim_end, self.device_end = f"{self._dir}/sim", f"{self._dir}/dev"
        self._proc = subprocess.Popen(
            ["socat", f"pty,raw,echo=0,link={self.sim_end}",
             f"pty,raw,echo=0,link={self.device_end}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 5
        while not (os.path.exists(self.sim_end) and os.path.exists(self.device_end)):
            if time.monotonic() > deadline or self._proc.poll() is not None:
                self.stop()
                raise SimulatorError("socat did not create the pty pair / socat 未能创建虚拟串口")
            time.sleep(0.02)

    def stop(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)


class _SerialSim:
    """A simulator reached over a pty pair instead of TCP."""

    def __init__(self, sim: Any, baudrate: int) -> None:
        self.sim, self.baudrate = sim, baudrate
        self.pty: _PtyPair | None = None

    def start(self) -> _SerialSim:
        self.pty = _PtyPair()
        self.sim.serve_serial(self.pty.sim_end, baudrate=self.baudrate)
        return self

    @property
    def address(self) -> str:
        assert self.pty is not None
        return os.path.realpath(self.pty.device_end)  # /dev/pts/N, as a real port is named

    def stop(self) -> None:
        self.sim.stop()
        if self.pty is not None:
            self.pty.stop()


class SimulatorPool:
    """All simulators of one rig. Use as a context manager."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self._running: dict[tuple[str, int], Any] = {}
        self._touch: dict[str, Any] = {}
        self._crowds: dict[str, Any] = {}
        self._casting: Any = None

    @staticmethod
    def is_simulated(device: Device) -> bool:
        return device.simulator is not None

    def start(self) -> None:
        try:
            for room in self.rig.rooms:
                for index, device in enumerate(room.devices):
                    if device.simulator is not None:
                        self._running[(room.id, index)] = self._start_one(room.id, device)
            if self._casting is not None:
                self._casting.wait()
        except Exception:
            self.stop()
            raise

    def _start_one(self, room_id: str, device: Device) -> Any:
        spec = dict(device.simulator or {})
        kind = spec.pop("kind", None)
        touch = spec.pop("touch", None)
        crowd_spec = spec.pop("crowd", None)
        casting = spec.pop("casting", None)
        if kind in _NOT_NETWORK or (device.simulator or {}).get("serial_line"):
            host, port = "127.0.0.1", 0
            # the prepared recording must match what the suite will play and record
            for knob in _ALSA_SHARED:
                if knob in device.options:
                    spec.setdefault(knob, device.options[knob])
        else:
            host, port = _split_host_port(device.address)
        if kind == "table" and device.driver.startswith("table:"):
            spec.setdefault("table", device.options.get("table_file") or device.driver[6:])
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise SimulatorError(
                f"{self.rig.path}:{device.line}: simulated device {device.label} must use a "
                f"loopback address (127.0.0.1), got {host} / 模拟设备只能使用本机回环地址"
            )
        factory = _FACTORIES.get(str(kind))
        if factory is None:
            raise SimulatorError(
                f"{self.rig.path}:{device.line}: unknown simulator kind {kind!r}; known: "
                f"{', '.join(SIMULATOR_KINDS)} / 未知的模拟器类型"
            )
        password = None
        if device.password_env:
            # The simulator's own secret: the harness made it, so it may set it.
            password = os.environ.setdefault(device.password_env, secrets.token_hex(8))
        serial_line = bool(spec.pop("serial_line", False))
        if serial_line:
            host, port = "127.0.0.1", 0
        try:
            sim = factory(host, port, password, spec)
            if serial_line:
                sim = _SerialSim(sim, int(device.options.get("baudrate", 9600)))
        except TypeError as exc:
            raise SimulatorError(
                f"{self.rig.path}:{device.line}: simulator {kind}: {exc} - check the knob "
                f"names in the device's simulator table / 模拟器参数错误"
            ) from exc
        crowd = self._start_crowd(device, crowd_spec) if crowd_spec is not None else None
        try:
            sim.start()
        except Exception:
            if crowd is not None:
                crowd.stop()
            raise
        if crowd is not None:
            self._crowds[room_id] = crowd
            if callable(getattr(sim, "follow", None)):
                sim.follow(crowd_station_provider(crowd))
        if touch is not None:
            self._touch[room_id] = _touch_panel(dict(touch))
        if casting is not None:
            self._advertise(room_id, device, casting)
        return sim

    def _advertise(self, room_id: str, device: Device, protocols: Any) -> None:
        from classcert.rigs.simulators.casting_sim import CastingAdvertiser

        if not isinstance(protocols, list) or not all(isinstance(p, str) for p in protocols):
            raise SimulatorError(f"{self.rig.path}:{device.line}: 'casting' in the simulator "
                                 f"table must list protocols, e.g. casting = [\"airplay\"] / "
                                 f"casting 应为投屏协议列表")
        if self._casting is None:
            self._casting = CastingAdvertiser()
        try:
            self._casting.add(room_id, device.name or device.role, protocols, 7000)
        except ValueError as exc:
            raise SimulatorError(f"{self.rig.path}:{device.line}: casting: {exc}") from exc

    def _start_crowd(self, device: Device, spec: Any) -> Any:
        if not isinstance(spec, dict):
            raise SimulatorError(
                f"{self.rig.path}:{device.line}: 'crowd' in the simulator table must be a table "
                f"of crowd knobs, e.g. crowd = {{ devices = 24 }} / crowd 应为参数表")
        try:
            crowd = _crowd("127.0.0.1", 0, None, dict(spec))
        except (TypeError, ValueError) as exc:
            raise SimulatorError(
                f"{self.rig.path}:{device.line}: crowd simulator: {exc} - check the knob names "
                f"in the device's crowd table / 模拟终端参数错误") from exc
        try:
            crowd.start()
        except (OSError, RuntimeError) as exc:
            raise SimulatorError(
                f"{self.rig.path}:{device.line}: the emulated crowd could not start: {exc} / "
                f"模拟终端无法启动") from exc
        return crowd

    def crowd(self, room_id: str) -> Any | None:
        """The emulated crowd of a room's Wi-Fi (a ``crowd`` sub-table, or simulator kind
        "crowd"), if any."""
        if room_id in self._crowds:
            return self._crowds[room_id]
        for (rid, _index), sim in self._running.items():
            if rid == room_id and type(sim).__name__ == "CrowdSim":
                return sim
        return None

    def touch_panel(self, room_id: str) -> Any | None:
        """The simulated panel browser of a room's display, if the rig gives it one."""
        return self._touch.get(room_id)

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
        for panel in self._touch.values():
            try:
                panel.stop()
            except Exception:  # noqa: BLE001
                pass
        self._touch.clear()
        for crowd in self._crowds.values():
            try:
                crowd.stop()
            except Exception:  # noqa: BLE001
                pass
        self._crowds.clear()
        casting, self._casting = self._casting, None
        if casting is not None:
            casting.stop()

    def __enter__(self) -> SimulatorPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
