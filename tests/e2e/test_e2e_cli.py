"""The ``concord`` command as an operator runs it: admin, demo server, backup and restore."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

CONCORD = [sys.executable, "-m", "concord.entrypoints.cli"]


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
    env.update({"CONCORD_DATA_DIR": str(data_dir), "CONCORD_ENV": "dev", **extra})
    return env


def _run(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        CONCORD + args, env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


def test_admin_commands_and_errors(tmp_path: Path) -> None:
    env = _env(tmp_path / "var")
    assert _run(["db", "upgrade"], env).returncode == 0
    assert (
        _run(["admin", "create-agency", "BP", "Border Police", "--kind", "border-police"], env).returncode
        == 0
    )
    again = _run(["admin", "create-agency", "BP", "Border Police"], env)
    assert again.returncode == 1 and "already exists" in again.stderr
    bad = _run(["admin", "create-agency", "bp", "lower"], env)
    assert bad.returncode == 1 and "code" in bad.stderr
    made = _run(
        ["admin", "create-user", "bp.op", "--agency", "BP", "--role", "operator", "--password-stdin"],
        env,
        stdin="a long enough password\n",
    )
    assert made.returncode == 0, made.stderr
    token = _run(["admin", "issue-token", "bp.op"], env)
    assert token.returncode == 0 and token.stdout.startswith("cct_")
    listing = _run(["admin", "list-users"], env)
    assert "bp.op" in listing.stdout
    assert _run(["replay"], env).returncode == 0
    assert _run(["db", "current"], env).stdout.strip() != "empty"


def test_config_errors_name_the_variable(tmp_path: Path) -> None:
    result = _run(["db", "upgrade"], _env(tmp_path, CONCORD_PORT="not-a-port"))
    assert result.returncode == 2 and "CONCORD_PORT" in result.stderr


def test_demo_runs_serves_and_stops(tmp_path: Path) -> None:
    with subprocess.Popen(
        [*CONCORD, "demo", "--port", "0", "--duration", "8"],
        env=_env(tmp_path / "var", COLUMNS="200"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        _check_demo(proc)
    assert proc.returncode == 0


def _check_demo(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    url = None
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = re.search(r"running at (http://127\.0\.0\.1:\d+/)", line)
        if match:
            url = match.group(1)
            break
    try:
        assert url, "".join(lines)
        output = "".join(lines)
        assert "bp.operator" in output and "bp.operator-demo" in output
        health = httpx.get(url + "api/health", timeout=10).json()
        assert health["status"] == "ok"
        token = httpx.post(
            url + "api/auth/token",
            json={"username": "cg.commander", "password": "cg.commander-demo"},
            timeout=10,
        )
        assert token.status_code == 200
    finally:
        proc.communicate(timeout=60)


def test_demo_refuses_outside_dev(tmp_path: Path) -> None:
    result = _run(
        ["demo", "--duration", "1"], _env(tmp_path, CONCORD_ENV="prod", CONCORD_SECRET_KEY="s" * 40)
    )
    assert result.returncode == 2 and "CONCORD_ENV=dev" in result.stderr


@pytest.mark.slow
def test_backup_and_restore_commands_onto_a_fresh_host(tmp_path: Path) -> None:
    old = _env(tmp_path / "old")
    assert _run(["admin", "create-agency", "CG", "Coast Guard", "--kind", "coast-guard"], old).returncode == 0
    archive = tmp_path / "snap.tar.gz"
    assert _run(["backup", str(archive)], old).returncode == 0
    new = _env(tmp_path / "new")
    restored = _run(["restore", str(archive)], new)
    assert restored.returncode == 0, restored.stderr
    assert "CG" not in _run(["admin", "list-users"], new).stdout  # no users, but the agency is back
    again = _run(["admin", "create-agency", "CG", "Coast Guard"], new)
    assert again.returncode == 1 and "already exists" in again.stderr
