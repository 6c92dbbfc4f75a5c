"""Byte transport to a device: a TCP socket ("host:port") or a pyserial port/URL.

``open_transport(address, timeout)`` picks the kind from the address:

- ``"192.0.2.10:4352"``, ``"display-101.school.lan:4352"``, ``"[::1]:4352"`` -> TCP socket;
- anything containing ``"://"`` (``socket://``, ``rfc2217://``, ``loop://``), ``COMn`` and
  device paths (``/dev/ttyUSB0``) -> ``serial.serial_for_url``.

Every read has one total deadline (``timeout`` seconds unless overridden); OS and pyserial
errors are mapped to the driver errors of :mod:`classcert.device_drivers.errors`.
"""

from __future__ import annotations

import re
import select
import socket
import time
from collections.abc import Iterable

import serial

from classcert.device_drivers.errors import (
    DeviceDisconnected,
    DeviceProtocolError,
    DeviceTimeout,
    DeviceUnreachable,
)

DEFAULT_MAX_BYTES = 4096
_SERIAL_POLL_S = 0.05
_RECV_CHUNK = 4096
_COM_PORT = re.compile(r"^COM\d+$", re.IGNORECASE)


def is_serial_address(address: str) -> bool:
    """True when ``address`` names a serial port or a pyserial URL rather than host:port."""
    a = address.strip()
    return "://" in a or bool(_COM_PORT.match(a)) or a.startswith(("/dev/", "\\\\.\\"))


def parse_tcp_address(address: str, default_port: int | None = None) -> tuple[str, int]:
    """Split ``"host:port"`` / ``"[v6]:port"`` / ``"host"`` (with ``default_port``).

    Raises ``ValueError`` with an operator-readable, bilingual message when malformed.
    """
    a = address.strip()
    host, port_text = a, ""
    if a.startswith("["):
        end = a.find("]")
        if end < 0 or (end + 1 < len(a) and a[end + 1] != ":"):
            raise ValueError(_bad_address(address))
        host, port_text = a[1:end], a[end + 2 :]
    elif a.count(":") == 1:
        host, port_text = a.split(":")
    # more than one ":" without brackets: a bare IPv6 address, port must come from default
    if not host:
        raise ValueError(_bad_address(address))
    if not port_text:
        if default_port is None:
            raise ValueError(_bad_address(address))
        return host, default_port
    if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
        raise ValueError(_bad_address(address))
    return host, int(port_text)


def _bad_address(address: str) -> str:
    return (
        f"invalid device address {address!r}: expected host:port (e.g. 192.0.2.10:4352, "
        f"[2001:db8::1]:4352) or a serial port (COM3, /dev/ttyUSB0, socket://host:port) / "
        f"设备地址无效：应为 主机:端口 或 串口名称"
    )


def _terminator_set(terminators: bytes | Iterable[int]) -> frozenset[int]:
    found = frozenset(terminators)
    if not found:
        raise ValueError("at least one terminator byte is required")
    return found


class Transport:
    """Common buffered reading logic; subclasses provide ``_recv_some`` and ``write``."""

    def __init__(self, address: str, timeout: float) -> None:
        self.address = address
        self.timeout = timeout
        self._buffer = bytearray()

    # -- subclass hooks ---------------------------------------------------------------
    def _recv_some(self, wait_s: float) -> bytes:  # pragma: no cover - abstract
        """Return some bytes (b"" if none arrived within ``wait_s``); raise on peer close."""
        raise NotImplementedError

    def write(self, data: bytes) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def is_open(self) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- public reading API -------------------------------------------------------------
    def read_until(
        self,
        terminators: bytes | Iterable[int] = b"\r",
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout: float | None = None,
    ) -> bytes:
        """Read up to and including the first byte that is in ``terminators``.

        ``terminators`` is a *set* of single bytes: ``b"\\r\\n"`` stops at CR or at LF.
        Raises DeviceTimeout when no terminator arrives before the deadline and
        DeviceProtocolError when ``max_bytes`` arrive without one.
        """
        stops = _terminator_set(terminators)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        scanned = 0
        while True:
            for i in range(scanned, len(self._buffer)):
                if self._buffer[i] in stops:
                    line = bytes(self._buffer[: i + 1])
                    del self._buffer[: i + 1]
                    return line
                if i + 1 >= max_bytes:
                    raise DeviceProtocolError(
                        self.address,
                        f"reply longer than {max_bytes} bytes without a terminator - the device "
                        f"does not speak the expected protocol, check the driver in the rig file",
                        f"回复超过 {max_bytes} 字节仍无结束符 - 设备协议不符，"
                        f"请检查机房配置中的驱动",
                    )
            scanned = len(self._buffer)
            self._fill(deadline, what="complete reply")

    def read_exact(self, n: int, timeout: float | None = None) -> bytes:
        """Read exactly ``n`` bytes (for binary protocols) or raise DeviceTimeout."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while len(self._buffer) < n:
            self._fill(deadline, what=f"{n} bytes")
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def discard_input(self) -> bytes:
        """Drop and return whatever is already buffered (stale bytes)."""
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fill(self, deadline: float, what: str) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeviceTimeout(
                self.address,
                f"no {what} within {self.timeout:g} s - the device is busy, asleep or not "
                f"this kind of device; check it is powered and raise the timeout if it is slow",
                f"{self.timeout:g} 秒内未收到完整回复 - 设备忙、休眠或类型不符；"
                f"请确认设备已通电，如设备较慢请增大超时时间",
            )
        self._buffer += self._recv_some(left)


class TcpTransport(Transport):
    """A connected TCP socket."""

    def __init__(self, address: str, timeout: float, default_port: int | None = None) -> None:
        super().__init__(address, timeout)
        host, port = parse_tcp_address(address, default_port)
        try:
            self._sock: socket.socket | None = socket.create_connection((host, port), timeout)
        except ConnectionRefusedError:
            raise DeviceUnreachable(
                address,
                "connection refused - check the address and that the control protocol "
                "(e.g. PJLink) is enabled in the display's network menu",
                "连接被拒绝 - 请检查地址，并在显示设备网络菜单中启用控制协议（如 PJLink）",
            ) from None
        except socket.gaierror as exc:
            raise DeviceUnreachable(
                address,
                f"cannot resolve host name {host!r} ({exc.strerror}) - check the spelling "
                f"or use the IP address",
                f"无法解析主机名 {host!r} - 请检查拼写或改用 IP 地址",
            ) from None
        except TimeoutError:
            raise DeviceUnreachable(
                address,
                f"no answer to the connection attempt within {timeout:g} s - the device is off, "
                f"unplugged, on another network, or a firewall blocks the port",
                f"{timeout:g} 秒内连接无应答 - 设备可能关机、断网、不在同一网络或端口被防火墙拦截",
            ) from None
        except OSError as exc:
            raise DeviceUnreachable(
                address,
                f"cannot connect ({exc.strerror or exc}) - check cabling, the address and "
                f"that this computer is on the equipment network",
                "无法连接 - 请检查网线、地址，以及本机是否在设备网络中",
            ) from None
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    @property
    def is_open(self) -> bool:
        """False once closed locally or once the peer has closed its side."""
        if self._sock is None:
            return False
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
            if readable and not self._sock.recv(1, socket.MSG_PEEK):
                return False
        except OSError:
            return False
        return True

    def write(self, data: bytes) -> None:
        sock = self._require()
        try:
            sock.settimeout(self.timeout)
            sock.sendall(data)
        except TimeoutError:
            raise DeviceTimeout(
                self.address,
                f"could not send within {self.timeout:g} s - the device is not reading",
                f"{self.timeout:g} 秒内无法发送 - 设备未接收数据",
            ) from None
        except OSError as exc:
            raise self._disconnected(exc) from None

    def _recv_some(self, wait_s: float) -> bytes:
        sock = self._require()
        try:
            sock.settimeout(max(wait_s, 0.001))
            data = sock.recv(_RECV_CHUNK)
        except TimeoutError:
            return b""
        except OSError as exc:
            raise self._disconnected(exc) from None
        if not data:
            raise self._disconnected(None)
        return data

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _require(self) -> socket.socket:
        if self._sock is None:
            raise self._disconnected(None)
        return self._sock

    def _disconnected(self, exc: OSError | None) -> DeviceDisconnected:
        why = f" ({exc.strerror or exc})" if exc is not None else ""
        return DeviceDisconnected(
            self.address,
            f"the connection was closed{why} - the device may allow only one client at a time "
            f"or drops idle connections; close other control software and retry",
            "连接已被关闭 - 设备可能只允许一个客户端或会断开空闲连接；请关闭其他控制软件后重试",
        )


class SerialTransport(Transport):
    """A pyserial port or URL (COM3, /dev/ttyUSB0, socket://, rfc2217://, loop://)."""

    def __init__(self, address: str, timeout: float, baudrate: int = 9600) -> None:
        super().__init__(address, timeout)
        try:
            self._port: serial.SerialBase | None = serial.serial_for_url(
                address.strip(), timeout=_SERIAL_POLL_S, write_timeout=timeout, baudrate=baudrate
            )
        except ValueError as exc:
            raise ValueError(f"{_bad_address(address)} ({exc})") from None
        except (serial.SerialException, OSError) as exc:
            raise DeviceUnreachable(
                address,
                f"cannot open serial port ({exc}) - check the port name, that the adapter is "
                f"plugged in and that no other program holds the port",
                "无法打开串口 - 请检查端口名称、转接线是否插好，以及是否被其他程序占用",
            ) from None

    @property
    def is_open(self) -> bool:
        return self._port is not None and bool(self._port.is_open)

    def write(self, data: bytes) -> None:
        port = self._require()
        try:
            port.write(data)
            port.flush()
        except serial.SerialTimeoutException:
            raise DeviceTimeout(
                self.address,
                f"could not send within {self.timeout:g} s - check flow control and cabling",
                f"{self.timeout:g} 秒内无法发送 - 请检查流控设置与连线",
            ) from None
        except (serial.SerialException, OSError) as exc:
            raise self._disconnected(exc) from None

    def _recv_some(self, wait_s: float) -> bytes:
        port = self._require()
        try:
            # the port polls every _SERIAL_POLL_S; read whatever is waiting (at least 1 byte)
            return port.read(max(1, min(port.in_waiting, _RECV_CHUNK)))
        except (serial.SerialException, OSError) as exc:
            raise self._disconnected(exc) from None

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            port.close()

    def _require(self) -> serial.SerialBase:
        if self._port is None:
            raise self._disconnected(None)
        return self._port

    def _disconnected(self, exc: Exception | None) -> DeviceDisconnected:
        why = f" ({exc})" if exc is not None else ""
        return DeviceDisconnected(
            self.address,
            f"the serial link was lost{why} - check the cable/adapter and retry",
            "串口连接已断开 - 请检查线缆或转接器后重试",
        )


def open_transport(
    address: str,
    timeout: float,
    *,
    default_port: int | None = None,
    baudrate: int = 9600,
) -> Transport:
    """Open a transport to ``address`` (see module docstring); ``timeout`` bounds each read.

    ``default_port`` is used for TCP addresses given without a port. Raises ValueError for
    a malformed address, DeviceUnreachable when the connection cannot be opened.
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    if is_serial_address(address):
        return SerialTransport(address, timeout, baudrate=baudrate)
    return TcpTransport(address, timeout, default_port=default_port)
