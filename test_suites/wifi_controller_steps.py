"""The classroom's Wi-Fi controller during the crowd test. Not collected as tests.

The room's wifi device names the controller in ``driver``: ``unifi``, ``omada``,
``snmp-wireless`` or ``none`` (no controller: the crowd's count is not cross-checked, and the
detail says so; the same for a driver that is no controller driver, e.g. ``snmp``).
Options ``ssid`` and ``aps`` say which of the controller's clients are the room's;
``timeout_s`` (default 5) bounds every request. :class:`ControllerSampler` reads the
controller's clients on a background thread in the middle of the downlink and of the uplink
window, so the crowd never waits for the controller.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from classcert.device_drivers.errors import DeviceError
from classcert.device_drivers.registry import WIFI_CONTROLLERS, ControllerFactory
from classcert.fixtures.devices import MissingSecret, device_password
from classcert.wifi_crosscheck import ControllerSample, RoomScope

NO_CONTROLLER = "none"
DEFAULT_TIMEOUT_S = 5.0
MAX_TIMEOUT_S = 60.0
REQUESTS_PER_READ = 4  # e.g. UniFi: probe, login, stat/device, stat/sta


class ControllerProblem(Exception):
    """The rig's controller settings cannot work: wifi.capacity is not measured."""

    def __init__(self, message_en: str, message_zh: str) -> None:
        self.message_en, self.message_zh = message_en, message_zh
        super().__init__(f"{message_en} / {message_zh}")


@dataclass(frozen=True)
class ControllerPlan:
    """Which controller to read, how, and which of its clients are the room's."""

    driver: str
    address: str
    password: str | None = field(repr=False)
    timeout_s: float
    options: dict[str, Any]
    scope: RoomScope

    def describe(self) -> dict[str, Any]:
        return {"driver": self.driver, "address": self.address, "timeout_s": self.timeout_s,
                "ssid": self.scope.ssid, "aps": list(self.scope.aps or ())}


def _fix(en: str, zh: str) -> ControllerProblem:
    return ControllerProblem(
        f"{en}; or set driver = \"none\" on the room's wifi device to measure without the "
        f"controller cross-check",
        f"{zh}；或将无线设备的 driver 设为 \"none\"，不做控制器核对")


def no_controller_note(wifi: Any | None) -> tuple[str, str]:
    """Why the crowd count is not cross-checked (en, zh)."""
    if wifi is None or wifi.driver.strip().lower() == NO_CONTROLLER:
        return ("no Wi-Fi controller configured (driver \"none\"): the count is not "
                "cross-checked", "未配置无线控制器（driver 为 none），未核对数量")
    known = ", ".join(WIFI_CONTROLLERS)
    return (f"the wifi device's driver {wifi.driver!r} is not a Wi-Fi controller driver "
            f"({known}): the count is not cross-checked",
            f"无线设备的 driver {wifi.driver!r} 不是无线控制器驱动（{known}），未核对数量")


def controller_plan(ctx: Any, room: Any, wifi: Any | None) -> ControllerPlan | None:
    """The room's controller plan; None when the wifi device names no controller driver
    (``none``, or a driver that is not one: see :func:`no_controller_note`);
    ControllerProblem when the controller's settings cannot work."""
    driver = "" if wifi is None else wifi.driver.strip().lower()
    if driver not in WIFI_CONTROLLERS:
        return None
    opts = dict(wifi.options)
    ssid = opts.get("ssid")
    aps = opts.get("aps")
    if isinstance(aps, str):
        aps = [aps]
    if ssid is not None and (not isinstance(ssid, str) or not ssid.strip()):
        raise _fix(f"options.ssid must be the classroom's SSID as text, got {ssid!r}",
                   "options.ssid 应为教室 SSID 文本")
    if aps is not None and (not isinstance(aps, list) or not aps
                            or not all(isinstance(a, str) and a.strip() for a in aps)):
        raise _fix(f"options.aps must list the room's AP names or MACs, got {aps!r}",
                   "options.aps 应列出本教室 AP 的名称或 MAC")
    raw = opts.get("timeout_s", DEFAULT_TIMEOUT_S)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw <= MAX_TIMEOUT_S:
        raise _fix(f"options.timeout_s must be a number of seconds in (0, {MAX_TIMEOUT_S:g}], "
                   f"got {raw!r}", f"options.timeout_s 应为 0 到 {MAX_TIMEOUT_S:g} 秒")
    try:
        password = device_password(wifi)
    except MissingSecret as exc:
        raise _fix(exc.message_en, exc.message_zh) from None
    return ControllerPlan(driver, ctx.device_address(room, wifi), password, float(raw), opts,
                          RoomScope(ssid.strip() if ssid else None,
                                    tuple(a.strip() for a in aps) if aps else None))


def sample_times(schedule: Any) -> list[tuple[str, float, float]]:
    """(label, monotonic time, seconds after the downlink opened): each window's middle."""
    t0 = schedule.down.start
    down = (schedule.down.start + schedule.down.end) / 2
    up = (schedule.up.start + schedule.up.end) / 2
    return [("down", down, down - t0), ("up", up, up - t0)]


def _describe_error(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, DeviceError):
        return str(exc.message_en), str(exc.message_zh or exc.message_en)
    return f"{type(exc).__name__}: {exc}", f"{type(exc).__name__}：{exc}"


class ControllerSampler:
    """Reads the controller on its own thread: once at start (connect, identity), then at
    each scheduled time. Every step is bounded by the driver's timeouts; ``finish`` waits
    at most ``budget_s`` after the last scheduled time."""

    def __init__(self, plan: ControllerPlan, factory: ControllerFactory | None = None) -> None:
        self.plan = plan
        self.factory = factory or WIFI_CONTROLLERS[plan.driver]
        self.budget_s = REQUESTS_PER_READ * plan.timeout_s
        self.identity: dict[str, Any] = {}
        self.precheck_error: tuple[str, str] | None = None
        self.samples: list[ControllerSample] = []
        self._times: list[tuple[str, float, float]] | None = None
        self._scheduled = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="wifi-controller-sampler",
                                        daemon=True)
        self._driver: Any = None

    def start(self) -> ControllerSampler:
        self._thread.start()
        return self

    def schedule(self, times: list[tuple[str, float, float]]) -> None:
        self._times = list(times)
        self._scheduled.set()

    def finish(self) -> list[ControllerSample]:
        """The samples, one per scheduled time; a read still running past its budget is a
        timeout sample (the thread is left to end by its own timeouts)."""
        times = self._times or []
        last = max((t for _, t, _ in times), default=time.monotonic())
        self._thread.join(max(0.0, last + self.budget_s - time.monotonic()))
        self._stop.set()
        with self._lock:
            got = {s.label: s for s in self.samples}
        out = []
        for label, _, at_s in times:
            out.append(got.get(label) or ControllerSample(
                label, round(at_s, 3), error_en=f"the controller did not answer within "
                f"{self.budget_s:g} s ({REQUESTS_PER_READ} x options.timeout_s)",
                error_zh=f"控制器在 {self.budget_s:g} 秒内未应答"))
        return out

    def stop(self) -> None:
        self._stop.set()
        self._scheduled.set()
        self._thread.join(timeout=self.budget_s + 1)

    # ------------------------------------------------------------------ thread
    def _run(self) -> None:
        try:
            self._precheck()
            self._scheduled.wait(timeout=3600)
            for label, due, at_s in list(self._times or []):
                if self._stop.is_set() or self._stop.wait(max(0.0, due - time.monotonic())):
                    return
                t0 = time.monotonic()
                sample = self._read(label, round(at_s + (t0 - due), 3))
                with self._lock:
                    self.samples.append(sample)
        finally:
            self._close()

    def _open(self) -> Any:
        if self._driver is None:
            self._driver = self.factory(self.plan.address, self.plan.password,
                                        self.plan.timeout_s, dict(self.plan.options))
        return self._driver

    def _close(self) -> None:
        driver, self._driver = self._driver, None
        if driver is not None:
            try:
                driver.close()
            except Exception:  # noqa: BLE001 - closing must not hide the samples
                pass

    def _precheck(self) -> None:
        try:
            driver = self._open()
            if hasattr(driver, "connect"):
                driver.connect()
            if hasattr(driver, "identity"):
                self.identity = dict(driver.identity())
            elif getattr(driver, "vendor_map", None) is not None:
                vm = driver.vendor_map
                self.identity = {"vendor": vm.vendor, "product": vm.title, "mib": vm.mib}
        except (DeviceError, ValueError, OSError) as exc:
            self.precheck_error = _describe_error(exc)
            self._close()  # the samples try again from scratch

    def _read(self, label: str, at_s: float) -> ControllerSample:
        try:
            driver = self._open()
            if hasattr(driver, "walk_columns"):  # SNMP: the walk has its own time budget
                found = driver.clients(time_budget_s=self.budget_s)
            else:
                found = driver.clients()
            return ControllerSample(label, at_s, tuple(found))
        except (DeviceError, ValueError, OSError) as exc:
            en, zh = _describe_error(exc)
            return ControllerSample(label, at_s, error_en=en, error_zh=zh)


def unreadable_reason(plan: ControllerPlan, samples: list[ControllerSample]) -> tuple[str, str]:
    """Why wifi.capacity is not measured when the controller could not be read."""
    bad = [s for s in samples if not s.ok] or samples
    first = bad[0] if bad else None
    why_en = first.error_en if first else "no sample was taken"
    why_zh = (first.error_zh or why_en) if first else "未采样"
    which = ", ".join(f"{s.label}link" for s in bad) or "every"
    return (
        f"the Wi-Fi controller ({plan.driver} at {plan.address}) could not be read during the "
        f"{which} window ({why_en}), so the crowd count could not be confirmed; check the "
        f"controller's address, credentials (password_env) and options.timeout_s, or set "
        f"driver = \"none\" on the room's wifi device to measure without the cross-check",
        f"测试期间无法读取无线控制器（{plan.driver}，{plan.address}）：{why_zh}；无法核对并发数量。"
        f"请检查控制器地址、凭据（password_env）和 options.timeout_s，或将无线设备的 driver "
        f"设为 \"none\"，不做控制器核对",
    )
