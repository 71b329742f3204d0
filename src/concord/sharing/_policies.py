"""Loading and compiling the release policies (Cedar files) once, refusing to start on a bad file.

Every policy carries an ``@id``; every forbid carries a ``@reason`` that is one of the gate's stable
deny reasons. Each file is parsed and validated against the schema on its own, so an error names the
file and the line; then all files are compiled into one policy set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, cast

import cedarpy

from concord.domain.errors import PolicyError
from concord.sharing._outcome import DENY_REASONS, DenyReason
from concord.sharing._schema import SCHEMA

__all__ = ["ReleasePolicies"]

_MAX_POLICY_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class _Source:
    name: str
    text: str


def _line_of_parse_error(text: str) -> int:
    """The line of the first syntax error in ``text``.

    Prefixes that end with a complete statement (a line ending in ``;``) either parse or fail, and
    once one fails every longer one does, so a binary search finds the failing statement; within it,
    the error is on the first line at which the prefix fails other than by ending too early.
    """
    lines = text.splitlines(keepends=True)

    def error(count: int) -> str | None:
        try:
            cedarpy.PolicySet.from_str("".join(lines[:count]))
        except ValueError as exc:
            return str(exc)
        return None

    ends = [i + 1 for i, line in enumerate(lines) if line.split("//")[0].rstrip().endswith(";")]
    if not ends or ends[-1] != len(lines):
        ends.append(len(lines))
    low, high = 0, len(ends) - 1
    while low < high:
        middle = (low + high) // 2
        if error(ends[middle]) is not None:
            high = middle
        else:
            low = middle + 1
    first = ends[low - 1] + 1 if low else 1
    for count in range(first, ends[low] + 1):
        message = error(count)
        if message is not None and "unexpected end of input" not in message:
            return count
    return max(ends[low], 1)


def _line_of_id(text: str, policy_id: str) -> int:
    pattern = re.compile(r'@id\s*\(\s*"' + re.escape(policy_id) + r'"\s*\)')
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.search(line):
            return number
    return 1


def _read_sources(directory: Path | Traversable) -> list[_Source]:
    sources: list[_Source] = []
    entries = sorted((e for e in directory.iterdir() if e.name.endswith(".cedar")), key=lambda e: e.name)
    for entry in entries:
        raw = entry.read_bytes()
        if len(raw) > _MAX_POLICY_BYTES:
            raise PolicyError(
                f"policy file {entry.name} is larger than {_MAX_POLICY_BYTES} bytes",
                details={"file": entry.name, "line": 1},
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise PolicyError(
                f"policy file {entry.name} is not UTF-8 (line {line})",
                details={"file": entry.name, "line": line},
            ) from exc
        sources.append(_Source(entry.name, text))
    if not sources:
        raise PolicyError(
            f"no .cedar policy files in {directory}", details={"file": str(directory), "line": 0}
        )
    return sources


@dataclass(frozen=True, slots=True)
class ReleasePolicies:
    """The compiled release policies: one Cedar policy set, and what each policy id means.

    ``reasons`` maps each forbid policy's ``@id`` to its deny reason; ``sources`` names the file each
    policy came from.
    """

    policy_set: Any
    reasons: Mapping[str, DenyReason]
    effects: Mapping[str, str]
    sources: Mapping[str, str]

    @classmethod
    def load(cls, directory: Path | Traversable | None = None) -> ReleasePolicies:
        """Compile the ``.cedar`` files of ``directory`` (default: the ones shipped with Concord)."""
        if directory is None:
            directory = resources.files("concord.sharing") / "policies"
        return cls.from_sources((s.name, s.text) for s in _read_sources(directory))

    @classmethod
    def from_sources(cls, sources: Iterable[tuple[str, str]]) -> ReleasePolicies:
        """Compile policies given as (file name, text) pairs; raises :class:`PolicyError` on any fault."""
        reasons: dict[str, DenyReason] = {}
        effects: dict[str, str] = {}
        origin: dict[str, str] = {}
        texts: list[str] = []
        for name, text in sources:
            try:
                cedarpy.PolicySet.from_str(text)
                tree = cedarpy.policies_to_pst(text)
            except ValueError as exc:
                line = _line_of_parse_error(text)
                raise PolicyError(
                    f"{name}, line {line}: {exc}", details={"file": name, "line": line}
                ) from exc
            result = cedarpy.validate_policies(text, SCHEMA)
            if not result.validation_passed:
                first = result.errors[0]
                policy_id = result.id_annotations_by_policy_id.get(first.policy_id, "")
                line = _line_of_id(text, policy_id) if policy_id else 1
                raise PolicyError(
                    f"{name}, line {line}: {first.error}",
                    details={"file": name, "line": line, "policy": policy_id},
                )
            if tree.templates:
                raise PolicyError(
                    f"{name}: policy templates are not allowed", details={"file": name, "line": 1}
                )
            for policy in tree.static_policies.values():
                annotations: Mapping[str, str] = policy.annotations
                policy_id = annotations.get("id", "")
                effect = str(policy.effect).lower()
                if not policy_id:
                    raise PolicyError(
                        f"{name}: every policy needs an @id annotation", details={"file": name, "line": 1}
                    )
                line = _line_of_id(text, policy_id)
                if policy_id in origin:
                    raise PolicyError(
                        f"{name}, line {line}: policy id {policy_id!r} is already used in "
                        f"{origin[policy_id]}",
                        details={"file": name, "line": line, "policy": policy_id},
                    )
                origin[policy_id] = name
                effects[policy_id] = "forbid" if "forbid" in effect else "permit"
                if effects[policy_id] == "forbid":
                    reason = annotations.get("reason", "")
                    if reason not in DENY_REASONS:
                        raise PolicyError(
                            f"{name}, line {line}: forbid {policy_id!r} needs @reason, one of "
                            f"{', '.join(sorted(DENY_REASONS))}",
                            details={"file": name, "line": line, "policy": policy_id},
                        )
                    reasons[policy_id] = cast(DenyReason, reason)
            texts.append(text)
        if not texts:
            raise PolicyError("no release policies given", details={"file": "", "line": 0})
        policy_set = cedarpy.PolicySet.from_str("\n".join(texts))
        return cls(policy_set=policy_set, reasons=reasons, effects=effects, sources=origin)
