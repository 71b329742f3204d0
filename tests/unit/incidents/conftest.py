"""Puts this folder on sys.path so the incident tests can import their builders from incidents_kit."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from incidents_kit import START, Journal

from concord.adapters.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def journal() -> Journal:
    return Journal()
