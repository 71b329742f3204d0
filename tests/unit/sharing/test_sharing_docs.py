"""docs/security.md stays in step with the code: every deny reason and every policy id is documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from concord.sharing import DenyReason, ReleasePolicies

DOC = Path(__file__).resolve().parents[3] / "docs" / "security.md"


def test_every_deny_reason_has_its_own_section_and_no_other() -> None:
    text = DOC.read_text()
    documented = re.findall(r"^### `([a-z-]+)`$", text, flags=re.MULTILINE)
    assert sorted(documented) == sorted(get_args(DenyReason))


def test_every_policy_is_documented_with_its_reason() -> None:
    text = DOC.read_text()
    policies = ReleasePolicies.load()
    for policy_id in policies.effects:
        rows = [line for line in text.splitlines() if line.startswith(f"| `{policy_id}` |")]
        assert rows, f"{policy_id} is not in docs/security.md"
        if policy_id in policies.reasons:
            assert rows[0].rstrip().endswith(f"`{policies.reasons[policy_id]}` |"), rows[0]
