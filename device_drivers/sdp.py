"""SDP (RFC 4566) for RTSP streams: media lines, ``rtpmap``, ``fmtp``, ``control``,
``framerate`` and ``x-dimensions``; plus resolving ``control`` URLs (RFC 2326 C.1.1).

Nothing here does I/O. Malformed input raises :class:`RtspDecodeError` (a ``ValueError``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from classcert.device_drivers.rtsp_errors import RtspDecodeError


@dataclass
class SdpMedia:
    kind: str  # video, audio, application
    port: int
    proto: str
    formats: list[str]
    control: str | None = None
    rtpmap: dict[int, tuple[str, int, str]] = field(default_factory=dict)  # pt->(enc,clock,p)
    fmtp: dict[int, dict[str, str]] = field(default_factory=dict)
    framerate: float | None = None
    dimensions: tuple[int, int] | None = None
    attributes: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Sdp:
    session_name: str = ""
    origin: str = ""
    control: str | None = None
    attributes: list[tuple[str, str]] = field(default_factory=list)
    media: list[SdpMedia] = field(default_factory=list)

    def first(self, kind: str) -> SdpMedia | None:
        return next((m for m in self.media if m.kind == kind), None)


def parse_sdp(text: str) -> Sdp:
    """Parse an SDP description; unknown lines are kept as attributes or ignored."""
    sdp = Sdp()
    media: SdpMedia | None = None
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            continue
        if len(line) < 2 or line[1] != "=":
            raise RtspDecodeError(f"SDP line is not <type>=<value>: {line[:80]!r}")
        kind, value = line[0], line[2:]
        if kind == "m":
            parts = value.split()
            if len(parts) < 3 or not parts[1].split("/")[0].isdigit():
                raise RtspDecodeError(f"bad SDP media line {line[:80]!r}")
            media = SdpMedia(parts[0], int(parts[1].split("/")[0]), parts[2], parts[3:])
            sdp.media.append(media)
        elif kind == "s" and media is None:
            sdp.session_name = value
        elif kind == "o" and media is None:
            sdp.origin = value
        elif kind == "a":
            name, _, attr = value.partition(":")
            if media is None:
                sdp.attributes.append((name, attr))
                if name == "control":
                    sdp.control = attr.strip()
            else:
                _media_attribute(media, name, attr.strip())
    return sdp


def _media_attribute(media: SdpMedia, name: str, value: str) -> None:
    media.attributes.append((name, value))
    try:
        if name == "control":
            media.control = value
        elif name == "rtpmap":
            pt, _, enc = value.partition(" ")
            parts = enc.strip().split("/")
            media.rtpmap[int(pt)] = (parts[0], int(parts[1]) if len(parts) > 1 else 0,
                                     "/".join(parts[2:]))
        elif name == "fmtp":
            pt, _, params = value.partition(" ")
            media.fmtp[int(pt)] = {k: v for k, v in (
                (p.strip().partition("=")[0].lower(), p.strip().partition("=")[2].strip())
                for p in params.split(";")) if k}
        elif name == "framerate":
            media.framerate = float(value)
        elif name == "x-dimensions":
            w, h = value.split(",")
            media.dimensions = (int(w), int(h))
    except ValueError:
        raise RtspDecodeError(f"bad SDP attribute a={name}:{value[:80]}") from None


def resolve_control(base: str, control: str | None) -> str:
    """Absolute URL of a ``control`` attribute relative to the content base (RFC 2326 C.1.1)."""
    if not control or control == "*":
        return base
    if "://" in control:
        return control
    return base.rstrip("/") + "/" + control.lstrip("/")
