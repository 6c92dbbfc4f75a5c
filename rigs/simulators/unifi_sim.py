"""A UniFi Network controller on loopback: login, clients (stat/sta) and APs (stat/device).

Both generations are served, chosen by the ``unifi_os`` knob:

- classic controller: ``GET /`` redirects to ``/manage``; ``POST /api/login``; API under
  ``/api/s/<site>/...``; session cookie ``unifises`` plus a ``csrf_token`` cookie;
- UniFi OS console: ``GET /`` answers 200; ``POST /api/auth/login`` sets a ``TOKEN`` cookie and
  an ``X-CSRF-Token`` header; API under ``/proxy/network/api/s/<site>/...``.

Also ``GET .../api/self/sites`` and ``.../api/s/<site>/stat/sysinfo``. Replies use the
controller envelope ``{"meta": {"rc": "ok"}, "data": [...]}``. TLS (self-signed) is on by
default, as on real controllers (``tls=False`` for plain HTTP).

Population: ``clients`` (a count, or a list of tables with any of mac, ip, hostname, ssid, ap,
band, rssi_dbm, tx_rate_mbps, rx_rate_mbps, os), ``ssid``, ``aps`` (a count or list of names),
``band``, ``tx_rate_mbps``, ``rx_rate_mbps``. Faults: ``require_auth`` (False: API open),
``bad_password`` (every login rejected), ``reply_delay_s``, ``drop_after`` (from the N+1-th
request on, connections close without a reply), ``garbage`` (API replies are not JSON),
``report_only=K`` (the controller reports only K of the associated clients),
``foreign=K`` (K more clients on another SSID and AP), ``require_csrf`` (API calls without
the session's CSRF token are refused). ``follow(provider)`` makes the controller report an
emulated crowd's stations instead of its own population (see
:mod:`classcert.rigs.simulators.wifi_population`).
"""

from __future__ import annotations

import json
import secrets
from http.cookies import SimpleCookie
from typing import Any

from classcert.rigs.simulators.json_sim import JsonSimBase, SimHandler
from classcert.rigs.simulators.wifi_population import (
    Association,
    Population,
    StationProvider,
    make_population,
)

__all__ = ["JsonSimBase", "Population", "SimHandler", "UnifiSim", "make_population"]


class UnifiSim(JsonSimBase):
    """Thread-based simulator; ``start()`` returns self, ``address`` is ``127.0.0.1:PORT``."""

    name = "unifi-sim"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, password: str | None = None, *,
                 user: str = "admin", unifi_os: bool = False, site: str = "default",
                 clients: int | list[dict[str, Any]] = 10, ssid: str = "Classroom",
                 aps: int | list[str] = 2, band: str = "5", tx_rate_mbps: float = 866.7,
                 rx_rate_mbps: float = 780.0, require_auth: bool = True,
                 bad_password: bool = False, reply_delay_s: float = 0.0,
                 drop_after: int | None = None, garbage: bool = False,
                 report_only: int | None = None, foreign: int = 0, require_csrf: bool = False,
                 tls: bool = True, version: str = "8.0.26") -> None:
        super().__init__(host, port, tls=tls, reply_delay_s=reply_delay_s,
                         drop_after=drop_after, garbage=garbage)
        if require_auth and not password:
            password = "ubnt"  # a controller always has an admin password
        self.user, self.password, self.unifi_os, self.site = user, password, unifi_os, site
        self.require_auth, self.bad_password = require_auth, bad_password
        self.require_csrf, self.version = require_csrf, version
        self.population = make_population(clients, aps, ssid=ssid, band=band,
                                          tx_rate_mbps=tx_rate_mbps, rx_rate_mbps=rx_rate_mbps)
        self.association = Association(self.population, ssid=ssid, band=band,
                                       tx_rate_mbps=tx_rate_mbps, rx_rate_mbps=rx_rate_mbps,
                                       report_only=report_only, foreign=foreign)
        self.sessions: dict[str, str] = {}  # session cookie -> CSRF token
        self.logins = 0

    # -- controller behaviour ----------------------------------------------------------
    @property
    def prefix(self) -> str:
        return "/proxy/network" if self.unifi_os else ""

    @property
    def cookie_name(self) -> str:
        return "TOKEN" if self.unifi_os else "unifises"

    def expire_sessions(self) -> None:
        """Forget every session, as a controller restart or timeout does."""
        with self.lock:
            self.sessions.clear()

    def follow(self, provider: StationProvider | None) -> None:
        """Report ``provider()``'s stations (an emulated crowd) as the associated clients."""
        self.association.follow(provider)

    def reported_clients(self) -> list[dict[str, Any]]:
        return self.association.reported()

    def sta_rows(self) -> list[dict[str, Any]]:
        rows = []
        for c in self.reported_clients():
            radio = {"2.4": "ng", "5": "na", "6": "6e"}[c["band"]]
            channel = {"2.4": 6, "5": 36, "6": 37}[c["band"]]
            rows.append({
                "_id": c["mac"].replace(":", "")[:24], "mac": c["mac"], "ip": c["ip"],
                "hostname": c["hostname"], "essid": c["ssid"], "ap_mac": c["ap_mac"],
                "radio": radio, "channel": channel, "radio_proto": "ax", "is_wired": False,
                "is_guest": False, "signal": c["rssi_dbm"], "rssi": c["rssi_dbm"] + 95,
                "noise": -95, "tx_rate": int(round(c["tx_rate_mbps"] * 1000)),
                "rx_rate": int(round(c["rx_rate_mbps"] * 1000)), "oui": c["os"],
                "site_id": "5f0000000000000000000001", "uptime": 600, "authorized": True,
            })
        return rows

    def device_rows(self) -> list[dict[str, Any]]:
        counts: dict[str, int] = {}
        for c in self.reported_clients():
            counts[c["ap_mac"]] = counts.get(c["ap_mac"], 0) + 1
        rows = []
        for i, ap in enumerate(self.association.aps):
            n = counts.get(ap["mac"], 0)
            rows.append({
                "_id": f"ap{i:022d}", "mac": ap["mac"], "name": ap["name"], "model": "U6PRO",
                "type": "uap", "state": 1, "adopted": True, "version": "6.6.77",
                "ip": f"10.0.0.{10 + i}", "num_sta": n, "user-num_sta": n, "guest-num_sta": 0,
                "device_id": f"ap{i:022d}", "considered_lost_at": 0,
                "radio_table": [{"name": "wifi0", "radio": "ng", "channel": 6},
                                {"name": "wifi1", "radio": "na", "channel": 36}],
            })
        return rows

    # -- HTTP ----------------------------------------------------------------------------
    def handle(self, h: SimHandler, method: str, path: str, body: bytes) -> None:
        if path == "/" and method == "GET":
            if self.unifi_os:
                h.reply(200, b"<html><title>UniFi OS</title></html>", "text/html")
            else:
                h.reply(302, b"", "text/html", {"Location": "/manage"})
            return
        login = "/api/auth/login" if self.unifi_os else "/api/login"
        if path == login and method == "POST":
            self._login(h, body)
            return
        if path in ("/api/login", "/api/auth/login"):  # the other generation's login
            h.reply(404, b"Not Found", "text/plain")
            return
        if not path.startswith(self.prefix + "/api/"):
            h.reply(404, b"Not Found", "text/plain")
            return
        api = path[len(self.prefix):]
        if self.require_auth and not self._session_ok(h):
            if self.unifi_os:
                h.reply(401, b'{"error":{"code":401,"message":"Unauthorized"}}',
                        "application/json")
            else:
                h.json(401, _envelope([], error="api.err.LoginRequired"))
            return
        if api == "/api/self/sites":
            h.json(200, _envelope([{"_id": "5f0000000000000000000001", "name": self.site,
                                    "desc": "Default", "role": "admin"}]))
            return
        site_path = f"/api/s/{self.site}/"
        if not api.startswith(site_path):
            if api.startswith("/api/s/"):
                h.json(400, _envelope([], error="api.err.NoSiteContext"))
            else:
                h.reply(404, b"Not Found", "text/plain")
            return
        table = {
            "stat/sta": self.sta_rows,
            "stat/device": self.device_rows,
            "stat/sysinfo": lambda: [{"version": self.version, "name": "Network",
                                      "hostname": "unifi-sim", "timezone": "Asia/Shanghai"}],
        }
        rows = table.get(api[len(site_path):])
        if rows is None:
            h.json(404, _envelope([], error="api.err.NotFound"))
            return
        h.json(200, _envelope(rows()))

    def _login(self, h: SimHandler, body: bytes) -> None:
        try:
            doc = json.loads(body or b"{}")
        except ValueError:
            doc = {}
        ok = (isinstance(doc, dict) and not self.bad_password and doc.get("username") == self.user
              and doc.get("password") == self.password)
        if not ok:
            if self.unifi_os:
                h.json(401, {"code": "AUTHENTICATION_FAILED_INVALID_CREDENTIALS",
                             "message": "Invalid username or password"})
            else:
                h.json(400, _envelope([], error="api.err.Invalid"))
            return
        session, csrf = secrets.token_hex(16), secrets.token_hex(16)
        with self.lock:
            self.sessions[session] = csrf
            self.logins += 1
        headers = [("Set-Cookie", f"{self.cookie_name}={session}; Path=/; HttpOnly"),
                   ("X-CSRF-Token", csrf)]
        if not self.unifi_os:
            headers.append(("Set-Cookie", f"csrf_token={csrf}; Path=/"))
        payload = ({"username": self.user, "isOwner": True} if self.unifi_os
                   else _envelope([]))
        h.json(200, payload, headers)

    def _session_ok(self, h: SimHandler) -> bool:
        jar = SimpleCookie()
        try:
            jar.load(h.headers.get("Cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie is just no session
            return False
        morsel = jar.get(self.cookie_name)
        with self.lock:
            csrf = self.sessions.get(morsel.value) if morsel else None
        if csrf is None:
            return False
        return not self.require_csrf or h.headers.get("X-CSRF-Token") == csrf


def _envelope(data: list[dict[str, Any]], error: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"rc": "error", "msg": error} if error else {"rc": "ok"}
    return {"meta": meta, "data": data}
