"""Unique names for records in shared databases, and a small world of agencies and users."""

from __future__ import annotations

import uuid

from concord.bootstrap import Concord

PASSWORD = "correct horse battery"


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def small_world(concord: Concord) -> None:
    """Agencies BP, CG and JOC with an operator, a commander and an admin each."""
    accounts = concord.accounts
    for code, name, kind in (
        ("BP", "Border Police", "border-police"),
        ("CG", "Coast Guard", "coast-guard"),
        ("JOC", "Joint Operations Centre", "other"),
    ):
        accounts.create_agency(code, name, kind)
        accounts.create_user(f"{code.lower()}.op", code, ["operator"], "RESTRICTED", password=PASSWORD)
        accounts.create_user(f"{code.lower()}.cmd", code, ["commander"], "SECRET", password=PASSWORD)
        accounts.create_user(f"{code.lower()}.admin", code, ["admin"], "RESTRICTED", password=PASSWORD)
