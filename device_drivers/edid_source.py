"""Where EDID bytes come from: a file (raw .bin or hex text) or Linux DRM sysfs connectors.

Hex text is accepted as printed by ``edid-decode`` (its hex dump), ``xrandr --verbose``
(the ``EDID:`` property), a C array (``0x00, 0xff, ...``) or plain hex. The harness laptop's
connectors are read from ``/sys/class/drm/card*-*/{status,enabled,edid}``.

Returns bytes only; :func:`classcert.device_drivers.edid.parse_edid` decodes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from classcert.device_drivers.edid import BLOCK_SIZE, HEADER, EdidError
from classcert.device_drivers.errors import DeviceError

SYSFS_DRM = Path("/sys/class/drm")
MAX_FILE_BYTES = 1 << 20  # an EDID is at most 256 blocks (32 KiB); text dumps a little more
INTERNAL_PORTS = ("eDP", "LVDS", "DSI")  # the laptop's own panel, never the room display
_HEX_TOKEN = re.compile(r"^(?:0[xX])?((?:[0-9a-fA-F]{2})+)$")
_CONNECTOR = re.compile(r"^card\d+-(.+)$")


class EdidSourceError(DeviceError):
    """The EDID could not be read: file missing, connector absent or not connected."""


@dataclass(frozen=True)
class DrmConnector:
    """One video output of the harness computer, as DRM sysfs shows it."""

    name: str  # e.g. "card0-HDMI-A-1"
    path: Path
    status: str  # "connected", "disconnected" or "unknown"
    enabled: bool | None  # None when sysfs has no "enabled" file
    edid: bytes  # b"" when the display gave none

    @property
    def port(self) -> str:
        """The connector name without the card prefix, e.g. "HDMI-A-1"."""
        m = _CONNECTOR.match(self.name)
        return m.group(1) if m else self.name

    @property
    def connected(self) -> bool:
        return self.status == "connected"

    @property
    def internal(self) -> bool:
        return self.port.startswith(INTERNAL_PORTS)

    def summary(self) -> str:
        edid = f"EDID {len(self.edid)} bytes" if self.edid else "no EDID"
        return f"{self.name}: {self.status}, {edid}"


def _hex_line(line: str) -> bytes | None:
    """The bytes of a line made only of hex tokens, else None."""
    tokens = line.replace(",", " ").split()
    if not tokens:
        return None
    out = bytearray()
    for tok in tokens:
        m = _HEX_TOKEN.match(tok)
        if not m:
            return None
        out += bytes.fromhex(m.group(1))
    return bytes(out)


def _edids_in_run(run: bytes) -> list[bytes]:
    found: list[bytes] = []
    pos = run.find(HEADER)
    while pos >= 0 and len(found) < 64:
        size = BLOCK_SIZE * (1 + run[pos + 126]) if pos + 126 < len(run) else BLOCK_SIZE
        chunk = run[pos:pos + size]
        whole = len(chunk) - len(chunk) % BLOCK_SIZE
        found.append(chunk[:whole] if whole else chunk)
        pos = run.find(HEADER, pos + max(len(chunk), 1))
    return found


def edids_from_text(text: str) -> list[bytes]:
    """Every EDID found in hex text, in order of appearance.

    Consecutive hex lines form a run (blank lines inside a run are allowed, as edid-decode
    separates blocks with them); any other line ends the run. Within a run each EDID starts
    at the 8-byte header and is as long as its extension count says, when present.
    """
    runs: list[bytearray] = [bytearray()]
    for line in text.splitlines():
        line = line.strip()
        if line.upper().startswith("EDID:"):
            line = line[5:].strip()
        if not line:
            continue
        data = _hex_line(line)
        if data is None:
            if runs[-1]:
                runs.append(bytearray())
        else:
            runs[-1] += data
    return [e for run in runs for e in _edids_in_run(bytes(run))]


def edids_from_file_bytes(data: bytes) -> list[bytes]:
    """EDIDs in a file's content: raw binary when it starts with the header, else hex text."""
    if data.startswith(HEADER):
        return [data]
    return edids_from_text(data.decode("utf-8", errors="replace"))


def read_edid_file(path: str | Path, which: int | None = None) -> bytes:
    """The EDID bytes in ``path``; ``which`` picks one when the file holds several (0-based)."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_FILE_BYTES:
            raise EdidSourceError(str(p), "file is larger than 1 MiB: not an EDID dump",
                                  "文件超过 1 MiB：不是 EDID 数据")
        data = p.read_bytes()
    except OSError as exc:
        raise EdidSourceError(str(p), f"cannot read EDID file: {exc.strerror or exc}",
                              f"无法读取 EDID 文件：{exc.strerror or exc}") from exc
    edids = edids_from_file_bytes(data)
    if not edids:
        raise EdidError(str(p), "no EDID found: expected raw bytes (.bin) or hex text as printed"
                        " by edid-decode or xrandr --verbose",
                        "未找到 EDID：应为原始二进制 (.bin) 或 edid-decode / xrandr --verbose "
                        "输出的十六进制文本")
    if which is None and len(edids) > 1:
        raise EdidSourceError(str(p), f"file holds {len(edids)} EDIDs: say which one (0-"
                              f"{len(edids) - 1})", f"文件包含 {len(edids)} 个 EDID：请指定序号 "
                              f"(0-{len(edids) - 1})")
    index = which or 0
    if not 0 <= index < len(edids):
        raise EdidSourceError(str(p), f"EDID number {index} asked, file holds {len(edids)}",
                              f"请求第 {index} 个 EDID，文件仅包含 {len(edids)} 个")
    return edids[index]


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None


def list_drm_connectors(root: str | Path = SYSFS_DRM) -> list[DrmConnector]:
    """All DRM connectors under ``root`` (sorted by name), connected or not."""
    base = Path(root)
    if not base.is_dir():
        raise EdidSourceError(str(base), "no DRM sysfs directory: not Linux, or no graphics "
                              "driver loaded; save the EDID to a file instead",
                              "没有 DRM sysfs 目录：不是 Linux 或未加载显卡驱动；请改用 EDID 文件")
    out: list[DrmConnector] = []
    for path in sorted(base.glob("card*-*")):
        if not _CONNECTOR.match(path.name) or not (path / "status").exists():
            continue
        enabled = _read_text(path / "enabled")
        try:
            edid = (path / "edid").read_bytes()[:MAX_FILE_BYTES]
        except OSError:
            edid = b""
        out.append(DrmConnector(path.name, path, _read_text(path / "status") or "unknown",
                                None if enabled is None else enabled == "enabled", edid))
    return out


def _pick(conns: list[DrmConnector], name: str) -> DrmConnector:
    if name:
        hits = [c for c in conns if name in (c.name, c.port)]
    else:
        hits = [c for c in conns if c.connected and c.edid and not c.internal]
    listing = "; ".join(c.summary() for c in conns) or "none"
    if len(hits) == 1:
        return hits[0]
    if not hits and name:
        en, zh = f"no connector named {name!r} (have: {listing})", f"没有名为 {name!r} 的接口"
    elif not hits:
        en = f"no external display with EDID is connected (connectors: {listing})"
        zh = "没有连接带 EDID 的外接显示设备：请检查线缆和显示设备电源"
    else:
        en = f"connector name {name!r} is ambiguous or several displays are connected: " \
             f"name one ({listing})"
        zh = "接口名称不唯一或连接了多个显示设备：请指定接口名称"
    raise EdidSourceError("drm:" + name, en, zh)


def read_connector_edid(name: str = "", root: str | Path = SYSFS_DRM) -> bytes:
    """EDID of connector ``name`` ("card0-HDMI-A-1" or "HDMI-A-1"); with no name, of the one
    connected external display. Raises when it is not connected or gave no EDID."""
    conn = _pick(list_drm_connectors(root), name)
    if not conn.connected:
        raise EdidSourceError(conn.name, f"connector is {conn.status}: plug the display in and "
                              "switch it on", f"接口状态为 {conn.status}：请连接显示设备并开机")
    if not conn.edid:
        raise EdidSourceError(conn.name, "connected but no EDID read: try another cable or "
                              "input", "已连接但读不到 EDID：请更换线缆或输入接口")
    return conn.edid


def read_edid(spec: str, root: str | Path = SYSFS_DRM) -> bytes:
    """EDID bytes from ``spec``: "drm:" / "drm:HDMI-A-1" for a connector, else a file path
    (optionally suffixed "#N" to pick the N-th EDID of a multi-display dump)."""
    if spec == "drm" or spec.startswith("drm:"):
        return read_connector_edid(spec[4:], root)
    path, sep, index = spec.rpartition("#")
    if sep and index.isdigit():
        return read_edid_file(path, int(index))
    return read_edid_file(spec)
