"""TP-Link Omada controller driver (Open API, client-credentials mode).

The application registered under *Settings > Platform Integration > Open API* has a
``client_id`` and ``client_secret`` (the rig's ``password_env``). The driver asks
``POST /openapi/authorize/token?grant_type=client_credentials`` for an access token, sends
it as ``Authorization: AccessToken=<token>``, renews it with the refresh token when the
controller says it expired (errorCode -44112) and re-authorises when that fails.
Lists are paged (``page``/``pageSize``); the number of pages read is bounded. Link rates
arrive in kbit/s; ``rssi`` is in dBm; ``radioId`` 0 = 2.4 GHz, 1/2 = 5 GHz, 3 = 6 GHz.
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
    band_from_channel,
    controller_base_url,
    filter_clients,
    normalise_mac,
    normalise_mac_or_none,
    rate_mbps,
    rssi_dbm,
    text_or_none,
    tls_verify_option,
)

TOKEN_EXPIRED = -44112
TOKEN_INVALID = -44113
_TOKEN_CODES = {TOKEN_EXPIRED, TOKEN_INVALID, -44111, -44114}
_RADIO_BANDS = {0: "2.4", 1: "5", 2: "5", 3: "6"}
MAX_PAGES = 200


def parse_omada_client(raw: Any) -> WirelessClient | None:
    """One clients row -> WirelessClient (None for wired clients); ValueError if no MAC."""
    if not isinstance(raw, dict):
        raise ValueError(f"client entry is not an object: {raw!r:.60}")
    mac = normalise_mac(raw.get("mac"))
    if raw.get("wireless") is False:
        return None
    radio = raw.get("radioId")
    band = (_RADIO_BANDS.get(radio) if isinstance(radio, int) and not isinstance(radio, bool)
            else None) or band_from_channel(raw.get("channel"))
    return WirelessClient(
        mac=mac, ip=text_or_none(raw.get("ip")),
        hostname=text_or_none(raw.get("hostName")) or text_or_none(raw.get("name")),
        ap_mac=normalise_mac_or_none(raw.get("apMac")), ap_name=text_or_none(raw.get("apName")),
        ssid=text_or_none(raw.get("ssid")), band=band, rssi_dbm=rssi_dbm(raw.get("rssi")),
        tx_rate_mbps=rate_mbps(raw.get("txRate"), "kbps"),
        rx_rate_mbps=rate_mbps(raw.get("rxRate"), "kbps"),
        os_hint=text_or_none(raw.get("osName")) or text_or_none(raw.get("deviceType")),
    )


def parse_omada_ap(raw: Any) -> AccessPoint | None:
    """One devices row -> AccessPoint; None for switches and gateways; ValueError if bad."""
    if not isinstance(raw, dict):
        raise ValueError(f"device entry is not an object: {raw!r:.60}")
    if str(raw.get("type", "")).lower() != "ap":
        return None
    mac = normalise_mac(raw.get("mac"))
    count = raw.get("clientNum")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        count = 0
    return AccessPoint(mac=mac, name=text_or_none(raw.get("name")) or mac,
                       model=text_or_none(raw.get("model")) or "", clients=count)


class OmadaController:
    """An Omada controller's clients and devices for one site (read-only)."""

    def __init__(self, address: str, client_secret: str | None, timeout: float = 5.0, *,
                 client_id: str, omadac_id: str | None = None, site: str | None = None,
                 verify_tls: bool | str = True, page_size: int = 100) -> None:
        if not 1 <= page_size <= 1000:
            raise ValueError("page_size must be 1..1000")
        self.base = controller_base_url(address)
        self.device = self.base
        self.client_id, self.client_secret = client_id, client_secret
        self.omadac_id, self.site, self.page_size = omadac_id, site, page_size
        self.http = JsonHttp(self.base, timeout, tls_verify_option(verify_tls))
        self.site_id: str | None = None
        self._access: str | None = None
        self._refresh: str | None = None
        self._info: dict[str, Any] = {}

    # -- session -------------------------------------------------------------------------
    def connect(self) -> None:
        if not self._info:
            self._info = self._result(self.http.request("GET", "/api/info"), "/api/info") or {}
            if not isinstance(self._info, dict):
                self._info = {"raw": self._info}
        if self.omadac_id is None:
            found = self._info.get("omadacId")
            if not isinstance(found, str) or not found:
                raise DeviceCommandError(
                    self.base, "the controller did not tell its omadacId; set option "
                    "'omadac_id' (Settings > Platform Integration > Open API)",
                    "控制器未返回 omadacId，请设置 omadac_id 选项", code="omadacId",
                    command="GET /api/info", busy=False)
            self.omadac_id = found
        if self._access is None:
            self._authorize()
        if self.site_id is None:
            self.site_id = self._resolve_site()

    def close(self) -> None:
        self.http.close()
        self._access = self._refresh = None

    def __enter__(self) -> OmadaController:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _authorize(self) -> None:
        if not self.client_secret:
            raise DeviceAuthError(
                self.base, "the Omada Open API needs the client secret: set password_env",
                "Omada Open API 需要 client secret：请设置 password_env")
        path = "/openapi/authorize/token?grant_type=client_credentials"
        reply = self.http.request("POST", path, json={
            "omadacId": self.omadac_id, "client_id": self.client_id,
            "client_secret": self.client_secret})
        self._store_tokens(self._token_result(reply, path))

    def _renew(self) -> None:
        if self._refresh:
            path = "/openapi/authorize/token"
            reply = self.http.request("POST", path, params={
                "grant_type": "refresh_token", "client_id": self.client_id,
                "client_secret": self.client_secret, "refresh_token": self._refresh})
            doc = self.http.json(reply)
            if isinstance(doc, dict) and doc.get("errorCode") == 0:
                self._store_tokens(doc.get("result"))
                return
        self._authorize()

    def _token_result(self, reply: Any, path: str) -> Any:
        doc = self.http.json(reply)
        if isinstance(doc, dict) and doc.get("errorCode") not in (0, None):
            raise DeviceAuthError(
                self.base, f"token request refused: {doc.get('msg')} (errorCode "
                f"{doc.get('errorCode')}); check client_id, omadac_id and the client secret",
                "获取令牌被拒绝，请检查 client_id、omadac_id 和 client secret")
        if reply.status_code != 200 or not isinstance(doc, dict):
            raise DeviceProtocolError(self.base, f"POST {path}: HTTP {reply.status_code}",
                                      "令牌请求应答异常")
        return doc.get("result")

    def _store_tokens(self, result: Any) -> None:
        token = result.get("accessToken") if isinstance(result, dict) else None
        if not isinstance(token, str) or not token:
            raise DeviceProtocolError(self.base, "token reply has no accessToken",
                                      "令牌应答中缺少 accessToken")
        self._access = token
        refresh = result.get("refreshToken")
        self._refresh = refresh if isinstance(refresh, str) and refresh else None

    # -- API -----------------------------------------------------------------------------
    def _result(self, reply: Any, path: str) -> Any:
        doc = self.http.json(reply)
        if not isinstance(doc, dict) or "errorCode" not in doc:
            raise DeviceProtocolError(self.base, f"{path}: reply is not an Omada envelope",
                                      "应答不是 Omada 格式")
        code = doc.get("errorCode")
        if code != 0:
            raise DeviceCommandError(
                self.base, f"{path} refused: {doc.get('msg')} (errorCode {code})",
                f"请求被拒绝（errorCode {code}）", code=str(code), command=f"GET {path}")
        return doc.get("result")

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        for attempt in (1, 2):
            reply = self.http.request("GET", path, params=params,
                                      headers={"Authorization": f"AccessToken={self._access}"})
            doc = self.http.json(reply)
            code = doc.get("errorCode") if isinstance(doc, dict) else None
            if attempt == 1 and (code in _TOKEN_CODES or reply.status_code == 401):
                if code == TOKEN_EXPIRED:
                    self._renew()
                else:
                    self._authorize()
                continue
            if code in _TOKEN_CODES or reply.status_code == 401:
                raise DeviceAuthError(self.base, f"GET {path}: token refused ({code})",
                                      "访问令牌被拒绝，请检查 Open API 应用权限")
            return self._result(reply, path)
        raise DeviceAuthError(self.base, f"GET {path}: token refused", "访问令牌被拒绝")

    def _paged(self, path: str) -> list[Any]:
        rows: list[Any] = []
        for page in range(1, MAX_PAGES + 1):
            result = self._get(path, {"page": page, "pageSize": self.page_size})
            data = result.get("data") if isinstance(result, dict) else None
            total = result.get("totalRows") if isinstance(result, dict) else None
            if not isinstance(data, list) or not isinstance(total, int):
                raise DeviceProtocolError(self.base, f"GET {path}: no paged 'data'/'totalRows'",
                                          "分页应答缺少 data 或 totalRows")
            rows.extend(data)
            if not data or len(rows) >= total:
                return rows
        raise DeviceProtocolError(self.base, f"GET {path}: more than {MAX_PAGES} pages",
                                  f"分页超过 {MAX_PAGES} 页")

    def _resolve_site(self) -> str:
        sites = [s for s in self._paged(f"/openapi/v1/{self.omadac_id}/sites")
                 if isinstance(s, dict)]
        if self.site is None and len(sites) == 1:
            return str(sites[0].get("siteId"))
        want = (self.site or "").casefold()
        for s in sites:
            if want in (str(s.get("siteId", "")).casefold(), str(s.get("name", "")).casefold()):
                return str(s.get("siteId"))
        names = ", ".join(str(s.get("name")) for s in sites)
        raise DeviceCommandError(
            self.base, f"site {self.site!r} not found; set option 'site' to one of: {names}",
            f"未找到站点 {self.site!r}，请将 site 选项设为：{names}", code="site",
            command="GET sites", busy=False)

    def _rows(self, what: str, parse: Any) -> list[Any]:
        self.connect()
        out = []
        rows = self._paged(f"/openapi/v1/{self.omadac_id}/sites/{self.site_id}/{what}")
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
        return self._rows("devices", parse_omada_ap)

    def clients(self, ssid: str | None = None,
                ap_names: list[str] | None = None) -> list[WirelessClient]:
        return filter_clients(self._rows("clients", parse_omada_client), ssid, ap_names)

    def identity(self) -> dict[str, Any]:
        self.connect()
        return {"vendor": "TP-Link", "product": "Omada Controller",
                "version": text_or_none(self._info.get("controllerVer")),
                "api_version": text_or_none(self._info.get("apiVer")),
                "omadac_id": self.omadac_id, "site": self.site, "site_id": self.site_id,
                "address": self.base}


def open_omada(address: str, password: str | None, timeout: float,
               options: dict[str, Any]) -> OmadaController:
    """Rig factory. Options: client_id (required), omadac_id (asked from the controller when
    absent), site (name or id; optional when there is one site), verify_tls, page_size.
    ``password`` is the Open API client secret (password_env)."""
    opts = dict(options or {})
    client_id = opts.get("client_id")
    if not isinstance(client_id, str) or not client_id:
        raise ValueError("omada option 'client_id' is required (Open API application) / "
                         "omada 需要 client_id 选项")
    for key in ("omadac_id", "site"):
        if opts.get(key) is not None and (not isinstance(opts[key], str) or not opts[key]):
            raise ValueError(f"omada option {key!r} must be non-empty text / "
                             f"omada 选项 {key} 必须为非空文本")
    page_size = opts.get("page_size", 100)
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise ValueError("omada option 'page_size' must be a whole number 1..1000")
    return OmadaController(address, password, timeout, client_id=client_id,
                           omadac_id=opts.get("omadac_id"), site=opts.get("site"),
                           verify_tls=tls_verify_option(opts.get("verify_tls", True)),
                           page_size=page_size)
