"""Importing any module touches no database, network or key (STYLE habit 1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[3] / "src"


def test_importing_every_module_has_no_side_effects(tmp_path: Path) -> None:
    script = """
import importlib, pkgutil, socket, sys
import concord

def refuse(*a, **k):
    raise RuntimeError("network use at import time")
socket.socket.connect = refuse
socket.create_connection = refuse
for mod in pkgutil.walk_packages(concord.__path__, "concord."):
    if ".migrations" in mod.name:
        continue
    importlib.import_module(mod.name)
print("imported")
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
    env["PYTHONPATH"] = str(SRC)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "imported" in result.stdout
    assert list(tmp_path.iterdir()) == [], "importing created files"
