"""The school-level counts an application form asks for, from the rooms' certificates.

A room counts as a classroom of kind K when one of its certified kinds is K or includes K in the
catalog (in cq-jj a certified smart classroom meets every multimedia requirement, so it counts
as multimedia too; in cq-zj it does not). Shares are counted against the school's
``classrooms_total`` from the rig: a classroom that was not in this campaign, or was not
certified, does not count. The limits and the verdicts come from the catalog's school-scope
requirements, each citing its clause; requirements no suite measures yet stay NOT_TESTED.
"""

from __future__ import annotations

from typing import Any

from classcert import __version__
from classcert.catalog import Catalog, ResolvedRequirement
from classcert.model import Rig, Verdict
from classcert.store import utc_now

SCHEMA = "classcert/school-report/1"
# school-scope requirement key -> the classroom kind whose certified rooms it counts
SHARE_OF_KIND = {"school.multimedia_share": "multimedia", "school.smart_share": "smart"}


def rooms_counting_as(catalog: Catalog, certificates: list[dict[str, Any]],
                      kind: str) -> list[str]:
    """Ids of the rooms whose certified kinds are ``kind`` or include it."""
    rooms = []
    for cert in certificates:
        certified = [k for k, v in cert.get("kinds", {}).items() if v.get("status") == "certified"]
        if certified and kind in catalog.kinds_closure(certified):
            rooms.append(cert["room"]["id"])
    return rooms


def _check_total(total: int) -> None:
    if total <= 0:
        raise ValueError("classrooms_total must be positive")


def exact_share_pct(count: int, total: int) -> float:
    """``count`` of ``total`` in percent, unrounded: the value a verdict is judged on.

    With integer counts the float quotient is exact wherever the share equals a limit, and a
    share below a limit stays below it (rounding 79.996 % up to 80 % must never pass).
    """
    _check_total(total)
    return 100.0 * count / total


def share_pct(count: int, total: int) -> float:
    """``count`` of ``total`` in percent for display, rounded half up to 0.01 in integers."""
    _check_total(total)
    hundredths = (20_000 * count + total) // (2 * total)
    return hundredths / 100


def _entry(rr: ResolvedRequirement) -> dict[str, Any]:
    req = rr.requirement
    return {
        "id": req.id, "key": req.key, "title_en": req.title_en, "title_zh": req.title_zh,
        "clause": {"ref_en": req.clause.ref_en, "ref_zh": req.clause.ref_zh,
                   "text_zh": req.clause.text_zh},
        "mandatory": req.mandatory, "method": req.method, "unit": req.unit,
        "limit": rr.limit_text(), "value": None, "rooms": [],
    }


def school_entry(rr: ResolvedRequirement, catalog: Catalog, rig: Rig,
                 certificates: list[dict[str, Any]]) -> dict[str, Any]:
    """One school-scope requirement, judged by its catalog rule where classcert counts it."""
    entry = _entry(rr)
    kind = SHARE_OF_KIND.get(rr.requirement.key)
    if not rr.applicable:
        entry.update(verdict=Verdict.SKIPPED.value,
                     reason={"en": rr.skip_reason_en, "zh": rr.skip_reason_zh})
        return entry
    if kind is None or kind not in catalog.profile.kinds:
        entry.update(verdict=Verdict.NOT_TESTED.value, reason={
            "en": "classcert does not count this school-level requirement yet",
            "zh": "本工具尚不统计该校级指标"})
        return entry
    total = rig.school.classrooms_total
    rooms = rooms_counting_as(catalog, certificates, kind)
    value = share_pct(len(rooms), total)
    exact = exact_share_pct(len(rooms), total)
    verdict, en, zh = rr.evaluate(exact)
    shown = f"{exact:.4f}".rstrip("0").rstrip(".")
    tested = len(certificates)
    entry.update(
        verdict=verdict.value, value=value, rooms=rooms,
        counted={"certified": len(rooms), "tested": tested, "classrooms_total": total},
        reason={
            "en": f"{len(rooms)} of {total} classrooms certified as {kind} ({shown}%); "
                  f"{tested} rooms were in this campaign, the others do not count. {en}",
            "zh": f"教室总数 {total} 间中 {len(rooms)} 间认定为"
                  f"{catalog.profile.kinds[kind].name_zh}（{shown}%）；本批次检测 {tested} 间，"
                  f"未检测的教室不计入。{zh}",
        },
    )
    return entry


def build_school_report(rig: Rig, catalog: Catalog, campaign_id: str,
                        certificates: list[dict[str, Any]]) -> dict[str, Any]:
    """The unsigned school report of one campaign (signed like a room certificate)."""
    entries = [school_entry(rr, catalog, rig, certificates)
               for rr in catalog.for_school(rig.school)]
    kinds = {}
    for kind_id, kind in catalog.profile.kinds.items():
        claimed = [c["room"]["id"] for c in certificates if kind_id in c["room"]["claims"]]
        kinds[kind_id] = {"name_en": kind.name_en, "name_zh": kind.name_zh, "claimed": claimed,
                          "certified": rooms_counting_as(catalog, certificates, kind_id)}
    return {
        "schema": SCHEMA,
        "school": {"name": rig.school.name, "level": rig.school.level,
                   "teachers": rig.school.teachers, "students": rig.school.students,
                   "classrooms_total": rig.school.classrooms_total},
        "profile": {"id": catalog.profile.id, "version": catalog.profile.version,
                    "title_en": catalog.profile.title_en, "title_zh": catalog.profile.title_zh},
        "kinds": kinds,
        "requirements": entries,
        "rooms": [{"id": c["room"]["id"], "claims": c["room"]["claims"],
                   "kinds": {k: v["status"] for k, v in c.get("kinds", {}).items()}}
                  for c in certificates],
        "harness": {"name": "classcert", "version": __version__},
        "campaign": {"id": campaign_id},
        "issued_at": utc_now(),
        "simulated": any(c.get("simulated") for c in certificates),
    }
