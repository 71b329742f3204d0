"""Scenario configs refuse nonsense; scripted events refuse hostile arguments; example files load."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from concord.domain.errors import InvalidInput, NotFound
from concord.drills.sim import Scenario, ScenarioConfig, TruthKind, load_scenario_config

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"walkers": -1}, "walkers"),
        ({"vessels": -5}, "vessels"),
        ({"patrols": 10**9}, "patrols"),
        ({"dark_probability": 1.5}, "dark_probability"),
        ({"dark_probability": -0.1}, "dark_probability"),
        ({"radar": {"pd_near": 1.01}}, "radar.pd_near"),
        ({"camera": {"pd": -0.5}}, "camera.pd"),
        ({"ugs": {"pd": float("nan")}}, "ugs.pd"),
        ({"radar": {"sigma_m": float("nan")}}, "radar.sigma_m"),
        ({"radar": {"range_m": float("inf")}}, "radar.range_m"),
        ({"radar": {"sigma_m": 0}}, "radar.sigma_m"),
        ({"horizon_s": float("-inf")}, "horizon_s"),
        ({"rendezvous_distance_m": float("nan")}, "rendezvous_distance_m"),
        ({"seed": -3}, "seed"),
        ({"walkers": "many"}, "walkers"),
        ({"walkers": 2.5}, "walkers"),
        ({"start": "2026-03-14T19:00:00"}, "start"),
        ({"start": "yesterday"}, "start"),
        ({"output": "everything"}, "output"),
        ({"unknown_knob": 1}, "unknown_knob"),
        ({"radar": {"sites": 1, "colour": "red"}}, "radar.colour"),
        ({"run_id": "x'; DROP TABLE observations;--"}, "run_id"),
        ({"markings": {"CG": {"tlp": "PURPLE"}}}, "markings.CG.tlp"),
        ({"dark_min_s": 900, "dark_max_s": 300}, "(root)"),
        ({"vessels": 1, "rendezvous_count": 2}, "(root)"),
    ],
)
def test_parse_rejects_nonsense(data: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        ScenarioConfig.parse(data)
    fields = [e["field"] for e in err.value.details["errors"]]
    assert any(f == field or f.startswith(field) for f in fields), fields
    with pytest.raises(ValidationError):
        ScenarioConfig.model_validate(data)


@pytest.mark.parametrize("data", [None, [], "walkers: 3", 42])
def test_parse_rejects_non_mappings(data: Any) -> None:
    with pytest.raises(InvalidInput):
        ScenarioConfig.parse(data)


def test_defaults_give_a_lively_demo() -> None:
    config = ScenarioConfig()
    assert 50 <= config.movers <= 150
    assert config.start.tzinfo is not None
    assert config.exercise is True


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["walkers", "boats", "dark_probability", "radar", "start", "seed", "output", "zzz"]),
        st.one_of(
            st.integers(-10, 10),
            st.floats(allow_nan=True, allow_infinity=True),
            st.text(max_size=20),
            st.none(),
            st.dictionaries(st.text(max_size=8), st.integers(), max_size=2),
        ),
        max_size=4,
    )
)
def test_parse_either_accepts_or_says_invalid_input(data: dict[str, Any]) -> None:
    try:
        config = ScenarioConfig.parse(data)
    except InvalidInput:
        return
    assert config.walkers >= 0 and 0.0 <= config.dark_probability <= 1.0
    assert math.isfinite(config.horizon_s)


def test_example_files_load_and_run() -> None:
    files = sorted(EXAMPLES.glob("scenario-*.yaml"))
    assert files, "no examples/scenario-*.yaml"
    for path in files:
        config = load_scenario_config(path)
        Scenario.from_config(config).step(1.0)


def test_bench_example_scales_to_a_thousand_movers() -> None:
    config = load_scenario_config(EXAMPLES / "scenario-bench-1000.yaml")
    assert config.movers >= 1000


def test_load_rejects_bad_files(tmp_path: Path) -> None:
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("walkers: [1, 2\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        load_scenario_config(bad_yaml)
    assert err.value.details["line"] is not None
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("walkers: -4\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        load_scenario_config(wrong)
    assert err.value.details["file"] == str(wrong)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(InvalidInput):
        load_scenario_config(listing)
    big = tmp_path / "big.yaml"
    big.write_text("#" * 2000, encoding="utf-8")
    with pytest.raises(InvalidInput):
        load_scenario_config(big, max_bytes=1000)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00walkers")
    with pytest.raises(InvalidInput):
        load_scenario_config(binary)
    with pytest.raises(InvalidInput):
        load_scenario_config(tmp_path / "missing.yaml")
    tagged = tmp_path / "tagged.yaml"
    tagged.write_text("walkers: !!python/object/apply:os.system ['true']\n", encoding="utf-8")
    with pytest.raises(InvalidInput):
        load_scenario_config(tagged)


@pytest.fixture
def small() -> Scenario:
    return Scenario.from_config(
        ScenarioConfig(seed=1, walkers=2, vehicles=1, boats=1, vessels=3, patrols=3, rendezvous_count=0)
    )


def test_step_rejects_bad_dt(small: Scenario) -> None:
    for dt in (0.0, -1.0, float("nan"), float("inf"), 10_000.0):
        with pytest.raises(InvalidInput):
            small.step(dt)
    with pytest.raises(InvalidInput):
        list(small.run(float("nan"), 1.0))


def test_injections_reject_hostile_arguments(small: Scenario) -> None:
    later = small.now + timedelta(seconds=600)
    vessel = next(t for t in small.truth() if t.kind is TruthKind.VESSEL)
    assert vessel.mmsi is not None
    with pytest.raises(NotFound):
        small.inject_go_dark(123_456_789, later)
    with pytest.raises(InvalidInput):
        small.inject_go_dark(vessel.mmsi, datetime(2026, 3, 14, 19, 30))  # naive
    with pytest.raises(InvalidInput):
        small.inject_go_dark(vessel.mmsi, small.now - timedelta(seconds=1))
    for bad in (float("nan"), -5.0, 0.0, float("inf")):
        with pytest.raises(InvalidInput):
            small.inject_go_dark(vessel.mmsi, later, duration_s=bad)
    with pytest.raises(NotFound):
        small.inject_sensor_outage("radar:<script>alert(1)</script>", small.now, later)
    with pytest.raises(InvalidInput):
        small.inject_sensor_outage("radar:CG-R1", later, small.now)
    for lat in (float("nan"), 40.0, 42.0, float("inf")):
        with pytest.raises(InvalidInput):
            small.inject_crossing(later, lat=lat)
    with pytest.raises(InvalidInput):
        small.inject_crossing(small.now + timedelta(seconds=5))  # no time to walk to the line
    with pytest.raises(InvalidInput):
        small.inject_crossing(later, kind=TruthKind.VESSEL)
    with pytest.raises(InvalidInput):
        small.inject_crossing(later, kind="submarine")  # type: ignore[arg-type]
    assert small.inject_crossing(later, kind="walker").startswith("walker-")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        small.inject_crossing(later, loiter_s=float("nan"))
    with pytest.raises(InvalidInput):
        small.inject_rendezvous(later, distance_m=float("nan"))
    with pytest.raises(InvalidInput):
        small.inject_rendezvous(later, duration_s=-1.0)
    with pytest.raises(NotFound):
        small.inject_rendezvous(later, mmsi=1)
    with pytest.raises(InvalidInput):
        # Far beyond any vessel's route: nobody can be there.
        small.inject_rendezvous(small.now + timedelta(days=5))
    with pytest.raises(NotFound):
        small.coverage("tak:BP")
    # Nothing above changed the run: it still steps.
    assert small.step(1.0).index == 1


def test_start_time_is_normalised_to_utc() -> None:
    from datetime import timezone

    start = datetime(2026, 3, 14, 21, 0, tzinfo=timezone(timedelta(hours=2)))
    scenario = Scenario.from_config(
        ScenarioConfig(start=start, walkers=1, vehicles=0, boats=0, vessels=0, patrols=0, rendezvous_count=0)
    )
    assert scenario.now == datetime(2026, 3, 14, 19, 0, tzinfo=UTC)
    assert scenario.now.tzinfo == UTC
