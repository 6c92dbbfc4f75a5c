"""PJLink codec: round trips, lenient decoding of device quirks, garbage handling, auth digest."""

from __future__ import annotations

import hashlib
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.device_drivers import pjlink_codec as codec

BODIES = sorted(codec.CLASS1_BODIES | codec.CLASS2_BODIES)
body_st = st.one_of(st.sampled_from(BODIES),
                    st.text(string.ascii_uppercase + string.digits, min_size=4, max_size=4))
# Parameters/data as devices send them: printable ASCII, no surrounding whitespace.
value_st = st.text(string.ascii_letters + string.digits + string.punctuation + " ",
                   max_size=codec.MAX_PARAM_LEN).map(str.strip)
class_st = st.sampled_from([1, 2])
digest_st = st.none() | st.text("0123456789abcdef", min_size=32, max_size=32)
input1_st = st.tuples(st.sampled_from("12345"), st.sampled_from("123456789")).map("".join)
input2_st = st.tuples(st.sampled_from("123456"),
                      st.sampled_from("123456789" + string.ascii_uppercase)).map("".join)


@settings(max_examples=200)
@given(body_st, value_st.filter(bool), class_st, digest_st)
def test_command_round_trip(body, param, pj_class, digest):
    wire = codec.encode_command(body, param, pj_class, digest=digest)
    assert wire.endswith(b"\r")
    cmd = codec.decode_command(wire)
    assert (cmd.body, cmd.param, cmd.pj_class, cmd.digest) == (body, param, pj_class, digest)
    assert cmd.is_query == param.startswith("?")


@settings(max_examples=200)
@given(body_st, value_st, class_st)
def test_response_round_trip(body, data, pj_class):
    reply = codec.decode_response(codec.encode_response(body, data, pj_class))
    assert (reply.body, reply.data, reply.pj_class) == (body, data, pj_class)


@settings(max_examples=200)
@given(body_st, st.sampled_from(["OK", "ERR1", "ERR2", "ERR3", "ERR4", "1"]), class_st,
       st.sampled_from([b"\r", b"\r\n", b"\n", b""]), st.text(" \x00", max_size=3),
       st.booleans())
def test_response_quirks_are_tolerated(body, data, pj_class, term, pad, lower):
    line = f"{pad}%{pj_class}{body}={data}{pad}"
    line = line.lower() if lower else line
    reply = codec.decode_response(line.encode() + term)
    assert reply.body == body
    assert reply.pj_class == pj_class
    assert reply.error == (data if data.startswith("ERR") else None)
    assert reply.ok == (data == "OK")


@settings(max_examples=100)
@given(st.none() | st.text("0123456789abcdef", min_size=8, max_size=8),
       st.text(" ", max_size=4), st.sampled_from([b"\r", b"\r\n", b"\n"]), st.booleans())
def test_greeting_round_trip_and_quirks(salt, trailing, term, lower):
    wire = codec.encode_greeting(salt)
    assert codec.decode_greeting(wire) == codec.Greeting(auth=salt is not None, salt=salt)
    text = wire[:-1].decode() + trailing
    text = text.lower() if lower else text
    assert codec.decode_greeting(text.encode() + term).salt == salt


def test_auth_error_line():
    assert codec.is_auth_error(b"PJLINK ERRA\r")
    assert codec.is_auth_error(b"pjlink erra \r\n")
    assert not codec.is_auth_error(b"PJLINK 0\r")
    assert not codec.is_auth_error(b"%1POWR=ERRA\r")


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_only_raise_decode_error(raw):
    for decode in (codec.decode_response, codec.decode_command, codec.decode_greeting):
        try:
            decode(raw)
        except codec.PjlinkDecodeError:
            pass
    assert isinstance(codec.is_auth_error(raw), bool)


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_arbitrary_data_only_raises_decode_error(data):
    parsers = (codec.parse_power, codec.parse_input, codec.parse_input_list, codec.parse_mute,
               codec.parse_error_status, codec.parse_lamps, codec.parse_resolution)
    for parse in parsers:
        try:
            parse(data)
        except codec.PjlinkDecodeError:
            pass


@pytest.mark.parametrize("garbage", [b"HTTP/1.1 400 Bad Request\r\n", b"%1POWR\r", b"%3POWR=1\r",
                                     b"%1PO R=1\r", b"PJLINK 2\r", b"PJLINK 1\r", b""])
def test_known_garbage_is_rejected(garbage):
    with pytest.raises(codec.PjlinkDecodeError):
        codec.decode_response(garbage)
    with pytest.raises(codec.PjlinkDecodeError):
        codec.decode_greeting(garbage)


def test_auth_digest_known_answer():
    # Worked example of the PJLink specification: random number + password, MD5, lowercase hex.
    expected = hashlib.md5(b"498e4a67" + b"JBMIAProjectorLink").hexdigest()
    assert codec.auth_digest("498e4a67", "JBMIAProjectorLink") == expected
    assert expected == "5d8409bc1c3fa39749434aa3a5c38682"


@settings(max_examples=50)
@given(st.text("0123456789abcdef", min_size=8, max_size=8), st.text(max_size=32))
def test_auth_digest_definition(salt, password):
    digest = codec.auth_digest(salt, password)
    assert digest == hashlib.md5((salt + password).encode("utf-8")).hexdigest()
    assert len(digest) == 32 and digest == digest.lower()


def test_new_salt_is_8_hex():
    salts = {codec.new_salt() for _ in range(20)}
    assert len(salts) > 1
    assert all(len(s) == 8 and all(c in "0123456789abcdef" for c in s) for s in salts)


@given(st.booleans(), st.booleans())
def test_mute_round_trip(video, audio):
    assert codec.parse_mute(codec.format_mute(video, audio)) == (video, audio)


@given(st.lists(st.sampled_from(list(codec.ERROR_LEVELS.values())), min_size=6, max_size=6))
def test_error_status_round_trip(levels):
    status = dict(zip(codec.ERROR_CATEGORIES, levels, strict=True))
    assert codec.parse_error_status(codec.format_error_status(status)) == status


@given(st.lists(st.tuples(st.integers(0, 99999), st.booleans()), min_size=1, max_size=8),
       st.sampled_from([" ", "  ", "   "]))
def test_lamps_round_trip_with_extra_spaces(lamps, sep):
    text = codec.format_lamps(lamps)
    assert codec.parse_lamps(text) == lamps
    assert codec.parse_lamps(" " + text.replace(" ", sep) + " ") == lamps


@given(st.integers(1, 99999), st.integers(1, 99999))
def test_resolution_round_trip(width, height):
    assert codec.parse_resolution(codec.format_resolution((width, height))) == (width, height)
    assert codec.parse_resolution(f"{width}X{height}") == (width, height)


def test_resolution_no_signal_and_unknown():
    assert codec.parse_resolution("-") is None
    assert codec.parse_resolution("*") is None
    assert codec.format_resolution(None) == "-"


@given(st.lists(input1_st, max_size=20), st.lists(input2_st, max_size=20))
def test_input_codes_by_class(class1, class2):
    for code in class1:
        assert codec.is_input_code(code, 1) and codec.is_input_code(code, 2)
    for code in class2:
        assert codec.is_input_code(code, 2)
        assert codec.parse_input(code.lower(), 2) == code
    assert codec.parse_input_list("  ".join(class1 + class2)) == class1 + class2


@pytest.mark.parametrize("code", ["61", "3A", "01", "71", "30", "1", "311"])
def test_class1_rejects_class2_and_invalid_codes(code):
    assert not codec.is_input_code(code, 1)
    with pytest.raises(codec.PjlinkDecodeError):
        codec.parse_input(code, 1)


def test_power_codes():
    assert [codec.parse_power(c) for c in "0123"] == ["off", "on", "cooling", "warming"]
    with pytest.raises(codec.PjlinkDecodeError):
        codec.parse_power("4")


@pytest.mark.parametrize(("body", "param", "cls"), [("POW", "?", 1), ("POWR", "?", 3),
                                                    ("POWR", "x" * 129, 1), ("POWR", "a\rb", 1),
                                                    ("POWR", "", 1), ("POWR", " 1", 1)])
def test_encode_command_rejects_invalid(body, param, cls):
    with pytest.raises(ValueError):
        codec.encode_command(body, param, cls)
