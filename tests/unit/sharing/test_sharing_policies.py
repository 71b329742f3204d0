"""Loading the Cedar policy files: the shipped set compiles; a bad file stops start-up, naming file/line."""

from __future__ import annotations

from pathlib import Path

import pytest

from concord.domain.errors import PolicyError
from concord.sharing import DENY_REASONS, ReleasePolicies
from concord.sharing._gate import MARKING_VALIDATION

SHIPPED = Path(__file__).resolve().parents[3] / "src" / "concord" / "sharing" / "policies"

GOOD = '@id("permit-field")\npermit (principal, action == Concord::Action::"view-field", resource);\n'


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return tmp_path


def test_shipped_policies_compile_and_every_forbid_has_a_known_reason() -> None:
    policies = ReleasePolicies.load()
    forbids = [p for p, effect in policies.effects.items() if effect == "forbid"]
    assert forbids and set(policies.reasons) == set(forbids)
    assert set(policies.reasons.values()) <= DENY_REASONS
    assert set(policies.sources.values()) == {p.name for p in SHIPPED.glob("*.cedar")}
    assert MARKING_VALIDATION not in policies.effects


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    bad = GOOD + '\n@id("broken")\nforbid (principal, action resource)\nwhen { true };\n'
    write(tmp_path, "a_good.cedar", GOOD.replace("permit-field", "other"))
    write(tmp_path, "b_bad.cedar", bad)
    with pytest.raises(PolicyError) as info:
        ReleasePolicies.load(tmp_path)
    assert info.value.details == {"file": "b_bad.cedar", "line": 5}
    assert "b_bad.cedar, line 5" in str(info.value)


def test_syntax_error_line_in_a_long_file(tmp_path: Path) -> None:
    body = "".join(
        f'@id("p{i}")\npermit (principal, action == Concord::Action::"view", resource)\n'
        "when { principal.agency == resource.originator };\n"
        for i in range(300)
    )
    lines = body.count("\n")
    text = body + '@id("bad")\npermit (principal, action, resource)\nwhen { principal.agency == };\n' + body
    with pytest.raises(PolicyError) as info:
        ReleasePolicies.from_sources([("long.cedar", text)])
    assert info.value.details["line"] == lines + 3


def test_schema_error_names_file_and_line(tmp_path: Path) -> None:
    text = (
        GOOD
        + '\n@id("typo")\n@reason("tlp")\nforbid (principal, action, resource)\n'
        + 'when { principal.agnecy == "BP" };\n'
    )
    with pytest.raises(PolicyError) as info:
        ReleasePolicies.load(write(tmp_path, "typo.cedar", text))
    assert info.value.details["file"] == "typo.cedar"
    assert info.value.details["line"] == 4
    assert "agnecy" in info.value.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("permit (principal, action, resource);\n", "@id"),
        ('@id("f")\nforbid (principal, action, resource);\n', "@reason"),
        ('@id("f")\n@reason("because")\nforbid (principal, action, resource);\n', "@reason"),
        (GOOD + GOOD, "already used"),
        ('@id("t")\npermit (principal == ?principal, action, resource);\n', "templates"),
        ("", "no release policies"),
    ],
)
def test_policy_conventions_are_enforced(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        ReleasePolicies.from_sources([("x.cedar", text)] if text else [])


def test_unreadable_or_missing_files(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="no .cedar"):
        ReleasePolicies.load(tmp_path)
    write(tmp_path, "bin.cedar", b"\n\n\xff\xfe permit")
    with pytest.raises(PolicyError) as info:
        ReleasePolicies.load(tmp_path)
    assert info.value.details == {"file": "bin.cedar", "line": 3}


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "big.cedar", "// " + "x" * 1_100_000)
    with pytest.raises(PolicyError, match="larger than"):
        ReleasePolicies.load(tmp_path)
