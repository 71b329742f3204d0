"""Planning input documents: strict parsing of patrol, coverage and hotspot inputs."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from concord.domain.errors import InvalidInput
from concord.planning import (
    MAX_DOCUMENT_BYTES,
    coverage_inputs_from_dict,
    hotspot_inputs_from_dict,
    parse_json_document,
    patrol_inputs_from_dict,
)

PATROL: dict[str, Any] = {
    "sections": [{"id": "A", "impact": "high", "incidents": 2, "terrain": "land"}],
    "units": [{"agency": "BP", "name": "foot", "count": 2, "max_sections": 3, "terrains": ["land"]}],
}
COVERAGE: dict[str, Any] = {
    "sections": [{"id": "S", "impact": "low", "points": [[0, 0], [10, 0]]}],
    "sensors": [{"id": "r", "agency": "BP", "x_m": 0, "y_m": 0, "range_m": 5, "pd": 0.5}],
}
HOTSPOTS: dict[str, Any] = {
    "events": [{"t": 0, "x_m": 1, "y_m": 1}],
    "grid": {"x0_m": 0, "y0_m": 0, "cell_m": 10, "nx": 2, "ny": 2},
    "now": 1,
    "horizon": 1,
    "kde_bandwidth_m": 5,
}


def _with(doc: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


def test_valid_documents_parse() -> None:
    sections, units, model, extra = patrol_inputs_from_dict(PATROL)
    assert sections[0].section_id == "A" and units[0].count == 2 and extra is None
    assert model.history_weight == 1.0
    assert coverage_inputs_from_dict(COVERAGE)["sensors"][0].pd == 0.5
    assert hotspot_inputs_from_dict(HOTSPOTS)["grid"].nx == 2


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["sections"], []),
        (["sections"], "A"),
        (["sections", 0, "impact"], "apocalyptic"),
        (["sections", 0, "incidents"], -1),
        (["sections", 0, "incidents"], 1.5),
        (["sections", 0, "id"], ""),
        (["sections", 0, "id"], "x" * 1000),
        (["units", 0, "count"], True),
        (["units", 0, "count"], 10**9),
        (["units", 0, "max_sections"], 0),
        (["units", 0, "max_sections"], 10_000),
        (["units", 0, "terrains"], []),
        (["payoff_model"], {"history_weight": -1}),
        (["payoff_model"], {"impact_values": {"cosmic": 3}}),
        (["payoff_model"], {"attacker_penalty": float("inf")}),
        (["what_if_add_unit"], {"agency": "X"}),
    ],
)
def test_patrol_document_rejects(path: list[Any], value: Any) -> None:
    with pytest.raises(InvalidInput):
        patrol_inputs_from_dict(_with(PATROL, path, value))


def test_patrol_document_rejects_too_many_sections() -> None:
    doc = _with(PATROL, ["sections"], [{"id": f"s{i}", "impact": "low"} for i in range(1_001)])
    with pytest.raises(InvalidInput, match="at most 1000"):
        patrol_inputs_from_dict(doc)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["sections", 0, "points"], [[0, 0]]),
        (["sections", 0, "points"], [[0, 0], [1, "x"]]),
        (["sections", 0, "points"], [[0, 0], [1, 2, 3]]),
        (["sensors", 0, "pd"], -0.1),
        (["sensors", 0, "range_m"], -5),
        (["sensors", 0, "x_m"], None),
        (["mask"], [[[0, 0], [1, 1]]]),
        (["spacing_m"], 0),
        (["what_if"], {"move_sensor": {"id": "r", "x_m": "far"}}),
        (["what_if"], {"add_sensor": {"id": "n"}}),
    ],
)
def test_coverage_document_rejects(path: list[Any], value: Any) -> None:
    with pytest.raises(InvalidInput):
        coverage_inputs_from_dict(_with(COVERAGE, path, value))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["events"], []),
        (["events", 0, "t"], "yesterday"),
        (["events", 0, "x_m"], float("nan")),
        (["grid", "cell_m"], 0),
        (["grid", "nx"], 100_000),
        (["horizon"], 0),
        (["kde_bandwidth_m"], -1),
        (["evaluate"], {"train_end": 1, "period": 1, "n_periods": 0}),
    ],
)
def test_hotspot_document_rejects(path: list[Any], value: Any) -> None:
    with pytest.raises(InvalidInput):
        hotspot_inputs_from_dict(_with(HOTSPOTS, path, value))


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"[1, 2", b'{"a": NaN}', b'{"a": -Infinity}', b"\xc3\x28", b"[" * 50_000 + b"]" * 50_000],
)
def test_parse_json_document_rejects(raw: bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_json_document(raw)


def test_parse_json_document_size_limit() -> None:
    with pytest.raises(InvalidInput, match="larger than"):
        parse_json_document(b" " * (MAX_DOCUMENT_BYTES + 1))
    assert parse_json_document(json.dumps({"ok": 1}).encode()) == {"ok": 1}


def test_injection_strings_are_just_names() -> None:
    doc = _with(PATROL, ["sections", 0, "id"], "'; DROP TABLE sections; --")
    sections, *_ = patrol_inputs_from_dict(doc)
    assert sections[0].section_id == "'; DROP TABLE sections; --"
