"""Requirements the catalog marks "attested": a person looks and vouches, with name and photo.

The catalog, not this file, decides which requirements these are (method = "attested"),
so one test serves every profile. Unanswered questions are NOT_TESTED, never a guess.
"""

from __future__ import annotations

import pytest

from classcert.fixtures.devices import NotTested


@pytest.mark.requirement(method="attested")
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
        measure.attest(req.key, att)
    if unanswered:
        raise NotTested(
            f"needs a person's confirmation ({', '.join(unanswered)}): run interactively, or "
            f"give the answers with --attest FILE",
            f"需人工确认（{', '.join(unanswered)}）：请在终端交互运行，或用 --attest 提供确认文件",
        )
