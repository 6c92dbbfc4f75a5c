"""Tests for classcert.signing: canonical JSON, keys, sign/verify, tamper detection."""

from __future__ import annotations

import base64
import json
import math
import os
import stat
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert import signing
from classcert.signing import (
    canonical_json,
    config_dir,
    key_id,
    load_or_create_key,
    public_key_bytes,
    sign_certificate,
    verify_certificate,
    verify_file,
    write_certificate,
)

# ----------------------------------------------------------------------------- helpers

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)


def small_cert() -> dict:
    """A small but complete certificate (keeps exhaustive byte flipping fast)."""
    return {
        "schema": "classcert/certificate/1",
        "school": {"name": "一中", "level": "basic", "profile": "cq-jj"},
        "room": {"id": "A101", "name": "多媒体教室", "seats": 48, "claims": ["multimedia"]},
        "kinds": {"multimedia": {"status": "certified", "reasons": []}},
        "requirements": [
            {"id": "JJ.1", "verdict": "PASS", "value": 4.5, "unit": "m", "tolerance": 1e-07}
        ],
        "simulated": False,
        "issued_at": "2025-01-02T03:04:05Z",
    }


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def signed_file(tmp_path_factory, key) -> Path:
    path = tmp_path_factory.mktemp("cert") / "certificate.json"
    write_certificate(sign_certificate(small_cert(), key), path)
    return path


def check_bytes(tmp_path: Path, data: bytes, trusted=None) -> signing.VerifyResult:
    path = tmp_path / "probe.json"
    path.write_bytes(data)
    return verify_file(path, trusted)


# ----------------------------------------------------------------------------- canonical JSON


@settings(max_examples=300)
@given(json_values)
def test_canonical_json_round_trips_and_is_idempotent(value):
    data = canonical_json(value)
    assert canonical_json(value) == data
    parsed = json.loads(data.decode("utf-8"))
    assert parsed == value
    assert canonical_json(parsed) == data


@settings(max_examples=200)
@given(st.dictionaries(st.text(max_size=8), json_scalars, max_size=8), st.randoms())
def test_canonical_json_ignores_key_insertion_order(mapping, rnd):
    items = list(mapping.items())
    rnd.shuffle(items)
    assert canonical_json(dict(items)) == canonical_json(mapping)


@settings(max_examples=200)
@given(st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"\\')))
def test_canonical_json_writes_text_as_raw_utf8(text):
    assert canonical_json(text) == b'"' + text.encode("utf-8") + b'"'
    assert canonical_json({"k": [text]}) == b'{"k":["' + text.encode("utf-8") + b'"]}'


def test_canonical_json_exact_bytes():
    value = {"b": [1, 1.0, 0.1, -0.0, 1e-7, True, None], "a": "é中", "A": {}}
    assert canonical_json(value) == (
        '{"A":{},"a":"é中","b":[1,1.0,0.1,-0.0,1e-07,true,null]}'.encode()
    )


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, {"x": [math.nan]}])
def test_canonical_json_rejects_nan_and_infinity(bad):
    with pytest.raises(ValueError, match="NaN|Infinity|nan|inf"):
        canonical_json(bad)


def test_canonical_json_rejects_non_json_values():
    with pytest.raises(TypeError, match="key"):
        canonical_json({1: "x"})
    with pytest.raises(TypeError, match="set"):
        canonical_json({"x": {1, 2}})
    with pytest.raises(ValueError, match="surrogate"):
        canonical_json("\ud800")
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError):
        canonical_json(loop)


# ----------------------------------------------------------------------------- keys


def test_config_dir_respects_override_and_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("CLASSCERT_CONFIG_DIR", str(tmp_path / "cfg"))
    assert config_dir() == tmp_path / "cfg"
    monkeypatch.delenv("CLASSCERT_CONFIG_DIR")
    if sys.platform == "win32":
        monkeypatch.setenv("APPDATA", str(tmp_path))
        assert config_dir() == tmp_path / "classcert"
    else:
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
        assert config_dir() == tmp_path / "xdg" / "classcert"
        monkeypatch.setenv("XDG_CONFIG_HOME", "relative/ignored")
        assert config_dir() == Path.home() / ".config" / "classcert"


def test_key_is_created_private_and_reused(monkeypatch, tmp_path):
    cfg = tmp_path / "conf" / "classcert"
    monkeypatch.setenv("CLASSCERT_CONFIG_DIR", str(cfg))
    first = load_or_create_key()
    key_file = cfg / "signing-key.pem"
    assert key_file.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    if os.name != "nt":
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(cfg.stat().st_mode) == 0o700
    second = load_or_create_key()
    assert public_key_bytes(second) == public_key_bytes(first)
    assert [p.name for p in cfg.iterdir()] == ["signing-key.pem"]  # no temp files left


@pytest.mark.parametrize("content", [b"", b"garbage\n", b"-----BEGIN PRIVATE KEY-----\nAAAA\n"])
def test_corrupt_key_file_is_reported_and_kept(tmp_path, content):
    key_file = tmp_path / "signing-key.pem"
    key_file.write_bytes(content)
    with pytest.raises(signing.SigningKeyError) as info:
        load_or_create_key(tmp_path)
    assert str(key_file) in str(info.value)
    assert "签名密钥" in str(info.value)
    assert key_file.read_bytes() == content


def test_lost_creation_race_uses_existing_key(tmp_path, monkeypatch):
    winner = load_or_create_key(tmp_path / "other")
    target = tmp_path / "cfg"
    real_publish = signing._publish_without_overwrite

    def publish_after_rival(tmp, path):
        path.write_bytes((tmp_path / "other" / "signing-key.pem").read_bytes())
        real_publish(tmp, path)

    monkeypatch.setattr(signing, "_publish_without_overwrite", publish_after_rival)
    got = load_or_create_key(target)
    assert public_key_bytes(got) == public_key_bytes(winner)


# ----------------------------------------------------------------------------- sign / verify


def test_sign_verify_round_trip(key):
    cert = small_cert()
    signed = sign_certificate(cert, key)
    assert "signature" not in cert  # input untouched
    sig = signed["signature"]
    assert sig["algorithm"] == "Ed25519"
    assert base64.b64decode(sig["public_key"]) == public_key_bytes(key)
    assert sig["key_id"] == key_id(public_key_bytes(key)) and len(sig["key_id"]) == 16
    result = verify_certificate(signed)
    assert result.ok, result.message
    assert result.key_id == sig["key_id"]
    assert verify_certificate(signed, [public_key_bytes(key)]).ok
    assert sign_certificate(signed, key) == signed  # re-signing replaces, not nests


def test_modified_field_is_rejected(key, tmp_path):
    signed = sign_certificate(small_cert(), key)
    signed["requirements"][0]["verdict"] = "FAIL"
    result = verify_certificate(signed)
    assert not result.ok and "changed after signing" in result.reason_en
    write_certificate(signed, tmp_path / "c.json")  # canonical, but the content changed
    assert not verify_file(tmp_path / "c.json").ok


def test_swapped_public_key_is_rejected(key):
    signed = sign_certificate(small_cert(), key)
    other = public_key_bytes(Ed25519PrivateKey.generate())
    signed["signature"]["public_key"] = base64.b64encode(other).decode()
    signed["signature"]["key_id"] = key_id(other)
    assert not verify_certificate(signed).ok
    signed["signature"]["key_id"] = key_id(public_key_bytes(key))
    result = verify_certificate(signed)
    assert not result.ok and "key_id" in result.reason_en


def test_resigned_with_other_key_fails_trust_check(key):
    intruder = Ed25519PrivateKey.generate()
    signed = sign_certificate(small_cert(), intruder)
    assert verify_certificate(signed).ok
    result = verify_certificate(signed, [public_key_bytes(key)])
    assert not result.ok and "trusted" in result.reason_en and "受信任" in result.reason_zh
    assert not verify_certificate(signed, []).ok


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda s: s.pop("signature"), "not signed"),
        (lambda s: s.__setitem__("signature", "abc"), "not a JSON object"),
        (lambda s: s["signature"].__setitem__("algorithm", "RSA"), "algorithm"),
        (lambda s: s["signature"].__setitem__("value", "***"), "signature value"),
        (lambda s: s["signature"].__setitem__("public_key", "AAAA"), "public_key"),
        (lambda s: s["signature"].__setitem__("extra", 1), "exactly the fields"),
        (lambda s: s["signature"].pop("key_id"), "exactly the fields"),
    ],
)
def test_broken_signature_block_has_clear_reason(key, mutate, needle):
    signed = sign_certificate(small_cert(), key)
    mutate(signed)
    result = verify_certificate(signed)
    assert not result.ok
    assert needle in result.reason_en
    assert result.reason_zh


# ----------------------------------------------------------------------------- files


def test_written_file_is_canonical_and_verifies(signed_file, key):
    data = signed_file.read_bytes()
    assert not data.endswith(b"\n")
    assert data == canonical_json(json.loads(data))
    assert verify_file(signed_file).ok
    assert verify_file(signed_file, [public_key_bytes(key)]).ok


def test_every_single_byte_change_is_rejected(signed_file, tmp_path):
    original = signed_file.read_bytes()
    masks = (0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xFF)
    accepted = []
    for pos in range(len(original)):
        for mask in masks:
            data = bytearray(original)
            data[pos] ^= mask
            if check_bytes(tmp_path, bytes(data)).ok:
                accepted.append((pos, mask))
    assert accepted == []


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_random_single_byte_replacement_is_rejected(signed_file, tmp_path_factory, data):
    original = signed_file.read_bytes()
    pos = data.draw(st.integers(0, len(original) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != original[pos]))
    changed = original[:pos] + bytes([new]) + original[pos + 1 :]
    assert not check_bytes(tmp_path_factory.mktemp("flip"), changed).ok


def test_base64_padding_bit_change_is_rejected(signed_file, tmp_path):
    """Unused base64 bits decode to the same bytes; the file must still be rejected."""
    cert = json.loads(signed_file.read_bytes())
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    for field in ("value", "public_key"):
        text = cert["signature"][field]
        last = len(text.rstrip("=")) - 1
        twin = alphabet[alphabet.index(text[last]) ^ 1]
        sig = dict(cert["signature"], **{field: text[:last] + twin + text[last + 1 :]})
        forged = dict(cert, signature=sig)
        assert base64.b64decode(forged["signature"][field]) == base64.b64decode(text)
        result = check_bytes(tmp_path, canonical_json(forged))
        assert not result.ok, field


@pytest.mark.parametrize(
    ("transform", "needle"),
    [
        (lambda b: b + b"\n", "canonical form"),
        (lambda b: json.dumps(json.loads(b), sort_keys=True, indent=1).encode(), "canonical form"),
        (lambda b: json.dumps(json.loads(b), sort_keys=True, separators=(",", ":")).encode(),
         "canonical form"),  # \u escapes instead of raw UTF-8, same meaning
        (lambda b: b"\xef\xbb\xbf" + b, "JSON"),
        (lambda b: b[:-1], "not valid JSON"),
        (lambda b: b"\xff" + b[1:], "UTF-8"),
        (lambda b: b'{"a":1,"a":1}', "duplicate key"),
        (lambda b: b'{"a":NaN}', "NaN"),
        (lambda b: b'{"a":1e999}', "not a valid certificate"),
        (lambda b: b"[1,2]", "not a JSON object"),
        (lambda b: b'{"schema":"classcert/certificate/1"}', "not signed"),
    ],
)
def test_reformatted_or_damaged_files_are_rejected(signed_file, tmp_path, transform, needle):
    data = transform(signed_file.read_bytes())
    result = check_bytes(tmp_path, data)
    assert not result.ok
    assert needle in result.reason_en
    assert result.reason_zh


def test_missing_file_is_reported(tmp_path):
    result = verify_file(tmp_path / "nope.json")
    assert not result.ok and "cannot read" in result.reason_en and "nope.json" in result.reason_en


def test_write_certificate_replaces_atomically(tmp_path, key):
    path = tmp_path / "c.json"
    path.write_text("old")
    write_certificate(sign_certificate(small_cert(), key), path)
    assert verify_file(path).ok
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]
    with pytest.raises(ValueError):
        write_certificate({"x": math.nan}, path)
    assert verify_file(path).ok  # failed write left the old file intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]
