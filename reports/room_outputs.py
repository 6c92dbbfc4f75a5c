"""Write every room's signed certificate, the school report (JSON + HTML) and the summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classcert.reports.certificate import build_certificate
from classcert.reports.certificate_html import write_certificate_html
from classcert.reports.school_html import write_school_html
from classcert.reports.school_report import build_school_report
from classcert.signing import load_or_create_key, sign_certificate, write_certificate

if TYPE_CHECKING:
    from classcert.fixtures.campaign import CampaignContext

SUMMARY_NAME = "summary.json"
SCHOOL_NAME = "school.json"


def room_dir(out_dir: Path, room_id: str) -> Path:
    return out_dir / "rooms" / room_id


def write_room_outputs(ctx: CampaignContext) -> list[Path]:
    """Sign and write each room's certificate; returns the paths written."""
    key = load_or_create_key()
    written: list[Path] = []
    summary: dict[str, Any] = {"campaign": ctx.campaign.id, "rooms": []}
    certificates = []
    for room in ctx.rooms:
        cert = sign_certificate(
            build_certificate(ctx.rig, ctx.catalog, ctx.store, ctx.campaign.id, room), key
        )
        target = room_dir(ctx.out_dir, room.id)
        target.mkdir(parents=True, exist_ok=True)
        write_certificate(cert, target / "certificate.json")
        certificates.append(cert)
        # evidence paths are relative to the output directory; the page is two levels down
        write_certificate_html(cert, target / "certificate.html", evidence_base="../../")
        written += [target / "certificate.json", target / "certificate.html"]
        counts: dict[str, int] = {}
        for entry in cert["requirements"]:
            counts[entry["verdict"]] = counts.get(entry["verdict"], 0) + 1
        summary["rooms"].append({
            "id": room.id, "name": room.name, "seats": room.seats, "claims": list(room.claims),
            "kinds": {k: v["status"] for k, v in cert["kinds"].items()},
            "counts": counts, "certificate": str(target / "certificate.json"),
        })
    school = sign_certificate(
        build_school_report(ctx.rig, ctx.catalog, ctx.campaign.id, certificates), key)
    write_certificate(school, ctx.out_dir / SCHOOL_NAME)
    write_school_html(school, ctx.out_dir / "school.html")
    written += [ctx.out_dir / SCHOOL_NAME, ctx.out_dir / "school.html"]
    summary["school"] = [
        {"id": e["id"], "key": e["key"], "title_en": e["title_en"], "title_zh": e["title_zh"],
         "verdict": e["verdict"], "value": e["value"], "limit": e["limit"], "unit": e["unit"],
         "counted": e.get("counted")}
        for e in school["requirements"]]
    path = ctx.out_dir / SUMMARY_NAME
    path.write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    return written + [path]
