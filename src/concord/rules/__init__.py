"""Zone and behaviour rules that turn track updates into alert events.

Build a :class:`RulesEngine` from zones (:func:`parse_zones` reads GeoJSON) and a :class:`RulesConfig`,
feed it track snapshots with :meth:`RulesEngine.evaluate_many`, call :meth:`RulesEngine.tick` with the
clock time every few seconds, and journal the ``AlertRaised`` / ``AlertUpdated`` events it returns.
"""

from concord.rules._index import Crossing, ZoneIndex
from concord.rules._projection import LocalProjection
from concord.rules.anomaly import CourseAnomalyRule, SpeedAnomalyRule
from concord.rules.base import Detection, Rule, RuleContext, TickingRule, TrackState, TrackUpdate
from concord.rules.config import (
    AisDarkConfig,
    BorderCrossingConfig,
    CourseAnomalyConfig,
    LoiteringConfig,
    RendezvousConfig,
    RulesConfig,
    SpeedAnomalyConfig,
    UnidentifiedNearBorderConfig,
    ZoneTransitConfig,
)
from concord.rules.crossing import BorderCrossingRule
from concord.rules.dark import AisDarkRule
from concord.rules.engine import EngineEvent, RulesEngine, default_rules
from concord.rules.loitering import LoiteringRule
from concord.rules.rendezvous import RendezvousRule
from concord.rules.transit import ZoneTransitRule
from concord.rules.unidentified import UnidentifiedNearBorderRule
from concord.rules.zones_geojson import ZoneImport, ZoneLimits, load_zones, parse_zones, to_geojson

__all__ = [
    "AisDarkConfig",
    "AisDarkRule",
    "BorderCrossingConfig",
    "BorderCrossingRule",
    "CourseAnomalyConfig",
    "CourseAnomalyRule",
    "Crossing",
    "Detection",
    "EngineEvent",
    "LocalProjection",
    "LoiteringConfig",
    "LoiteringRule",
    "RendezvousConfig",
    "RendezvousRule",
    "Rule",
    "RuleContext",
    "RulesConfig",
    "RulesEngine",
    "SpeedAnomalyConfig",
    "SpeedAnomalyRule",
    "TickingRule",
    "TrackState",
    "TrackUpdate",
    "UnidentifiedNearBorderConfig",
    "UnidentifiedNearBorderRule",
    "ZoneImport",
    "ZoneIndex",
    "ZoneLimits",
    "ZoneTransitConfig",
    "ZoneTransitRule",
    "default_rules",
    "load_zones",
    "parse_zones",
    "to_geojson",
]
