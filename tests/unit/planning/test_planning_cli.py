"""`concord plan` commands, including hostile game files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from concord.entrypoints.cli_plan import app

runner = CliRunner()

GAME: dict[str, Any] = {
    "targets": 2,
    "resources": 1,
    "payoffs": {"Ud_c": [0, 0], "Ud_u": [-2, -1], "Ua_c": [-1, -1], "Ua_u": [2, 1]},
}


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_solve_game_writes_coverage(tmp_path: Path) -> None:
    game = _write(tmp_path, "game.json", json.dumps(GAME))
    out = tmp_path / "coverage.json"
    result = runner.invoke(app, ["solve-game", str(game), "--output", str(out), "--check-lp"])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["coverage"] == pytest.approx([0.6, 0.4])
    assert doc["attacked"] == 1
    assert doc["defender_utility"] == pytest.approx(-0.6)
    # Uniform (1/2, 1/2): attacker gets 0.5 at t0 vs 0 at t1, defender -2 * 0.5 = -1.
    assert doc["uniform_defender_utility"] == pytest.approx(-1.0)


def test_solve_game_draws_shifts(tmp_path: Path) -> None:
    game = _write(
        tmp_path,
        "game.json",
        json.dumps(
            {
                **GAME,
                "targets": 3,
                "resources": 2,
                "payoffs": {"Ud_c": [0, 0, 0], "Ud_u": [-2, -1, -3], "Ua_c": [-1, -1, -1], "Ua_u": [2, 1, 3]},
            }
        ),
    )
    result = runner.invoke(app, ["solve-game", str(game), "--shifts", "20", "--seed", "4"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert len(doc["shifts"]) == 20
    assert all(len(shift) == 2 and len(set(shift)) == 2 for shift in doc["shifts"])
    sched = _write(tmp_path, "sched.json", json.dumps({**GAME, "schedules": [[0], [1], [0, 1]]}))
    result = runner.invoke(app, ["solve-game", str(sched), "--shifts", "3"])
    assert result.exit_code == 0, result.output
    assert all(set(shift) <= {0, 1} for shift in json.loads(result.stdout)["shifts"])


def test_solve_game_with_schedules(tmp_path: Path) -> None:
    game = _write(tmp_path, "game.json", json.dumps({**GAME, "schedules": [[0], [1], [0, 1]]}))
    result = runner.invoke(app, ["solve-game", str(game)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    # One unit whose schedule {0, 1} covers both: c = (1, 1), attacker gets -1 at either, defender 0.
    assert doc["defender_utility"] == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        ('{"targets": 2, "resources": NaN, "payoffs": {}}', "NaN"),
        ('{"targets": 2, "resources": Infinity, "payoffs": {}}', "Infinity"),
        (json.dumps({**GAME, "resources": -1}), "resources"),
        (json.dumps({**GAME, "targets": 3}), "has 2 entries"),
        (json.dumps({**GAME, "targets": 10**7}), "targets must be between"),
        (
            json.dumps({**GAME, "payoffs": {**GAME["payoffs"], "Ua_u": [2, "1; DROP TABLE"]}}),
            "must be a number",
        ),
        (json.dumps({**GAME, "schedules": [[0, 5]]}), "out of range"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
        (json.dumps({**GAME, "payoffs": {**GAME["payoffs"], "Ua_c": [3, -1]}}), "Ua_c > Ua_u"),
    ],
)
def test_solve_game_rejects_malformed(tmp_path: Path, content: str | bytes, message: str) -> None:
    game = _write(tmp_path, "game.json", content)
    result = runner.invoke(app, ["solve-game", str(game)])
    assert result.exit_code == 2
    assert message in result.stderr


def test_solve_game_general_flag(tmp_path: Path) -> None:
    game = _write(
        tmp_path, "game.json", json.dumps({**GAME, "payoffs": {**GAME["payoffs"], "Ua_c": [3, -1]}})
    )
    result = runner.invoke(app, ["solve-game", str(game), "--general"])
    assert result.exit_code == 0, result.output


def test_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["solve-game", str(tmp_path / "nope.json")])
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


def test_patrols_command(tmp_path: Path) -> None:
    doc: dict[str, Any] = {
        "sections": [
            {"id": "A", "impact": "high", "incidents": 3},
            {"id": "B", "impact": "low"},
            {"id": "C", "impact": "critical", "incidents": 1, "terrain": "river"},
            {"id": "D", "impact": "medium"},
        ],
        "units": [
            {"agency": "BP", "name": "foot", "count": 1, "max_sections": 2},
            {"agency": "CG", "name": "boat", "count": 1, "terrains": ["river"]},
        ],
        "payoff_model": {"history_weight": 0.5},
        "what_if_add_unit": {"agency": "CU", "name": "car", "count": 1, "max_sections": 4},
    }
    path = _write(tmp_path, "plan.json", json.dumps(doc))
    result = runner.invoke(app, ["patrols", str(path), "--shifts", "2", "--validate-seeds", "2"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert len(out["shifts"]) == 2
    assert set(out["validation"]) == {"game", "uniform", "incident_proportional"}
    what_if = out["what_if_add_unit"]
    assert what_if["defender_utility_after"] >= what_if["defender_utility_before"] - 1e-9
    bad = _write(tmp_path, "bad.json", json.dumps({**doc, "sections": [{"id": "A", "impact": "severe"}]}))
    result = runner.invoke(app, ["patrols", str(bad)])
    assert result.exit_code == 2 and "impact" in result.stderr
    dup = _write(tmp_path, "dup.json", json.dumps({**doc, "sections": [doc["sections"][0]] * 2}))
    assert runner.invoke(app, ["patrols", str(dup)]).exit_code == 2


def test_coverage_command(tmp_path: Path) -> None:
    doc: dict[str, Any] = {
        "sections": [{"id": "S1", "impact": "high", "points": [[0, 0], [1000, 0]]}],
        "sensors": [{"id": "r1", "agency": "BP", "x_m": 0, "y_m": 0, "range_m": 450, "pd": 0.8}],
        "units": [{"agency": "BP", "name": "foot", "count": 2}],
        "what_if": {"move_sensor": {"id": "r1", "x_m": 500, "y_m": 0}},
    }
    result = runner.invoke(app, ["coverage", str(_write(tmp_path, "c.json", json.dumps(doc)))])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["ranked_gaps"][0]["mean_pd"] == pytest.approx(0.8 * 5 / 11, abs=1e-6)
    assert out["what_if"]["total_weighted_gap_after"] < out["what_if"]["total_weighted_gap_before"]
    doc["sensors"][0]["pd"] = 2
    result = runner.invoke(app, ["coverage", str(_write(tmp_path, "c2.json", json.dumps(doc)))])
    assert result.exit_code == 2 and "pd" in result.stderr


def test_hotspots_command(tmp_path: Path) -> None:
    events = [{"t": float(i), "x_m": 100.0 * (i % 3), "y_m": 50.0} for i in range(30)]
    doc: dict[str, Any] = {
        "events": events,
        "grid": {"x0_m": 0, "y0_m": 0, "cell_m": 100, "nx": 5, "ny": 5},
        "now": 30,
        "horizon": 7,
        "kde_bandwidth_m": 80,
        "evaluate": {"train_end": 20, "period": 5, "n_periods": 2},
    }
    result = runner.invoke(app, ["hotspots", str(_write(tmp_path, "h.json", json.dumps(doc))), "--top", "3"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert len(out["top_cells"]) == 3
    assert {"hawkes", "kde", "naive"} <= set(out["evaluation"])
    path = _write(tmp_path, "h1.json", json.dumps(doc))
    result = runner.invoke(app, ["hotspots", str(path), "--model", "hawkes", "--top", "2"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["model"] == "hawkes"
    assert runner.invoke(app, ["hotspots", str(path), "--model", "oracle"]).exit_code == 2
    doc["grid"]["nx"] = 0
    result = runner.invoke(app, ["hotspots", str(_write(tmp_path, "h2.json", json.dumps(doc)))])
    assert result.exit_code == 2 and "grid.nx" in result.stderr
