"""Live-stream points: fingerprints, grouping, URL helpers, and real streams on loopback."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.live_points import (
    GRID_H,
    GRID_W,
    fingerprint,
    fingerprint_distance,
    group_sources,
    redact,
    watch_live_points,
    with_credentials,
)
from classcert.rigs.simulators.live_pattern_sim import LivePatternSimulator
from classcert.rigs.simulators.rtsp_sim import RtspSimulator

_sizes = st.sampled_from([(90, 160), (180, 320), (360, 640), (1080, 1920)])


@settings(max_examples=40, deadline=None)
@given(_sizes, st.integers(0, 2**32 - 1))
def test_fingerprint_shape_and_self_distance(size, seed):
    img = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8)
    fp = fingerprint(img)
    assert fp.shape == (GRID_H, GRID_W) and fp.dtype == np.uint8
    assert fingerprint_distance(fp, fp) == 0.0


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(-12, 12))
def test_small_noise_is_same_source_big_change_is_not(seed, offset):
    rng = np.random.default_rng(seed)
    tiles = rng.integers(30, 220, (GRID_H, GRID_W)).astype(np.int16)
    img = np.kron(tiles, np.ones((20, 20), np.int16))  # 360 x 640
    noisy = np.clip(img + offset, 0, 255).astype(np.uint8)
    assert fingerprint_distance(fingerprint(img.astype(np.uint8)), fingerprint(noisy)) == 0.0
    inverted = (255 - img).astype(np.uint8)
    far = np.abs(tiles - (255 - tiles)) > 20
    assert fingerprint_distance(fingerprint(img.astype(np.uint8)), fingerprint(inverted)) \
        >= far.mean() - 1e-9


@settings(max_examples=100)
@given(st.integers(1, 8).flatmap(lambda n: st.tuples(
    st.just(list(range(n))),
    st.dictionaries(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                    st.one_of(st.none(), st.floats(0, 1))))))
def test_groups_partition_the_streams(case):
    indices, distances = case
    groups = group_sources(indices, distances)
    assert sorted(i for g in groups for i in g) == indices
    for (a, b), d in distances.items():
        if d is not None and d < 0.03:
            assert any(a in g and b in g for g in groups)


_names = st.text(st.characters(codec="ascii", categories=["L", "N", "P", "S"]), min_size=1,
                 max_size=12)


@settings(max_examples=100)
@given(_names, _names)
def test_credentials_added_then_redacted(user, password):
    url = with_credentials("rtsp://10.0.0.5:554/ch1", user, password)
    assert url.endswith("@10.0.0.5:554/ch1")
    shown = redact(url)
    assert shown.endswith("@10.0.0.5:554/ch1") and ":" not in shown.split("//")[1].split("@")[0]
    assert with_credentials("rtsp://10.0.0.5/x", None, password) == "rtsp://10.0.0.5/x"


def test_recorder_limited_to_three_sessions_gives_three():
    with LivePatternSimulator(max_sessions=3) as sim:
        r = watch_live_points([sim.url] * 5, seconds=3, startup_s=2)
    assert r.count == 3 and len(r.delivering) == 3
    refused = [s for s in r.streams if s.error]
    assert len(refused) == 2 and all("refused" in s.error[0] for s in refused)
    assert r.to_json()["streams_opened"] == 5


def test_clip_recorder_limited_to_three_sessions_gives_three():
    with RtspSimulator(variant="small", max_sessions=3) as sim:
        r = watch_live_points([sim.url] * 5, seconds=3, startup_s=2)
    assert r.count == 3


def test_relays_are_one_source_and_scenes_are_distinct():
    with LivePatternSimulator(scene=0) as a, LivePatternSimulator(scene=5) as b:
        urls = [a.url, a.url, b.url]
        channels = watch_live_points(urls, seconds=3, startup_s=2, definition="channels")
    assert channels.groups == [[0, 1], [2]]
    assert channels.count == 2 and len(channels.delivering) == 3
    assert channels.distances[(0, 1)] < 0.03 < channels.distances[(0, 2)]
    assert channels.to_json()["distinct_sources"] == 2


def test_viewers_definition_counts_relays_but_records_them():
    with LivePatternSimulator() as sim:
        r = watch_live_points([sim.url] * 2, seconds=2.5, startup_s=2)
    assert r.count == 2 and r.distinct_sources == 1
    assert r.to_json()["definition"] == "viewers"
