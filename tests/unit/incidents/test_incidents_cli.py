"""The ``concord incidents`` commands: playbook checks with file and line on error."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from concord.entrypoints.cli_incidents import app

runner = CliRunner()
REACH = [
    arg
    for pair in ("CG", "BP", "CUS", "JOC")
    for role in ("operator", "analyst", "commander")
    for arg in ("--reach", f"{pair}:{role}")
]


def test_shipped_playbooks_check_out() -> None:
    result = runner.invoke(app, ["check-playbooks", *REACH, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ok"] and data["reachability_checked"]
    assert "maritime-rendezvous" in {p["id"] for p in data["playbooks"]}


def test_unreachable_step_fails_with_file_and_line(tmp_path: Path) -> None:
    text = (
        "id: b\nname: B\nversion: 1\ntrigger: {alert_kinds: ['*']}\ntasks:\n"
        "  - id: t\n    title: T\n    assignee: {agency: lead, role: operator}\n"
        "    sla: {acknowledge_s: 60, complete_s: 60}\n    escalation:\n"
        "      - {agency: NAVY, role: commander, delay_s: 0}\n"
    )
    (tmp_path / "b.yaml").write_text(text)
    ok = runner.invoke(app, ["check-playbooks", str(tmp_path)])
    assert ok.exit_code == 0 and "reachability not checked" in ok.output
    bad = runner.invoke(app, ["check-playbooks", str(tmp_path), "--reach", "CG:commander", "--json"])
    assert bad.exit_code == 1
    data = json.loads(bad.output)
    assert data["details"]["line"] == 11 and data["details"]["file"].endswith("b.yaml")


def test_malformed_reach_option_is_refused() -> None:
    result = runner.invoke(app, ["check-playbooks", "--reach", "CG"])
    assert result.exit_code != 0
