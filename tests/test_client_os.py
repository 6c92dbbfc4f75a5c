"""Client OS detection: a corpus of real-looking user agents, client hints, generated UAs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert import client_os as co

WEBKIT = "AppleWebKit/605.1.15 (KHTML, like Gecko)"
BLINK = "AppleWebKit/537.36 (KHTML, like Gecko)"

# (user agent, max_touch_points, family, version, model)
CORPUS = [
    (f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) {WEBKIT} Version/17.4.1 "
     "Mobile/15E148 Safari/604.1", None, co.IOS, "17.4.1", "iPhone"),
    (f"Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) {WEBKIT} Mobile/15E148 "
     "MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN", None, co.IOS, "16.6",
     "iPhone"),
    (f"Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) {WEBKIT} Version/26.0 "
     "Mobile/15E148 Safari/604.1", None, co.IOS, "26.0", "iPhone"),
    (f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) {WEBKIT} CriOS/120.0.6099.119 "
     "Mobile/15E148 Safari/604.1", None, co.IOS, "17.2", "iPhone"),
    (f"Mozilla/5.0 (iPod touch; CPU iPhone OS 12_5_7 like Mac OS X) {WEBKIT} Version/12.1.2 "
     "Mobile/15E148 Safari/604.1", None, co.IOS, "12.5.7", "iPod touch"),
    (f"Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) {WEBKIT} Version/16.6 Mobile/15E148 "
     "Safari/604.1", None, co.IPADOS, "16.6", "iPad"),
    (f"Mozilla/5.0 (iPad; CPU OS 12_4 like Mac OS X) {WEBKIT} Version/12.1 Mobile/15E148 "
     "Safari/604.1", None, co.IOS, "12.4", "iPad"),
    (f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {WEBKIT} Version/17.3 Safari/605.1.15",
     5, co.IPADOS, "17.3", "iPad"),
    (f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {WEBKIT} Version/17.3 Safari/605.1.15",
     0, co.MACOS, "10.15.7", ""),
    (f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {WEBKIT} Version/17.3 Safari/605.1.15",
     None, co.MACOS, "10.15.7", ""),
    (f"Mozilla/5.0 (Linux; Android 14; Pixel 8) {BLINK} Chrome/122.0.6261.64 Mobile "
     "Safari/537.36", None, co.ANDROID, "14", "Pixel 8"),
    (f"Mozilla/5.0 (Linux; Android 10; K) {BLINK} Chrome/124.0.0.0 Mobile Safari/537.36",
     None, co.ANDROID, "", ""),
    (f"Mozilla/5.0 (Linux; U; Android 13; zh-cn; 22081212C Build/TKQ1.220829.002) {BLINK} "
     "Version/4.0 Chrome/100.0.4896.58 Mobile Safari/537.36 XiaoMi/MiuiBrowser/17.8.20",
     None, co.ANDROID, "13", "22081212C"),
    (f"Mozilla/5.0 (Linux; Android 12; V2154A; wv) {BLINK} Version/4.0 Chrome/87.0.4280.141 "
     "Mobile Safari/537.36 VivoBrowser/15.8.1.0", None, co.ANDROID, "12", "V2154A"),
    (f"Mozilla/5.0 (Linux; Android 11; MatePad Pro) {BLINK} Chrome/110.0.0.0 Safari/537.36",
     None, co.ANDROID, "11", "MatePad Pro"),
    (f"Mozilla/5.0 (Linux; Android 10; HarmonyOS; ELS-AN00; HMSCore 6.11.0.302) {BLINK} "
     "Chrome/99.0.4844.88 HuaweiBrowser/14.0.2.300 Mobile Safari/537.36", None, co.HARMONYOS,
     "", "ELS-AN00"),
    (f"Mozilla/5.0 (Phone; OpenHarmony 5.0) {BLINK} Chrome/114.0.0.0 Safari/537.36 "
     "ArkWeb/4.1.6.1 Mobile HuaweiBrowser/5.0.4.300", None, co.HARMONYOS, "5.0", ""),
    (f"Mozilla/5.0 (Tablet; OpenHarmony 5.0) {BLINK} Chrome/114.0.0.0 Safari/537.36 "
     "ArkWeb/4.1.6.1", None, co.HARMONYOS, "5.0", ""),
    (f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {BLINK} Chrome/122.0.0.0 Safari/537.36 "
     "Edg/122.0.0.0", None, co.WINDOWS, "10", ""),
    (f"Mozilla/5.0 (Windows NT 6.1; WOW64) {BLINK} Chrome/109.0.0.0 Safari/537.36",
     None, co.WINDOWS, "7", ""),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0",
     None, co.WINDOWS, "10", ""),
    (f"Mozilla/5.0 (X11; CrOS x86_64 15633.69.0) {BLINK} Chrome/119.0.6045.212 Safari/537.36",
     None, co.CHROMEOS, "15633.69.0", ""),
    (f"Mozilla/5.0 (X11; Linux x86_64) {BLINK} Chrome/122.0.0.0 Safari/537.36",
     None, co.LINUX, "", ""),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0",
     None, co.LINUX, "", ""),
    ("curl/8.5.0", None, co.UNKNOWN, "", ""),
    ("", None, co.UNKNOWN, "", ""),
]


@pytest.mark.parametrize(("ua", "touch", "family", "version", "model"), CORPUS)
def test_corpus(ua, touch, family, version, model):
    got = co.detect_os(ua, max_touch_points=touch)
    assert (got.family, got.version, got.model) == (family, version, model)
    assert got.source == ("none" if not ua else "user-agent")


def test_android_compatibility_flags():
    android = co.detect_os(CORPUS[10][0])
    harmony_compat = co.detect_os(CORPUS[15][0])
    harmony_next = co.detect_os(CORPUS[16][0])
    assert android.android_compatible and android.mobile is True
    assert harmony_compat.android_compatible
    assert not harmony_next.android_compatible and harmony_next.mobile is True
    assert co.detect_os(CORPUS[0][0]).is_apple_mobile
    assert co.detect_os(CORPUS[7][0], max_touch_points=5).is_apple_mobile


def test_hints_win_over_reduced_android_ua():
    ua = f"Mozilla/5.0 (Linux; Android 10; K) {BLINK} Chrome/124.0.0.0 Mobile Safari/537.36"
    hints = {"Sec-CH-UA-Platform": '"Android"', "Sec-CH-UA-Platform-Version": '"14.0.0"',
             "Sec-CH-UA-Mobile": "?1", "Sec-CH-UA-Model": '"SM-S9180"'}
    got = co.detect_os(ua, hints)
    assert (got.family, got.version, got.mobile, got.model, got.source) == (
        co.ANDROID, "14", True, "SM-S9180", "client-hints")
    assert got.android_compatible and got.major == 14


@pytest.mark.parametrize(("version", "expected"), [
    ("15.0.0", "11"), ("13.0.0", "11"), ("10.0.0", "10"), ("1.0.0", "10"), ("0.3.0", "8.1"),
    ("0.1.0", "7"), ("", ""), ("garbage", "")])
def test_windows_11_from_hints(version, expected):
    ua = f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {BLINK} Chrome/122.0.0.0 Safari/537.36"
    hints = {"sec-ch-ua-platform": '"Windows"', "sec-ch-ua-platform-version": f'"{version}"'}
    got = co.detect_os(ua, hints)
    assert got.family == co.WINDOWS
    assert got.version == (expected or "10")  # empty hint version falls back to the UA's


def test_js_high_entropy_values_and_unknown_platform():
    hints = {"platform": "macOS", "platformVersion": "14.4.1", "mobile": False, "model": ""}
    got = co.detect_os("", hints)
    assert (got.family, got.version, got.mobile) == (co.MACOS, "14.4.1", False)
    # "Unknown" platform says nothing: the UA decides.
    ua = CORPUS[0][0]
    assert co.detect_os(ua, {"Sec-CH-UA-Platform": '"Unknown"'}).family == co.IOS
    assert co.parse_client_hints({"Sec-CH-UA-Mobile": "?1"}) is None


def test_hint_family_differs_from_ua_drops_ua_version():
    got = co.detect_os(CORPUS[0][0], {"Sec-CH-UA-Platform": '"HarmonyOS"'})
    assert (got.family, got.version, got.model) == (co.HARMONYOS, "", "")


# ---------------------------------------------------------------- generated UAs

ver = st.tuples(st.integers(0, 40), st.integers(0, 20), st.integers(0, 20))
browser_tail = st.sampled_from([
    f"{WEBKIT} Version/17.0 Mobile/15E148 Safari/604.1", f"{BLINK} Chrome/120.0.0.0 Safari/537.36",
    "Gecko/20100101 Firefox/120.0", f"{WEBKIT} Mobile/15E148 MicroMessenger/8.0.40", ""])


@settings(max_examples=300)
@given(st.sampled_from(["iPhone", "iPod touch"]), ver, browser_tail)
def test_generated_iphone(device, v, tail):
    major = max(v[0], 1)
    ua = f"Mozilla/5.0 ({device}; CPU iPhone OS {major}_{v[1]}_{v[2]} like Mac OS X) {tail}"
    got = co.parse_user_agent(ua)
    assert got.family == co.IOS
    assert got.version == f"{major}.{v[1]}.{v[2]}"
    assert got.major == major


@settings(max_examples=300)
@given(ver, browser_tail)
def test_generated_ipad(v, tail):
    major = max(v[0], 1)
    got = co.parse_user_agent(f"Mozilla/5.0 (iPad; CPU OS {major}_{v[1]} like Mac OS X) {tail}")
    assert got.family == (co.IPADOS if major >= 13 else co.IOS)
    assert got.version == f"{major}.{v[1]}"


@settings(max_examples=300)
@given(ver, st.integers(0, 10), st.sampled_from(["Safari/605.1.15", "Chrome/120.0.0.0"]))
def test_generated_macintosh_touch_points(v, touch, engine):
    ua = (f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_{v[1]}_{v[2]}) {WEBKIT} "
          f"Version/{v[0]}.{v[1]} {engine}")
    got = co.parse_user_agent(ua, max_touch_points=touch)
    if touch > 1:
        assert (got.family, got.version) == (co.IPADOS, f"{v[0]}.{v[1]}")
    else:
        assert (got.family, got.version) == (co.MACOS, f"10.{v[1]}.{v[2]}")


model_st = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789- ", min_size=2, max_size=16).map(
    str.strip).filter(  # tokens the UA grammar reserves are not model names
    lambda m: len(m) >= 2 and m.lower() not in ("k", "u", "wv", "linux", "harmonyos"))


@settings(max_examples=300)
@given(st.integers(4, 16), st.integers(0, 3), model_st, st.booleans())
def test_generated_android(major, minor, model, mobile):
    version = f"{major}.{minor}" if minor else str(major)
    ua = (f"Mozilla/5.0 (Linux; Android {version}; {model} Build/ABC.123) {BLINK} "
          f"Chrome/120.0.0.0 {'Mobile ' if mobile else ''}Safari/537.36")
    got = co.parse_user_agent(ua)
    assert (got.family, got.version, got.model, got.mobile) == (co.ANDROID, version, model, mobile)


@settings(max_examples=300)
@given(st.sampled_from(["Android", "Windows", "macOS", "Chrome OS", "Linux", "HarmonyOS", "iOS"]),
       ver, st.booleans(), st.text(max_size=60))
def test_generated_hints_always_win(platform, v, mobile, ua):
    version = f"{v[0] + 1}.{v[1]}.{v[2]}"
    hints = {"Sec-CH-UA-Platform": f'"{platform}"', "Sec-CH-UA-Platform-Version": f'"{version}"',
             "Sec-CH-UA-Mobile": "?1" if mobile else "?0"}
    got = co.detect_os(ua, hints)
    assert got.source == "client-hints"
    assert got.family == co._HINT_PLATFORMS[platform.lower()]
    assert got.mobile is mobile
    if platform != "Windows":
        assert version.startswith(got.version)


@settings(max_examples=300)
@given(st.text(max_size=200), st.none() | st.integers(-1, 20))
def test_arbitrary_text_never_raises(ua, touch):
    got = co.detect_os(ua, max_touch_points=touch)
    assert got.family in co.FAMILIES
    assert got.major is None or got.major >= 0
