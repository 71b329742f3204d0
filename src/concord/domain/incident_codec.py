"""The base of the coordination events (incidents, tasks, routing, task forces, aid, messages).

Every coordination event is a frozen dataclass with a stable ``type`` name (past tense), the time it
happened (``at``, aware UTC) and the user or service that caused it (``actor``). ``to_dict`` gives a
JSON-able payload for the journal and ``from_dict`` reads one back, checking every field's type, so a
projection rebuilt from the journal sees exactly the values that were decided.

Encoding is derived from the dataclass fields and their annotations: datetimes as ISO 8601 strings,
enums as their values, tuples and frozensets as lists (frozensets sorted), markings with
:meth:`Marking.to_dict`, nested frozen dataclasses as objects.
"""

from __future__ import annotations

import builtins
import dataclasses
import importlib
import math
import types
import typing
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any, ClassVar, TypeVar

from concord.domain.errors import InvalidInput
from concord.domain.events import JournalEvent, envelope
from concord.domain.marking import Marking
from concord.domain.types import ensure_utc

__all__ = [
    "CoordinationEvent",
    "decode_value",
    "encode_value",
    "event_from_dict",
    "event_from_journal",
    "event_to_journal",
    "event_type",
    "registered_event_types",
]

_E = TypeVar("_E", bound="CoordinationEvent")

_REGISTRY: dict[str, type[CoordinationEvent]] = {}

MAX_TEXT_CHARS = 20_000  # no single field of a coordination event is longer than a long message


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CoordinationEvent:
    """A state change of the coordination area; subclasses add their own fields."""

    type: ClassVar[str] = ""

    at: datetime
    actor: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", ensure_utc(self.at))

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able payload, including ``type`` so it can be read back on its own."""
        data: dict[str, Any] = {"type": self.type}
        for f in dataclasses.fields(self):
            data[f.name] = encode_value(getattr(self, f.name))
        return data

    @classmethod
    def from_dict(cls: builtins.type[_E], data: dict[str, Any]) -> _E:
        """Read an event of this class back; wrong or missing fields raise InvalidInput."""
        if not isinstance(data, dict):
            raise InvalidInput("an event must be an object", details={"type": cls.type})
        declared = data.get("type", cls.type)
        if declared != cls.type:
            raise InvalidInput(
                f"expected an event of type {cls.type!r}, got {declared!r}",
                details={"field": "type"},
            )
        decoded: _E = _decode_dataclass(cls, data, path=cls.type)
        return decoded


def event_type(name: str) -> Callable[[type[_E]], type[_E]]:
    """Register an event class under its stable journal type name."""

    def register(cls: type[_E]) -> type[_E]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"event type {name!r} registered twice")
        cls.type = name
        _REGISTRY[name] = cls
        return cls

    return register


def registered_event_types() -> dict[str, type[CoordinationEvent]]:
    """Every coordination event type by name (a copy)."""
    _load_event_modules()
    return dict(_REGISTRY)


def event_from_dict(data: dict[str, Any]) -> CoordinationEvent:
    """Read any coordination event from its ``to_dict`` form, dispatching on ``type``."""
    if not isinstance(data, dict):
        raise InvalidInput("an event must be an object")
    _load_event_modules()
    name = data.get("type")
    if not isinstance(name, str) or name not in _REGISTRY:
        raise InvalidInput(f"unknown event type {name!r}", details={"field": "type"})
    return _REGISTRY[name].from_dict(data)


def _load_event_modules() -> None:
    """Import the modules that define events, so the registry is complete whoever calls first."""
    for module in ("concord.domain.incident", "concord.domain.coordination"):
        importlib.import_module(module)


def event_to_journal(
    event: CoordinationEvent, *, agency: str, marking: Marking, exercise: bool = False
) -> JournalEvent:
    """Wrap an event in the journal envelope (the payload is ``event.to_dict()``)."""
    return envelope(
        event.type,
        event.to_dict(),
        at=event.at,
        actor=event.actor,
        agency=agency,
        marking=marking,
        exercise=exercise,
    )


def event_from_journal(entry: JournalEvent) -> CoordinationEvent:
    """Read a coordination event back from a journal entry."""
    payload = dict(entry.payload)
    payload.setdefault("type", entry.type)
    if payload["type"] != entry.type:
        raise InvalidInput("journal entry type and payload type differ", details={"field": "type"})
    return event_from_dict(payload)


def encode_value(value: Any) -> Any:
    """Turn a field value into JSON-able data."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return ensure_utc(value).isoformat()
    if isinstance(value, Marking):
        return value.to_dict()
    if isinstance(value, frozenset):
        return sorted((encode_value(v) for v in value), key=repr)
    if isinstance(value, tuple | list):
        return [encode_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode_value(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    raise TypeError(f"cannot encode {type(value).__name__}")


Decoder = Callable[[Any, str], Any]
_DECODERS: dict[Any, Decoder] = {}
_PLANS: dict[type[Any], tuple[frozenset[str], tuple[tuple[str, Decoder, bool], ...]]] = {}


def _bad(path: str, message: str) -> InvalidInput:
    return InvalidInput(f"{path}: {message}", details={"field": path})


def _plan(cls: type[Any]) -> tuple[frozenset[str], tuple[tuple[str, Decoder, bool], ...]]:
    """The fields of a dataclass with their decoders, computed once per class."""
    plan = _PLANS.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls)
        fields = tuple(
            (
                f.name,
                _decoder(hints[f.name]),
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
            )
            for f in dataclasses.fields(cls)
        )
        plan = (frozenset(name for name, _, _ in fields) | {"type"}, fields)
        _PLANS[cls] = plan
    return plan


def _decode_dataclass(cls: type[Any], data: Any, *, path: str) -> Any:
    if not isinstance(data, dict):
        raise _bad(path, "expected an object")
    allowed, fields = _plan(cls)
    unknown = [k for k in data if k not in allowed]
    if unknown:
        raise _bad(path, f"unknown fields {sorted(map(str, unknown))}")
    kwargs: dict[str, Any] = {}
    for name, decode, required in fields:
        if name in data:
            kwargs[name] = decode(data[name], f"{path}.{name}")
        elif required:
            raise _bad(f"{path}.{name}", "missing")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise _bad(path, str(exc)) from exc


def decode_value(hint: Any, raw: Any, *, path: str) -> Any:
    """Read one value of the annotated type ``hint``; raise InvalidInput naming ``path`` if it is wrong."""
    return _decoder(hint)(raw, path)


def _decoder(hint: Any) -> Decoder:
    decoder = _DECODERS.get(hint)
    if decoder is None:
        decoder = _build_decoder(hint)
        _DECODERS[hint] = decoder
    return decoder


def _build_decoder(hint: Any) -> Decoder:
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        args = typing.get_args(hint)
        nullable = type(None) in args
        options = [_decoder(a) for a in args if a is not type(None)]

        def union(raw: Any, path: str) -> Any:
            if raw is None and nullable:
                return None
            errors: list[str] = []
            for option in options:
                try:
                    return option(raw, path)
                except InvalidInput as exc:
                    errors.append(exc.message)
            raise _bad(path, "; ".join(errors))

        return union
    if origin is tuple or origin is frozenset:
        args = typing.get_args(hint)
        item = _decoder(args[0] if args else Any)
        container: Callable[[Any], Any] = tuple if origin is tuple else frozenset

        def sequence(raw: Any, path: str) -> Any:
            if not isinstance(raw, list | tuple):
                raise _bad(path, "expected a list")
            return container(item(v, f"{path}[{i}]") for i, v in enumerate(raw))

        return sequence
    if origin is dict:
        key_t, val_t = (_decoder(a) for a in typing.get_args(hint))

        def mapping(raw: Any, path: str) -> Any:
            if not isinstance(raw, dict):
                raise _bad(path, "expected an object")
            return {key_t(k, path): val_t(v, f"{path}.{k}") for k, v in raw.items()}

        return mapping
    if hint is Any:
        return lambda raw, _path: raw
    if hint is bool:

        def boolean(raw: Any, path: str) -> Any:
            if not isinstance(raw, bool):
                raise _bad(path, "expected true or false")
            return raw

        return boolean
    if hint is int:

        def integer(raw: Any, path: str) -> Any:
            if isinstance(raw, bool) or not isinstance(raw, int):
                raise _bad(path, "expected an integer")
            return raw

        return integer
    if hint is float:

        def number(raw: Any, path: str) -> Any:
            if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
                raise _bad(path, "expected a finite number")
            return float(raw)

        return number
    if hint is str:

        def text(raw: Any, path: str) -> Any:
            if not isinstance(raw, str):
                raise _bad(path, "expected a string")
            if len(raw) > MAX_TEXT_CHARS:
                raise _bad(path, f"longer than {MAX_TEXT_CHARS} characters")
            return raw

        return text
    if hint is datetime:

        def moment(raw: Any, path: str) -> Any:
            if not isinstance(raw, str) or len(raw) > 64:
                raise _bad(path, "expected an ISO 8601 time")
            try:
                return ensure_utc(datetime.fromisoformat(raw))
            except ValueError as exc:
                raise _bad(path, str(exc)) from exc

        return moment
    if hint is Marking:

        def marking(raw: Any, path: str) -> Any:
            if not isinstance(raw, dict):
                raise _bad(path, "expected a marking object")
            try:
                return Marking.from_dict(raw)
            except (KeyError, ValueError, TypeError) as exc:
                raise _bad(path, f"bad marking ({exc})") from exc

        return marking
    if isinstance(hint, type) and issubclass(hint, Enum):
        enum_type = hint

        def member(raw: Any, path: str) -> Any:
            try:
                return enum_type(raw)
            except ValueError as exc:
                raise _bad(path, f"{raw!r} is not a valid {enum_type.__name__}") from exc

        return member
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        cls = hint
        return lambda raw, path: _decode_dataclass(cls, raw, path=path)
    raise TypeError(f"no decoder for {hint!r}")
