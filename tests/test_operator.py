"""Operator answers: attestation files, interactive prompts, and how they are judged."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from classcert.fixtures.operator import AttestationFileError, Operator, load_attestations

from helpers import REPO, pjlink_room, rig_text


def _scripted(answers: list[str]):
    said: list[str] = []
    queue = list(answers)

    def write(text: str) -> None:
        said.append(text)

    def read(prompt: str) -> str:
        said.append(prompt)
        return queue.pop(0)

    return (write, read), said


def test_interactive_number_with_unit_conversion():
    io, said = _scripted(["Wang Fang", "abc", "218.44 cm", "tape on the screen frame", ""])
    op = Operator(io=io)
    att = op.ask_number("A101", "display.size", "Diagonal?", "对角线？", unit="in",
                        units={"cm": 1 / 2.54})
    assert att is not None and att.value == pytest.approx(86.0, abs=0.01)
    assert att.operator == "Wang Fang" and att.note == "tape on the screen frame"
    assert any("enter a number" in s for s in said), "a bad entry is explained, then re-asked"


def test_interactive_confirm_and_choice():
    io, _ = _scripted(["maybe", "是", "", "", "2", "", ""])
    op = Operator(name="Li Lei", io=io)
    att = op.confirm("A1", "cloud.terminal", "Present?", "是否具备？")
    assert att.value is True and att.unit == "bool"
    choice = op.ask_choice("A1", "x", "Which?", "哪个？", [("a", "A", "甲"), ("b", "B", "乙")])
    assert choice.value == "b"


def test_no_terminal_and_no_file_gives_no_answer():
    op = Operator()
    assert op.confirm("A1", "cloud.terminal", "?", "？") is None
    assert op.ask_number("A1", "display.size", "?", "？", unit="in") is None


def test_attestation_file_answers_and_errors(tmp_path):
    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"\xff\xd8jpeg")
    good = tmp_path / "a.toml"
    good.write_text(
        '[[attestations]]\nroom = "A1"\nkey = "display.size"\nvalue = 86\nunit = "in"\n'
        'operator = "Wang"\nphoto = "p.jpg"\n', encoding="utf-8")
    answers = load_attestations(good)
    assert answers[("A1", "display.size")].photo == photo
    op = Operator(answers=answers)
    assert op.ask_number("A1", "display.size", "?", "？", unit="in").value == 86

    bad = tmp_path / "b.toml"
    bad.write_text('[[attestations]]\nroom = "A1"\nkey = "k"\nvalue = true\n\n'
                   '[[attestations]]\nroom = "A2"\nkey = "k"\nvalue = true\noperator = "x"\n',
                   encoding="utf-8")
    with pytest.raises(AttestationFileError, match=r"b\.toml:1: attestations\[0\].*operator"):
        load_attestations(bad)
    missing_photo = tmp_path / "c.toml"
    missing_photo.write_text('[[attestations]]\nroom = "A1"\nkey = "k"\nvalue = 1\n'
                             'operator = "x"\nphoto = "nope.jpg"\n', encoding="utf-8")
    with pytest.raises(AttestationFileError, match="nope.jpg"):
        load_attestations(missing_photo)


def test_campaign_attested_true_false_and_unanswered(tmp_path):
    rig = tmp_path / "rig.toml"
    rig.write_text(rig_text(pjlink_room("YES") + pjlink_room("NO") + pjlink_room("NONE")),
                   encoding="utf-8")
    att = tmp_path / "att.toml"
    att.write_text(
        '[[attestations]]\nroom = "YES"\nkey = "cloud.terminal"\nvalue = true\n'
        'operator = "Zhang San"\n\n'
        '[[attestations]]\nroom = "NO"\nkey = "cloud.terminal"\nvalue = false\n'
        'operator = "Zhang San"\nnote = "no terminal installed"\n', encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "test_suites" / "test_attested.py"),
         "--rig", str(rig), "--out", str(out), "--attest", str(att), "--no-prompt",
         "-p", "no:cacheprovider", "-q"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr

    def cloud(room):
        cert = json.loads((out / "rooms" / room / "certificate.json").read_text("utf-8"))
        return [e for e in cert["requirements"] if e["key"] == "cloud.terminal"]

    assert {e["verdict"] for e in cloud("YES")} == {"ATTESTED"}
    assert all("Zhang San" in e["reason"]["en"] for e in cloud("YES"))
    assert {e["verdict"] for e in cloud("NO")} == {"FAIL"}
    assert any("no terminal installed" in e["reason"]["en"] for e in cloud("NO"))
    none = cloud("NONE")
    assert {e["verdict"] for e in none} == {"NOT_TESTED"}
    assert "--attest" in none[0]["reason"]["en"]
