"""``concord track`` on small files, malformed lines included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from concord.domain.errors import FeedParseError
from concord.entrypoints.cli_track import app, track_command
from concord.tracking import parse_detection_line, read_detections

runner = CliRunner()


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _two_targets(scans: int = 6) -> list[str]:
    lines = []
    for k in range(scans):
        lines.append(json.dumps({"t": 5.0 * k, "x": 50.0 * k, "y": 0.0}))
        lines.append(json.dumps({"t": 5.0 * k, "x": 1000.0, "y": 40.0 * k, "snr_db": 12}))
    return lines


def test_tracks_a_clean_file(tmp_path: Path) -> None:
    src = _write(tmp_path / "in.jsonl", _two_targets())
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["--input", str(src), "--output", str(out), "--meas-sigma", "5"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["track_id"] for r in records} == {1, 2}
    assert sorted({r["t"] for r in records}) == [10.0, 15.0, 20.0, 25.0]
    assert all(set(r) == {"t", "track_id", "x", "y"} for r in records)
    last = [r for r in records if r["t"] == 25.0]
    assert sorted(round(r["x"] / 10) for r in last) == [25, 100]


BAD_LINES = [
    ('{"t": NaN, "x": 1, "y": 2}', "NaN is not a number"),
    ('{"t": 1, "x": Infinity, "y": 2}', "Infinity is not a number"),
    ('{"t": 1, "x": 1}', "missing key 'y'"),
    ('{"t": "1", "x": 1, "y": 2}', "'t' must be a number, not str"),
    ('{"t": true, "x": 1, "y": 2}', "'t' must be a number, not bool"),
    ('{"t": 1, "x": null, "y": 2}', "'x' must be a number, not NoneType"),
    ('{"t": 1, "x": 1e400, "y": 2}', "'x' must be finite"),
    ('{"t": 1, "x": 1e300, "y": 2}', "'x' is out of range"),
    ('{"t": 1, "x": 99999999999999999999999999999999999, "y": 2}', "'x' is out of range"),
    ("[1, 2, 3]", "expected a JSON object"),
    ("not json at all", "not valid JSON"),
    ('{"t": 1, "x": 1, "y": 2', "not valid JSON"),
    ("[" * 100_000, "longer than"),
    ('{"t": 1, "x": 1, "y": 2}; DROP TABLE tracks', "not valid JSON"),
]


@pytest.mark.parametrize(("line", "reason"), BAD_LINES)
def test_bad_lines_are_reported_with_number_and_reason(tmp_path: Path, line: str, reason: str) -> None:
    good = _two_targets()
    src = _write(tmp_path / "in.jsonl", [*good[:3], line, *good[3:]])
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["--input", str(src), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "line 4: rejected:" in result.output
    assert reason in result.output.replace("\n", "")
    assert out.read_text()  # the good lines were still tracked


def test_strict_stops_on_a_bad_line(tmp_path: Path) -> None:
    src = _write(tmp_path / "in.jsonl", [*_two_targets(), "{}"])
    result = runner.invoke(app, ["--input", str(src), "--output", str(tmp_path / "o.jsonl"), "--strict"])
    assert result.exit_code == 1
    assert "line 13: rejected: missing key 't'" in result.output


def test_sensor_options_shape_track_management(tmp_path: Path) -> None:
    src = _write(tmp_path / "in.jsonl", _two_targets(10))
    out = tmp_path / "out.jsonl"
    result = runner.invoke(
        app,
        [
            "--input", str(src), "--output", str(out), "--pd", "0.5", "--meas-sigma", "5",
            "--clutter-per-scan", "3", "--scan-interval", "5",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    # pd 0.5: a real target misses 10 times in a row with probability ~1e-3; M capped at floor(0.5 * 5).
    assert "delete after 10 misses" in result.output
    assert "M/N 2/5" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--pd", "0"],
        ["--pd", "1.5"],
        ["--meas-sigma", "-1"],
        ["--scan-interval", "0"],
        ["--clutter-per-scan", "-2"],
    ],
)
def test_bad_options_fail_cleanly(tmp_path: Path, args: list[str]) -> None:
    src = _write(tmp_path / "in.jsonl", _two_targets())
    result = runner.invoke(app, ["--input", str(src), "--output", str(tmp_path / "o.jsonl"), *args])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_missing_input_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--input", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "cannot read" in result.output


def test_empty_file_writes_nothing(tmp_path: Path) -> None:
    src = _write(tmp_path / "in.jsonl", [""])
    out = tmp_path / "out.jsonl"
    assert runner.invoke(app, ["--input", str(src), "--output", str(out)]).exit_code == 0
    assert out.read_text() == ""


def test_the_command_function_is_exported() -> None:
    assert callable(track_command)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_is_refused_with_feed_parse_error(text: str) -> None:
    try:
        det = parse_detection_line(text, 7)
    except FeedParseError as exc:
        assert exc.details["line"] == 7
        assert exc.details["reason"]
    else:
        assert all(abs(v) < 1e12 for v in (det.t_s, det.x_m, det.y_m))


def test_read_detections_skips_blank_lines_and_counts_lines() -> None:
    detections, rejected = read_detections(['{"t":0,"x":1,"y":2}', "", "   ", "oops", '{"t":1,"x":1,"y":2}'])
    assert len(detections) == 2
    assert [(r.line, r.reason.split(" (")[0]) for r in rejected] == [(4, "not valid JSON")]
