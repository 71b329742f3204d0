"""Playbooks (standard operating procedures) as YAML files, validated strictly on load.

A playbook says when it applies (``trigger``: alert kinds, zone kinds or ids, minimum impact level),
the severity of the incident it opens, and the tasks to run: who does each (an agency or ``lead``, and
a role), how fast (``sla``: seconds to acknowledge and to complete), who is told when an SLA is missed
(``escalation``: agency, role and delay after the miss, in order) and whether the incident may close
while it is open (``required``). Example::

    id: maritime-rendezvous
    name: Vessel rendezvous at sea
    version: 1
    severity: high
    trigger:
      alert_kinds: [rendezvous, ais-dark]
      zone_kinds: [territorial-sea]
      min_impact: medium
    tasks:
      - id: dispatch
        title: Dispatch the nearest vessel to intercept
        assignee: {agency: lead, role: operator}
        sla: {acknowledge_s: 300, complete_s: 1800}
        escalation:
          - {agency: CG, role: commander, delay_s: 0}
          - {agency: JOC, role: commander, delay_s: 600}
        required: true

Every error names the file and the line (``PolicyError.details``: ``file``, ``line``, ``field``, and
``errors`` with all of them). Unknown fields, duplicate keys, anchors and aliases, negative or zero SLAs
and escalation steps that reach nobody (no user holds that role in that agency) are refused.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from concord.domain.errors import PolicyError
from concord.domain.incident import EscalationStep, Severity
from concord.incidents.base import AlertLike, Reachability, impact_rank, reaches

__all__ = [
    "LEAD",
    "MAX_PLAYBOOK_BYTES",
    "AssigneeSpec",
    "EscalationStepSpec",
    "Playbook",
    "PlaybookLibrary",
    "SlaSpec",
    "TaskSpec",
    "TriggerSpec",
    "load_default_playbooks",
    "load_playbook",
    "load_playbook_dir",
    "parse_playbook",
]

LEAD = "lead"
"""Assignee agency meaning "the incident's lead agency", resolved when the incident opens."""

MAX_PLAYBOOK_BYTES = 256 * 1024
_MAX_DEPTH = 32
_SLUG = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_AGENCY = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"

Slug = Annotated[str, Field(strict=True, pattern=_SLUG)]
AgencyCode = Annotated[str, Field(strict=True, pattern=_AGENCY)]
Text = Annotated[str, Field(strict=True, min_length=1, max_length=500)]
Seconds = Annotated[StrictInt, Field(gt=0, le=30 * 24 * 3600)]
Delay = Annotated[StrictInt, Field(ge=0, le=30 * 24 * 3600)]
ImpactName = Literal["low", "medium", "high", "very-high"]
RoleName = Literal["operator", "analyst", "commander", "liaison", "auditor", "admin"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AssigneeSpec(_Spec):
    agency: AgencyCode
    role: RoleName


class SlaSpec(_Spec):
    acknowledge_s: Seconds
    complete_s: Seconds

    @model_validator(mode="after")
    def _complete_after_acknowledge(self) -> SlaSpec:
        if self.complete_s < self.acknowledge_s:
            raise ValueError("complete_s must not be shorter than acknowledge_s")
        return self


class EscalationStepSpec(_Spec):
    agency: AgencyCode
    role: RoleName
    delay_s: Delay

    @model_validator(mode="after")
    def _concrete_agency(self) -> EscalationStepSpec:
        if self.agency == LEAD:
            raise ValueError("an escalation step names a concrete agency code, not 'lead'")
        return self


class TaskSpec(_Spec):
    id: Slug
    title: Text
    assignee: AssigneeSpec
    sla: SlaSpec
    escalation: Annotated[list[EscalationStepSpec], Field(min_length=1, max_length=10)]
    required: StrictBool = False

    @field_validator("escalation")
    @classmethod
    def _delays_in_order(cls, steps: list[EscalationStepSpec]) -> list[EscalationStepSpec]:
        delays = [step.delay_s for step in steps]
        if delays != sorted(delays):
            raise ValueError("escalation steps must be listed in order of delay_s")
        return steps


class TriggerSpec(_Spec):
    alert_kinds: Annotated[
        list[Annotated[str, Field(strict=True, pattern=r"^(\*|[a-z0-9-]{1,64})$")]], Field(min_length=1)
    ]
    zone_kinds: list[Slug] = []
    zone_ids: list[Annotated[str, Field(strict=True, min_length=1, max_length=128)]] = []
    min_impact: ImpactName = "low"


class _PlaybookSpec(_Spec):
    id: Slug
    name: Text
    version: Annotated[StrictInt, Field(ge=1)]
    description: Annotated[str, Field(strict=True, max_length=4000)] = ""
    severity: ImpactName | None = None
    trigger: TriggerSpec
    tasks: Annotated[list[TaskSpec], Field(min_length=1, max_length=50)]

    @field_validator("tasks")
    @classmethod
    def _unique_task_ids(cls, tasks: list[TaskSpec]) -> list[TaskSpec]:
        seen: set[str] = set()
        for task in tasks:
            if task.id in seen:
                raise ValueError(f"task id {task.id!r} is used twice")
            seen.add(task.id)
        return tasks


@dataclass(frozen=True, slots=True, kw_only=True)
class Playbook:
    """A validated playbook. ``source`` is the file it came from (for messages)."""

    id: str
    name: str
    version: int
    description: str
    severity: Severity | None
    trigger: TriggerSpec
    tasks: tuple[TaskSpec, ...]
    source: str

    def matches(self, alert: AlertLike, zone_kinds: Collection[str] = ()) -> bool:
        """True when ``alert`` (falling in zones of ``zone_kinds``) triggers this playbook."""
        kind = str(getattr(alert.kind, "value", alert.kind))
        trig = self.trigger
        if "*" not in trig.alert_kinds and kind not in trig.alert_kinds:
            return False
        if trig.zone_ids and not set(trig.zone_ids) & set(alert.zone_ids):
            return False
        if trig.zone_kinds and not set(trig.zone_kinds) & set(zone_kinds):
            return False
        return impact_rank(alert.impact) >= impact_rank(trig.min_impact)

    def specificity(self) -> tuple[int, int, int, int]:
        """Higher is more specific: named zones, zone kinds, named alert kinds, minimum impact."""
        trig = self.trigger
        return (
            int(bool(trig.zone_ids)),
            int(bool(trig.zone_kinds)),
            int("*" not in trig.alert_kinds),
            impact_rank(trig.min_impact),
        )

    @staticmethod
    def escalation_of(task: TaskSpec) -> tuple[EscalationStep, ...]:
        return tuple(EscalationStep(agency=s.agency, role=s.role, delay_s=s.delay_s) for s in task.escalation)


class PlaybookLibrary:
    """The loaded playbooks, by id; chooses the most specific one an alert triggers."""

    def __init__(self, playbooks: Iterable[Playbook] = ()) -> None:
        self._by_id: dict[str, Playbook] = {}
        for playbook in playbooks:
            if playbook.id in self._by_id:
                raise PolicyError(
                    f"playbook id {playbook.id!r} is defined in {self._by_id[playbook.id].source} "
                    f"and {playbook.source}",
                    details={"file": playbook.source, "field": "id"},
                )
            self._by_id[playbook.id] = playbook

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, playbook_id: object) -> bool:
        return playbook_id in self._by_id

    def get(self, playbook_id: str) -> Playbook | None:
        return self._by_id.get(playbook_id)

    def all(self) -> list[Playbook]:
        return [self._by_id[k] for k in sorted(self._by_id)]

    def select(self, alerts: Sequence[AlertLike], zone_kinds: Collection[str] = ()) -> Playbook | None:
        """The most specific playbook triggered by any of ``alerts`` (ties: the lower id)."""
        matching = [p for p in self._by_id.values() if any(p.matches(a, zone_kinds) for a in alerts)]
        if not matching:
            return None
        return sorted(matching, key=lambda p: (tuple(-x for x in p.specificity()), p.id))[0]


# ------------------------------------------------------------------------------------------- loading


def _node_lines(node: yaml.Node, source: str) -> dict[tuple[str | int, ...], int]:
    """Map each path in the document to its 1-based line; refuse duplicate keys, anchors and aliases."""
    lines: dict[tuple[str | int, ...], int] = {}
    seen: set[int] = set()

    def walk(current: yaml.Node, path: tuple[str | int, ...], depth: int) -> None:
        if depth > _MAX_DEPTH:
            _fail(source, current.start_mark.line + 1, _dotted(path), "nesting too deep")
        if id(current) in seen:
            _fail(source, current.start_mark.line + 1, _dotted(path), "anchors and aliases are not allowed")
        seen.add(id(current))
        lines.setdefault(path, current.start_mark.line + 1)
        if isinstance(current, yaml.MappingNode):
            keys: set[str] = set()
            for key_node, value_node in current.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    _fail(source, key_node.start_mark.line + 1, _dotted(path), "keys must be plain strings")
                key = str(key_node.value)
                if key == "<<":
                    _fail(source, key_node.start_mark.line + 1, _dotted(path), "merge keys are not allowed")
                if key in keys:
                    _fail(source, key_node.start_mark.line + 1, _dotted((*path, key)), "duplicate key")
                keys.add(key)
                # An entry's line is the line of its key: where a reader looks for it.
                lines[(*path, key)] = key_node.start_mark.line + 1
                walk(value_node, (*path, key), depth + 1)
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                walk(item, (*path, index), depth + 1)

    walk(node, (), 0)
    return lines


def _dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def _fail(source: str, line: int | None, field: str, message: str) -> NoReturn:
    where = f"{source}:{line}" if line is not None else source
    raise PolicyError(
        f"{where}: {field}: {message}",
        details={
            "file": source,
            "line": line,
            "field": field,
            "errors": [{"line": line, "field": field, "message": message}],
        },
    )


def _line_for(lines: Mapping[tuple[str | int, ...], int], loc: Sequence[str | int]) -> int | None:
    path = tuple(loc)
    while path not in lines and path:
        path = path[:-1]
    return lines.get(path)


def parse_playbook(text: str | bytes, *, source: str = "<playbook>", reachable: Reachability) -> Playbook:
    """Parse and validate one playbook document; ``reachable`` says which (agency, role) pairs exist."""
    if isinstance(text, bytes):
        if len(text) > MAX_PLAYBOOK_BYTES:
            _fail(source, None, "(document)", f"larger than {MAX_PLAYBOOK_BYTES} bytes")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            _fail(source, None, "(document)", f"not UTF-8 ({exc.reason} at byte {exc.start})")
    if len(text.encode("utf-8")) > MAX_PLAYBOOK_BYTES:
        _fail(source, None, "(document)", f"larger than {MAX_PLAYBOOK_BYTES} bytes")
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                _fail(source, 1, "(document)", "the file is empty")
            lines = _node_lines(node, source)
            data: Any = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        _fail(source, line, "(document)", f"invalid YAML: {exc.problem or exc.context}")
    except yaml.YAMLError as exc:
        _fail(source, None, "(document)", f"invalid YAML: {exc}")
    if not isinstance(data, dict):
        _fail(source, 1, "(document)", "a playbook is a mapping of fields")

    try:
        spec = _PlaybookSpec.model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            err_loc = [p for p in err["loc"] if isinstance(p, str | int)]
            errors.append(
                {"line": _line_for(lines, err_loc), "field": _dotted(err_loc), "message": err["msg"]}
            )
        errors.sort(key=lambda e: (e["line"] or 0, e["field"]))
        first = errors[0]
        summary = "; ".join(f"line {e['line']}: {e['field']}: {e['message']}" for e in errors)
        raise PolicyError(
            f"{source}: {len(errors)} error(s): {summary}",
            details={"file": source, "line": first["line"], "field": first["field"], "errors": errors},
        ) from exc

    unreachable: list[tuple[list[str | int], str]] = []
    for t_index, task in enumerate(spec.tasks):
        if task.assignee.agency != LEAD and not reaches(reachable, task.assignee.agency, task.assignee.role):
            unreachable.append(
                (
                    ["tasks", t_index, "assignee"],
                    f"nobody holds role {task.assignee.role} in {task.assignee.agency}",
                )
            )
        for s_index, step in enumerate(task.escalation):
            if not reaches(reachable, step.agency, step.role):
                unreachable.append(
                    (
                        ["tasks", t_index, "escalation", s_index],
                        f"escalation reaches nobody: no {step.role} in {step.agency}",
                    )
                )
    if unreachable:
        errors = [
            {"line": _line_for(lines, loc), "field": _dotted(loc), "message": msg} for loc, msg in unreachable
        ]
        summary = "; ".join(f"line {e['line']}: {e['field']}: {e['message']}" for e in errors)
        raise PolicyError(
            f"{source}: {summary}",
            details={
                "file": source,
                "line": errors[0]["line"],
                "field": errors[0]["field"],
                "errors": errors,
            },
        )
    return Playbook(
        id=spec.id,
        name=spec.name,
        version=spec.version,
        description=spec.description,
        severity=Severity(spec.severity) if spec.severity else None,
        trigger=spec.trigger,
        tasks=tuple(spec.tasks),
        source=source,
    )


def load_playbook(path: str | Path, *, reachable: Reachability) -> Playbook:
    """Load and validate one playbook file."""
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > MAX_PLAYBOOK_BYTES:
            _fail(str(file), None, "(document)", f"larger than {MAX_PLAYBOOK_BYTES} bytes")
        raw = file.read_bytes()
    except OSError as exc:
        raise PolicyError(f"{file}: cannot read ({exc.strerror})", details={"file": str(file)}) from exc
    return parse_playbook(raw, source=str(file), reachable=reachable)


def load_playbook_dir(directory: str | Path, *, reachable: Reachability) -> PlaybookLibrary:
    """Load every ``*.yaml`` / ``*.yml`` file of ``directory`` (sorted by name) into a library."""
    folder = Path(directory)
    if not folder.is_dir():
        raise PolicyError(f"{folder}: not a directory", details={"file": str(folder)})
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    return PlaybookLibrary(load_playbook(f, reachable=reachable) for f in files)


def load_default_playbooks(*, reachable: Reachability) -> PlaybookLibrary:
    """The playbooks shipped with Concord (``concord/incidents/playbooks/*.yaml``)."""
    folder = resources.files("concord.incidents").joinpath("playbooks")
    playbooks = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            playbooks.append(
                parse_playbook(entry.read_bytes(), source=f"playbooks/{entry.name}", reachable=reachable)
            )
    return PlaybookLibrary(playbooks)
