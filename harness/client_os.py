"""Operating system family and version of a client device, from what its browser reports.

Two sources, both plain text the harness's own pages receive:

* the ``User-Agent`` header (always present, but frozen or reduced by modern browsers:
  Chrome on Android says ``Android 10; K``, iPadOS Safari pretends to be a Mac, Windows 11 says
  ``Windows NT 10.0``);
* User-Agent Client Hints (``Sec-CH-UA-Platform``, ``-Platform-Version``, ``-Mobile``,
  ``-Model``) or the same values from ``navigator.userAgentData.getHighEntropyValues()``
  (``platform``, ``platformVersion``, ``mobile``, ``model``). When present they win.

iPadOS in desktop mode sends a Macintosh UA; the page must report ``navigator.maxTouchPoints``
(a real Mac reports 0, an iPad 5) and pass it as ``max_touch_points``.

Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

IOS = "iOS"
IPADOS = "iPadOS"
ANDROID = "Android"
HARMONYOS = "HarmonyOS"
WINDOWS = "Windows"
MACOS = "macOS"
CHROMEOS = "ChromeOS"
LINUX = "Linux"
UNKNOWN = "unknown"
FAMILIES = (IOS, IPADOS, ANDROID, HARMONYOS, WINDOWS, MACOS, CHROMEOS, LINUX, UNKNOWN)

# Safari 26 freezes the OS token at 18_6 while ``Version/`` carries the real release.
_FROZEN_APPLE_OS = "18.6"
# Chrome's reduced UA on Android always says "Android 10; K".
_FROZEN_ANDROID = ("10", "K")


@dataclass(frozen=True)
class ClientOS:
    """What the client is running. ``version`` is dotted ("17.4") or "" when unknown."""

    family: str
    version: str = ""
    mobile: bool | None = None
    model: str = ""
    source: str = "none"  # "client-hints", "user-agent" or "none"
    android_compatible: bool = False  # runs Android apps (Android, HarmonyOS 2-4)

    @property
    def major(self) -> int | None:
        head = self.version.split(".", 1)[0]
        return int(head) if head.isdigit() else None

    @property
    def is_apple_mobile(self) -> bool:
        return self.family in (IOS, IPADOS)

    @property
    def label(self) -> str:
        return f"{self.family} {self.version}".strip()


def detect_os(user_agent: str | None, hints: Mapping[str, object] | None = None,
              max_touch_points: int | None = None) -> ClientOS:
    """OS of a client: client hints win where they say something, the UA fills the gaps."""
    from_ua = parse_user_agent(user_agent or "", max_touch_points=max_touch_points)
    from_hints = parse_client_hints(hints) if hints else None
    if from_hints is None:
        return from_ua
    same = from_ua.family == from_hints.family
    return ClientOS(
        family=from_hints.family,
        version=from_hints.version or (from_ua.version if same else ""),
        mobile=from_hints.mobile if from_hints.mobile is not None else from_ua.mobile,
        model=from_hints.model or (from_ua.model if same else ""),
        source="client-hints",
        android_compatible=from_hints.android_compatible or (same and from_ua.android_compatible),
    )


# ---------------------------------------------------------------- user agent

_RE_IOS = re.compile(r"\((iPhone|iPod|iPod touch)\b[^)]*?\bOS (\d+(?:[_.]\d+)*)", re.I)
_RE_IPAD = re.compile(r"\(iPad\b[^)]*?\bOS (\d+(?:[_.]\d+)*)", re.I)
_RE_SAFARI_VERSION = re.compile(r"\bVersion/(\d+(?:\.\d+)*)")
_RE_OPENHARMONY = re.compile(
    r"\((Phone|Tablet|PC|TV|Wearable|2in1)?;?\s*OpenHarmony\s+(\d+(?:\.\d+)*)", re.I)
_RE_HARMONY = re.compile(r"\bHarmonyOS(?:[ /](\d+(?:\.\d+)*))?", re.I)
_RE_ANDROID = re.compile(r"\bAndroid(?:[ /](\d+(?:\.\d+)*))?(?:;\s*([^;)]+))?", re.I)
_RE_WINDOWS = re.compile(r"\bWindows NT (\d+\.\d+)", re.I)
_RE_MAC = re.compile(r"\bMac OS X (\d+(?:[_.]\d+)*)", re.I)
_RE_CROS = re.compile(r"\bCrOS \S+ (\d+(?:\.\d+)*)")
_RE_LINUX = re.compile(r"\b(Linux|Ubuntu|Fedora|Debian|X11)\b", re.I)
_WINDOWS_NT = {"5.1": "XP", "6.0": "Vista", "6.1": "7", "6.2": "8", "6.3": "8.1", "10.0": "10"}


def _dotted(raw: str) -> str:
    return raw.replace("_", ".")


def _apple_version(os_token: str, ua: str) -> str:
    version = _dotted(os_token)
    safari = _RE_SAFARI_VERSION.search(ua)
    if safari and version.startswith(_FROZEN_APPLE_OS):
        real = safari.group(1)
        if int(real.split(".")[0]) > int(version.split(".")[0]):
            return real
    return version


def parse_user_agent(user_agent: str, max_touch_points: int | None = None) -> ClientOS:
    """OS from a User-Agent string alone (see module docstring for the iPadOS rule)."""
    ua = user_agent.strip()
    if not ua:
        return ClientOS(UNKNOWN)
    mobile = "Mobile" in ua or None

    def found(family: str, version: str = "", mob: bool | None = mobile, model: str = "",
              android: bool = False) -> ClientOS:
        return ClientOS(family, version, mob, model, "user-agent", android)

    if m := _RE_IPAD.search(ua):
        version = _apple_version(m.group(1), ua)
        return found(IPADOS if int(version.split(".")[0]) >= 13 else IOS, version, False, "iPad")
    if m := _RE_IOS.search(ua):
        model = "iPod touch" if m.group(1).lower().startswith("ipod") else "iPhone"
        return found(IOS, _apple_version(m.group(2), ua), True, model)
    if m := _RE_OPENHARMONY.search(ua):
        kind = (m.group(1) or "").lower()
        return found(HARMONYOS, m.group(2), kind == "phone" or mobile, "")
    if m := _RE_HARMONY.search(ua):
        return found(HARMONYOS, m.group(1) or "", mobile, _android_model(ua),
                     android=_RE_ANDROID.search(ua) is not None)
    if m := _RE_ANDROID.search(ua):
        version = m.group(1) or ""
        model = _android_model(ua)
        if (version, model) == _FROZEN_ANDROID:
            version, model = "", ""  # reduced UA: the real values only come as client hints
        return found(ANDROID, version, "Mobile" in ua, model, android=True)
    if m := _RE_CROS.search(ua):
        return found(CHROMEOS, m.group(1), False)
    if m := _RE_WINDOWS.search(ua):
        return found(WINDOWS, _WINDOWS_NT.get(m.group(1), m.group(1)), False)
    if "Macintosh" in ua or _RE_MAC.search(ua):
        if max_touch_points is not None and max_touch_points > 1:
            safari = _RE_SAFARI_VERSION.search(ua)
            return found(IPADOS, safari.group(1) if safari else "", False, "iPad")
        m = _RE_MAC.search(ua)
        return found(MACOS, _dotted(m.group(1)) if m else "", False)
    if _RE_LINUX.search(ua):
        return found(LINUX, "", False)
    return found(UNKNOWN)


def _android_model(ua: str) -> str:
    """Device model: the token after "Android N;" (before "Build/" when present)."""
    m = re.search(r"\bAndroid[ /][\d.]+;\s*(?:[a-z]{2}[-_][A-Za-z]{2};\s*)?(?:HarmonyOS;\s*)?"
                  r"([^;)]+)", ua)
    if not m:
        return ""
    model = m.group(1).split(" Build/", 1)[0].strip()
    return "" if model.lower() in ("wv", "u", "linux", "harmonyos") else model


# ---------------------------------------------------------------- client hints

_HINT_ALIASES = {
    "platform": ("sec-ch-ua-platform", "platform"),
    "version": ("sec-ch-ua-platform-version", "platformversion", "platform_version"),
    "mobile": ("sec-ch-ua-mobile", "mobile"),
    "model": ("sec-ch-ua-model", "model"),
}
_HINT_PLATFORMS = {
    "android": ANDROID, "ios": IOS, "ipados": IPADOS, "windows": WINDOWS, "macos": MACOS,
    "mac os x": MACOS, "chrome os": CHROMEOS, "chromeos": CHROMEOS, "chromium os": CHROMEOS,
    "linux": LINUX, "harmonyos": HARMONYOS, "openharmony": HARMONYOS,
}


def _sf_string(value: object) -> str:
    """Value of a structured-field string (``"Android"`` with quotes) or a plain JS value."""
    text = str(value).strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return text.strip()


def _sf_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return {"?1": True, "?0": False, "true": True, "false": False, "1": True, "0": False}.get(text)


def _windows_from_hint(version: str) -> str:
    """Sec-CH-UA-Platform-Version on Windows: >=13 is Windows 11, 1..10 is 10, 0.x is 7/8/8.1."""
    major = version.split(".", 1)[0]
    if not major.isdigit():
        return ""
    if int(major) >= 13:
        return "11"
    if int(major) >= 1:
        return "10"
    return {"0.1.0": "7", "0.2.0": "8", "0.3.0": "8.1"}.get(version, "")


def parse_client_hints(hints: Mapping[str, object]) -> ClientOS | None:
    """OS from client hints; None when they name no known platform."""
    lowered = {str(k).strip().lower(): v for k, v in hints.items()}

    def get(name: str) -> object | None:
        for alias in _HINT_ALIASES[name]:
            if alias in lowered and lowered[alias] is not None:
                return lowered[alias]
        return None

    platform = get("platform")
    family = _HINT_PLATFORMS.get(_sf_string(platform).lower()) if platform is not None else None
    if family is None:
        return None
    raw_version = _sf_string(get("version") or "")
    version = _windows_from_hint(raw_version) if family == WINDOWS else _trim_version(raw_version)
    mobile = _sf_bool(get("mobile")) if get("mobile") is not None else None
    model = _sf_string(get("model") or "")
    return ClientOS(family, version, mobile, model, "client-hints", family == ANDROID)


def _trim_version(version: str) -> str:
    """"14.0.0" -> "14", "17.4.1" -> "17.4.1": drop trailing ".0" parts, keep the major."""
    if not re.fullmatch(r"\d+(?:\.\d+)*", version):
        return ""
    parts = version.split(".")
    while len(parts) > 1 and parts[-1] == "0":
        parts.pop()
    return ".".join(parts)
