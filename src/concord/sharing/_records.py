"""The record view the release gate decides on: what it is, how it is marked, which fields are sensitive."""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from concord.domain.errors import InvalidInput
from concord.domain.marking import Marking

__all__ = ["DEFAULT_FIELD_CATEGORIES", "Shareable"]

#: Which common fields carry which need-to-know category; record builders may pass their own map.
DEFAULT_FIELD_CATEGORIES: Mapping[str, str] = MappingProxyType(
    {
        "person_name": "PII",
        "date_of_birth": "PII",
        "nationality": "PII",
        "document_number": "PII",
        "phone_number": "PII",
        "vehicle_registration": "PII",
        "vessel_owner": "PII",
        "biometrics": "BIOMETRIC",
        "intel_source": "INTEL-SOURCE",
    }
)


ShapeKey = tuple[Marking, bool, frozenset[tuple[str, str]]]


class _Shape:
    """What the gate's decision depends on in a record: marking, exercise flag, fields and categories.

    Shapes are interned (one object per distinct key while any record uses it), so the gate's cache
    can hash and compare them by identity, which is much cheaper than hashing a marking every call.
    """

    __slots__ = ("__weakref__", "key")

    def __init__(self, key: ShapeKey) -> None:
        self.key = key


_SHAPES: weakref.WeakValueDictionary[ShapeKey, _Shape] = weakref.WeakValueDictionary()


def _intern(key: ShapeKey) -> _Shape:
    shape = _SHAPES.get(key)
    if shape is None:
        # Two threads may both create one; each is still a correct (if duplicate) cache key.
        shape = _Shape(key)
        _SHAPES[key] = shape
    return shape


@dataclass(frozen=True, slots=True, kw_only=True)
class Shareable:
    """A record as the release gate sees it.

    ``fields`` holds the content; ``field_categories`` maps sensitive field names to their
    need-to-know category (fields not in it are not sensitive). It may name fields the record does
    not have (one map per record kind is fine). Every category a present field carries must be on the
    marking: a record is never marked less sensitive than its content. Marking categories that no
    present field carries apply to the record as a whole.
    """

    kind: str
    record_id: str
    marking: Marking
    fields: Mapping[str, Any]
    field_categories: Mapping[str, str] = field(default_factory=lambda: DEFAULT_FIELD_CATEGORIES)
    exercise: bool = False
    _shape: _Shape = field(init=False, repr=False, compare=False)
    _record_categories: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind:
            raise InvalidInput("a record needs a kind", details={"field": "kind"})
        if not isinstance(self.record_id, str) or not self.record_id:
            raise InvalidInput("a record needs an id", details={"field": "record_id"})
        if not isinstance(self.marking, Marking):
            raise InvalidInput("a record needs a Marking", details={"field": "marking"})
        fields = MappingProxyType(dict(self.fields))
        pairs: set[tuple[str, str]] = set()
        for name in fields:
            if not isinstance(name, str) or not name:
                raise InvalidInput("field names must be non-empty strings", details={"field": "fields"})
            category = self.field_categories.get(name, "")
            if category and category not in self.marking.categories:
                raise InvalidInput(
                    f"field {name!r} carries {category} but the marking does not",
                    details={"field": name, "category": category},
                )
            pairs.add((name, category))
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "exercise", bool(self.exercise))
        carried = {category for _, category in pairs if category}
        object.__setattr__(self, "_record_categories", self.marking.categories - carried)
        object.__setattr__(self, "_shape", _intern((self.marking, self.exercise, frozenset(pairs))))

    @property
    def record_categories(self) -> frozenset[str]:
        """The marking's categories that no field carries: they apply to the whole record."""
        return self._record_categories

    def field_category(self, name: str) -> str | None:
        return self.field_categories.get(name) or None

    def without(self, names: frozenset[str]) -> Shareable:
        """A copy without the named fields (the marking is kept: it is the originator's)."""
        # Removing fields keeps a valid record valid, so the copy skips __post_init__'s checks: the
        # gate makes one per redacted release.
        copy = object.__new__(Shareable)
        pairs = frozenset(p for p in self._shape.key[2] if p[0] not in names)
        carried = {category for _, category in pairs if category}
        for name, value in (
            ("kind", self.kind),
            ("record_id", self.record_id),
            ("marking", self.marking),
            ("fields", MappingProxyType({k: v for k, v in self.fields.items() if k not in names})),
            ("field_categories", self.field_categories),
            ("exercise", self.exercise),
            ("_record_categories", self.marking.categories - carried),
            ("_shape", _intern((self.marking, self.exercise, pairs))),
        ):
            object.__setattr__(copy, name, value)
        return copy
