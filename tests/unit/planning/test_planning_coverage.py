"""Sensor coverage per border section on tiny hand-checked cases."""

from __future__ import annotations

import pytest

from concord.domain.errors import InvalidInput
from concord.planning import (
    PatrolUnits,
    SectionLine,
    Sensor,
    capability_matrix,
    section_detection,
    what_if_sensor,
)


def _line(section_id: str = "S1", impact: str = "high") -> SectionLine:
    # A 1000 m section along the x axis; 100 m spacing samples x = 0, 100, ..., 1000 (11 points).
    return SectionLine(section_id=section_id, impact=impact, points_m=((0.0, 0.0), (1000.0, 0.0)))


def test_single_sensor_by_hand() -> None:
    # Sensor at (0, 0), range 450 m, pd 0.8: sees x = 0..400, 5 of 11 points. Mean pd = 0.8 * 5/11.
    sensors = [Sensor(sensor_id="r1", agency="BP", x_m=0.0, y_m=0.0, range_m=450.0, pd=0.8)]
    report = section_detection([_line()], sensors)
    cov = report.sections[0]
    assert cov.mean_pd == pytest.approx(0.8 * 5 / 11)
    assert cov.min_pd == 0.0
    assert cov.length_m == pytest.approx(1000.0)
    # high impact weighs 4: gap 4 * (1 - 0.8 * 5/11).
    assert cov.weighted_gap == pytest.approx(4 * (1 - 0.8 * 5 / 11))


def test_two_sensors_combine_independently() -> None:
    # Both see every point: 1 - (1 - 0.5)(1 - 0.6) = 0.8 everywhere.
    sensors = [
        Sensor(sensor_id="a", agency="BP", x_m=500.0, y_m=0.0, range_m=600.0, pd=0.5),
        Sensor(sensor_id="b", agency="CU", x_m=500.0, y_m=100.0, range_m=700.0, pd=0.6),
    ]
    cov = section_detection([_line()], sensors).sections[0]
    assert cov.mean_pd == pytest.approx(0.8)
    assert cov.min_pd == pytest.approx(0.8)


def test_mask_hides_points() -> None:
    # The mask covers x in (150, 550): points 200, 300, 400, 500 unseen; 7 of 11 remain at pd 1.
    sensors = [Sensor(sensor_id="a", agency="BP", x_m=500.0, y_m=0.0, range_m=2000.0, pd=1.0)]
    mask = [[(150.0, -10.0), (550.0, -10.0), (550.0, 10.0), (150.0, 10.0)]]
    cov = section_detection([_line()], sensors, mask=mask).sections[0]
    assert cov.mean_pd == pytest.approx(7 / 11)


def test_ranking_and_what_if() -> None:
    lines = [
        _line("quiet", "low"),
        SectionLine(section_id="hot", impact="critical", points_m=((0, 5000), (1000, 5000))),
    ]
    sensors = [Sensor(sensor_id="a", agency="BP", x_m=500.0, y_m=0.0, range_m=2000.0, pd=0.9)]
    report = section_detection(lines, sensors)
    assert [s.section_id for s in report.ranked] == ["hot", "quiet"]
    moved = what_if_sensor(lines, sensors, move=("a", 500.0, 5000.0))
    # Moving the sensor to the critical section: gap 1 (low, unseen) + 8 * 0.1 = 1.8 instead of 8 + 0.1.
    assert moved["total_weighted_gap_before"] == pytest.approx(8.1)
    assert moved["total_weighted_gap_after"] == pytest.approx(1.8)
    added = what_if_sensor(
        lines, sensors, add=Sensor(sensor_id="b", agency="CU", x_m=500.0, y_m=5000.0, range_m=2000.0, pd=0.5)
    )
    assert added["total_weighted_gap_after"] == pytest.approx(0.1 + 8 * 0.5)
    with pytest.raises(InvalidInput):
        what_if_sensor(lines, sensors, move=("missing", 0.0, 0.0))


def test_capability_matrix() -> None:
    sensors = [Sensor(sensor_id="a", agency="BP", x_m=500.0, y_m=0.0, range_m=2000.0, pd=0.9)]
    units = [PatrolUnits(agency="CG", name="boat", count=1, terrains=frozenset({"river"}))]
    river = SectionLine(section_id="r", impact="medium", points_m=((0, 0), (10, 0)), terrain="river")
    matrix = capability_matrix([_line(), river], sensors, units)
    assert matrix["BP"]["S1"]["sensor_pd"] == pytest.approx(0.9)
    assert matrix["CG"]["S1"]["sensor_pd"] == 0.0
    assert matrix["CG"]["r"]["patrol_units"] == ["boat"]
    assert matrix["CG"]["S1"]["patrol_units"] == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"x_m": float("nan"), "y_m": 0.0, "range_m": 1.0, "pd": 0.5},
        {"x_m": 0.0, "y_m": 0.0, "range_m": -1.0, "pd": 0.5},
        {"x_m": 0.0, "y_m": 0.0, "range_m": 1.0, "pd": 1.5},
    ],
)
def test_bad_sensor(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidInput):
        Sensor(sensor_id="s", agency="A", **kwargs)


def test_bad_sections_and_spacing() -> None:
    with pytest.raises(InvalidInput):
        SectionLine(section_id="s", impact="high", points_m=((0.0, 0.0),))
    with pytest.raises(InvalidInput):
        section_detection([_line()], [], spacing_m=0.0)
    with pytest.raises(InvalidInput):
        section_detection([_line()], [], spacing_m=1e-3)  # a million points for one section
    with pytest.raises(InvalidInput):
        section_detection([_line()], [], mask=[[(0, 0), (1, 1), (1, 0), (0, 1)]])  # bow-tie polygon


def test_oversized_coverage_job_is_refused_before_work() -> None:
    lines = [
        SectionLine(section_id=f"s{i}", impact="low", points_m=((0.0, float(i)), (9_000.0, float(i))))
        for i in range(100)
    ]
    sensors = [
        Sensor(sensor_id=f"x{i}", agency="A", x_m=0.0, y_m=0.0, range_m=1.0, pd=0.5) for i in range(300)
    ]
    with pytest.raises(InvalidInput, match="too much work"):
        section_detection(lines, sensors, spacing_m=1.0)
