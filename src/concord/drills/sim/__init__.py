"""A seeded border scenario: ground-truth movers, per-agency sensors, feeds, and scripted events.

Build one with ``Scenario.from_config(ScenarioConfig(...))`` and advance it with ``step``/``run``; each
:class:`SimStep` carries the sensors' Observations (or raw NMEA/CoT payloads) and, kept apart, the ground
truth drills score against.
"""

from concord.drills.sim._config import (
    AisConfig,
    CameraConfig,
    MarkingSpec,
    RadarConfig,
    ScenarioConfig,
    TakConfig,
    UgsConfig,
    load_scenario_config,
)
from concord.drills.sim._geo import CrossingPoint, Region, default_region
from concord.drills.sim._scenario import Scenario
from concord.drills.sim._sensors import SensorSite
from concord.drills.sim._truth import SimStep, TruthEvent, TruthEventKind, TruthKind, TruthState

__all__ = [
    "AisConfig",
    "CameraConfig",
    "CrossingPoint",
    "MarkingSpec",
    "RadarConfig",
    "Region",
    "Scenario",
    "ScenarioConfig",
    "SensorSite",
    "SimStep",
    "TakConfig",
    "TruthEvent",
    "TruthEventKind",
    "TruthKind",
    "TruthState",
    "UgsConfig",
    "default_region",
    "load_scenario_config",
]
