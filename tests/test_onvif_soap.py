"""ONVIF SOAP and WS-Discovery codecs: known answers, round trips, hostile input."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.device_drivers import onvif_soap as soap
from classcert.device_drivers import ws_discovery as wsd
from classcert.rigs.simulators.onvif_sim import OnvifSimulator, fault_xml

# XML 1.0 text that survives a round trip: no control characters or surrogates, no
# surrounding whitespace (the parser strips it), no CR (normalised to LF by XML).
xml_text = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Co")),
                   min_size=1, max_size=30).map(str.strip).filter(bool)
token_text = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.",
                     min_size=1, max_size=20)
created_text = st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ"))


# ------------------------------------------------------------------ digest ------------------
def test_digest_matches_onvif_programmers_guide_example() -> None:
    nonce = base64.b64decode("LKqI6G/AikKCQrN0zqZFlg==")
    assert soap.password_digest(nonce, "2010-09-16T07:50:45Z", "userpassword") == \
        "tuOSpGlFlIXsozq4HFNeeGeFLEI="


def test_digest_known_answer_with_binary_nonce_and_utf8_password() -> None:
    # Computed independently with `openssl dgst -sha1 -binary | base64`.
    assert soap.password_digest(bytes(range(16)), "2024-03-01T08:00:00Z", "教室Pass!") == \
        "Rk6V0ftEoCeRQdcpUBb3Sur0KQY="


@given(st.binary(min_size=0, max_size=40), created_text, st.text(max_size=20))
def test_digest_follows_the_spec_definition(nonce: bytes, created: str, password: str) -> None:
    expected = hashlib.sha1(nonce + created.encode() + password.encode()).digest()
    assert base64.b64decode(soap.password_digest(nonce, created, password)) == expected


# ------------------------------------------------------------------ request round trip ------
@settings(max_examples=60)
@given(xml_text, st.text(max_size=20), st.binary(min_size=1, max_size=32), created_text,
       xml_text, st.booleans())
def test_request_round_trip(user: str, password: str, nonce: bytes, created: str,
                            profile_token: str, media2: bool) -> None:
    body = soap.get_stream_uri(profile_token, media2)
    req = soap.parse_request(soap.request(body, user, password, nonce, created))
    assert req.operation == soap.q("tr2" if media2 else "trt", "GetStreamUri")
    assert soap.child_text(req.body, ("tr2" if media2 else "trt") + ":ProfileToken") == \
        profile_token
    assert req.token is not None and req.token.digest
    assert (req.token.username, req.token.nonce, req.token.created) == (user, nonce, created)
    assert req.token.password == soap.password_digest(nonce, created, password)


def test_request_without_user_has_no_security_header() -> None:
    req = soap.parse_request(soap.request(soap.get_device_information()))
    assert req.token is None and req.operation == soap.q("tds", "GetDeviceInformation")
    with pytest.raises(ValueError):
        soap.request(soap.get_device_information(), "admin", "x")


# ------------------------------------------------------------------ response round trip -----
profile_st = st.fixed_dictionaries({
    "token": token_text, "name": xml_text, "encoding": st.sampled_from(["H264", "H265", "JPEG"]),
    "width": st.integers(16, 8192), "height": st.integers(16, 4320), "fps": st.integers(1, 120),
    "bitrate_kbps": st.integers(64, 100_000), "gov_length": st.integers(1, 600),
    "codec_profile": st.sampled_from(["Main", "High", "Baseline"])})
profiles_st = st.lists(profile_st, min_size=1, max_size=4, unique_by=lambda p: p["token"])


def _answer(sim: OnvifSimulator, op: str, media2: bool, body: str = "<x/>") -> bytes:
    request = soap.parse_request(soap.request(body))
    reply = sim._reply(op, request.body, media2)
    assert isinstance(reply, str)
    return soap.envelope(reply)


@settings(max_examples=60)
@given(profiles_st, st.booleans())
def test_profiles_round_trip(profiles: list[dict], media2: bool) -> None:
    sim = OnvifSimulator(profiles=profiles, discovery=False)
    prefix = "tr2" if media2 else "trt"
    body = soap.parse_response(_answer(sim, "GetProfiles", media2),
                               soap.q(prefix, "GetProfilesResponse"))
    parsed = soap.parse_profiles(body)
    assert [p.token for p in parsed] == [p["token"] for p in profiles]
    for got, want in zip(parsed, profiles, strict=True):
        enc = got.encoder
        assert enc is not None and got.name == want["name"]
        assert (enc.width, enc.height, enc.fps_limit, enc.bitrate_kbps) == (
            want["width"], want["height"], float(want["fps"]), want["bitrate_kbps"])
        assert enc.encoding == want["encoding"] and enc.profile == want["token"]
        assert enc.media == ("media2" if media2 else "media1")
        if media2 or want["encoding"] == "H264":  # Media1 carries GovLength inside <tt:H264>
            assert (enc.gov_length, enc.codec_profile) == (want["gov_length"],
                                                           want["codec_profile"])


@settings(max_examples=40)
@given(xml_text, xml_text, xml_text, xml_text)
def test_device_information_round_trip(make: str, model: str, firmware: str,
                                       serial: str) -> None:
    sim = OnvifSimulator(make=make, model=model, firmware=firmware, serial=serial,
                         discovery=False)
    body = soap.parse_response(_answer(sim, "GetDeviceInformation", False))
    info = soap.parse_device_information(body)
    assert (info.make, info.model, info.firmware, info.serial) == (make, model, firmware, serial)


@given(st.sampled_from(["s:Sender", "s:Receiver"]), token_text.map(lambda t: "ter:" + t),
       xml_text)
def test_fault_round_trip(code: str, subcode: str, reason: str) -> None:
    with pytest.raises(soap.SoapFault) as info:
        soap.parse_response(fault_xml(code, subcode, reason))
    assert (info.value.code, info.value.subcodes, info.value.reason) == (code, [subcode], reason)
    assert info.value.not_authorized == (subcode.lower() == "ter:notauthorized")


def test_unexpected_response_element_is_a_decode_error() -> None:
    data = soap.envelope("<tds:GetDeviceInformationResponse/>")
    with pytest.raises(soap.SoapDecodeError, match="expected"):
        soap.parse_response(data, soap.q("trt", "GetProfilesResponse"))


# ------------------------------------------------------------------ hostile input -----------
BOMBS = [
    (b"<!DOCTYPE s:Envelope>" + soap.envelope("<tds:GetDeviceInformationResponse/>")[38:],
     "DOCTYPE"),
    (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
    b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Body>&lol2;</s:Body>"
    b"</s:Envelope>", "DOCTYPE"),
    (b'<!doctype x [<!entity xxe SYSTEM "file:///etc/passwd">]><x>&xxe;</x>', "DOCTYPE"),
    (b"<x><!ENTITY a 'b'></x>", "ENTITY"),
    ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x><x/>'.encode("utf-16"), "UTF-8"),
    (b"<x>" + b"a" * (soap.MAX_DOCUMENT_BYTES + 1) + b"</x>", "too large"),
    (b"<x>" + b"<y/>" * (soap.MAX_ELEMENTS + 1) + b"</x>", "elements"),
]


@pytest.mark.parametrize("data, reason", BOMBS, ids=[
    "doctype-in-valid-reply", "billion-laughs", "xxe", "entity", "utf16", "oversize",
    "many-elements"])
def test_xml_bombs_are_rejected(data: bytes, reason: str) -> None:
    with pytest.raises(soap.SoapDecodeError, match=reason):
        soap.parse_response(data)


def test_the_doctype_probe_reply_is_otherwise_valid() -> None:
    body = soap.parse_response(soap.envelope("<tds:GetDeviceInformationResponse/>"))
    assert body.tag == soap.q("tds", "GetDeviceInformationResponse")


PARSERS = [soap.parse_device_information, soap.parse_capabilities, soap.parse_services,
           soap.parse_system_date_and_time, soap.parse_profiles, soap.parse_stream_uri,
           soap.parse_encoder_configurations]
TAGS = ["tt:Width", "tt:Height", "tt:Resolution", "tt:RateControl", "tt:FrameRateLimit",
        "tt:BitrateLimit", "tt:Encoding", "tt:H264", "tt:GovLength", "trt:Profiles",
        "tr2:Profiles", "tt:VideoEncoderConfiguration", "tr2:Configurations", "tr2:Uri",
        "tds:Capabilities", "tt:XAddr", "tds:Service", "tds:Namespace", "tt:UTCDateTime",
        "tt:Date", "tt:Time", "tt:Year", "tds:SystemDateAndTime", "tr2:VideoEncoder"]
leaf = st.tuples(st.sampled_from(TAGS), st.one_of(
    st.integers(-10**15, 10**15).map(str), st.sampled_from(["nan", "inf", "1e999", "", "x"]),
    st.floats(allow_nan=True).map(str)))
tree = st.recursive(leaf.map(lambda t: f"<{t[0]} GovLength='{t[1]}'>{t[1]}</{t[0]}>"),
                    lambda kids: st.tuples(st.sampled_from(TAGS), st.lists(kids, max_size=4))
                    .map(lambda t: f"<{t[0]}>{''.join(t[1])}</{t[0]}>"), max_leaves=12)


@settings(max_examples=150)
@given(st.sampled_from(["tds:X", "trt:GetProfilesResponse", "tr2:GetProfilesResponse",
                        "trt:GetVideoEncoderConfigurationsResponse"]), st.lists(tree, max_size=3))
def test_parsers_raise_only_decode_errors_on_random_structures(top: str, kids: list[str]) -> None:
    data = soap.envelope(f"<{top}>{''.join(kids)}</{top}>")
    body = soap.parse_response(data)
    for parse in PARSERS:
        try:
            parse(body)
        except soap.SoapDecodeError:
            pass


@settings(max_examples=150)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode),
                 st.lists(tree, max_size=2).map(lambda k: "".join(k).encode())))
def test_garbage_raises_only_decode_errors(data: bytes) -> None:
    for parse in (soap.parse_response, soap.parse_request, wsd.parse_probe,
                  wsd.parse_probe_matches):
        try:
            parse(data)
        except (soap.SoapDecodeError, soap.SoapFault):
            pass


# ------------------------------------------------------------------ WS-Discovery codec ------
uri_st = token_text.map(lambda t: f"onvif://www.onvif.org/{t}")


@settings(max_examples=60)
@given(st.lists(uri_st, max_size=3), st.booleans())
def test_probe_round_trip(scopes: list[str], with_types: bool) -> None:
    types = (wsd.NVT,) if with_types else ()
    mid = wsd.new_message_id()
    got = wsd.parse_probe(wsd.build_probe(mid, types, scopes))
    assert (got.message_id, got.types, got.scopes) == (mid, types, tuple(scopes))


@settings(max_examples=60)
@given(st.lists(st.tuples(token_text, st.lists(uri_st, max_size=3),
                          st.lists(uri_st, min_size=1, max_size=2), st.integers(0, 10**6)),
                max_size=3))
def test_probe_matches_round_trip(items: list) -> None:
    matches = [wsd.ProbeMatch(f"urn:uuid:{a}", (wsd.NVT, wsd.DEVICE), tuple(s), tuple(x), v)
               for a, s, x, v in items]
    relates, got = wsd.parse_probe_matches(wsd.build_probe_matches("urn:uuid:p", matches))
    assert relates == "urn:uuid:p" and got == matches


def test_probe_matching_rules() -> None:
    probe = wsd.Probe("m", (wsd.NVT,), ("onvif://www.onvif.org/location",))
    assert wsd.matches_probe(probe, (wsd.NVT, wsd.DEVICE),
                             ("onvif://www.onvif.org/location/classroom",))
    assert not wsd.matches_probe(probe, (wsd.DEVICE,), ("onvif://www.onvif.org/location",))
    assert not wsd.matches_probe(probe, (wsd.NVT,), ("onvif://www.onvif.org/locationX",))
