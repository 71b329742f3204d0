"""JSON and GeoJSON observation batches: the format for sensors and systems without a TAK or AIS link.

Two shapes are accepted, told apart by the top-level object:

- ``{"observations": [{...}, ...]}``: each item carries ``sensor``, ``observed_at``, ``lat``, ``lon``
  and optional ``position_sigma_m``, ``hae_m``, ``course_deg``, ``speed_mps``, ``identity``,
  ``callsign``, ``target``, ``id``, ``attributes``;
- a GeoJSON ``FeatureCollection`` of ``Point`` features (``[lon, lat]`` or ``[lon, lat, hae_m]``)
  whose ``properties`` carry the same fields as an item, less the position.

The schema is strict: unknown fields and wrong JSON types are refused with the field path. Every
item is checked; with ``partial=True`` the valid items are accepted and each bad one is reported with
its index, otherwise one bad item refuses the whole batch.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from concord.domain.marking import Marking
from concord.domain.observation import Observation, SensorKind, TargetKind
from concord.domain.types import ensure_utc
from concord.ingest.base import DecodeResult, RejectCode, Rejection, TimeWindow, observation_id

__all__ = [
    "DEFAULT_MAX_BATCH_BYTES",
    "DEFAULT_MAX_ITEMS",
    "FeatureCollectionIn",
    "FeatureIn",
    "FeaturePropertiesIn",
    "JsonBatchDecoder",
    "ObservationBatchIn",
    "ObservationIn",
    "PointIn",
    "observation_item",
    "parse_json_batch",
]

DEFAULT_MAX_ITEMS = 10_000
DEFAULT_MAX_BATCH_BYTES = 16 * 1024 * 1024
_MAX_ATTRIBUTES = 32

Text = Annotated[StrictStr, Field(min_length=1, max_length=128)]
Number = StrictFloat  # JSON integers are accepted as numbers; strings and booleans are not


def _scalar(value: Any) -> Any:
    # One check instead of a union, so an error names the attribute rather than each union member.
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise PydanticCustomError("scalar_type", "Attribute values must be a string, number, boolean or null")


AttributeValue = Annotated[Any, BeforeValidator(_scalar)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, str_max_length=4096)


class _Common(_Strict):
    """The fields an item and a feature's properties share."""

    sensor: SensorKind
    observed_at: AwareDatetime
    position_sigma_m: Annotated[Number, Field(gt=0, le=1_000_000)] = 50.0
    course_deg: Annotated[Number, Field(ge=0, lt=360)] | None = None
    speed_mps: Annotated[Number, Field(ge=0, le=2_000)] | None = None
    identity: Text | None = None
    callsign: Text | None = None
    target: TargetKind = TargetKind.UNKNOWN
    attributes: Annotated[dict[Text, AttributeValue], Field(max_length=_MAX_ATTRIBUTES)] = Field(
        default_factory=dict
    )

    @field_validator("observed_at", mode="before")
    @classmethod
    def _time_is_text(cls, value: Any) -> Any:
        # Lax datetime parsing would take a bare number as Unix time; a batch must say what it means.
        if not isinstance(value, str | datetime):
            raise PydanticCustomError("datetime_type", "Input should be an ISO 8601 time string")
        return value


class ObservationIn(_Common):
    """One item of ``{"observations": [...]}``."""

    id: Text | None = None
    lat: Annotated[Number, Field(ge=-90, le=90)]
    lon: Annotated[Number, Field(ge=-180, le=180)]
    hae_m: Annotated[Number, Field(ge=-12_000, le=1_000_000)] | None = None


class ObservationBatchIn(_Strict):
    """The JSON batch envelope (validated item by item, see :func:`parse_json_batch`)."""

    observations: list[ObservationIn]


class PointIn(_Strict):
    type: Literal["Point"]
    coordinates: Annotated[list[Number], Field(min_length=2, max_length=3)]

    @model_validator(mode="after")
    def _in_range(self) -> PointIn:
        lon, lat = self.coordinates[0], self.coordinates[1]
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            raise PydanticCustomError(
                "bad_coordinate", "Point [{lon}, {lat}] is outside WGS84 range", {"lon": lon, "lat": lat}
            )
        if len(self.coordinates) == 3 and not -12_000.0 <= self.coordinates[2] <= 1_000_000.0:
            raise PydanticCustomError("bad_value", "Point height is out of range")
        return self


class FeaturePropertiesIn(_Common):
    """The ``properties`` of a Point feature."""


class FeatureIn(_Strict):
    type: Literal["Feature"]
    id: Text | StrictInt | None = None
    geometry: PointIn
    properties: FeaturePropertiesIn
    bbox: list[Number] | None = None


class FeatureCollectionIn(_Strict):
    """The GeoJSON envelope (validated feature by feature, see :func:`parse_json_batch`)."""

    type: Literal["FeatureCollection"]
    features: list[FeatureIn]
    bbox: list[Number] | None = None


class _BatchRejected(Exception):
    def __init__(self, code: RejectCode, reason: str, path: str | None = None) -> None:
        super().__init__(reason)
        self.code: RejectCode = code
        self.reason = reason
        self.path = path


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _path(prefix: str, loc: tuple[int | str, ...]) -> str:
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _code_for(error: ErrorDetails) -> RejectCode:
    kind = error["type"]
    last = error["loc"][-1] if error["loc"] else ""
    if kind == "missing":
        return "missing-field"
    if kind == "extra_forbidden":
        return "unknown-field"
    if kind.endswith("_type") or kind in ("literal_error", "enum"):
        return "bad-type"
    if kind == "bad_coordinate" or last in ("lat", "lon"):
        return "bad-coordinate"
    if kind in ("too_long", "string_too_long"):
        return "oversized"
    return "bad-value"


class JsonBatchDecoder:
    """Decodes JSON observation batches and GeoJSON feature collections for one agency."""

    def __init__(
        self,
        agency: str,
        marking: Marking | None = None,
        *,
        feed: str | None = None,
        window: TimeWindow | None = None,
        partial: bool = False,
        max_items: int = DEFAULT_MAX_ITEMS,
        max_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        exercise: bool = False,
    ) -> None:
        if not agency:
            raise ValueError("a decoder needs an agency")
        self.agency = agency
        self.marking = marking if marking is not None else Marking.default_for(agency)
        self._feed = feed if feed is not None else f"json:{agency}"
        self.window = window if window is not None else TimeWindow()
        self.partial = partial
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.exercise = exercise

    @property
    def feed(self) -> str:
        return self._feed

    def decode(self, data: bytes, *, received_at: datetime) -> DecodeResult:
        received_at = ensure_utc(received_at)
        try:
            prefix, items, model = self._envelope(data)
        except _BatchRejected as rejected:
            return DecodeResult(
                rejections=(
                    Rejection(
                        feed=self._feed, code=rejected.code, reason=rejected.reason, path=rejected.path
                    ),
                )
            )
        observations: list[Observation] = []
        rejections: list[Rejection] = []
        for index, item in enumerate(items):
            try:
                observations.append(self._item(model, item, received_at))
            except ValidationError as exc:
                rejections.append(self._validation_rejection(prefix, index, exc))
            except _BatchRejected as rejected:
                rejections.append(
                    Rejection(
                        feed=self._feed,
                        code=rejected.code,
                        reason=rejected.reason,
                        index=index,
                        path=f"{prefix}[{index}]{rejected.path or ''}",
                    )
                )
        if rejections and not self.partial:
            return DecodeResult(rejections=tuple(rejections))
        return DecodeResult(observations=tuple(observations), rejections=tuple(rejections))

    def _envelope(self, data: bytes) -> tuple[str, list[Any], type[ObservationIn] | type[FeatureIn]]:
        if len(data) > self.max_bytes:
            raise _BatchRejected("oversized", f"batch of {len(data)} bytes exceeds {self.max_bytes}")
        try:
            document = json.loads(data, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise _BatchRejected("malformed-json", f"not valid JSON: {str(exc)[:120]}") from exc
        if not isinstance(document, dict):
            raise _BatchRejected("malformed-json", "the batch must be a JSON object")
        model: type[ObservationIn] | type[FeatureIn]
        if "type" in document:
            if document["type"] != "FeatureCollection":
                raise _BatchRejected("bad-value", "a GeoJSON batch must be a FeatureCollection", "type")
            allowed, key, model = {"type", "features", "bbox"}, "features", FeatureIn
        else:
            allowed, key, model = {"observations"}, "observations", ObservationIn
        unknown = sorted(str(name)[:40] for name in document if name not in allowed)
        if unknown:
            raise _BatchRejected(
                "unknown-field", f"unknown top-level field(s): {', '.join(unknown)}", unknown[0]
            )
        if key not in document:
            raise _BatchRejected("missing-field", f"the batch has no {key!r} list", key)
        items = document[key]
        if not isinstance(items, list):
            raise _BatchRejected("bad-type", f"{key!r} must be a list", key)
        if len(items) > self.max_items:
            raise _BatchRejected("oversized", f"{len(items)} items exceed the limit of {self.max_items}", key)
        if model is FeatureIn and "bbox" in document:
            bbox = document["bbox"]
            if not (isinstance(bbox, list) and all(_is_number(value) for value in bbox)):
                raise _BatchRejected("bad-type", "bbox must be a list of numbers", "bbox")
        return key, items, model

    def _item(
        self, model: type[ObservationIn] | type[FeatureIn], item: Any, received_at: datetime
    ) -> Observation:
        parsed = model.model_validate(item)
        if isinstance(parsed, FeatureIn):
            props: _Common = parsed.properties
            lon, lat = parsed.geometry.coordinates[0], parsed.geometry.coordinates[1]
            hae_m = parsed.geometry.coordinates[2] if len(parsed.geometry.coordinates) == 3 else None
            given_id = None if parsed.id is None else str(parsed.id)
        else:
            props = parsed
            lat, lon, hae_m, given_id = parsed.lat, parsed.lon, parsed.hae_m, parsed.id
        observed_at = props.observed_at.astimezone(UTC)
        problem = self.window.check(observed_at, received_at)
        if problem is not None:
            raise _BatchRejected("time-out-of-range", problem, ".observed_at")
        try:
            return Observation(
                id=given_id or observation_id(self._feed, props.identity, observed_at, lat, lon),
                source=self._feed,
                agency=self.agency,
                sensor=props.sensor,
                observed_at=observed_at,
                lat=lat,
                lon=lon,
                marking=self.marking,
                position_sigma_m=props.position_sigma_m,
                hae_m=hae_m,
                course_deg=props.course_deg,
                speed_mps=props.speed_mps,
                identity=props.identity,
                callsign=props.callsign,
                target=props.target,
                exercise=self.exercise,
                attributes=dict(props.attributes),
            )
        except ValueError as exc:
            raise _BatchRejected("bad-value", str(exc)[:120]) from exc

    def _validation_rejection(self, prefix: str, index: int, exc: ValidationError) -> Rejection:
        errors = exc.errors(include_url=False, include_input=False)
        first = errors[0]
        described = "; ".join(
            f"{_path(f'{prefix}[{index}]', error['loc'])}: {error['msg']}" for error in errors[:5]
        )
        if len(errors) > 5:
            described += f"; and {len(errors) - 5} more"
        return Rejection(
            feed=self._feed,
            code=_code_for(first),
            reason=described,
            index=index,
            path=_path(f"{prefix}[{index}]", first["loc"]),
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_json_batch(
    data: bytes,
    *,
    agency: str,
    marking: Marking | None = None,
    received_at: datetime,
    partial: bool,
    window: TimeWindow | None = None,
    max_items: int = DEFAULT_MAX_ITEMS,
    feed: str | None = None,
    exercise: bool = False,
) -> DecodeResult:
    """Decode a JSON batch or GeoJSON FeatureCollection (the body of ``POST /api/observations``)."""
    decoder = JsonBatchDecoder(
        agency,
        marking,
        feed=feed,
        window=window,
        partial=partial,
        max_items=max_items,
        exercise=exercise,
    )
    return decoder.decode(data, received_at=received_at)


def observation_item(o: Observation) -> dict[str, Any]:
    """An observation as one item of ``{"observations": [...]}`` (what the JSON door takes back in).

    The door attributes an item to the caller's agency and marking, so neither is written; nor are
    attributes, which the door keeps to its own vocabulary.
    """
    out: dict[str, Any] = {
        "id": o.id,
        "sensor": o.sensor.value,
        "observed_at": o.observed_at.isoformat(),
        "lat": o.lat,
        "lon": o.lon,
        "position_sigma_m": o.position_sigma_m,
        "target": o.target.value,
    }
    for key, value in (
        ("hae_m", o.hae_m),
        ("course_deg", o.course_deg),
        ("speed_mps", o.speed_mps),
        ("identity", o.identity),
        ("callsign", o.callsign),
    ):
        if value is not None:
            out[key] = value
    return out
