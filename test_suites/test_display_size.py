"""Display size for the room's seats (显示设备尺寸), from the best evidence available.

Evidence, best first: the display's own size query > EDID detailed-timing mm > EDID cm
bytes > a tape measurement by the operator. Sizes EDIDs are known to get wrong are refused,
a projector always needs a measurement on the screen, and when the display's claims
disagree the operator is asked to measure. The evidence used is named on the certificate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from classcert.device_drivers.display_size import choose_size
from classcert.device_drivers.edid import parse_edid
from classcert.device_drivers.edid_source import read_edid
from classcert.device_drivers.errors import DeviceError
from classcert.fixtures.devices import NotTested, open_room_display

KEY = "display.size"
CM_PER_IN = 2.54


def _vendor_size(ctx, room, device, notes: list[str]) -> float | None:
    try:
        _dev, display = open_room_display(ctx, room)
    except (DeviceError, ValueError) as exc:
        notes.append(f"size query not possible: {exc}")
        return None
    try:
        return display.screen_size_in()
    except DeviceError as exc:
        notes.append(f"size query failed: {exc}")
        return None
    finally:
        display.close()


def _edid(ctx, device, notes: list[str]) -> tuple[Any, str]:
    spec = device.options.get("edid")
    if not spec:
        return None, ""
    if not spec.startswith("drm") and not Path(spec).is_absolute():
        spec = str(ctx.rig.path.parent / spec)  # relative to the rig file
    try:
        data = read_edid(spec)
        return parse_edid(data, source=spec), data.hex()
    except DeviceError as exc:
        notes.append(f"EDID not usable: {exc}")
        return None, ""


@pytest.mark.requirement(KEY)
def test_display_size(classcert_campaign, room, display_device, operator, measure):
    ctx = classcert_campaign
    notes: list[str] = []
    projector = display_device.options.get("kind") == "projector"
    vendor = None if projector else _vendor_size(ctx, room, display_device, notes)
    edid, edid_hex = _edid(ctx, display_device, notes)
    ev = choose_size(vendor, edid, None, projector=projector)
    record: dict[str, Any] = {
        "projector": projector, "vendor_size_in": vendor, "edid_hex": edid_hex, "notes": notes,
        "candidates": [c._asdict() for c in ev.candidates],
        "refused": [r._asdict() for r in ev.refused],
        "disagreements": [d._asdict() for d in ev.disagreements],
    }
    refused_en = "; ".join(f"{r.source}: {r.reason_en}" for r in ev.refused)
    refused_zh = "；".join(f"{r.source}：{r.reason_zh}" for r in ev.refused)
    if ev.diagonal_in is None or ev.disagreements:
        disagree = "; ".join(d.message_en for d in ev.disagreements)
        why_en = (f"the display's own claims disagree ({disagree})"
                  if ev.diagonal_in is not None else
                  f"no trustworthy size evidence ({refused_en or 'no size query, no EDID'})")
        why_zh = ("显示设备自报尺寸互相矛盾" if ev.diagonal_in is not None
                  else f"无可信尺寸证据（{refused_zh or '无尺寸查询、无 EDID'}）")
        operator.notify(
            f"{room.id}: {why_en}. Measure the diagonal of the display image with a tape.",
            f"{room.id}：{why_zh}。请用卷尺测量显示画面对角线。")
        att = operator.ask_number(room, KEY, "Diagonal of the display image (inches, or '218 cm')",
                                  "显示画面对角线（英寸，或如 218 cm）", unit="in",
                                  units={"cm": 1 / CM_PER_IN})
        if att is None:
            if ev.diagonal_in is None:
                raise NotTested(
                    f"{why_en}; a tape measurement is needed: give it at the prompt or with "
                    f"--attest", f"{why_zh}；需人工卷尺测量：请在终端输入或用 --attest 提供")
        else:
            record["operator"] = att.as_json()
            evidence = measure.write_evidence("display-size.json", record)
            measure.attest(KEY, att, evidence=[evidence], detail_en=f"tape measurement ({why_en})",
                           detail_zh=f"人工卷尺测量（{why_zh}）")
            return
    evidence = measure.write_evidence("display-size.json", record)
    bound = "at least " if ev.at_least else ""
    detail_en = f"{bound}{ev.diagonal_in:.1f} in from {ev.source} ({ev.detail})"
    detail_zh = (f"{'至少 ' if ev.at_least else ''}{ev.diagonal_in:.1f} 英寸，"
                 f"来源 {ev.source}（{ev.detail}）")
    if ev.disagreements:
        detail_en += "; unresolved: " + "; ".join(d.message_en for d in ev.disagreements)
        detail_zh += "；未解决：" + "；".join(d.message_zh for d in ev.disagreements)
    if ev.refused:
        detail_en += f"; not used: {refused_en}"
        detail_zh += f"；未采用：{refused_zh}"
    measure(KEY, round(ev.diagonal_in, 1), unit="in", evidence=[evidence],
            detail_en=detail_en, detail_zh=detail_zh)
