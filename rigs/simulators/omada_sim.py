"""A TP-Link Omada controller's Open API on loopback.

- ``GET /api/info`` (no auth): controller version and ``omadacId``;
- ``POST /openapi/authorize/token?grant_type=client_credentials`` with JSON ``omadacId``,
  ``client_id``, ``client_secret``; ``grant_type=refresh_token`` (query: client_id,
  client_secret, refresh_token) renews the access token;
- ``GET /openapi/v1/{omadacId}/sites``, ``.../sites/{siteId}/clients`` and
  ``.../sites/{siteId}/devices``, paged with ``page`` and ``pageSize`` (capped at
  ``max_page_size``); header ``Authorization: AccessToken=<token>``.

Replies are ``{"errorCode": 0, "msg": ..., "result": ...}``; errors keep HTTP 200 and use a
negative errorCode (-44112 token expired, -44113 token invalid, -44106 bad client
credentials, -1001 bad parameters). Population and faults as in
:mod:`classcert.rigs.simulators.unifi_sim`, the client secret being the ``password``; plus
``token_ttl_s`` and :meth:`OmadaSim.expire_tokens`; ``foreign`` and ``follow(provider)`` as
there.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from classcert.rigs.simulators.json_sim import JsonSimBase, SimHandler
from classcert.rigs.simulators.wifi_population import (
    Association,
    StationProvider,
    make_population,
)

TOKEN_EXPIRED = -44112
TOKEN_INVALID = -44113
BAD_CLIENT = -44106
BAD_PARAMS = -1001
_RADIO_IDS = {"2.4": 0, "5": 1, "6": 3}


def _dash_mac(mac: str) -> str:
    return mac.upper().replace(":", "-")  # Omada spells MACs "AA-BB-CC-DD-EE-FF"


class OmadaSim(JsonSimBase):
    """Thread-based simulator; ``start()`` returns self, ``address`` is ``127.0.0.1:PORT``."""

    name = "omada-sim"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, password: str | None = None, *,
                 client_id: str = "classcert", omadac_id: str = "8e2d4b5c6a7f40e1b2c3d4e5f6a7b8c9",
                 site: str = "Campus", clients: int | list[dict[str, Any]] = 10,
                 ssid: str = "Classroom", aps: int | list[str] = 2, band: str = "5",
                 tx_rate_mbps: float = 866.0, rx_rate_mbps: float = 702.0,
                 require_auth: bool = True, bad_password: bool = False,
                 reply_delay_s: float = 0.0, drop_after: int | None = None,
                 garbage: bool = False, report_only: int | None = None, foreign: int = 0,
                 token_ttl_s: int = 7200, max_page_size: int = 1000, tls: bool = True,
                 version: str = "5.15.8") -> None:
        super().__init__(host, port, tls=tls, reply_delay_s=reply_delay_s,
                         drop_after=drop_after, garbage=garbage)
        self.client_id, self.client_secret = client_id, password or "omada-secret"
        self.omadac_id, self.site, self.version = omadac_id, site, version
        self.site_id = secrets.token_hex(12)
        self.require_auth, self.bad_password = require_auth, bad_password
        if not 1 <= max_page_size <= 1000 or token_ttl_s < 1:
            raise ValueError("need 1 <= max_page_size <= 1000 and token_ttl_s >= 1")
        self.token_ttl_s, self.max_page_size = token_ttl_s, max_page_size
        self.population = make_population(clients, aps, ssid=ssid, band=band,
                                          tx_rate_mbps=tx_rate_mbps, rx_rate_mbps=rx_rate_mbps)
        self.association = Association(self.population, ssid=ssid, band=band,
                                       tx_rate_mbps=tx_rate_mbps, rx_rate_mbps=rx_rate_mbps,
                                       report_only=report_only, foreign=foreign)
        self.access: dict[str, float] = {}  # access token -> expiry (monotonic)
        self.refresh: set[str] = set()
        self.grants: list[str] = []  # grant_type of every successful token request

    def expire_tokens(self) -> None:
        """Every access token expires now (refresh tokens stay valid)."""
        with self.lock:
            for token in self.access:
                self.access[token] = 0.0

    # -- data --------------------------------------------------------------------------
    def follow(self, provider: StationProvider | None) -> None:
        """Report ``provider()``'s stations (an emulated crowd) as the associated clients."""
        self.association.follow(provider)

    def reported_clients(self) -> list[dict[str, Any]]:
        return self.association.reported()

    def client_rows(self) -> list[dict[str, Any]]:
        return [{
            "mac": _dash_mac(c["mac"]), "name": c["hostname"], "hostName": c["hostname"],
            "ip": c["ip"], "wireless": True, "ssid": c["ssid"], "apName": c["ap_name"],
            "apMac": _dash_mac(c["ap_mac"]), "radioId": _RADIO_IDS[c["band"]],
            "channel": {"2.4": 6, "5": 44, "6": 37}[c["band"]], "rssi": c["rssi_dbm"],
            "signalLevel": max(0, min(100, 2 * (c["rssi_dbm"] + 100))),
            "txRate": int(round(c["tx_rate_mbps"] * 1000)),
            "rxRate": int(round(c["rx_rate_mbps"] * 1000)), "wifiMode": 5,
            "osName": c["os"], "active": True, "uptime": 900,
        } for c in self.reported_clients()]

    def device_rows(self) -> list[dict[str, Any]]:
        counts: dict[str, int] = {}
        for c in self.reported_clients():
            counts[c["ap_mac"]] = counts.get(c["ap_mac"], 0) + 1
        rows: list[dict[str, Any]] = [{
            "mac": _dash_mac(ap["mac"]), "name": ap["name"], "type": "ap", "model": "EAP670",
            "status": 14, "clientNum": counts.get(ap["mac"], 0), "ip": f"10.0.1.{10 + i}",
            "firmwareVersion": "1.1.0"} for i, ap in enumerate(self.association.aps)]
        rows.append({"mac": "02-B0-00-00-00-01", "name": "Core switch", "type": "switch",
                     "model": "TL-SG3428", "status": 14, "clientNum": 0})
        return rows

    # -- HTTP ----------------------------------------------------------------------------
    def handle(self, h: SimHandler, method: str, path: str, body: bytes) -> None:
        if path == "/api/info" and method == "GET":
            h.json(200, _ok({"controllerVer": self.version, "apiVer": "3",
                             "omadacId": self.omadac_id, "type": 1}))
            return
        if path == "/openapi/authorize/token" and method == "POST":
            self._token(h, body)
            return
        base = f"/openapi/v1/{self.omadac_id}/sites"
        if not path.startswith("/openapi/v1/"):
            h.reply(404, b"Not Found", "text/plain")
            return
        if self.require_auth:
            code = self._token_state(h.headers.get("Authorization", ""))
            if code:
                msg = "expired" if code == TOKEN_EXPIRED else "Invalid"
                h.json(200, {"errorCode": code, "msg": f"The access token is {msg}."})
                return
        if not path.startswith(base):
            h.json(200, {"errorCode": -1, "msg": "Controller ID does not exist."})
            return
        rest = path[len(base):]
        if rest in ("", "/"):
            rows = [{"siteId": self.site_id, "name": self.site, "region": "China mainland",
                     "timeZone": "UTC+08:00", "scenario": "School", "type": 0}]
        elif rest == f"/{self.site_id}/clients":
            rows = self.client_rows()
        elif rest == f"/{self.site_id}/devices":
            rows = self.device_rows()
        else:
            h.json(200, {"errorCode": -1005, "msg": "Site does not exist."})
            return
        self._page(h, rows)

    def _page(self, h: SimHandler, rows: list[dict[str, Any]]) -> None:
        try:
            page, size = int(h.query.get("page", "")), int(h.query.get("pageSize", ""))
        except ValueError:
            page = size = 0
        if page < 1 or not 1 <= size <= 1000:
            h.json(200, {"errorCode": BAD_PARAMS, "msg": "page >= 1 and 1 <= pageSize <= 1000"})
            return
        size = min(size, self.max_page_size)
        chunk = rows[(page - 1) * size: page * size]
        h.json(200, _ok({"totalRows": len(rows), "currentPage": page, "currentSize": size,
                         "data": chunk}))

    def _token_state(self, header: str) -> int:
        token = header.partition("AccessToken=")[2].strip()
        with self.lock:
            expiry = self.access.get(token)
        if expiry is None:
            return TOKEN_INVALID
        return TOKEN_EXPIRED if time.monotonic() >= expiry else 0

    def _token(self, h: SimHandler, body: bytes) -> None:
        grant = h.query.get("grant_type")
        if grant == "client_credentials":
            try:
                doc = json.loads(body or b"{}")
            except ValueError:
                doc = {}
            doc = doc if isinstance(doc, dict) else {}
            ok = (doc.get("omadacId") == self.omadac_id and doc.get("client_id") == self.client_id
                  and doc.get("client_secret") == self.client_secret)
        elif grant == "refresh_token":
            q = h.query
            with self.lock:
                known = q.get("refresh_token") in self.refresh
            ok = (known and q.get("client_id") == self.client_id
                  and q.get("client_secret") == self.client_secret)
        else:
            h.json(200, {"errorCode": BAD_PARAMS, "msg": "Unsupported grant_type."})
            return
        if not ok or self.bad_password:
            h.json(200, {"errorCode": BAD_CLIENT,
                         "msg": "The client id or client secret is invalid."})
            return
        access, refresh = f"AT-{secrets.token_hex(16)}", f"RT-{secrets.token_hex(16)}"
        with self.lock:
            if grant == "refresh_token":
                self.refresh.discard(h.query.get("refresh_token", ""))
            self.access[access] = time.monotonic() + self.token_ttl_s
            self.refresh.add(refresh)
            self.grants.append(grant)
        h.json(200, _ok({"accessToken": access, "tokenType": "bearer",
                         "expiresIn": self.token_ttl_s, "refreshToken": refresh}))


def _ok(result: Any) -> dict[str, Any]:
    return {"errorCode": 0, "msg": "Success.", "result": result}
