"""Security markings: classification, releasability, TLP 2.0, need-to-know categories, originator.

A banner such as ``RESTRICTED//REL TO BP, CUS//TLP:AMBER//PII`` is always generated from a
:class:`Marking`; it is never stored as text. Combining markings (a fused track, an incident, a report)
gives the most restrictive of each part: highest level, intersection of REL TO, most restrictive TLP,
union of categories (and, under TLP:RED, the intersection of the named recipients).

The combination laws (checked by property tests): combining is associative, commutative in all but
the originator, idempotent, and the result is a narrowing of each input. They hold whenever the
combining agency may see what it combines (its code is in the other marking's REL TO), which the release
gate guarantees: an agency only combines what was released to it.

Validation against a deployment's vocabulary (its classification ladder, known agencies and
need-to-know categories) is :meth:`MarkingVocabulary.validate`; :func:`check_reshare` refuses a new
marking that would widen an original one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from concord.domain.errors import InvalidInput

__all__ = [
    "DEFAULT_CATEGORIES",
    "DEFAULT_LADDER",
    "ClassificationLadder",
    "Marking",
    "MarkingVocabulary",
    "Tlp",
    "check_reshare",
]


class Tlp(StrEnum):
    """Traffic Light Protocol 2.0 colours, least restrictive first."""

    CLEAR = "CLEAR"
    GREEN = "GREEN"
    AMBER = "AMBER"
    AMBER_STRICT = "AMBER+STRICT"
    RED = "RED"

    @property
    def rank(self) -> int:
        return _TLP_RANK[self]


_TLP_ORDER: tuple[Tlp, ...] = (Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED)
_TLP_RANK: dict[Tlp, int] = {tlp: i for i, tlp in enumerate(_TLP_ORDER)}

DEFAULT_CATEGORIES: frozenset[str] = frozenset(
    {"PII", "BIOMETRIC", "INTEL-SOURCE", "LAW-ENFORCEMENT-SENSITIVE"}
)


@dataclass(frozen=True, slots=True)
class ClassificationLadder:
    """An ordered list of classification levels, lowest first (configurable per deployment)."""

    levels: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.levels:
            raise ValueError("a classification ladder needs at least one level")
        if len(set(self.levels)) != len(self.levels):
            raise ValueError("classification levels must be unique")

    def rank(self, level: str) -> int:
        try:
            return self.levels.index(level)
        except ValueError:
            raise ValueError(
                f"unknown classification {level!r}; expected one of {', '.join(self.levels)}"
            ) from None

    def knows(self, level: str) -> bool:
        return level in self.levels

    def highest(self, levels: Iterable[str]) -> str:
        return max(levels, key=self.rank)


DEFAULT_LADDER = ClassificationLadder(("UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL", "SECRET"))


@dataclass(frozen=True, slots=True)
class Marking:
    """The structured marking every record carries.

    ``rel_to`` is the set of agency codes the record may be released to; the originator is always in
    it. ``rel_to == {originator}`` means originator only. ``recipients`` names the users (ids) a
    TLP:RED record is meant for beyond the originator agency; it is empty for every other colour.
    """

    classification: str
    originator: str
    rel_to: frozenset[str] = field(default_factory=frozenset)
    tlp: Tlp = Tlp.AMBER
    categories: frozenset[str] = field(default_factory=frozenset)
    recipients: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.originator:
            raise ValueError("a marking needs an originator agency")
        # The originator can always see its own record.
        object.__setattr__(self, "rel_to", frozenset(self.rel_to) | {self.originator})
        object.__setattr__(self, "categories", frozenset(self.categories))
        object.__setattr__(self, "tlp", Tlp(self.tlp))
        recipients = frozenset(self.recipients)
        if recipients and self.tlp is not Tlp.RED:
            raise ValueError("named recipients belong only to TLP:RED markings")
        object.__setattr__(self, "recipients", recipients)

    @property
    def originator_only(self) -> bool:
        return self.rel_to == frozenset({self.originator})

    def banner(self) -> str:
        parts = [self.classification]
        if self.originator_only:
            parts.append(f"ORIGINATOR ONLY ({self.originator})")
        else:
            parts.append("REL TO " + ", ".join(sorted(self.rel_to)))
        parts.append(f"TLP:{self.tlp.value}")
        parts.extend(sorted(self.categories))
        return "//".join(parts)

    def combine(self, other: Marking, ladder: ClassificationLadder = DEFAULT_LADDER) -> Marking:
        """The marking of a record built from both: the most restrictive of each part.

        The originator of a combined record is this marking's originator (the agency that combines).
        REL TO is the intersection; the combining agency keeps sight of its own product (it could see
        ``other``, or it could not have combined it).
        """
        tlp = max(self.tlp, other.tlp, key=_TLP_RANK.__getitem__)
        return Marking(
            classification=ladder.highest((self.classification, other.classification)),
            originator=self.originator,
            rel_to=self.rel_to & other.rel_to,
            tlp=tlp,
            categories=self.categories | other.categories,
            recipients=_combine_recipients(self, other) if tlp is Tlp.RED else frozenset(),
        )

    def is_narrowing_of(self, wider: Marking, ladder: ClassificationLadder = DEFAULT_LADDER) -> bool:
        """True when this marking is at least as restrictive as ``wider`` in every part."""
        return (
            ladder.rank(self.classification) >= ladder.rank(wider.classification)
            and self.rel_to <= wider.rel_to
            and self.tlp.rank >= wider.tlp.rank
            and self.categories >= wider.categories
            and (self.tlp is not Tlp.RED or wider.tlp is not Tlp.RED or self.recipients <= wider.recipients)
        )

    def widening_parts(self, wider: Marking, ladder: ClassificationLadder = DEFAULT_LADDER) -> list[str]:
        """The names of the parts in which this marking is less restrictive than ``wider``."""
        parts: list[str] = []
        if ladder.rank(self.classification) < ladder.rank(wider.classification):
            parts.append("classification")
        if not self.rel_to <= wider.rel_to:
            parts.append("rel_to")
        if self.tlp.rank < wider.tlp.rank:
            parts.append("tlp")
        if not self.categories >= wider.categories:
            parts.append("categories")
        if self.tlp is Tlp.RED and wider.tlp is Tlp.RED and not self.recipients <= wider.recipients:
            parts.append("recipients")
        return parts

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "classification": self.classification,
            "originator": self.originator,
            "rel_to": sorted(self.rel_to),
            "tlp": self.tlp.value,
            "categories": sorted(self.categories),
        }
        if self.recipients:
            data["recipients"] = sorted(self.recipients)
        return data

    def canonical_json(self) -> str:
        """A stable JSON text of this marking (sorted keys, no spaces), e.g. for binding ciphertexts."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Marking:
        return cls(
            classification=str(data["classification"]),
            originator=str(data["originator"]),
            rel_to=frozenset(str(a) for a in data.get("rel_to", ())),
            tlp=Tlp(data.get("tlp", Tlp.AMBER)),
            categories=frozenset(str(c) for c in data.get("categories", ())),
            recipients=frozenset(str(u) for u in data.get("recipients", ())),
        )

    @classmethod
    def default_for(cls, originator: str) -> Marking:
        """The default marking of an agency's records until it says otherwise: its own eyes only."""
        return cls(classification="RESTRICTED", originator=originator, tlp=Tlp.AMBER)


def _combine_recipients(a: Marking, b: Marking) -> frozenset[str]:
    # A non-RED marking puts no limit on named recipients, so it is the neutral element.
    if a.tlp is Tlp.RED and b.tlp is Tlp.RED:
        return a.recipients & b.recipients
    return a.recipients if a.tlp is Tlp.RED else b.recipients


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkingVocabulary:
    """What a deployment accepts in a marking: its ladder, the agencies it knows, its categories."""

    agencies: frozenset[str]
    ladder: ClassificationLadder = DEFAULT_LADDER
    categories: frozenset[str] = DEFAULT_CATEGORIES

    def validate(self, marking: Marking) -> Marking:
        """Return ``marking`` if every part is known; raise :class:`InvalidInput` naming the part."""
        if not self.ladder.knows(marking.classification):
            raise InvalidInput(
                f"unknown classification {marking.classification!r}; expected one of "
                f"{', '.join(self.ladder.levels)}",
                details={"field": "classification", "value": marking.classification},
            )
        if marking.originator not in self.agencies:
            raise InvalidInput(
                f"unknown originator agency {marking.originator!r}",
                details={"field": "originator", "value": marking.originator},
            )
        unknown_agencies = sorted(marking.rel_to - self.agencies)
        if unknown_agencies:
            raise InvalidInput(
                f"REL TO names unknown agencies: {', '.join(unknown_agencies)}",
                details={"field": "rel_to", "unknown": unknown_agencies},
            )
        unknown_categories = sorted(marking.categories - self.categories)
        if unknown_categories:
            raise InvalidInput(
                f"unknown need-to-know categories: {', '.join(unknown_categories)}",
                details={"field": "categories", "unknown": unknown_categories},
            )
        return marking


def check_reshare(original: Marking, new: Marking, ladder: ClassificationLadder = DEFAULT_LADDER) -> Marking:
    """Return ``new`` if it keeps or narrows ``original``; raise :class:`InvalidInput` if it widens it.

    A re-shared record keeps its originator, and each part of its marking must be at least as
    restrictive as before: level not lower, REL TO not larger, TLP not lighter, no category dropped,
    no named recipient added.
    """
    for marking, name in ((original, "original"), (new, "new")):
        if not ladder.knows(marking.classification):
            raise InvalidInput(
                f"unknown classification {marking.classification!r} in the {name} marking",
                details={"field": "classification", "marking": name},
            )
    if new.originator != original.originator:
        raise InvalidInput(
            f"a re-shared record keeps its originator ({original.originator!r}, not {new.originator!r})",
            details={"field": "originator"},
        )
    widened = new.widening_parts(original, ladder)
    if widened:
        raise InvalidInput(
            f"the new marking widens the original in: {', '.join(widened)}",
            details={"field": "marking", "widened": widened},
        )
    return new
