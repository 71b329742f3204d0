"""Puts this folder on sys.path so the rule tests can import their builders from rules_kit."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from rules_kit import EngineFactory, make_engine


@pytest.fixture(name="make_engine")
def _make_engine() -> EngineFactory:
    return make_engine
