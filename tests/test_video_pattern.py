"""The harness video test pattern: determinism, counter block, moving strip, H.264 clip."""

from __future__ import annotations

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.video_pattern import (
    COUNTER_BITS,
    VideoPattern,
    decode_bits,
    decode_counter,
    encode_counter,
    write_pattern_clip,
)


@given(st.integers(0, (1 << 24) - 1), st.integers(0, (1 << 32) - 1))
def test_counter_bits_round_trip(frame: int, ms: int) -> None:
    bits = encode_counter(frame, ms)
    assert len(bits) == COUNTER_BITS
    assert decode_bits(bits) == (frame, ms)


@given(st.integers(0, (1 << 24) - 1), st.integers(0, (1 << 32) - 1), st.integers(0, 63))
def test_counter_crc_catches_any_single_bit_error(frame: int, ms: int, flip: int) -> None:
    bits = encode_counter(frame, ms)
    bits[flip] ^= 1
    assert decode_bits(bits) is None


@given(st.lists(st.integers(0, 1), max_size=80))
def test_decode_bits_never_crashes(bits: list[int]) -> None:
    out = decode_bits(bits)
    assert out is None or (len(bits) == COUNTER_BITS and encode_counter(*out) == bits)


def test_counter_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        encode_counter(1 << 24, 0)
    with pytest.raises(ValueError):
        encode_counter(0, -1)


@settings(max_examples=25, deadline=None)
@given(st.sampled_from([(1920, 1080), (1280, 720), (640, 360), (320, 180)]),
       st.integers(0, 100_000))
def test_counter_readable_from_raw_frames(size: tuple[int, int], index: int) -> None:
    pattern = VideoPattern(*size, fps=25)
    luma = pattern.luma(index)
    assert luma.shape == (size[1], size[0])
    assert decode_counter(luma) == (index, round(index * 40))


def test_frames_are_deterministic_and_always_moving() -> None:
    a, b = VideoPattern(640, 360), VideoPattern(640, 360)
    assert np.array_equal(a.luma(7), b.luma(7))
    for i in range(20):  # the strip moves every frame, through a whole period
        grid_now = a.luma(i)[::8, ::8].astype(int)
        grid_next = a.luma(i + 1)[::8, ::8].astype(int)
        assert np.count_nonzero(np.abs(grid_now - grid_next) > 20) > 0.01 * grid_now.size


def test_detail_reaches_near_nyquist() -> None:
    luma = VideoPattern(1920, 1080).luma(0).astype(float)
    spectrum = np.abs(np.fft.rfft(luma[300] - luma[300].mean()))
    freqs = np.fft.rfftfreq(luma.shape[1])
    assert spectrum[(freqs > 0.42) & (freqs < 0.48)].max() > 0.05 * spectrum.max()
    column = luma[540:890, 1800] - luma[540:890, 1800].mean()
    cspec = np.abs(np.fft.rfft(column))
    cfreqs = np.fft.rfftfreq(column.size)
    assert cspec[(cfreqs > 0.42) & (cfreqs < 0.48)].max() > 0.05 * cspec.max()


def test_yuv420p_has_neutral_chroma() -> None:
    frame = VideoPattern(320, 180).yuv420p(3)
    assert frame.shape == (270, 320)
    assert np.all(frame[180:] == 128)


def test_bad_sizes_rejected() -> None:
    with pytest.raises(ValueError):
        VideoPattern(321, 180)
    with pytest.raises(ValueError):
        VideoPattern(320, 180, fps=0)


def test_clip_is_progressive_h264_with_readable_counter(tmp_path) -> None:
    path = write_pattern_clip(tmp_path / "p.mp4", 1.0, 25, 640, 360)
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264"
        assert (s.codec_context.width, s.codec_context.height) == (640, 360)
        numbers = []
        for frame in c.decode(video=0):
            assert not frame.interlaced_frame
            assert frame.format.name == "yuv420p"
            numbers.append(decode_counter(frame.to_ndarray(format="gray")))
    assert numbers == [(i, i * 40) for i in range(25)]


def test_clip_frame_indices_select_pictures(tmp_path) -> None:
    path = write_pattern_clip(tmp_path / "f.mkv", 0.4, 25, 320, 180,
                              frame_indices=[0, 1, 1, 1, 7, 8, 9, 10, 11, 12])
    with av.open(str(path)) as c:
        got = [decode_counter(f.to_ndarray(format="gray"))[0] for f in c.decode(video=0)]
    assert got == [0, 1, 1, 1, 7, 8, 9, 10, 11, 12]
