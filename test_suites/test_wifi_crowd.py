"""Wi-Fi crowd test (无线并发实测), measured with the class's own devices.

The harness serves the crowd page on the classroom network; the operator shows its QR code and
every device that opens it joins the session. At the harness's signal all joined devices run a
rate-capped downlink and then a rate-capped uplink in common windows. ``wifi.capacity`` is the
number of devices that passed traffic both ways in those windows; ``wifi.per_client`` the
minimum per-device received rate over both directions. The catalog judges both.

When the room's wifi device names a Wi-Fi controller (driver unifi, omada or snmp-wireless),
its client list is read in the middle of each window and ``wifi.capacity`` counts only the
completed devices the controller confirms associated to the room's SSID/APs; disagreements
are reported. A controller that cannot be read leaves ``wifi.capacity`` unmeasured (ERROR);
``driver = "none"`` measures without the cross-check.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from classcert.crowd import CrowdResult, target_devices
from classcert.crowd_server import (
    MAX_DEVICES,
    MAX_LEAD_S,
    MAX_RATE_MBPS,
    MAX_WINDOW_S,
    CrowdServer,
)
from classcert.fixtures.devices import NotTested, Unmeasurable
from classcert.lan import lan_address
from classcert.qr import qr_svg, qr_text
from classcert.test_suites import wifi_controller_steps as ctl
from classcert.wifi_crosscheck import cross_check, with_controller_bands
from classcert.wifi_crosscheck import details as check_details
from classcert.wifi_crosscheck import to_json as check_json

CAPACITY = "wifi.capacity"
PER_CLIENT = "wifi.per_client"
ROLE = "wifi"
DEFAULT_JOIN_S = 300.0
DEFAULT_WINDOW_S = 20.0
DEFAULT_RATE_MBPS = 4.2  # offered per device: slightly above the 4 Mbps floor, never uncapped
LEAD_S = 3.0  # the page polls every second: every device learns of the start in time
PROGRESS_EVERY_S = 5.0
_GENERATOR_ZH = {"real devices": "真实终端", "emulated": "模拟终端"}


def _options(room: Any) -> tuple[Any | None, dict[str, Any]]:
    wifi = next((d for d in room.devices if d.role == ROLE), None)
    return wifi, dict(wifi.options) if wifi is not None else {}


def _number(opts: dict[str, Any], name: str, default: float, high: float) -> float:
    raw = opts.get(name, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = -1.0
    if isinstance(raw, bool) or not 0 < value <= high or math.isnan(value):
        raise Unmeasurable(
            f"options.{name} of the room's wifi device must be a number in (0, {high:g}], got "
            f"{raw!r}; fix the rig",
            f"场地文件中无线设备的 options.{name} 应为 0 到 {high:g} 之间的数，请修改",
        )
    return value


def _host_of(address: str) -> str | None:
    text = address.strip()
    if "://" in text:
        return urlsplit(text).hostname or None
    if text.startswith("["):
        return text[1:text.find("]")] or None if "]" in text else None
    if re.fullmatch(r"[^:]+:\d+", text):
        return text.split(":", 1)[0]
    return text or None


def _bind_host(ctx: Any, room: Any, wifi: Any, opts: dict[str, Any], crowd: Any) -> str:
    if opts.get("crowd_bind"):
        return str(opts["crowd_bind"])
    if crowd is not None:  # an emulated crowd says where it can reach the server
        return str(getattr(crowd, "bind_host", None) or "127.0.0.1")
    host = None if wifi is None else _host_of(ctx.device_address(room, wifi))
    try:
        if host is None:
            raise OSError("the room has no networked wifi device in the rig")
        return lan_address(host)
    except OSError as exc:
        raise Unmeasurable(
            f"cannot tell which address of this computer the classroom Wi-Fi reaches ({exc}); "
            f"connect this computer to the classroom network or set options.crowd_bind "
            f"(this computer's LAN IP) on the room's wifi device",
            f"无法确定教室无线网络可访问的本机地址（{exc}）；请接入教室网络，或在场地文件中为"
            f"无线设备设置 options.crowd_bind（本机局域网 IP）",
        ) from None


def _target(ctx: Any, room: Any) -> int:
    """N from the catalog's resolved wifi.capacity limit; ceil(1.2 x seats) if absent."""
    for rr in ctx.resolved_for_key(room, CAPACITY):
        if isinstance(rr.limit, (int, float)) and not isinstance(rr.limit, bool):
            return max(1, min(MAX_DEVICES, math.ceil(rr.limit)))
    return max(1, min(MAX_DEVICES, target_devices(room.seats)))


def _wait_for_joins(session: Any, operator: Any, target: int, join_s: float) -> int:
    deadline = time.monotonic() + join_s
    shown = -1
    for _ in range(int(join_s / 0.5) + 2):
        joined = session.wait_joined(target, min(PROGRESS_EVERY_S, deadline - time.monotonic()))
        if joined != shown:
            shown = joined
            operator.notify(f"Wi-Fi crowd test: {joined} / {target} devices joined",
                            f"无线并发测试：已加入 {joined} / {target} 台设备")
        if joined >= target or time.monotonic() >= deadline:
            return joined
    return session.joined()


def _details(result: CrowdResult) -> tuple[str, str]:
    down, up = result.stats("down"), result.stats("up")

    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    kinds = ", ".join(result.load_generators)
    kinds_zh = "、".join(_GENERATOR_ZH.get(k, k) for k in result.load_generators)
    known = {b: n for b, n in result.bands.items() if b != "unknown"}
    bands_en = "; bands: " + ", ".join(f"{b} GHz {n}" for b, n in known.items()) if known else ""
    bands_zh = "；频段：" + "，".join(f"{b} GHz {n} 台" for b, n in known.items()) if known else ""
    en = (f"{result.capacity} of {len(result.devices)} joined devices (target {result.target}) "
          f"passed traffic both ways in the same {result.window_s:g} s windows at "
          f"{result.rate_mbps:g} Mbps offered; downlink min/median {fmt(down.min_mbps)}/"
          f"{fmt(down.median_mbps)} Mbps, uplink {fmt(up.min_mbps)}/{fmt(up.median_mbps)} Mbps; "
          f"load generator: {kinds}{bands_en}")
    zh = (f"已加入 {len(result.devices)} 台（目标 {result.target}），其中 {result.capacity} 台在"
          f"同一 {result.window_s:g} 秒窗口内完成上下行（每台提供 {result.rate_mbps:g} Mbps）；"
          f"下行最小/中位 {fmt(down.min_mbps)}/{fmt(down.median_mbps)} Mbps，上行 "
          f"{fmt(up.min_mbps)}/{fmt(up.median_mbps)} Mbps；负载来源：{kinds_zh}{bands_zh}")
    return en, zh


def _start_server(host: str, port: int, crowd: Any) -> CrowdServer:
    """The crowd server; inside the emulated network when the crowd has one."""
    server = CrowdServer(host, port)
    runner = getattr(crowd, "run_in_network", None)
    if callable(runner):
        runner(server.start)
    else:
        server.start()
    return server


def _emulation(crowd: Any) -> dict[str, Any] | None:
    """The emulated classroom's description (network namespaces), if the crowd runs in one."""
    classroom = getattr(crowd, "classroom", None)
    describe = getattr(classroom, "describe", None)
    return describe() if callable(describe) else None


def _plan(ctx: Any, room: Any, wifi: Any) -> tuple[Any, tuple[str, str] | None]:
    try:
        return ctl.controller_plan(ctx, room, wifi), None
    except ctl.ControllerProblem as exc:
        return None, (exc.message_en, exc.message_zh)


def _measure_capacity(measure: Any, result: CrowdResult, wifi: Any, plan: Any,
                      problem: tuple[str, str] | None, samples: list[Any],
                      identity: dict[str, Any], qr_path: Any,
                      emulation: dict[str, Any] | None = None) -> tuple[CrowdResult, Any]:
    """Record wifi.capacity (cross-checked when a controller is configured) and the crowd
    evidence; returns the result with bands filled from the controller, and its evidence."""
    check = cross_check(result, samples, plan.scope) if plan is not None and not problem else None
    paths = []
    if check is not None:
        result = with_controller_bands(result, check)
        paths.append(measure.write_evidence("wifi-controller.json", check_json(
            check, {**plan.describe(), "identity": identity})))
    crowd_doc = result.to_json()
    if emulation is not None:  # the emulated classroom's topology and shaping
        crowd_doc["emulated_network"] = emulation
    paths.insert(0, measure.write_evidence("wifi-crowd.json", crowd_doc))
    if CAPACITY not in measure.keys:
        return result, paths[0]
    en, zh = _details(result)
    if problem is not None:
        measure.unmeasurable(CAPACITY, *problem)
    elif check is None:
        n_en, n_zh = ctl.no_controller_note(wifi)
        measure(CAPACITY, result.capacity, unit="clients", evidence=[*paths, qr_path],
                detail_en=f"{en}; {n_en}", detail_zh=f"{zh}；{n_zh}")
    elif not check.measurable:
        measure.unmeasurable(CAPACITY, *ctl.unreadable_reason(plan, samples))
    else:
        c_en, c_zh = check_details(check, plan.driver)
        measure(CAPACITY, check.confirmed, unit="clients", evidence=[*paths, qr_path],
                detail_en=f"{en}; {c_en}", detail_zh=f"{zh}；{c_zh}")
    return result, paths[0]


@pytest.mark.requirement(CAPACITY, PER_CLIENT)
def test_wifi_crowd(classcert_campaign, room, operator, measure):
    ctx = classcert_campaign
    wifi, opts = _options(room)
    factory = getattr(ctx.pool, "crowd", None)
    crowd = factory(room.id) if callable(factory) else None
    if crowd is None and not getattr(operator, "interactive", True) and "crowd_join_s" not in opts:
        raise NotTested(
            "non-interactive run and no simulated crowd: nobody was asked to join devices; run "
            "at a terminal, or set options.crowd_join_s on the room's wifi device to wait anyway",
            "非交互运行且无模拟终端：无人组织设备加入；请在终端中运行，或为无线设备设置 "
            "options.crowd_join_s 以等待加入",
        )
    join_s = _number(opts, "crowd_join_s", DEFAULT_JOIN_S, 3600)
    window_s = _number(opts, "crowd_window_s", DEFAULT_WINDOW_S, MAX_WINDOW_S)
    rate = _number(opts, "crowd_rate_mbps", DEFAULT_RATE_MBPS, MAX_RATE_MBPS)
    lead_s = max(1.0, _number(opts, "crowd_lead_s", LEAD_S, MAX_LEAD_S))
    target = _target(ctx, room)
    host = _bind_host(ctx, room, wifi, opts, crowd)
    plan, problem = _plan(ctx, room, wifi)
    try:
        server = _start_server(host, int(opts.get("crowd_port", 0)), crowd)
    except (OSError, ValueError) as exc:
        raise Unmeasurable(
            f"cannot start the crowd-test web server on {host}: {exc}; check options.crowd_bind "
            f"and options.crowd_port of the room's wifi device",
            f"无法在 {host} 上启动无线并发测试网页服务：{exc}；请检查 crowd_bind/crowd_port",
        ) from None
    if problem is not None:
        operator.notify(f"wifi.capacity will not be measured: {problem[0]}",
                        f"无线并发数量将无法测试：{problem[1]}")
    sampler = ctl.ControllerSampler(plan).start() if plan is not None else None
    samples: list[Any] = []
    emulation: dict[str, Any] | None = None
    try:
        session = server.new_session(room.id, target)
        qr_path = measure.write_evidence("wifi-crowd-qr.svg", qr_svg(session.url))
        operator.notify(
            f"Wi-Fi crowd test, room {room.id}: have {target} devices on the classroom Wi-Fi "
            f"open {session.url} (scan the QR code). Waiting up to {join_s:g} s for joins; "
            f"keep the pages open until they say done.\n{qr_text(session.url)}",
            f"无线并发测试（教室 {room.id}）：请让 {target} 台连接教室无线网络的设备扫码打开 "
            f"{session.url}，最多等待 {join_s:g} 秒，页面显示“完成”前请保持打开。",
        )
        if crowd is not None:
            crowd.join(session.url)
            emulation = _emulation(crowd)
        joined = _wait_for_joins(session, operator, target, join_s)
        if joined == 0:
            raise Unmeasurable(
                f"no device joined within {join_s:g} s: open the URL on devices connected to "
                f"the classroom Wi-Fi, then run this room again",
                f"{join_s:g} 秒内没有设备加入：请在连接教室无线网络的设备上打开网址后重新测试",
            )
        if sampler is not None and sampler.precheck_error is not None:
            operator.notify(
                f"Wi-Fi controller not readable yet ({sampler.precheck_error[0]}); it is "
                f"tried again during the test",
                f"暂时无法读取无线控制器（{sampler.precheck_error[1]}），测试中将重试")
        schedule = session.start(window_s, rate, lead_s=lead_s)
        if sampler is not None:
            sampler.schedule(ctl.sample_times(schedule))
        operator.notify(f"Wi-Fi crowd test running with {joined} devices ({2 * window_s:g} s)",
                        f"无线并发测试进行中：{joined} 台设备（约 {2 * window_s:g} 秒）")
        session.wait_done(lead_s + 2 * window_s + 10)
        result = session.result()
        if sampler is not None:
            samples = sampler.finish()
    finally:
        if sampler is not None:
            sampler.stop()
        if crowd is not None:
            crowd.stop()
        server.stop()
    identity = sampler.identity if sampler is not None else {}
    result, evidence = _measure_capacity(measure, result, wifi, plan, problem, samples,
                                         identity, qr_path, emulation)
    en, zh = _details(result)
    if PER_CLIENT in measure.keys:
        low = result.per_client_min_mbps
        if low is None:
            measure.unmeasurable(
                PER_CLIENT, "no device completed both directions in the window, so no "
                "per-device rate could be measured",
                "没有设备在测试窗口内完成上下行，无法测得单机速率")
        else:
            measure(PER_CLIENT, round(low, 3), unit="Mbps", evidence=[evidence],
                    detail_en=en, detail_zh=zh)
