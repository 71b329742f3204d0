"""The drill and report commands as an exercise controller runs them, in separate processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PLAN = ROOT / "examples" / "drill-harbour-night.yaml"


def _cli(module: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = f"from concord.entrypoints.{module} import app; app()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )


@pytest.mark.slow
def test_drill_run_then_aar_pdf(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
    env.update({"CONCORD_DATA_DIR": str(tmp_path / "var"), "CONCORD_ENV": "dev"})
    database = f"sqlite:///{(tmp_path / 'drill.db').as_posix()}"

    run = _cli("cli_drill", ["run", str(PLAN), "--speed", "0", "--database", database, "--json"], env)
    assert run.returncode == 0, run.stderr
    kpis = json.loads(run.stdout)
    assert kpis["scope"] == "exercise" and kpis["exercise_id"] == "harbour-night-1"
    assert kpis["sla"]["total"] == 6 and kpis["detection"]["effectiveness"] == 1.0

    bad = tmp_path / "bad.yaml"
    bad.write_text(PLAN.read_text(encoding="utf-8").replace("step_s: 10", "step_s: -10"), encoding="utf-8")
    refused = _cli("cli_drill", ["run", str(bad), "--database", database], env)
    assert refused.returncode == 2 and "run.step_s" in refused.stderr and str(bad) in refused.stderr

    pdf = tmp_path / "aar.pdf"
    aar = _cli(
        "cli_report",
        [
            "aar",
            "--exercise",
            "harbour-night-1",
            "--as",
            "drill.cg",
            "--format",
            "pdf",
            "--output",
            str(pdf),
            "--database",
            database,
        ],
        env,
    )
    assert aar.returncode == 0, aar.stderr
    assert pdf.read_bytes().startswith(b"%PDF")
    html = _cli(
        "cli_report",
        ["aar", "--exercise", "harbour-night-1", "--as", "drill.bp", "--database", database],
        env,
    )
    assert html.returncode == 0 and "withheld" in html.stdout and "EXERCISE EXERCISE EXERCISE" in html.stdout
    nobody = _cli(
        "cli_report", ["aar", "--exercise", "harbour-night-1", "--as", "ghost", "--database", database], env
    )
    assert nobody.returncode == 1

    tool = shutil.which("pdftoppm")
    if tool is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    subprocess.run([tool, "-r", "30", "-png", str(pdf), str(tmp_path / "p")], check=True, timeout=60)
    assert len(list(tmp_path.glob("p*.png"))) >= 2
