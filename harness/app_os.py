"""What an operator wrote down about a phone or tablet: its OS and version, and the app's version.

An app-step record (``mobile.os#ios``, ``mobile.os#android``) states a device's OS as free text
such as "iPadOS 17.5", "Android 14" or "MIUI 14 (Android 13)". This module reads that text,
checks that it belongs to the family the record stands for, and compares it with the OS
labels the crowd page saw on the classroom Wi-Fi (``wifi-crowd.json``). Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from classcert.client_os import ANDROID, HARMONYOS, IOS, IPADOS

IOS_SLOT = "ios"
ANDROID_SLOT = "android"
SLOTS = (IOS_SLOT, ANDROID_SLOT)
SLOT_FAMILIES: dict[str, tuple[str, ...]] = {IOS_SLOT: (IOS, IPADOS), ANDROID_SLOT: (ANDROID,)}
SLOT_NAMES: dict[str, tuple[str, str]] = {IOS_SLOT: ("iOS/iPadOS", "iOS/iPadOS"),
                                          ANDROID_SLOT: ("Android", "安卓")}
SLOT_EXAMPLES = {IOS_SLOT: "iOS 17.5", ANDROID_SLOT: "Android 14"}
# HarmonyOS 2 to 4 run Android apps; HarmonyOS NEXT (5 and later) does not.
HARMONY_RUNS_ANDROID_APPS = range(2, 5)
FIRST_IPADOS = 13  # Apple split iPadOS from iOS at version 13
MAX_SEEN = 1000

_RE_STATED = re.compile(
    r"(?<![A-Za-z])(ipados|iphone\s*os|ios|android|安卓|openharmony|harmonyos|harmony\s+os|"
    r"鸿蒙(?:\s*os)?)(?![A-Za-z])\s*(?:v(?:er(?:sion)?)?\.?\s*)?"
    r"(next(?![A-Za-z])|\d{1,2}(?:[._]\d{1,4}){0,3}(?![\d]))?",
    re.IGNORECASE,
)
_FAMILY_WORDS = {"ipados": IPADOS, "ios": IOS, "android": ANDROID, "安卓": ANDROID,
                 "openharmony": HARMONYOS, "harmonyos": HARMONYOS, "鸿蒙": HARMONYOS}
_RE_APP_VERSION = re.compile(
    r"(?<![A-Za-z0-9._])(?:v|ver\.?\s*|version\s*|版本\s*)?(\d+(?:\.\d+){1,3})(?![A-Za-z0-9._])"
    r"|(?<![A-Za-z0-9._])(?:v|版本\s*)(\d+)(?![A-Za-z0-9._])", re.IGNORECASE)


@dataclass(frozen=True)
class StatedOS:
    """The OS a record names. ``version`` is dotted ("17.5") or "" when none was written."""

    family: str
    version: str = ""

    @property
    def parts(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.version.split(".")) if self.version else ()

    @property
    def major(self) -> int | None:
        return self.parts[0] if self.parts else None

    @property
    def label(self) -> str:
        return f"{self.family} {self.version}".strip()


def _family_of(word: str) -> str:
    key = re.sub(r"\s+", "", word.lower())
    if key.startswith("iphone"):
        return IOS
    if key.startswith("鸿蒙") or key.startswith("harmony"):
        return HARMONYOS
    return _FAMILY_WORDS[key]


def parse_stated_os(text: str) -> StatedOS | None:
    """The first mobile OS named in ``text`` with its version; None when none is named.

    "iPadOS 17.5" -> iPadOS 17.5; "MIUI 14 (Android 13)" -> Android 13; "HarmonyOS NEXT" ->
    HarmonyOS 5; "iOS" -> iOS with no version (the caller reports the missing version).
    """
    m = _RE_STATED.search(text or "")
    if m is None:
        return None
    family = _family_of(m.group(1))
    raw = (m.group(2) or "").lower()
    if raw == "next":
        return StatedOS(family, "5" if family == HARMONYOS else "")
    return StatedOS(family, raw.replace("_", "."))


@dataclass(frozen=True)
class SlotCheck:
    """Whether a record's OS text belongs to the family its slot stands for."""

    slot: str
    text: str
    stated: StatedOS | None
    ok: bool
    reason_en: str
    reason_zh: str
    counted_as_android: bool = False  # a HarmonyOS device counted for the Android slot

    def as_json(self) -> dict[str, Any]:
        return {"slot": self.slot, "os_text": self.text,
                "parsed": self.stated.label if self.stated else None, "belongs": self.ok,
                "counted_as_android": self.counted_as_android,
                "reason_en": self.reason_en, "reason_zh": self.reason_zh}


def check_slot(slot: str, text: str, harmony_as_android: bool = False) -> SlotCheck:
    """Does ``text`` name an OS of ``slot`` ("ios" or "android") with a version?"""
    if slot not in SLOT_FAMILIES:
        raise ValueError(f"slot must be one of {SLOTS}, got {slot!r}")
    name_en, name_zh = SLOT_NAMES[slot]
    example = SLOT_EXAMPLES[slot]
    stated = parse_stated_os(text)

    def bad(en: str, zh: str) -> SlotCheck:
        return SlotCheck(slot, text, stated, False, en, zh)

    if stated is None:
        return bad(f"'{text}' names no mobile OS; write the OS name and version, e.g. "
                   f"'{example}'", f"“{text}”未写明移动操作系统；请写系统名称和版本，如“{example}”")
    if stated.major is None:
        return bad(f"'{text}' gives no OS version; write it like '{example}'",
                   f"“{text}”缺少系统版本号；请按“{example}”格式填写")
    family = stated.family
    if slot == IOS_SLOT and family in (IOS, IPADOS):
        if family == IPADOS and stated.major < FIRST_IPADOS:
            return bad(f"'{text}': iPadOS starts at version {FIRST_IPADOS}; an older iPad runs "
                       f"iOS (write e.g. 'iOS 12.5')",
                       f"“{text}”：iPadOS 从 {FIRST_IPADOS} 版开始，更早的 iPad 运行 iOS")
        return SlotCheck(slot, text, stated, True, f"{stated.label} is {name_en}",
                         f"{stated.label} 属于 {name_zh}")
    if slot == ANDROID_SLOT and family == ANDROID:
        return SlotCheck(slot, text, stated, True, f"{stated.label} is Android",
                         f"{stated.label} 属于安卓")
    if slot == ANDROID_SLOT and family == HARMONYOS:
        if not harmony_as_android:
            return bad(f"'{text}' is HarmonyOS, which does not count as Android in this rig "
                       f"(default); repeat the step on an Android device, or set "
                       f"harmonyos_as_android = true in the options of the room's wifi or "
                       f"display device",
                       f"“{text}”为鸿蒙系统，本场地设置不将其计为安卓（默认）；请在安卓设备上完成，"
                       f"或在无线/显示设备的 options 中设置 harmonyos_as_android = true")
        if stated.major not in HARMONY_RUNS_ANDROID_APPS:
            return bad(f"'{text}': only HarmonyOS {HARMONY_RUNS_ANDROID_APPS.start}-"
                       f"{HARMONY_RUNS_ANDROID_APPS.stop - 1} run Android apps, so this device "
                       f"does not show the Android app working",
                       f"“{text}”：仅鸿蒙 {HARMONY_RUNS_ANDROID_APPS.start}-"
                       f"{HARMONY_RUNS_ANDROID_APPS.stop - 1} 可运行安卓应用，不能证明安卓版可用")
        return SlotCheck(slot, text, stated, True,
                         f"{stated.label} counted as Android (rig option harmonyos_as_android)",
                         f"{stated.label} 按场地设置计为安卓", counted_as_android=True)
    return bad(f"'{text}' is {family}, not {name_en}: the {name_en} record must come from "
               f"an {name_en} device",
               f"“{text}”为 {family}，不是 {name_zh}：该记录须来自 {name_zh} 设备")


def versions_agree(stated: str, seen: str) -> bool | None:
    """Same version as far as both go ("17.5" and "17.5.1" agree); None if ``seen`` is unknown."""
    def parts(v: str) -> list[int] | None:
        if not re.fullmatch(r"\d+(?:\.\d+)*", v or ""):
            return None
        return [int(p) for p in v.split(".")]

    a, b = parts(stated), parts(seen)
    if b is None:
        return None
    if a is None:
        return False
    n = min(len(a), len(b))
    return a[:n] == b[:n]


@dataclass(frozen=True)
class AppVersion:
    name: str
    version: str  # "" when the text gives none


def parse_app(text: str) -> AppVersion:
    """"希沃白板 5.2.3" -> ("希沃白板", "5.2.3"); "ClassIn v5" -> ("ClassIn", "5")."""
    text = (text or "").strip()
    found = list(_RE_APP_VERSION.finditer(text))
    if not found:
        return AppVersion(text, "")
    m = found[-1]
    name = (text[: m.start()] + text[m.end():]).strip(" -_/()（）,，")
    return AppVersion(name or text, m.group(1) or m.group(2))


@dataclass(frozen=True)
class SeenOS:
    """One device the crowd page saw on the classroom Wi-Fi."""

    family: str
    version: str
    completed: bool | None = None

    @property
    def label(self) -> str:
        return f"{self.family} {self.version}".strip()


def seen_devices(crowd_doc: Mapping[str, Any]) -> list[SeenOS]:
    """Devices of a crowd-test evidence document (``os_family``/``os_version`` or ``os``)."""
    devices = crowd_doc.get("devices") if isinstance(crowd_doc, Mapping) else None
    out: list[SeenOS] = []
    for dev in (devices if isinstance(devices, list) else [])[:MAX_SEEN]:
        if not isinstance(dev, Mapping):
            continue
        family, version = dev.get("os_family"), dev.get("os_version")
        if not isinstance(family, str) and isinstance(dev.get("os"), str):
            family, _, version = dev["os"].strip().partition(" ")
        if not isinstance(family, str) or not family:
            continue
        completed = dev.get("completed")
        out.append(SeenOS(family, str(version or "").strip(),
                          completed if isinstance(completed, bool) else None))
    return out


def cross_check(stated: StatedOS, seen: Iterable[SeenOS]) -> dict[str, Any]:
    """Was a device of the stated family (and version) on the classroom Wi-Fi?"""
    same_family = [s for s in seen if s.family == stated.family]
    agree = [s for s in same_family if versions_agree(stated.version, s.version)]
    unknown = [s for s in same_family if versions_agree(stated.version, s.version) is None]
    return {
        "stated": stated.label,
        "family_seen": len(same_family),
        "same_version_seen": len(agree),
        "version_unknown": len(unknown),
        "versions_seen": sorted({s.label for s in same_family}),
        "same_version_completed_crowd_test": sum(1 for s in agree if s.completed),
    }
