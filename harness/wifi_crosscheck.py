"""Cross-check of a Wi-Fi crowd test against the classroom's Wi-Fi controller (pure, no I/O).

While the crowd runs, the suite reads the controller's client list in the middle of the
downlink window and in the middle of the uplink window (:class:`ControllerSample`). Here
each sample is matched to the crowd's devices:

- the room's clients are the controller's clients on the room's SSID and APs; the rest are
  left out (and counted);
- crowd devices are matched to room clients by IP address (the crowd server records each
  device's source address). Several devices behind one address (NAT, loopback) are matched
  per address by count; when the controller gives no address for a client, the devices still
  unmatched are matched by count against such clients ("matched by count only");
- a device is *confirmed* when it completed both directions and every sample lists it in the
  room. ``confirmed`` is what ``wifi.capacity`` measures when a controller is configured.

Disagreements (completed devices the controller does not list, a room count other than the
number of joined devices, crowd devices seen on another SSID/AP) are listed in both languages.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from classcert.crowd import CrowdResult, DeviceResult
from classcert.device_drivers.wifi_controller import ClientFilter, WirelessClient

BY_IP = "ip"
BY_COUNT = "count"
MAX_LISTED_IDS = 12  # device ids named in a detail text; the evidence lists them all
_ZH_SAMPLE = {"down": "下行", "up": "上行"}


def normalise_ip(text: Any) -> str | None:
    """A comparable IP address text (IPv4-mapped IPv6 -> IPv4); None when not an address."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        ip = ipaddress.ip_address(text.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


@dataclass(frozen=True)
class ControllerSample:
    """One reading of the controller's clients (all of them, unfiltered), or why it failed."""

    label: str  # "down" | "up": which window it was taken in
    at_s: float | None  # seconds after the downlink window opened (the CrowdResult scale)
    clients: tuple[WirelessClient, ...] = ()
    error_en: str | None = None
    error_zh: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_en is None


@dataclass(frozen=True)
class RoomScope:
    """Which controller clients belong to the room: SSID and/or AP names or MACs."""

    ssid: str | None = None
    aps: tuple[str, ...] | None = None

    def split(self, clients: Sequence[WirelessClient]
              ) -> tuple[list[WirelessClient], list[WirelessClient], bool]:
        """(room clients, others, whether the AP filter could be applied)."""
        aps = list(self.aps) if self.aps else None
        ap_known = any(c.ap_name or c.ap_mac for c in clients)
        applied = aps is not None and (ap_known or not clients)
        rule = ClientFilter(self.ssid, aps if applied else None)
        room = [c for c in clients if rule.keep(c)]
        others = [c for c in clients if not rule.keep(c)]
        return room, others, applied or aps is None


@dataclass(frozen=True)
class SampleMatch:
    """One sample matched against the crowd."""

    label: str
    at_s: float | None
    listed: int  # every client the controller listed
    in_room: int  # of those, on the room's SSID/APs
    by_ip: tuple[tuple[str, WirelessClient], ...]  # (crowd device, room client) by address
    by_count: int  # completed devices matched by count only (controller gave no address)
    anonymous: int  # room clients the controller gave no IP address for
    confirmed_ids: frozenset[str]  # completed devices matched by address
    unlisted: tuple[str, ...]  # completed devices not matched in the room (by address)
    elsewhere: tuple[tuple[str, WirelessClient], ...]  # crowd devices on another SSID/AP
    others: tuple[WirelessClient, ...]  # clients left out by the room filter
    room_clients: tuple[WirelessClient, ...]
    shared_addresses: int  # addresses used by more than one joined crowd device
    ap_filter_applied: bool

    @property
    def confirmed(self) -> int:
        return len(self.confirmed_ids) + self.by_count


def _device_ip(device: DeviceResult) -> str | None:
    return normalise_ip(device.client)


def match_sample(result: CrowdResult, sample: ControllerSample, scope: RoomScope) -> SampleMatch:
    """Match one successful sample to the crowd's devices (see the module docstring)."""
    if not sample.ok:
        raise ValueError("cannot match a failed sample")
    room, others, ap_applied = scope.split(sample.clients)
    completed = {d.device for d in result.completed_devices}
    by_address: dict[str, list[DeviceResult]] = {}
    for dev in result.devices:
        ip = _device_ip(dev)
        if ip is not None:
            by_address.setdefault(ip, []).append(dev)
    for devs in by_address.values():  # completed devices take the slots first
        devs.sort(key=lambda d: (d.device not in completed, d.device))
    room_by_ip: dict[str, list[WirelessClient]] = {}
    no_ip = 0
    for client in room:
        ip = normalise_ip(client.ip)
        if ip is None:
            no_ip += 1
        else:
            room_by_ip.setdefault(ip, []).append(client)
    pairs: list[tuple[str, WirelessClient]] = []
    for ip, clients in room_by_ip.items():
        pairs.extend((d.device, c) for d, c in zip(by_address.get(ip, []), clients, strict=False))
    matched_ids = {dev for dev, _ in pairs}
    confirmed_ids = frozenset(matched_ids & completed)
    unmatched_completed = sorted(completed - matched_ids)
    by_count = min(len(unmatched_completed), no_ip)
    # with anonymous clients, which devices they are cannot be told: none is named then
    unlisted = () if no_ip else tuple(unmatched_completed)
    others_by_ip: dict[str, list[WirelessClient]] = {}
    for client in others:
        ip = normalise_ip(client.ip)
        if ip is not None:
            others_by_ip.setdefault(ip, []).append(client)
    elsewhere: list[tuple[str, WirelessClient]] = []
    for ip, devs in sorted(by_address.items()):
        left = [d.device for d in devs if d.device not in matched_ids]
        elsewhere.extend(zip(left, others_by_ip.get(ip, []), strict=False))
    return SampleMatch(
        label=sample.label, at_s=sample.at_s, listed=len(sample.clients), in_room=len(room),
        by_ip=tuple(pairs), by_count=by_count, anonymous=no_ip, confirmed_ids=confirmed_ids,
        unlisted=unlisted, elsewhere=tuple(elsewhere), others=tuple(others),
        room_clients=tuple(room),
        shared_addresses=sum(1 for devs in by_address.values() if len(devs) > 1),
        ap_filter_applied=ap_applied,
    )


@dataclass(frozen=True)
class CrossCheck:
    """The controller's view of the crowd over all samples."""

    scope: RoomScope
    joined: int
    completed: int
    matches: tuple[SampleMatch, ...]
    failed: tuple[ControllerSample, ...] = ()
    notes: tuple[tuple[str, str], ...] = field(default=())

    @property
    def measurable(self) -> bool:
        """Every sample was read (a missing sample cannot confirm association then)."""
        return bool(self.matches) and not self.failed

    @property
    def confirmed(self) -> int | None:
        """Completed devices every sample lists in the room; None when not measurable."""
        if not self.measurable:
            return None
        common = frozenset.intersection(*(m.confirmed_ids for m in self.matches))
        return min(self.completed, len(common) + min(m.by_count for m in self.matches))

    @property
    def method(self) -> str:
        anonymous = any(m.anonymous for m in self.matches)
        addressed = any(m.in_room > m.anonymous for m in self.matches)
        if not anonymous:
            return BY_IP
        return f"{BY_IP}+{BY_COUNT}" if addressed else BY_COUNT

    @property
    def unlisted(self) -> tuple[str, ...]:
        return tuple(sorted({d for m in self.matches for d in m.unlisted}))

    @property
    def elsewhere(self) -> tuple[str, ...]:
        return tuple(sorted({d for m in self.matches for d, _ in m.elsewhere}))

    @property
    def count_gaps(self) -> tuple[tuple[str, int], ...]:
        """(sample, room count) where the controller's room count differs from the joined."""
        return tuple((m.label, m.in_room) for m in self.matches if m.in_room != self.joined)

    @property
    def uncounted(self) -> int:
        """Completed devices not confirmed (by count or unlisted), over all samples."""
        confirmed = self.confirmed
        return 0 if confirmed is None else self.completed - confirmed

    @property
    def agrees(self) -> bool:
        return (self.measurable and self.uncounted == 0 and not self.elsewhere
                and not self.count_gaps)

    def bands(self) -> dict[str, int]:
        """Bands of the room's clients in the last sample, as the controller reports them."""
        if not self.matches:
            return {}
        counts = Counter(c.band or "unknown" for c in self.matches[-1].room_clients)
        return dict(sorted(counts.items()))

    def band_of(self) -> dict[str, str]:
        """Crowd device -> band the controller reports for the client it matched."""
        found: dict[str, str] = {}
        for m in self.matches:
            for dev, client in m.by_ip:
                if client.band and dev not in found:
                    found[dev] = client.band
        return found


def cross_check(result: CrowdResult, samples: Sequence[ControllerSample],
                scope: RoomScope) -> CrossCheck:
    """Match every successful sample; failed ones are kept (they make capacity unmeasurable)."""
    matches = tuple(match_sample(result, s, scope) for s in samples if s.ok)
    failed = tuple(s for s in samples if not s.ok)
    notes: list[tuple[str, str]] = []
    if scope.aps and any(not m.ap_filter_applied for m in matches):
        notes.append(("the controller does not say which AP its clients use, so the aps option "
                      "could not be applied (filtered by SSID only)",
                      "控制器未给出终端所连 AP，aps 选项无法生效（仅按 SSID 筛选）"))
    shared = max((m.shared_addresses for m in matches), default=0)
    if shared:
        notes.append((f"{shared} address(es) are used by several crowd devices (NAT or one "
                      f"test computer): those were matched per address by count",
                      f"{shared} 个地址被多台终端共用（NAT 或同一测试机），按地址计数匹配"))
    return CrossCheck(scope, len(result.devices), result.capacity, matches, failed,
                      tuple(notes))


def with_controller_bands(result: CrowdResult, check: CrossCheck) -> CrowdResult:
    """The crowd result with each device's band filled from the controller where unknown."""
    bands = check.band_of()
    devices = tuple(replace(d, band=bands[d.device]) if d.band is None and d.device in bands
                    else d for d in result.devices)
    return replace(result, devices=devices)


def _ids(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:MAX_LISTED_IDS])
    return shown + (f" (+{len(ids) - MAX_LISTED_IDS})" if len(ids) > MAX_LISTED_IDS else "")


def _scope_text(scope: RoomScope) -> tuple[str, str]:
    parts_en, parts_zh = [], []
    if scope.ssid:
        parts_en.append(f"SSID {scope.ssid!r}")
        parts_zh.append(f"SSID “{scope.ssid}”")
    if scope.aps:
        parts_en.append(f"AP {', '.join(scope.aps)}")
        parts_zh.append(f"AP {', '.join(scope.aps)}")
    if not parts_en:
        return "any SSID/AP", "全部 SSID/AP"
    return " / ".join(parts_en), " / ".join(parts_zh)


def details(check: CrossCheck, controller: str) -> tuple[str, str]:
    """What the controller says of the crowd, for the capacity detail (en, zh)."""
    where_en, where_zh = _scope_text(check.scope)
    confirmed = check.confirmed
    if confirmed is None:
        return (f"controller {controller} could not be read in every window",
                f"未能在每个测试窗口读取控制器 {controller}")
    how = {BY_IP: ("matched by IP address", "按 IP 地址匹配"),
           BY_COUNT: ("matched by count only: the controller gave no IP addresses",
                      "仅按数量匹配：控制器未提供 IP 地址"),
           }.get(check.method, ("matched by IP address, partly by count",
                                "按 IP 地址匹配，部分按数量"))
    listed_en = ", ".join(f"{m.in_room} in the {m.label}link sample" for m in check.matches)
    listed_zh = "，".join(f"{_ZH_SAMPLE.get(m.label, m.label)}采样 {m.in_room} 台"
                          for m in check.matches)
    en = [f"controller {controller} confirms {confirmed} of {check.completed} completed devices "
          f"associated to {where_en} ({how[0]}); it lists clients there: {listed_en}; "
          f"{check.joined} devices joined"]
    zh = [f"控制器 {controller} 确认 {check.completed} 台完成测试的设备中 {confirmed} 台连接在 "
          f"{where_zh}（{how[1]}）；控制器在该范围列出的终端：{listed_zh}；"
          f"加入测试 {check.joined} 台"]
    if check.agrees:
        en.append("the controller agrees with the crowd test")
        zh.append("控制器与并发测试结果一致")
    else:
        en.append("DISAGREEMENT")
        zh.append("不一致")
    if check.unlisted:
        en.append(f"{len(check.unlisted)} completed devices not listed by the controller: "
                  f"{_ids(check.unlisted)}")
        zh.append(f"{len(check.unlisted)} 台完成测试的设备未被控制器列出：{_ids(check.unlisted)}")
    elif check.uncounted:
        en.append(f"{check.uncounted} completed devices not accounted for by the controller")
        zh.append(f"{check.uncounted} 台完成测试的设备未被控制器计入")
    if check.elsewhere:
        en.append(f"{len(check.elsewhere)} crowd devices are on another SSID/AP: "
                  f"{_ids(check.elsewhere)}")
        zh.append(f"{len(check.elsewhere)} 台测试设备连接在其他 SSID/AP：{_ids(check.elsewhere)}")
    left_out = max((len(m.others) for m in check.matches), default=0)
    if left_out:
        en.append(f"{left_out} clients on other SSIDs/APs left out")
        zh.append(f"已排除其他 SSID/AP 上的 {left_out} 台终端")
    bands = check.bands()
    if bands:
        en.append("bands (controller): " + ", ".join(f"{b} GHz {n}" if b != "unknown"
                                                      else f"unknown {n}"
                                                      for b, n in bands.items()))
        zh.append("频段（控制器）：" + "，".join(f"{b} GHz {n} 台" if b != "unknown"
                                              else f"未知 {n} 台" for b, n in bands.items()))
    for note_en, note_zh in check.notes:
        en.append(note_en)
        zh.append(note_zh)
    return "; ".join(en), "；".join(zh)


def _client_json(client: WirelessClient, in_room: bool, device: str | None) -> dict[str, Any]:
    return {**asdict(client), "in_room": in_room, "crowd_device": device}


def to_json(check: CrossCheck, controller: dict[str, Any]) -> dict[str, Any]:
    """Evidence: both samples with every client (AP, SSID, band, link rates, RSSI)."""
    samples = []
    for m in check.matches:
        owner = {id(c): dev for dev, c in m.by_ip}
        samples.append({
            "sample": m.label, "at_s": m.at_s, "listed": m.listed, "in_room": m.in_room,
            "matched_by_ip": len(m.by_ip), "matched_by_count": m.by_count,
            "confirmed": m.confirmed, "unlisted": list(m.unlisted),
            "elsewhere": [{"crowd_device": d, "ssid": c.ssid, "ap_name": c.ap_name,
                           "ap_mac": c.ap_mac} for d, c in m.elsewhere],
            "ap_filter_applied": m.ap_filter_applied,
            "clients": [_client_json(c, True, owner.get(id(c))) for c in m.room_clients]
            + [_client_json(c, False, None) for c in m.others],
        })
    for s in check.failed:
        samples.append({"sample": s.label, "at_s": s.at_s, "error": s.error_en,
                        "error_zh": s.error_zh})
    samples.sort(key=lambda s: (s["at_s"] is None, s["at_s"] or 0.0))
    en, zh = (details(check, str(controller.get("driver", "controller")))
              if check.matches else ("", ""))
    return {
        "controller": controller, "ssid": check.scope.ssid,
        "aps": list(check.scope.aps or ()), "joined": check.joined,
        "completed_both_directions": check.completed, "confirmed": check.confirmed,
        "method": check.method if check.matches else None, "agrees": check.agrees,
        "unlisted": list(check.unlisted), "elsewhere": list(check.elsewhere),
        "controller_count_vs_joined": [{"sample": s, "in_room": n, "joined": check.joined}
                                       for s, n in check.count_gaps],
        "bands": check.bands(), "notes": [n[0] for n in check.notes],
        "detail_en": en, "detail_zh": zh, "samples": samples,
    }
