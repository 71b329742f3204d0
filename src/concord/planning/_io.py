"""Reading planning inputs (JSON documents) strictly: every field checked, every error named."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from concord.domain.errors import InvalidInput
from concord.planning._coverage import SectionLine, Sensor
from concord.planning._hotspots import Grid
from concord.planning._patrols import IMPACT_VALUES, BorderSection, PatrolUnits, PayoffModel

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "coverage_inputs_from_dict",
    "hotspot_inputs_from_dict",
    "parse_json_document",
    "patrol_inputs_from_dict",
]

#: Largest planning document accepted.
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
MAX_ITEMS = 20_000
#: Largest border a patrol plan covers in one run, and the longest stretch one unit walks in a shift.
MAX_PLAN_SECTIONS = 1_000
MAX_STRETCH = 50

T = TypeVar("T")


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_json_document(raw: bytes, *, source: str = "input") -> Any:
    """Parse JSON bytes; NaN and Infinity (which Python's json would accept) are refused."""
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise InvalidInput(
            f"{source} is larger than {MAX_DOCUMENT_BYTES} bytes", details={"file": source, "size": len(raw)}
        )
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{source} is not UTF-8", details={"file": source, "offset": exc.start}) from exc
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            details={"file": source, "line": exc.lineno, "column": exc.colno},
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"{source} is not valid JSON: {exc}", details={"file": source}) from exc


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{where} must be an object", details={"field": where})
    return value


def _list(value: Any, where: str, *, min_len: int = 0) -> list[Any]:
    if not isinstance(value, list) or not min_len <= len(value) <= MAX_ITEMS:
        raise InvalidInput(
            f"{where} must be a list of {min_len}..{MAX_ITEMS} items", details={"field": where}
        )
    return value


def _num(value: Any, where: str, *, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        raise InvalidInput(f"{where} must be a finite number", details={"field": where})
    if not low <= float(value) <= high:
        raise InvalidInput(f"{where} must be between {low} and {high}", details={"field": where})
    return float(value)


def _int(value: Any, where: str, *, low: int = 0, high: int = 1_000_000) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{where} must be an integer between {low} and {high}", details={"field": where})
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 200:
        raise InvalidInput(f"{where} must be a string of 1..200 characters", details={"field": where})
    return value


def _items(
    data: dict[str, Any], key: str, build: Callable[[dict[str, Any], str], T], *, min_len: int = 1
) -> list[T]:
    return [
        build(_obj(item, f"{key}[{i}]"), f"{key}[{i}]")
        for i, item in enumerate(_list(data.get(key), key, min_len=min_len))
    ]


def _section(item: dict[str, Any], where: str) -> BorderSection:
    impact = item.get("impact")
    if impact not in IMPACT_VALUES:
        raise InvalidInput(
            f"{where}.impact must be one of {sorted(IMPACT_VALUES)}", details={"field": f"{where}.impact"}
        )
    return BorderSection(
        section_id=_str(item.get("id"), f"{where}.id"),
        impact=str(impact),
        incidents=_int(item.get("incidents", 0), f"{where}.incidents"),
        terrain=_str(item.get("terrain", "land"), f"{where}.terrain"),
    )


def _units(item: dict[str, Any], where: str) -> PatrolUnits:
    terrains = [
        _str(t, f"{where}.terrains")
        for t in _list(item.get("terrains", ["land"]), f"{where}.terrains", min_len=1)
    ]
    return PatrolUnits(
        agency=_str(item.get("agency"), f"{where}.agency"),
        name=_str(item.get("name"), f"{where}.name"),
        count=_int(item.get("count"), f"{where}.count", high=1_000),
        max_sections=_int(item.get("max_sections", 1), f"{where}.max_sections", low=1, high=MAX_STRETCH),
        terrains=frozenset(terrains),
    )


def _payoff_model(raw: Any) -> PayoffModel:
    if raw is None:
        return PayoffModel()
    data = _obj(raw, "payoff_model")
    values = dict(IMPACT_VALUES)
    for level, v in _obj(data.get("impact_values", {}), "payoff_model.impact_values").items():
        if level not in IMPACT_VALUES:
            raise InvalidInput(
                f"unknown impact level {level!r}", details={"field": "payoff_model.impact_values"}
            )
        values[level] = _num(v, f"payoff_model.impact_values.{level}", low=0.0, high=1e6)
    return PayoffModel(
        impact_values=values,
        history_weight=_num(
            data.get("history_weight", 1.0), "payoff_model.history_weight", low=0.0, high=1e6
        ),
        attacker_penalty=_num(
            data.get("attacker_penalty", 0.5), "payoff_model.attacker_penalty", low=0.0, high=1e6
        ),
        interdiction_gain=_num(
            data.get("interdiction_gain", 0.1), "payoff_model.interdiction_gain", low=0.0, high=1e6
        ),
    )


def patrol_inputs_from_dict(
    data: Any,
) -> tuple[list[BorderSection], list[PatrolUnits], PayoffModel, PatrolUnits | None]:
    """``{"sections": [{"id", "impact", "incidents", "terrain"}], "units": [{"agency", "name", "count",
    "max_sections", "terrains"}], "payoff_model": {...}?, "what_if_add_unit": {unit}?}``."""
    doc = _obj(data, "$")
    sections = _items(doc, "sections", _section)
    if len(sections) > MAX_PLAN_SECTIONS:
        raise InvalidInput(
            f"at most {MAX_PLAN_SECTIONS} sections can be planned at once", details={"field": "sections"}
        )
    ids = [s.section_id for s in sections]
    if len(set(ids)) != len(ids):
        raise InvalidInput("section ids must be unique", details={"field": "sections"})
    units = _items(doc, "units", _units)
    extra = doc.get("what_if_add_unit")
    extra_unit = None if extra is None else _units(_obj(extra, "what_if_add_unit"), "what_if_add_unit")
    return sections, units, _payoff_model(doc.get("payoff_model")), extra_unit


def _point(value: Any, where: str) -> tuple[float, float]:
    pair = _list(value, where, min_len=2)
    if len(pair) != 2:
        raise InvalidInput(f"{where} must be [x_m, y_m]", details={"field": where})
    return _num(pair[0], f"{where}[0]"), _num(pair[1], f"{where}[1]")


def _section_line(item: dict[str, Any], where: str) -> SectionLine:
    pts = [
        _point(p, f"{where}.points[{j}]")
        for j, p in enumerate(_list(item.get("points"), f"{where}.points", min_len=2))
    ]
    impact = item.get("impact")
    if impact not in IMPACT_VALUES:
        raise InvalidInput(
            f"{where}.impact must be one of {sorted(IMPACT_VALUES)}", details={"field": f"{where}.impact"}
        )
    return SectionLine(
        section_id=_str(item.get("id"), f"{where}.id"),
        impact=str(impact),
        points_m=tuple(pts),
        terrain=_str(item.get("terrain", "land"), f"{where}.terrain"),
    )


def _sensor(item: dict[str, Any], where: str) -> Sensor:
    return Sensor(
        sensor_id=_str(item.get("id"), f"{where}.id"),
        agency=_str(item.get("agency"), f"{where}.agency"),
        x_m=_num(item.get("x_m"), f"{where}.x_m"),
        y_m=_num(item.get("y_m"), f"{where}.y_m"),
        range_m=_num(item.get("range_m"), f"{where}.range_m", low=0.0),
        pd=_num(item.get("pd"), f"{where}.pd", low=0.0, high=1.0),
    )


def coverage_inputs_from_dict(data: Any) -> dict[str, Any]:
    """``{"sections": [{"id", "impact", "terrain", "points": [[x_m, y_m], ...]}], "sensors": [{"id",
    "agency", "x_m", "y_m", "range_m", "pd"}], "mask": [[[x_m, y_m], ...], ...]?, "spacing_m"?,
    "units": [...]?, "what_if": {"add_sensor": {...}?, "move_sensor": {"id", "x_m", "y_m"}?,
    "remove_sensor": id?}?}``, returned as keyword arguments."""
    doc = _obj(data, "$")
    mask = [
        [_point(p, f"mask[{i}][{j}]") for j, p in enumerate(_list(poly, f"mask[{i}]", min_len=3))]
        for i, poly in enumerate(_list(doc.get("mask", []), "mask"))
    ]
    out: dict[str, Any] = {
        "sections": _items(doc, "sections", _section_line),
        "sensors": _items(doc, "sensors", _sensor, min_len=0),
        "mask": mask or None,
        "spacing_m": _num(doc.get("spacing_m", 100.0), "spacing_m", low=1e-3),
        "units": _items(doc, "units", _units, min_len=0) if "units" in doc else [],
    }
    what_if = doc.get("what_if")
    if what_if is not None:
        w = _obj(what_if, "what_if")
        change: dict[str, Any] = {}
        if "add_sensor" in w:
            change["add"] = _sensor(_obj(w["add_sensor"], "what_if.add_sensor"), "what_if.add_sensor")
        if "move_sensor" in w:
            m = _obj(w["move_sensor"], "what_if.move_sensor")
            change["move"] = (
                _str(m.get("id"), "what_if.move_sensor.id"),
                _num(m.get("x_m"), "what_if.move_sensor.x_m"),
                _num(m.get("y_m"), "what_if.move_sensor.y_m"),
            )
        if "remove_sensor" in w:
            change["remove"] = _str(w["remove_sensor"], "what_if.remove_sensor")
        out["what_if"] = change
    return out


def hotspot_inputs_from_dict(data: Any) -> dict[str, Any]:
    """``{"events": [{"t", "x_m", "y_m"}], "grid": {"x0_m", "y0_m", "cell_m", "nx", "ny"}, "now",
    "horizon", "kde_bandwidth_m", "kde_half_life"?, "evaluate": {"train_end", "period", "n_periods"}?}``."""
    doc = _obj(data, "$")
    events = _list(doc.get("events"), "events", min_len=1)
    arr = np.empty((len(events), 3))
    for i, e in enumerate(events):
        item = _obj(e, f"events[{i}]")
        arr[i] = (
            _num(item.get("t"), f"events[{i}].t"),
            _num(item.get("x_m"), f"events[{i}].x_m"),
            _num(item.get("y_m"), f"events[{i}].y_m"),
        )
    g = _obj(doc.get("grid"), "grid")
    grid = Grid(
        x0_m=_num(g.get("x0_m"), "grid.x0_m"),
        y0_m=_num(g.get("y0_m"), "grid.y0_m"),
        cell_m=_num(g.get("cell_m"), "grid.cell_m", low=1e-6),
        nx=_int(g.get("nx"), "grid.nx", low=1, high=5_000),
        ny=_int(g.get("ny"), "grid.ny", low=1, high=5_000),
    )
    out: dict[str, Any] = {
        "t": arr[:, 0].copy(),
        "x": arr[:, 1].copy(),
        "y": arr[:, 2].copy(),
        "grid": grid,
        "now": _num(doc.get("now"), "now"),
        "horizon": _num(doc.get("horizon"), "horizon", low=1e-9),
        "kde_bandwidth_m": _num(doc.get("kde_bandwidth_m"), "kde_bandwidth_m", low=1e-6),
        "kde_half_life": None
        if doc.get("kde_half_life") is None
        else _num(doc.get("kde_half_life"), "kde_half_life", low=1e-9),
    }
    if doc.get("evaluate") is not None:
        ev = _obj(doc["evaluate"], "evaluate")
        out["evaluate"] = {
            "train_end": _num(ev.get("train_end"), "evaluate.train_end"),
            "period": _num(ev.get("period"), "evaluate.period", low=1e-9),
            "n_periods": _int(ev.get("n_periods"), "evaluate.n_periods", low=1, high=1_000),
        }
    return out
