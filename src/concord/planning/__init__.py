"""Planning: patrol allocation as a Stackelberg security game, sensor coverage gaps, hotspot forecasts.

Public surface:

* games: ``Payoffs``, ``SecurityGame``, ``GameSolution``, ``game_from_dict``, ``best_response``,
  ``evaluate_coverage``; solvers ``solve_game``, ``solve_origami``, ``solve_multiple_lps``, ``solve_milp``;
* schedules: ``ScheduleGame``, ``UnitType``, ``solve_schedule_game``, ``best_stretches``, ``list_columns``;
* joint patrols (several unit types, exact fielding): ``solve_joint_game``, ``best_joint_patrol``,
  ``enumerate_joint_patrols``;
* fielding: ``comb_sample``, ``comb_distribution``, ``decompose_schedule_mix``, ``decompose_by_type``;
* patrol plans: ``BorderSection``, ``PatrolUnits``, ``PayoffModel``, ``plan_patrols``, ``what_if_unit``;
* sensors: ``Sensor``, ``SectionLine``, ``section_detection``, ``what_if_sensor``, ``capability_matrix``;
* input documents: ``parse_json_document``, ``patrol_inputs_from_dict``, ``coverage_inputs_from_dict``,
  ``hotspot_inputs_from_dict``;
* hotspots: ``Grid``, ``HawkesModel``, ``HawkesParams``, ``kde_forecast``, ``naive_forecast``,
  ``hit_rate_and_pai``, ``evaluate_forecasts``, ``simulate_hawkes``;
* ``concord.planning.validation``: the adaptive-adversary simulation.
"""

from concord.planning._coverage import (
    CoverageReport,
    SectionCoverage,
    SectionLine,
    Sensor,
    capability_matrix,
    section_detection,
    what_if_sensor,
)
from concord.planning._game import (
    GameSolution,
    Payoffs,
    SecurityGame,
    best_response,
    evaluate_coverage,
    game_from_dict,
)
from concord.planning._hotspots import (
    Grid,
    HawkesModel,
    HawkesParams,
    evaluate_forecasts,
    hit_rate_and_pai,
    kde_forecast,
    naive_forecast,
    simulate_hawkes,
)
from concord.planning._io import (
    MAX_DOCUMENT_BYTES,
    coverage_inputs_from_dict,
    hotspot_inputs_from_dict,
    parse_json_document,
    patrol_inputs_from_dict,
)
from concord.planning._joint import best_joint_patrol, enumerate_joint_patrols, solve_joint_game
from concord.planning._patrols import (
    IMPACT_VALUES,
    BorderSection,
    PatrolPlan,
    PatrolUnits,
    PayoffModel,
    baseline_samplers,
    plan_patrols,
    what_if_unit,
)
from concord.planning._sampling import (
    JointPatrol,
    PatrolMixture,
    TypedMixture,
    comb_distribution,
    comb_sample,
    decompose_by_type,
    decompose_schedule_mix,
)
from concord.planning._schedules import (
    ScheduleGame,
    UnitType,
    best_stretches,
    list_columns,
    solve_schedule_game,
)
from concord.planning._solvers import MilpResult, solve_game, solve_milp, solve_multiple_lps, solve_origami

__all__ = [
    "IMPACT_VALUES",
    "MAX_DOCUMENT_BYTES",
    "BorderSection",
    "CoverageReport",
    "GameSolution",
    "Grid",
    "HawkesModel",
    "HawkesParams",
    "JointPatrol",
    "MilpResult",
    "PatrolMixture",
    "PatrolPlan",
    "PatrolUnits",
    "PayoffModel",
    "Payoffs",
    "ScheduleGame",
    "SectionCoverage",
    "SectionLine",
    "SecurityGame",
    "Sensor",
    "TypedMixture",
    "UnitType",
    "baseline_samplers",
    "best_response",
    "best_joint_patrol",
    "best_stretches",
    "capability_matrix",
    "comb_distribution",
    "comb_sample",
    "coverage_inputs_from_dict",
    "decompose_by_type",
    "decompose_schedule_mix",
    "enumerate_joint_patrols",
    "evaluate_coverage",
    "evaluate_forecasts",
    "game_from_dict",
    "hit_rate_and_pai",
    "hotspot_inputs_from_dict",
    "kde_forecast",
    "list_columns",
    "naive_forecast",
    "parse_json_document",
    "patrol_inputs_from_dict",
    "plan_patrols",
    "section_detection",
    "simulate_hawkes",
    "solve_game",
    "solve_joint_game",
    "solve_milp",
    "solve_multiple_lps",
    "solve_origami",
    "solve_schedule_game",
    "what_if_sensor",
    "what_if_unit",
]
