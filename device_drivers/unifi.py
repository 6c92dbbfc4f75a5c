"""UniFi Network controller driver (classic controller and UniFi OS consoles).

Which generation answers is found by probing ``GET /``: a UniFi OS console answers 200, a
classic controller redirects to ``/manage``. Then:

- classic: ``POST /api/login``; API under ``/api/s/<site>/``; cookie ``unifises``;
- UniFi OS: ``POST /api/auth/login``; API under ``/proxy/network/api/s/<site>/``;
  cookie ``TOKEN``; the ``X-CSRF-Token`` from the login reply goes with every call (and is
  replaced when a reply carries ``X-Updated-CSRF-Token``).

A session that expires (HTTP 401 or ``api.err.LoginRequired``) is renewed once per call.
Link rates arrive in kbit/s; ``signal`` is in dBm.
"""

from __future__ import annotations

from typing import Any

from classcert.device_drivers.errors import (
    DeviceAuthError,
    DeviceCommandError,
    DeviceProtocolError,
)
from classcert.device_drivers.wifi_controller import (
    AccessPoint,
    JsonHttp,
    WirelessClient,
    band_from_radio,
    controller_base_url,
    filter_clients,
    normalise_mac,
    normalise_mac_or_none,
    rate_mbps,
    rssi_dbm,
    text_or_none,
    tls_verify_option,
)

MODE_CLASSIC = "classic"
MODE_UNIFI_OS = "unifi-os"


def parse_unifi_client(raw: Any, ap_names: dict[str, str] | None = None) -> WirelessClient:
    """One ``stat/sta`` row -> WirelessClient; ValueError when it has no valid MAC."""
    if not isinstance(raw, dict):
        raise ValueError(f"client entry is not an object: {raw!r:.60}")
    mac = normalise_mac(raw.get("mac"))
    ap_mac = normalise_mac_or_none(raw.get("ap_mac"))
    signal = rssi_dbm(raw.get("signal"))
    if signal is None:
        signal = rssi_dbm(raw.get("rssi"))  # some firmware puts dBm here
    os_name = raw.get("os_name")
    return WirelessClient(
        mac=mac,
        ip=text_or_none(raw.get("ip")),
        hostname=text_or_none(raw.get("hostname")) or text_or_none(raw.get("name")),
        ap_mac=ap_mac,
        ap_name=(ap_names or {}).get(ap_mac or ""),
        ssid=text_or_none(raw.get("essid")),
        band=band_from_radio(raw.get("radio"), raw.get("channel")),
        rssi_dbm=signal,
        tx_rate_mbps=rate_mbps(raw.get("tx_rate"), "kbps"),
        rx_rate_mbps=rate_mbps(raw.get("rx_rate"), "kbps"),
        os_hint=text_or_none(os_name) if isinstance(os_name, str) else text_or_none(
            raw.get("oui")),
    )


def parse_unifi_ap(raw: Any) -> AccessPoint | None:
    """One ``stat/device`` row -> AccessPoint, None for switches/gateways; ValueError if bad."""
    if not isinstance(raw, dict):
        raise ValueError(f"device entry is not an object: {raw!r:.60}")
    if raw.get("type") != "uap":
        return None
    mac = normalise_mac(raw.get("mac"))
    count = raw.get("num_sta")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        parts = [raw.get("user-num_sta"), raw.get("guest-num_sta")]
        ints = [p for p in parts if isinstance(p, int) and not isinstance(p, bool) and p >= 0]
        count = sum(ints) if ints else 0
    return AccessPoint(mac=mac, name=text_or_none(raw.get("name")) or mac,
                       model=text_or_none(raw.get("model")) or "", clients=count)


class UnifiController:
    """A UniFi Network controller's client and device statistics (read-only)."""

    def __init__(self, address: str, password: str | None, timeout: float = 5.0, *,
                 user: str = "admin", site: str = "default",
                 verify_tls: bool | str = True) -> None:
        self.base = controller_base_url(address)
        self.device = self.base
        self.user, self.password, self.site = user, password, site
        self.http = JsonHttp(self.base, timeout, tls_verify_option(verify_tls))
        self.mode: str | None = None
        self._csrf: str | None = None
        self._logged_in = False

    # -- session -------------------------------------------------------------------------
    def connect(self) -> None:
        if self.mode is None:
            self.mode = self._probe()
        if not self._logged_in:
            self._login()

    def close(self) -> None:
        self.http.close()
        self._logged_in = False

    def __enter__(self) -> UnifiController:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _probe(self) -> str:
        reply = self.http.request("GET", "/", allow_redirects=False)
        if reply.status_code == 200:
            return MODE_UNIFI_OS
        if 300 <= reply.status_code < 400:
            return MODE_CLASSIC
        # unusual front page: ask the UniFi OS login path whether it exists
        probe = self.http.request("POST", "/api/auth/login", json={})
        return MODE_CLASSIC if probe.status_code == 404 else MODE_UNIFI_OS

    @property
    def _prefix(self) -> str:
        return "/proxy/network" if self.mode == MODE_UNIFI_OS else ""

    def _login(self) -> None:
        if not self.password:
            raise DeviceAuthError(
                self.base, "the controller needs a password: set password_env in the rig",
                "控制器需要密码：请在机房配置中设置 password_env")
        path = "/api/auth/login" if self.mode == MODE_UNIFI_OS else "/api/login"
        self.http.session.cookies.clear()
        self.http.session.headers.pop("X-CSRF-Token", None)
        reply = self.http.request("POST", path, json={
            "username": self.user, "password": self.password, "remember": False})
        if reply.status_code in (400, 401, 403):
            raise DeviceAuthError(
                self.base, f"login as {self.user!r} rejected (HTTP {reply.status_code}); "
                f"check option 'user' and the password", f"以 {self.user!r} 登录被拒绝，"
                f"请检查 user 选项和密码")
        if reply.status_code != 200:
            raise DeviceProtocolError(
                self.base, f"POST {path} answered HTTP {reply.status_code}; is this a UniFi "
                f"Network controller?", "登录应答异常，请确认这是 UniFi Network 控制器")
        self._csrf = reply.headers.get("X-CSRF-Token") or self.http.session.cookies.get(
            "csrf_token")
        if self._csrf:
            self.http.session.headers["X-CSRF-Token"] = self._csrf
        self._logged_in = True

    # -- API -----------------------------------------------------------------------------
    def _get(self, subpath: str, site_scoped: bool = True) -> list[Any]:
        self.connect()
        path = (f"{self._prefix}/api/s/{self.site}/{subpath}" if site_scoped
                else f"{self._prefix}/api/{subpath}")
        for attempt in (1, 2):
            reply = self.http.request("GET", path)
            updated = reply.headers.get("X-Updated-CSRF-Token")
            if updated:
                self.http.session.headers["X-CSRF-Token"] = updated
            if reply.status_code == 401 and attempt == 1:
                self._logged_in = False
                self._login()
                continue
            doc = self.http.json(reply) if reply.content else {}
            meta = doc.get("meta") if isinstance(doc, dict) else None
            msg = meta.get("msg") if isinstance(meta, dict) else None
            if msg == "api.err.LoginRequired" and attempt == 1:
                self._logged_in = False
                self._login()
                continue
            return self._data(path, reply.status_code, doc, msg)
        raise DeviceAuthError(self.base, f"GET {path}: the controller keeps asking for login",
                              "控制器反复要求重新登录，请检查账号权限")

    def _data(self, path: str, status: int, doc: Any, msg: Any) -> list[Any]:
        if msg == "api.err.NoSiteContext":
            raise DeviceCommandError(
                self.base, f"site {self.site!r} does not exist on the controller; set option "
                f"'site' to the site id shown in its URL (/manage/site/<id>/...)",
                f"控制器上不存在站点 {self.site!r}，请修改 site 选项", code=str(msg),
                command=f"GET {path}", busy=False)
        if status == 401 or msg in ("api.err.LoginRequired", "api.err.NoPermission"):
            raise DeviceAuthError(self.base, f"GET {path}: not permitted ({msg or status})",
                                  "没有访问权限，请检查账号角色")
        if msg or status != 200:
            raise DeviceCommandError(
                self.base, f"GET {path} refused: HTTP {status} {msg or ''}".strip(),
                f"请求被拒绝：HTTP {status}", code=str(msg or status), command=f"GET {path}")
        data = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(data, list):
            raise DeviceProtocolError(self.base, f"GET {path}: reply has no 'data' list",
                                      "应答中缺少 data 列表")
        return data

    def _parse(self, what: str, rows: list[Any], parse: Any) -> list[Any]:
        out = []
        for i, row in enumerate(rows):
            try:
                item = parse(row)
            except ValueError as exc:
                raise DeviceProtocolError(self.base, f"{what} entry {i}: {exc}",
                                          f"{what} 第 {i} 项无法解析") from None
            if item is not None:
                out.append(item)
        return out

    def access_points(self) -> list[AccessPoint]:
        return self._parse("stat/device", self._get("stat/device"), parse_unifi_ap)

    def clients(self, ssid: str | None = None,
                ap_names: list[str] | None = None) -> list[WirelessClient]:
        names = {ap.mac: ap.name for ap in self.access_points()}
        rows = [r for r in self._get("stat/sta")
                if not (isinstance(r, dict) and r.get("is_wired") is True)]
        found = self._parse("stat/sta", rows, lambda r: parse_unifi_client(r, names))
        return filter_clients(found, ssid, ap_names)

    def identity(self) -> dict[str, Any]:
        info = self._get("stat/sysinfo")
        first = info[0] if info and isinstance(info[0], dict) else {}
        return {"vendor": "Ubiquiti", "product": "UniFi Network", "mode": self.mode,
                "version": text_or_none(first.get("version")), "site": self.site,
                "address": self.base}


def open_unifi(address: str, password: str | None, timeout: float,
               options: dict[str, Any]) -> UnifiController:
    """Rig factory. Options: user (default "admin"), site ("default"), verify_tls (true)."""
    opts = dict(options or {})
    user, site = opts.get("user", "admin"), opts.get("site", "default")
    if not isinstance(user, str) or not user or not isinstance(site, str) or not site:
        raise ValueError("unifi options 'user' and 'site' must be non-empty text / "
                         "unifi 选项 user 和 site 必须为非空文本")
    return UnifiController(address, password, timeout, user=user, site=site,
                           verify_tls=tls_verify_option(opts.get("verify_tls", True)))
