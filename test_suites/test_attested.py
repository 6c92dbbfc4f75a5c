"""Requirements the catalog marks "attested": a person looks and vouches, with name and photo.

The catalog, not this file, decides which requirements these are (method = "attested"),
so one test serves every profile. Unanswered questions are NOT_TESTED, never a guess.
Keys with a suite of their own (:data:`DEDICATED`) are not asked here.
"""

from __future__ import annotations

import pytest

from classcert.device_drivers.errors import DeviceError
from classcert.device_drivers.reachability import probe
from classcert.fixtures.devices import NotTested

# What can be checked before a person vouches: the device of this role answers on the
# network (rig driver "tcp" or "http"). Recorded as evidence beside the answer.
PROBED_ROLES = {"cloud.terminal": "cloud-terminal", "classsign": "class-sign"}

# Attested keys that a dedicated suite asks and judges (structured records, automatic
# checks): key -> that suite. The one list of them; the marker below passes it on as
# ``exclude``, and the plugin leaves these keys out of this test's attempt.
DEDICATED: dict[str, str] = {
    "mobile.os": "test_wifi_mobile_os.py",
}


def _probe_devices(ctx, room, key: str) -> tuple[list[dict], str, str]:
    results, en, zh = [], [], []
    for device in room.devices_with_role(PROBED_ROLES.get(key, "")):
        if device.driver not in ("tcp", "http"):
            continue
        try:
            res = probe(device.driver, ctx.device_address(room, device),
                        float(device.options.get("timeout_s", 5)))
            results.append({"device": device.label, "answered": True, **res.as_json()})
            en.append(f"{device.label}: {res.describe()}")
            zh.append(f"{device.label}：网络可达")
        except DeviceError as exc:
            results.append({"device": device.label, "answered": False, "error": str(exc)})
            en.append(f"{device.label} did not answer: {exc.message_en}")
            zh.append(f"{device.label} 无响应：{exc.message_zh}")
    return results, "; ".join(en), "；".join(zh)


@pytest.mark.requirement(method="attested", exclude=tuple(DEDICATED))
def test_operator_attestations(classcert_campaign, room, operator, measure):
    unanswered = []
    asked: set[str] = set()
    for rr in classcert_campaign.resolved(room):
        req = rr.requirement
        if (req.method != "attested" or req.key not in measure.keys or not rr.applicable
                or req.key in asked):
            continue
        asked.add(req.key)  # one answer per key covers every clause sharing it
        question_en = f"{req.id}: is this present and working in room {room.id}? {req.title_en}"
        question_zh = f"{req.id}：教室 {room.id} 是否具备且可正常使用？{req.title_zh}"
        if req.unit == "bool" or req.op == "true":
            att = operator.confirm(room, req.key, question_en, question_zh)
        else:
            att = operator.ask_number(room, req.key, f"{req.id}: {req.title_en}",
                                      f"{req.id}：{req.title_zh}", unit=req.unit)
        if att is None:
            unanswered.append(req.id)
            continue
        probes, probe_en, probe_zh = _probe_devices(classcert_campaign, room, req.key)
        evidence = [measure.write_evidence(f"probe-{req.key}.json", probes)] if probes else []
        measure.attest(req.key, att, evidence=evidence, detail_en=probe_en, detail_zh=probe_zh)
    if unanswered:
        raise NotTested(
            f"needs a person's confirmation ({', '.join(unanswered)}): run interactively, or "
            f"give the answers with --attest FILE",
            f"需人工确认（{', '.join(unanswered)}）：请在终端交互运行，或用 --attest 提供确认文件",
        )
