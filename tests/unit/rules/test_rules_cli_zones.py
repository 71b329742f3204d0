"""``concord zones validate``: reports zones, repairs on request, fails with the feature and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from concord.entrypoints.cli_zones import app

SQUARE = [[[20.0, 45.0], [20.1, 45.0], [20.1, 45.1], [20.0, 45.1], [20.0, 45.0]]]
BOWTIE = [[[20.0, 45.0], [20.1, 45.1], [20.1, 45.0], [20.0, 45.1], [20.0, 45.0]]]


def write(tmp_path: Path, features: list[dict[str, Any]]) -> Path:
    path = tmp_path / "zones.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def poly(zone_id: str, kind: str, coords: Any, **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"id": zone_id, "name": zone_id, "kind": kind, **props},
        "geometry": {"type": "Polygon", "coordinates": coords},
    }


def test_validate_reports_counts(tmp_path: Path) -> None:
    path = write(tmp_path, [poly("r1", "restricted", SQUARE), poly("a1", "aor", SQUARE, agency="BP")])
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 zones valid" in result.output
    assert "aor: 1" in result.output


def test_validate_json_and_repair(tmp_path: Path) -> None:
    path = write(tmp_path, [poly("bow", "restricted", BOWTIE)])
    bad = CliRunner().invoke(app, ["validate", str(path), "--json"])
    assert bad.exit_code == 1
    report = json.loads(bad.output)
    assert report["ok"] is False
    assert report["details"]["feature"] == 0
    assert report["details"]["reason"] == "invalid-geometry"
    out = tmp_path / "fixed.geojson"
    good = CliRunner().invoke(app, ["validate", str(path), "--json", "--repair", "--normalised", str(out)])
    assert good.exit_code == 0, good.output
    assert len(json.loads(good.output)["repairs"]) == 1
    assert json.loads(out.read_text())["features"][0]["geometry"]["type"] == "MultiPolygon"


def test_validate_malformed_file(tmp_path: Path) -> None:
    path = tmp_path / "zones.geojson"
    path.write_text("{nope")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert "malformed JSON" in result.output
