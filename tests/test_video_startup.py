"""A stream's damaged first pictures do not decide its effective resolution."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from classcert.video_detail_sampling import DETAIL_SAMPLE_TIMES, DetailSampler


class _Hook:
    """Stands in for DetailHook: remembers the pictures it got, answers a fixed class."""

    def __init__(self, lines: int) -> None:
        self.lines, self.got = lines, []

    def add(self, gray) -> None:
        self.got.append(int(gray[0, 0]))

    def result(self, height: int):
        return {"lines": self.lines} if self.got else None


def _run(keys: set[int], lines=(900, 1080), fps: float = 25.0, count: int = 100,
         black: frozenset[int] = frozenset()):
    early, clean = _Hook(lines[0]), _Hook(lines[1])
    sampler = DetailSampler(early, clean)
    firsts = []
    for i in range(count):
        if sampler.feed(np.full((2, 2), i % 256, np.uint8), i / fps, key_frame=i in keys,
                        first=i == 0, black=i in black):
            firsts.append(i)
    return sampler, early, clean, firsts


def test_clean_pictures_start_at_the_second_key_frame():
    sampler, early, clean, firsts = _run({0, 25, 50, 75})
    assert early.got == [math.ceil(t * 25) for t in DETAIL_SAMPLE_TIMES]  # 0.5 s and 1.5 s
    assert clean.got == [25, 50] and firsts == [25]  # 1.0 s and 1.0 s + 1 s
    effective, notes = sampler.result(1080)
    assert effective == {"lines": 1080}
    assert len(notes) == 1 and "start-up fault" in notes[0][0] and "900" in notes[0][0]


def test_a_stream_joined_mid_gop_counts_its_first_key_frame_as_clean():
    _, _, clean, _ = _run({10, 35})  # the first picture is not a key frame
    assert clean.got == [10, 35]


def test_no_second_key_frame_falls_back_to_the_first_pictures_and_says_so():
    sampler, early, clean, firsts = _run({0}, lines=(1080, 1080))
    assert clean.got == [] and firsts == [] and len(early.got) == len(DETAIL_SAMPLE_TIMES)
    effective, notes = sampler.result(1080)
    assert effective == {"lines": 1080} and "no second key frame" in notes[0][0]


def test_agreeing_samples_need_no_note_and_black_pictures_are_skipped():
    sampler, _, clean, _ = _run({0, 25, 50}, lines=(1080, 1080), black=frozenset(range(25, 30)))
    assert clean.got[0] == 30
    assert sampler.result(1080) == ({"lines": 1080}, [])


@given(keys=st.sets(st.integers(0, 99), max_size=12), black=st.frozensets(st.integers(0, 99)))
def test_samples_are_bounded_and_never_the_first_or_a_black_picture(keys, black):
    sampler, early, clean, firsts = _run(keys, black=black)
    assert len(early.got) <= len(DETAIL_SAMPLE_TIMES) >= len(clean.got)
    assert not (set(clean.got) & black) and not (set(early.got) & black)
    later_keys = sorted(k for k in keys if k > 0)
    if clean.got:
        assert clean.got[0] >= later_keys[0] and firsts == [clean.got[0]]
    effective, _ = sampler.result(1080)
    assert effective == (clean.result(1080) or early.result(1080))


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg needed to make clips")
def test_a_genuine_recorder_whose_stream_starts_damaged_still_measures_1080():
    """The first key frame arrives without its first slices; its group decodes damaged."""
    pytest.importorskip("classcert.video_detail")
    from classcert.rigs.simulators.pattern_clips import pattern_clip
    from classcert.rigs.simulators.rtsp_sim import RtspSimulator
    from classcert.video_probe import probe

    clip = str(pattern_clip("genuine_1080p", 4.0))
    with RtspSimulator(clip=clip, lose_first=20) as sim:
        r = probe(sim.url, max_seconds=3.5, timeout_s=5)
    assert r.effective is not None and r.effective["lines"] == 1080, r.notes
    assert any("start-up fault" in en for en, _ in r.notes), r.notes  # and it is named
    with RtspSimulator(clip=clip) as sim:  # the same stream, whole from its start
        r = probe(sim.url, max_seconds=3.5, timeout_s=5)
    assert r.effective is not None and r.effective["lines"] == 1080 and not r.notes
