"""Shared steps of the video suites: claim, decode, and one measurement per 1080P part.

A stream's claims (RTSP SDP / H.264 SPS) are recorded and cross-checked; the verdicts come
from what the decoded pictures show. Not collected as tests.
"""

from __future__ import annotations

from typing import Any

from classcert.device_drivers.errors import DeviceError
from classcert.device_drivers.rtsp import RtspClient
from classcert.fixtures.devices import NotForThisRoom, Unmeasurable
from classcert.model import Device, Room
from classcert.video_probe import ProbeError, ProbeResult, probe

PARTS = ("progressive", "fps", "freezes", "dropped")


def keys_for(base: str) -> tuple[str, ...]:
    return (base, *(f"{base}.{p}" for p in PARTS))


STREAM_DRIVERS = ("rtsp", "onvif")


def stream_device(room: Room, role: str) -> Device:
    """The room's streaming device of ``role``; other suites take other drivers."""
    devices = room.devices_with_role(role)
    for device in devices:
        if device.driver in STREAM_DRIVERS:
            return device
    if devices:
        raise NotForThisRoom(f"{role} uses driver {devices[0].driver}")
    raise Unmeasurable(
        f"room {room.id} has no {role} stream in the rig: add a [[rooms.devices]] entry with "
        f'role = "{role}", driver = "rtsp" and its stream URL as address',
        f"教室 {room.id} 的场地文件中没有 {role} 视频流设备",
    )


def stream_url(ctx: Any, room: Room, device: Device) -> str:
    address = ctx.device_address(room, device)
    if device.driver == "onvif":
        return _onvif_stream(address, device)
    if "://" in address:
        return address
    scheme = "rtsp" if device.driver == "rtsp" else "http"
    return f"{scheme}://{address}{device.options.get('path', '/')}"


def _onvif_stream(address: str, device: Device) -> str:
    """Ask an ONVIF device for the RTSP URI of its first media profile."""
    from classcert.device_drivers.onvif import OnvifDevice
    from classcert.fixtures.devices import device_password

    password = device_password(device)
    user = device.options.get("user", "admin" if password else None)
    with OnvifDevice(address, user=user, password=password,
                     timeout=float(device.options.get("timeout_s", 5))) as cam:
        profiles = cam.profiles()
        if not profiles:
            raise Unmeasurable("the ONVIF device offers no media profile",
                               "ONVIF 设备没有媒体配置")
        return cam.stream_uri(profiles[0].token)


def onvif_claim(ctx: Any, room: Room, device: Device) -> dict[str, Any]:
    """The encoder configuration an ONVIF device claims (evidence, cross-checked later)."""
    if device.driver != "onvif":
        return {}
    from classcert.device_drivers.onvif import OnvifDevice
    from classcert.fixtures.devices import device_password

    password = device_password(device)
    try:
        with OnvifDevice(ctx.device_address(room, device),
                         user=device.options.get("user", "admin" if password else None),
                         password=password,
                         timeout=float(device.options.get("timeout_s", 5))) as cam:
            info = cam.device_information()
            claims = cam.encoder_claims()
        first = claims[0] if claims else None
        return {"make": info.make, "model": info.model, "serial": info.serial,
                "firmware": info.firmware,
                "width": first.width if first else None,
                "height": first.height if first else None,
                "encoder": [c.__dict__ for c in claims]}
    except DeviceError as exc:
        return {"error": str(exc)}


def stream_claim(url: str, device: Device, password: str | None) -> dict[str, Any]:
    """What the device says about its stream (RTSP DESCRIBE); an error is recorded, not fatal."""
    if not url.lower().startswith("rtsp"):
        return {}
    if device.driver == "onvif":  # the stream's own credentials are in the URI, if any
        password = None
    try:
        with RtspClient(url, password=password, timeout=float(device.options.get("timeout_s", 5)),
                        user=device.options.get("user")) as client:
            claim = client.describe()
        return {k: (str(v) if k == "sar" else v) for k, v in claim.__dict__.items()
                if k != "raw_sdp"} | {"sdp": claim.raw_sdp}
    except DeviceError as exc:
        return {"error": str(exc)}


def decode(url: str, seconds: float, evidence_dir: Any) -> ProbeResult:
    try:
        return probe(url, max_seconds=seconds, evidence_dir=evidence_dir, timeout_s=10)
    except ProbeError as exc:
        raise Unmeasurable(exc.args[0], exc.args[1] if len(exc.args) > 1 else exc.args[0]) \
            from exc


def measure_parts(measure: Any, base: str, r: ProbeResult, claim: dict[str, Any],
                  evidence: list[Any]) -> None:
    """One measurement per part of the 1080P clause, each judged by the catalog."""
    checked = _claim_vs_picture(claim, r)
    eff = r.effective
    if eff is None or not eff.get("lines") or eff.get("confidence") == "none":
        measure.unmeasurable(base, "no measurable picture detail in the decoded frames (show "
                             "the classcert test pattern to the source)",
                             "解码画面中无可测细节（请向信号源播放 classcert 测试图样）")
    else:
        width = eff.get("width") or r.width
        if r.sample_aspect_ratio != 1:  # anamorphic: stored samples stretched wider
            width = min(width, r.width)
        lines = int(eff["lines"])
        if r.sample_aspect_ratio != 1:
            what_en = (f"pixels are not square: {r.width}x{r.height} stretched to the screen "
                       f"(pixel aspect {r.sample_aspect_ratio}), so only {width} picture "
                       f"samples per line")
            what_zh = (f"像素不是正方形：{r.width}x{r.height} 拉伸显示（像素宽高比 "
                       f"{r.sample_aspect_ratio}），每行仅 {width} 个像素的细节")
        elif lines < r.height:
            what_en = f"picture detail equals a {lines}p source upscaled to {r.height} lines"
            what_zh = f"画面细节只相当于 {lines}p 信号放大到 {r.height} 行"
        elif width < r.width:
            what_en = f"horizontal detail equals only {width} of {r.width} samples per line"
            what_zh = f"水平细节只相当于每行 {width} 个像素（共 {r.width}）"
        else:
            what_en = f"picture detail fills the full {r.width}x{r.height}"
            what_zh = f"画面细节达到完整的 {r.width}x{r.height}"
        measure(base, [int(width), lines], unit="px", evidence=evidence,
                detail_en=f"{what_en}; {checked[0]}", detail_zh=f"{what_zh}；{checked[1]}")
    why = "flagged interlaced" if r.interlaced_frames else "combing on moving edges"
    measure(f"{base}.progressive", bool(r.progressive), evidence=evidence,
            detail_en="" if r.progressive else f"interlaced ({r.height}i): {why}",
            detail_zh="" if r.progressive else f"隔行扫描（{r.height}i）")
    if r.fps_measured is None:
        measure.unmeasurable(f"{base}.fps", "too few frames to measure the frame rate",
                             "帧数过少，无法测量帧率")
    else:
        measure(f"{base}.fps", round(r.fps_measured, 2), evidence=evidence,
                detail_en=f"declared {r.fps_declared}", detail_zh=f"标称 {r.fps_declared}")
    measure(f"{base}.freezes", round(r.frozen_seconds, 2), evidence=evidence)
    missing = max(r.dropped_frames, r.pattern_frames_missing or 0)
    expected = r.frames + missing
    measure(f"{base}.dropped", round(100 * missing / expected, 2) if expected else 0.0,
            evidence=evidence, detail_en=f"{missing} of {expected} pictures missing",
            detail_zh=f"{expected} 帧中缺失 {missing} 帧")


def _claim_vs_picture(claim: dict[str, Any], r: ProbeResult) -> tuple[str, str]:
    """A device's claim is evidence to cross-check, never proof."""
    if not claim or claim.get("error") or not claim.get("width"):
        return "no stream claim to cross-check", "无码流声明可核对"
    if (claim["width"], claim["height"]) != (r.width, r.height):
        return (f"the device claims {claim['width']}x{claim['height']} but sends "
                f"{r.width}x{r.height}", f"设备声称 {claim['width']}x{claim['height']}，"
                f"实际 {r.width}x{r.height}")
    return (f"the device's claim of {claim['width']}x{claim['height']} matches the stream's "
            f"frame size (which says nothing of the detail in it)",
            f"设备声明 {claim['width']}x{claim['height']} 与帧尺寸一致（不代表实际细节）")


def check_stream(ctx: Any, room: Room, operator: Any, measure: Any, base: str, role: str) -> None:
    """The whole check of one room's live stream of ``role`` against the parts of ``base``."""
    from pathlib import Path

    from classcert.fixtures.devices import device_password

    device = stream_device(room, role)
    url = stream_url(ctx, room, device)
    operator.notify(
        f"{room.id}: make sure the {role} source shows the classcert test pattern "
        f"(classcert video pattern); decoding {url}",
        f"{room.id}：请让{role}信号源播放 classcert 测试图样；正在解码视频流",
    )
    claim = stream_claim(url, device, device_password(device)) or onvif_claim(ctx, room, device)
    result = decode(url, float(device.options.get("seconds", 10)), measure.evidence_dir)
    record = {"url": url, "claim": claim, "decoded": {
        "width": result.width, "height": result.height,
        "sample_aspect_ratio": str(result.sample_aspect_ratio),
        "progressive": result.progressive, "fps_measured": result.fps_measured,
        "frames": result.frames, "dropped_frames": result.dropped_frames,
        "pattern_frames_missing": result.pattern_frames_missing,
        "frozen_seconds": result.frozen_seconds, "black_seconds": result.black_seconds,
        "bitrate_kbps": [result.bitrate_mean_kbps, result.bitrate_min_kbps],
        "effective": result.effective, "notes": result.notes}, "frames": result.evidence}
    evidence = [measure.write_evidence(f"{role}-stream.json", record),
                *(Path(p) for p in result.evidence)]
    measure_parts(measure, base, result, claim, evidence)
