"""Protocol-neutral view of a Wi-Fi controller: access points and associated clients.

The crowd test measures throughput with the classroom's own terminals; a controller (UniFi
Network, TP-Link Omada, ...) is the cross-check: it reports which clients are associated to
which AP and SSID, and their link rates. Drivers implement :class:`WifiController` and know
nothing of limits or verdicts.

The parsers here are shared by the vendor drivers: MAC normalisation, rate fields and the
band from radio/channel fields.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

Band = str  # "2.4" | "5" | "6"
BANDS: tuple[str, ...] = ("2.4", "5", "6")

_HEX12 = re.compile(r"^[0-9a-f]{12}$")


@dataclass(frozen=True)
class WirelessClient:
    """One station associated to an access point, as the controller reports it."""

    mac: str  # normalised "aa:bb:cc:dd:ee:ff"
    ip: str | None
    hostname: str | None
    ap_mac: str | None
    ap_name: str | None
    ssid: str | None
    band: str | None  # "2.4" | "5" | "6" | None when the controller does not say
    rssi_dbm: int | None
    tx_rate_mbps: float | None  # AP -> client link rate
    rx_rate_mbps: float | None  # client -> AP link rate
    os_hint: str | None


@dataclass(frozen=True)
class AccessPoint:
    """One managed access point and the number of clients the controller says it serves."""

    mac: str
    name: str
    model: str
    clients: int


@runtime_checkable
class WifiController(Protocol):
    """What the harness needs from any Wi-Fi controller driver.

    Every method connects on demand; errors are ``classcert.device_drivers.errors``
    DeviceError subclasses (the harness reports them as ERROR, never FAIL).
    """

    def connect(self) -> None: ...

    def close(self) -> None: ...

    def access_points(self) -> list[AccessPoint]: ...

    def clients(self, ssid: str | None = None,
                ap_names: list[str] | None = None) -> list[WirelessClient]: ...

    def identity(self) -> dict[str, Any]: ...


@dataclass
class ClientFilter:
    """Keep clients of one SSID and/or a set of APs (matched by name or MAC)."""

    ssid: str | None = None
    ap_names: list[str] | None = None
    _aps: set[str] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        for name in self.ap_names or []:
            self._aps.add(name.strip().casefold())
            mac = normalise_mac_or_none(name)
            if mac:
                self._aps.add(mac)

    def keep(self, client: WirelessClient) -> bool:
        if self.ssid is not None and client.ssid != self.ssid:
            return False
        if self.ap_names is None:
            return True
        names = {(client.ap_name or "").strip().casefold(), client.ap_mac or ""}
        return bool(names & self._aps)


def filter_clients(found: list[WirelessClient], ssid: str | None,
                   ap_names: list[str] | None) -> list[WirelessClient]:
    rule = ClientFilter(ssid, ap_names)
    return [c for c in found if rule.keep(c)]


def normalise_mac(text: str) -> str:
    """``AA-BB-CC-DD-EE-FF``, ``aabb.ccdd.eeff``, ``aabbccddeeff`` -> ``aa:bb:cc:dd:ee:ff``.

    Raises ValueError when ``text`` is not a 48-bit MAC address.
    """
    if not isinstance(text, str):
        raise ValueError(f"MAC address must be text, got {type(text).__name__}")
    bare = re.sub(r"[\s:.\-]", "", text).lower()
    if not _HEX12.match(bare):
        raise ValueError(f"not a MAC address: {text!r}")
    return ":".join(bare[i:i + 2] for i in range(0, 12, 2))


def normalise_mac_or_none(text: Any) -> str | None:
    try:
        return normalise_mac(text)
    except ValueError:
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        num = float(value)
    elif isinstance(value, str):
        try:
            num = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return num if math.isfinite(num) else None


def rate_mbps(value: Any, unit: str = "kbps") -> float | None:
    """A link-rate field in ``unit`` ("kbps", "mbps" or "bps") -> Mbit/s, None if absent.

    Negative or non-numeric values (firmware placeholders) give None.
    """
    num = _number(value)
    if num is None or num < 0:
        return None
    scale = {"bps": 1e-6, "kbps": 1e-3, "mbps": 1.0}.get(unit.lower())
    if scale is None:
        raise ValueError(f"unknown rate unit {unit!r}; use bps, kbps or mbps")
    return round(num * scale, 3)


def rssi_dbm(value: Any) -> int | None:
    """A signal field in dBm (-120..0) -> int; anything else -> None."""
    num = _number(value)
    if num is None or not -120 <= num <= 0:
        return None
    return int(round(num))


def band_from_channel(channel: Any) -> str | None:
    """Guess the band from a channel number alone (ambiguous for 6 GHz: None then)."""
    num = _number(channel)
    if num is None or num != int(num):
        return None
    ch = int(num)
    if 1 <= ch <= 14:
        return "2.4"
    if 32 <= ch <= 177:
        return "5"
    if 181 <= ch <= 233:
        return "6"
    return None


_RADIO_BANDS = {
    # UniFi radio names
    "ng": "2.4", "na": "5", "6e": "6", "ng2": "2.4",
    # plain spellings used by other controllers
    "2.4": "2.4", "2.4g": "2.4", "2.4ghz": "2.4", "2g": "2.4",
    "5": "5", "5g": "5", "5ghz": "5", "5g1": "5", "5g2": "5",
    "6": "6", "6g": "6", "6ghz": "6",
}


def band_from_radio(radio: Any, channel: Any = None) -> str | None:
    """Band from a radio field ("ng", "na", "6e", "5G", ...), else from the channel."""
    if isinstance(radio, str):
        key = radio.strip().lower().replace(" ", "")
        if key in _RADIO_BANDS:
            return _RADIO_BANDS[key]
    return band_from_channel(channel)


def text_or_none(value: Any) -> str | None:
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = str(value).strip()
    return text or None


def tls_verify_option(value: Any) -> bool | str:
    """Rig option ``verify_tls``: true (default), false (self-signed allowed) or a CA file path."""
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ValueError(
        f"option verify_tls must be true, false or the path of a CA file, got {value!r} / "
        f"选项 verify_tls 必须为 true、false 或 CA 证书文件路径"
    )


def controller_base_url(address: str) -> str:
    """``host:port`` (HTTPS assumed, as controllers serve) or ``http(s)://host:port``."""
    text = address.strip()
    if "://" not in text:
        text = f"https://{text}"
    scheme, _, rest = text.partition("://")
    host = rest.split("/", 1)[0]
    if scheme.lower() not in ("http", "https") or not host or host.startswith(":"):
        raise ValueError(
            f"controller address {address!r}: give host:port or https://host:port / "
            f"控制器地址 {address!r} 无效，请写成 host:port 或 https://host:port"
        )
    return f"{scheme.lower()}://{host}"


class JsonHttp:
    """A requests session for one controller: bounded time, bilingual DeviceErrors."""

    def __init__(self, base: str, timeout: float, verify: bool | str) -> None:
        import requests  # local: drivers that never use HTTP need not import it

        self.base, self.timeout, self.verify = base, float(timeout), verify
        self.session = requests.Session()
        self.session.verify = verify
        self.session.headers["Accept"] = "application/json"

    def close(self) -> None:
        self.session.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send one request; returns the ``requests.Response`` (any status)."""
        import warnings

        import requests
        import urllib3

        from classcert.device_drivers import errors as e

        url = f"{self.base}{path}"
        try:
            with warnings.catch_warnings():
                if self.verify is False:  # the rig said verify_tls = false
                    warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                # verify per request: a session-level value loses to REQUESTS_CA_BUNDLE
                return self.session.request(method, url, timeout=self.timeout,
                                            verify=self.verify, **kwargs)
        except requests.exceptions.SSLError as exc:
            raise e.DeviceUnreachable(
                self.base,
                f"TLS handshake failed ({_short(exc)}); if the controller uses a self-signed "
                f"certificate set verify_tls = false (or the CA file) in the rig options",
                "TLS 握手失败；若控制器使用自签名证书，请在机房配置中设置 verify_tls = false"
                "（或指定 CA 文件）",
            ) from None
        except requests.exceptions.Timeout:
            raise e.DeviceTimeout(
                self.base, f"no reply to {method} {path} within {self.timeout:g} s",
                f"{method} {path} 在 {self.timeout:g} 秒内无应答",
            ) from None
        except (requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:
            raise e.DeviceDisconnected(
                self.base, f"connection dropped during {method} {path} ({_short(exc)})",
                f"{method} {path} 过程中连接中断",
            ) from None
        except requests.exceptions.ConnectionError as exc:
            dropped = "RemoteDisconnected" in repr(exc) or "reset" in repr(exc).lower()
            cls = e.DeviceDisconnected if dropped else e.DeviceUnreachable
            what = ("the controller closed the connection without a reply" if dropped
                    else "connection refused or host unreachable; check address and port")
            zh = "控制器未应答即关闭连接" if dropped else "连接被拒绝或主机不可达，请检查地址和端口"
            raise cls(self.base, f"{what} ({method} {path})", zh) from None
        except requests.exceptions.RequestException as exc:
            raise e.DeviceProtocolError(self.base, f"HTTP error: {_short(exc)}",
                                        "HTTP 请求错误") from None

    def json(self, response: Any) -> Any:
        """The reply body as JSON, or DeviceProtocolError naming what came instead."""
        from classcert.device_drivers.errors import DeviceProtocolError

        try:
            return response.json()
        except ValueError:
            head = response.content[:40]
            raise DeviceProtocolError(
                self.base,
                f"{response.request.method} {response.request.path_url} answered HTTP "
                f"{response.status_code} with a body that is not JSON ({head!r}); is this "
                f"address really the controller's API?",
                "控制器应答不是 JSON，请确认地址是否为控制器 API",
            ) from None


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 160 else text[:157] + "..."
