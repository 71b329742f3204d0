"""File import: chunked decoding with progress, and the ``concord ingest`` command."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from concord.domain.observation import Observation
from concord.entrypoints.cli_ingest import app, import_file, make_ingest_command
from concord.ingest.base import DecodeResult, TimeWindow
from concord.ingest.files import iter_file

DATA = Path(__file__).resolve().parents[2] / "data"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _combined(path: Path, fmt: str, **kwargs: object) -> tuple[DecodeResult, list[int]]:
    chunks = list(iter_file(path, fmt, agency="CG", received_at=NOW, **kwargs))  # type: ignore[arg-type]
    return DecodeResult.combine(c.result for c in chunks), [c.bytes_read for c in chunks]


def test_ais_file_in_small_chunks_matches_the_whole(tmp_path: Path) -> None:
    recording = tmp_path / "mixed.nmea"
    recording.write_bytes(
        (DATA / "ais" / "aishub_dispatcher.nmea").read_bytes()
        + (DATA / "ais" / "class_b_and_long_range.nmea").read_bytes()
    )
    whole, _ = _combined(recording, "ais", window=TimeWindow.unbounded())
    chunked, progress = _combined(recording, "ais", window=TimeWindow.unbounded(), chunk_bytes=17)
    assert [o.identity for o in chunked.observations] == [o.identity for o in whole.observations]
    assert len(chunked.observations) == 9
    assert chunked.observations[0].source == "ais-file:CG"
    assert progress == sorted(progress) and progress[-1] == recording.stat().st_size
    assert [v.name for v in chunked.vessels] == ["EVER DIADEM", "CAPT.J.RIMES", None]


def test_unfinished_multi_part_at_end_of_file_is_incomplete(tmp_path: Path) -> None:
    path = tmp_path / "cut.nmea"
    path.write_bytes(b"!AIVDM,2,1,1,A,55?MbV02;H;s<HtKR20EHE:0@T4@Dn2222222216L961O5Gf0NSQEp6ClRp8,0*1C")
    result, _ = _combined(path, "ais")
    assert [r.code for r in result.rejections] == ["incomplete"]


def test_cot_file_of_concatenated_events(tmp_path: Path) -> None:
    names = [
        "atak_pli.xml",
        "itak_pli_vehicle.xml",
        "atak_geochat.xml",
        "atak_ping.xml",
        "itak_pli_unknown_speed.xml",
    ]
    path = tmp_path / "log.xml"
    path.write_bytes(b"\n".join((DATA / "cot" / name).read_bytes() for name in names))
    result, progress = _combined(path, "cot", window=TimeWindow.unbounded(), chunk_bytes=100)
    assert [o.callsign for o in result.observations] == ["JENNY", "DFPC-iSchmidt", "Papa Uniform"]
    assert [c.text for c in result.chats] == ["test"]
    assert len(result.pings) == 1
    assert result.rejections == ()
    assert progress[-1] == path.stat().st_size


def test_cot_file_with_garbage_stops_early(tmp_path: Path) -> None:
    path = tmp_path / "junk.xml"
    path.write_bytes((DATA / "cot" / "atak_pli.xml").read_bytes() + b"\x00" * 200_000)
    result, progress = _combined(path, "cot", window=TimeWindow.unbounded(), chunk_bytes=4096)
    assert len(result.observations) == 1
    assert result.rejections[-1].code == "oversized"
    assert progress[-1] < path.stat().st_size


def test_geojson_file_and_its_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "batch.json"
    item = {"sensor": "ugs", "observed_at": "2026-03-01T11:59:00Z", "lat": 41.0, "lon": 20.0}
    path.write_text(json.dumps({"observations": [item, {**item, "lat": 95}]}))
    result, _ = _combined(path, "geojson")
    assert len(result.observations) == 1  # files are imported with partial acceptance
    assert [r.code for r in result.rejections] == ["bad-coordinate"]
    too_big, progress = _combined(path, "geojson", max_json_bytes=10)
    assert [r.code for r in too_big.rejections] == ["oversized"] and progress == [0]


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_bytes(b"")
    with pytest.raises(ValueError):
        list(iter_file(path, "kml", agency="CG", received_at=NOW))  # type: ignore[arg-type]


def test_import_file_feeds_the_sink_and_counts(tmp_path: Path) -> None:
    batches: list[list[Observation]] = []
    path = DATA / "ais" / "nmea_data_sample.nmea"
    stats = import_file(path, "ais", "CG", batches.append, progress=False, now=lambda: NOW)
    assert sum(len(b) for b in batches) == stats.accepted == 6
    assert stats.rejected["unsupported-type"] == 2 and stats.rejected["missing-field"] == 1


def test_import_file_window_is_relative_to_now_unless_replaying() -> None:
    path = DATA / "ais" / "spire_tagblock.nmea"
    live = import_file(path, "ais", "CG", lambda batch: None, progress=True, now=lambda: NOW)
    assert live.accepted == 0 and live.rejected["time-out-of-range"] > 0
    replay = import_file(path, "ais", "CG", lambda batch: None, progress=False, replay=True, now=lambda: NOW)
    assert replay.accepted == 2


def test_cli_validates_without_a_sink() -> None:
    runner = CliRunner()
    result = runner.invoke(
        app,
        [str(DATA / "ais" / "aishub_dispatcher.nmea"), "--format", "ais", "--agency", "CG", "--no-progress"],
    )
    assert result.exit_code == 0, result.output
    assert "accepted observations" in result.output and "6" in result.output
    assert "validated only" in result.output


def test_cli_with_a_sink_and_a_failing_file(tmp_path: Path) -> None:
    import typer

    received: list[Observation] = []
    command = make_ingest_command(lambda agency: received.extend)
    cli = typer.Typer()
    cli.command()(command)
    runner = CliRunner()
    ok = runner.invoke(
        cli, [str(DATA / "cot" / "atak_pli.xml"), "-f", "cot", "-a", "BP", "--replay", "--no-progress"]
    )
    assert ok.exit_code == 0, ok.output
    assert [o.callsign for o in received] == ["JENNY"]
    bad = tmp_path / "bad.xml"
    bad.write_bytes(
        b"<event uid='x' type='a-f-G' time='2026-03-01T12:00:00Z'><point lat='95' lon='1'/></event>"
    )
    failed = runner.invoke(cli, [str(bad), "-f", "cot", "-a", "BP", "--no-progress"])
    assert failed.exit_code == 1
    assert "bad-coordinate" in failed.output
