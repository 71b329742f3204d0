"""Property tests: every parser survives arbitrary input and only ever returns valid observations."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import quoteattr

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyais.encode import encode_dict

from concord.domain.observation import Observation
from concord.ingest.ais import AisDecoder, LineSplitter
from concord.ingest.base import REJECT_CODES, DecodeResult, TimeWindow
from concord.ingest.cot import CotDecoder, CotStreamFramer, FramerError
from concord.ingest.geojson import parse_json_batch

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WINDOW = TimeWindow()
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _assert_valid(result: DecodeResult, window: TimeWindow = WINDOW) -> None:
    for obs in result.observations:
        assert isinstance(obs, Observation)
        assert math.isfinite(obs.lat) and -90 <= obs.lat <= 90
        assert math.isfinite(obs.lon) and -180 <= obs.lon <= 180
        assert math.isfinite(obs.position_sigma_m) and obs.position_sigma_m > 0
        assert obs.speed_mps is None or (math.isfinite(obs.speed_mps) and obs.speed_mps >= 0)
        assert obs.course_deg is None or 0 <= obs.course_deg < 360
        assert obs.hae_m is None or math.isfinite(obs.hae_m)
        assert window.check(obs.observed_at, NOW) is None
        assert obs.agency and obs.marking.originator == obs.agency
    for rejection in result.rejections:
        assert rejection.code in REJECT_CODES
        assert rejection.reason


# -- CoT -----------------------------------------------------------------------------------------

text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
number_text = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-1000, 1000).map(str),
    text,
)


@st.composite
def cot_events(draw: st.DrawFn) -> bytes:
    attrs = {
        "uid": draw(text),
        "type": draw(st.sampled_from(["a-f-G-U-C", "a-h-S", "a-u-A", "b-t-f", "t-x-c-t", "u-d-f", "a"])),
        "time": draw(
            st.one_of(
                st.datetimes(
                    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
                ).map(lambda d: d.isoformat().replace("+00:00", "Z")),
                st.just((NOW - timedelta(seconds=5)).isoformat()),
                text,
            )
        ),
    }
    point = {key: draw(number_text) for key in ("lat", "lon", "hae", "ce")}
    detail = (
        f"<contact callsign={quoteattr(draw(text))}/>"
        f"<track course={quoteattr(draw(number_text))} speed={quoteattr(draw(number_text))}/>"
        f"<__chat chatroom={quoteattr(draw(text))} senderCallsign={quoteattr(draw(text))}/>"
        f"<remarks>{draw(text).replace('&', '&amp;').replace('<', '&lt;')}</remarks>"
    )
    head = " ".join(f"{key}={quoteattr(value)}" for key, value in attrs.items())
    points = " ".join(f"{key}={quoteattr(value)}" for key, value in point.items())
    return f"<event {head}><point {points}/><detail>{detail}</detail></event>".encode()


@FUZZ
@given(st.binary(max_size=2048))
def test_cot_survives_arbitrary_bytes(data: bytes) -> None:
    _assert_valid(CotDecoder("BP").decode(data, received_at=NOW))


@FUZZ
@given(cot_events())
def test_cot_structured_events_never_yield_invalid_observations(event: bytes) -> None:
    decoder = CotDecoder("BP")
    result = decoder.decode(event, received_at=NOW)
    _assert_valid(result)
    produced = len(result.observations) + len(result.chats) + len(result.pings) + len(result.rejections)
    assert produced == 1


@FUZZ
@given(st.lists(cot_events(), min_size=1, max_size=5), st.lists(st.integers(1, 400), min_size=1, max_size=30))
def test_framer_splits_match_the_reference(events: list[bytes], cuts: list[int]) -> None:
    stream = b"\n".join(b'<?xml version="1.0"?>' + event for event in events)
    framer = CotStreamFramer(max_event_bytes=8192)
    out: list[bytes] = []
    pos = 0
    for cut in cuts:
        out.extend(framer.feed(stream[pos : pos + cut]))
        pos += cut
    out.extend(framer.feed(stream[pos:]))
    assert out == events
    assert framer.finish() == []


@FUZZ
@given(st.lists(st.binary(max_size=600), max_size=40))
def test_framer_is_bounded_on_arbitrary_bytes(chunks: list[bytes]) -> None:
    framer = CotStreamFramer(max_event_bytes=1024)
    for chunk in chunks:
        try:
            frames = framer.feed(chunk)
        except FramerError:
            assert framer.must_close
            break
        assert all(frame.startswith(b"<event") for frame in frames)
        assert framer.buffered_bytes <= 2 * 1024
    for rejection in framer.finish():
        assert rejection.code in REJECT_CODES


# -- AIS -----------------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=2048))
def test_ais_survives_arbitrary_bytes(data: bytes) -> None:
    decoder = AisDecoder("CG")
    _assert_valid(decoder.decode(data, received_at=NOW))
    _assert_valid(decoder.finish())


nmea_chars = st.text(
    alphabet="!$\\AIVDMO,0123456789*:;<>=?@ABCDEFGHIJKLMNOPQRSTUVWabcdefghijklmnopqrstuvw`", max_size=90
)


@FUZZ
@given(st.lists(nmea_chars, max_size=20))
def test_ais_survives_nmea_looking_lines(lines: list[str]) -> None:
    decoder = AisDecoder("CG")
    _assert_valid(decoder.decode("\n".join(lines).encode(), received_at=NOW))


@FUZZ
@given(
    msg_type=st.sampled_from([1, 2, 3, 18]),
    mmsi=st.integers(1, 999_999_999),
    lat=st.floats(-90, 90),
    lon=st.floats(-180, 180),
    speed_kn=st.floats(0, 102.2),
    course=st.floats(0, 359.9),
    accuracy=st.booleans(),
)
def test_ais_positions_match_the_encoder(
    msg_type: int, mmsi: int, lat: float, lon: float, speed_kn: float, course: float, accuracy: bool
) -> None:
    fields: dict[str, Any] = {
        "type": msg_type,
        "mmsi": mmsi,
        "lat": lat,
        "lon": lon,
        "speed": speed_kn,
        "course": course,
        "accuracy": accuracy,
    }
    (sentence,) = encode_dict(fields, radio_channel="B", talker_id="AI")
    result = AisDecoder("CG").decode(sentence.encode(), received_at=NOW)
    _assert_valid(result)
    (obs,) = result.observations
    assert obs.identity == f"mmsi:{mmsi}"
    assert abs(obs.lat - lat) < 1e-4 and abs(obs.lon - lon) < 1e-4
    assert obs.speed_mps is not None and abs(obs.speed_mps - speed_kn * 1852 / 3600) < 0.06
    assert obs.course_deg is not None and abs(obs.course_deg - course) < 0.11
    assert obs.position_sigma_m == (5.0 if accuracy else 25.0)


@FUZZ
@given(st.lists(st.binary(max_size=50), max_size=20), st.integers(1, 30))
def test_line_splitter_matches_the_reference(chunks: list[bytes], limit: int) -> None:
    splitter = LineSplitter(max_line_bytes=limit)
    lines = [line for chunk in chunks for line in splitter.feed(chunk)] + splitter.finish()
    joined = b"".join(chunks)
    expected = joined.split(b"\n")
    if expected and expected[-1] == b"":
        expected.pop()
    assert len(lines) == len(expected)
    for line, raw in zip(lines, expected, strict=True):
        assert line.too_long == (len(raw) > limit)
        assert line.data == (b"" if line.too_long else raw.rstrip(b"\r"))
        assert joined[line.offset :].startswith(raw)


# -- JSON ----------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=20,
)
field_names = st.sampled_from(
    [
        "sensor",
        "observed_at",
        "lat",
        "lon",
        "position_sigma_m",
        "course_deg",
        "speed_mps",
        "identity",
        "target",
        "x",
    ]
)


@st.composite
def loose_items(draw: st.DrawFn) -> dict[str, Any]:
    item: dict[str, Any] = {
        "sensor": draw(st.sampled_from(["radar", "ais", "nope", 3])),
        "observed_at": draw(
            st.sampled_from(["2026-03-01T11:59:00Z", "2026-03-01T11:59:00", "tomorrow", 1772366340])
        ),
        "lat": draw(st.floats(-100, 100) | st.integers(-100, 100) | text),
        "lon": draw(st.floats(-200, 200) | st.integers(-200, 200)),
    }
    item.update(draw(st.dictionaries(field_names, json_values, max_size=3)))
    return item


@FUZZ
@given(st.binary(max_size=1024))
def test_json_survives_arbitrary_bytes(data: bytes) -> None:
    _assert_valid(parse_json_batch(data, agency="BP", received_at=NOW, partial=True))


@FUZZ
@given(json_values)
def test_json_survives_arbitrary_documents(document: Any) -> None:
    data = json.dumps({"observations": document if isinstance(document, list) else [document]}).encode()
    _assert_valid(parse_json_batch(data, agency="BP", received_at=NOW, partial=True))


@FUZZ
@given(st.lists(loose_items(), max_size=8), st.booleans())
def test_json_items_are_accepted_exactly_when_valid(items: list[dict[str, Any]], partial: bool) -> None:
    data = json.dumps({"observations": items}).encode()
    result = parse_json_batch(data, agency="BP", received_at=NOW, partial=partial)
    _assert_valid(result)
    reference_ok = [_reference_valid(item) for item in items]
    bad_indexes = [r.index for r in result.rejections]
    assert bad_indexes == [i for i, ok in enumerate(reference_ok) if not ok]
    if partial or all(reference_ok):
        assert len(result.observations) == sum(reference_ok)
    else:
        assert result.observations == ()


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _reference_valid(item: dict[str, Any]) -> bool:
    """What the schema promises, written independently of the implementation."""
    allowed = {
        "sensor",
        "observed_at",
        "lat",
        "lon",
        "position_sigma_m",
        "course_deg",
        "speed_mps",
        "identity",
        "target",
    }
    if set(item) - allowed:
        return False
    if item["sensor"] not in ("radar", "ais") or item["observed_at"] != "2026-03-01T11:59:00Z":
        return False
    if not (
        _number(item["lat"])
        and -90 <= item["lat"] <= 90
        and _number(item["lon"])
        and -180 <= item["lon"] <= 180
    ):
        return False
    checks: dict[str, Callable[[Any], bool]] = {
        "position_sigma_m": lambda v: v is None or (_number(v) and 0 < v <= 1_000_000),
        "course_deg": lambda v: v is None or (_number(v) and 0 <= v < 360),
        "speed_mps": lambda v: v is None or (_number(v) and 0 <= v <= 2000),
        "identity": lambda v: v is None or (isinstance(v, str) and 1 <= len(v) <= 128),
        "target": lambda v: v in ("person", "vehicle", "vessel", "boat", "aircraft", "unit", "unknown"),
    }
    for key, check in checks.items():
        if key in item and not check(item[key]):
            return False
    # position_sigma_m has a non-null default; an explicit null is a wrong type.
    return item.get("position_sigma_m", 50.0) is not None
