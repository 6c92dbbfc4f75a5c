"""Lecture-capture recorders driven over HTTP: start, stop, find and fetch the latest recording.

Vendors differ, so the API is a small recipe in the rig options, e.g.::

    options = { start = { method = "POST", path = "/api/record/start", json = { ch = 1 } },
                stop = { method = "POST", path = "/api/record/stop" },
                latest = { method = "GET", path = "/api/recordings?limit=1",
                           url_field = "items.0.url" },
                auth = "digest", user = "admin", finalise_s = 60, poll_s = 1 }

``url_field`` is a dotted path into the JSON reply (list indices are numbers); the URL it
finds may be relative to the recorder or absolute. Defaults are the values shown (auth
"basic" when a password is given). Each option is checked when the driver is made.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import requests
from requests.auth import AuthBase, HTTPBasicAuth, HTTPDigestAuth

from classcert.device_drivers.errors import (
    DeviceAuthError,
    DeviceCommandError,
    DeviceError,
    DeviceProtocolError,
    DeviceTimeout,
    DeviceUnreachable,
)

DEFAULT_RECIPES: dict[str, dict[str, Any]] = {
    "start": {"method": "POST", "path": "/api/record/start"},
    "stop": {"method": "POST", "path": "/api/record/stop"},
    "latest": {"method": "GET", "path": "/api/recordings?limit=1", "url_field": "items.0.url"},
}
_RECIPE_KEYS = {"method", "path", "json", "data", "headers", "url_field"}
_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
MAX_REPLY = 1 << 20  # API replies larger than this are not a recorder's JSON
_CHUNK = 256 * 1024


class RecordingTooLarge(DeviceProtocolError):
    """A download went past its size bound (the partial file is removed)."""


def dig(doc: Any, dotted: str) -> Any:
    """The value at ``dotted`` ("items.0.url") in a JSON document; KeyError when absent."""
    node = doc
    for part in dotted.split(".") if dotted else []:
        if isinstance(node, list):
            if not part.lstrip("-").isdigit():
                raise KeyError(part)
            idx = int(part)
            if not -len(node) <= idx < len(node):
                raise KeyError(part)
            node = node[idx]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(part)
    return node


def base_url(address: str) -> str:
    """``host:port`` or ``http(s)://host:port[/prefix]`` -> URL ending without a slash."""
    text = address.strip()
    if "://" not in text:
        text = f"http://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"recorder address {address!r}: give host:port or http(s)://host:port")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _recipe(options: dict[str, Any], name: str) -> dict[str, Any]:
    given = options.get(name, {})
    if not isinstance(given, dict):
        raise ValueError(f"option {name!r} must be a table such as {DEFAULT_RECIPES[name]}")
    unknown = set(given) - _RECIPE_KEYS
    if unknown:
        raise ValueError(f"option {name!r}: unknown keys {sorted(unknown)}; known: "
                         f"{sorted(_RECIPE_KEYS)}")
    recipe = {**DEFAULT_RECIPES[name], **given}
    recipe["method"] = str(recipe["method"]).upper()
    if recipe["method"] not in _METHODS:
        raise ValueError(f"option {name}.method {recipe['method']!r}: use one of "
                         f"{sorted(_METHODS)}")
    if not str(recipe["path"]).startswith("/") and "://" not in str(recipe["path"]):
        raise ValueError(f"option {name}.path {recipe['path']!r} must start with '/'")
    return recipe


class HttpRecorder:
    """One recorder's HTTP API. Every call is bounded by ``timeout`` seconds."""

    def __init__(self, address: str, password: str | None = None, timeout: float = 5.0,
                 options: dict[str, Any] | None = None) -> None:
        opts = dict(options or {})
        self.base = base_url(address)
        self.device = self.base
        self.timeout = float(opts.get("timeout_s", timeout))
        self.recipes = {name: _recipe(opts, name) for name in DEFAULT_RECIPES}
        self.finalise_s = float(opts.get("finalise_s", 60.0))
        self.poll_s = max(0.05, float(opts.get("poll_s", 1.0)))
        self.verify_tls = bool(opts.get("verify_tls", True))
        self.user = str(opts.get("user", "admin"))
        self.password = password
        kind = str(opts.get("auth", "basic" if password else "none")).lower()
        if kind not in ("none", "basic", "digest"):
            raise ValueError(f"option auth {kind!r}: use none, basic or digest")
        if kind != "none" and password is None:
            raise ValueError(f"auth = {kind!r} needs a password (password_env in the rig)")
        self.auth_kind = kind
        self._session = requests.Session()
        self._session.auth = self._auth()

    def _auth(self) -> AuthBase | None:
        if self.auth_kind == "basic":
            return HTTPBasicAuth(self.user, self.password or "")
        if self.auth_kind == "digest":
            return HTTPDigestAuth(self.user, self.password or "")
        return None

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> HttpRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ----------------------------------------------------------------------
    def url(self, path: str) -> str:
        """Absolute URL of ``path`` (relative to the recorder, or already absolute)."""
        return urljoin(self.base + "/", path)

    def _send(self, what: str, method: str, url: str, **kw: Any) -> requests.Response:
        try:
            resp = self._session.request(method, url, timeout=self.timeout,
                                         verify=self.verify_tls, allow_redirects=True, **kw)
        except requests.Timeout as exc:
            raise DeviceTimeout(self.device, f"{what}: no answer within {self.timeout:g} s",
                                f"{what}：{self.timeout:g} 秒内无响应") from exc
        except requests.RequestException as exc:
            raise DeviceUnreachable(
                self.device, f"{what}: cannot connect ({exc.__class__.__name__}); is the "
                "recorder on and the address right?", f"{what}：无法连接，请检查录播主机电源和地址"
            ) from exc
        if resp.status_code in (401, 403):
            resp.close()
            hint = ("set password_env in the rig" if self.password is None
                    else "check the user, password and auth (basic/digest) options")
            raise DeviceAuthError(
                self.device, f"{what}: HTTP {resp.status_code}, {hint}",
                f"{what}：认证失败（HTTP {resp.status_code}），请检查用户名和密码")
        if resp.status_code >= 400:
            body = resp.text[:200] if not kw.get("stream") else ""
            resp.close()
            raise DeviceCommandError(
                self.device, f"{what}: the recorder refused with HTTP {resp.status_code} {body}",
                f"{what}：录播主机拒绝请求（HTTP {resp.status_code}）",
                code=str(resp.status_code), command=f"{method} {url}",
                busy=resp.status_code in (409, 423, 503))
        return resp

    def call(self, name: str) -> Any:
        """Run recipe ``name`` (start, stop, latest); the parsed JSON reply, or {} if empty."""
        r = self.recipes[name]
        kw: dict[str, Any] = {}
        for key in ("json", "data", "headers"):
            if key in r:
                kw[key] = r[key]
        resp = self._send(name, r["method"], self.url(str(r["path"])), **kw)
        raw = resp.content[:MAX_REPLY + 1]
        if not raw.strip():
            return {}
        try:
            if len(raw) > MAX_REPLY:
                raise ValueError("reply too large")
            return resp.json()
        except ValueError as exc:
            raise DeviceProtocolError(
                self.device, f"{name}: the reply is not JSON ({raw[:40]!r}); check the "
                f"{name}.path option", f"{name}：回复不是 JSON，请检查接口路径") from exc

    def start(self) -> Any:
        """Start recording; returns the recorder's JSON reply."""
        return self.call("start")

    def stop(self) -> Any:
        """Stop recording; returns the recorder's JSON reply."""
        return self.call("stop")

    def latest_recording_url(self) -> str | None:
        """Absolute URL of the newest recording, or None when the recorder lists none."""
        field = str(self.recipes["latest"]["url_field"])
        doc = self.call("latest")
        try:
            value = dig(doc, field)
        except KeyError:
            if _empty_list_on_path(doc, field):
                return None
            raise DeviceProtocolError(
                self.device, f"latest: no {field!r} in the reply {str(doc)[:120]}; set "
                "latest.url_field to the dotted path of the recording URL",
                f"latest：回复中没有 {field}，请设置 latest.url_field") from None
        if not isinstance(value, str) or not value.strip():
            raise DeviceProtocolError(self.device, f"latest: {field!r} is {value!r}, not a URL",
                                      f"latest：{field} 不是网址")
        return self.url(value.strip())

    def wait_for_new_recording(self, previous: str | None, wait_s: float | None = None) -> str:
        """Poll ``latest`` until a recording other than ``previous`` is listed (finalised)."""
        limit = self.finalise_s if wait_s is None else wait_s
        deadline = time.monotonic() + limit
        for _ in range(100_000):
            url = self.latest_recording_url()
            if url is not None and url != previous:
                return url
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(self.poll_s, left))
        raise DeviceTimeout(
            self.device, f"no new recording was listed within {limit:g} s after the stop; "
            "raise finalise_s if the recorder needs longer to finalise",
            f"停止录制后 {limit:g} 秒内未出现新的录像文件，可调大 finalise_s")

    def stream_url(self, url: str) -> str:
        """``url`` with the credentials in it, for a decoder that fetches it itself."""
        parts = urlsplit(self.url(url))
        if self.auth_kind == "none" or parts.username:
            return urlunsplit(parts)
        cred = f"{quote(self.user, safe='')}:{quote(self.password or '', safe='')}"
        return urlunsplit((parts.scheme, f"{cred}@{parts.netloc}", parts.path, parts.query,
                           parts.fragment))

    def download(self, url: str, dest: str | Path, max_bytes: int) -> Path:
        """Stream ``url`` to ``dest``; at most ``max_bytes`` (else RecordingTooLarge)."""
        target = Path(dest)
        part = target.with_name(target.name + ".part")
        resp = self._send("download", "GET", self.url(url), stream=True)
        done = 0
        try:
            declared = int(resp.headers.get("Content-Length") or 0)
            if declared > max_bytes:
                raise self._too_large(declared, max_bytes)
            deadline = time.monotonic() + max(self.timeout * 60, 60.0)
            with part.open("wb") as fh:
                for chunk in resp.iter_content(_CHUNK):
                    done += len(chunk)
                    if done > max_bytes:
                        raise self._too_large(done, max_bytes)
                    fh.write(chunk)
                    if time.monotonic() > deadline:
                        raise DeviceTimeout(self.device, "download: too slow, stopped",
                                            "下载过慢，已中止")
            if declared and done != declared:
                raise DeviceProtocolError(
                    self.device, f"download: got {done} of {declared} bytes",
                    f"下载不完整：{declared} 字节中只收到 {done}")
            part.replace(target)
            return target
        except requests.RequestException as exc:
            raise DeviceProtocolError(self.device, f"download interrupted: {exc}",
                                      "下载中断") from exc
        finally:
            resp.close()
            part.unlink(missing_ok=True)

    def _too_large(self, size: int, limit: int) -> DeviceError:
        return RecordingTooLarge(
            self.device, f"download: the recording is larger than {limit} bytes ({size}+); "
            "raise max_bytes if it is genuine", f"下载：录像超过 {limit} 字节上限")


def _empty_list_on_path(doc: Any, dotted: str) -> bool:
    """True when ``dotted`` fails only because a list on its way is empty (no recordings)."""
    node = doc
    for part in dotted.split("."):
        if isinstance(node, list):
            return not node
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return False


def open_http_recorder(address: str, password: str | None, timeout: float,
                       options: dict[str, Any]) -> HttpRecorder:
    """Registry factory: the recorder of a rig device with ``driver = "http-recorder"``."""
    return HttpRecorder(address, password, timeout, options)
