"""Interactive teaching software on iOS and Android (``mobile.os``: JJ010302.P2, GJ010302.P3).

A person completes the teaching app's step on an iOS/iPadOS device and on an Android device,
both on the classroom Wi-Fi, and records each one (device, OS version, app and version,
completed, photo): records ``mobile.os#ios`` and ``mobile.os#android``. The harness checks
what it can: that each stated OS belongs to its family; whether this campaign's crowd test saw
such devices on the room's Wi-Fi; which casting receivers the room advertises over mDNS. These
checks are supporting evidence; the records decide, through the catalog rule:

* both records valid and completed -> value true -> ATTESTED (a person's word, never PASS);
* a valid record says the step was not completed -> value false -> FAIL;
* a record contradicts itself (its OS is not of its family) -> ERROR: it proves nothing
  either way about the app, and the person must correct it;
* a record is missing -> NOT_TESTED, with how to give it.

Runs after ``test_wifi_crowd.py`` (file order), so the crowd test's OS labels are available.
"""

from __future__ import annotations

import pytest

from classcert.app_os import SLOT_NAMES, SLOTS, check_slot
from classcert.fixtures.devices import NotTested, Unmeasurable
from classcert.test_suites import mobile_os_steps as steps
from classcert.test_suites.mobile_os_steps import KEY, RECORD_KEYS


def _instructions(room, settings) -> tuple[str, str]:
    ios, android = ("/".join(settings.casting[s]) for s in SLOTS)
    return (
        f"Teaching software on iOS and Android, room {room.id}: on an iPhone or iPad and on an "
        f"Android phone or tablet, both on the classroom Wi-Fi, open the interactive teaching "
        f"app, join this class and complete one task in it (answer a question, or cast the "
        f"screen to the panel: iOS with {ios}, Android with {android}). Then record each "
        f"device: model, OS version, app and version, whether it worked, and a photo.",
        f"教学软件 iOS/安卓 支持（教室 {room.id}）：请用一台 iPhone/iPad 和一台安卓手机或平板连接"
        f"教室无线网络，打开互动教学应用，加入本课堂并完成一项操作（答题，或投屏到一体机："
        f"iOS 用 {ios}，安卓用 {android}），然后逐台记录：型号、系统版本、应用及版本、是否成功，"
        f"并可附照片。",
    )


def _how_to_answer(room, operator, missing: list[str]) -> tuple[str, str]:
    keys = ", ".join(RECORD_KEYS[s] for s in missing)
    plain = (room.id, KEY) in operator.answers
    en = (f"needs the app-step record(s) {keys} (device, os_version, app, completed): run "
          f"interactively, or give them with --attest FILE as value = {{ device = \"...\", "
          f"os_version = \"...\", app = \"...\", completed = true }} (docs/attestations.md)")
    zh = (f"需应用操作记录 {keys}（设备型号、系统版本、应用及版本、是否完成）：请在终端交互运行，"
          f"或在 --attest 文件中以 value = {{ device = ..., os_version = ..., app = ..., "
          f"completed = true }} 形式提供")
    if plain:
        en += f"; a plain yes/no answer for {KEY} is not enough for this requirement"
        zh += f"；{KEY} 的简单是/否回答不足以证明该项"
    return en, zh


@pytest.mark.requirement(KEY)
def test_mobile_os(classcert_campaign, room, operator, measure):
    ctx = classcert_campaign
    settings = steps.settings_for(room, ctx.catalog.profile)
    harmony = settings.harmony_as_android
    if operator.interactive and any((room.id, k) not in operator.answers
                                    for k in RECORD_KEYS.values()):
        operator.notify(*_instructions(room, settings))
    records = {}
    for slot in SLOTS:
        name_en, name_zh = SLOT_NAMES[slot]
        records[slot] = operator.ask_record(
            room, RECORD_KEYS[slot], f"{name_en} device, room {room.id}",
            f"{name_zh} 设备（教室 {room.id}）", steps.record_fields(slot, harmony))
    checks = {slot: check_slot(slot, str(att.value["os_version"]), harmony)
              for slot, att in records.items() if att is not None}
    valid = {slot: att for slot, att in records.items() if att is not None and checks[slot].ok}
    not_done = [slot for slot, att in valid.items() if att.value["completed"] is not True]
    invalid = [slot for slot, check in checks.items() if not check.ok]
    missing = [slot for slot, att in records.items() if att is None]
    if not not_done and invalid:
        raise Unmeasurable(
            "; ".join(f"record {RECORD_KEYS[s]}: {checks[s].reason_en}" for s in invalid)
            + "; correct the record and run this room again",
            "；".join(f"记录 {RECORD_KEYS[s]}：{checks[s].reason_zh}" for s in invalid)
            + "；请更正记录后重新测试本教室",
        )
    if not not_done and missing:
        raise NotTested(*_how_to_answer(room, operator, missing))
    value = not not_done

    crowd, seen = steps.crowd_seen(ctx, room)
    crosses = steps.cross_checks(crowd, seen, records)
    interface, why = steps.discovery_interface(ctx, room, settings)
    discovery = steps.discover(settings, interface, why)
    casting = steps.casting_findings(discovery, settings)
    photos, copies = [], {}
    for slot, att in records.items():
        if att is not None and att.photo is not None:
            path = measure.write_evidence(f"photo-{KEY}-{slot}{att.photo.suffix}",
                                          att.photo.read_bytes())
            photos.append(path)
            copies[slot] = path.name
    doc = {
        "room": room.id, "requirement_key": KEY, "value": value,
        "records": {slot: steps.record_json(att, checks.get(slot), copies.get(slot))
                    for slot, att in records.items()},
        "settings": settings.as_json(),
        "crowd_test": crowd, "crowd_cross_check": crosses,
        "casting": {"discovery": discovery, "required_found": casting},
    }
    evidence = [measure.write_evidence("mobile-os.json", doc), *photos]
    en, zh = steps.details(records, settings, crowd, crosses, discovery, casting)
    answered = {slot: att for slot, att in records.items() if att is not None}
    measure.attest(KEY, steps.combined(room, answered, value), evidence=evidence,
                   detail_en=en, detail_zh=zh)
