"""Playbook loading: strict validation with file and line numbers, reachability, trigger selection."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from incidents_kit import DIRECTORY, alert

from concord.domain.errors import PolicyError
from concord.domain.identity import Role
from concord.incidents.base import Reachability
from concord.incidents.playbooks import (
    MAX_PLAYBOOK_BYTES,
    Playbook,
    PlaybookLibrary,
    RoleName,
    load_default_playbooks,
    load_playbook,
    load_playbook_dir,
    parse_playbook,
)

GOOD = textwrap.dedent(
    """\
    id: test-book
    name: Test book
    version: 1
    trigger:
      alert_kinds: [rendezvous]
      zone_kinds: [territorial-sea]
      min_impact: medium
    tasks:
      - id: intercept
        title: Intercept
        assignee: {agency: lead, role: operator}
        sla: {acknowledge_s: 60, complete_s: 600}
        escalation:
          - {agency: CG, role: commander, delay_s: 0}
          - {agency: JOC, role: commander, delay_s: 300}
        required: true
    """
)


def parse(text: str | bytes, reachable: Reachability = DIRECTORY) -> Playbook:
    return parse_playbook(text, source="book.yaml", reachable=reachable)


def error_of(text: str | bytes, reachable: Reachability = DIRECTORY) -> PolicyError:
    with pytest.raises(PolicyError) as err:
        parse(text, reachable)
    return err.value


def test_good_playbook_loads() -> None:
    book = parse(GOOD)
    assert book.id == "test-book" and len(book.tasks) == 1
    assert book.tasks[0].required
    steps = book.escalation_of(book.tasks[0])
    assert [(s.agency, s.role, s.delay_s) for s in steps] == [
        ("CG", "commander", 0),
        ("JOC", "commander", 300),
    ]


def test_shipped_playbooks_load_and_roles_match_the_domain() -> None:
    library = load_default_playbooks(reachable=DIRECTORY)
    assert {p.id for p in library.all()} >= {
        "maritime-rendezvous",
        "land-crossing",
        "port-and-crossing-point",
    }
    assert set(RoleName.__args__) == {r.value for r in Role}  # type: ignore[attr-defined]


def test_bad_yaml_reports_its_line() -> None:
    err = error_of("id: x\nname: [unclosed\nversion: 1\n")
    assert err.details["file"] == "book.yaml"
    assert err.details["line"] in (2, 3)
    assert "book.yaml:" in err.message


def test_unknown_field_is_refused_with_its_line() -> None:
    text = GOOD.replace("    required: true\n", "    required: true\n    colour: red\n")
    err = error_of(text)
    assert err.details["line"] == 17
    assert err.details["field"] == "tasks[0].colour"
    assert "line 17" in err.message


def test_negative_sla_is_refused_with_its_line() -> None:
    err = error_of(GOOD.replace("acknowledge_s: 60", "acknowledge_s: -60"))
    assert err.details["line"] == 12
    assert err.details["field"] == "tasks[0].sla.acknowledge_s"


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("acknowledge_s: 60", "acknowledge_s: 0", "tasks[0].sla.acknowledge_s"),
        ("acknowledge_s: 60", 'acknowledge_s: "60"', "tasks[0].sla.acknowledge_s"),
        ("acknowledge_s: 60", "acknowledge_s: 60.5", "tasks[0].sla.acknowledge_s"),
        ("acknowledge_s: 60", "acknowledge_s: .nan", "tasks[0].sla.acknowledge_s"),
        ("acknowledge_s: 60", "acknowledge_s: .inf", "tasks[0].sla.acknowledge_s"),
        ("complete_s: 600", "complete_s: 30", "tasks[0].sla"),
        ("delay_s: 300", "delay_s: -1", "tasks[0].escalation[1].delay_s"),
        ("role: operator", "role: captain", "tasks[0].assignee.role"),
        ("agency: CG, role", "agency: lead, role", "tasks[0].escalation[0]"),
        ("agency: CG, role", 'agency: "CG; DROP TABLE", role', "tasks[0].escalation[0].agency"),
        ("min_impact: medium", "min_impact: extreme", "trigger.min_impact"),
        ("version: 1", "version: 0", "version"),
        ("required: true", "required: yes please", "tasks[0].required"),
        ("id: intercept", "id: Intercept Now", "tasks[0].id"),
    ],
)
def test_field_errors_name_the_field(old: str, new: str, field: str) -> None:
    assert old in GOOD
    err = error_of(GOOD.replace(old, new, 1))
    fields = [e["field"] for e in err.details["errors"]]
    assert any(f.startswith(field) for f in fields), fields
    assert all(e["line"] is not None for e in err.details["errors"])


def test_missing_fields_and_empty_tasks() -> None:
    err = error_of("id: x\nname: X\nversion: 1\n")
    fields = {e["field"] for e in err.details["errors"]}
    assert {"trigger", "tasks"} <= fields
    err = error_of(GOOD.split("tasks:")[0] + "tasks: []\n")
    assert err.details["field"] == "tasks"


def test_escalation_out_of_order_and_duplicate_task_ids() -> None:
    err = error_of(GOOD.replace("delay_s: 0}", "delay_s: 900}"))
    assert err.details["field"] == "tasks[0].escalation"
    tasks = GOOD.split("tasks:\n")[1]
    err = error_of(GOOD + tasks)
    assert "used twice" in err.message


def test_unreachable_escalation_is_refused_at_load() -> None:
    reachable = DIRECTORY - {("JOC", "commander")}
    err = error_of(GOOD, reachable)
    assert err.details["line"] == 15
    assert err.details["field"] == "tasks[0].escalation[1]"
    assert "reaches nobody" in err.message


def test_directory_callable_is_accepted() -> None:
    counts = {("CG", "commander"): 2, ("JOC", "commander"): 0}
    err = error_of(GOOD, lambda agency, role: counts.get((agency, role), 0))
    assert err.details["field"] == "tasks[0].escalation[1]"
    counts[("JOC", "commander")] = 1
    assert parse(GOOD, lambda agency, role: counts.get((agency, role), 0)).id == "test-book"


def test_unreachable_concrete_assignee_is_refused() -> None:
    err = error_of(GOOD.replace("agency: lead, role: operator", "agency: IMM, role: operator"))
    assert err.details["field"] == "tasks[0].assignee"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty"),
        ("- just\n- a list\n", "mapping"),
        ("id: a\nid: b\n", "duplicate key"),
        ("base: &b {x: 1}\nother: *b\n", "aliases"),
        ("<<: {id: x}\n", "merge keys"),
        ("? [a, b]\n: 1\n", "plain strings"),
        ("id: !!python/object:os.system x\n", "invalid YAML"),
        ("a: " + "[" * 100 + "]" * 100 + "\n", "too deep"),
        (b"\xff\xfe id: x", "not UTF-8"),
        ("id: x\n---\nid: y\n", "invalid YAML"),
    ],
)
def test_hostile_documents_are_refused(text: str | bytes, needle: str) -> None:
    err = error_of(text)
    assert needle in err.message, err.message


def test_oversized_document_is_refused(tmp_path: Path) -> None:
    big = "# " + "x" * MAX_PLAYBOOK_BYTES + "\n"
    assert "larger than" in error_of(big).message
    path = tmp_path / "big.yaml"
    path.write_text(big)
    with pytest.raises(PolicyError):
        load_playbook(path, reachable=DIRECTORY)


def test_billion_laughs_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    assert "aliases" in error_of("\n".join(lines) + "\n").message


def test_load_dir_and_duplicate_ids(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(GOOD)
    library = load_playbook_dir(tmp_path, reachable=DIRECTORY)
    assert len(library) == 1 and "test-book" in library
    (tmp_path / "two.yml").write_text(GOOD)
    with pytest.raises(PolicyError) as err:
        load_playbook_dir(tmp_path, reachable=DIRECTORY)
    assert "two.yml" in err.value.message
    with pytest.raises(PolicyError):
        load_playbook(tmp_path / "missing.yaml", reachable=DIRECTORY)
    with pytest.raises(PolicyError):
        load_playbook_dir(tmp_path / "missing", reachable=DIRECTORY)


def test_trigger_selection_prefers_the_most_specific() -> None:
    library = load_default_playbooks(reachable=DIRECTORY)
    at_sea = alert(kind="rendezvous", impact="high")
    assert library.select([at_sea], ("territorial-sea",)).id == "maritime-rendezvous"  # type: ignore[union-attr]
    assert library.select([at_sea], ()).id == "general-assessment"  # type: ignore[union-attr]
    assert library.select([alert(kind="loitering", impact="low")], ()) is None
    in_port = alert(kind="loitering", impact="low")
    assert library.select([in_port], ("port",)).id == "port-and-crossing-point"  # type: ignore[union-attr]
    below = alert(kind="rendezvous", impact="low")
    assert library.select([below], ("territorial-sea",)) is None


def test_zone_id_trigger() -> None:
    text = GOOD.replace("zone_kinds: [territorial-sea]", "zone_ids: [harbour-7]")
    book = parse(text)
    assert book.matches(alert(zone_ids=("harbour-7",)), ())
    assert not book.matches(alert(zone_ids=("harbour-8",)), ())
    assert PlaybookLibrary([book]).select([alert(zone_ids=("harbour-7",))]) is book


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes_the_loader(text: str | bytes) -> None:
    try:
        parse(text)
    except PolicyError as err:
        assert err.details["file"] == "book.yaml"
