"""Exercise plans: a seeded scenario, the agencies taking part, timed injects and expected responses.

A plan is YAML, validated strictly: unknown keys, NaN, infinity, wrong types and impossible times are
refused, and each error names the file and the line of the offending value. The scenario section takes
the simulator's :class:`~concord.drills.sim.ScenarioConfig` fields; its ``exercise`` flag must stay on
(a drill never writes live data).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from concord.domain.errors import InvalidInput
from concord.domain.identity import AgencyKind
from concord.drills.sim import ScenarioConfig

__all__ = [
    "AgencySpec",
    "CrossingInject",
    "DrillPlan",
    "Expectation",
    "GoDarkInject",
    "Inject",
    "MessageInject",
    "ResponderSpec",
    "RunSpec",
    "SensorOutageInject",
    "load_plan",
    "parse_plan",
]

MAX_PLAN_BYTES = 1_000_000
_CODE = r"^[A-Z][A-Z0-9]{1,15}$"
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
AlertKindName = Literal[
    "border-crossing",
    "zone-entry",
    "zone-exit",
    "loitering",
    "ais-dark",
    "rendezvous",
    "speed-anomaly",
    "course-anomaly",
    "unidentified-near-border",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=False)


class AgencySpec(_Strict):
    """An agency taking part; it is created if it does not exist, with a drill operator user."""

    code: str = Field(pattern=_CODE)
    name: str = Field(min_length=1, max_length=120)
    kind: AgencyKind = AgencyKind.OTHER


class RunSpec(_Strict):
    """How long the drill runs and the length of one simulator step."""

    duration_s: float = Field(gt=0, le=86_400)
    step_s: float = Field(default=10.0, gt=0, le=600)
    picture_every_s: float = Field(
        default=60.0, gt=0, le=3600, description="how often each agency's drill users read the picture"
    )


class ResponderSpec(_Strict):
    """A scripted responder of one agency: acknowledges its alerts, and may open incidents for them."""

    agency: str = Field(pattern=_CODE)
    alert_kinds: tuple[AlertKindName, ...] = Field(default=(), description="empty: every kind")
    acknowledge_after_s: float = Field(ge=0, le=86_400)
    open_incident_after_s: float | None = Field(default=None, ge=0, le=86_400)
    acknowledge_messages_after_s: float | None = Field(default=None, ge=0, le=86_400)


class GoDarkInject(_Strict):
    mmsi: int = Field(ge=100_000_000, le=999_999_999)
    duration_s: float = Field(default=1800.0, gt=0, le=86_400)


class CrossingInject(_Strict):
    lat: float | None = Field(default=None, ge=-90, le=90)
    kind: Literal["walker", "vehicle"] = "walker"
    loiter_s: float = Field(default=0.0, ge=0, le=86_400)
    inbound: bool = True


class SensorOutageInject(_Strict):
    sensor_id: str = Field(min_length=1, max_length=64)
    duration_s: float = Field(gt=0, le=86_400)


class MessageInject(_Strict):
    sender: str = Field(pattern=_CODE)
    to: tuple[str, ...] = Field(min_length=1, max_length=16)
    text: str = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _codes(self) -> Self:
        import re

        for code in self.to:
            if not re.match(_CODE, code):
                raise ValueError(f"recipient {code!r} is not an agency code")
        return self


class Inject(_Strict):
    """One scripted event at ``at_s`` seconds after the start; exactly one of the kinds is given."""

    id: str = Field(pattern=_ID)
    at_s: float = Field(ge=0, le=30 * 86_400)
    go_dark: GoDarkInject | None = None
    crossing: CrossingInject | None = None
    sensor_outage: SensorOutageInject | None = None
    message: MessageInject | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        given = [
            k for k in ("go_dark", "crossing", "sensor_outage", "message") if getattr(self, k) is not None
        ]
        if len(given) != 1:
            raise ValueError("an inject names exactly one of go_dark, crossing, sensor_outage, message")
        return self

    @property
    def kind(self) -> str:
        for name in ("go_dark", "crossing", "sensor_outage", "message"):
            if getattr(self, name) is not None:
                return name.replace("_", "-")
        raise AssertionError("validated: one kind is set")


class Expectation(_Strict):
    """What the participants should do about one inject, with target times counted from the inject.

    ``alert`` and ``detect_within_s``: an alert of that kind reaches the picture within the target after
    the ground-truth event; ``acknowledge_within_s`` and ``incident_within_s`` count from that alert;
    for a message, ``acknowledge_within_s`` counts from sending to a recipient's acknowledgement.
    """

    inject: str = Field(pattern=_ID)
    alert: AlertKindName | None = None
    detect_within_s: float | None = Field(default=None, gt=0, le=86_400)
    acknowledge_within_s: float | None = Field(default=None, gt=0, le=86_400)
    incident_within_s: float | None = Field(default=None, gt=0, le=86_400)

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.detect_within_s is not None and self.alert is None:
            raise ValueError("detect_within_s needs the alert kind expected")
        if all(v is None for v in (self.detect_within_s, self.acknowledge_within_s, self.incident_within_s)):
            raise ValueError("an expectation sets at least one target time")
        return self


class DrillPlan(_Strict):
    """A whole exercise plan. Its ``id`` names the exercise and becomes the scenario's run id."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    scenario: ScenarioConfig
    run: RunSpec
    agencies: tuple[AgencySpec, ...] = Field(min_length=1, max_length=32)
    responders: tuple[ResponderSpec, ...] = Field(default=(), max_length=32)
    injects: tuple[Inject, ...] = Field(default=(), max_length=500)
    expectations: tuple[Expectation, ...] = Field(default=(), max_length=1000)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not self.scenario.exercise:
            raise ValueError("scenario.exercise must stay true: drill data is always exercise data")
        codes = [a.code for a in self.agencies]
        if len(set(codes)) != len(codes):
            raise ValueError("agency codes repeat")
        known = set(codes)
        for responder in self.responders:
            if responder.agency not in known:
                raise ValueError(f"responder agency {responder.agency!r} is not a participating agency")
        ids = [i.id for i in self.injects]
        if len(set(ids)) != len(ids):
            raise ValueError("inject ids repeat")
        for inject in self.injects:
            if inject.at_s >= self.run.duration_s:
                raise ValueError(f"inject {inject.id!r} lies after the end of the run")
            if inject.message is not None:
                unknown = {inject.message.sender, *inject.message.to} - known
                if unknown:
                    raise ValueError(
                        f"inject {inject.id!r} names agencies not taking part: {sorted(unknown)}"
                    )
        by_id = {i.id: i for i in self.injects}
        for exp in self.expectations:
            if exp.inject not in by_id:
                raise ValueError(f"expectation names unknown inject {exp.inject!r}")
        return self

    def inject(self, inject_id: str) -> Inject:
        for item in self.injects:
            if item.id == inject_id:
                return item
        raise KeyError(inject_id)

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-able data (what a DrillStarted event stores)."""
        data: dict[str, Any] = self.model_dump(mode="json")
        return data

    @property
    def digest(self) -> str:
        """SHA-256 of the canonical JSON form: two runs of the same plan carry the same digest."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DrillPlan:
        return cls.model_validate(dict(data))


def _line_of(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (or of its nearest existing parent)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None)
            if nxt is None:
                key = next(
                    (k for k, _ in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None
                )
                return key.start_mark.line + 1 if key is not None else line
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
        else:
            return line
        line = node.start_mark.line + 1
    return line


def parse_plan(text: str, *, source: str = "<plan>") -> DrillPlan:
    """Validate the YAML text of a plan; every error names ``source`` and a line."""
    if len(text.encode("utf-8")) > MAX_PLAN_BYTES:
        raise InvalidInput(
            f"{source}: a plan is at most {MAX_PLAN_BYTES} bytes", details={"file": source, "line": None}
        )
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InvalidInput(
            f"{source}:{line}: not valid YAML", details={"file": source, "line": line}
        ) from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{source}:1: a plan must be a mapping", details={"file": source, "line": 1})
    try:
        return DrillPlan.model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_url=False, include_input=False):
            loc = tuple(p for p in err["loc"] if isinstance(p, int | str))
            # Pydantic adds the name of a failing union or function validator; the YAML has none.
            path = tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-")))
            errors.append(
                {
                    "field": ".".join(str(p) for p in path) or "(root)",
                    "line": _line_of(root, path),
                    "message": err["msg"],
                }
            )
        first = errors[0]
        raise InvalidInput(
            f"{source}:{first['line']}: {first['field']}: {first['message']}",
            details={"file": source, "line": first["line"], "errors": errors},
        ) from exc


def load_plan(path: Path) -> DrillPlan:
    """Read and validate a plan file."""
    try:
        size = path.stat().st_size
        if size > MAX_PLAN_BYTES:
            raise InvalidInput(
                f"{path}: a plan is at most {MAX_PLAN_BYTES} bytes",
                details={"file": str(path), "bytes": size},
            )
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read plan {path}: {exc}", details={"file": str(path)}) from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: a plan must be UTF-8", details={"file": str(path)}) from exc
    return parse_plan(text, source=str(path))
