"""Steps of the iOS/Android teaching-software check (``mobile.os``), kept out of the test.

Settings come from the options of the room's wifi or display device (first one that sets
them), else from the profile, else from the defaults here:

* ``casting = { ios = "airplay", android = "lebo", discover_s = 3, interface = "10.0.0.5",
  match = "S201" }``: which casting method each OS must use (a name or a list of names from
  :data:`METHODS`), how long to browse mDNS, on which local address, and a text the
  room's own receivers have in their names;
* ``harmonyos_as_android = true``: a HarmonyOS 2-4 device may stand in for Android
  (default: no).
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from classcert.app_os import (
    ANDROID_SLOT,
    IOS_SLOT,
    SLOT_NAMES,
    SLOTS,
    SeenOS,
    check_slot,
    cross_check,
    parse_app,
    parse_stated_os,
    seen_devices,
)
from classcert.fixtures.devices import Unmeasurable
from classcert.fixtures.operator import APP_STEP_FIELDS, Attestation, RecordField
from classcert.model import Device, Room

KEY = "mobile.os"
RECORD_KEYS = {IOS_SLOT: f"{KEY}#ios", ANDROID_SLOT: f"{KEY}#android"}
METHODS = ("airplay", "googlecast", "lebo", "miracast")  # casting.SERVICE_TYPES protocols
DEFAULT_CASTING: dict[str, tuple[str, ...]] = {IOS_SLOT: ("airplay",), ANDROID_SLOT: ("lebo",)}
DEFAULT_DISCOVER_S = 3.0
MAX_DISCOVER_S = 30.0
CASTING_FIELDS = (*SLOTS, "discover_s", "interface", "match")
CROWD_EVIDENCE = "wifi-crowd.json"
DEVICE_EXAMPLES = {IOS_SLOT: "iPhone 15", ANDROID_SLOT: "Xiaomi Pad 6"}
OS_EXAMPLES = {IOS_SLOT: "iPadOS 17.5", ANDROID_SLOT: "Android 14"}


@dataclass(frozen=True)
class Settings:
    casting: dict[str, tuple[str, ...]]
    casting_from: str
    discover_s: float
    interface: str | None
    match: str
    harmony_as_android: bool
    harmony_from: str

    def as_json(self) -> dict[str, Any]:
        return {"casting": {k: list(v) for k, v in self.casting.items()},
                "casting_from": self.casting_from, "discover_s": self.discover_s,
                "interface": self.interface, "match": self.match,
                "harmonyos_as_android": self.harmony_as_android,
                "harmonyos_as_android_from": self.harmony_from}


def _option_source(room: Room, name: str) -> tuple[Any, str] | None:
    for device in [*room.devices_with_role("wifi"), *room.devices_with_role("display")]:
        if name in device.options:
            return device.options[name], f"rig: options.{name} of {device.label}"
    return None


def _rig_error(where: str, en: str, zh: str) -> Unmeasurable:
    return Unmeasurable(f"{where}: {en}; fix the rig", f"{where}：{zh}，请修改场地文件")


def _methods(where: str, slot: str, raw: Any) -> tuple[str, ...]:
    items = [raw] if isinstance(raw, str) else raw
    if (not isinstance(items, list) or not items
            or any(not isinstance(i, str) or i not in METHODS for i in items)):
        raise _rig_error(where, f"{slot} must be one of {', '.join(METHODS)} (or a list of "
                         f"them), got {raw!r}", f"{slot} 应为 {'/'.join(METHODS)} 之一")
    return tuple(items)


def settings_for(room: Room, profile: Any) -> Settings:
    """The room's settings (see the module docstring); Unmeasurable when the rig is wrong."""
    found = _option_source(room, "casting")
    if found:
        raw, src = found
    elif getattr(profile, "casting", None) is not None:
        raw, src = profile.casting, f"profile {getattr(profile, 'id', '')}"
    else:
        raw, src = {}, "default"
    where = src.removeprefix("rig: ")
    if not isinstance(raw, dict):
        raise _rig_error(where, "must be a table like { ios = \"airplay\", android = \"lebo\" }",
                         "应为表，如 { ios = \"airplay\", android = \"lebo\" }")
    unknown = sorted(set(raw) - set(CASTING_FIELDS))
    if unknown:
        raise _rig_error(where, f"unknown field(s) {', '.join(unknown)}; known: "
                         f"{', '.join(CASTING_FIELDS)}", f"未知字段 {', '.join(unknown)}")
    casting = {slot: _methods(where, slot, raw[slot]) if slot in raw else DEFAULT_CASTING[slot]
               for slot in SLOTS}
    if src != "default" and not set(SLOTS) <= set(raw):
        src += " (others default)"
    seconds = raw.get("discover_s", DEFAULT_DISCOVER_S)
    if (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
            or not 0 <= seconds <= MAX_DISCOVER_S):
        raise _rig_error(where, f"discover_s must be a number of seconds from 0 (off) to "
                         f"{MAX_DISCOVER_S:g}, got {seconds!r}",
                         f"discover_s 应为 0 到 {MAX_DISCOVER_S:g} 秒")
    interface = raw.get("interface")
    if interface is not None:
        try:
            interface = str(ipaddress.ip_address(str(interface)))
        except ValueError:
            raise _rig_error(where, f"interface must be an IP address of this computer, got "
                             f"{interface!r}", "interface 应为本机 IP 地址") from None
    match = raw.get("match", "")
    if not isinstance(match, str):
        raise _rig_error(where, f"match must be text, got {match!r}", "match 应为文本")
    harmony = _option_source(room, "harmonyos_as_android")
    if harmony:
        h_raw, h_src = harmony
    elif getattr(profile, "harmonyos_as_android", None) is not None:
        h_raw, h_src = profile.harmonyos_as_android, f"profile {getattr(profile, 'id', '')}"
    else:
        h_raw, h_src = False, "default"
    if not isinstance(h_raw, bool):
        raise _rig_error(h_src.removeprefix("rig: "), f"must be true or false, got {h_raw!r}",
                         "应为 true 或 false")
    return Settings(casting, src, float(seconds), interface, match, h_raw, h_src)


def record_fields(slot: str, harmony_as_android: bool) -> tuple[RecordField, ...]:
    """The app-step fields, with the OS version checked against the slot at the prompt."""
    def os_check(text: Any) -> tuple[str, str] | None:
        result = check_slot(slot, str(text), harmony_as_android)
        return None if result.ok else (result.reason_en, result.reason_zh)

    out = []
    for f in APP_STEP_FIELDS:
        if f.name == "device":
            f = replace(f, example=DEVICE_EXAMPLES[slot])
        elif f.name == "os_version":
            f = replace(f, example=OS_EXAMPLES[slot], check=os_check)
        out.append(f)
    return tuple(out)


# ---------------------------------------------------------------- crowd cross-check

def crowd_seen(ctx: Any, room: Room) -> tuple[dict[str, Any], list[SeenOS]]:
    """The OS labels of this campaign's latest crowd test in this room (its evidence file)."""
    latest: tuple[int, str, str] | None = None
    for m in ctx.store.measurements(ctx.campaign.id, room.id):
        for path, digest in m.evidence:
            if path.endswith(CROWD_EVIDENCE) and (latest is None or m.id > latest[0]):
                latest = (m.id, path, digest)
    if latest is None:
        return {"ran": False, "devices": []}, []
    doc = {"ran": True, "evidence": latest[1], "sha256": latest[2], "devices": []}
    try:
        seen = seen_devices(json.loads((ctx.out_dir / latest[1]).read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        return {**doc, "error": f"cannot read {latest[1]}: {exc}"}, []
    counts: dict[str, dict[str, int]] = {}
    for dev in seen:
        entry = counts.setdefault(dev.label, {"joined": 0, "completed": 0})
        entry["joined"] += 1
        entry["completed"] += 1 if dev.completed else 0
    doc["devices"] = [{"os": label, **n} for label, n in sorted(counts.items())]
    return doc, seen


def cross_checks(crowd: dict[str, Any], seen: list[SeenOS],
                 records: dict[str, Attestation | None]) -> dict[str, Any]:
    """Per record with a parsable OS: was that OS (and version) on the classroom Wi-Fi?"""
    out: dict[str, Any] = {}
    for slot, att in records.items():
        stated = parse_stated_os(str(att.value.get("os_version", ""))) if att else None
        if crowd["ran"] and stated is not None and stated.version:
            out[slot] = cross_check(stated, seen)
    return out


# ---------------------------------------------------------------- casting receivers

def _host_of(address: str) -> str | None:
    text = address.strip()
    if "://" in text:
        return urlsplit(text).hostname or None
    if text.startswith("/") or re.fullmatch(r"(?i)com\d+", text):
        return None  # a serial port
    if text.startswith("["):
        return text[1:text.find("]")] or None if "]" in text else None
    if re.fullmatch(r"[^:]+:\d+", text):
        return text.split(":", 1)[0]
    return text or None


def discovery_interface(ctx: Any, room: Room, settings: Settings) -> tuple[str | None, str]:
    """The local address to browse on, and why: never beyond loopback for a simulated room."""
    if settings.interface:
        return settings.interface, "rig option casting.interface"
    if any(d.simulator is not None for d in room.devices):
        return "127.0.0.1", "simulated room: loopback only"
    from classcert.lan import lan_address

    anchors: list[Device] = [*room.devices_with_role("wifi"), *room.devices_with_role("display")]
    for device in anchors:
        host = _host_of(ctx.device_address(room, device))
        if host is None:
            continue
        try:
            if ipaddress.ip_address(host).is_loopback:
                return "127.0.0.1", f"{device.label} is on loopback"
        except ValueError:
            pass
        try:
            return lan_address(host), f"the address that reaches {device.label} ({host})"
        except OSError:
            continue
    return None, ("no wifi or display device with a network address in this room; set "
                  "options.casting.interface (this computer's IP on the classroom network)")


def discover(settings: Settings, interface: str | None, why: str) -> dict[str, Any]:
    """Browse for casting receivers; never raises (the finding is supporting evidence)."""
    if settings.discover_s == 0:
        return {"ran": False, "reason": "switched off (casting.discover_s = 0)"}
    if interface is None:
        return {"ran": False, "reason": why}
    base = {"ran": True, "interface": interface, "why": why, "duration_s": settings.discover_s}
    try:
        from classcert.device_drivers.casting import discover_casting_receivers

        found = discover_casting_receivers(duration_s=settings.discover_s,
                                           interfaces=[interface])
    except ImportError as exc:
        return {"ran": False, "reason": f"mDNS library not available ({exc}); pip install zeroconf"}
    except Exception as exc:  # noqa: BLE001 - a failed search is reported, never a verdict
        return {**base, "receivers": [], "error": f"{type(exc).__name__}: {exc}"}
    return {**base, "receivers": [
        {"name": r.name, "friendly_name": r.friendly_name, "protocol": r.protocol,
         "service_type": r.service_type, "addresses": list(r.addresses), "port": r.port,
         "server": r.server, "model": r.model} for r in found]}


def casting_findings(discovery: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Per OS: the required methods and the receivers of those methods that were found."""
    out: dict[str, Any] = {}
    needle = settings.match.lower()
    for slot in SLOTS:
        methods = settings.casting[slot]
        hits = [r for r in discovery.get("receivers", []) if r["protocol"] in methods
                and (not needle or needle in r["name"].lower()
                     or needle in r["friendly_name"].lower())]
        out[slot] = {"methods": list(methods), "found": [r["name"] for r in hits]}
    return out


# ---------------------------------------------------------------- record and details

def combined(room: Room, records: dict[str, Attestation], value: bool) -> Attestation:
    """One attestation for ``mobile.os`` standing for the records it was judged from."""
    atts = list(records.values())
    names = list(dict.fromkeys(a.operator for a in atts))
    sources = list(dict.fromkeys(a.source for a in atts))
    notes = [f"{SLOT_NAMES[s][0]}: {a.note}" for s, a in records.items() if a.note]
    return Attestation(room.id, KEY, value, "bool", " / ".join(names), "; ".join(notes),
                       None, max(a.at for a in atts), "+".join(sources))


def record_json(att: Attestation | None, check: Any, photo_copy: str | None) -> dict[str, Any]:
    if att is None:
        return {"answered": False}
    app = parse_app(str(att.value.get("app", "")))
    return {"answered": True, **att.as_json(), "os_check": check.as_json() if check else None,
            "app_parsed": {"name": app.name, "version": app.version},
            "app_version_given": bool(app.version), "photo_copy": photo_copy}


def _seen_phrase(cc: dict[str, Any]) -> tuple[str, str]:
    if cc["same_version_seen"]:
        return "seen on the classroom Wi-Fi", "曾连入教室无线网络"
    if cc["version_unknown"]:
        return ("its OS family seen, version not reported by the browser",
                "同类系统出现，浏览器未报告版本")
    if cc["family_seen"]:
        others = ", ".join(cc["versions_seen"])
        return f"not seen (only {others})", f"未出现（仅有 {others}）"
    return "not seen", "未出现"


def details(records: dict[str, Attestation | None], settings: Settings,
            crowd: dict[str, Any], crosses: dict[str, Any], discovery: dict[str, Any],
            casting: dict[str, Any]) -> tuple[str, str]:
    en: list[str] = []
    zh: list[str] = []
    for slot, att in records.items():
        name_en, name_zh = SLOT_NAMES[slot]
        if att is None:
            en.append(f"{name_en}: no record")
            zh.append(f"{name_zh}：无记录")
            continue
        v = att.value
        done = v.get("completed") is True
        en.append(f"{name_en}: {v.get('device')}, {v.get('os_version')}, {v.get('app')} - "
                  f"{'completed' if done else 'NOT completed'}")
        zh.append(f"{name_zh}：{v.get('device')}，{v.get('os_version')}，{v.get('app')} - "
                  f"{'已完成' if done else '未完成'}")
    h = settings.harmony_as_android
    en.append(f"HarmonyOS counts as Android: {'yes' if h else 'no'} ({settings.harmony_from})")
    zh.append(f"鸿蒙是否计为安卓：{'是' if h else '否'}")
    if not crowd["ran"]:
        en.append("no crowd test on this room's Wi-Fi in this campaign to cross-check")
        zh.append("本批次未在本教室进行无线并发测试，无法交叉核对")
    else:
        labels = ", ".join(sorted({d["os"] for d in crowd["devices"]})) or "no OS"
        en.append(f"the crowd test on this Wi-Fi saw {labels}")
        zh.append(f"无线并发测试在本教室网络上看到 {labels}")
        for cc in crosses.values():
            state_en, state_zh = _seen_phrase(cc)
            en.append(f"stated {cc['stated']}: {state_en} (supporting evidence only)")
            zh.append(f"所填 {cc['stated']}：{state_zh}（仅作佐证）")
    if not discovery["ran"]:
        en.append(f"casting receivers not searched: {discovery['reason']}")
        zh.append(f"未搜索投屏接收端：{discovery['reason']}")
    else:
        if discovery.get("error"):
            en.append(f"casting search failed: {discovery['error']}")
            zh.append(f"投屏接收端搜索出错：{discovery['error']}")
        for slot, found in casting.items():
            methods = "/".join(found["methods"])
            if found["found"]:
                en.append(f"{methods} receiver for {SLOT_NAMES[slot][0]}: "
                          f"{', '.join(found['found'])}")
                zh.append(f"{SLOT_NAMES[slot][1]} 所用 {methods} 接收端："
                          f"{'、'.join(found['found'])}")
            else:
                en.append(f"no {methods} receiver for {SLOT_NAMES[slot][0]} found (multicast "
                          f"may be blocked by client isolation; not a failure by itself)")
                zh.append(f"未发现{SLOT_NAMES[slot][1]}所用 {methods} 接收端（组播可能被客户端"
                          f"隔离阻断，本身不判为不合格）")
    return "; ".join(en), "；".join(zh)
