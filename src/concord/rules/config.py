"""Thresholds of every rule, with units in the names; docs/rules.md gives the source of each default."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from concord.domain.observation import TargetKind
from concord.domain.zone import ZoneKind

__all__ = [
    "AisDarkConfig",
    "BorderCrossingConfig",
    "CourseAnomalyConfig",
    "LoiteringConfig",
    "RendezvousConfig",
    "RulesConfig",
    "SpeedAnomalyConfig",
    "UnidentifiedNearBorderConfig",
    "ZoneTransitConfig",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BorderCrossingConfig(_Strict):
    enabled: bool = True
    rearm_s: float = Field(
        default=300.0, ge=0, description="crossings of the same border closer than this fold"
    )
    crossing_point_radius_m: float = Field(default=500.0, ge=0)
    alert_at_crossing_points: bool = False


class ZoneTransitConfig(_Strict):
    enabled: bool = True
    kinds: frozenset[ZoneKind] = frozenset(
        {ZoneKind.RESTRICTED, ZoneKind.TERRITORIAL_SEA, ZoneKind.CONTIGUOUS_ZONE, ZoneKind.PORT}
    )
    rearm_s: float = Field(default=120.0, ge=0, description="re-entries or re-exits closer than this fold")


class LoiteringConfig(_Strict):
    enabled: bool = True
    max_speed_mps: float = Field(default=1.0, gt=0)
    resume_speed_mps: float = Field(default=1.5, gt=0, description="hysteresis: speed that ends the episode")
    min_duration_s: float = Field(default=600.0, gt=0)
    kinds: frozenset[ZoneKind] = frozenset(
        {ZoneKind.RESTRICTED, ZoneKind.BORDER_SECTION, ZoneKind.TERRITORIAL_SEA, ZoneKind.CONTIGUOUS_ZONE}
    )
    rearm_s: float = Field(default=1800.0, ge=0, description="loitering again within this resumes")


class AisDarkConfig(_Strict):
    enabled: bool = True
    identity_prefixes: tuple[str, ...] = ("mmsi:",)
    gap_s: float = Field(default=900.0, gt=0)
    near_m: float = Field(default=10_000.0, ge=0, description="how near a watched zone the last report was")
    kinds: frozenset[ZoneKind] = frozenset(
        {
            ZoneKind.TERRITORIAL_SEA,
            ZoneKind.CONTIGUOUS_ZONE,
            ZoneKind.RESTRICTED,
            ZoneKind.BORDER_LINE,
            ZoneKind.BORDER_SECTION,
        }
    )
    rearm_s: float = Field(default=3600.0, ge=0, description="going dark again within this resumes the alert")


class RendezvousConfig(_Strict):
    enabled: bool = True
    max_distance_m: float = Field(default=200.0, gt=0)
    max_speed_mps: float = Field(default=1.5, gt=0)
    min_duration_s: float = Field(default=300.0, gt=0)
    target_kinds: frozenset[TargetKind] = frozenset({TargetKind.VESSEL, TargetKind.BOAT, TargetKind.UNKNOWN})
    excluded_zone_kinds: frozenset[ZoneKind] = frozenset({ZoneKind.PORT})
    max_report_age_s: float = Field(default=120.0, gt=0, description="a partner older than this is not close")
    rearm_s: float = Field(default=600.0, ge=0)


def _default_max_speeds() -> dict[TargetKind, float]:
    return {
        TargetKind.PERSON: 4.0,
        TargetKind.VEHICLE: 70.0,
        TargetKind.VESSEL: 25.0,
        TargetKind.BOAT: 36.0,
        TargetKind.AIRCRAFT: 350.0,
    }


class SpeedAnomalyConfig(_Strict):
    enabled: bool = True
    max_speed_mps: dict[TargetKind, float] = Field(default_factory=_default_max_speeds)
    tolerance_factor: float = Field(default=1.1, ge=1.0, description="fire above max_speed_mps x this")
    min_consecutive_updates: int = Field(
        default=2, ge=1, description="a single filter overshoot is not enough"
    )
    rearm_s: float = Field(default=300.0, ge=0)


class CourseAnomalyConfig(_Strict):
    enabled: bool = True
    min_turn_deg: float = Field(default=90.0, gt=0, le=180)
    window_s: float = Field(default=60.0, gt=0)
    min_speed_mps: float = Field(default=2.5, ge=0)
    target_kinds: frozenset[TargetKind] = frozenset({TargetKind.VESSEL, TargetKind.BOAT, TargetKind.VEHICLE})
    rearm_s: float = Field(default=300.0, ge=0)


class UnidentifiedNearBorderConfig(_Strict):
    enabled: bool = True
    near_m: float = Field(default=1_000.0, gt=0)
    min_duration_s: float = Field(default=60.0, ge=0)
    excluded_target_kinds: frozenset[TargetKind] = frozenset({TargetKind.UNIT})
    rearm_s: float = Field(default=300.0, ge=0)


class RulesConfig(_Strict):
    """All rule thresholds. ``state_ttl_s``: forget a track not heard of for this long (bounds memory)."""

    border_crossing: BorderCrossingConfig = BorderCrossingConfig()
    zone_transit: ZoneTransitConfig = ZoneTransitConfig()
    loitering: LoiteringConfig = LoiteringConfig()
    ais_dark: AisDarkConfig = AisDarkConfig()
    rendezvous: RendezvousConfig = RendezvousConfig()
    speed_anomaly: SpeedAnomalyConfig = SpeedAnomalyConfig()
    course_anomaly: CourseAnomalyConfig = CourseAnomalyConfig()
    unidentified_near_border: UnidentifiedNearBorderConfig = UnidentifiedNearBorderConfig()
    state_ttl_s: float = Field(default=6 * 3600.0, gt=0)
    episode_stale_s: float = Field(
        default=1800.0,
        gt=0,
        description="end a loitering, rendezvous or near-border episode silent this long",
    )
    update_interval_s: float = Field(default=60.0, ge=0, description="at most one folded update per alert")
