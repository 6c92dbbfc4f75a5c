"""Build a room's certificate (a plain dict) from the run store and the catalog.

One record, many renderers: the same dict is signed as canonical JSON and rendered
as HTML. Rules:
- each requirement of the room's claimed kinds (and the kinds they include) appears once,
  with the verdict of its latest attempt; never measured -> NOT_TESTED with the reason;
- a kind is certified only if every applicable mandatory requirement of it is PASS or
  ATTESTED; any other verdict on a mandatory requirement is named as a reason.
"""

from __future__ import annotations

from typing import Any

from classcert import __version__
from classcert.catalog import Catalog, ResolvedRequirement
from classcert.model import Rig, Room, Verdict
from classcert.store import Measurement, RunStore, utc_now

SCHEMA = "classcert/certificate/1"
_CERTIFYING = {Verdict.PASS, Verdict.ATTESTED}
# When one attempt records several verdicts for one requirement, the worst one stands.
_SEVERITY = [Verdict.FAIL, Verdict.ERROR, Verdict.NOT_TESTED, Verdict.ATTESTED, Verdict.PASS,
             Verdict.SKIPPED]


def _latest(measurements: list[Measurement]) -> list[Measurement]:
    """The measurements of the latest attempt among ``measurements``."""
    if not measurements:
        return []
    last = max(m.attempt_id for m in measurements)
    return [m for m in measurements if m.attempt_id == last]


def _not_tested(rr: ResolvedRequirement, covered: set[str]) -> tuple[str, str]:
    req = rr.requirement
    if req.key in covered:
        return ("the suite did not run for this room (deselected or not reached)",
                "本教室未运行该测试")
    if req.method == "attested":
        return ("needs a person's attestation, and no suite asked for it in this run",
                "需人工确认，本次运行未询问该项")
    return ("no classcert suite measures this requirement yet", "本工具尚无该项的测试套件")


def requirement_entry(
    rr: ResolvedRequirement, measurements: list[Measurement], covered: set[str]
) -> dict[str, Any]:
    req = rr.requirement
    entry: dict[str, Any] = {
        "id": req.id, "key": req.key, "title_en": req.title_en, "title_zh": req.title_zh,
        "clause": {"ref_en": req.clause.ref_en, "ref_zh": req.clause.ref_zh,
                   "text_zh": req.clause.text_zh},
        "mandatory": req.mandatory, "kinds": list(req.kinds), "method": req.method,
        "unit": req.unit, "limit": rr.limit_text(), "value": None, "evidence": [],
        "measured_at": None,
    }
    latest = _latest(measurements)
    if not rr.applicable:
        entry.update(verdict=Verdict.SKIPPED.value,
                     reason={"en": rr.skip_reason_en, "zh": rr.skip_reason_zh})
    elif not latest:
        en, zh = _not_tested(rr, covered)
        entry.update(verdict=Verdict.NOT_TESTED.value, reason={"en": en, "zh": zh})
    else:
        worst = min(latest, key=lambda m: _SEVERITY.index(Verdict(m.verdict)))
        entry.update(
            verdict=worst.verdict, value=worst.value, limit=worst.limit_text or rr.limit_text(),
            reason={"en": worst.reason_en, "zh": worst.reason_zh}, measured_at=worst.taken_at,
            evidence=[{"path": p, "sha256": h} for m in latest for p, h in m.evidence],
        )
    return entry


def kind_status(
    catalog: Catalog, room: Room, entries: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    kinds: dict[str, dict[str, Any]] = {}
    for kind_id in room.claims:
        kind = catalog.profile.kinds[kind_id]
        closure = set(catalog.kinds_closure([kind_id]))
        reasons = []
        for e in entries:
            if not e["mandatory"] or not closure.intersection(e["kinds"]):
                continue
            verdict = Verdict(e["verdict"])
            if verdict is Verdict.SKIPPED or verdict in _CERTIFYING:
                continue
            reasons.append({
                "en": f"{e['id']} {e['title_en']}: {verdict.value} - {e['reason']['en']}",
                "zh": f"{e['id']} {e['title_zh']}：{verdict.zh} - {e['reason']['zh']}",
            })
        kinds[kind_id] = {
            "status": "not certified" if reasons else "certified",
            "name_en": kind.name_en, "name_zh": kind.name_zh, "reasons": reasons,
        }
    return kinds


def build_certificate(
    rig: Rig, catalog: Catalog, store: RunStore, campaign_id: str, room: Room
) -> dict[str, Any]:
    """The unsigned certificate of one room for one campaign."""
    campaign = store.campaign(campaign_id)
    by_req: dict[str, list[Measurement]] = {}
    for m in store.measurements(campaign_id, room.id):
        by_req.setdefault(m.requirement_id, []).append(m)
    covered = store.covered_keys(campaign_id, room.id)
    entries = [
        requirement_entry(rr, by_req.get(rr.requirement.id, []), covered)
        for rr in catalog.for_room(room, rig.school)
    ]
    infos = store.device_info(campaign_id, room.id)
    devices = []
    for device in room.devices:
        info = infos.get(device.label, {})
        devices.append({
            "role": device.role, "name": device.name, "driver": device.driver,
            "address": info.get("address", device.address),
            "make": info.get("make", ""), "model": info.get("model", ""),
            "serial": info.get("serial", ""), "firmware": info.get("firmware", ""),
            "simulated": device.simulator is not None,
        })
    return {
        "schema": SCHEMA,
        "school": {"name": rig.school.name, "level": rig.school.level,
                   "profile": catalog.profile.id},
        "room": {"id": room.id, "name": room.name, "seats": room.seats,
                 "claims": list(room.claims)},
        "profile": {"id": catalog.profile.id, "version": catalog.profile.version,
                    "title_en": catalog.profile.title_en, "title_zh": catalog.profile.title_zh},
        "kinds": kind_status(catalog, room, entries),
        "requirements": entries,
        "devices": devices,
        "harness": {"name": "classcert", "version": __version__},
        "campaign": {"id": campaign.id, "started_at": campaign.started_at,
                     "finished_at": campaign.finished_at},
        "issued_at": utc_now(),
        "simulated": any(d["simulated"] for d in devices),
    }
