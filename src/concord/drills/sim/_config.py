"""Configuration of a simulated border scenario: what moves, which sensors watch, how the feeds look.

Every number carries its unit in its name. Defaults give a lively demo of about 120 movers; the counts
scale to thousands for benchmarks. NaN and infinity are refused everywhere, as are negative counts and
probabilities outside [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from concord.domain.errors import InvalidInput
from concord.domain.marking import Marking, Tlp

__all__ = [
    "AisConfig",
    "CameraConfig",
    "MarkingSpec",
    "RadarConfig",
    "ScenarioConfig",
    "TakConfig",
    "UgsConfig",
    "load_scenario_config",
]

_MAX_COUNT = 100_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class MarkingSpec(_Strict):
    """The marking an agency's simulated sensors put on their observations."""

    classification: str = Field(default="RESTRICTED", min_length=1, max_length=64)
    rel_to: frozenset[str] = frozenset()
    tlp: Tlp = Tlp.AMBER
    categories: frozenset[str] = frozenset()

    def to_marking(self, originator: str) -> Marking:
        return Marking(
            classification=self.classification,
            originator=originator,
            rel_to=self.rel_to,
            tlp=self.tlp,
            categories=self.categories,
        )


class RadarConfig(_Strict):
    """Coastal surface radars: detection probability falls from ``pd_near`` to ``pd_far`` at range."""

    agency: str = Field(default="CG", min_length=1, max_length=16)
    sites: int = Field(default=2, ge=0, le=8)
    range_m: float = Field(default=40_000.0, gt=0, le=200_000)
    pd_near: float = Field(default=0.95, ge=0.0, le=1.0)
    pd_far: float = Field(default=0.5, ge=0.0, le=1.0)
    small_boat_pd_factor: float = Field(default=0.8, ge=0.0, le=1.0)
    sigma_m: float = Field(default=40.0, gt=0, le=10_000)
    false_alarms_per_scan: float = Field(default=2.0, ge=0, le=1000)
    scan_period_s: float = Field(default=3.0, gt=0, le=3600)


class CameraConfig(_Strict):
    """Border Police camera towers: short range, narrow field of view, high pd, small position error."""

    agency: str = Field(default="BP", min_length=1, max_length=16)
    towers: int = Field(default=6, ge=0, le=500)
    range_m: float = Field(default=3000.0, gt=0, le=50_000)
    fov_deg: float = Field(default=60.0, gt=0, le=360)
    pd: float = Field(default=0.95, ge=0.0, le=1.0)
    sigma_m: float = Field(default=10.0, gt=0, le=10_000)
    false_alarms_per_scan: float = Field(default=0.001, ge=0, le=1000)
    scan_period_s: float = Field(default=1.0, gt=0, le=3600)


class UgsConfig(_Strict):
    """Unattended ground sensors: tiny range, report at their own position, frequent false alarms."""

    agency: str = Field(default="BP", min_length=1, max_length=16)
    count: int = Field(default=20, ge=0, le=5000)
    range_m: float = Field(default=50.0, gt=0, le=5000)
    pd: float = Field(default=0.9, ge=0.0, le=1.0)
    false_alarms_per_scan: float = Field(default=0.002, ge=0, le=1000)
    scan_period_s: float = Field(default=1.0, gt=0, le=3600)


class AisConfig(_Strict):
    """Shore AIS receivers: what AIS-on vessels transmit, as heard by the nearest receiver in range."""

    agency: str = Field(default="CG", min_length=1, max_length=16)
    receivers: int = Field(default=1, ge=0, le=8)
    range_m: float = Field(default=74_000.0, gt=0, le=500_000)
    moving_interval_s: float = Field(default=10.0, gt=0, le=3600)
    stationary_interval_s: float = Field(default=180.0, gt=0, le=3600)
    static_interval_s: float = Field(default=360.0, gt=0, le=86_400)
    gps_sigma_m: float = Field(default=10.0, gt=0, le=1000)
    tag_block: bool = Field(default=True, description="prefix NMEA 4.0 tag blocks (s: receiver, c: time)")


class TakConfig(_Strict):
    """Patrols' TAK devices reporting their own position."""

    interval_s: float = Field(default=5.0, gt=0, le=3600)
    gps_sigma_m: float = Field(default=5.0, gt=0, le=1000)
    stale_s: float = Field(default=60.0, gt=0, le=86_400)


class ScenarioConfig(_Strict):
    """Everything a scenario needs; the same config and seed always give the same run."""

    seed: int = Field(default=1, ge=0, le=2**63 - 1)
    start: AwareDatetime = datetime(2026, 3, 14, 19, 0, tzinfo=UTC)
    run_id: str | None = Field(default=None, min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    horizon_s: float = Field(default=7200.0, gt=0, le=30 * 86_400, description="span for scheduling events")

    walkers: int = Field(default=40, ge=0, le=_MAX_COUNT)
    vehicles: int = Field(default=30, ge=0, le=_MAX_COUNT)
    boats: int = Field(default=15, ge=0, le=_MAX_COUNT)
    vessels: int = Field(default=25, ge=0, le=_MAX_COUNT)
    patrols: int = Field(default=10, ge=0, le=_MAX_COUNT)
    respawn: bool = True

    loiter_fraction: float = Field(default=0.3, ge=0.0, le=1.0)
    loiter_min_s: float = Field(default=700.0, ge=0, le=86_400)
    loiter_max_s: float = Field(default=1800.0, ge=0, le=86_400)
    night_landing_fraction: float = Field(default=0.5, ge=0.0, le=1.0)
    dark_probability: float = Field(default=0.15, ge=0.0, le=1.0)
    dark_min_s: float = Field(default=1200.0, gt=0, le=86_400)
    dark_max_s: float = Field(default=3000.0, gt=0, le=86_400)
    rendezvous_count: int = Field(default=2, ge=0, le=_MAX_COUNT)
    rendezvous_distance_m: float = Field(default=100.0, ge=20.0, le=5000)
    rendezvous_min_s: float = Field(default=420.0, gt=0, le=86_400)
    rendezvous_max_s: float = Field(default=1200.0, gt=0, le=86_400)

    radar: RadarConfig = RadarConfig()
    camera: CameraConfig = CameraConfig()
    ugs: UgsConfig = UgsConfig()
    ais: AisConfig = AisConfig()
    tak: TakConfig = TakConfig()

    output: Literal["observations", "raw", "both"] = Field(
        default="observations",
        description="observations: AIS and TAK as Observations; raw: as NMEA/CoT payloads only; both",
    )
    exercise: bool = True
    markings: dict[str, MarkingSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ranges_in_order(self) -> Self:
        if self.dark_min_s > self.dark_max_s:
            raise ValueError("dark_min_s must not exceed dark_max_s")
        if self.loiter_min_s > self.loiter_max_s:
            raise ValueError("loiter_min_s must not exceed loiter_max_s")
        if self.rendezvous_min_s > self.rendezvous_max_s:
            raise ValueError("rendezvous_min_s must not exceed rendezvous_max_s")
        if self.rendezvous_count > self.vessels:
            raise ValueError("rendezvous_count must not exceed the number of vessels")
        return self

    @property
    def movers(self) -> int:
        return self.walkers + self.vehicles + self.boats + self.vessels + self.patrols

    @property
    def effective_run_id(self) -> str:
        return self.run_id if self.run_id is not None else f"sim{self.seed}"

    def marking_for(self, agency: str) -> Marking:
        spec = self.markings.get(agency)
        return spec.to_marking(agency) if spec is not None else Marking.default_for(agency)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> ScenarioConfig:
        """Validate untrusted data; errors become :class:`InvalidInput` naming each bad field."""
        if not isinstance(data, Mapping):
            raise InvalidInput("a scenario config must be a mapping", details={"type": type(data).__name__})
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            errors = [
                {"field": ".".join(str(p) for p in err["loc"]) or "(root)", "message": err["msg"]}
                for err in exc.errors(include_url=False, include_input=False)
            ]
            raise InvalidInput(
                f"invalid scenario config: {errors[0]['field']}: {errors[0]['message']}",
                details={"errors": errors},
            ) from exc


def load_scenario_config(path: Path, *, max_bytes: int = 1_000_000) -> ScenarioConfig:
    """Read a YAML scenario file (e.g. ``examples/scenario-demo.yaml``) into a validated config."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InvalidInput(
                f"scenario file {path} is {size} bytes; the limit is {max_bytes}",
                details={"file": str(path), "bytes": size},
            )
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read scenario file {path}: {exc}", details={"file": str(path)}) from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"scenario file {path} is not UTF-8", details={"file": str(path)}) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InvalidInput(
            f"scenario file {path} is not valid YAML", details={"file": str(path), "line": line}
        ) from exc
    if data is None:
        data = {}
    try:
        return ScenarioConfig.parse(data)
    except InvalidInput as exc:
        exc.details["file"] = str(path)
        raise
