"""`classcert demo`: the built-in simulated school, run end to end and checked.

The demo school's rooms are each designed to come out a particular way; the demo
exits 0 only if every designed verdict appears and every certificate verifies.
"""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

from classcert.campaign_run import EXIT_HARNESS_ERROR, RunOptions, run_campaign
from classcert.fixtures.campaign import STORE_NAME
from classcert.signing import verify_file

DEMO_RIG = "demo-school.toml"
DEMO_ATTESTATIONS = "demo-attestations.toml"

# room -> (what it shows, requirement key -> designed verdict)
DESIGNED: dict[str, tuple[str, dict[str, str]]] = {
    "A101": ("conforming PJLink panel, 86 in, 10 touch points, working sound system / 合格",
             {"display.remote_control": "PASS", "display.native_resolution": "PASS",
              "display.input_resolution": "PASS", "display.size": "PASS",
              "display.touch_points": "PASS", "audio.amplification": "PASS",
              "cloud.terminal": "ATTESTED"}),
    "A102": ("panel that ignores commands, 1366x768 / 不响应控制、分辨率低",
             {"display.remote_control": "FAIL", "display.native_resolution": "FAIL"}),
    "A103": ("display that cannot be reached: ERROR, never FAIL / 无法连接：无法测试",
             {"display.remote_control": "ERROR", "display.native_resolution": "ERROR",
              "display.input_resolution": "ERROR"}),
    "A104": ("Samsung panel on MDC, size from its own query / 三星 MDC 协议",
             {"display.remote_control": "PASS", "display.size": "PASS"}),
    "A105": ("LG panel on RS-232 (pseudo-terminal pair) / LG 串口控制",
             {"display.remote_control": "PASS"}),
    "A106": ("projector + interactive whiteboard, size measured on the screen / 投影+白板",
             {"display.remote_control": "PASS", "display.size": "ATTESTED",
              "display.touch_points": "PASS"}),
    "A107": ("65 in panel for 48 seats: too small / 尺寸不足", {"display.size": "FAIL"}),
    "A108": ("EDID stores aspect as size; asks for a tape measurement / EDID 尺寸不可信",
             {"display.size": "NOT_TESTED"}),
    "A109": ("one touch point only: not multi-touch / 非多点触控",
             {"display.touch_points": "FAIL"}),
    "A110": ("silent amplifier / 扩音无声", {"audio.amplification": "FAIL"}),
    "S201": ("smart classroom: 1080p recording, 24 Wi-Fi clients (120% of 20 seats) confirmed by "
             "its UniFi controller; iOS and Android app steps attested; far-end video only "
             "1280x720 / 智慧教室",
             {"video.recording": "PASS", "video.recording.progressive": "PASS",
              "video.recording.fps": "PASS", "video.interclass": "FAIL",
              "video.interclass.latency": "PASS", "display.remote_control": "PASS",
              "wifi.capacity": "PASS", "wifi.per_client": "PASS", "mobile.os": "ATTESTED"}),
    "S202": ("HTTP recorder records 1440x1080 stretched; AP caps clients at 2 Mbps (Omada "
             "controller confirms all 24); teaching app closes on Android / "
             "录播、WiFi、安卓端应用不达标",
             {"video.recording": "FAIL", "video.recording.progressive": "PASS",
              "wifi.capacity": "PASS", "wifi.per_client": "FAIL", "mobile.os": "FAIL"}),
    "S203": ("24 devices move data but the Wi-Fi controller lists only 18 of them / "
             "控制器仅确认 18 台终端",
             {"wifi.capacity": "FAIL", "wifi.per_client": "PASS"}),
    "C301": ("surveillance camera sending interlaced 1080i / 监控摄像机隔行",
             {"cctv.resolution.progressive": "FAIL", "cctv.resolution.fps": "PASS"}),
    "C302": ("camera whose picture freezes / 画面冻结", {"cctv.resolution.freezes": "FAIL"}),
    "C303": ("camera dropping pictures / 丢帧", {"cctv.resolution.dropped": "FAIL"}),
    "C304": ("\"1080P\" camera that is 720p upscaled / 720p 放大冒充 1080P",
             {"cctv.resolution": "FAIL", "cctv.resolution.progressive": "PASS"}),
}


DESIGNED_HZ3: dict[str, tuple[str, dict[str, str]]] = {
    "R301": ("recording classroom serving 5 live streams / 录播教室 5 路直播",
             {"recording.live_points": "PASS", "display.remote_control": "PASS"}),
    "R302": ("recording system that allows only 3 streams / 仅支持 3 路直播",
             {"recording.live_points": "FAIL"}),
}
# school -> (rig file, attestation file or None, designed outcomes)
SCHOOLS: dict[str, tuple[str, str | None, dict[str, tuple[str, dict[str, str]]]]] = {
    "cq-jj": (DEMO_RIG, DEMO_ATTESTATIONS, DESIGNED),
    "hz3": ("demo-school-hz3.toml", None, DESIGNED_HZ3),
}


def demo_rig_path(school: str = "cq-jj") -> Path:
    return Path(str(resources.files("classcert.rigs").joinpath(SCHOOLS[school][0])))


def check_design(out: Path, school: str = "cq-jj") -> list[str]:
    """Deviations of the demo's certificates from its design (empty: as designed)."""
    problems: list[str] = []
    for room_id, designed in SCHOOLS[school][2].items():
        path = out / "rooms" / room_id / "certificate.json"
        if not path.exists():
            problems.append(f"{room_id}: no certificate at {path}")
            continue
        result = verify_file(path)
        if not result.ok:
            problems.append(f"{room_id}: certificate does not verify: {result.reason_en}")
        cert = json.loads(path.read_text(encoding="utf-8"))
        got = {}
        for entry in cert["requirements"]:
            got.setdefault(entry["key"], entry["verdict"])
        for key, verdict in designed[1].items():
            if got.get(key) != verdict:
                problems.append(f"{room_id}: {key} designed {verdict}, got {got.get(key)}")
        for entry in cert["requirements"]:
            if entry["verdict"] in ("FAIL", "ERROR") and not entry["clause"]["text_zh"]:
                problems.append(f"{room_id}: {entry['id']} verdict cites no clause")
    school_report = out / "school.json"
    if not school_report.exists() or not verify_file(school_report).ok:
        problems.append(f"school report {school_report} missing or does not verify")
    return problems


def run_demo(out: Path, school: str = "cq-jj") -> int:
    if out.exists():
        if not (out / STORE_NAME).exists() and any(out.iterdir()):
            print(f"error: {out} exists and is not a classcert demo output; choose another --out")
            return EXIT_HARNESS_ERROR
        shutil.rmtree(out)
    _rig, attest_name, designed = SCHOOLS[school]
    print(f"classcert demo ({school}): a simulated school of {len(designed)} rooms / 模拟学校演示")
    for room_id, (what, _) in designed.items():
        print(f"  {room_id} {what}")
    attest = (Path(str(resources.files("classcert.rigs").joinpath(attest_name)))
              if attest_name else None)
    code = run_campaign(RunOptions(rig=demo_rig_path(school), out=out, attest=attest,
                                   no_prompt=True))
    if code == EXIT_HARNESS_ERROR:
        return code
    problems = check_design(out, school)
    print()
    if problems:
        print("demo did NOT come out as designed / 演示结果与设计不符:")
        for p in problems:
            print(f"  - {p}")
        return 1
    print("demo ran as designed; every certificate verifies / 演示结果符合设计，所有证书签名有效")
    for room_id in designed:
        print(f"  {out / 'rooms' / room_id / 'certificate.html'}")
    print(f"  {out / 'school.html'}")
    return 0
