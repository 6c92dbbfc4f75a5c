"""ONVIF Profile S/T client for classroom cameras and recorders (SOAP 1.2 over HTTP).

What a device claims about its encoders (:class:`EncoderClaim`) is evidence to cross-check
against the decoded stream; this driver only reports the claims. Requests carry a WS-Security
UsernameToken (PasswordDigest) when a user is given; when the device refuses it, the client
reads the device clock (GetSystemDateAndTime, no authentication) and retries once with its
Created time on the device's clock. Requests only ever go to the host:port configured: the
service addresses (XAddrs) the device reports are used for their path only.
"""

from __future__ import annotations

import http.client
import os
import socket
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from classcert.device_drivers import onvif_soap as soap
from classcert.device_drivers.errors import (
    DeviceAuthError,
    DeviceCommandError,
    DeviceDisconnected,
    DeviceError,
    DeviceProtocolError,
    DeviceTimeout,
    DeviceUnreachable,
)
from classcert.device_drivers.onvif_soap import DeviceInfo, EncoderClaim, MediaProfile

__all__ = ["DeviceInfo", "EncoderClaim", "MediaProfile", "OnvifDevice", "open_onvif"]

DEFAULT_PORT = 80
DEVICE_PATH = "/onvif/device_service"
USER_AGENT = "classcert-onvif/0.1"
_SYNC_THRESHOLD_S = 5.0


def _split_address(address: str) -> tuple[str, int, str]:
    """"host[:port]" or "http://host[:port][/path]" -> (host, port, device path)."""
    text = address.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme != "http":
        raise ValueError(f"ONVIF address must use http://, got {address!r} / "
                         f"ONVIF 地址必须使用 http://")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ValueError(f"invalid port in ONVIF address {address!r} / "
                         "ONVIF 地址端口无效") from None
    if not parts.hostname:
        raise ValueError(f"no host in ONVIF address {address!r} / ONVIF 地址缺少主机名")
    return parts.hostname, port, parts.path or DEVICE_PATH


class OnvifDevice:
    """One ONVIF device. ``address`` is ``host[:port]`` or the device service URL."""

    def __init__(self, address: str, user: str | None = None, password: str | None = None,
                 timeout: float = 5.0, *, media_path: str | None = None) -> None:
        self.host, self.port, self.device_path = _split_address(address)
        self.address = f"[{self.host}]:{self.port}" if ":" in self.host else \
            f"{self.host}:{self.port}"
        self.user, self.password, self.timeout = user, password, timeout
        self.clock_offset_s = 0.0  # device clock minus ours, once synchronised
        self._synced = False
        self._media_path = media_path
        self._media2_path: str | None = None
        self._services: dict[str, str] | None = None

    # ------------------------------------------------------------ transport ------------
    def _post(self, path: str, payload: bytes, action: str) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        ctype = f'application/soap+xml; charset=utf-8; action="{action}"'
        try:
            conn.request("POST", path, body=payload, headers={
                "Content-Type": ctype, "User-Agent": USER_AGENT, "Connection": "close"})
            resp = conn.getresponse()
            data = resp.read(soap.MAX_DOCUMENT_BYTES + 1)
            return resp.status, data
        except TimeoutError:
            raise DeviceTimeout(self.address, f"no ONVIF reply within {self.timeout:g} s",
                                f"{self.timeout:g} 秒内无 ONVIF 响应") from None
        except ConnectionRefusedError:
            raise DeviceUnreachable(
                self.address, "connection refused: is the ONVIF service enabled on this port?",
                "连接被拒绝: 请确认设备已在该端口启用 ONVIF 服务") from None
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            raise DeviceDisconnected(self.address, "the device closed the connection "
                                     "without answering", "设备未应答即关闭了连接") from None
        except (socket.gaierror, OSError) as exc:
            raise DeviceUnreachable(self.address, f"cannot reach the device: {exc}",
                                    f"无法连接设备: {exc}") from None
        finally:
            conn.close()

    def _created(self) -> str:
        now = datetime.now(UTC) + timedelta(seconds=self.clock_offset_s)
        return now.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _call(self, path: str, body: str, prefix: str, op: str, auth: bool = True):
        """POST one operation and return its response element (``<op>Response``)."""
        for attempt in range(2):
            user = self.user if auth else None
            payload = soap.request(body, user, self.password, os.urandom(16), self._created())
            status, data = self._post(path, payload, f"{soap.NS[prefix]}/{op}")
            if status == 401:
                raise self._auth_error(op)
            try:
                return soap.parse_response(data, soap.q(prefix, f"{op}Response"))
            except soap.SoapFault as fault:
                if not fault.not_authorized:
                    code = (fault.subcodes or [fault.code])[-1]
                    raise DeviceCommandError(
                        self.address, f"{op} refused: {code} {fault.reason}".strip(),
                        f"设备拒绝 {op}: {code} {fault.reason}".strip(), code=code, command=op,
                        busy=False) from None
                if attempt == 0 and user is not None and not self._synced and self.sync_clock():
                    continue
                raise self._auth_error(op) from None
            except soap.SoapDecodeError as exc:
                raise DeviceProtocolError(
                    self.address, f"{op}: HTTP {status}, not a valid ONVIF reply ({exc})",
                    f"{op}: HTTP {status}, 不是有效的 ONVIF 响应 ({exc})") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _auth_error(self, op: str) -> DeviceAuthError:
        if self.user is None:
            return DeviceAuthError(self.address, f"{op} needs a user name and password: set "
                                   "options.user and password_env in the rig",
                                   f"{op} 需要用户名和密码: 请在配置中设置 user 与 password_env")
        return DeviceAuthError(self.address, f"user {self.user!r} was refused (wrong password, "
                               "or the device clock is far off)",
                               f"用户 {self.user!r} 认证失败 (密码错误或设备时钟偏差过大)")

    def sync_clock(self) -> bool:
        """Read the device clock; True when the offset changed enough to be worth a retry."""
        self._synced = True
        try:
            device_now = self.system_date_and_time()
        except DeviceError:
            return False
        offset = (device_now - datetime.now(UTC)).total_seconds()
        changed = abs(offset - self.clock_offset_s) > _SYNC_THRESHOLD_S
        self.clock_offset_s = offset
        return changed

    # ------------------------------------------------------------ device service -------
    def system_date_and_time(self) -> datetime:
        body = self._call(self.device_path, soap.get_system_date_and_time(), "tds",
                          "GetSystemDateAndTime", auth=False)
        parts = soap.parse_system_date_and_time(body)
        try:
            return datetime(*parts, tzinfo=UTC)
        except ValueError as exc:
            raise DeviceProtocolError(self.address, f"device clock is not a valid date: {exc}",
                                      f"设备时钟不是有效日期: {exc}") from None

    def device_information(self) -> DeviceInfo:
        """Make, model, firmware, serial (GetDeviceInformation)."""
        body = self._call(self.device_path, soap.get_device_information(), "tds",
                          "GetDeviceInformation")
        return soap.parse_device_information(body)

    def capabilities(self) -> dict[str, str]:
        """Service name -> XAddr (GetCapabilities, category All)."""
        body = self._call(self.device_path, soap.get_capabilities(), "tds", "GetCapabilities")
        return soap.parse_capabilities(body)

    def services(self) -> dict[str, str]:
        """Service namespace -> XAddr (GetServices); cached."""
        if self._services is None:
            body = self._call(self.device_path, soap.get_services(), "tds", "GetServices")
            self._services = soap.parse_services(body)
        return dict(self._services)

    def _resolve_media(self) -> None:
        if self._media_path is not None and self._media2_path is not None:
            return
        try:
            found = self.services()
            media, media2 = found.get(soap.NS["trt"]), found.get(soap.NS["tr2"])
        except DeviceCommandError:  # older devices: GetServices not implemented
            media, media2 = self.capabilities().get("Media"), None
        if self._media_path is None:
            if not media:
                raise DeviceProtocolError(self.address, "the device offers no media service",
                                          "设备未提供媒体服务 (media service)")
            self._media_path = urlsplit(media).path or "/"
        self._media2_path = (urlsplit(media2).path or "/") if media2 else ""

    def media_path(self) -> str:
        """Path of the Media1 (trt) service on this device."""
        self._resolve_media()
        assert self._media_path is not None
        return self._media_path

    def media2_path(self) -> str | None:
        """Path of the Media2 (tr2) service, or None when the device does not offer it."""
        self._resolve_media()
        return self._media2_path or None

    def _use_media2(self, media2: bool | None) -> bool:
        if media2 is None:
            return self.media2_path() is not None
        if media2 and self.media2_path() is None:
            raise DeviceCommandError(self.address, "the device offers no Media2 service",
                                     "设备未提供 Media2 服务", code="NoMedia2", busy=False)
        return media2

    def _media_call(self, media2: bool, body: str, op: str):
        path = self.media2_path() if media2 else self.media_path()
        return self._call(path or "/", body, "tr2" if media2 else "trt", op)

    # ------------------------------------------------------------ media service --------
    def profiles(self, media2: bool | None = None) -> list[MediaProfile]:
        """Media profiles (Media2 when offered, unless ``media2=False``)."""
        m2 = self._use_media2(media2)
        return soap.parse_profiles(self._media_call(m2, soap.get_profiles(m2), "GetProfiles"))

    def stream_uri(self, profile_token: str, media2: bool | None = None) -> str:
        """RTSP URI of a profile's stream (RTP unicast over RTSP/TCP)."""
        m2 = self._use_media2(media2)
        body = self._media_call(m2, soap.get_stream_uri(profile_token, m2), "GetStreamUri")
        return soap.parse_stream_uri(body)

    def video_encoder_configuration(self, token: str) -> EncoderClaim:
        """One Media1 video encoder configuration by its token."""
        body = self._media_call(False, soap.get_video_encoder_configuration(token),
                                "GetVideoEncoderConfiguration")
        found = soap.parse_encoder_configurations(body)
        if not found:
            raise DeviceProtocolError(self.address, f"no configuration in the answer for {token}",
                                      f"{token} 的应答中没有编码配置")
        return found[0]

    def video_encoder_configurations(self, profile_token: str | None = None,
                                     media2: bool | None = None) -> list[EncoderClaim]:
        """All video encoder configurations (Media2 may filter by profile)."""
        m2 = self._use_media2(media2)
        body = self._media_call(m2, soap.get_video_encoder_configurations(m2, profile_token),
                                "GetVideoEncoderConfigurations")
        return soap.parse_encoder_configurations(body)

    def encoder_claims(self, media2: bool | None = None) -> list[EncoderClaim]:
        """The encoder claim of every profile that has a video encoder."""
        return [p.encoder for p in self.profiles(media2) if p.encoder is not None]

    # ------------------------------------------------------------ lifecycle ------------
    def connect(self) -> OnvifDevice:
        """Check the device answers, and find its media services."""
        self._resolve_media()
        return self

    def close(self) -> None:
        """Nothing stays open between calls (one HTTP connection per request)."""

    def __enter__(self) -> OnvifDevice:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_onvif(address: str, password: str | None, timeout: float,
               options: dict[str, Any]) -> OnvifDevice:
    """Rig factory: options ``user`` (default "admin" when a password is set), ``media_path``."""
    user = options.get("user", "admin" if password is not None else None)
    media_path = options.get("media_path")
    for name, value in (("user", user), ("media_path", media_path)):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"onvif option {name!r} must be a string, got {value!r} / "
                             f"onvif 选项 {name} 必须为字符串")
    return OnvifDevice(address, user=user, password=password, timeout=timeout,
                       media_path=media_path)
