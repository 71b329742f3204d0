"""AIS decoding: real recordings, multi-part assembly, tag blocks, the registry, and hostile lines."""

from __future__ import annotations

import io
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pyais.encode import encode_dict

from concord.domain.observation import SensorKind, TargetKind
from concord.ingest.ais import KNOT_MPS, AisDecoder, Line, LineSplitter, VesselRegistry, iter_lines
from concord.ingest.base import TimeWindow

DATA = Path(__file__).resolve().parents[2] / "data" / "ais"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _sentence(fields: dict[str, Any]) -> bytes:
    (line,) = encode_dict(fields, radio_channel="A", talker_id="AI")
    return line.encode()


def _decoder(**kwargs: object) -> AisDecoder:
    return AisDecoder("CG", **kwargs)  # type: ignore[arg-type]


def test_aishub_recording_class_a_positions_and_static_data() -> None:
    decoder = _decoder(window=TimeWindow.unbounded())
    result = decoder.decode((DATA / "aishub_dispatcher.nmea").read_bytes(), received_at=NOW)
    assert result.rejections == ()
    assert [o.identity for o in result.observations] == [
        "mmsi:227006760",
        "mmsi:205448890",
        "mmsi:786434",
        "mmsi:249191000",
        "mmsi:316013198",
        "mmsi:366913120",
    ]
    first = result.observations[0]
    assert first.sensor is SensorKind.AIS
    assert first.target is TargetKind.VESSEL
    assert first.source == "ais:CG"
    assert first.observed_at == NOW  # no tag block, no time column: the receive time
    assert first.lat == pytest.approx(49.475577)
    assert first.lon == pytest.approx(0.13138)
    assert first.course_deg == pytest.approx(36.7)
    assert first.speed_mps == 0.0
    assert first.position_sigma_m == 25.0  # accuracy flag 0: worse than 10 m
    assert result.observations[1].position_sigma_m == 5.0  # accuracy flag 1
    assert result.observations[2].speed_mps == pytest.approx(1.6 * KNOT_MPS)
    assert "heading_deg" not in first.attributes  # 511 means not available
    assert result.observations[5].attributes["heading_deg"] == 299
    # The two-part type 5 message (assembled) fills the registry.
    (vessel,) = result.vessels
    assert vessel.mmsi == 351759000
    assert vessel.name == "EVER DIADEM"
    assert vessel.callsign == "3FOF8"
    assert vessel.ship_type == 70 and vessel.ship_type_text == "Cargo"
    assert vessel.imo == 9134270
    assert vessel.destination == "NEW YORK"
    assert decoder.registry.get(351759000) == vessel
    assert decoder.pending_messages == 0


def test_class_b_extended_and_long_range_reports() -> None:
    decoder = _decoder(window=TimeWindow.unbounded())
    result = decoder.decode((DATA / "class_b_and_long_range.nmea").read_bytes(), received_at=NOW)
    assert result.rejections == ()
    class_b, extended, long_range = result.observations
    assert class_b.identity == "mmsi:367430530" and class_b.attributes["ais_type"] == 18
    assert class_b.lat == pytest.approx(37.785035)
    assert extended.identity == "mmsi:367059850"
    assert extended.speed_mps == pytest.approx(8.7 * KNOT_MPS)
    assert extended.course_deg == pytest.approx(335.9)
    assert extended.attributes["vessel_name"] == "CAPT.J.RIMES"  # type 19 carries the name itself
    assert long_range.identity == "mmsi:206914217"
    assert long_range.position_sigma_m == 100.0
    assert long_range.lat == pytest.approx(4.84) and long_range.lon == pytest.approx(137.023333)
    assert long_range.speed_mps == pytest.approx(57 * KNOT_MPS)
    assert long_range.course_deg == 167.0
    # Type 24 part B: pleasure craft, vendor FEC, joined to its MMSI.
    assert decoder.registry.get(338091445) is not None
    assert decoder.registry.get(338091445).ship_type_text == "PleasureCraft"  # type: ignore[union-attr]


def test_spire_tag_blocks_give_the_time_and_bad_checksums_are_caught() -> None:
    decoder = _decoder(window=TimeWindow.unbounded())
    result = decoder.decode((DATA / "spire_tagblock.nmea").read_bytes(), received_at=NOW)
    stamped = datetime.fromtimestamp(1503079517, tz=UTC)
    assert [o.identity for o in result.observations] == ["mmsi:413774599", "mmsi:538002883"]
    assert all(o.observed_at == stamped for o in result.observations)
    # This published sample carries wrong tag block checksums (*55, *52) and one bad sentence checksum.
    assert [(r.code, r.line) for r in result.rejections] == [
        ("bad-checksum", 1),
        ("bad-checksum", 4),
        ("bad-checksum", 7),
        ("bad-checksum", 8),
    ]
    (vessel,) = result.vessels
    assert vessel.name == "BERNTINE" and vessel.callsign == "LIAS" and vessel.destination == "TONSBERG"


def test_recorded_sample_empty_payloads_and_unknown_types_are_counted() -> None:
    decoder = _decoder(window=TimeWindow.unbounded())
    result = decoder.decode((DATA / "nmea_data_sample.nmea").read_bytes(), received_at=NOW)
    assert len(result.observations) == 6
    assert [(r.code, r.line) for r in result.rejections] == [
        ("missing-field", 4),
        ("unsupported-type", 7),  # type 4: base station report
        ("unsupported-type", 8),  # type 15: interrogation
    ]


def test_position_observations_carry_name_and_callsign_once_known() -> None:
    decoder = _decoder()
    static = (
        _sentence({"type": 24, "mmsi": 211234567, "partno": 0, "shipname": "NIGHT HERON"})
        + b"\n"
        + _sentence({"type": 24, "mmsi": 211234567, "partno": 1, "callsign": "DB1234", "ship_type": 37})
    )
    position = _sentence(
        {"type": 18, "mmsi": 211234567, "lat": 54.1, "lon": 10.2, "speed": 12.0, "course": 90.0}
    )
    before = decoder.decode(position, received_at=NOW).observations[0]
    assert before.callsign is None and "vessel_name" not in before.attributes
    decoder.decode(static, received_at=NOW)
    after = decoder.decode(position, received_at=NOW).observations[0]
    assert after.callsign == "DB1234"
    assert after.attributes["vessel_name"] == "NIGHT HERON"
    assert after.attributes["ship_type"] == 37
    assert after.speed_mps == pytest.approx(12.0 * KNOT_MPS)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"type": 1, "mmsi": 211000001, "lat": 91.0, "lon": 10.0}, "bad-coordinate"),
        ({"type": 1, "mmsi": 211000001, "lat": 54.0, "lon": 181.0}, "bad-coordinate"),
        ({"type": 18, "mmsi": 211000001, "lat": 91.0, "lon": 181.0}, "bad-coordinate"),
        ({"type": 27, "mmsi": 211000001, "lat": 91.0, "lon": 181.0}, "bad-coordinate"),
        ({"type": 1, "mmsi": 0, "lat": 54.0, "lon": 10.0}, "bad-value"),
        ({"type": 4, "mmsi": 2190047, "lat": 54.0, "lon": 10.0}, "unsupported-type"),
        ({"type": 21, "mmsi": 992191234, "lat": 54.0, "lon": 10.0}, "unsupported-type"),
    ],
)
def test_unusable_messages_are_rejected(fields: dict[str, Any], code: str) -> None:
    result = _decoder().decode(_sentence(fields), received_at=NOW)
    assert result.observations == ()
    assert [r.code for r in result.rejections] == [code]


def test_sar_aircraft_report_is_an_aircraft_with_altitude() -> None:
    fields = {
        "type": 9,
        "mmsi": 111232511,
        "alt": 303,
        "speed": 120,
        "lat": 36.5,
        "lon": 22.1,
        "course": 45.0,
    }
    (obs,) = _decoder().decode(_sentence(fields), received_at=NOW).observations
    assert obs.target is TargetKind.AIRCRAFT
    assert obs.hae_m == 303.0
    assert obs.speed_mps == pytest.approx(120 * KNOT_MPS)
    assert obs.course_deg == 45.0
    unknown = {**fields, "alt": 4095, "speed": 1023}
    (obs,) = _decoder().decode(_sentence(unknown), received_at=NOW).observations
    assert obs.hae_m is None and obs.speed_mps is None


def test_not_available_speed_and_course_become_none() -> None:
    sentence = _sentence(
        {"type": 1, "mmsi": 211000001, "lat": 54.0, "lon": 10.0, "speed": 102.3, "course": 360}
    )
    (obs,) = _decoder().decode(sentence, received_at=NOW).observations
    assert obs.speed_mps is None and obs.course_deg is None


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"!AIVDM,1,1,,A,13HOI:0P0000VOHLCnHQKwvL05Ip,0*24", "bad-checksum"),
        (b"!AIVDM,1,1,,A,13HOI:0P0000VOHLCnHQKwvL05Ip", "malformed-nmea"),
        (b"!AIVDM,1,1", "malformed-nmea"),
        (b"!AIVDM,1,3,,A,13HOI:0P0000VOHLCnHQKwvL05Ip,0*23", "malformed-nmea"),
        (b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47", "unsupported-type"),
        (b"!GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47", "malformed-nmea"),
        ("!AIVDM,1,1,,A,13HOI:0P0000VOHLCnHQKwvL05Ip,0*23é".encode(), "malformed-nmea"),
        (b"0*45!AIVDM,1,1,,B,13eaJF0P00Qd388Eew6aagvH85Ip,0*45", "malformed-nmea"),
        (b"'; DROP TABLE vessels;--", "malformed-nmea"),
        (b"\\c:1503079517*99\\!AIVDM,1,1,,B,16:Vk1h00g8O=vRBDhNp0nKp0000,0*40", "bad-checksum"),
    ],
)
def test_hostile_or_broken_lines(line: bytes, code: str) -> None:
    result = _decoder().decode(line, received_at=NOW)
    assert result.observations == ()
    assert [r.code for r in result.rejections] == [code]
    assert result.rejections[0].line == 1


def test_blank_lines_and_comments_are_ignored() -> None:
    assert _decoder().decode(b"\n# a comment\n\r\n   \n", received_at=NOW).rejections == ()


def test_leading_time_column_iso_and_unix_seconds() -> None:
    sentence = b"!AIVDM,1,1,,A,13HOI:0P0000VOHLCnHQKwvL05Ip,0*23"
    decoder = _decoder(window=TimeWindow.unbounded())
    body = (
        b"2026-03-01T11:59:00Z " + sentence + b"\n"
        b"1772366340.5," + sentence + b"\n"
        b"1772366340500;" + sentence + b"\n"
        b"2026-03-01 11:59:00\t" + sentence + b"\n"
    )
    times = [o.observed_at for o in decoder.decode(body, received_at=NOW).observations]
    assert times == [
        datetime(2026, 3, 1, 11, 59, tzinfo=UTC),
        datetime(2026, 3, 1, 11, 59, 0, 500000, tzinfo=UTC),
        datetime(2026, 3, 1, 11, 59, 0, 500000, tzinfo=UTC),
        datetime(2026, 3, 1, 11, 59, tzinfo=UTC),
    ]


def test_times_outside_the_window_are_rejected() -> None:
    sentence = b"!AIVDM,1,1,,A,13HOI:0P0000VOHLCnHQKwvL05Ip,0*23"
    decoder = _decoder()
    future = (NOW + timedelta(hours=1)).isoformat().encode()
    past = str(int((NOW - timedelta(days=30)).timestamp())).encode()
    result = decoder.decode(future + b" " + sentence + b"\n" + past + b" " + sentence, received_at=NOW)
    assert [r.code for r in result.rejections] == ["time-out-of-range", "time-out-of-range"]
    # The published tag-block sample is from 2017: far outside the live window.
    old = decoder.decode((DATA / "spire_tagblock.nmea").read_bytes(), received_at=NOW)
    assert old.observations == ()
    assert "time-out-of-range" in {r.code for r in old.rejections}


def test_multi_part_messages_assemble_out_of_order_and_per_channel() -> None:
    part1 = b"!AIVDM,2,1,1,A,55?MbV02;H;s<HtKR20EHE:0@T4@Dn2222222216L961O5Gf0NSQEp6ClRp8,0*1C"
    part2 = b"!AIVDM,2,2,1,A,88888888880,2*25"
    other_channel_part2 = part2.replace(b",A,", b",B,")[:-2] + b"26"
    decoder = _decoder()
    result = decoder.decode(part2 + b"\n" + other_channel_part2 + b"\n" + part1, received_at=NOW)
    assert [v.name for v in result.vessels] == ["EVER DIADEM"]
    assert decoder.pending_messages == 1  # channel B's message is still waiting
    assert [r.code for r in decoder.finish().rejections] == ["incomplete"]
    assert decoder.pending_messages == 0


def test_multi_part_message_times_out() -> None:
    part1 = b"!AIVDM,2,1,1,A,55?MbV02;H;s<HtKR20EHE:0@T4@Dn2222222216L961O5Gf0NSQEp6ClRp8,0*1C"
    part2 = b"!AIVDM,2,2,1,A,88888888880,2*25"
    decoder = _decoder(fragment_timeout_s=10.0)
    assert decoder.decode(part1, received_at=NOW).rejections == ()
    late = decoder.decode(part2, received_at=NOW + timedelta(seconds=30))
    assert [r.code for r in late.rejections] == ["incomplete"]
    assert late.vessels == ()
    assert decoder.pending_messages == 1  # the late part 2 now waits for a part 1 of its own


def test_pending_messages_are_bounded() -> None:
    decoder = _decoder(max_pending=4)
    lines = b"\n".join(
        f"!AIVDM,2,1,{seq},A,55?MbV02;H;s<HtKR20EHE:0@T4@Dn2222222216L961O5Gf0NSQEp6ClRp8,0*".encode()
        + _checksum(f"AIVDM,2,1,{seq},A,55?MbV02;H;s<HtKR20EHE:0@T4@Dn2222222216L961O5Gf0NSQEp6ClRp8,0")
        for seq in range(10)
    )
    result = decoder.decode(lines, received_at=NOW)
    assert decoder.pending_messages == 4
    assert [r.code for r in result.rejections] == ["incomplete"] * 6


def _checksum(body: str) -> bytes:
    value = 0
    for char in body.encode():
        value ^= char
    return f"{value:02X}".encode()


def test_registry_is_bounded_lru() -> None:
    registry = VesselRegistry(max_vessels=2)
    registry.update(1, updated_at=NOW, name="A")
    registry.update(2, updated_at=NOW, name="B")
    registry.update(1, updated_at=NOW, callsign="CALL1")
    registry.update(3, updated_at=NOW, name="C")
    assert len(registry) == 2
    assert registry.get(2) is None
    entry = registry.get(1)
    assert entry is not None and entry.name == "A" and entry.callsign == "CALL1"


class _EndlessLine(io.RawIOBase):
    """A stream of ``size`` bytes without a newline, then a newline and a valid sentence; never in memory."""

    def __init__(self, size: int, tail: bytes) -> None:
        self.remaining = size
        self.tail = tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.remaining > 0:
            count = min(len(buffer), self.remaining)
            buffer[:count] = b"A" * count
            self.remaining -= count
            return count
        count = min(len(buffer), len(self.tail))
        buffer[:count] = self.tail[:count]
        self.tail = self.tail[count:]
        return count


def test_a_100_mb_line_is_skipped_cheaply() -> None:
    sentence = b"!AIVDM,1,1,,A,13HOI:0P0000VOHLCnHQKwvL05Ip,0*23"
    size = 100 * 1024 * 1024
    stream = io.BufferedReader(_EndlessLine(size, b"\n" + sentence + b"\n"), buffer_size=1024 * 1024)
    decoder = _decoder()
    tracemalloc.start()
    try:
        lines = list(iter_lines(stream, max_line_bytes=1024, chunk_bytes=1024 * 1024))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024
    assert [(line.number, line.too_long) for line in lines] == [(1, True), (2, False)]
    assert lines[0].length == size
    assert lines[1].offset == size + 1
    result = decoder.decode_lines(lines, received_at=NOW)
    assert [r.code for r in result.rejections] == ["oversized"]
    assert [o.identity for o in result.observations] == ["mmsi:227006760"]


def test_line_splitter_across_chunks_and_without_final_newline() -> None:
    splitter = LineSplitter(max_line_bytes=8)
    lines = splitter.feed(b"ab") + splitter.feed(b"c\r\n0123456789\nxy") + splitter.finish()
    assert lines == [
        Line(number=1, offset=0, data=b"abc", length=3),
        Line(number=2, offset=5, data=b"", too_long=True, length=10),
        Line(number=3, offset=16, data=b"xy", length=2),
    ]


def test_decode_rejects_an_overlong_line_in_a_body() -> None:
    decoder = _decoder(max_line_bytes=100)
    result = decoder.decode(
        b"!" * 500 + b"\n!AIVDM,1,1,,A,13HOI:0P0000VOHLCnHQKwvL05Ip,0*23", received_at=NOW
    )
    assert [r.code for r in result.rejections] == ["oversized"]
    assert len(result.observations) == 1


def test_decode_stream_keeps_a_line_split_across_reads() -> None:
    decoder = _decoder()
    sentence = b"!AIVDM,1,1,,A,13HOI:0P0000VOHLCnHQKwvL05Ip,0*23\n"
    first = decoder.decode_stream(sentence[:20], received_at=NOW)
    assert first.observations == () and first.rejections == ()
    second = decoder.decode_stream(sentence[20:] + sentence[:5], received_at=NOW)
    assert [o.identity for o in second.observations] == ["mmsi:227006760"]
    assert len(decoder.decode_stream(sentence[5:], received_at=NOW).observations) == 1
