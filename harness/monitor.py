"""Poll every classroom display of a rig for its power state and lamp hours, on a schedule.

One poll cycle reads all displays in parallel and is bounded in time: a display that does not
answer within the cycle budget gets an ``unknown`` sample, never ``off``. Samples go to a
:class:`~classcert.monitor_store.MonitorStore`; a restarted monitor appends to the same file
and the time it was not running stays unknown. The clock and the sleep are injectable, so
tests can run days of monitoring in a second.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Any

from classcert.device_drivers.display import DisplayControl, PowerState
from classcert.device_drivers.errors import DeviceError
from classcert.device_drivers.registry import open_display
from classcert.model import Device, Rig
from classcert.monitor_store import MonitorSample, MonitorStore

Clock = Callable[[], dt.datetime]
DEFAULT_INTERVAL_S = 300.0
DEFAULT_TIMEOUT_S = 5.0
MAX_WORKERS = 16

# A display warming up has been switched on; one cooling down has been switched off.
_STATE_OF = {PowerState.ON: "on", PowerState.WARMING: "on",
             PowerState.OFF: "off", PowerState.COOLING: "off"}


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class MonitorConfigError(Exception):
    """The monitor cannot start as configured (no displays, secrets not set, bad interval)."""


@dataclass(frozen=True)
class PollTarget:
    """The display of one room: the rig device and the address to connect to."""

    room_id: str
    device: Device
    address: str


def display_targets(rig: Rig, rooms: Sequence[str] = (),
                    address_of: Callable[[str, int, Device], str] | None = None
                    ) -> list[PollTarget]:
    """The first role="display" device of every room (of ``rooms`` only, when given).

    ``address_of(room_id, device_index, device)`` maps simulated devices to their real
    address (see ``SimulatorPool.address``); default: the rig's address.
    """
    unknown = [r for r in rooms if r not in {x.id for x in rig.rooms}]
    if unknown:
        raise MonitorConfigError(
            f"{rig.path}: no room with id {', '.join(unknown)}; rooms in the rig: "
            f"{', '.join(r.id for r in rig.rooms)} / 场地文件中没有该教室")
    targets = []
    for room in rig.rooms:
        if rooms and room.id not in rooms:
            continue
        displays = room.devices_with_role("display")
        if not displays:
            continue
        device = displays[0]
        index = room.devices.index(device)
        address = address_of(room.id, index, device) if address_of else device.address
        targets.append(PollTarget(room.id, device, address))
    if not targets:
        raise MonitorConfigError(
            f"{rig.path}: no room has a device with role = \"display\"; nothing to monitor / "
            f"场地文件中没有显示设备，无可监测对象")
    return targets


def device_passwords(targets: Sequence[PollTarget]) -> dict[str, str | None]:
    """Device label -> password from its ``password_env``; all missing ones in one error."""
    out: dict[str, str | None] = {}
    missing = []
    for t in targets:
        env = t.device.password_env
        out[t.device.label] = os.environ.get(env) if env else None
        if env and out[t.device.label] is None:
            missing.append(f"{env} ({t.room_id})")
    if missing:
        raise MonitorConfigError(
            f"environment variables not set: {', '.join(missing)}; set each to its display's "
            f"password before starting the monitor / 未设置以下环境变量（显示设备密码）："
            f"{', '.join(missing)}")
    return out


def read_display(target: PollTarget, password: str | None, clock: Clock,
                 timeout_s: float = DEFAULT_TIMEOUT_S, interval_s: float = 0.0,
                 opener: Callable[..., DisplayControl] = open_display) -> MonitorSample:
    """One sample of one display. Any failure gives state ``unknown`` with the reason."""
    device = target.device
    options: dict[str, Any] = dict(device.options)
    timeout = float(options.pop("timeout_s", timeout_s))

    def sample(state: str, **kw: Any) -> MonitorSample:
        return MonitorSample(target.room_id, device.label, clock(), state,
                             interval_s=interval_s, **kw)

    try:
        display = opener(device.driver, target.address, password, timeout, options)
    except ValueError as exc:
        return sample("unknown", error=f"driver setup: {exc}")
    try:
        power = display.get_power()
        at = clock()
        lamps: tuple[int, ...] | None = None
        note = None
        try:
            lamps = tuple(hours for hours, _lit in display.lamp_hours())
        except DeviceError as exc:
            note = f"lamp hours unreadable / 无法读取灯泡时长: {exc}"
        return MonitorSample(target.room_id, device.label, at, _STATE_OF[power], power.value,
                             lamps, note, interval_s)
    except DeviceError as exc:
        return sample("unknown", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - one faulty driver must not stop the monitor
        return sample("unknown", error=f"harness fault / 工具内部错误: {type(exc).__name__}: "
                                       f"{exc}")
    finally:
        display.close()


@dataclass
class RunStats:
    run_id: int = 0
    cycles: int = 0
    samples: int = 0
    unknown: int = 0
    interrupted: bool = False  # by Ctrl-C, a signal or stop(), not by duration/max_cycles


class Monitor:
    """Polls ``targets`` into ``store`` every ``interval_s`` seconds.

    ``clock()`` returns the aware current time and ``sleep(seconds)`` waits; both default to
    the real ones (the default sleep returns early when :meth:`stop` is called).
    ``cycle_timeout_s`` bounds one poll cycle (default: four driver timeouts plus 2 s).
    """

    def __init__(self, targets: Sequence[PollTarget], store: MonitorStore, *,
                 interval_s: float = DEFAULT_INTERVAL_S, timeout_s: float = DEFAULT_TIMEOUT_S,
                 cycle_timeout_s: float | None = None, clock: Clock = utc_now,
                 sleep: Callable[[float], Any] | None = None,
                 on_cycle: Callable[[list[MonitorSample]], Any] | None = None,
                 opener: Callable[..., DisplayControl] = open_display) -> None:
        if not interval_s > 0 or not timeout_s > 0:
            raise MonitorConfigError(
                f"interval ({interval_s} s) and timeout ({timeout_s} s) must be greater than 0 "
                f"/ 轮询间隔和超时必须大于 0")
        self.targets = list(targets)
        self.store = store
        self.interval_s = float(interval_s)
        self.timeout_s = float(timeout_s)
        self.cycle_timeout_s = cycle_timeout_s or 4 * self.timeout_s + 2.0
        self.clock = clock
        self._stop = threading.Event()
        self.sleep = sleep or self._stop.wait
        self.on_cycle = on_cycle
        self.opener = opener
        self._passwords = device_passwords(self.targets)
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(MAX_WORKERS, len(self.targets))),
                                        thread_name_prefix="classcert-monitor")
        self._running: dict[str, Future[MonitorSample]] = {}

    # ------------------------------------------------------------ one cycle -----------
    def poll_once(self) -> list[MonitorSample]:
        """Read every display once (in parallel, bounded in time) and store the samples."""
        started: dict[str, Future[MonitorSample]] = {}
        samples: list[MonitorSample] = []
        for t in self.targets:
            key = f"{t.room_id}\0{t.device.label}"
            previous = self._running.get(key)
            if previous is not None and not previous.done():
                samples.append(self._unknown(
                    t, "the previous poll of this display has not finished / 上一次轮询尚未结束"))
                continue
            started[key] = self._pool.submit(
                read_display, t, self._passwords[t.device.label], self.clock, self.timeout_s,
                self.interval_s, self.opener)
        self._running.update(started)
        wait_futures(list(started.values()), timeout=self.cycle_timeout_s)
        for t in self.targets:
            future = started.get(f"{t.room_id}\0{t.device.label}")
            if future is None:
                continue
            if future.done():
                samples.append(future.result())
            else:
                samples.append(self._unknown(
                    t, f"no answer within {self.cycle_timeout_s:g} s / "
                       f"{self.cycle_timeout_s:g} 秒内无应答"))
        samples.sort(key=lambda s: (s.room_id, s.at))
        self.store.add_samples(samples)
        return samples

    def _unknown(self, target: PollTarget, why: str) -> MonitorSample:
        return MonitorSample(target.room_id, target.device.label, self.clock(), "unknown",
                             error=why, interval_s=self.interval_s)

    # ------------------------------------------------------------ schedule ------------
    def run(self, *, duration_s: float | None = None, max_cycles: int | None = None,
            rig_path: str = "", calendar: dict[str, Any] | None = None) -> RunStats:
        """Poll on a fixed schedule until ``duration_s`` or ``max_cycles`` or stop/Ctrl-C.

        Cycles start at ``start + k * interval``; a cycle that overruns skips the missed slots.
        """
        stats = RunStats()
        start = self.clock()
        stats.run_id = self.store.begin_run(start, rig_path, self.interval_s, calendar or {})
        try:
            while not self._stop.is_set():
                samples = self.poll_once()
                stats.cycles += 1
                stats.samples += len(samples)
                stats.unknown += sum(s.state == "unknown" for s in samples)
                self.store.count_cycle(stats.run_id)
                if self.on_cycle is not None:
                    self.on_cycle(samples)
                if max_cycles is not None and stats.cycles >= max_cycles:
                    break
                slot = stats.cycles
                elapsed = (self.clock() - start).total_seconds()
                slot = max(slot, int(elapsed // self.interval_s) + 1)
                if duration_s is not None and slot * self.interval_s >= duration_s:
                    break
                # never more than one interval, even if the wall clock was set back meanwhile
                wait = min(slot * self.interval_s - elapsed, self.interval_s)
                if wait > 0:
                    self.sleep(wait)
            stats.interrupted = self._stop.is_set()
        except KeyboardInterrupt:
            stats.interrupted = True
        finally:
            self.store.end_run(stats.run_id, self.clock())
        return stats

    def stop(self) -> None:
        """Ask :meth:`run` to return after the cycle in progress (thread- and signal-safe)."""
        self._stop.set()

    def close(self) -> None:
        """Wait for polls still running (each bounded by the driver timeout)."""
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
