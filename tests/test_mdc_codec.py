"""Samsung MDC codec: frame round trips, checksums, stream framing, field parsers, garbage."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.device_drivers import samsung_mdc_codec as codec

cmd_st = st.integers(0, 0xFE)
id_st = st.integers(0, 0xFE)
data_st = st.binary(max_size=codec.MAX_DATA)


def test_known_frames():
    # power on for display 0: AA 11 00 01 01, checksum 0x11 + 0x00 + 0x01 + 0x01 = 0x13
    assert codec.encode_request(0x11, 0, [1]) == bytes.fromhex("aa 11 00 01 01 13")
    assert codec.encode_request(0x19, 0xFE) == bytes.fromhex("aa 19 fe 00 17")
    # ACK of a power query answered "on" by display 1: AA FF 01 03 'A' 11 01 + checksum
    ack = bytes.fromhex("aa ff 01 03 41 11 01") + bytes([(0xFF + 1 + 3 + 0x41 + 0x11 + 1) & 0xFF])
    assert codec.encode_reply(1, 0x11, [1]) == ack
    reply = codec.decode_reply(ack)
    assert (reply.display_id, reply.ack, reply.rcmd, reply.data) == (1, True, 0x11, b"\x01")
    nak = codec.decode_reply(codec.encode_reply(0, 0x14, [0x02], ack=False))
    assert not nak.ack and nak.error_code == 0x02 and reply.error_code is None


@settings(max_examples=300)
@given(cmd_st, id_st, data_st)
def test_request_round_trip_and_checksum(cmd, display_id, data):
    if cmd == codec.REPLY_CMD:
        return
    frame = codec.encode_request(cmd, display_id, data)
    assert frame[0] == codec.HEADER and frame[3] == len(data)
    assert frame[-1] == sum(frame[1:-1]) % 256
    assert codec.frame_length(frame[:4]) == len(frame)
    assert codec.decode_request(frame) == codec.Request(cmd, display_id, data)
    assert codec.take_frame(frame + b"\xaa\x11") == (frame, len(frame))


@settings(max_examples=300)
@given(id_st, st.integers(0, 0xFF), st.binary(max_size=codec.MAX_DATA - 2), st.booleans())
def test_reply_round_trip(display_id, rcmd, data, ack):
    data = data if ack else data[:1].ljust(1, b"\x00")
    reply = codec.decode_reply(codec.encode_reply(display_id, rcmd, data, ack))
    assert reply == codec.Reply(display_id, ack, rcmd, data)
    assert reply.error_code == (None if ack else data[0])


@settings(max_examples=300)
@given(cmd_st.filter(lambda c: c != codec.REPLY_CMD), id_st, st.binary(max_size=40),
       st.data())
def test_any_single_byte_change_is_detected(cmd, display_id, data, draw):
    frame = bytearray(codec.encode_request(cmd, display_id, data))
    pos = draw.draw(st.integers(1, len(frame) - 1))
    frame[pos] = (frame[pos] + draw.draw(st.integers(1, 255))) % 256
    with pytest.raises(codec.MdcDecodeError):
        codec.decode_request(bytes(frame))


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_garbage_never_crashes(blob):
    for decode in (codec.decode_request, codec.decode_reply):
        try:
            decode(blob)
        except codec.MdcDecodeError:
            pass
    frame, used = codec.take_frame(blob)
    assert 0 <= used <= len(blob)
    if frame is not None:
        assert frame[0] == codec.HEADER and blob[used - len(frame):used] == frame
    for parser in (codec.parse_text, codec.parse_status, codec.parse_error_status,
                   codec.parse_model_number, codec.parse_screen_size, codec.parse_power):
        try:
            parser(blob)
        except codec.MdcDecodeError:
            pass


noise_st = st.binary(max_size=6).map(lambda b: b.replace(b"\xaa", b""))


@settings(max_examples=150)
@given(st.lists(st.tuples(noise_st, cmd_st.filter(lambda c: c != 0xFF), id_st,
                          st.binary(max_size=30)), min_size=1, max_size=5), st.data())
def test_stream_framing_with_noise_and_any_chunking(items, draw):
    frames = [codec.encode_request(c, i, d) for _, c, i, d in items]
    stream = b"".join(noise + f for (noise, *_), f in zip(items, frames, strict=True))
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    buf, got = b"", []
    for chunk in chunks:
        buf += chunk
        for _ in range(len(frames) + 1):
            frame, used = codec.take_frame(buf)
            buf = buf[used:]
            if frame is None:
                break
            got.append(frame)
    assert got == frames and buf == b""


def test_encode_rejects_invalid_arguments():
    for bad in (-1, 256, True):
        with pytest.raises(ValueError):
            codec.encode_request(bad, 0)
    with pytest.raises(ValueError, match="reserved"):
        codec.encode_request(0x11, 0xFF)
    with pytest.raises(ValueError, match="reply marker"):
        codec.encode_request(0xFF, 0)
    with pytest.raises(ValueError, match="limited"):
        codec.encode_request(0x11, 0, bytes(256))
    with pytest.raises(ValueError, match="one error-code"):
        codec.encode_reply(0, 0x11, b"", ack=False)


def test_decode_rejects_wrong_kinds():
    request = codec.encode_request(0x11, 0)
    with pytest.raises(codec.MdcDecodeError, match="not an MDC reply"):
        codec.decode_reply(request)
    with pytest.raises(codec.MdcDecodeError, match="a request"):
        codec.decode_request(codec.encode_reply(0, 0x11, [1]))
    odd = codec._frame(codec.REPLY_CMD, 0, b"\x58\x11")  # neither 'A' nor 'N'
    with pytest.raises(codec.MdcDecodeError, match="neither ACK nor NAK"):
        codec.decode_reply(odd)
    with pytest.raises(codec.MdcDecodeError, match="without ack"):
        codec.decode_reply(codec._frame(codec.REPLY_CMD, 0, b"\x41"))
    with pytest.raises(codec.MdcDecodeError, match="length"):
        codec.decode_reply(request + b"\x00")


@settings(max_examples=100)
@given(st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=18),
       st.binary(max_size=4).map(lambda b: bytes(x % 2 * 0x20 for x in b)))
def test_text_padding_quirk(text, pad):
    assert codec.parse_text(text.encode() + pad) == text


@settings(max_examples=200)
@given(st.binary(min_size=4, max_size=12))
def test_status_accepts_short_and_long_answers(data):
    status = codec.parse_status(data)
    assert status.power == data[0] and status.input == data[3]
    assert status.volume == (None if data[1] == 0xFF else data[1])
    assert status.mute == (None if data[2] == 0xFF else data[2] == 1)
    assert status.aspect == (data[4] if len(data) > 4 else None)


def test_short_answers_are_decode_errors():
    for parser in (codec.parse_status, codec.parse_power, codec.parse_screen_size):
        with pytest.raises(codec.MdcDecodeError, match="too short"):
            parser(b"")


def test_error_status_mapping():
    assert set(codec.parse_error_status(bytes([0, 0, 2, 1, 40, 2])).values()) == {"ok"}
    faults = codec.parse_error_status(bytes([1, 1, 1, 0, 90, 1]))
    assert faults == {"fan": "error", "lamp": "error", "temperature": "error", "cover": "ok",
                      "filter": "ok", "other": "warning"}
    assert codec.parse_error_status(bytes([0, 1, 2, 0, 80]))["temperature"] == "error"


def test_power_flags_model_and_size():
    assert [codec.parse_power(bytes([b])) for b in (0, 1, 2)] == ["off", "on", "reboot"]
    with pytest.raises(codec.MdcDecodeError, match="power state"):
        codec.parse_power(b"\x07")
    assert codec.parse_flag(b"\x01", "mute") is True
    assert codec.parse_flag(b"\xff", "mute") is None
    with pytest.raises(codec.MdcDecodeError):
        codec.parse_flag(b"\x05", "mute")
    assert codec.parse_model_number(b"\x02\x9a\x00") == ("LCD", 0x9A, True)
    assert codec.parse_model_number(b"\x09\x01") == ("0x09", 1, False)
    assert codec.parse_screen_size(b"\x56") == 86 and codec.parse_screen_size(b"\x00") is None


@given(st.integers(0, 255))
def test_input_code_round_trip(code):
    text = codec.format_input(code)
    assert len(text) == 2 and text == text.upper()
    assert codec.parse_input_code(text) == code == codec.parse_input_code(f"0x{text.lower()}")


def test_input_names_aliases_and_errors():
    assert codec.parse_input_code("HDMI1") == 0x21 == codec.parse_input_code(" hdmi 1 ")
    assert codec.parse_input_code("DisplayPort1") == 0x25 and codec.parse_input_code("PC") == 0x14
    assert [codec.canonical_input(c) for c in (0x22, 0x24, 0x32, 0x34, 0x1F, 0x25)] == [
        0x21, 0x23, 0x31, 0x33, 0x18, 0x25]
    for bad in ("", "123", "HDMI9", "zz", "0x"):
        with pytest.raises(ValueError, match="21 = HDMI1"):
            codec.parse_input_code(bad)
