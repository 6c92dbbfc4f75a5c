"""Effective resolution (classcert.video_detail): synthetic frames and real H.264 round trips."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classcert import video_detail as vd

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
W, H = 1920, 1080
FFMPEG = shutil.which("ffmpeg")
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg with libx264 not installed")


@pytest.fixture(autouse=True)
def _slow_only_when_asked(request: pytest.FixtureRequest) -> None:
    """Slow cases run only when selected explicitly (-m slow)."""
    if request.node.get_closest_marker("slow") and "slow" not in (
        request.config.option.markexpr or ""
    ):
        pytest.skip("slow: run with -m slow")


def ideal_resample(x: np.ndarray, n: int, axis: int) -> np.ndarray:
    """Band-limited (FFT) resampling of ``x`` to ``n`` samples along ``axis``."""
    m = x.shape[axis]
    spec = np.fft.rfft(x, axis=axis)
    keep = min(m, n) // 2
    shape = list(spec.shape)
    shape[axis] = n // 2 + 1
    out = np.zeros(shape, dtype=complex)
    idx = [slice(None)] * x.ndim
    idx[axis] = slice(0, keep)
    out[tuple(idx)] = spec[tuple(idx)]
    return np.fft.irfft(out, n=n, axis=axis) * (n / m)


def linear_resample(x: np.ndarray, n: int, axis: int) -> np.ndarray:
    """Bilinear-style resampling along ``axis`` (box prefilter when shrinking)."""
    x = np.moveaxis(x.astype(np.float64), axis, 0)
    m = x.shape[0]
    if n < m:  # crude anti-alias: average neighbours before sampling
        k = np.array([0.25, 0.5, 0.25])
        x = np.apply_along_axis(lambda c: np.convolve(c, k, mode="same"), 0, x)
    pos = (np.arange(n) + 0.5) * m / n - 0.5
    lo = np.clip(np.floor(pos).astype(int), 0, m - 1)
    hi = np.clip(lo + 1, 0, m - 1)
    frac = (pos - np.floor(pos))[:, None]
    return np.moveaxis(x[lo] * (1 - frac) + x[hi] * frac, 0, axis)


def rescale(frame: np.ndarray, lines: int, width: int, how=ideal_resample) -> np.ndarray:
    small = how(how(frame.astype(np.float64), lines, 0), width, 1)
    return how(how(small, frame.shape[0], 0), frame.shape[1], 1)


@pytest.fixture(scope="module")
def pattern() -> np.ndarray:
    return vd.calibration_pattern(W, H)


# -- synthetic frames ------------------------------------------------------------------------


def test_genuine_pattern_is_full_class(pattern):
    res = vd.effective_resolution([pattern], H)
    assert (res.lines, res.class_name, res.confidence) == (1080, "1080p", "high")
    assert res.meets(1080) and "genuine" in res.reason


@pytest.mark.parametrize(
    ("lines", "width", "expected"), [(720, 1280, 720), (540, 960, 540), (900, 1600, 900)]
)
def test_ideal_upscale_reports_source_class(pattern, lines, width, expected):
    res = vd.effective_resolution([rescale(pattern, lines, width)], H)
    assert res.lines == expected
    assert not res.meets(1080)
    assert f"{width}x{lines} source upscaled" in res.reason


@pytest.mark.parametrize(("lines", "width"), [(720, 1280), (540, 960)])
def test_linear_upscale_fails_full_class(pattern, lines, width):
    res = vd.effective_resolution([rescale(pattern, lines, width, linear_resample)], H)
    assert res.lines < 1080
    classes = list(vd.LINE_CLASSES)
    assert res.lines <= lines or classes.index(res.lines) == classes.index(lines) - 1


def test_blurred_frame_is_not_full(pattern):
    k = np.array([1, 4, 6, 4, 1], dtype=float) / 16  # binomial blur, both directions
    blur = np.apply_along_axis(lambda c: np.convolve(c, k, mode="same"), 0, pattern.astype(float))
    blur = np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), 1, blur)
    assert vd.effective_resolution([blur], H).lines < 1080


def test_anamorphic_1440_fails_full_class(pattern):
    stretched = ideal_resample(ideal_resample(pattern.astype(float), 1440, 1), W, 1)
    res = vd.effective_resolution([stretched], H)
    assert res.vertical is not None and res.horizontal is not None
    assert res.vertical.effective == 1080
    assert res.horizontal.effective == 1440
    assert res.lines == 720 and not res.meets(1080)
    assert any("1440 samples" in n for n in res.notes)


def test_flat_frame_has_no_detail_and_is_not_a_fail():
    res = vd.effective_resolution([np.full((H, W), 128, np.uint8)] * 3, H)
    assert (res.lines, res.class_name, res.confidence, res.frames) == (0, "none", "none", 3)
    assert "test pattern" in res.reason and "测试图" in res.reason_zh


def test_stream_average_and_list_agree(pattern):
    frames = [vd.calibration_pattern(W, H, i) for i in range(3)]
    a = vd.effective_resolution(iter(frames), H)
    b = vd.effective_lines([vd.detail_metrics(f) for f in frames], H)
    assert a.lines == b.lines == 1080 and a.frames == b.frames == 3
    assert a.vertical is not None and b.vertical is not None
    assert a.vertical.band_db == pytest.approx(b.vertical.band_db)


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match="2-D"):
        vd.detail_metrics(np.zeros((64, 64, 3)))
    with pytest.raises(ValueError, match="expected 720"):
        vd.effective_resolution([np.zeros((1080, 64))], 720)


def test_band_energy_of_a_pure_tone_sits_at_its_frequency():
    rows = np.arange(H)[:, None] * np.ones((1, 64))
    tone = np.cos(np.pi * 0.6 * rows)  # 0.6 of Nyquist, vertical
    m = vd.detail_metrics(tone)
    total = m.band_energy("vertical", 0.0, 1.0)
    assert m.band_energy("vertical", 0.57, 0.63) > 0.99 * total


# -- properties ------------------------------------------------------------------------------


@SETTINGS
@given(scale=st.floats(0.01, 100.0), seed=st.integers(0, 2**16))
def test_amplitude_does_not_change_class(scale, seed):
    rng = np.random.default_rng(seed)
    frame = ideal_resample(rng.normal(size=(720, 256)), H, 0)  # a 720-line source, vertically
    a = vd.effective_resolution([frame], H)
    b = vd.effective_resolution([frame * scale + 7.0], H)
    assert a.lines == b.lines == 720


@SETTINGS
@given(seed=st.integers(0, 2**16), sigma=st.floats(0.5, 50.0))
def test_full_resolution_noise_is_full_class(seed, sigma):
    frame = np.random.default_rng(seed).normal(128, sigma, size=(H, 512))
    assert vd.effective_resolution([frame], H).lines == 1080


@SETTINGS
@given(
    seed=st.integers(0, 2**16),
    mid=st.sampled_from([900, 720, 576, 540, 480]),
    tilt=st.floats(-2.0, 2.0),
)
def test_downscale_upscale_never_reports_more_than_intermediate(seed, mid, tilt):
    rng = np.random.default_rng(seed)
    spec = rng.normal(size=(H // 2 + 1, 128)) + 1j * rng.normal(size=(H // 2 + 1, 128))
    spec *= (np.linspace(0.05, 1.0, H // 2 + 1) ** tilt)[:, None]  # random spectral slope
    detail = np.fft.irfft(spec, n=H, axis=0)
    res = vd.effective_resolution([ideal_resample(ideal_resample(detail, mid, 0), H, 0)], H)
    assert 0 < res.lines <= mid


# -- real H.264 round trips --------------------------------------------------------------------


def h264_round_trip(frames: list[np.ndarray], lines: int, width: int, scaler: str, enc: list[str]):
    chain = []
    if lines != H:
        chain = [f"scale={width}:{lines}:flags={scaler}", f"scale={W}:{H}:flags={scaler}"]
    raw = b"".join(f.tobytes() for f in frames)
    with tempfile.TemporaryDirectory() as tmp:
        clip = str(Path(tmp) / "clip.mp4")
        subprocess.run(
            [FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "rawvideo",
             "-pix_fmt", "gray", "-s", f"{W}x{H}", "-r", "25", "-i", "-",
             "-vf", ",".join([*chain, "format=yuv420p"]), "-c:v", "libx264", *enc, clip],
            input=raw, check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        out = subprocess.run(
            [FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-i", clip,
             "-f", "rawvideo", "-pix_fmt", "gray", "-"],
            check=True, capture_output=True, timeout=120,
        ).stdout  # fmt: skip
    n = len(out) // (W * H)
    assert n == len(frames), "decoder returned a different number of frames"
    for i in range(n):  # frames one at a time, as from a capture
        yield np.frombuffer(out, np.uint8, W * H, i * W * H).reshape(H, W)


CRF23 = ["-preset", "veryfast", "-crf", "23"]


@needs_ffmpeg
@pytest.mark.parametrize(
    ("lines", "width", "expected"), [(1080, 1920, 1080), (720, 1280, 720), (540, 960, 540)]
)
def test_h264_crf23_round_trip(lines, width, expected):
    frames = [vd.calibration_pattern(W, H, i) for i in range(3)]
    res = vd.effective_resolution(h264_round_trip(frames, lines, width, "lanczos", CRF23), H)
    assert res.lines == expected
    assert res.meets(1080) == (lines == 1080)


@needs_ffmpeg
@pytest.mark.slow
@pytest.mark.parametrize("scaler", ["bilinear", "bicubic", "lanczos"])
@pytest.mark.parametrize(
    "enc",
    [["-crf", "18"], ["-crf", "23"], ["-crf", "28"], ["-b:v", "8M", "-maxrate", "8M",
     "-bufsize", "8M"], ["-b:v", "4M", "-maxrate", "4M", "-bufsize", "4M"]],
    ids=["crf18", "crf23", "crf28", "8Mbps", "4Mbps"],
)  # fmt: skip
@pytest.mark.parametrize(("lines", "width"), [(1080, 1920), (720, 1280), (540, 960)])
def test_h264_full_matrix(lines, width, scaler, enc):
    frames = [vd.calibration_pattern(W, H, i) for i in range(6)]
    res = vd.effective_resolution(h264_round_trip(frames, lines, width, scaler, enc), H)
    if lines == H:
        assert res.lines == 1080
    else:  # never full; the lower class may be one step off with soft scalers (see the doc)
        assert res.lines < 1080
        tops = [1080, 900, 720, 576, 540, 480]
        assert abs(tops.index(res.lines) - tops.index(lines)) <= 1
