"""Exercise plans: the shipped example parses; hostile plans are refused with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from concord.domain.errors import InvalidInput
from concord.drills import DrillPlan, load_plan, parse_plan

EXAMPLE = Path(__file__).parents[3] / "examples" / "drill-harbour-night.yaml"


def _text() -> str:
    return EXAMPLE.read_text(encoding="utf-8")


def _modified(change: object) -> str:
    data = yaml.safe_load(_text())
    change(data)  # type: ignore[operator]
    return yaml.safe_dump(data, sort_keys=False)


def test_example_plan_parses_and_round_trips() -> None:
    plan = load_plan(EXAMPLE)
    assert plan.id == "harbour-night-1"
    assert [i.kind for i in plan.injects] == ["go-dark", "crossing", "sensor-outage", "message"]
    assert plan.scenario.exercise is True
    again = DrillPlan.from_dict(plan.to_dict())
    assert again == plan and again.digest == plan.digest


def test_unknown_key_names_file_and_line() -> None:
    text = _text().replace("  step_s: 10\n", "  step_s: 10\n  stepz: 3\n")
    with pytest.raises(InvalidInput) as caught:
        parse_plan(text, source="plan.yaml")
    details = caught.value.details
    assert details["file"] == "plan.yaml"
    line = text.splitlines().index("  stepz: 3") + 1
    assert details["line"] == line
    assert str(caught.value).startswith(f"plan.yaml:{line}:")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["run"].update(duration_s=float("nan")), "run.duration_s"),
        (lambda d: d["run"].update(step_s=float("inf")), "run.step_s"),
        (lambda d: d["run"].update(duration_s="long"), "run.duration_s"),
        (lambda d: d["injects"][0].update(at_s=-1), "injects.0.at_s"),
        (lambda d: d["injects"][0]["go_dark"].update(mmsi=12), "injects.0.go_dark.mmsi"),
        (lambda d: d["injects"][1].update(message={"sender": "BP", "to": ["CG"], "text": "x"}), "injects.1"),
        (lambda d: d["injects"][0].update(id="'; DROP TABLE journal;--"), "injects.0.id"),
        (lambda d: d.update(id="<script>alert(1)</script>"), "id"),
        (lambda d: d["agencies"].append({"code": "bp", "name": "x"}), "agencies.3.code"),
        (lambda d: d["scenario"].update(exercise=False), "(root)"),
        (lambda d: d["scenario"].update(walkers=-5), "scenario.walkers"),
        (lambda d: d["expectations"].append({"inject": "nope", "acknowledge_within_s": 5}), "(root)"),
        (lambda d: d["expectations"].append({"inject": "dark-1"}), "expectations.3"),
        (lambda d: d["injects"][0].update(at_s=99_999), "(root)"),
        (lambda d: d["responders"].append({"agency": "XX", "acknowledge_after_s": 1}), "(root)"),
    ],
)
def test_hostile_plans_are_refused(change: object, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_plan(_modified(change), source="p.yaml")
    fields = [e["field"] for e in caught.value.details["errors"]]
    assert field in fields
    assert all(isinstance(e["line"], int) for e in caught.value.details["errors"])


def test_malformed_and_oversized_text() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_plan("id: [unclosed\n", source="bad.yaml")
    assert caught.value.details["line"] is not None
    with pytest.raises(InvalidInput):
        parse_plan("- just\n- a list\n")
    with pytest.raises(InvalidInput):
        parse_plan("x" * 1_000_001)
    with pytest.raises(InvalidInput):
        parse_plan("a: &a [*a]\n")  # recursive alias


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        load_plan(tmp_path / "absent.yaml")
    bad = tmp_path / "bin.yaml"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InvalidInput):
        load_plan(bad)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_a_plan_or_an_invalid_input(text: str) -> None:
    try:
        parse_plan(text)
    except InvalidInput:
        pass
