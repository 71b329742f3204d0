"""JSON batches and GeoJSON FeatureCollections: strict schema, per-item errors, partial acceptance."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from concord.domain.marking import Marking, Tlp
from concord.domain.observation import SensorKind, TargetKind
from concord.ingest.base import DecodeResult, TimeWindow
from concord.ingest.geojson import JsonBatchDecoder, observation_item, parse_json_batch

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _item(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "sensor": "radar",
        "observed_at": "2026-03-01T11:59:30Z",
        "lat": 41.5,
        "lon": 20.25,
    }
    item.update(overrides)
    return {key: value for key, value in item.items() if value is not ...}


def _feature(lon: Any = 20.25, lat: Any = 41.5, **props: Any) -> dict[str, Any]:
    properties: dict[str, Any] = {"sensor": "camera", "observed_at": "2026-03-01T13:59:00+02:00"}
    properties.update(props)
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": properties,
    }


def _parse(body: Any, *, partial: bool = False, **kwargs: Any) -> DecodeResult:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_json_batch(data, agency="BP", received_at=NOW, partial=partial, **kwargs)


def test_a_full_item_becomes_an_observation() -> None:
    marking = Marking(classification="RESTRICTED", originator="BP", tlp=Tlp.GREEN)
    item = _item(
        id="radar-7-0001",
        position_sigma_m=35.0,
        hae_m=2,
        course_deg=359.5,
        speed_mps=4,
        identity="radar:R1:17",
        callsign="CONTACT 17",
        target="boat",
        attributes={"rcs_m2": 3.5, "operator": "watch 2", "confirmed": False, "note": None},
    )
    result = parse_json_batch(
        json.dumps({"observations": [item]}).encode(),
        agency="BP",
        marking=marking,
        received_at=NOW,
        partial=False,
    )
    assert result.rejections == ()
    (obs,) = result.observations
    assert obs.id == "radar-7-0001"
    assert obs.source == "json:BP" and obs.agency == "BP" and obs.marking is marking
    assert obs.sensor is SensorKind.RADAR and obs.target is TargetKind.BOAT
    assert obs.observed_at == datetime(2026, 3, 1, 11, 59, 30, tzinfo=UTC)
    assert (obs.lat, obs.lon, obs.hae_m) == (41.5, 20.25, 2.0)
    assert (obs.position_sigma_m, obs.course_deg, obs.speed_mps) == (35.0, 359.5, 4.0)
    assert obs.identity == "radar:R1:17" and obs.callsign == "CONTACT 17"
    assert obs.attributes == {"rcs_m2": 3.5, "operator": "watch 2", "confirmed": False, "note": None}


def test_geojson_feature_collection() -> None:
    body = {
        "type": "FeatureCollection",
        "bbox": [20, 41, 21, 42],
        "features": [
            _feature(identity="cam:3", target="person", position_sigma_m=12.5),
            {**_feature(), "id": 42, "geometry": {"type": "Point", "coordinates": [20.5, 41.75, 310.0]}},
        ],
    }
    result = _parse(body)
    assert result.rejections == ()
    first, second = result.observations
    assert (first.lat, first.lon) == (41.5, 20.25)
    assert first.observed_at == datetime(2026, 3, 1, 11, 59, tzinfo=UTC)
    assert first.identity == "cam:3" and first.target is TargetKind.PERSON
    assert first.position_sigma_m == 12.5
    assert second.id == "42" and second.hae_m == 310.0 and second.lat == 41.75


@pytest.mark.parametrize(
    ("item", "code", "path"),
    [
        (_item(lat=90.5), "bad-coordinate", "observations[0].lat"),
        (_item(lon=-181), "bad-coordinate", "observations[0].lon"),
        (_item(lat="41.5"), "bad-type", "observations[0].lat"),
        (_item(lat=True), "bad-type", "observations[0].lat"),
        (_item(lat=...), "missing-field", "observations[0].lat"),
        (_item(sensor=...), "missing-field", "observations[0].sensor"),
        (_item(sensor="sonar"), "bad-type", "observations[0].sensor"),
        (_item(observed_at=1772366340), "bad-type", "observations[0].observed_at"),
        (_item(observed_at="2026-03-01T11:59:30"), "bad-value", "observations[0].observed_at"),
        (_item(observed_at="2026-03-01T12:30:00Z"), "time-out-of-range", "observations[0].observed_at"),
        (_item(observed_at="1999-03-01T12:30:00Z"), "time-out-of-range", "observations[0].observed_at"),
        (_item(speed_mps=-1), "bad-value", "observations[0].speed_mps"),
        (_item(course_deg=360), "bad-value", "observations[0].course_deg"),
        (_item(position_sigma_m=0), "bad-value", "observations[0].position_sigma_m"),
        (_item(colour="red"), "unknown-field", "observations[0].colour"),
        (_item(identity=""), "bad-value", "observations[0].identity"),
        (_item(identity="x" * 200), "oversized", "observations[0].identity"),
        (_item(attributes={"nested": {"a": 1}}), "bad-type", "observations[0].attributes.nested"),
        (_item(attributes={str(i): i for i in range(40)}), "oversized", "observations[0].attributes"),
        ("not an object", "bad-type", "observations[0]"),
    ],
)
def test_item_errors_name_the_field(item: Any, code: str, path: str) -> None:
    result = _parse({"observations": [item]})
    assert result.observations == ()
    (rejection,) = result.rejections
    assert (rejection.code, rejection.index, rejection.path) == (code, 0, path)


@pytest.mark.parametrize(
    ("feature", "code"),
    [
        (_feature(lon=200), "bad-coordinate"),
        (_feature(lat=-95), "bad-coordinate"),
        (_feature(lon="20"), "bad-type"),
        ({**_feature(), "geometry": {"type": "LineString", "coordinates": [[1, 2], [3, 4]]}}, "bad-type"),
        ({**_feature(), "geometry": {"type": "Point", "coordinates": [1]}}, "bad-value"),
        ({**_feature(), "style": {}}, "unknown-field"),
        (_feature(lat=...), "bad-value"),
    ],
)
def test_feature_errors(feature: dict[str, Any], code: str) -> None:
    if feature["geometry"].get("coordinates", [None, None])[1:2] == [...]:
        feature["geometry"]["coordinates"] = feature["geometry"]["coordinates"][:1]
    result = _parse({"type": "FeatureCollection", "features": [feature]})
    assert [r.code for r in result.rejections] == [code]
    assert result.rejections[0].path is not None and result.rejections[0].path.startswith("features[0]")


def test_overflowing_numbers_are_not_coordinates() -> None:
    body = (
        b'{"observations": [{"sensor": "ais", "observed_at": "2026-03-01T11:59:30Z", '
        b'"lat": 1e999, "lon": 1}]}'
    )
    (rejection,) = _parse(body).rejections
    assert (rejection.code, rejection.path) == ("bad-coordinate", "observations[0].lat")


def test_partial_acceptance_keeps_valid_items_and_indexes_bad_ones() -> None:
    body = {"observations": [_item(), _item(lat=99), _item(lon=21.0), _item(sensor=5)]}
    partial = _parse(body, partial=True)
    assert [o.lon for o in partial.observations] == [20.25, 21.0]
    assert [(r.index, r.code) for r in partial.rejections] == [(1, "bad-coordinate"), (3, "bad-type")]
    strict = _parse(body, partial=False)
    assert strict.observations == ()
    assert [(r.index, r.code) for r in strict.rejections] == [(1, "bad-coordinate"), (3, "bad-type")]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "malformed-json"),
        (b"{", "malformed-json"),
        (b'{"observations": [{"lat": NaN}]}', "malformed-json"),
        (b'{"observations": [{"lat": Infinity}]}', "malformed-json"),
        (b"[" * 50_000 + b"]" * 50_000, "malformed-json"),
        (b"\xff\xfe garbage", "malformed-json"),
        (b"[]", "malformed-json"),
        (b'{"observations": {}}', "bad-type"),
        (b"{}", "missing-field"),
        (b'{"observations": [], "extra": 1}', "unknown-field"),
        (b'{"type": "Feature", "features": []}', "bad-value"),
        (b'{"type": "FeatureCollection", "features": [], "bbox": ["a"]}', "bad-type"),
    ],
)
def test_envelope_errors_refuse_the_whole_batch(body: bytes, code: str) -> None:
    result = _parse(body, partial=True)
    assert result.observations == ()
    assert [r.code for r in result.rejections] == [code]
    assert result.rejections[0].index is None


def test_batch_size_limits() -> None:
    too_many = _parse({"observations": [_item()] * 11}, max_items=10)
    assert [r.code for r in too_many.rejections] == ["oversized"]
    decoder = JsonBatchDecoder("BP", max_bytes=100)
    assert [r.code for r in decoder.decode(b" " * 101, received_at=NOW).rejections] == ["oversized"]


def test_the_default_limit_is_ten_thousand_items() -> None:
    body = json.dumps({"observations": [_item()] * 10_001}).encode()
    assert [r.code for r in _parse(body).rejections] == ["oversized"]


def test_injection_strings_are_plain_text() -> None:
    nasty = "'; DROP TABLE observations;-- <script>alert(1)</script> ${jndi:ldap://x}"
    result = _parse({"observations": [_item(callsign=nasty[:128], attributes={"note": nasty})]})
    (obs,) = result.observations
    assert obs.callsign == nasty[:128]
    assert obs.attributes["note"] == nasty


def test_replay_window_accepts_old_times() -> None:
    old = {"observations": [_item(observed_at="2001-01-01T00:00:00Z")]}
    assert _parse(old).rejections[0].code == "time-out-of-range"
    assert len(_parse(old, window=TimeWindow.unbounded()).observations) == 1


def test_decoder_carries_feed_and_exercise_flag() -> None:
    decoder = JsonBatchDecoder("CUS", feed="json:CUS-drill", exercise=True)
    assert decoder.feed == "json:CUS-drill"
    (obs,) = decoder.decode(json.dumps({"observations": [_item()]}).encode(), received_at=NOW).observations
    assert obs.exercise and obs.source == "json:CUS-drill" and obs.agency == "CUS"
    assert obs.marking == Marking.default_for("CUS")


def test_observation_item_is_what_the_door_takes_back_in() -> None:
    full = _parse(
        {
            "observations": [
                _item(
                    id="bp-7",
                    identity="plate:AB-12",
                    course_deg=90.5,
                    speed_mps=3.0,
                    callsign="RHIB",
                    target="boat",
                    hae_m=12.0,
                    position_sigma_m=7.5,
                )
            ]
        }
    )
    original = full.observations[0]
    again = _parse({"observations": [observation_item(original)]}).observations[0]
    assert again == original
    sparse = _parse({"observations": [_item()]}).observations[0]
    item = observation_item(sparse)
    assert "identity" not in item and "course_deg" not in item
    assert _parse({"observations": [item]}).observations[0] == sparse
