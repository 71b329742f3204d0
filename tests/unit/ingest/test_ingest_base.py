"""The decoder contract: reject codes in step with the docs, rejections, stats, the time window."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from concord.domain.errors import FeedParseError
from concord.domain.marking import Marking
from concord.domain.observation import Observation, SensorKind
from concord.ingest import REJECT_CODES, AisDecoder, CotDecoder, JsonBatchDecoder
from concord.ingest.base import (
    Decoder,
    DecodeResult,
    IngestStats,
    Rejection,
    TimeWindow,
    check_lat_lon,
    observation_id,
)

DOC = Path(__file__).resolve().parents[3] / "docs" / "integration.md"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_reject_codes_are_documented_exactly() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("### Reject codes", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([a-z-]+)` \|", section, flags=re.MULTILINE)
    assert documented == list(REJECT_CODES)


def test_rejection_round_trips_and_becomes_a_feed_parse_error() -> None:
    rejection = Rejection(feed="ais:CG", code="bad-checksum", reason="checksum", line=4, offset=120)
    assert Rejection.from_dict(rejection.to_dict()) == rejection
    error = rejection.to_error()
    assert isinstance(error, FeedParseError)
    assert error.code == "bad-checksum"
    assert error.details == {
        "feed": "ais:CG",
        "code": "bad-checksum",
        "reason": "checksum",
        "line": 4,
        "offset": 120,
    }
    with pytest.raises(ValueError):
        Rejection.from_dict({**rejection.to_dict(), "code": "made-up"})


def _obs(lat: float = 1.0) -> Observation:
    return Observation(
        id="o",
        source="s",
        agency="BP",
        sensor=SensorKind.OTHER,
        observed_at=NOW,
        lat=lat,
        lon=2.0,
        marking=Marking.default_for("BP"),
    )


def test_stats_count_every_code_even_at_zero() -> None:
    stats = IngestStats(feed="cot:BP")
    stats.record(
        DecodeResult(
            observations=(_obs(), _obs(2.0)),
            rejections=(
                Rejection(feed="cot:BP", code="oversized", reason="x"),
                Rejection(feed="cot:BP", code="oversized", reason="y"),
                Rejection(feed="cot:BP", code="malformed-xml", reason="z"),
            ),
        )
    )
    other = IngestStats(feed="cot:BP", accepted=1)
    other.rejected["incomplete"] = 2
    stats.merge(other)
    data = stats.to_dict()
    assert data["accepted"] == 3
    assert data["rejected_total"] == 5
    assert set(data["rejected"]) == set(REJECT_CODES)
    assert data["rejected"]["oversized"] == 2 and data["rejected"]["incomplete"] == 2


def test_decode_results_combine_in_order() -> None:
    a = DecodeResult(observations=(_obs(1.0),))
    b = DecodeResult(
        observations=(_obs(2.0),), rejections=(Rejection(feed="f", code="bad-value", reason="r"),)
    )
    combined = DecodeResult.combine([a, b])
    assert [o.lat for o in combined.observations] == [1.0, 2.0]
    assert combined == a.merge(b)
    assert combined.accepted == 2


def test_time_window_bounds() -> None:
    window = TimeWindow(max_future_s=60, max_past_s=3600)
    assert window.check(NOW + timedelta(seconds=60), NOW) is None
    assert window.check(NOW + timedelta(seconds=61), NOW) is not None
    assert window.check(NOW - timedelta(seconds=3600), NOW) is None
    assert window.check(NOW - timedelta(seconds=3601), NOW) is not None
    assert TimeWindow.unbounded().check(datetime(1970, 1, 1, tzinfo=UTC), NOW) is None
    assert TimeWindow().check(NOW + timedelta(minutes=6), NOW) is not None
    assert TimeWindow().check(NOW - timedelta(days=8), NOW) is not None


@pytest.mark.parametrize(
    ("lat", "lon", "ok"),
    [
        (0.0, 0.0, True),
        (90.0, -180.0, True),
        (90.01, 0.0, False),
        (0.0, 180.5, False),
        (float("nan"), 0, False),
    ],
)
def test_check_lat_lon(lat: float, lon: float, ok: bool) -> None:
    assert (check_lat_lon(lat, lon) is None) is ok


def test_observation_ids_are_stable_and_distinct() -> None:
    first = observation_id("cot:BP", "tak:A", NOW, 1.0, 2.0)
    assert first == observation_id("cot:BP", "tak:A", NOW, 1.0, 2.0)
    assert first != observation_id("cot:BP", "tak:A", NOW + timedelta(seconds=1), 1.0, 2.0)
    assert first != observation_id("cot:CUS", "tak:A", NOW, 1.0, 2.0)
    assert first.startswith("obs-")


def test_every_decoder_meets_the_protocol() -> None:
    decoders: list[Decoder] = [CotDecoder("BP"), AisDecoder("CG"), JsonBatchDecoder("CUS")]
    assert [d.feed for d in decoders] == ["cot:BP", "ais:CG", "json:CUS"]
    for decoder in decoders:
        result = decoder.decode(b"\x00\x01 not a feed", received_at=NOW)
        assert result.observations == ()
        assert result.rejections


def test_decoders_need_an_agency() -> None:
    for cls in (CotDecoder, AisDecoder, JsonBatchDecoder):
        with pytest.raises(ValueError):
            cls("")
